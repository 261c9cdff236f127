//! The workspace and running cargo in it: shared by every xtask job, depends on no other module.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root (the xtask crate's parent).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Where cargo puts its output (`$CARGO_TARGET_DIR` or `target/`).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()).map_or_else(|| root.join("target"), PathBuf::from)
}

/// Runs `cargo ARGS` in `dir` with extra environment; fails on a non-zero exit.
pub fn cargo<'a>(dir: &Path, args: impl IntoIterator<Item = &'a str>, env: &[(&str, &OsStr)]) -> anyhow::Result<()> {
    let args: Vec<&str> = args.into_iter().collect();
    let mut command = Command::new("cargo");
    command.current_dir(dir).args(&args).envs(env.iter().copied());
    // CI builds once in a fresh clone: incremental state would only cost time and disk there.
    if std::env::var_os("CI").is_some() && std::env::var_os("CARGO_INCREMENTAL").is_none() {
        command.env("CARGO_INCREMENTAL", "0");
    }
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

/// Runs `command`, described as `what` in errors; fails on a non-zero exit.
pub fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The tool cache (`csplease_tool_cache::cache_root`), or an error saying how to name one.
pub fn tool_dir(tool: &str, version: &str) -> anyhow::Result<PathBuf> {
    match csplease_tool_cache::tool_dir(tool, version) {
        Some(dir) => Ok(dir),
        None => bail!("none of CSPLEASE_CACHE, XDG_CACHE_HOME and HOME is set: nowhere to install {tool}"),
    }
}
