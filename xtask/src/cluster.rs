//! `cargo xtask cluster`: a throwaway local control plane, real etcd + kube-apiserver.
//!
//! A thin shell over the `csplease-local-cluster` crate, which the live tests and the demo use too.
//!
//! - `build`: build both binaries from the Go module proxy into the version-keyed directory of
//!   the tool cache (`<cache>/control-plane-<k8s>-etcd-<etcd>/`, see `csplease-tool-cache`).
//! - `up`: start them (building first if needed) with TLS and RBAC, install
//!   `deploy/crds/` and `deploy/rbac.yaml`, and print `export KUBECONFIG=...` last,
//!   so `eval "$(cargo xtask cluster up)"` works. State lives in `target/csplease-cluster/`.
//! - `down`: stop it, wait until both processes have exited, and delete its state.
//!   `status`: say whether it runs.
//! - `check`: start a private cluster, use it as the restricted identity, stop it, and
//!   report the timings.
//!
//! Other xtask commands use [`ensure_binaries`] and [`up`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, ensure};
use csplease_local_cluster::{Binaries, ControlPlane, Lifetime, build, process_is_alive};
use csplease_tests::cluster::{ENV_KUBECONFIG, ENV_KUBECONFIG_RESTRICTED, ENV_LIVE};

use crate::workspace;

/// Arguments of `cargo xtask cluster`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Build kube-apiserver and etcd from the Go module proxy (skipped when cached).
    Build {
        /// Rebuild even if the binaries are cached.
        #[arg(long)]
        force: bool,
    },
    /// Start the control plane; prints `export KUBECONFIG=...` as its last line.
    Up,
    /// Stop the control plane started by `up` and delete its files.
    Down,
    /// Say whether the control plane started by `up` is running.
    Status,
    /// Start a private control plane, use it, stop it, and report timings.
    Check,
}

/// Runs `cargo xtask cluster`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Cmd::Build { force } => {
            let bins = Binaries::expected()?;
            if bins.is_built() && !force {
                eprintln!("already built: {} and {}", bins.kube_apiserver.display(), bins.etcd.display());
                return Ok(());
            }
            Ok(build(&bins)?)
        }
        Cmd::Up => cmd_up(),
        Cmd::Down => cmd_down(),
        Cmd::Status => cmd_status(),
        Cmd::Check => cmd_check(),
    }
}

/// The directory of the control plane that `cargo xtask cluster up` manages:
/// `target/csplease-cluster/` (under `$CARGO_TARGET_DIR` if set).
pub fn state_dir() -> PathBuf {
    workspace::target_dir(&workspace::root()).join("csplease-cluster")
}

/// The cached binaries, built first (with progress on stderr) if missing.
pub fn ensure_binaries() -> anyhow::Result<Binaries> {
    let bins = Binaries::expected()?;
    if !bins.is_built() {
        eprintln!("control-plane binaries not found in {}; building them", bins.dir.display());
        build(&bins)?;
    }
    Ok(bins)
}

/// A control plane that lives as long as this value (or this process, whichever is shorter).
#[derive(Debug)]
pub struct Cluster {
    inner: ControlPlane,
}

impl Cluster {
    /// The admin kubeconfig (`system:masters`).
    pub fn admin_kubeconfig(&self) -> &Path {
        self.inner.admin_kubeconfig()
    }

    /// The restricted kubeconfig (only `deploy/rbac.yaml`'s permissions).
    pub fn restricted_kubeconfig(&self) -> &Path {
        self.inner.restricted_kubeconfig()
    }

