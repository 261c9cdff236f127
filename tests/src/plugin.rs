//! The workspace's binaries the live tests run: `kubectl-csplease` and its completion program
//! `kubectl_complete-csplease`, which they drive through the real `kubectl`, and `csplease-wasm`,
//! the admission webhook.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::cluster;

/// The `cargo build` arguments of the binaries the live tests run: the plugin and its completion
/// program (through the real kubectl, which finds them on PATH) and the webhook. `cargo xtask test`
/// builds exactly these before the tests.
pub const LIVE_TEST_BINARIES: [&str; 10] = [
    "-p",
    "kubectl-csplease",
    "--bin",
    "kubectl-csplease",
    "--bin",
    "kubectl_complete-csplease",
    "-p",
    "csplease-wasm",
    "--bin",
    "csplease-wasm",
];

/// The directory holding `kubectl-csplease`, `kubectl_complete-csplease` and `csplease-wasm`:
/// `$CSPLEASE_PLUGIN_DIR` (set by `cargo xtask test`, which builds them), else the workspace's
/// debug build, built once here.
pub fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("CSPLEASE_PLUGIN_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let root = cluster::workspace_root();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-j", "2"])
            .args(LIVE_TEST_BINARIES)
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building kubectl-csplease, kubectl_complete-csplease and csplease-wasm failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        target.join("debug")
    })
}

/// The `kubectl-csplease` binary.
pub fn binary() -> PathBuf {
    dir().join("kubectl-csplease")
}

/// The `csplease-wasm` binary (the JSON Lines evaluator and the admission webhook).
pub fn webhook_binary() -> PathBuf {
    dir().join("csplease-wasm")
}

/// `kubectl csplease ARGS` through `kubectl` (a command that already names its kubeconfig and
/// identity): the plugin's directory first on `PATH`, and no pod environment (`NAMESPACE`,
/// `POD_NAME`), so the claimant comes from the arguments only.
pub fn through_kubectl(mut kubectl: Command, args: &[&str]) -> Command {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(dir().clone()).chain(std::env::split_paths(&path));
    kubectl
        .env("PATH", std::env::join_paths(dirs).expect("a PATH without ':' in the plugin's directory"))
        .env_remove("NAMESPACE")
        .env_remove("POD_NAME")
        .arg("csplease")
        .args(args);
    kubectl
}
