//! The Kubewarden policy on Kubewarden's host crates (`wapc` + `wasmtime-provider`): its protocol
//! version, its settings validation, and a `validate` for every `review` vector of
//! `tests/vectors/`, each verdict and reason equal to the native core's, byte for byte. The holder
//! pod lookups are answered from the recorded interactions beside the policy
//! (`crates/kubewarden-policy/host-capabilities.yml`, kwctl's replay-file format).

use std::collections::BTreeMap;
use std::sync::Arc;

use csplease_kubewarden_harness::replay::Response;
use csplease_kubewarden_harness::{
    HarnessError, POLICY, Prepared, RECORDED, Replay, WAPC_IMPORTS, validation_request, wasm,
};
use csplease_tests::vectors::{self, Case};
use lease_logic::{Exchange, Outcome, PodFacts, PodRef, Turn, Verdict};
use serde::Deserialize;
use serde_json::Value;

/// The `review` vectors whose request is a JSON document (the others are raw text that no
/// AdmissionRequest can carry).
fn review_cases() -> Vec<(Case, Value)> {
    let cases: Vec<(Case, Value)> = vectors::load()
        .into_iter()
        .filter_map(|case| {
            let document: Value = serde_json::from_slice(&case.request).ok()?;
            (document.get("action") == Some(&Value::from("review"))).then_some((case, document))
        })
        .collect();
    assert!(cases.len() >= 40, "only {} review vectors found", cases.len());
    cases
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// What a recorded response says of `pod`, read the way the policy reads it.
fn facts(response: &Response, pod: &PodRef) -> PodFacts {
    match response {
        Response::Success { payload } => csplease_kubewarden_policy::facts_from_list(Ok(payload.as_bytes()), pod),
        Response::Error { message } => csplease_kubewarden_policy::facts_from_list(Err(message), pod),
    }
}

/// The recorded answer, among `answered`, to the lookup of `pod`.
fn answer_for<'a>(answered: &'a [(Value, Response)], pod: &PodRef) -> Option<&'a Response> {
    let request = json(&csplease_kubewarden_policy::list_request(pod));
    answered.iter().find(|(fields, _)| *fields == request).map(|(_, response)| response)
}

/// The native core's verdict on the vector's own request document, its lookups answered by what
/// the host answered the policy.
fn native_verdict(case: &Case, answered: &[(Value, Response)]) -> Result<Verdict, String> {
    let mut exchange = Exchange::new(case.request.clone());
    loop {
        match exchange.read(&lease_logic::evaluate_json(exchange.request())) {
            Turn::Decided(verdict) => return Ok(verdict),
            Turn::LookUp(pod) => {
                let response = answer_for(answered, &pod)
                    .ok_or_else(|| format!("the core asked for {pod}, which the policy did not look up"))?;
                let facts = facts(response, &pod);
                exchange.resume(pod, &facts);
            }
            Turn::Undecided(why) => return Err(why),
        }
    }
}

/// The answer Kubewarden expects for a verdict: accepted, code, outcome annotation, message.
fn expected_answer(verdict: &Verdict) -> (bool, Value, &'static str, &str) {
    match verdict.outcome {
        Outcome::Allowed => (true, Value::Null, "allowed", &verdict.reason),
        Outcome::Denied => (false, 403.into(), "denied", &verdict.reason),
        Outcome::Invalid => (false, 400.into(), "invalid", &verdict.reason),
        other => panic!("a review verdict is allowed, denied or invalid, not {}", other.as_str()),
    }
}

