//! `csplease-wasm serve` over real HTTPS, without an API server: every review vector sent as an
//! AdmissionReview gets the native core's verdict and reason, bad bodies get HTTP errors, and the
//! server keeps serving. Pod lookups go to a closed port, so every lookup fails and counts the
//! holder as live (`LookupFailed`); the live test (`webhook_live.rs`) does real lookups.

use std::path::{Path, PathBuf};

use csplease_tests::vectors;
use csplease_tests::webhook::{Certs, Webhook, https, unreachable_kubeconfig};
use serde_json::{Value, json};

/// A scratch directory for this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("webhook-http-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn start(name: &str, extra: &[&str]) -> (Certs, Webhook) {
    let dir = scratch(name);
    let certs = Certs::generate(&dir);
    let kubeconfig = unreachable_kubeconfig(&dir);
    let mut args = vec!["--kubeconfig", kubeconfig.to_str().expect("utf-8 path"), "--lookup-timeout-ms", "2000"];
    args.extend_from_slice(extra);
    let webhook = Webhook::start(&certs, &args);
    (certs, webhook)
}

fn envelope(request: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}))
        .expect("serialisable")
}

fn post(certs: &Certs, webhook: &Webhook, body: &[u8]) -> csplease_tests::cluster::RawResponse {
    https(&certs.ca, "POST", &webhook.url(), Some("application/json"), Some(body))
}

#[test]
fn every_review_vector_gets_the_native_verdict_and_reason() {
    let (certs, webhook) = start("vectors", &[]);
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in vectors::load() {
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&case.request) else { continue };
        // The webhook sends no pod state of its own and the default break-glass groups.
        if request.get("action") != Some(&json!("review"))
            || request.contains_key("holderPod")
            || request.contains_key("breakGlassGroups")
        {
            continue;
        }
        let Some(Value::Object(admission)) = request.get("request").cloned() else { continue };
        let mut admission = admission;
        admission.entry("uid").or_insert_with(|| json!(format!("vector-{checked}")));
        let admission = Value::Object(admission);
        // What the native core says, with the failed lookup the webhook will make when it needs one.
        let module_request = json!({"action": "review", "request": admission});
        let mut native: Value =
            serde_json::from_slice(&lease_logic::evaluate_json(&serde_json::to_vec(&module_request).expect("json")))
                .expect("a decision");
        if native["outcome"] == "needHolderStatus" {
            let pod = format!(
                "{}/{}",
                native["lookup"]["namespace"].as_str().unwrap_or_default(),
                native["lookup"]["name"].as_str().unwrap_or_default()
            );
            let again = json!({"action": "review", "request": admission,
                "holderPod": {"pod": pod, "state": "LookupFailed"}});
            native = serde_json::from_slice(&lease_logic::evaluate_json(&serde_json::to_vec(&again).expect("json")))
                .expect("a decision");
        }
        let answer = post(&certs, &webhook, &envelope(&admission));
        checked += 1;
        if answer.status != 200 {
            failures.push(format!("{}: HTTP {}: {}", case.name, answer.status, answer.body));
            continue;
        }
        let review: Value = serde_json::from_str(&answer.body).expect("an AdmissionReview");
        let response = &review["response"];
        let allowed = native["outcome"] == "allowed";
        if response["uid"] != admission["uid"] || response["allowed"] != json!(allowed) {
            failures.push(format!("{}: native {native}, webhook {response}", case.name));
        }
        if !allowed && response["status"]["message"] != native["reason"] {
            failures
                .push(format!("{}: reason {} is not the core's {}", case.name, response["status"], native["reason"]));
        }
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review["kind"], "AdmissionReview");
    }
    assert!(checked >= 39, "only {checked} review vectors were sent");
    assert!(failures.is_empty(), "{} of {checked} differ:\n{}", failures.len(), failures.join("\n"));
    let metrics = https(&certs.ca, "GET", &format!("https://{}/metrics", webhook.addr()), None, None);
    assert!(metrics.body.contains("csplease_webhook_pod_lookups_total{result=\"failed\"}"), "{}", metrics.body);
}

/// A request the webhook cannot judge, and the HTTP error it must get.
struct Bad {
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    says: &'static str,
}

impl Bad {
    /// A JSON body POSTed to `/validate`.
    fn body(body: Vec<u8>, status: u16, says: &'static str) -> Bad {
        Bad { method: "POST", path: "/validate", content_type: Some("application/json"), body, status, says }
    }
}

