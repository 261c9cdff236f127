//! The csplease lease review as a [Kubewarden] policy.
//!
//! Built for `wasm32-unknown-unknown`, this crate is a waPC guest that answers the three calls
//! Kubewarden's policy evaluator makes: `protocol_version`, `validate_settings` and `validate`
//! (the `guest` module, compiled only for WebAssembly). Natively it is the same adapter as a plain
//! library, which the harness crate (`csplease-kubewarden-harness`) uses as its reference.
//!
//! It decides nothing itself. `validate` hands the AdmissionRequest, verbatim, to the core's
//! `review` through the core's one conversation ([`lease_logic::Exchange`]); when the core asks
//! for the holder pod, the policy asks the host ([`list_request`]) and gives the core what the
//! host answered ([`facts_from_list`]). The answer carries the core's verdict: its reason as the
//! message, 403 for `denied`, 400 for `invalid`, and an audit annotation `outcome`.
//!
//! ```
//! use csplease_kubewarden_policy::{validate, validate_settings};
//!
//! let settings = validate_settings(br#"{"leaseKey":""}"#);
//! assert!(String::from_utf8(settings)?.contains("leaseKey"));
//!
//! // A DELETE is always allowed (SPEC rule 1): no pod is looked up.
//! let request = br#"{"settings":{},"request":{"uid":"u-1","operation":"DELETE","name":"csp-1"}}"#;
//! let answer = validate(request, |_pod| unreachable!("no lookup for a delete"));
//! assert!(String::from_utf8(answer)?.starts_with(r#"{"accepted":true,"#));
//! # Ok::<(), std::string::FromUtf8Error>(())
//! ```
//!
//! [Kubewarden]: https://www.kubewarden.io

use std::collections::BTreeMap;

use lease_logic::{Exchange, Outcome, PodFacts, PodRef, Turn, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[cfg(target_arch = "wasm32")]
mod guest;

/// The answer to `protocol_version`: Kubewarden's policy protocol `v1`, as JSON.
pub const PROTOCOL_VERSION: &[u8] = b"\"v1\"";

/// The waPC binding of Kubewarden's host capabilities.
pub const HOST_BINDING: &str = "kubewarden";
/// The host capability namespace of Kubernetes lookups.
pub const HOST_NAMESPACE: &str = "kubernetes";
/// The host capability the policy calls for the holder pod: a list of the pods of one namespace
/// by field selector. Unlike `get_resource`, whose "not found" is only an error text, a list tells
/// a missing pod (an empty list) from a failed lookup (an error) by its shape.
pub const HOST_OPERATION: &str = "list_resources_by_namespace";

/// The names of the policy's settings.
pub const SETTINGS: [&str; 2] = ["breakGlassGroups", "leaseKey"];

/// Kubewarden's `ValidationRequest`: the AdmissionRequest and the policy's settings. Both are
/// kept as their JSON text: the request goes to the core as it came, and so do the settings the
/// core reads.
#[derive(Deserialize)]
struct ValidationRequest<'a> {
    #[serde(borrow, default)]
    request: Option<&'a RawValue>,
    #[serde(borrow, default)]
    settings: Option<&'a RawValue>,
}

/// The settings members the core reads, as JSON text (the core judges their values).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CoreSettings<'a> {
    #[serde(borrow, default)]
    break_glass_groups: Option<&'a RawValue>,
    #[serde(borrow, default)]
    lease_key: Option<&'a RawValue>,
}

/// Kubewarden's `ValidationResponse` (its field names are snake_case on the wire).
#[derive(Serialize)]
struct ValidationResponse {
    accepted: bool,
    message: Option<String>,
    code: Option<u16>,
    mutated_object: Option<()>,
    audit_annotations: BTreeMap<&'static str, String>,
    warnings: Option<Vec<String>>,
}

/// Kubewarden's `SettingsValidationResponse`.
#[derive(Serialize)]
struct SettingsValidationResponse {
    valid: bool,
    message: Option<String>,
}

/// Answers `validate_settings`: whether `payload` (the policy's settings, JSON) is usable.
///
/// The settings are an object with at most `breakGlassGroups` (a list of group names; the core's
/// default, `["system:masters"]`, applies when it is absent) and `leaseKey` (a non-empty string;
/// the core's default annotation key applies when it is absent). A refusal names the field.
pub fn validate_settings(payload: &[u8]) -> Vec<u8> {
    let problem = settings_problem(payload);
    json(&SettingsValidationResponse { valid: problem.is_none(), message: problem })
}

