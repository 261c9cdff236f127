//! A throwaway local Kubernetes control plane: real etcd and kube-apiserver, for csplease's live
//! tests, `cargo xtask demo` and `cargo xtask cluster up|down`.
//!
//! - [`build`]: compiles both binaries from the Go module proxy (the wrapper modules in
//!   `crates/local-cluster/go/` pin every dependency) into a version-keyed directory of the tool
//!   cache, `<cache>/control-plane-<k8s>-etcd-<etcd>/` ([`Binaries`]; the cache is
//!   [`csplease_tool_cache::cache_root`]).
//! - [`pki`]: a throwaway CA and every certificate and key, made with `openssl`.
//! - [`ControlPlane`]: starts both servers with TLS and RBAC on free loopback ports, writes an
//!   admin and a restricted kubeconfig, installs `deploy/crds/` and `deploy/rbac.yaml`, and stops
//!   them again; [`ControlPlane::stop`] returns only once both processes have exited.
//!
//! ```no_run
//! use csplease_local_cluster::{Binaries, ControlPlane, Lifetime};
//!
//! # fn main() -> Result<(), csplease_local_cluster::ClusterError> {
//! let binaries = Binaries::locate()?; // or `csplease_local_cluster::build(&Binaries::expected()?)`
//! let dir = std::env::temp_dir().join("my-cluster");
//! let mut cp = ControlPlane::start(&binaries, &dir, Lifetime::TiedToThisProcess, &mut |line| eprintln!("{line}"))?;
//! let out = csplease_local_cluster::kubectl(cp.admin_kubeconfig()).args(["get", "csp"]).output();
//! cp.stop()?;
//! # let _ = out; Ok(()) }
//! ```
//!
//! Needs on `PATH`: `go` 1.26 or later (only to build), `openssl` and `kubectl`.

mod build;
mod control_plane;
pub mod pki;

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};

pub use build::{ENV_JOBS, build};
pub use control_plane::{ControlPlane, Lifetime, SERVICE_ACCOUNT_ISSUER, create_namespace, process_is_alive};

/// How long a first build takes, as measured (see this crate's README).
pub const FIRST_BUILD_ESTIMATE: &str = "7-10 minutes on 2 cores, 1.8 GiB of memory and 3.3 GB of Go caches";

/// What can go wrong while building, finding, starting or stopping the control plane.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A control-plane binary is not in the cache.
    #[error(
        "control-plane binary {} is not built; run `cargo xtask cluster build` first \
         (the first build takes {FIRST_BUILD_ESTIMATE})",
        missing.display()
    )]
    NotBuilt {
        /// The missing binary.
        missing: PathBuf,
    },
    /// None of `CSPLEASE_CACHE`, `XDG_CACHE_HOME` and `HOME` is set.
    #[error("no tool cache: set CSPLEASE_CACHE (or XDG_CACHE_HOME or HOME)")]
    NoCache,
    /// A file or directory operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A program could not be started at all.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The program and its arguments.
        command: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A program ran and failed.
    #[error("`{command}` failed ({status}): {}", output.trim_end())]
    CommandFailed {
        /// The program and its arguments.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// What it printed on stderr (and stdout).
        output: String,
    },
    /// A file had unexpected contents.
    #[error("{}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The build cannot run as configured (Go too old, a bad setting).
    #[error("{0}")]
    Build(String),
    /// A server process ended, or did not become ready or stop in time.
    #[error("{reason}{}", tail(log_tail))]
    Startup {
        /// What happened.
        reason: String,
        /// The end of the server's log.
        log_tail: String,
    },
    /// A path is not valid UTF-8 (kubeconfigs need UTF-8 paths).
    #[error("path is not UTF-8: {}", .0.display())]
    NonUtf8Path(PathBuf),
}

fn tail(log_tail: &str) -> String {
    if log_tail.is_empty() { String::new() } else { format!("\n--- end of log ---\n{log_tail}") }
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> ClusterError {
    ClusterError::Io { path: path.to_path_buf(), source }
}

/// Renders a command for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion, capturing its output; fails unless it exits 0.
pub fn run_quiet(cmd: &mut Command) -> Result<Output, ClusterError> {
    let out = cmd.output().map_err(|source| ClusterError::Spawn { command: describe(cmd), source })?;
    if out.status.success() {
        Ok(out)
    } else {
        let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stdout));
        Err(ClusterError::CommandFailed { command: describe(cmd), status: out.status, output })
    }
}

/// The workspace root (two levels above this crate's directory).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

/// The directory of the Go wrapper modules, `crates/local-cluster/go/`.
pub fn go_modules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

/// The manifests installed into every cluster: `deploy/crds/` and `deploy/rbac.yaml`.
pub fn deploy_dir() -> PathBuf {
    workspace_root().join("deploy")
}

/// The versions of the two binaries, as pinned by the Go wrapper modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// The `k8s.io/kubernetes` release, e.g. `v1.36.3`.
    pub kubernetes: String,
    /// The `go.etcd.io/etcd/server/v3` release, e.g. `v3.6.16`.
    pub etcd: String,
}

