//! The version stamp of a csplease binary, for its build script: `0.1.0 (commit 0b76441,
//! x86_64-unknown-linux-musl)`, the package version, the git commit it was built from and the
//! target triple. A build script includes this file (`#[path = "../build_version.rs"] mod
//! build_version;`) and calls [`emit`]; the crate then reads `env!("CSPLEASE_VERSION")`, which
//! `--version` prints.
//!
//! The commit is `$CSPLEASE_GIT_COMMIT` when set (a build from a source archive), else
//! `git rev-parse --short HEAD` in the crate's directory, else `unknown` (not a git checkout, or no
//! git). The script reruns when HEAD moves, so the stamp follows new commits.

use std::path::Path;
use std::process::Command;

/// Sets `CSPLEASE_VERSION` for the crate being built and says when to rebuild it.
pub fn emit() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    println!("cargo:rerun-if-env-changed=CSPLEASE_GIT_COMMIT");
    let commit = match std::env::var("CSPLEASE_GIT_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_owned(),
        _ => git_commit(Path::new(&dir)).unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=CSPLEASE_VERSION={version} (commit {commit}, {target})");
}

/// The short commit of HEAD, and rerun-if-changed lines for the files that move with it
/// (HEAD, the branch it points at, packed-refs); `None` outside a git checkout.
fn git_commit(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").current_dir(dir).args(args).output().ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(commit)
}