#[test]
fn bodies_it_cannot_judge_get_http_errors_and_it_keeps_serving() {
    let (certs, mut webhook) = start("bodies", &[]);
    let base = format!("https://{}", webhook.addr());
    let review = |request: Value| envelope(&request);
    let json = Some("application/json");
    let cases = [
        Bad { method: "GET", path: "/validate", content_type: None, body: vec![], status: 405, says: "use POST" },
        Bad { method: "POST", path: "/nope", content_type: json, body: b"{}".to_vec(), status: 404, says: "not found" },
        Bad {
            method: "POST",
            path: "/validate",
            content_type: Some("text/plain"),
            body: b"{}".to_vec(),
            status: 415,
            says: "application/json",
        },
        Bad::body(b"{not json".to_vec(), 400, "not an AdmissionReview"),
        Bad::body(b"[1,2]".to_vec(), 400, "not a JSON object"),
        Bad::body(
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"a"}}"#.to_vec(),
            400,
            "v1beta1",
        ),
        Bad::body(review(json!({"operation": "UPDATE"})), 400, "uid"),
        Bad::body(vec![b' '; (3 << 20) + 1], 413, "over 3145728 bytes"),
    ];
    for Bad { method, path, content_type, body, status, says } in cases {
        let answer = https(&certs.ca, method, &format!("{base}{path}"), content_type, Some(&body));
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
        assert!(answer.body.contains(says), "{method} {path}: {:?} does not say {says:?}", answer.body);
        assert_eq!(answer.body.trim_end().lines().count(), 1, "one line: {:?}", answer.body);
    }
    // A request the module cannot read is answered, and denied with the module's reason.
    let answer = post(&certs, &webhook, &review(json!({"uid": "u-1", "operation": "PATCH"})));
    assert_eq!(answer.status, 200);
    let response: Value = serde_json::from_str(&answer.body).expect("JSON");
    assert_eq!(response["response"]["allowed"], false, "{response}");
    assert_eq!(response["response"]["status"]["code"], 400, "{response}");
    assert!(response["response"]["status"]["message"].as_str().is_some_and(|m| m.contains("operation")), "{response}");

    for path in ["/healthz", "/readyz"] {
        let answer = https(&certs.ca, "GET", &format!("{base}{path}"), None, None);
        assert_eq!((answer.status, answer.body.trim()), (200, "ok"), "{path}");
    }
    let metrics = https(&certs.ca, "GET", &format!("{base}/metrics"), None, None).body;
    for line in [
        "csplease_webhook_refused_requests_total{code=\"400\"} 4",
        "csplease_webhook_refused_requests_total{code=\"413\"} 1",
        "csplease_webhook_refused_requests_total{code=\"415\"} 1",
        "csplease_webhook_reviews_total{outcome=\"invalid\"} 1",
        "csplease_webhook_denials_total{reason=\"invalid_request\"} 1",
        "csplease_webhook_review_duration_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(webhook.is_running(), "the webhook exited:\n{}", webhook.log());
    // SIGTERM stops it cleanly.
    webhook.stop();
    assert!(webhook.log().contains("shutting down"), "{}", webhook.log());
}

#[test]
fn it_refuses_to_start_without_a_usable_certificate() {
    let dir = scratch("no-cert");
    let kubeconfig = unreachable_kubeconfig(&dir);
    std::fs::write(dir.join("empty.pem"), "").expect("write");
    let out = std::process::Command::new(csplease_tests::plugin::webhook_binary())
        .args(["serve", "--addr", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--tls-cert")
        .arg(dir.join("empty.pem"))
        .arg("--tls-key")
        .arg(dir.join("missing.key"))
        .output()
        .expect("csplease-wasm runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: TLS: ") && stderr.contains("empty.pem"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn hostile_bodies_get_a_clear_answer_and_nothing_hangs() {
    let (certs, mut webhook) = start("hostile", &[]);
    let csp = |lease: &str, filler: usize| {
        json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
            "metadata": {"name": "csp-big", "annotations": {"openebs.io/csp-lease": lease}},
            "spec": {"filler": "x".repeat(filler)}})
    };
    // Just under the 3 MiB limit: an UPDATE whose two objects are about 1.5 MiB each, handing a
    // released lease on with the next counter. Judged (allowed), not refused.
    let user = json!({"username": "system:serviceaccount:openebs:pool",
        "extra": {"authentication.kubernetes.io/pod-name": ["pool-a"]}});
    let request = |filler| {
        json!({"uid": "big", "operation": "UPDATE", "userInfo": user,
            "oldObject": csp(r#"{"holder":"","leaderTransition":4}"#, filler),
            "object": csp(r#"{"holder":"openebs/pool-a","leaderTransition":5}"#, filler)})
    };
    let filler = ((3 << 20) - envelope(&request(0)).len()) / 2;
    let body = envelope(&request(filler));
    assert!(body.len() <= 3 << 20 && body.len() >= (3 << 20) - 1, "{} bytes", body.len());
    let answer = post(&certs, &webhook, &body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let review: Value = serde_json::from_str(&answer.body).expect("JSON");
    assert_eq!(review["response"]["allowed"], true, "{review}");

    // Nesting 10,000 and 1,500,000 deep inside the request (the envelope reader steps over it
    // without recursing): the module's denial, naming its 128-level limit.
    for depth in [10_000, 1_500_000] {
        let deep = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"deep","object":{}{}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let answer = post(&certs, &webhook, deep.as_bytes());
        assert_eq!(answer.status, 200, "{}", answer.body);
        let review: Value = serde_json::from_str(&answer.body).expect("JSON");
        assert_eq!(review["response"]["allowed"], false, "{review}");
        let message = review["response"]["status"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("nested deeper than 128 levels"), "{review}");
    }
    // Invalid UTF-8 and a NUL byte inside a string: refused as not JSON.
    let mut bad = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x"#.to_vec();
    bad.extend_from_slice(b"\xff\x00\"}}");
    let answer = post(&certs, &webhook, &bad);
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(webhook.is_running(), "{}", webhook.log());
}
