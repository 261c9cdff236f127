//! The cargo-fuzz targets in `fuzz/`: nightly Rust and cargo-fuzz, then each target built and its
//! corpus replayed as a regression test.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::workspace::cargo;

/// The cargo-fuzz release the fuzz targets are built with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// The targets: the core's wire entry point and the webhook's body handling.
const TARGETS: [&str; 2] = ["evaluate", "admission"];

/// Nightly Rust (cargo-fuzz needs it) and cargo-fuzz itself, each only when missing.
pub fn ensure_tools() -> anyhow::Result<()> {
    let toolchains = Command::new("rustup").args(["toolchain", "list"]).output().context("running rustup")?;
    if !String::from_utf8_lossy(&toolchains.stdout).lines().any(|l| l.starts_with("nightly")) {
        eprintln!("xtask: installing the nightly Rust toolchain (for cargo-fuzz)");
        let status = Command::new("rustup")
            .args(["toolchain", "install", "nightly", "--profile", "minimal"])
            .status()
            .context("running rustup")?;
        if !status.success() {
            bail!("`rustup toolchain install nightly` failed ({status})");
        }
    }
    let installed = Command::new("cargo").args(["fuzz", "--version"]).output();
    if installed.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(CARGO_FUZZ_VERSION)) {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION}");
    let status = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION])
        .status()
        .context("running cargo install")?;
    if !status.success() {
        bail!("`cargo install cargo-fuzz` failed ({status})");
    }
    Ok(())
}

/// Builds every target and replays its corpus (`-runs=0`).
pub fn replay_corpora(root: &Path) -> anyhow::Result<()> {
    let fuzz = root.join("fuzz");
    for target in TARGETS {
        cargo(&fuzz, ["+nightly", "fuzz", "build", target], &[])?;
        let corpus = format!("corpus/{target}");
        cargo(&fuzz, ["+nightly", "fuzz", "run", target, &corpus, "--", "-runs=0"], &[])?;
    }
    Ok(())
}
