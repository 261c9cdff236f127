//! Builds the Kubewarden policy (`csplease-kubewarden-policy` for `wasm32-unknown-unknown`) and
//! writes its `io.kubewarden.metadata` custom section.
//!
//! Like `crates/wasm-sandbox/build.rs`, a nested `cargo build` (`module::nested_build`) with its
//! own `--target-dir` (`target/kubewarden-policy`) and no flags of the outer build. The metadata comes from `crates/kubewarden-policy/metadata.yml`
//! (the file `kwctl annotate` takes), as the JSON Kubewarden reads, with the protocol version the
//! policy answers; the result is `$OUT_DIR/csplease-kubewarden-policy.wasm` for `include_bytes!`.

use std::path::{Path, PathBuf};

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
    println!("cargo:rerun-if-changed=../wasm-sandbox/build/module.rs");
    for var in ["CSPLEASE_WASM_OPT"].into_iter().chain(csplease_tool_cache::ENV_VARS) {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let raw = module::nested_build(&root, "csplease-kubewarden-policy", &target_dir, &[], "the Kubewarden policy");
    let optimised = out_dir.join("csplease-kubewarden-policy.opt.wasm");
    let raw = match module::optimise(&raw, &optimised, WASM_OPT_ARGS) {
        Ok(()) => optimised,
        Err(why) => {
            println!("cargo:warning={why}: the Kubewarden policy is unoptimised and exports the lease ABI too");
            raw
        }
    };
    let bytes = std::fs::read(&raw).unwrap_or_else(|e| panic!("reading {}: {e}", raw.display()));
    let metadata = metadata_json(&policy_dir.join("metadata.yml"));
    let annotated = wasm::with_custom_section(&bytes, wasm::METADATA_SECTION, metadata.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", raw.display()));
    let out = out_dir.join("csplease-kubewarden-policy.wasm");
    std::fs::write(&out, annotated).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
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
