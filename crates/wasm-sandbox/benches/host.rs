//! The host's costs: a decision in a fresh instance, in a warm instance, and a cold start from
//! the compiled-module cache. Figures and commands are in `BENCHMARKS.md`.
//!
//! The requests are two of the shared conformance vectors (`tests/vectors/lease.json`): a hold
//! that takes over from a dead holder, and an admission review of a takeover.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wasm_sandbox::{CacheStatus, Config, Host};

/// The vectors the benchmarks evaluate, by name.
const CASES: [(&str, &str); 2] =
    [("hold-takeover", "hold: other holder not found"), ("review-takeover", "review: pod takes over dead holder")];

fn request(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/lease.json");
    let text = std::fs::read_to_string(path).expect("tests/vectors/lease.json");
    let cases: serde_json::Value = serde_json::from_str(&text).expect("vector file is JSON");
    let case = cases
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no vector named {name:?}"));
    serde_json::to_vec(&case["request"]).expect("serialisable")
}

fn evaluation(c: &mut Criterion) {
    let host = Host::new(Config { max_concurrency: 2, ..Config::default() }).expect("host");
    let module = host.load_embedded().expect("module");
    let mut warm = module.warm();
    for (short, name) in CASES {
        let request = request(name);
        assert_eq!(module.evaluate(&request), warm.evaluate(&request));
        c.bench_function(&format!("fresh instance/{short}"), |b| b.iter(|| module.evaluate(black_box(&request))));
        c.bench_function(&format!("warm instance/{short}"), |b| b.iter(|| warm.evaluate(black_box(&request))));
    }
}

fn cold_start(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("csplease-bench-cache-{}", std::process::id()));
    let config = Config { cache_dir: Some(dir.clone()), max_concurrency: 2, ..Config::default() };
    let request = request(CASES[0].1);
    // Fill the cache once.
    let first = Host::new(config.clone()).expect("host").load_embedded().expect("module");
    assert!(matches!(first.cache_status(), CacheStatus::Stored(_)), "{:?}", first.cache_status());
    drop(first);

    let mut group = c.benchmark_group("cached module");
    group.sample_size(30).measurement_time(Duration::from_secs(5));
    let host = Host::new(config.clone()).expect("host");
    group.bench_function("load + first decision", |b| {
        b.iter(|| {
            let module = host.load_embedded().expect("module");
            assert!(matches!(module.cache_status(), CacheStatus::Hit(_)));
            module.evaluate(black_box(&request))
        })
    });
    group.bench_function("new host + load + first decision", |b| {
        b.iter(|| {
            let host = Host::new(config.clone()).expect("host");
            let module = host.load_embedded().expect("module");
            module.evaluate(black_box(&request))
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, evaluation, cold_start);
criterion_main!(benches);
