//! A real Kubernetes control plane (etcd + kube-apiserver) for the live tests.
//!
//! The control plane itself (building the binaries into the tool cache, the PKI, starting and
//! stopping both servers) is the `csplease-local-cluster` crate, re-exported here; `cargo xtask
//! cluster up|down` and `cargo xtask demo` use the same crate. This module adds what the tests
//! need on top: one cluster per test process, the two identities, raw requests.
//!
//! Live tests use [`shared`]: one cluster per test process, torn down when the
//! process exits however it exits. Live tests run only when `CSPLEASE_LIVE=1`
//! (`cargo xtask test` sets it); start each one with [`live_or_skip`]:
//!
//! ```no_run
//! # fn main() {
//! if !csplease_tests::cluster::live_or_skip("my_test") {
//!     return;
//! }
//! let cluster = csplease_tests::cluster::shared();
//! let out = cluster.kubectl_admin().args(["get", "csp"]).output().expect("kubectl runs");
//! assert!(out.status.success());
//! # }
//! ```

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

pub use csplease_local_cluster::{
    Binaries, ClusterError, ControlPlane, FIRST_BUILD_ESTIMATE, Lifetime, SERVICE_ACCOUNT_ISSUER, Versions, deploy_dir,
    describe, go_modules_dir, kubectl, pki, process_is_alive, run_quiet, workspace_root,
};
pub use csplease_tool_cache::ENV_CACHE;

/// Environment variable naming an admin kubeconfig of an already running cluster.
pub const ENV_KUBECONFIG: &str = "CSPLEASE_KUBECONFIG";
/// Environment variable naming the restricted kubeconfig of that cluster.
pub const ENV_KUBECONFIG_RESTRICTED: &str = "CSPLEASE_KUBECONFIG_RESTRICTED";
/// Environment variable that enables the live tests when set to `1`.
pub const ENV_LIVE: &str = "CSPLEASE_LIVE";

/// The tool cache: [`csplease_tool_cache::cache_root`] (`$CSPLEASE_CACHE`, else
/// `$XDG_CACHE_HOME/csplease`, else `$HOME/.cache/csplease`), or `/tmp/.cache/csplease` when none
/// of those is set. New code should call `csplease_tool_cache` directly.
pub fn cache_root() -> PathBuf {
    csplease_tool_cache::cache_root().unwrap_or_else(|| Path::new("/tmp").join(".cache").join("csplease"))
}

/// Whether live tests are enabled (`CSPLEASE_LIVE=1`).
pub fn live_enabled() -> bool {
    std::env::var_os(ENV_LIVE).is_some_and(|v| v == "1")
}

/// Returns `true` when live tests are enabled; otherwise prints that `test` is
/// skipped, and how to run it, and returns `false`.
pub fn live_or_skip(test: &str) -> bool {
    if live_enabled() {
        return true;
    }
    // Straight to the stderr file descriptor, past libtest's output capture, so the
    // skip shows in a normal `cargo test` run.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED live test {test}: set {ENV_LIVE}=1 to run it against a real kube-apiserver \
         (`cargo xtask test` does; binaries come from `cargo xtask cluster build`)"
    );
    false
}

/// Which client identity a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// `system:masters`: may do anything.
    Admin,
    /// User `csplease-plugin`, group `csplease:plugin`: only what `deploy/rbac.yaml` grants.
    Restricted,
}

/// An HTTP response, as received.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response body.
    pub body: String,
}

impl RawResponse {
    /// The body parsed as JSON (a `Status` object for errors).
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}

/// Server URL and credential files read from a kubeconfig.
#[derive(Debug, Clone)]
struct Credentials {
    server: String,
    ca: String,
    cert: String,
    key: String,
}

/// A cluster the live tests use: the one the tests of a process share ([`shared`]), or a
/// private one a test started ([`TestCluster::of`]).
#[derive(Debug)]
pub struct TestCluster {
    admin: PathBuf,
    restricted: PathBuf,
    credentials: [OnceLock<Credentials>; 2],
    /// Kept so the cluster lives as long as the process; its watchdog stops it after.
    _own: Option<ControlPlane>,
}

impl TestCluster {
    /// The cluster of `control_plane`, a private one that a test keeps so it can kill or restart
    /// one of its servers. The handle does not keep it running: the test stops it (or its
    /// watchdog does, when the test process ends).
    pub fn of(control_plane: &ControlPlane) -> TestCluster {
        TestCluster {
            admin: control_plane.admin_kubeconfig().to_path_buf(),
            restricted: control_plane.restricted_kubeconfig().to_path_buf(),
            credentials: Default::default(),
            _own: None,
        }
    }

