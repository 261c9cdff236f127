//! The browser lease inspector: `lease-logic` built a second way, through `wasm-bindgen`, into
//! `web/pkg/`.
//!
//! [`build`] compiles `lease-logic` with its `bindgen` feature for `wasm32-unknown-unknown` (in
//! its own target directory, `target/web-build`, so it never waits on another build's lock),
//! generates the JavaScript bindings with the `wasm-bindgen` CLI, optimises the module with
//! `wasm-opt`, and bundles the page's script and style sheet with `esbuild` (`web/build.mjs`).
//! What the page serves:
//!
//! | file | what |
//! |---|---|
//! | `web/index.html` | the page (committed) |
//! | `web/pkg/inspector.js` | `web/src/*.js`, the bindings and js-yaml's loader, minified |
//! | `web/pkg/inspector.css` | `web/src/inspector.css`, minified |
//! | `web/pkg/csplease_bg.wasm` | the module |
//!
//! [`ensure_tools`] installs what that needs when it is missing: the Rust target and `wasm-opt`
//! (shared with the host module, see [`crate::wasm`]), `wasm-bindgen-cli` at exactly the version
//! `lease-logic` links (into the tool cache's `wasm-bindgen-<version>/`, see `csplease-tool-cache`),
//! and the page's npm packages (`web/package-lock.json`, into `web/node_modules/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::wasm;
use crate::workspace::{self, run};

/// The `wasm-bindgen` version: the CLI must be exactly the crate's (`lease-logic`'s Cargo.toml
/// pins `=0.2.130`; [`ensure_tools`] checks `Cargo.lock` agrees).
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// The page's module may be at most this large, uncompressed.
pub const MAX_MODULE_SIZE: u64 = 120 * 1024;
/// Everything else the page loads may be at most this large together, uncompressed.
pub const MAX_OTHER_SIZE: u64 = 60 * 1024;
/// The files the page serves besides the module, relative to `web/`.
pub const PAGE_FILES: [&str; 3] = ["index.html", "pkg/inspector.js", "pkg/inspector.css"];
/// The module, relative to `web/`.
pub const MODULE_FILE: &str = "pkg/csplease_bg.wasm";

/// `wasm-opt`'s arguments for the page's module, before the common ones: smallest code.
const WASM_OPT_ARGS: &[&str] = &["-Oz"];

/// Installs what [`build`] needs, each only when missing.
pub fn ensure_tools() -> anyhow::Result<()> {
    wasm::ensure_tools()?;
    check_crate_version(&workspace::root())?;
    ensure_wasm_bindgen()?;
    ensure_npm_packages(&workspace::root().join("web"))
}

/// Builds the page's assets into `web/pkg/` (after [`ensure_tools`]) and returns that directory.
/// Fails when an asset is over its budget.
pub fn build(root: &Path) -> anyhow::Result<PathBuf> {
    ensure_tools()?;
    let web = root.join("web");
    let pkg = web.join("pkg");
    let target_dir = root.join("target").join("web-build");
    std::fs::create_dir_all(&pkg).with_context(|| format!("creating {}", pkg.display()))?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut compile = Command::new(cargo);
    compile.current_dir(root).args([
        "build",
        "--quiet",
        "-p",
        "lease-logic",
        "--features",
        "bindgen",
        "--target",
        wasm::TARGET,
        "--profile",
        "wasm",
        "--target-dir",
    ]);
    compile.arg(&target_dir);
    if std::env::var_os("CARGO_BUILD_JOBS").is_none() {
        compile.args(["-j", "2"]);
    }
    run(&mut compile, "cargo build -p lease-logic --features bindgen")?;
    let raw = target_dir.join(wasm::TARGET).join("wasm").join("lease_logic.wasm");

    let bindings = target_dir.join("bindgen");
    run(
        Command::new(wasm_bindgen_path()?)
            .args(["--target", "web", "--no-typescript", "--out-name", "csplease", "--out-dir"])
            .arg(&bindings)
            .arg(&raw),
        "wasm-bindgen",
    )?;
    copy(&bindings.join("csplease.js"), &pkg.join("csplease.js"))?;
    let module = web.join(MODULE_FILE);
    match wasm::wasm_opt() {
        Some(wasm_opt) => run(
            Command::new(wasm_opt)
                .args(WASM_OPT_ARGS)
                .args(wasm::module::WASM_OPT_COMMON_ARGS)
                .arg(bindings.join("csplease_bg.wasm"))
                .arg("-o")
                .arg(&module),
            "wasm-opt",
        )?,
        None => bail!("wasm-opt not found (ensure_tools installs it; or set CSPLEASE_WASM_OPT)"),
    }

    run(
        Command::new("node").current_dir(&web).arg("build.mjs"),
        "node web/build.mjs (esbuild: the page's script and style sheet)",
    )?;
    check_budgets(&web)?;
    Ok(pkg)
}

