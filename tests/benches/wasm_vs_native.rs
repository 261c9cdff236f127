//! The same request natively and in a warm wasmtime instance (the ratio `BENCHMARKS.md`
//! reports), and in a fresh instance for comparison.
//!
//! `CSPLEASE_BENCH_MODULE=FILE` runs another build of the module instead of the embedded one
//! (to compare build settings; it must decide as native does).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wasm_sandbox::{Config, Host};

fn request(name: &str) -> Vec<u8> {
    let case = csplease_tests::vectors::load()
        .into_iter()
        .find(|c| c.name == format!("lease: {name}"))
        .unwrap_or_else(|| panic!("no vector named {name:?}"));
    case.request
}

fn wasm_vs_native(c: &mut Criterion) {
    let host = Host::new(Config { max_concurrency: 2, ..Config::default() }).expect("host");
    let module = match std::env::var_os("CSPLEASE_BENCH_MODULE") {
        Some(path) => host.load_file(std::path::Path::new(&path)).expect("module"),
        None => host.load_embedded().expect("module"),
    };
    let mut warm = module.warm();
    for (short, name) in
        [("hold-takeover", "hold: other holder not found"), ("review-takeover", "review: pod takes over dead holder")]
    {
        let request = request(name);
        assert_eq!(warm.evaluate(&request), lease_logic::evaluate_json(&request));
        let mut group = c.benchmark_group(short);
        group.bench_function("native", |b| b.iter(|| lease_logic::evaluate_json(black_box(&request))));
        group.bench_function("wasmtime warm", |b| b.iter(|| warm.evaluate(black_box(&request))));
        group.bench_function("wasmtime fresh", |b| b.iter(|| module.evaluate(black_box(&request))));
        group.finish();
    }
}

criterion_group!(benches, wasm_vs_native);
criterion_main!(benches);
