//! Where csplease keeps what it builds or installs once, and reuses afterwards: the control plane's
//! binaries, `wasm-opt`, `wasm-bindgen`, wasmtime's compiled modules.
//!
//! [`cache_root`] is the one function that names that directory:
//!
//! 1. `$CSPLEASE_CACHE`, when set and not empty;
//! 2. else `$XDG_CACHE_HOME/csplease`, when `XDG_CACHE_HOME` is an absolute path (the XDG Base
//!    Directory specification says to ignore a relative one);
//! 3. else `$HOME/.cache/csplease`.
//!
//! Each tool lives in a version-keyed directory below it ([`tool_dir`]), so a new version is
//! installed beside the old one and an existing one is never rebuilt:
//!
//! ```
//! # let _ = || -> Option<()> {
//! let wasm_bindgen = csplease_tool_cache::tool_dir("wasm-bindgen", "0.2.130")?;
//! assert!(wasm_bindgen.ends_with("wasm-bindgen-0.2.130"));
//! # Some(()) };
//! ```
//!
//! This crate has no dependencies, so build scripts (`crates/wasm-sandbox/build.rs`), libraries
//! and `cargo xtask` can all use it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The variable that names the cache directory, overriding everything else.
pub const ENV_CACHE: &str = "CSPLEASE_CACHE";

/// The variables [`cache_root`] reads, in order; a build script that uses it should declare each
/// with `cargo:rerun-if-env-changed`.
pub const ENV_VARS: [&str; 3] = [ENV_CACHE, "XDG_CACHE_HOME", "HOME"];

/// The cache directory (see the crate documentation), or `None` when none of `CSPLEASE_CACHE`,
/// `XDG_CACHE_HOME` and `HOME` is usable. The directory may not exist yet.
pub fn cache_root() -> Option<PathBuf> {
    cache_root_from(|name| std::env::var_os(name))
}

/// `<cache_root>/<tool>-<version>`: where one version of one tool is kept.
pub fn tool_dir(tool: &str, version: &str) -> Option<PathBuf> {
    cache_root().map(|root| root.join(format!("{tool}-{version}")))
}

/// [`cache_root`] with the environment given as a function (for tests).
fn cache_root_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(ENV_CACHE) {
        return Some(dir);
    }
    if let Some(xdg) = set("XDG_CACHE_HOME").filter(|d| d.is_absolute()) {
        return Some(xdg.join("csplease"));
    }
    set("HOME").map(|home| Path::new(&home).join(".cache").join("csplease"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(vars: &[(&str, &str)]) -> Option<PathBuf> {
        cache_root_from(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| OsString::from(v)))
    }

    #[test]
    fn csplease_cache_wins() {
        let vars = [("CSPLEASE_CACHE", "/c"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(root(&vars), Some(PathBuf::from("/c")));
    }

    #[test]
    fn then_xdg_cache_home() {
        let vars = [("CSPLEASE_CACHE", ""), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(root(&vars), Some(PathBuf::from("/x/csplease")));
    }

    #[test]
    fn then_home_and_a_relative_xdg_cache_home_is_ignored() {
        assert_eq!(root(&[("HOME", "/root")]), Some(PathBuf::from("/root/.cache/csplease")));
        let vars = [("XDG_CACHE_HOME", "relative"), ("HOME", "/root")];
        assert_eq!(root(&vars), Some(PathBuf::from("/root/.cache/csplease")));
    }

    #[test]
    fn nothing_set_is_none() {
        assert_eq!(root(&[]), None);
        assert_eq!(root(&[("HOME", "")]), None);
    }
}