    /// The variables that point the live tests at this cluster and enable them:
    /// `CSPLEASE_KUBECONFIG`, `CSPLEASE_KUBECONFIG_RESTRICTED`, `CSPLEASE_LIVE=1`.
    pub fn test_env(&self) -> [(&'static str, &std::ffi::OsStr); 3] {
        [
            (ENV_KUBECONFIG, self.admin_kubeconfig().as_os_str()),
            (ENV_KUBECONFIG_RESTRICTED, self.restricted_kubeconfig().as_os_str()),
            (ENV_LIVE, "1".as_ref()),
        ]
    }

    /// Stops the servers and deletes the directory (dropping does the same).
    pub fn down(mut self) -> anyhow::Result<()> {
        self.inner.stop().context("stopping the control plane")
    }
}

/// Starts a control plane in `dir` (replaced if it exists) from the cached binaries,
/// building them first if needed. It stops when the returned [`Cluster`] is dropped or
/// [`Cluster::down`] is called, and — through a watchdog — when this process exits
/// in any way.
pub fn up(dir: &Path) -> anyhow::Result<Cluster> {
    let bins = ensure_binaries()?;
    let inner = ControlPlane::start(&bins, dir, Lifetime::TiedToThisProcess, &mut |line| {
        eprintln!("cluster: {line}");
    })?;
    Ok(Cluster { inner })
}

fn cmd_up() -> anyhow::Result<()> {
    let dir = state_dir();
    if let Some(mut existing) = ControlPlane::attach(&dir)? {
        if existing.is_running() {
            eprintln!(
                "cluster: already running at {} (pids {:?}); `cargo xtask cluster down` stops it",
                existing.server(),
                existing.pids()
            );
            print_exports(&existing);
            return Ok(());
        }
        eprintln!("cluster: cleaning up a stopped control plane in {}", dir.display());
        existing.stop()?;
    }
    let bins = ensure_binaries()?;
    let cp = ControlPlane::start(&bins, &dir, Lifetime::Detached, &mut |line| eprintln!("cluster: {line}"))?;
    eprintln!(
        "cluster: kube-apiserver {} at {}; logs in {}; stop with `cargo xtask cluster down`",
        bins.versions.kubernetes,
        cp.server(),
        cp.dir().join("logs").display()
    );
    print_exports(&cp);
    Ok(())
}

fn print_exports(cp: &ControlPlane) {
    println!("export {ENV_KUBECONFIG}={}", shell_quote(cp.admin_kubeconfig()));
    println!("export {ENV_KUBECONFIG_RESTRICTED}={}", shell_quote(cp.restricted_kubeconfig()));
    println!("export KUBECONFIG={}", shell_quote(cp.admin_kubeconfig()));
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

fn cmd_down() -> anyhow::Result<()> {
    let dir = state_dir();
    match ControlPlane::attach(&dir)? {
        Some(mut cp) => {
            let pids = cp.pids();
            cp.stop()?;
            // `stop` waits for both; say so only once it is checked.
            ensure!(
                !pids.iter().any(|&pid| process_is_alive(pid)),
                "a control-plane process still runs after stopping (pids {pids:?})"
            );
            eprintln!("cluster: stopped (pids {pids:?}; both exited) and removed {}", dir.display());
        }
        None if dir.exists() => {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            eprintln!("cluster: nothing was running; removed {}", dir.display());
        }
        None => eprintln!("cluster: nothing to stop in {}", dir.display()),
    }
    Ok(())
}

fn cmd_status() -> anyhow::Result<()> {
    let dir = state_dir();
    match ControlPlane::attach(&dir)? {
        Some(cp) if cp.is_running() => {
            eprintln!("cluster: running at {} (pids {:?})", cp.server(), cp.pids());
            print_exports(&cp);
            Ok(())
        }
        Some(_) => anyhow::bail!("cluster: state in {} but not running; run `cargo xtask cluster down`", dir.display()),
        None => anyhow::bail!("cluster: not running"),
    }
}

fn cmd_check() -> anyhow::Result<()> {
    let bins = ensure_binaries()?;
    let dir = std::env::temp_dir().join(format!("csplease-cluster-check-{}", std::process::id()));
    let started = Instant::now();
    let cluster = up(&dir)?;
    let up_time = started.elapsed();
    let out = csplease_local_cluster::kubectl(cluster.restricted_kubeconfig())
        .args(["get", "csp"])
        .envs(cluster.test_env())
        .output()
        .context("running kubectl")?;
    ensure!(
        out.status.success(),
        "restricted identity could not list CStorPools: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pids = cluster.inner.pids();
    let stopping = Instant::now();
    cluster.down()?;
    let down_time = stopping.elapsed();
    ensure!(!dir.exists(), "{} still exists after down", dir.display());
    for pid in pids {
        ensure!(!process_is_alive(pid), "pid {pid} still runs after down");
    }
    eprintln!(
        "cluster check: kube-apiserver {} + etcd {}: up to ready with CRDs and RBAC in {:.1} s, \
         down in {:.1} s; nothing left behind",
        bins.versions.kubernetes,
        bins.versions.etcd,
        up_time.as_secs_f64(),
        down_time.as_secs_f64()
    );
    Ok(())
}
