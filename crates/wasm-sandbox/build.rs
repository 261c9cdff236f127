//! Builds the lease module that the host embeds.
//!
//! A nested `cargo build` of `lease-logic` for `wasm32-unknown-unknown` (`module::nested_build`)
//! in its own `--target-dir` (`target/wasm-module`), with only the module's own flags (its stack
//! and initial memory) reaching the linker: native builds are untouched. The module is then optimised with `wasm-opt` when one is found
//! (`$CSPLEASE_WASM_OPT`, the pinned binaryen in the tool cache that `cargo xtask` installs, or
//! `PATH`), checked to import nothing and to export the ABI, and written to
//! `$OUT_DIR/lease_logic.wasm` for `include_bytes!`.

use std::path::{Path, PathBuf};

#[path = "build/module.rs"]
#[allow(dead_code)]
mod module;

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.join("../..");
    let out_dir = PathBuf::from(env("OUT_DIR"));
    let target_dir = match std::env::var_os("CSPLEASE_WASM_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("wasm-module"),
    };

    for path in ["crates/lease-logic/src", "crates/lease-logic/Cargo.toml", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-changed=build/module.rs");
    for var in ["CSPLEASE_WASM_OPT", "CSPLEASE_WASM_TARGET_DIR"].into_iter().chain(csplease_tool_cache::ENV_VARS) {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let flags = [
        format!("-Clink-arg=--initial-memory={}", module::INITIAL_MEMORY),
        format!("-Clink-arg=-zstack-size={}", module::STACK_SIZE),
    ];
    let raw = module::nested_build(&root, "lease-logic", &target_dir, &flags, "the lease module");
    let wasm = out_dir.join("lease_logic.wasm");
    if let Err(why) = module::optimise(&raw, &wasm, module::WASM_OPT_ARGS) {
        println!("cargo:warning={why}: embedding the unoptimised lease module");
        copy(&raw, &wasm);
    }

    let bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
    let facts = module::facts(&bytes).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
    assert!(
        facts.imports.is_empty(),
        "the lease module must import nothing, but it imports {}",
        facts.imports.join(", ")
    );
    for (name, kind) in module::REQUIRED_EXPORTS {
        assert!(
            facts.exports.iter().any(|(n, k)| n == name && *k == kind),
            "the lease module does not export {kind:?} `{name}`"
        );
    }
    if bytes.len() > module::MAX_MODULE_SIZE {
        println!(
            "cargo:warning=the lease module is {} bytes, over the {} byte limit that `cargo xtask test` enforces",
            bytes.len(),
            module::MAX_MODULE_SIZE
        );
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}
