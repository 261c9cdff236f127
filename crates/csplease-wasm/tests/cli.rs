//! The `csplease-wasm` binary's `eval` and `module` subcommands.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use wasm_sandbox::EMBEDDED_MODULE;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn request(claimant: &str) -> Vec<u8> {
    format!(
        r#"{{"action":"hold","claimant":"{claimant}","object":{{"metadata":{{"name":"csp-1","resourceVersion":"7"}}}}}}"#
    )
    .into_bytes()
}

/// The binary, with a compiled-module cache shared by the tests (a debug build of wasmtime
/// compiles slowly).
fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_csplease-wasm"));
    cmd.arg("--cache-dir").arg(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache"));
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
    let wrong = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wasm-sandbox/fixtures/wrong-abi.wat");
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
