//! The binary's help, usage errors and offline errors, pinned as snapshots: what an operator
//! sees, with its exit code. Nothing here needs a cluster; "server gone" points at a closed port.

use std::io::Write as _;
use std::process::{Command, Stdio};

fn plugin(args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-csplease"));
    cmd.args(args)
        .env_remove("NAMESPACE")
        .env_remove("POD_NAME")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the plugin runs");
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("the plugin ends");
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().map_or("signal".into(), |c| c.to_string()),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A kubeconfig for a server that is not there (port 1 on loopback is closed).
fn gone_kubeconfig() -> tempfile_path::Path {
    tempfile_path::write(
        "gone.kubeconfig",
        "apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}
users:
- name: someone
  user: {token: not-a-real-token}
contexts:
- name: gone
  context: {cluster: gone, user: someone, namespace: openebs}
current-context: gone
",
    )
}

mod tempfile_path {
    pub struct Path(pub std::path::PathBuf);
    impl Path {
        pub fn arg(&self) -> &str {
            self.0.to_str().expect("a UTF-8 temp path")
        }
    }
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    pub fn write(name: &str, text: &str) -> Path {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("kubectl-csplease-cli-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("a temp file");
        Path(path)
    }
}

#[test]
fn help() {
    insta::assert_snapshot!(plugin(&["--help"], None));
}

#[test]
fn hold_help() {
    insta::assert_snapshot!(plugin(&["hold", "--help"], None));
}

#[test]
fn status_help() {
    insta::assert_snapshot!(plugin(&["status", "--help"], None));
}

#[test]
fn unknown_flag_is_a_usage_error() {
    insta::assert_snapshot!(plugin(&["status", "--frobnicate"], None));
}

#[test]
fn bad_output_format_is_a_usage_error() {
    insta::assert_snapshot!(plugin(&["status", "-o", "table"], None));
}

#[test]
fn no_kubeconfig() {
    insta::assert_snapshot!(plugin(&["status"], None));
}

#[test]
fn server_gone() {
    let config = gone_kubeconfig();
    insta::assert_snapshot!(plugin(&["status", "--kubeconfig", config.arg()], None));
}

#[test]
fn server_gone_on_hold_is_an_error_not_a_decision() {
    let config = gone_kubeconfig();
    insta::assert_snapshot!(plugin(
        &["hold", "cstor-pool-a", "--holder", "openebs/pool-a-0", "--kubeconfig", config.arg()],
        None
    ));
}

#[test]
fn no_claimant() {
    let config = gone_kubeconfig();
    insta::assert_snapshot!(plugin(&["hold", "cstor-pool-a", "--kubeconfig", config.arg()], None));
}

#[test]
fn invalid_holder() {
    let config = gone_kubeconfig();
    insta::assert_snapshot!(plugin(
        &["hold", "cstor-pool-a", "--holder", "openebs/Pool_A", "--kubeconfig", config.arg()],
        None
    ));
}

#[test]
fn invalid_csp_name() {
    let config = gone_kubeconfig();
    insta::assert_snapshot!(plugin(&["release", "Pool/../x", "--force", "--kubeconfig", config.arg()], None));
}

#[test]
fn claimant_from_the_pods_environment_is_checked_too() {
    let config = gone_kubeconfig();
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-csplease"))
        .args(["hold", "cstor-pool-a", "--kubeconfig", config.arg()])
        .env("NAMESPACE", "openebs")
        .env("POD_NAME", "Not_A_Pod")
        .output()
        .expect("the plugin runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: invalid claimant from $NAMESPACE/$POD_NAME: \"openebs/Not_A_Pod\""), "{stderr}");
}

#[test]
fn decide_stays_offline() {
    insta::assert_snapshot!(plugin(
        &["decide"],
        Some(
            r#"{"action":"hold","claimant":"openebs/pool-a","object":{"metadata":{"name":"csp-1","resourceVersion":"7"}}}"#
        ),
    ));
}

#[test]
fn completions() {
    for shell in ["bash", "zsh", "fish"] {
        let out =
            Command::new(env!("CARGO_BIN_EXE_kubectl-csplease")).args(["completion", shell]).output().expect("runs");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("kubectl-csplease") && script.contains("hold"), "{shell}: {script}");
    }
}

#[test]
fn run_help() {
    insta::assert_snapshot!(plugin(&["run", "--help"], None));
}

#[test]
fn run_needs_a_command_after_the_double_dash() {
    insta::assert_snapshot!(plugin(&["run", "cstor-pool-a", "--holder", "openebs/pool-a"], None));
}

#[test]
fn run_refuses_a_dry_run_before_anything_is_read() {
    let config = gone_kubeconfig();
    insta::assert_snapshot!(plugin(
        &["run", "cstor-pool-a", "--holder", "openebs/pool-a", "--dry-run", "--kubeconfig", config.arg(), "--", "true"],
        None
    ));
}