/// What is wrong with the settings `payload`, if anything.
fn settings_problem(payload: &[u8]) -> Option<String> {
    let settings: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(settings) => settings,
        Err(e) => return Some(format!("the settings are not JSON: {e}")),
    };
    let members = match &settings {
        serde_json::Value::Null => return None,
        serde_json::Value::Object(members) => members,
        _ => return Some("the settings must be an object (breakGlassGroups, leaseKey)".to_owned()),
    };
    for (name, value) in members {
        match name.as_str() {
            "breakGlassGroups" => {
                let groups = value.as_array().filter(|groups| groups.iter().all(serde_json::Value::is_string));
                if groups.is_none() {
                    return Some(format!("breakGlassGroups must be a list of group names (strings), not {value}"));
                }
            }
            "leaseKey" => {
                if value.as_str().is_none_or(str::is_empty) {
                    return Some(format!(
                        "leaseKey must be a non-empty string (the lease annotation's key), not {value}"
                    ));
                }
            }
            other => {
                return Some(format!("unknown setting {other:?}: the settings are {}", SETTINGS.join(" and ")));
            }
        }
    }
    None
}

/// Answers `validate`: judges Kubewarden's `ValidationRequest` `payload` with the core, calling
/// `lookup` when the core asks for the holder pod, and returns Kubewarden's `ValidationResponse`.
///
/// The core's request is `{"action":"review","request":<the AdmissionRequest verbatim>}` plus the
/// settings' `breakGlassGroups` and `leaseKey` when set. A payload that is not a
/// `ValidationRequest` is refused with code 400; a conversation the core cannot finish, with 500.
pub fn validate(payload: &[u8], mut lookup: impl FnMut(&PodRef) -> PodFacts) -> Vec<u8> {
    let request = match review_request(payload) {
        Ok(request) => request,
        Err(problem) => return respond(false, "invalid", problem, Some(400)),
    };
    let mut exchange = Exchange::new(request);
    loop {
        match exchange.read(&lease_logic::evaluate_json(exchange.request())) {
            Turn::Decided(verdict) => return respond_to(verdict),
            Turn::LookUp(pod) => {
                let facts = lookup(&pod);
                exchange.resume(pod, &facts);
            }
            Turn::Undecided(why) => {
                return respond(false, "error", format!("the lease core gave no usable decision: {why}"), Some(500));
            }
        }
    }
}

