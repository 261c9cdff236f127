//! Builds the Kubewarden policy (`csplease-kubewarden-policy` for `wasm32-unknown-unknown`) and
//! writes its `io.kubewarden.metadata` custom section.
//!
//! Like `crates/wasm-sandbox/build.rs`, a nested `cargo build` with its own `--target-dir`
//! (`target/kubewarden-policy`), so it never waits on the lock of the build running this script,
//! and with only its own flags. The metadata comes from `crates/kubewarden-policy/metadata.yml`
//! (the file `kwctl annotate` takes), as the JSON Kubewarden reads, with the protocol version the
//! policy answers; the result is `$OUT_DIR/csplease-kubewarden-policy.wasm` for `include_bytes!`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/wasm.rs"]
#[allow(dead_code)]
mod wasm;

#[path = "../wasm-sandbox/build/module.rs"]
#[allow(dead_code)]
mod module;

/// `wasm-opt`'s arguments for the policy, before the project's common ones: optimise for speed,
/// and drop the exports the policy does not answer to: the linker's helpers and the zero-import
/// module's ABI, which `lease-logic` always compiles in (Kubewarden calls only `wapc_init` and
/// `__guest_call`).
const WASM_OPT_ARGS: &[&str] = &["-O3", "--remove-exports=__heap_base,__data_end,abi_version,alloc,dealloc,evaluate"];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..");
    let policy_dir = root.join("crates/kubewarden-policy");
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("kubewarden-policy");

    for path in ["crates/lease-logic/src", "crates/lease-logic/Cargo.toml", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    for path in ["src", "Cargo.toml", "metadata.yml"] {
        println!("cargo:rerun-if-changed={}", policy_dir.join(path).display());
    }
    println!("cargo:rerun-if-changed=src/wasm.rs");

    let raw = build_policy(&root, &target_dir);
    let optimised = out_dir.join("csplease-kubewarden-policy.opt.wasm");
    let raw = optimise(&raw, &optimised);
    let bytes = std::fs::read(&raw).unwrap_or_else(|e| panic!("reading {}: {e}", raw.display()));
    let metadata = metadata_json(&policy_dir.join("metadata.yml"));
    let annotated = wasm::with_custom_section(&bytes, wasm::METADATA_SECTION, metadata.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", raw.display()));
    let out = out_dir.join("csplease-kubewarden-policy.wasm");
    std::fs::write(&out, annotated).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// Runs the nested `cargo build` and returns the path of the policy module.
fn build_policy(root: &Path, target_dir: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["-p", "csplease-kubewarden-policy", "--lib", "--target", "wasm32-unknown-unknown", "--profile", "wasm"])
        .arg("--target-dir")
        .arg(target_dir)
        // The outer build's flags and wrappers are for native code.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_PRIMARY_PACKAGE");
    let status = cmd.status().unwrap_or_else(|e| panic!("running cargo for the Kubewarden policy: {e}"));
    assert!(
        status.success(),
        "building the Kubewarden policy (csplease-kubewarden-policy for wasm32-unknown-unknown) failed ({status}); \
         cargo's errors are above. A missing target is installed by `rustup target add wasm32-unknown-unknown`"
    );
    target_dir.join("wasm32-unknown-unknown/wasm/csplease_kubewarden_policy.wasm")
}

/// Optimises `raw` into `out` with `wasm-opt` (found as the host's build finds it) and returns
/// the module to use: `out`, or `raw` when there is no `wasm-opt` or it failed.
fn optimise(raw: &Path, out: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=CSPLEASE_WASM_OPT");
    println!("cargo:rerun-if-env-changed=CSPLEASE_CACHE");
    let Some(wasm_opt) = module::find_wasm_opt() else {
        if let Some(path) = module::cached_wasm_opt() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        println!(
            "cargo:warning=wasm-opt not found: the Kubewarden policy is unoptimised and exports the lease ABI too"
        );
        return raw.to_path_buf();
    };
    println!("cargo:rerun-if-changed={}", wasm_opt.display());
    let output = Command::new(&wasm_opt)
        .args(WASM_OPT_ARGS)
        .args(module::WASM_OPT_COMMON_ARGS)
        .arg(raw)
        .arg("-o")
        .arg(out)
        .output();
    match output {
        Ok(output) if output.status.success() => out.to_path_buf(),
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr.lines().next().unwrap_or("");
            println!(
                "cargo:warning={} failed ({}): {first}; the policy is unoptimised",
                wasm_opt.display(),
                output.status
            );
            raw.to_path_buf()
        }
        Err(e) => {
            println!("cargo:warning=running {}: {e}; the policy is unoptimised", wasm_opt.display());
            raw.to_path_buf()
        }
    }
}

/// The metadata Kubewarden reads, as JSON: `metadata.yml` with the protocol version the policy
/// answers to `protocol_version` and its policy type.
fn metadata_json(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut metadata: serde_json::Map<String, serde_json::Value> =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: not a YAML mapping: {e}", path.display()));
    metadata.insert("protocolVersion".into(), "v1".into());
    metadata.entry("policyType").or_insert_with(|| "kubernetes".into());
    serde_json::to_string(&metadata).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}
