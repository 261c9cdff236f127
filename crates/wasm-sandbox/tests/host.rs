//! The host's library API.

use serde_json::Value;
use wasm_sandbox::{CacheStatus, Config, EMBEDDED_MODULE, EvalOptions, Host};

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// A compiled-module cache shared by the tests: a debug build of wasmtime compiles slowly.
fn config() -> Config {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache");
    Config { cache_dir: Some(cache), ..Config::default() }
}

fn request(claimant: &str) -> Vec<u8> {
    format!(
        r#"{{"action":"hold","claimant":"{claimant}","object":{{"metadata":{{"name":"csp-1","resourceVersion":"7"}}}}}}"#
    )
    .into_bytes()
}

#[test]
fn embedded_module_imports_nothing_and_exports_the_abi() {
    let host = Host::new(config()).expect("host");
    let module = host.load_embedded().expect("loads");
    assert_eq!(module.size(), EMBEDDED_MODULE.len());
    assert!(EMBEDDED_MODULE.starts_with(b"\0asm"));
    assert_eq!(module.sha256().len(), 64);
}

#[test]
fn warm_and_fresh_answer_the_same() {
    let host = Host::new(Config { max_concurrency: 2, ..config() }).expect("host");
    let module = host.load_embedded().expect("loads");
    let mut warm = module.warm();
    for (i, req) in
        [request("openebs/a"), b"{".to_vec(), request("not a pod"), Vec::new(), request("openebs/b")].iter().enumerate()
    {
        // Several rounds in the warm instance: its heap is reused, the answers must not change.
        for _ in 0..3 {
            assert_eq!(warm.evaluate(req), module.evaluate(req), "request {i}");
        }
    }
}

#[test]
fn compiled_module_is_cached_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config { cache_dir: Some(dir.path().to_owned()), ..Config::default() };
    let first = Host::new(config.clone()).expect("host").load_embedded().expect("loads");
    let CacheStatus::Stored(path) = first.cache_status().clone() else {
        panic!("first load stores: {:?}", first.cache_status())
    };
    assert!(path.is_file());
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with(&first.sha256()), "{name}");

    let second = Host::new(config.clone()).expect("host").load_embedded().expect("loads");
    assert_eq!(second.cache_status(), &CacheStatus::Hit(path.clone()));
    assert_eq!(second.evaluate(&request("openebs/a")), first.evaluate(&request("openebs/a")));

    // A damaged entry is compiled again and replaced. (It is damaged as a new file: truncating
    // the file under a live module would pull its mapped code away, which is why the cache
    // itself only ever renames new files into place.)
    drop((first, second));
    std::fs::remove_file(&path).expect("remove");
    std::fs::write(&path, b"not a compiled module").expect("write");
    let third = Host::new(config).expect("host").load_embedded().expect("loads");
    assert_eq!(third.cache_status(), &CacheStatus::Stored(path));
    assert_eq!(json(&third.evaluate(&request("openebs/a")))["outcome"], "acquired");
}

#[test]
fn concurrent_evaluations_wait_for_a_slot() {
    let host = Host::new(Config { max_concurrency: 2, ..config() }).expect("host");
    let module = host.load_embedded().expect("loads");
    std::thread::scope(|s| {
        for t in 0..6 {
            let module = module.clone();
            s.spawn(move || {
                for i in 0..20 {
                    let decision = json(&module.evaluate(&request(&format!("openebs/pod-{t}-{i}"))));
                    assert_eq!(decision["outcome"], "acquired");
                }
            });
        }
    });
}

#[test]
fn eval_lines_keeps_input_order_and_answers_every_line() {
    let host = Host::new(Config { max_concurrency: 3, ..config() }).expect("host");
    let module = host.load_embedded().expect("loads");
    let mut input = Vec::new();
    for i in 0..1000 {
        if i % 97 == 0 {
            input.extend_from_slice(b"this line is not JSON\n");
        } else if i % 101 == 0 {
            input.extend_from_slice(b"\n");
        } else {
            input.extend_from_slice(&request(&format!("openebs/pod-{i}")));
            input.push(b'\n');
        }
    }
    input.pop(); // the last line has no newline
    for warm in [false, true] {
        let mut output = Vec::new();
        let n =
            wasm_sandbox::eval_lines(&module, &input[..], &mut output, EvalOptions { jobs: 3, warm }).expect("eval");
        assert_eq!(n, 1000);
        let lines: Vec<&[u8]> = output.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1000);
        for (i, line) in lines.iter().enumerate() {
            let decision = json(line);
            if i % 97 == 0 || i % 101 == 0 {
                assert_eq!(decision["outcome"], "invalid", "line {i}");
            } else {
                assert_eq!(decision["after"]["holder"], format!("openebs/pod-{i}"), "line {i}");
            }
        }
    }
}