/// The page's sizes, uncompressed: the module, and everything else together.
pub fn sizes(web: &Path) -> anyhow::Result<(u64, u64)> {
    let size = |f: &str| {
        let path = web.join(f);
        std::fs::metadata(&path).map(|m| m.len()).with_context(|| format!("reading {}", path.display()))
    };
    let module = size(MODULE_FILE)?;
    let mut other = 0;
    for file in PAGE_FILES {
        other += size(file)?;
    }
    Ok((module, other))
}

/// Prints the page's sizes against their budgets and fails when one is over.
pub fn check_budgets(web: &Path) -> anyhow::Result<()> {
    let (module, other) = sizes(web)?;
    eprintln!(
        "xtask: inspector module {module} bytes (budget {MAX_MODULE_SIZE}), page {other} bytes (budget {MAX_OTHER_SIZE})"
    );
    if module > MAX_MODULE_SIZE {
        bail!("{}: {module} bytes, over the budget of {MAX_MODULE_SIZE}", web.join(MODULE_FILE).display());
    }
    if other > MAX_OTHER_SIZE {
        bail!("{}: {other} bytes together, over the budget of {MAX_OTHER_SIZE}", PAGE_FILES.join(", "));
    }
    Ok(())
}

/// `lease-logic` must link exactly the `wasm-bindgen` the CLI is: the bindings' schema changes
/// between releases and the CLI refuses a mismatched module.
fn check_crate_version(root: &Path) -> anyhow::Result<()> {
    let lock_path = root.join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path).with_context(|| format!("reading {}", lock_path.display()))?;
    let locked = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"wasm-bindgen\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"')));
    match locked {
        Some(v) if v == WASM_BINDGEN_VERSION => Ok(()),
        Some(v) => bail!(
            "Cargo.lock has wasm-bindgen {v} but xtask installs wasm-bindgen-cli {WASM_BINDGEN_VERSION}: \
             they must be equal (update WASM_BINDGEN_VERSION in xtask/src/web.rs with the crate)"
        ),
        None => bail!("Cargo.lock has no wasm-bindgen package (is lease-logic's bindgen feature gone?)"),
    }
}

/// The tool cache's `wasm-bindgen-<version>/`.
fn wasm_bindgen_root() -> anyhow::Result<PathBuf> {
    workspace::tool_dir("wasm-bindgen", WASM_BINDGEN_VERSION)
}

/// The cached `wasm-bindgen` binary.
pub fn wasm_bindgen_path() -> anyhow::Result<PathBuf> {
    Ok(wasm_bindgen_root()?.join("bin").join("wasm-bindgen"))
}

fn ensure_wasm_bindgen() -> anyhow::Result<()> {
    let bin = wasm_bindgen_path()?;
    let version = Command::new(&bin).arg("--version").output();
    if version
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == format!("wasm-bindgen {WASM_BINDGEN_VERSION}"))
    {
        return Ok(());
    }
    let root = wasm_bindgen_root()?;
    eprintln!("xtask: installing wasm-bindgen-cli {WASM_BINDGEN_VERSION} into {} (a few minutes)", root.display());
    // Not `--locked`: the CLI's published lock file names dependency releases the registry no
    // longer serves (webpki-roots 1.0.11 was yanked), so a locked install fails. The CLI's own
    // version is pinned either way, and it must equal the crate's (checked above).
    let mut command = Command::new("cargo");
    command.args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION, "--bin", "wasm-bindgen"]);
    if std::env::var_os("CARGO_BUILD_JOBS").is_none() {
        command.args(["-j", "2"]);
    }
    // The CLI gets its own target directory: a workspace's would make cargo install share it.
    command.env_remove("CARGO_TARGET_DIR").arg("--root").arg(&root);
    // xtask runs the binary by its path; with its directory on PATH cargo does not warn that it
    // is missing there.
    let bin_dir = root.join("bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Ok(path) = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&path))) {
        command.env("PATH", path);
    }
    run(&mut command, &format!("cargo install wasm-bindgen-cli --version {WASM_BINDGEN_VERSION}"))
}

/// `npm ci` in `web/` when `web/node_modules` is missing or older than `web/package-lock.json`.
fn ensure_npm_packages(web: &Path) -> anyhow::Result<()> {
    let stamp = web.join("node_modules").join(".package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(installed), Some(wanted)) = (modified(&stamp), modified(&web.join("package-lock.json")))
        && installed >= wanted
        && web.join("node_modules").join(".bin").join("esbuild").is_file()
    {
        return Ok(());
    }
    eprintln!("xtask: installing the page's npm packages (web/package-lock.json)");
    run(
        Command::new("npm").current_dir(web).args(["ci", "--no-audit", "--no-fund"]),
        "npm ci (Node.js and npm are needed to build the inspector)",
    )
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}
