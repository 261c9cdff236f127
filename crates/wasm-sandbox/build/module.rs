//! How the project's WebAssembly modules are built and checked, shared by the build scripts of
//! `wasm-sandbox` (the lease module) and `csplease-kubewarden-harness` (the Kubewarden policy)
//! and by `cargo xtask` (all include this file with `#[path]`; it uses `std` and
//! `csplease-tool-cache` only).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `binaryen` npm package whose `wasm-opt` optimises the module.
pub const BINARYEN_VERSION: &str = "132.0.0";

/// The module's stack (at the bottom of linear memory, so an overflow traps instead of
/// corrupting data). Requests nest at most 128 levels; 256 KiB is many times what that needs.
pub const STACK_SIZE: u64 = 256 * 1024;

/// The module's initial linear memory: the stack, the static data, and about 1.7 MiB of heap,
/// enough that no decision of an ordinary size ever runs `memory.grow` (a 1 MB request does
/// not). Kept small because a fresh instance's reset scans all of it for dirty pages.
pub const INITIAL_MEMORY: u64 = 2 * 1024 * 1024;

/// The most the optimised module may weigh.
pub const MAX_MODULE_SIZE: usize = 100 * 1024;

/// The exports of the module's ABI, with their kind.
pub const REQUIRED_EXPORTS: [(&str, ExportKind); 5] = [
    ("memory", ExportKind::Memory),
    ("abi_version", ExportKind::Func),
    ("alloc", ExportKind::Func),
    ("dealloc", ExportKind::Func),
    ("evaluate", ExportKind::Func),
];

/// `wasm-opt`'s arguments for any of the project's modules: the features rustc's default
/// `wasm32-unknown-unknown` code uses, and no debug, producer or target-feature sections.
pub const WASM_OPT_COMMON_ARGS: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-bulk-memory-opt",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-multivalue",
    "--strip-debug",
    "--strip-producers",
    "--strip-target-features",
];

/// `wasm-opt`'s arguments for the host's module, before [`WASM_OPT_COMMON_ARGS`]: optimise for
/// speed (`-O3` is as small as `-Oz` here and about a fifth faster) and drop the linker's helper
/// exports.
pub const WASM_OPT_ARGS: &[&str] = &["-O3", "--remove-exports=__heap_base,__data_end"];

/// Where `cargo xtask` installs the pinned `binaryen` package: `binaryen-<version>` in the tool
/// cache (`csplease_tool_cache`; both includers of this file depend on it).
pub fn binaryen_dir() -> Option<PathBuf> {
    csplease_tool_cache::tool_dir("binaryen", BINARYEN_VERSION)
}

/// The `wasm-opt` inside [`binaryen_dir`].
pub fn cached_wasm_opt() -> Option<PathBuf> {
    binaryen_dir().map(|dir| dir.join("node_modules").join(".bin").join("wasm-opt"))
}

/// Finds `wasm-opt`: `$CSPLEASE_WASM_OPT`, else the pinned one in the tool cache, else `PATH`.
pub fn find_wasm_opt() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CSPLEASE_WASM_OPT").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    if let Some(path) = cached_wasm_opt().filter(|p| p.is_file()) {
        return Some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("wasm-opt")).find(|p| p.is_file())
}

/// The kind of an export, as the binary format numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// A function.
    Func,
    /// A table.
    Table,
    /// A linear memory.
    Memory,
    /// A global.
    Global,
    /// Anything else (a tag).
    Other,
}

/// What a module imports and exports, read from its binary without a WebAssembly library.
#[derive(Debug, Default)]
pub struct Facts {
    /// Every import as `module.name`.
    pub imports: Vec<String>,
    /// Every export with its kind.
    pub exports: Vec<(String, ExportKind)>,
}

