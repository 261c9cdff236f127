//! The lease module's tools and checks: the `wasm32-unknown-unknown` target, `wasm-opt` from the
//! pinned `binaryen` npm package, and the module's rules (no imports, the ABI's exports, at most
//! 100 KiB).
//!
//! `cargo xtask test` calls [`ensure_tools`] before anything builds `wasm-sandbox` (whose `build.rs`
//! compiles and optimises the module), then [`check`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

// The build script's own rules and tool locations, so that both agree on them.
#[path = "../../crates/wasm-sandbox/build/module.rs"]
#[allow(dead_code)]
pub(crate) mod module;

/// The Rust target the module is compiled for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// Installs what building the module needs, when it is missing: the Rust target (with
/// `rustup target add`) and `wasm-opt` (the pinned `binaryen` npm package, into
/// `${CSPLEASE_CACHE:-$HOME/.cache/csplease}/binaryen-<version>/`). `$CSPLEASE_WASM_OPT` names a
/// `wasm-opt` to use instead.
pub fn ensure_tools() -> anyhow::Result<()> {
    ensure_target()?;
    ensure_wasm_opt()?;
    Ok(())
}

fn ensure_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running `rustup target list --installed`; is rustup installed?")?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    eprintln!("xtask: installing the Rust target {TARGET}");
    let status = Command::new("rustup").args(["target", "add", TARGET]).status().context("running rustup")?;
    if !status.success() {
        bail!("`rustup target add {TARGET}` failed ({status})");
    }
    Ok(())
}

fn ensure_wasm_opt() -> anyhow::Result<()> {
    if std::env::var_os("CSPLEASE_WASM_OPT").is_some_and(|p| !p.is_empty()) {
        return Ok(());
    }
    let (Some(dir), Some(wasm_opt)) = (module::binaryen_dir(), module::cached_wasm_opt()) else {
        bail!("neither CSPLEASE_CACHE nor HOME is set: nowhere to install binaryen");
    };
    if wasm_opt.is_file() {
        return Ok(());
    }
    let package = format!("binaryen@{}", module::BINARYEN_VERSION);
    eprintln!("xtask: installing {package} into {}", dir.display());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--no-save", "--prefix"])
        .arg(&dir)
        .arg(&package)
        .status()
        .context("running npm (Node.js and npm are needed for wasm-opt); is it installed?")?;
    if !status.success() {
        bail!("`npm install {package}` failed ({status})");
    }
    if !wasm_opt.is_file() {
        bail!("{package} is installed but {} is missing", wasm_opt.display());
    }
    Ok(())
}

/// The `wasm-opt` the module's build uses, if any.
pub fn wasm_opt() -> Option<PathBuf> {
    module::find_wasm_opt()
}

/// Checks a module file against the project's rules: it imports nothing, exports `memory`,
/// `abi_version`, `alloc`, `dealloc` and `evaluate`, and is at most 100 KiB.
pub fn check_module(path: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match module::check(&bytes) {
        Ok(()) => Ok(()),
        Err(problems) => bail!("{}: {}", path.display(), problems.join("; ")),
    }
}

/// Writes the module that `csplease-wasm` embeds to `target/csplease-lease.wasm` (building the
/// host if needed) and returns its path.
pub fn write_module(workspace: &Path) -> anyhow::Result<PathBuf> {
    let out = workspace.join("target").join("csplease-lease.wasm");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["run", "--quiet", "-p", "csplease-wasm", "--bin", "csplease-wasm", "--", "module", "-o"])
        .arg(&out)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("`csplease-wasm module -o {}` failed ({status})", out.display());
    }
    Ok(out)
}

/// The whole check for CI: tools in place, the embedded module written out and checked.
/// Prints the module's size against its limit.
pub fn check(workspace: &Path) -> anyhow::Result<()> {
    ensure_tools()?;
    let path = write_module(workspace)?;
    check_module(&path)?;
    let size = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.len();
    eprintln!(
        "xtask: lease module {}: {size} bytes (limit {}), no imports, ABI exports present",
        path.display(),
        module::MAX_MODULE_SIZE
    );
    Ok(())
}
