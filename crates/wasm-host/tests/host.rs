//! The host's library API and the `csplease-wasm` binary.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use wasm_host::{CacheStatus, Config, EMBEDDED_MODULE, EvalOptions, Host};

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
        let n = wasm_host::eval_lines(&module, &input[..], &mut output, EvalOptions { jobs: 3, warm }).expect("eval");
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

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_csplease-wasm"));
    cmd.arg("--cache-dir").arg(config().cache_dir.expect("cache dir"));
    cmd
}

fn run(mut cmd: Command, stdin: &[u8]) -> std::process::Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn csplease-wasm");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn cli_eval_answers_each_line_in_order() {
    let mut input = request("openebs/a");
    input.extend_from_slice(b"\n{not json\n");
    input.extend_from_slice(&request("openebs/b"));
    input.push(b'\n');
    let mut cmd = binary();
    cmd.args(["eval", "--jobs", "2"]);
    let out = run(cmd, &input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(json).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["after"]["holder"], "openebs/a");
    assert_eq!(lines[1]["outcome"], "invalid");
    assert_eq!(lines[2]["after"]["holder"], "openebs/b");
}

#[test]
fn cli_module_writes_the_embedded_module_and_runs_another_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("lease.wasm");
    let mut cmd = binary();
    cmd.args(["module", "-o"]).arg(&file);
    let out = run(cmd, b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&file).expect("written"), EMBEDDED_MODULE);

    // `--module FILE` runs that file.
    let mut cmd = binary();
    cmd.arg("--module").arg(&file).arg("eval");
    let out = run(cmd, &request("openebs/a"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(out.stdout.trim_ascii_end())["outcome"], "acquired");

    // A module of the wrong ABI: `error: ...` on stderr, exit status 1.
    let wrong = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wrong-abi.wat");
    let mut cmd = binary();
    cmd.arg("--module").arg(&wrong).arg("eval");
    let out = run(cmd, &request("openebs/a"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: the lease module speaks ABI version 2, this host speaks version 1\n"
    );
    // A module file that is not there.
    let mut cmd = binary();
    cmd.args(["--module", "/nonexistent/lease.wasm", "eval"]);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot read the lease module /nonexistent/lease.wasm: No such file or directory (os error 2)\n"
    );
}
