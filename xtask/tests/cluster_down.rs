//! `cargo xtask cluster down` returns only once etcd and kube-apiserver have exited.
//!
//! Runs the real `xtask cluster up` and `down` (with a private `CARGO_TARGET_DIR`, so its state
//! directory is its own) and looks at both processes the moment `down` returns. A live test: it
//! runs only with `CSPLEASE_LIVE=1` and needs the control-plane binaries
//! (`cargo xtask cluster build`).

use std::path::Path;
use std::process::{Command, Output};

/// Whether any thread of process `pid` is still running (a zombie, whose threads have all
/// ended, is not): read from `/proc` here, independently of the code under test.
fn still_running(pid: u64) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        state.is_some_and(|s| s != 'Z' && s != 'X')
    })
}

fn xtask(target_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .unwrap_or_else(|e| panic!("xtask {args:?} runs: {e}"))
}

#[test]
fn cluster_down_returns_only_once_both_processes_have_exited() {
    if std::env::var_os("CSPLEASE_LIVE").is_none_or(|v| v != "1") {
        eprintln!("SKIPPED live test cluster_down_returns_only_once_both_processes_have_exited: set CSPLEASE_LIVE=1");
        return;
    }
    if let Err(e) = csplease_local_cluster::Binaries::locate() {
        panic!("{e}");
    }
    let target_dir = std::env::temp_dir().join(format!("csplease-xtask-down-{}", std::process::id()));
    let up = xtask(&target_dir, &["cluster", "up"]);
    assert!(up.status.success(), "cluster up: {}", String::from_utf8_lossy(&up.stderr));
    let stdout = String::from_utf8_lossy(&up.stdout);
    assert!(stdout.lines().last().is_some_and(|l| l.starts_with("export KUBECONFIG=")), "{stdout}");

    let state_path = target_dir.join("csplease-cluster").join("state.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).expect("state.json")).expect("JSON");
    let pids: Vec<u64> = ["etcdPid", "apiserverPid"].iter().filter_map(|k| state[k].as_u64()).collect();
    assert_eq!(pids.len(), 2, "{state}");
    assert!(pids.iter().all(|&pid| still_running(pid)), "both run after up: {pids:?}");

    let down = xtask(&target_dir, &["cluster", "down"]);
    // Looked at at once, before anything else: the point of the test.
    let running: Vec<u64> = pids.iter().copied().filter(|&pid| still_running(pid)).collect();
    let stderr = String::from_utf8_lossy(&down.stderr);
    if !running.is_empty() {
        // Do not leave them behind: they are this test's.
        for pid in &running {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
    let _ = std::fs::remove_dir_all(&target_dir);
    assert!(down.status.success(), "cluster down: {stderr}");
    assert!(running.is_empty(), "still running when `cluster down` returned: {running:?}\n{stderr}");
    assert!(!state_path.exists(), "the state directory is gone");
    assert!(stderr.contains("stopped"), "{stderr}");
}
