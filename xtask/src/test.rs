//! `cargo xtask test`: every test the project has, after installing what they need.
//!
//! Steps, in order (each prints a header and its time; the first failure stops the run):
//! 1. tools: Debian packages (Chromium among them), the wasm target, `wasm-opt`,
//!    `wasm-bindgen`, `helm` (from the Go module proxy), nightly Rust and `cargo-fuzz`, each
//!    skipped when already there; then the browser inspector's page, which the plugin embeds;
//! 2. `cargo fmt --check` and `cargo clippy -D warnings` over every target;
//! 3. the control plane: kube-apiserver and etcd, built once into a version-keyed cache, then
//!    started for this run on loopback;
//! 4. the static binaries the distribution tests need (`dist::for_tests`): both binaries for
//!    aarch64 (musl), the x86_64 plugin's release archive and its krew manifest, and krew itself;
//!    and the webhook's container image (`cargo xtask image`: a static binary, buildah, an OCI
//!    archive in `target/dist/`);
//! 5. `cargo test --workspace --no-fail-fast` (every test binary runs; the step fails after
//!    them all if any failed): unit, property and doc tests, the conformance vectors through
//!    every runtime (native, wasmtime, Node, headless Chromium, the aarch64 binaries under
//!    qemu), and the live tests against the control plane through the real `kubectl` (and krew;
//!    among them the image under podman, the self-managed certificate, and the Helm chart with
//!    the pinned `helm`);
//! 6. the WASM module's rules (no imports, its ABI, at most 100 KiB);
//! 7. the core's instruction budgets: instructions per decision counted with callgrind
//!    (`csplease-instruction-budgets`; a table, and a failure over budget);
//! 8. the fuzz targets build, and replay their corpora as a regression test.

use std::ffi::OsStr;
use std::time::Instant;

use anyhow::Context;

use crate::workspace::{self, cargo};
use crate::{cluster, debian, dist, fuzz, image, resources, wasm, web};

/// Debian packages the tests use at run time: certificates for the control plane, raw requests,
/// the browser the inspector is tested in, valgrind for the instruction budgets, and qemu for the
/// aarch64 binaries.
const DEBIAN_PACKAGES: &[&str] = &["openssl", "curl", "chromium", "chromium-driver", "valgrind", "qemu-user-static"];

/// Runs every test.
pub fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    let root = workspace::root();
    let mut steps = Steps::default();

    steps.run("install what the tests need", || {
        debian::ensure_packages(DEBIAN_PACKAGES)?;
        wasm::ensure_tools()?;
        web::ensure_tools()?;
        image::ensure_helm()?;
        fuzz::ensure_tools()
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
    // The live tests drive the plugin (and its completion program) through the real kubectl,
    // which finds them on PATH, and register the webhook binary with the API server.
    steps.run("build the kubectl plugin and the webhook", || {
        cargo(&root, ["build"].into_iter().chain(csplease_tests::plugin::LIVE_TEST_BINARIES), &[])
    })?;
    // The aarch64 binaries (run under qemu) and the plugin's archive for krew.
    let built = steps
        .run("static binaries: aarch64, the x86_64 plugin archive for krew, the webhook", || dist::for_tests(&root))?;
    // The image and chart tests run it under podman as the API server's webhook.
    steps
        .run("build the webhook's container image (target/dist)", || image::archive(&root, &built.webhook).map(drop))?;
    let plugin_dir = workspace::target_dir(&root).join("debug");
    let mut env: Vec<(&str, &OsStr)> = control_plane.test_env().into_iter().collect();
    env.push(("CSPLEASE_PLUGIN_DIR", plugin_dir.as_os_str()));
    env.push(("CSPLEASE_WEB", OsStr::new("1")));
    env.push(("CSPLEASE_DIST_DIR", built.dist.as_os_str()));
    env.push(("CSPLEASE_AARCH64_DIR", built.aarch64.as_os_str()));
    env.push(("CSPLEASE_KREW_DIR", built.krew.as_os_str()));
    // Every test binary runs even when one fails, so that one run reports every failure.
    steps.run("cargo test --workspace (unit, property, vectors in every runtime, live)", || {
        cargo(&root, ["test", "--workspace", "--no-fail-fast"], &env)
    })?;
    steps.run("stop the control plane", || control_plane.down())?;
    steps.run("the WASM module's rules", || wasm::check(&root))?;
    steps.run("the core's instruction budgets (callgrind)", || {
        cargo(&root, ["run", "--release", "--quiet", "-p", "csplease-instruction-budgets"], &[])
    })?;
    steps.run("fuzz targets build and replay their corpora", || fuzz::replay_corpora(&root))?;

    eprintln!("\nxtask test: every step passed in {:.0?}", started.elapsed());
    println!("steps: {} passed, 0 failed", steps.passed);
    Ok(())
}

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
        if result.is_err() {
            eprintln!("=== {}", resources::summary(&workspace::target_dir(&workspace::root())));
        }
        self.passed += usize::from(result.is_ok());
        result
    }
}