/// Reads the import and export sections of a module binary.
pub fn facts(wasm: &[u8]) -> Result<Facts, String> {
    let mut r = Reader { bytes: wasm, at: 0 };
    if r.take(4)? != b"\0asm" {
        return Err("not a WebAssembly binary (no \\0asm magic)".into());
    }
    if r.take(4)? != [1, 0, 0, 0] {
        return Err("not a core WebAssembly module (version is not 1)".into());
    }
    let mut facts = Facts::default();
    while r.at < wasm.len() {
        let id = r.byte()?;
        let size = r.uleb()? as usize;
        let body = r.take(size)?;
        let mut s = Reader { bytes: body, at: 0 };
        match id {
            2 => {
                for _ in 0..s.uleb()? {
                    let module = s.name()?;
                    let name = s.name()?;
                    facts.imports.push(format!("{module}.{name}"));
                    match s.byte()? {
                        0 => drop(s.uleb()?),
                        1 => {
                            s.byte()?;
                            s.limits()?;
                        }
                        2 => s.limits()?,
                        3 => drop(s.take(2)?),
                        _ => break, // an import kind this reader does not know: the count is enough
                    }
                }
            }
            7 => {
                for _ in 0..s.uleb()? {
                    let name = s.name()?;
                    let kind = match s.byte()? {
                        0 => ExportKind::Func,
                        1 => ExportKind::Table,
                        2 => ExportKind::Memory,
                        3 => ExportKind::Global,
                        _ => ExportKind::Other,
                    };
                    s.uleb()?;
                    facts.exports.push((name, kind));
                }
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// Checks the module against the project's rules: no imports, every ABI export, at most
/// [`MAX_MODULE_SIZE`] bytes. Returns every broken rule.
pub fn check(wasm: &[u8]) -> Result<(), Vec<String>> {
    let facts = facts(wasm).map_err(|e| vec![e])?;
    let mut problems = Vec::new();
    if !facts.imports.is_empty() {
        problems.push(format!("the module imports {}; it must import nothing", facts.imports.join(", ")));
    }
    for (name, kind) in REQUIRED_EXPORTS {
        if !facts.exports.iter().any(|(n, k)| n == name && *k == kind) {
            problems.push(format!("the module does not export {kind:?} `{name}`"));
        }
    }
    if wasm.len() > MAX_MODULE_SIZE {
        problems.push(format!("the module is {} bytes, over the limit of {MAX_MODULE_SIZE}", wasm.len()));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated module: {n} bytes wanted at offset {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn uleb(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("malformed LEB128 number".into())
    }

    fn name(&mut self) -> Result<String, String> {
        let len = self.uleb()? as usize;
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn limits(&mut self) -> Result<(), String> {
        let flags = self.byte()?;
        self.uleb()?;
        if flags & 1 != 0 {
            self.uleb()?;
        }
        Ok(())
    }
}

/// A nested `cargo build` of `package`'s library for `wasm32-unknown-unknown` with the `wasm`
/// profile, as wasmtime's `test-programs/artifacts/build.rs` does: in its own `target_dir`, so
/// it never waits on the lock of the build running the build script, and with `rustflags` only
/// (the outer build's flags and wrappers are for native code). Returns the module's path;
/// panics, naming `what`, when cargo fails.
pub fn nested_build(root: &Path, package: &str, target_dir: &Path, rustflags: &[String], what: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["-p", package, "--lib", "--target", "wasm32-unknown-unknown", "--profile", "wasm"])
        .arg("--target-dir")
        .arg(target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\u{1f}"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_PRIMARY_PACKAGE")
        .status()
        .unwrap_or_else(|e| panic!("running cargo for {what}: {e}"));
    assert!(
        status.success(),
        "building {what} ({package} for wasm32-unknown-unknown) failed ({status}); cargo's errors are above. A \
         missing target is installed by `rustup target add wasm32-unknown-unknown` (`cargo xtask test` does it)"
    );
    target_dir.join("wasm32-unknown-unknown/wasm").join(format!("{}.wasm", package.replace('-', "_")))
}

/// Optimises `raw` into `out` with `wasm-opt` ([`find_wasm_opt`]): `args`, then
/// [`WASM_OPT_COMMON_ARGS`]. Prints the `cargo:rerun-if-changed` line a build script needs for
/// it; `Err` says why `out` was not written (no `wasm-opt`, or it failed), for the caller's
/// warning.
pub fn optimise(raw: &Path, out: &Path, args: &[&str]) -> Result<(), String> {
    let Some(wasm_opt) = find_wasm_opt() else {
        if let Some(path) = cached_wasm_opt() {
            // Missing, so cargo runs the build script again once it is installed.
            println!("cargo:rerun-if-changed={}", path.display());
        }
        return Err(format!(
            "wasm-opt not found (set CSPLEASE_WASM_OPT, or run `cargo xtask test` to install binaryen {BINARYEN_VERSION})"
        ));
    };
    println!("cargo:rerun-if-changed={}", wasm_opt.display());
    match Command::new(&wasm_opt).args(args).args(WASM_OPT_COMMON_ARGS).arg(raw).arg("-o").arg(out).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(format!("{} failed ({}): {}", wasm_opt.display(), output.status, stderr.lines().next().unwrap_or("")))
        }
        Err(e) => Err(format!("running {}: {e}", wasm_opt.display())),
    }
}
