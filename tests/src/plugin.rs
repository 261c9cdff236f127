//! The `kubectl-csplease` binary the live tests drive through the real `kubectl`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::cluster;

/// The directory holding `kubectl-csplease`: `$CSPLEASE_PLUGIN_DIR` (set by `cargo xtask test`),
/// else the workspace's debug build, built once here.
pub fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("CSPLEASE_PLUGIN_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let root = cluster::workspace_root();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "kubectl-csplease", "--bin", "kubectl-csplease", "-j", "2"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building kubectl-csplease failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        target.join("debug")
    })
}

/// The `kubectl-csplease` binary.
pub fn binary() -> PathBuf {
    dir().join("kubectl-csplease")
}