impl Versions {
    /// Reads the versions from `crates/local-cluster/go/{kube-apiserver,etcd}/go.mod`.
    pub fn from_go_mods() -> Result<Self, ClusterError> {
        let dir = go_modules_dir();
        Ok(Self {
            kubernetes: required_version(&dir.join("kube-apiserver/go.mod"), "k8s.io/kubernetes")?,
            etcd: required_version(&dir.join("etcd/go.mod"), "go.etcd.io/etcd/server/v3")?,
        })
    }
}

/// Finds `<module> vX.Y.Z` in a go.mod's require lines.
fn required_version(go_mod: &Path, module: &str) -> Result<String, ClusterError> {
    let text = std::fs::read_to_string(go_mod).map_err(|e| io_error(go_mod, e))?;
    text.lines()
        .map(|line| line.trim().trim_start_matches("require").trim())
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(module)).then(|| words.next()).flatten()
        })
        .map(str::to_owned)
        .ok_or_else(|| ClusterError::Parse {
            path: go_mod.to_path_buf(),
            reason: format!("no `require {module} <version>` line"),
        })
}

/// Where the two binaries of one version pair live.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The versions they were built from.
    pub versions: Versions,
    /// The cache directory, `<cache>/control-plane-<k8s>-etcd-<etcd>`.
    pub dir: PathBuf,
    /// The `kube-apiserver` binary.
    pub kube_apiserver: PathBuf,
    /// The `etcd` binary.
    pub etcd: PathBuf,
}

impl Binaries {
    /// Where the binaries for the pinned versions belong, whether or not they exist.
    pub fn expected() -> Result<Self, ClusterError> {
        let versions = Versions::from_go_mods()?;
        let dir = csplease_tool_cache::cache_root()
            .ok_or(ClusterError::NoCache)?
            .join(format!("control-plane-{}-etcd-{}", versions.kubernetes, versions.etcd));
        Ok(Self { kube_apiserver: dir.join("kube-apiserver"), etcd: dir.join("etcd"), dir, versions })
    }

    /// The binaries for the pinned versions; [`ClusterError::NotBuilt`] if either is missing.
    pub fn locate() -> Result<Self, ClusterError> {
        let bins = Self::expected()?;
        for path in [&bins.kube_apiserver, &bins.etcd] {
            if !path.is_file() {
                return Err(ClusterError::NotBuilt { missing: path.clone() });
            }
        }
        Ok(bins)
    }

    /// Whether both binaries are present.
    pub fn is_built(&self) -> bool {
        self.kube_apiserver.is_file() && self.etcd.is_file()
    }
}

/// A `kubectl` command using `kubeconfig`, with its discovery cache beside it.
pub fn kubectl(kubeconfig: &Path) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.env("KUBECONFIG", kubeconfig);
    if let Some(dir) = kubeconfig.parent() {
        cmd.env("KUBECACHEDIR", dir.join("kube-cache"));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_go_wrapper_modules() {
        let v = Versions::from_go_mods().expect("go/*/go.mod readable");
        assert!(v.kubernetes.starts_with("v1."), "{v:?}");
        assert!(v.etcd.starts_with("v3."), "{v:?}");
    }

    #[test]
    fn the_cache_directory_is_keyed_by_both_versions() {
        let bins = Binaries::expected().expect("versions");
        let name = bins.dir.file_name().and_then(|n| n.to_str()).expect("utf-8 name");
        assert_eq!(name, format!("control-plane-{}-etcd-{}", bins.versions.kubernetes, bins.versions.etcd));
        assert_eq!(bins.dir.parent(), csplease_tool_cache::cache_root().as_deref());
        assert_eq!(bins.kube_apiserver, bins.dir.join("kube-apiserver"));
        assert_eq!(bins.etcd, bins.dir.join("etcd"));
    }

    #[test]
    fn a_required_version_is_found_in_a_block_or_a_single_line() {
        let dir = std::env::temp_dir().join(format!("csplease-gomod-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let go_mod = dir.join("go.mod");
        std::fs::write(&go_mod, "module x\n\nrequire (\n\tk8s.io/kubernetes v1.36.3 // indirect\n)\n").expect("write");
        assert_eq!(required_version(&go_mod, "k8s.io/kubernetes").expect("found"), "v1.36.3");
        std::fs::write(&go_mod, "module x\nrequire go.etcd.io/etcd/server/v3 v3.6.16\n").expect("write");
        assert_eq!(required_version(&go_mod, "go.etcd.io/etcd/server/v3").expect("found"), "v3.6.16");
        assert!(required_version(&go_mod, "k8s.io/kubernetes").is_err());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn not_built_says_how_to_build() {
        let err = ClusterError::NotBuilt { missing: PathBuf::from("/cache/kube-apiserver") };
        let text = err.to_string();
        assert!(text.contains("cargo xtask cluster build"), "{text}");
        assert!(text.contains("/cache/kube-apiserver"), "{text}");
    }

    #[test]
    fn a_startup_error_ends_with_the_logs_tail() {
        let err = ClusterError::Startup { reason: "etcd exited".into(), log_tail: "panic: x".into() };
        assert_eq!(err.to_string(), "etcd exited\n--- end of log ---\npanic: x");
        let err = ClusterError::Startup { reason: "etcd exited".into(), log_tail: String::new() };
        assert_eq!(err.to_string(), "etcd exited");
    }
}
