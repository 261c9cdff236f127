//! Conformance of the lease module in wasmtime: every vector in `tests/vectors/` gives the same
//! decision document, byte for byte, as the native core, and that document matches the vector's
//! `expect`. The host runs the module it embeds, which is what `csplease-wasm module` writes out.

use csplease_tests::vectors::{Case, differences, load};
use wasm_sandbox::{Config, Host};

/// Compares one runtime's decision with native and with `expect`; describes each difference.
fn check(case: &Case, runtime: &str, decision: Result<Vec<u8>, String>, failures: &mut Vec<String>) {
    let decision = match decision {
        Ok(decision) => decision,
        Err(e) => return failures.push(format!("{}: {runtime} failed: {e}", case.name)),
    };
    let native = lease_logic::evaluate_json(&case.request);
    failures.extend(differences(case, runtime, &decision, &native));
}

/// A compiled-module cache for the tests: a debug build of wasmtime compiles slowly.
fn config() -> Config {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache");
    Config { cache_dir: Some(cache), ..Config::default() }
}

fn report(failures: &[String], cases: usize) {
    assert!(failures.is_empty(), "{} failure(s) over {cases} cases:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn fresh_instances_match_native_byte_for_byte() {
    let host = Host::new(config()).expect("host");
    let module = host.load_embedded().expect("the embedded module loads");
    let cases = load();
    assert!(!cases.is_empty(), "no vectors in tests/vectors");
    let mut failures = Vec::new();
    for case in &cases {
        check(case, "wasmtime", module.try_evaluate(&case.request).map_err(|e| e.to_string()), &mut failures);
    }
    report(&failures, cases.len());
}

#[test]
fn one_warm_instance_matches_native_byte_for_byte() {
    let host = Host::new(config()).expect("host");
    let module = host.load_embedded().expect("the embedded module loads");
    let mut warm = module.warm();
    let cases = load();
    let mut failures = Vec::new();
    // Twice over, in one instance: a decision must not depend on what the instance did before.
    for _round in 0..2 {
        for case in &cases {
            check(case, "wasmtime (warm)", warm.try_evaluate(&case.request).map_err(|e| e.to_string()), &mut failures);
        }
    }
    report(&failures, cases.len());
}
