//! `cargo xtask test`: every test the project has, after installing what they need.
//!
//! Steps, in order (each prints a header and its time; the first failure stops the run):
//! 1. tools: Debian packages (Chromium among them), the wasm target, `wasm-opt`,
//!    `wasm-bindgen`, `helm` (from the Go module proxy), nightly Rust and `cargo-fuzz`, each
//!    skipped when already there; then the browser inspector's page, which the plugin embeds;
//! 2. `cargo fmt --check` and `cargo clippy -D warnings` over every target;
//! 3. the control plane: kube-apiserver and etcd, built once into a version-keyed cache, then
//!    started for this run on loopback;
//! 4. the webhook's container image (`cargo xtask image`: a static binary, buildah, an OCI
//!    archive in `target/dist/`);
//! 5. `cargo test --workspace`: unit, property and doc tests, the conformance vectors through
//!    every runtime (native, wasmtime, Node, headless Chromium), and the live tests against the
//!    control plane through the real `kubectl` (among them the image under podman, the
//!    self-managed certificate, and the Helm chart with the pinned `helm`);
//! 6. the WASM module's rules (no imports, its ABI, at most 100 KiB);
//! 7. the fuzz target builds, and replays its corpus as a regression test.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::{cluster, image, wasm, web};

/// Debian packages the tests use at run time: certificates for the control plane, raw requests,
/// and the browser the inspector is tested in.
const DEBIAN_PACKAGES: &[&str] = &["openssl", "curl", "chromium", "chromium-driver"];
/// The cargo-fuzz release the fuzz target is built with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Runs every test.
pub fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    let mut steps = Steps::default();

    steps.run("install what the tests need", || {
        ensure_debian_packages(DEBIAN_PACKAGES)?;
        wasm::ensure_tools()?;
        web::ensure_tools()?;
        image::ensure_helm()?;
        ensure_fuzz_tools()
    })?;
    // Before anything compiles the plugin, which embeds the page when it is built.
    steps.run("build the lease inspector (web/pkg)", || web::build(&root).map(drop))?;
    steps.run("cargo fmt --check", || cargo(&root, ["fmt", "--all", "--", "--check"], &[]))?;
    steps.run("cargo clippy -D warnings", || {
        cargo(&root, ["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"], &[])
    })?;
    let control_plane = steps.run("start a local control plane", || {
        cluster::ensure_binaries()?;
        cluster::up(&root.join("target/csplease-test-cluster"))
    })?;
    // The live tests drive the plugin through the real kubectl, which finds it on PATH, and
    // register the webhook binary with the API server.
    steps.run("build the kubectl plugin and the webhook", || {
        let bins = ["-p", "kubectl-csplease", "--bin", "kubectl-csplease", "-p", "wasm-host", "--bin", "csplease-wasm"];
        cargo(&root, ["build"].into_iter().chain(bins), &[])
    })?;
    // The image and chart tests run it under podman as the API server's webhook.
    steps.run("build the webhook's container image (target/dist)", || image::build(&root).map(drop))?;
    let plugin_dir = target_dir(&root).join("debug");
    let mut env: Vec<(&str, &OsStr)> = control_plane.test_env().into_iter().collect();
    env.push(("CSPLEASE_PLUGIN_DIR", plugin_dir.as_os_str()));
    env.push(("CSPLEASE_WEB", OsStr::new("1")));
    steps.run("cargo test --workspace (unit, property, vectors in every runtime, live)", || {
        cargo(&root, ["test", "--workspace"], &env)
    })?;
    steps.run("stop the control plane", || control_plane.down())?;
    steps.run("the WASM module's rules", || wasm::check(&root))?;
    steps.run("fuzz targets build and replay their corpora", || {
        let fuzz = root.join("fuzz");
        for target in FUZZ_TARGETS {
            cargo(&fuzz, ["+nightly", "fuzz", "build", target], &[])?;
            let corpus = format!("corpus/{target}");
            cargo(&fuzz, ["+nightly", "fuzz", "run", target, &corpus, "--", "-runs=0"], &[])?;
        }
        Ok(())
    })?;

    eprintln!("\nxtask test: every step passed in {:.0?}", started.elapsed());
    println!("steps: {} passed, 0 failed", steps.passed);
    Ok(())
}

/// The cargo-fuzz targets in `fuzz/`: the core's wire entry point and the webhook's body handling.
const FUZZ_TARGETS: [&str; 2] = ["evaluate", "admission"];

/// Counts and times the steps.
#[derive(Default)]
struct Steps {
    passed: usize,
}

impl Steps {
    fn run<T>(&mut self, name: &str, step: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        eprintln!("\n=== {name}");
        let started = Instant::now();
        let result = step().with_context(|| format!("step failed: {name}"));
        eprintln!("=== {name}: {} in {:.1?}", if result.is_ok() { "ok" } else { "FAILED" }, started.elapsed());
        self.passed += usize::from(result.is_ok());
        result
    }
}

/// The workspace root (the xtask crate's parent).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Where cargo puts its output (`$CARGO_TARGET_DIR` or `target/`).
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Runs `cargo ARGS` in `dir` with extra environment; fails on a non-zero exit.
fn cargo<'a>(dir: &Path, args: impl IntoIterator<Item = &'a str>, env: &[(&str, &OsStr)]) -> anyhow::Result<()> {
    let args: Vec<&str> = args.into_iter().collect();
    let mut command = Command::new("cargo");
    command.current_dir(dir).args(&args).envs(env.iter().copied());
    // A toolchain chosen with `+name` must win over the one this xtask runs under.
    if args.first().is_some_and(|a| a.starts_with('+')) {
        command.env_remove("RUSTUP_TOOLCHAIN").env_remove("RUSTC").env_remove("CARGO");
    }
    let status = command.status().with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Installs the Debian packages that are missing (`apt-get update` first, once).
pub fn ensure_debian_packages(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            let status = Command::new("dpkg-query").args(["-W", "-f=${Status}", p]).output();
            !status.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing Debian packages {}", missing.join(" "));
    let quiet = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get (Debian packages need root)")?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    quiet(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    quiet(&install)
}

/// Nightly Rust (cargo-fuzz needs it) and cargo-fuzz itself.
fn ensure_fuzz_tools() -> anyhow::Result<()> {
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
