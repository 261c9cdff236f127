//! Builds the lease module that the host embeds.
//!
//! Like wasmtime's `test-programs/artifacts/build.rs`, this runs a nested `cargo build` of
//! `lease-logic` for `wasm32-unknown-unknown` with the `wasm` profile. The nested build has its
//! own `--target-dir` (`target/wasm-module`), so it never waits on the lock of the build that runs
//! this script, and only its own flags (the module's stack and initial memory) reach the linker: native
//! builds are untouched. The module is then optimised with `wasm-opt` when one is found
//! (`$CSPLEASE_WASM_OPT`, the pinned binaryen in the tool cache that `cargo xtask` installs, or
//! `PATH`), checked to import nothing and to export the ABI, and written to
//! `$OUT_DIR/lease_logic.wasm` for `include_bytes!`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../build_version.rs"]
mod build_version;

#[path = "build/module.rs"]
#[allow(dead_code)]
mod module;

fn main() {
    // The version `--version` prints (`CSPLEASE_VERSION`: version, git commit, target).
    build_version::emit();
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
    for var in ["CSPLEASE_WASM_OPT", "CSPLEASE_CACHE", "CSPLEASE_WASM_TARGET_DIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let raw = build_module(&root, &target_dir);
    let wasm = out_dir.join("lease_logic.wasm");
    optimise(&raw, &wasm);

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

/// Runs the nested `cargo build` and returns the path of the raw module.
fn build_module(root: &Path, target_dir: &Path) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let flags = [
        format!("-Clink-arg=--initial-memory={}", module::INITIAL_MEMORY),
        format!("-Clink-arg=-zstack-size={}", module::STACK_SIZE),
    ]
    .join("\u{1f}");
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["-p", "lease-logic", "--lib", "--target", "wasm32-unknown-unknown", "--profile", "wasm"])
        .arg("--target-dir")
        .arg(target_dir)
        // The outer build's flags and wrappers are for native code; the module gets only its own.
        .env("CARGO_ENCODED_RUSTFLAGS", flags)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_PRIMARY_PACKAGE");
    let status = cmd.status().unwrap_or_else(|e| panic!("running cargo for the lease module: {e}"));
    assert!(
        status.success(),
        "building the lease module (lease-logic for wasm32-unknown-unknown) failed ({status}); cargo's errors are \
         above. A missing target is installed by `rustup target add wasm32-unknown-unknown` (`cargo xtask test` does it)"
    );
    target_dir.join("wasm32-unknown-unknown/wasm/lease_logic.wasm")
}

/// Optimises `raw` into `out` with `wasm-opt`, or copies it when there is no `wasm-opt`.
fn optimise(raw: &Path, out: &Path) {
    let Some(wasm_opt) = module::find_wasm_opt() else {
        if let Some(path) = module::cached_wasm_opt() {
            // Missing, so cargo runs this script again until it is installed.
            println!("cargo:rerun-if-changed={}", path.display());
        }
        println!(
            "cargo:warning=wasm-opt not found (set CSPLEASE_WASM_OPT, or run `cargo xtask test` to install binaryen {}): embedding the unoptimised lease module",
            module::BINARYEN_VERSION
        );
        copy(raw, out);
        return;
    };
    println!("cargo:rerun-if-changed={}", wasm_opt.display());
    let output = Command::new(&wasm_opt)
        .args(module::WASM_OPT_ARGS)
        .args(module::WASM_OPT_COMMON_ARGS)
        .arg(raw)
        .arg("-o")
        .arg(out)
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr.lines().next().unwrap_or("");
            println!(
                "cargo:warning={} failed ({}): {first}; embedding the unoptimised lease module",
                wasm_opt.display(),
                output.status
            );
            copy(raw, out);
        }
        Err(e) => {
            println!("cargo:warning=running {}: {e}; embedding the unoptimised lease module", wasm_opt.display());
            copy(raw, out);
        }
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name} for build scripts"))
}