#[test]
fn every_review_vector_gets_the_native_cores_verdict_and_reason() {
    let prepared = Prepared::new().expect("the policy compiles");
    let replay = Arc::new(Replay::parse(RECORDED).expect("the recorded interactions parse"));
    let mut problems = Vec::new();
    let mut looked_up = 0;
    for (case, document) in review_cases() {
        // A fresh instance per review, as policy-server evaluates each request.
        let policy = prepared.instantiate(Arc::clone(&replay)).expect("an instance");
        let payload = serde_json::to_vec(&validation_request(&document)).expect("serialisable");
        let answer = match policy.call("validate", &payload) {
            Ok(answer) => answer,
            Err(e) => {
                problems.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        let answered = replay.take_answered();
        looked_up += answered.len();

        // The recordings agree with the states the vector gives.
        if let Some(given) = document.get("holderPod") {
            let pod: PodRef = given["pod"].as_str().and_then(|p| p.parse().ok()).expect("a holderPod pod");
            if let Some(response) = answer_for(&answered, &pod) {
                let state = facts(response, &pod).state();
                if state.as_str() != given["state"] {
                    problems.push(format!(
                        "{}: recorded {pod} is {}, the vector says {}",
                        case.name,
                        state.as_str(),
                        given["state"]
                    ));
                }
            }
        }

        let verdict = match native_verdict(&case, &answered) {
            Ok(verdict) => verdict,
            Err(e) => {
                problems.push(format!("{}: native: {e}", case.name));
                continue;
            }
        };
        if let Some(want) = case.expect.get("outcome").filter(|o| *o != "needHolderStatus") {
            assert_eq!(verdict.outcome.as_str(), want, "{}: the native core disagrees with the vector", case.name);
        }
        let (accepted, code, outcome, reason) = expected_answer(&verdict);
        let got = json(&answer);
        let want = serde_json::json!({
            "accepted": accepted,
            "message": reason,
            "code": code,
            "mutated_object": null,
            "audit_annotations": { "outcome": outcome },
            "warnings": null,
        });
        if got != want {
            problems.push(format!("{}:\n    policy: {got}\n    native: {want}", case.name));
        }
        // Byte for byte: the reason as a JSON string is the core's reason exactly.
        if got["message"].as_str().map(str::as_bytes) != Some(verdict.reason.as_bytes()) {
            problems.push(format!("{}: the message is not the core's reason byte for byte", case.name));
        }

        // The same adapter compiled natively answers the same bytes.
        let native_answer = csplease_kubewarden_policy::validate(&payload, |pod| {
            answer_for(&answered, pod)
                .map_or(PodFacts::LookupFailed { error: "not looked up".into() }, |r| facts(r, pod))
        });
        if native_answer != answer {
            problems.push(format!("{}: the wasm policy and the native adapter answer different bytes", case.name));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    assert_eq!(replay.unused(), Vec::<usize>::new(), "recorded interactions that no review used");
    assert!(looked_up >= 10, "only {looked_up} pod lookups went through the host");
}

#[test]
fn a_lookup_with_no_recording_fails_loudly() {
    let (_, document) = review_cases()
        .into_iter()
        .find(|(case, _)| case.name.ends_with("takeover needs holder state"))
        .expect("the vector `review: takeover needs holder state`");
    let policy = Prepared::new()
        .expect("the policy compiles")
        .instantiate(Arc::new(Replay::parse("[]").expect("an empty replay")))
        .expect("an instance");
    let payload = serde_json::to_vec(&validation_request(&document)).expect("serialisable");
    match policy.call("validate", &payload) {
        Err(HarnessError::Unrecorded(missing)) => {
            let message = HarnessError::Unrecorded(missing).to_string();
            assert!(
                message.contains("no recorded interaction answers kubewarden/kubernetes/list_resources_by_namespace"),
                "{message}"
            );
            assert!(message.contains(r#""field_selector":"metadata.name=cstor-pool-a-6bbc79f5fd-x2kq7""#), "{message}");
        }
        other => panic!("expected the missing recording to fail the call, got {other:?}"),
    }
}

#[test]
fn protocol_version_is_v1() {
    let policy = Prepared::new()
        .expect("compiles")
        .instantiate(Arc::new(Replay::parse("[]").expect("empty")))
        .expect("instance");
    assert_eq!(policy.call("protocol_version", b"").expect("answers"), br#""v1""#);
}

#[test]
fn settings_are_validated_naming_the_field() {
    let policy = Prepared::new()
        .expect("compiles")
        .instantiate(Arc::new(Replay::parse("[]").expect("empty")))
        .expect("instance");
    let check = |settings: &str| json(&policy.call("validate_settings", settings.as_bytes()).expect("answers"));
    for good in
        ["{}", r#"{"breakGlassGroups":["storage-ops"]}"#, r#"{"breakGlassGroups":[],"leaseKey":"example.com/lease"}"#]
    {
        assert_eq!(check(good), serde_json::json!({"valid": true, "message": null}), "{good}");
    }
    for (bad, field) in [
        (r#"{"breakGlassGroups":"storage-ops"}"#, "breakGlassGroups"),
        (r#"{"breakGlassGroups":["ops",7]}"#, "breakGlassGroups"),
        (r#"{"leaseKey":""}"#, "leaseKey"),
        (r#"{"leaseKey":null}"#, "leaseKey"),
        (r#"{"breakglassgroups":["ops"]}"#, "breakglassgroups"),
    ] {
        let answer = check(bad);
        assert_eq!(answer["valid"], false, "{bad}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{bad}: the message {message:?} does not name {field}");
    }
}

#[test]
fn the_policy_imports_only_the_wapc_host_functions() {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, POLICY).expect("wasmtime compiles the policy");
    let mut imports: Vec<String> = module.imports().map(|i| format!("{}.{}", i.module(), i.name())).collect();
    imports.sort();
    assert_eq!(imports, WAPC_IMPORTS, "the policy's imports");
    let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
    for export in ["wapc_init", "__guest_call"] {
        assert!(exports.contains(&export), "the policy does not export {export}: {exports:?}");
    }
}

/// policy-evaluator's metadata, every field it knows: an unknown one is an error here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Metadata {
    protocol_version: String,
    rules: Vec<Rule>,
    annotations: BTreeMap<String, String>,
    mutating: bool,
    background_audit: bool,
    context_aware_resources: Vec<ContextAwareResource>,
    execution_mode: String,
    policy_type: String,
    #[serde(default)]
    minimum_kubewarden_version: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    api_groups: Vec<String>,
    api_versions: Vec<String>,
    resources: Vec<String>,
    operations: Vec<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContextAwareResource {
    api_version: String,
    kind: String,
}

#[test]
fn the_metadata_section_parses() {
    let sections = wasm::custom_sections(POLICY, wasm::METADATA_SECTION).expect("a module");
    assert_eq!(sections.len(), 1, "one {} section", wasm::METADATA_SECTION);
    let metadata: Metadata = serde_json::from_slice(sections[0]).expect("the metadata is policy-evaluator's JSON");
    assert_eq!(metadata.protocol_version, "v1");
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        metadata.rules,
        [Rule {
            api_groups: strings(&["openebs.io"]),
            api_versions: strings(&["v1alpha1"]),
            resources: strings(&["cstorpools"]),
            operations: strings(&["CREATE", "UPDATE"]),
        }]
    );
    assert!(!metadata.mutating);
    assert!(!metadata.background_audit, "the lease transition needs the old object: no background audit");
    assert_eq!(
        metadata.context_aware_resources,
        [ContextAwareResource { api_version: "v1".into(), kind: "Pod".into() }]
    );
    assert_eq!(metadata.execution_mode, "kubewarden-wapc");
    assert_eq!(metadata.policy_type, "kubernetes");
    assert_eq!(metadata.minimum_kubewarden_version, None);
    assert_eq!(metadata.annotations.get("io.kubewarden.policy.title").map(String::as_str), Some("csplease-lease"));
}

/// Re-composes `crates/kubewarden-policy/host-capabilities.yml` from the review vectors:
/// `cargo test -p csplease-kubewarden-harness --test policy -- --ignored compose_the_recordings`.
///
/// Each pod lookup a review makes gets the state the vector gives its holder (`holderPod`), or,
/// for the vectors that give none, the state named in [`UNGIVEN`]. The answers have the shapes
/// Kubewarden's host returns: a pod list (empty for a missing pod), or an error for a failed lookup.
#[test]
#[ignore = "writes the recordings; run by hand after changing the vectors"]
fn compose_the_recordings() {
    const UNGIVEN: [(&str, &str); 3] = [
        ("review 5: a release of another's lease needs its state", "Running"),
        ("review 6: the state of another pod does not count", "Failed"),
        ("review: takeover needs holder state", "NotFound"),
    ];
    let mut out = String::from(
        "# Host-capability interactions of the csplease Kubewarden policy, in kwctl's replay-file format\n\
         # (`kwctl run --replay-host-capabilities-interactions`): the holder pod lookups of the `review`\n\
         # vectors in tests/vectors/, in order. Composed from the vectors' holder states by\n\
         # `cargo test -p csplease-kubewarden-harness --test policy -- --ignored compose_the_recordings`.\n---\n",
    );
    for (case, document) in review_cases() {
        let payload = serde_json::to_vec(&validation_request(&document)).expect("serialisable");
        let mut asked = Vec::new();
        csplease_kubewarden_policy::validate(&payload, |pod| {
            asked.push(pod.clone());
            PodFacts::NotFound
        });
        for pod in asked {
            let given =
                document.get("holderPod").filter(|h| h["pod"] == pod.as_str()).and_then(|h| h["state"].as_str());
            let short = case.name.split_once(": ").map_or(case.name.as_str(), |(_, name)| name);
            let state = given
                .or_else(|| UNGIVEN.iter().find(|(name, _)| *name == short).map(|(_, state)| *state))
                .unwrap_or_else(|| panic!("{}: no state for {pod}; add it to UNGIVEN", case.name));
            let request = json(&csplease_kubewarden_policy::list_request(&pod));
            out.push_str(&format!(
                "# {}\n- type: Exchange\n  request: |\n    !KubernetesListResourceNamespace\n",
                case.name
            ));
            for name in ["api_version", "kind", "namespace", "label_selector", "field_selector", "field_masks"] {
                let value = match &request[name] {
                    Value::Null => "null".to_owned(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push_str(&format!("    {name}: {value}\n"));
            }
            let response = match state {
                "LookupFailed" => format!(
                    "    type: Error\n    message: 'pods is forbidden: User \"system:serviceaccount:kubewarden:policy-server-default\" cannot list resource \"pods\" in API group \"\" in the namespace \"{}\"'\n",
                    pod.namespace()
                ),
                "NotFound" => "    type: Success\n    payload: '{\"apiVersion\":\"v1\",\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"7101\"},\"items\":[]}'\n".to_owned(),
                phase => {
                    let list = serde_json::json!({
                        "apiVersion": "v1",
                        "kind": "PodList",
                        "metadata": { "resourceVersion": "7101" },
                        "items": [{
                            "apiVersion": "v1",
                            "kind": "Pod",
                            "metadata": { "name": pod.name(), "namespace": pod.namespace(), "uid": "0d9b2f4e-1c7a-4e51-9a3c-5f6b7d8e9f10" },
                            "spec": { "nodeName": "node-2phf", "containers": [{ "name": "cstor-pool", "image": "openebs/cstor-pool:3.6.0" }] },
                            "status": { "phase": phase },
                        }],
                    });
                    format!("    type: Success\n    payload: '{list}'\n")
                }
            };
            out.push_str("  response:\n");
            out.push_str(&response);
        }
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kubewarden-policy/host-capabilities.yml");
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
