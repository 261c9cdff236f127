//! The wire entry point on the conformance vectors' objects (a full CStorPool of about 1.5 KB).
//!
//! Target (issue 2): at least 500,000 hold decisions per second on one core (2 µs each).
//! Run: `cargo bench -p lease-logic --bench decide`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;

/// The request bytes of the shared vector named `name`.
fn vector(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/lease.json");
    let text = std::fs::read_to_string(path).expect("the shared vectors are readable");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
    let case = cases.iter().find(|c| c["name"] == name).expect("the vector exists");
    serde_json::to_vec(&case["request"]).expect("serialisable")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate_json");
    group.throughput(Throughput::Elements(1));
    for name in [
        "hold: released lease",
        "hold: other holder not found",
        "hold: already held by claimant",
        "status: held, live",
        "review: pod takes over dead holder",
    ] {
        let request = vector(name);
        group.bench_function(format!("{name} ({} bytes)", request.len()), |b| {
            b.iter(|| lease_logic::evaluate_json(black_box(&request)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
