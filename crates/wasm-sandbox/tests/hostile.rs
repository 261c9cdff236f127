//! Hostile modules: each one fails in its own way with a clear error or an `invalid` decision,
//! and the same host then serves a good request with the real module.

use std::time::{Duration, Instant};

use serde_json::Value;
use wasm_sandbox::{Config, Error, EvalError, Host};

const GOOD_REQUEST: &[u8] =
    br#"{"action":"hold","claimant":"openebs/pool-a","object":{"metadata":{"name":"csp-1","resourceVersion":"7"}}}"#;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A compiled-module cache shared by the tests: a debug build of wasmtime compiles slowly.
fn cache() -> Option<std::path::PathBuf> {
    Some(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache"))
}

fn host() -> Host {
    let config =
        Config { deadline: Duration::from_millis(50), max_concurrency: 2, cache_dir: cache(), ..Config::default() };
    Host::new(config).expect("host")
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The host still works: the real module decides a good request.
fn serves_good_request(host: &Host) {
    let module = host.load_embedded().expect("embedded module loads");
    let decision = json(&module.evaluate(GOOD_REQUEST));
    assert_eq!(decision["action"], "hold", "{decision}");
    assert_eq!(decision["outcome"], "acquired", "{decision}");
}

/// Evaluates through a hostile module: the error, and the `invalid` decision built from it.
fn evaluate_hostile(host: &Host, name: &str) -> (EvalError, Value) {
    let module = host.load(&fixture(name)).unwrap_or_else(|e| panic!("{name} loads: {e}"));
    let err = module.try_evaluate(GOOD_REQUEST).expect_err("a hostile module fails");
    let raw = module.evaluate(GOOD_REQUEST);
    let decision = json(&raw);
    assert_eq!(decision["outcome"], "invalid");
    assert_eq!(decision["reason"], err.to_string());
    // Every member, in the SPEC's order.
    let raw = String::from_utf8(raw).expect("UTF-8");
    assert!(raw.starts_with(r#"{"action":null,"outcome":"invalid","reason":""#), "{raw}");
    assert!(
        raw.ends_with(r#","before":null,"after":null,"annotation":null,"patch":null,"lookup":null,"live":null}"#),
        "{raw}"
    );
    // And in a warm instance too: the failed instance is replaced, the next call fails again cleanly.
    let mut warm = module.warm();
    assert_eq!(json(&warm.evaluate(GOOD_REQUEST))["outcome"], "invalid");
    assert_eq!(json(&warm.evaluate(GOOD_REQUEST))["outcome"], "invalid");
    (err, decision)
}

#[test]
fn endless_loop_is_stopped_at_the_deadline() {
    let host = host();
    let start = Instant::now();
    let (err, decision) = evaluate_hostile(&host, "endless-loop.wat");
    assert_eq!(err, EvalError::Timeout(Duration::from_millis(50)));
    assert!(decision["reason"].as_str().is_some_and(|r| r.contains("deadline of 50 ms")), "{decision}");
    // Four evaluations, none stopped before its 50 ms deadline. The upper bound only catches a
    // hang (a deadline that never fires): a busy machine must not fail this test.
    assert!(start.elapsed() >= Duration::from_millis(200), "{:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(60), "{:?}", start.elapsed());
    serves_good_request(&host);
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let host = host();
    let (err, decision) = evaluate_hostile(&host, "memory-bomb.wat");
    assert_eq!(err, EvalError::MemoryLimit(16 << 20));
    assert!(decision["reason"].as_str().is_some_and(|r| r.contains("memory")), "{decision}");
    serves_good_request(&host);
}

#[test]
fn module_wanting_too_much_memory_is_refused_at_load() {
    let host = host();
    let err = host.load(&fixture("huge-memory.wat")).expect_err("refused");
    assert!(matches!(err, Error::Compile(_)), "{err}");
    assert!(err.to_string().contains("minimum byte size of 67108864 which exceeds the limit"), "{err}");
    serves_good_request(&host);
}

#[test]
fn out_of_bounds_result_is_invalid() {
    let host = host();
    let (err, _) = evaluate_hostile(&host, "out-of-bounds.wat");
    assert_eq!(err, EvalError::OutOfBounds { ptr: 0xffff_0000, len: 100, memory: 65536 });
    serves_good_request(&host);
}

#[test]
fn trap_is_invalid() {
    let host = host();
    let (err, decision) = evaluate_hostile(&host, "trap.wat");
    assert!(matches!(err, EvalError::Trap(ref m) if m.contains("unreachable")), "{err}");
    assert!(decision["reason"].as_str().is_some_and(|r| r.starts_with("the lease module trapped")), "{decision}");
    serves_good_request(&host);
}

#[test]
fn garbage_result_is_invalid() {
    let host = host();
    let (err, _) = evaluate_hostile(&host, "garbage.wat");
    assert!(matches!(err, EvalError::Garbage(_)), "{err}");
    serves_good_request(&host);
}

#[test]
fn wrong_abi_version_is_refused_at_load() {
    let host = host();
    let err = host.load(&fixture("wrong-abi.wat")).expect_err("refused");
    assert!(matches!(err, Error::AbiVersion { found: 2, expected: 1 }), "{err}");
    assert_eq!(err.to_string(), "the lease module speaks ABI version 2, this host speaks version 1");
    serves_good_request(&host);
}

#[test]
fn module_with_imports_is_refused_at_load() {
    let host = host();
    let err = host.load(&fixture("imports.wat")).expect_err("refused");
    assert_eq!(err.to_string(), "the lease module must import nothing, but it imports env.now");
    serves_good_request(&host);
}

#[test]
fn module_without_the_abi_is_refused_at_load() {
    let host = host();
    let err = host.load(br#"(module (memory (export "memory") 1))"#).expect_err("refused");
    assert!(matches!(err, Error::Abi(_)), "{err}");
    let err = host.load(b"\0asm\x01\0\0\0garbage").expect_err("refused");
    assert!(matches!(err, Error::Compile(_)), "{err}");
    serves_good_request(&host);
}

#[test]
fn fresh_instances_share_no_state_and_warm_ones_do() {
    let host = host();
    let module = host.load(&fixture("counter.wat")).expect("loads");
    for _ in 0..3 {
        assert_eq!(module.evaluate(b"{}"), br#"{"count":1}"#);
    }
    let mut warm = module.warm();
    assert_eq!(warm.evaluate(b"{}"), br#"{"count":1}"#);
    assert_eq!(warm.evaluate(b"{}"), br#"{"count":2}"#);
    assert_eq!(warm.evaluate(b"{}"), br#"{"count":3}"#);
}

#[test]
fn request_larger_than_the_memory_limit_is_invalid() {
    let config = Config { memory_limit: 8 << 20, max_concurrency: 1, cache_dir: cache(), ..Config::default() };
    let host = Host::new(config).expect("host");
    let module = host.load_embedded().expect("loads");
    let huge = vec![b' '; 9 << 20];
    assert_eq!(module.try_evaluate(&huge), Err(EvalError::RequestTooLarge { len: 9 << 20, limit: 8 << 20 }));
    // A request that fits the limit but not the module's heap: the module's allocator gives up
    // (or the memory limit stops it), either way an `invalid` decision, and the host goes on.
    let big = vec![b' '; 7 << 20];
    assert_eq!(json(&module.evaluate(&big))["outcome"], "invalid");
    serves_good_request(&host);
}
