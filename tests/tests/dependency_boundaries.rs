//! The libraries stay free of their binaries' weight: what `cargo tree -e normal` lists for each
//! library (the crates and the features it compiles, build and dev dependencies left out) holds
//! none of the crates its job does not need.
//!
//! - `csp-lease` (the `CspLease` library a Rust pool manager links) compiles no command line
//!   (`clap`), no YAML, no HTTP server (hyper's and hyper-util's `server` features), no metrics
//!   and no wasmtime.
//! - `wasm-sandbox` (the wasmtime host an embedder links) compiles no Kubernetes client, no
//!   hyper at all, no Prometheus, no async runtime, no command line, and no native `lease-logic`:
//!   every decision comes from the module.
//!
//! Each check runs against the binary crate built on the library too, which must have what the
//! library must not: that proves the check can see a dependency when there is one.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// What `cargo tree -e normal,features -p PACKAGE` lists: `name` for every crate, and
/// `name feature "f"` for every feature enabled.
fn tree(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--quiet", "-e", "normal,features", "--prefix", "none", "-p", package])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo tree -p {package} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            // `name v1.2.3 (path)` -> `name`; `name feature "f"` stays as it is.
            let line = line.trim_end_matches(" (*)");
            match line.split_once(" feature ") {
                Some(_) => line.to_owned(),
                None => line.split(' ').next().unwrap_or_default().to_owned(),
            }
        })
        .filter(|line| !line.is_empty())
        .collect()
}

/// Asserts `library` holds none of `forbidden`, and `binary` (built on it) holds `witness`.
fn check(library: &str, forbidden: &[&str], binary: &str, witness: &[&str]) {
    let tree_of_library = tree(library);
    let crates = tree_of_library.iter().filter(|e| !e.contains(" feature ")).count();
    let present: Vec<&str> = forbidden.iter().copied().filter(|entry| tree_of_library.contains(*entry)).collect();
    assert!(
        present.is_empty(),
        "{library} must not compile {present:?} (`cargo tree -e normal -p {library} -i {}` shows why); \
         {library} compiles {crates} crates",
        present[0].split(' ').next().unwrap_or_default()
    );
    let tree_of_binary = tree(binary);
    let missing: Vec<&str> = witness.iter().copied().filter(|entry| !tree_of_binary.contains(*entry)).collect();
    assert!(missing.is_empty(), "the check cannot see {missing:?} in {binary}, which has them: it is broken");
    eprintln!("{library}: {crates} crates, none of {forbidden:?}");
}

#[test]
fn the_lease_library_carries_no_command_line_yaml_or_server() {
    check(
        "csp-lease",
        &[
            "clap",
            "clap_complete",
            "serde_yaml_ng",
            "hyper feature \"server\"",
            "hyper-util feature \"server\"",
            "hyper-util feature \"server-auto\"",
            "prometheus-client",
            "wasmtime",
        ],
        "kubectl-csplease",
        &["clap", "serde_yaml_ng", "hyper feature \"server\""],
    );
}

#[test]
fn the_sandbox_carries_no_kubernetes_http_metrics_or_native_core() {
    check(
        "wasm-sandbox",
        &[
            "kube",
            "kube-client",
            "k8s-openapi",
            "hyper",
            "hyper-util",
            "prometheus-client",
            "tokio",
            "rustls",
            "clap",
            "lease-logic",
            "csplease-admission",
        ],
        "csplease-wasm",
        &["kube", "hyper", "prometheus-client", "tokio", "clap", "lease-logic"],
    );
}
