//! The Kubewarden policy's `validate` per review on Kubewarden's host crates (`wapc` +
//! `wasmtime-provider`), in a fresh instance and in a reused one, beside the zero-import lease
//! module (`wasm-sandbox`) deciding the same reviews, measured in one run. Figures and the command
//! are in `BENCHMARKS.md`.
//!
//! Two vectors of `tests/vectors/lease.json`: a takeover from a dead holder (the policy looks the
//! holder up through the host and asks the core twice; the module is given the holder's state)
//! and a holder releasing its own lease (no lookup).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use csplease_kubewarden_harness::{POLICY, Prepared, Replay, validation_request};
use wasm_sandbox::{Config, Host};

/// The vectors, by name, and the short name of the benchmark.
const CASES: [(&str, &str); 2] = [
    ("review-takeover", "review: pod takes over dead holder"),
    ("review-release", "review: holder pod releases its own lease"),
];

/// The host's answer for the takeover's holder: no such pod.
const HOLDER_GONE: &str = r#"
- type: Exchange
  request: |
    !KubernetesListResourceNamespace
    api_version: v1
    kind: Pod
    namespace: openebs
    label_selector: null
    field_selector: metadata.name=cstor-pool-a-6bbc79f5fd-x2kq7
    field_masks: null
  response:
    type: Success
    payload: '{"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"7101"},"items":[]}'
"#;

fn document(name: &str) -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/lease.json");
    let text = std::fs::read_to_string(path).expect("tests/vectors/lease.json");
    let cases: serde_json::Value = serde_json::from_str(&text).expect("vector file is JSON");
    cases
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .map(|case| case["request"].clone())
        .unwrap_or_else(|| panic!("no vector named {name:?}"))
}

fn validate(c: &mut Criterion) {
    println!("policy size: {} bytes", POLICY.len());
    println!("zero-import module size: {} bytes", wasm_sandbox::EMBEDDED_MODULE.len());
    let replay = Arc::new(Replay::parse(HOLDER_GONE).expect("the replay parses").reusable());
    let prepared = Prepared::new().expect("the policy compiles");
    let reused = prepared.instantiate(Arc::clone(&replay)).expect("an instance");
    let host = Host::new(Config { max_concurrency: 2, ..Config::default() }).expect("host");
    let module = host.load_embedded().expect("module");
    let mut warm = module.warm();
    for (short, name) in CASES {
        let document = document(name);
        let request = serde_json::to_vec(&document).expect("serialisable");
        let payload = serde_json::to_vec(&validation_request(&document)).expect("serialisable");
        let answer = reused.call("validate", &payload).expect("validates");
        assert!(
            String::from_utf8_lossy(&answer).starts_with(r#"{"accepted":true,"#),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        c.bench_function(&format!("kubewarden policy/fresh instance/{short}"), |b| {
            b.iter(|| {
                let policy = prepared.instantiate(Arc::clone(&replay)).expect("an instance");
                policy.call("validate", black_box(&payload)).expect("validates")
            })
        });
        c.bench_function(&format!("kubewarden policy/reused instance/{short}"), |b| {
            b.iter(|| reused.call("validate", black_box(&payload)).expect("validates"))
        });
        c.bench_function(&format!("zero-import module/fresh instance/{short}"), |b| {
            b.iter(|| module.evaluate(black_box(&request)))
        });
        c.bench_function(&format!("zero-import module/warm instance/{short}"), |b| {
            b.iter(|| warm.evaluate(black_box(&request)))
        });
    }
}

criterion_group!(benches, validate);
criterion_main!(benches);