    /// The admin kubeconfig (`system:masters`).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin
    }

    /// The restricted kubeconfig: user `csplease-plugin` in group `csplease:plugin`,
    /// allowed only what `deploy/rbac.yaml` grants.
    pub fn restricted_kubeconfig(&self) -> &Path {
        &self.restricted
    }

    /// The kubeconfig of `who`.
    pub fn kubeconfig(&self, who: Identity) -> &Path {
        match who {
            Identity::Admin => &self.admin,
            Identity::Restricted => &self.restricted,
        }
    }

    /// A kubeconfig at `dir` that is the admin's with its user replaced by the bearer `token` (a
    /// pod's bound service-account token, say).
    pub fn token_kubeconfig(&self, dir: &Path, token: &str) -> PathBuf {
        let out = self.kubectl_ok(&["config", "view", "--minify", "--raw", "-o", "json"], None);
        let mut config: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        config["users"][0]["user"] = serde_json::json!({"token": token});
        let path = dir.join(format!("{}.kubeconfig", crate::fixture::unique("token")));
        std::fs::write(&path, config.to_string()).expect("write the kubeconfig");
        path
    }

    /// `kubectl` as `who`.
    pub fn kubectl(&self, who: Identity) -> Command {
        kubectl(self.kubeconfig(who))
    }

    /// `kubectl` as admin.
    pub fn kubectl_admin(&self) -> Command {
        kubectl(&self.admin)
    }

    /// `kubectl` as the restricted identity.
    pub fn kubectl_restricted(&self) -> Command {
        kubectl(&self.restricted)
    }

    /// Runs admin `kubectl ARGS`, with `stdin` piped in when given, and returns its stdout.
    ///
    /// # Panics
    /// When kubectl cannot run or fails: a test's fixture that cannot be set up is a failure.
    pub fn kubectl_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write as _;
        use std::process::Stdio;
        let mut cmd = self.kubectl_admin();
        cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl starts");
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes()).expect("kubectl stdin");
        }
        let out = child.wait_with_output().expect("kubectl ends");
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply` of `object` as admin (panics as [`TestCluster::kubectl_ok`] does).
    pub fn apply(&self, object: &serde_json::Value) {
        self.kubectl_ok(&["apply", "-f", "-"], Some(&object.to_string()));
    }

    /// Creates namespace `name` and its `default` ServiceAccount (there is no
    /// controller-manager to create it, and Pods cannot be created without it).
    pub fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        csplease_local_cluster::create_namespace(&self.admin, name)
    }

    /// Sends one HTTP request as `who` (with `curl`) and returns the status code and
    /// body exactly as the API server sent them, error or not. `path` starts with
    /// `/`, e.g. `/apis/openebs.io/v1alpha1/cstorpools/x`.
    pub fn request(
        &self,
        who: Identity,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> Result<RawResponse, ClusterError> {
        let creds = self.credentials(who)?;
        let options = ["--cacert", &creds.ca, "--cert", &creds.cert, "--key", &creds.key];
        let options = options.iter().chain(&["--header", "Accept: application/json"]).map(OsStr::new);
        curl(options, method, &format!("{}{path}", creds.server), content_type, body.map(str::as_bytes))
    }

    fn credentials(&self, who: Identity) -> Result<&Credentials, ClusterError> {
        let slot = &self.credentials[who as usize];
        if let Some(creds) = slot.get() {
            return Ok(creds);
        }
        let kubeconfig = self.kubeconfig(who);
        let out = run_quiet(kubectl(kubeconfig).args(["config", "view", "--minify", "--raw", "-o", "json"]))?;
        let bad = |reason: &str| ClusterError::Parse { path: kubeconfig.to_path_buf(), reason: reason.into() };
        let config: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| bad(&e.to_string()))?;
        let field = |value: &serde_json::Value, key: &str| {
            value[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("no `{key}` file path (inline *-data credentials are not supported here)")))
        };
        let cluster = &config["clusters"][0]["cluster"];
        let user = &config["users"][0]["user"];
        let creds = Credentials {
            server: field(cluster, "server")?,
            ca: field(cluster, "certificate-authority")?,
            cert: field(user, "client-certificate")?,
            key: field(user, "client-key")?,
        };
        Ok(slot.get_or_init(|| creds))
    }
}

/// Sends one HTTP request with `curl` and returns the status code and body exactly as the server
/// sent them, error or not. `options` are curl's TLS trust and credentials (`--cacert FILE`, ...)
/// and any extra headers; `body`, when given, goes on stdin (any bytes).
///
/// # Errors
/// When curl cannot run, fails (no connection, a TLS error) or prints no status code.
pub fn curl<'a>(
    options: impl IntoIterator<Item = &'a OsStr>,
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> Result<RawResponse, ClusterError> {
    let mut cmd = Command::new("curl");
    cmd.args(["--silent", "--show-error", "--max-time", "30", "--request", method])
        .args(options)
        .args(["--write-out", "\n%{http_code}"]);
    if let Some(content_type) = content_type {
        cmd.arg("--header").arg(format!("Content-Type: {content_type}"));
    }
    if body.is_some() {
        cmd.args(["--data-binary", "@-"]);
    }
    cmd.arg(url);
    let out = run_with_stdin(&mut cmd, body.unwrap_or_default())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = code.trim().parse().map_err(|_| ClusterError::CommandFailed {
        command: describe(&cmd),
        status: out.status,
        output: format!("no HTTP status in curl's output: {text}"),
    })?;
    Ok(RawResponse { status, body: body.to_owned() })
}

/// Runs `cmd` with `input` on stdin; fails unless it exits 0.
fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Result<std::process::Output, ClusterError> {
    use std::io::Write as _;
    use std::process::Stdio;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let spawn_error = |cmd: &Command, source| ClusterError::Spawn { command: describe(cmd), source };
    let mut child = cmd.spawn().map_err(|e| spawn_error(cmd, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| spawn_error(cmd, e))?;
    }
    let out = child.wait_with_output().map_err(|e| spawn_error(cmd, e))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(ClusterError::CommandFailed {
            command: describe(cmd),
            status: out.status,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// A private control plane (about 5 s to start) for a test that kills, freezes or restarts one
/// of its servers, so that the shared one, which other tests use meanwhile, is never disturbed.
/// kube-apiserver runs with `apiserver_flags` added; a watchdog stops the control plane when the
/// test process ends. Progress lines go to stderr, prefixed with `[test]`.
///
/// # Panics
///
/// When the binaries are not built or the control plane does not start, with the reason.
pub fn private_control_plane(test: &str, apiserver_flags: &[&str]) -> ControlPlane {
    let binaries = Binaries::locate().unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(crate::fixture::unique(&format!("csplease-{test}")));
    let mut progress = |line: &str| eprintln!("[{test}] {line}");
    ControlPlane::start_with_apiserver_flags(
        &binaries,
        &dir,
        Lifetime::TiedToThisProcess,
        apiserver_flags,
        &mut progress,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The cluster shared by every live test in this process.
///
/// Uses `$CSPLEASE_KUBECONFIG` and `$CSPLEASE_KUBECONFIG_RESTRICTED` when both are
/// set (`cargo xtask test` starts one cluster for the whole run); otherwise starts
/// a cluster from the cached binaries in a temporary directory, under a watchdog
/// that stops it and deletes the directory when this process exits, whether the
/// tests passed, panicked or the process was killed.
///
/// # Panics
///
/// If no cluster can be had, with the reason (e.g. "run `cargo xtask cluster build`").
pub fn shared() -> &'static TestCluster {
    // The outcome is kept either way: after a failed start every test fails at once
    // with the same message instead of trying again.
    static SHARED: OnceLock<Result<TestCluster, String>> = OnceLock::new();
    match SHARED.get_or_init(|| start_shared().map_err(|e| e.to_string())) {
        Ok(cluster) => cluster,
        Err(err) => panic!("no Kubernetes control plane for the live tests: {err}"),
    }
}

fn start_shared() -> Result<TestCluster, ClusterError> {
    let admin = std::env::var_os(ENV_KUBECONFIG).filter(|v| !v.is_empty());
    let restricted = std::env::var_os(ENV_KUBECONFIG_RESTRICTED).filter(|v| !v.is_empty());
    if let (Some(admin), Some(restricted)) = (admin, restricted) {
        return Ok(TestCluster {
            admin: admin.into(),
            restricted: restricted.into(),
            credentials: Default::default(),
            _own: None,
        });
    }
    let binaries = Binaries::locate()?;
    let dir = std::env::temp_dir().join(format!(
        "csplease-test-cluster-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_nanos()
    ));
    eprintln!("starting a kube-apiserver for the live tests in {}", dir.display());
    let cp = ControlPlane::start(&binaries, &dir, Lifetime::TiedToThisProcess, &mut |line| {
        eprintln!("  {line}");
    })?;
    Ok(TestCluster {
        admin: cp.admin_kubeconfig().to_path_buf(),
        restricted: cp.restricted_kubeconfig().to_path_buf(),
        credentials: Default::default(),
        _own: Some(cp),
    })
}