/// The core's `review` request for a `ValidationRequest`.
pub fn review_request(payload: &[u8]) -> Result<Vec<u8>, String> {
    let validation: ValidationRequest<'_> = serde_json::from_slice(payload)
        .map_err(|e| format!("the payload is not a Kubewarden ValidationRequest: {e}"))?;
    let settings: CoreSettings<'_> = match validation.settings {
        Some(settings) => serde_json::from_str(settings.get())
            .map_err(|e| format!("the policy settings are not an object of settings: {e}"))?,
        None => CoreSettings::default(),
    };
    let mut out = Vec::with_capacity(payload.len() + 64);
    out.extend_from_slice(br#"{"action":"review""#);
    let members = [
        ("request", validation.request),
        ("breakGlassGroups", settings.break_glass_groups),
        ("leaseKey", settings.lease_key),
    ];
    for (name, value) in members {
        if let Some(value) = value {
            out.extend_from_slice(format!(",\"{name}\":").as_bytes());
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    out.push(b'}');
    Ok(out)
}

/// The response for the core's verdict.
fn respond_to(verdict: Verdict) -> Vec<u8> {
    let Verdict { outcome, reason, .. } = verdict;
    match outcome {
        Outcome::Allowed => respond(true, outcome.as_str(), reason, None),
        Outcome::Denied => respond(false, outcome.as_str(), reason, Some(403)),
        Outcome::Invalid => respond(false, outcome.as_str(), reason, Some(400)),
        other => {
            let reason = format!("the lease core answered {:?}, not a review outcome: {reason}", other.as_str());
            respond(false, "error", reason, Some(500))
        }
    }
}

fn respond(accepted: bool, outcome: &str, message: String, code: Option<u16>) -> Vec<u8> {
    json(&ValidationResponse {
        accepted,
        message: Some(message),
        code,
        mutated_object: None,
        audit_annotations: BTreeMap::from([("outcome", outcome.to_owned())]),
        warnings: None,
    })
}

/// Kubewarden's `list_resources_by_namespace` request for `pod`: the pods of its namespace whose
/// `metadata.name` is its name.
pub fn list_request(pod: &PodRef) -> Vec<u8> {
    json(&serde_json::json!({
        "api_version": "v1",
        "kind": "Pod",
        "namespace": pod.namespace(),
        "label_selector": null,
        "field_selector": format!("metadata.name={}", pod.name()),
        "field_masks": null,
    }))
}

#[derive(Deserialize)]
struct PodList {
    items: Vec<PodItem>,
}

#[derive(Deserialize)]
struct PodItem {
    #[serde(default)]
    metadata: PodMeta,
    #[serde(default)]
    status: Option<PodPhase>,
}

#[derive(Deserialize, Default)]
struct PodMeta {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct PodPhase {
    #[serde(default)]
    phase: Option<String>,
}

/// What the host's answer to [`list_request`] says of `pod`: the pod named so in the list
/// (its `status.phase` as listed), [`PodFacts::NotFound`] when the list has none, and
/// [`PodFacts::LookupFailed`] when the host answered with an error or with something that is not
/// a list. No error text is interpreted.
pub fn facts_from_list(answer: Result<&[u8], &str>, pod: &PodRef) -> PodFacts {
    let list = match answer {
        Ok(list) => list,
        Err(error) => return PodFacts::LookupFailed { error: format!("listing pod {pod}: {error}") },
    };
    let list: PodList = match serde_json::from_slice(list) {
        Ok(list) => list,
        Err(e) => return PodFacts::LookupFailed { error: format!("the host's list of pod {pod} is unreadable: {e}") },
    };
    match list.items.into_iter().find(|item| item.metadata.name.as_deref() == Some(pod.name())) {
        Some(item) => PodFacts::Found { phase: item.status.and_then(|status| status.phase) },
        None => PodFacts::NotFound,
    }
}

/// `value` as JSON; the policy's own response types always serialize.
fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| format!("{{\"message\":\"serialization failed: {e}\"}}").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> PodRef {
        PodRef::new("openebs", "cstor-pool-b").expect("a pod")
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let valid = |s: &str| String::from_utf8(validate_settings(s.as_bytes())).expect("utf-8");
        assert_eq!(valid("{}"), r#"{"valid":true,"message":null}"#);
        assert_eq!(valid("null"), r#"{"valid":true,"message":null}"#);
        assert_eq!(
            valid(r#"{"breakGlassGroups":["ops"],"leaseKey":"example.com/lease"}"#),
            r#"{"valid":true,"message":null}"#
        );
        assert!(valid(r#"{"breakGlassGroups":"ops"}"#).contains(r#""valid":false,"message":"breakGlassGroups must"#));
        assert!(valid(r#"{"breakGlassGroups":[1]}"#).contains("breakGlassGroups must"));
        assert!(valid(r#"{"leaseKey":""}"#).contains(r#""valid":false,"message":"leaseKey must"#));
        assert!(valid(r#"{"leaseKey":7}"#).contains("leaseKey must"));
        assert!(valid(r#"{"leasekey":"x"}"#).contains(r#"unknown setting \"leasekey\""#));
        assert!(valid("[]").contains("must be an object"));
        assert!(valid("{").contains("not JSON"));
    }

    #[test]
    fn the_core_gets_the_request_verbatim_and_the_settings_it_reads() {
        let payload =
            br#"{"request":{"uid":"u", "operation":"DELETE"},"settings":{"leaseKey":"k","breakGlassGroups":["g"]}}"#;
        assert_eq!(
            String::from_utf8(review_request(payload).expect("a request")).expect("utf-8"),
            r#"{"action":"review","request":{"uid":"u", "operation":"DELETE"},"breakGlassGroups":["g"],"leaseKey":"k"}"#
        );
        assert_eq!(review_request(br#"{"settings":null}"#).expect("a request"), br#"{"action":"review"}"#);
        assert!(review_request(b"[").is_err());
    }

    #[test]
    fn a_list_tells_found_from_not_found_from_failed() {
        let found = br#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"cstor-pool-b"},"status":{"phase":"Running"}}]}"#;
        assert_eq!(facts_from_list(Ok(found), &pod()), PodFacts::Found { phase: Some("Running".into()) });
        let no_phase = br#"{"items":[{"metadata":{"name":"cstor-pool-b"}}]}"#;
        assert_eq!(facts_from_list(Ok(no_phase), &pod()), PodFacts::Found { phase: None });
        assert_eq!(facts_from_list(Ok(br#"{"kind":"PodList","items":[]}"#), &pod()), PodFacts::NotFound);
        let other = br#"{"items":[{"metadata":{"name":"cstor-pool-c"},"status":{"phase":"Running"}}]}"#;
        assert_eq!(facts_from_list(Ok(other), &pod()), PodFacts::NotFound);
        assert!(matches!(facts_from_list(Err("connection refused"), &pod()), PodFacts::LookupFailed { .. }));
        assert!(matches!(facts_from_list(Ok(b"{}"), &pod()), PodFacts::LookupFailed { .. }));
    }

    #[test]
    fn the_list_request_selects_the_pod_by_name() {
        assert_eq!(
            String::from_utf8(list_request(&pod())).expect("utf-8"),
            r#"{"api_version":"v1","field_masks":null,"field_selector":"metadata.name=cstor-pool-b","kind":"Pod","label_selector":null,"namespace":"openebs"}"#
        );
    }

    #[test]
    fn verdicts_map_to_codes_and_an_outcome_annotation() {
        let bad = String::from_utf8(validate(b"not json", |_| PodFacts::NotFound)).expect("utf-8");
        assert!(bad.starts_with(r#"{"accepted":false,"message":"the payload is not a Kubewarden ValidationRequest"#));
        assert!(bad.ends_with(
            r#""code":400,"mutated_object":null,"audit_annotations":{"outcome":"invalid"},"warnings":null}"#
        ));
        let invalid = String::from_utf8(validate(br#"{"settings":{}}"#, |_| PodFacts::NotFound)).expect("utf-8");
        assert!(invalid.contains(r#""code":400"#), "{invalid}");
    }
}
