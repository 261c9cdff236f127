//! Starting, finding and stopping one etcd + kube-apiserver pair.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::pki::{self, Pki};
use crate::{Binaries, ClusterError, deploy_dir, describe, io_error, kubectl, run_quiet};

/// How long the API server may take to report ready (generous: the machine is shared).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long servers get to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The service CIDR (no Services are routed; the API server requires one).
const SERVICE_CIDR: &str = "10.0.0.0/24";
/// The service-account token issuer.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Stops the servers and deletes the state directory once stdin reaches EOF,
/// which happens when the process holding the other end exits, however it exits.
/// Arguments: the state directory, then the server pids in stopping order
/// (kube-apiserver first: it shuts down in about a second while etcd is up, but
/// hangs if etcd goes first).
const WATCHDOG: &str = r#"
trap '' INT HUP
cat >/dev/null
dir=$1; shift
alive() {
    s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$s" ] && [ "$s" != Z ]
}
for p in "$@"; do
    kill -TERM "$p" 2>/dev/null
    i=0
    while [ $i -lt 150 ] && alive "$p"; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$p" 2>/dev/null
done
rm -rf "$dir"
"#;

/// How long a started control plane lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Until [`ControlPlane::stop`] is called, from this or any later process
    /// (`cargo xtask cluster up` / `down`). Dropping the handle leaves it running.
    Detached,
    /// Until the handle is dropped or stopped, or this process exits, whichever
    /// comes first: a watchdog process stops the servers and deletes the directory
    /// when this process goes away, even on a panic or SIGKILL.
    TiedToThisProcess,
}

/// A running (or once-running) control plane and the files in its directory.
///
/// Directory layout: `pki/` (CA, certificates, keys), `etcd-data/`, `logs/`,
/// `admin.kubeconfig`, `restricted.kubeconfig`, `state.json` (pids and ports).
#[derive(Debug)]
pub struct ControlPlane {
    dir: PathBuf,
    server: String,
    admin_kubeconfig: PathBuf,
    restricted_kubeconfig: PathBuf,
    etcd_pid: u32,
    apiserver_pid: u32,
    /// The servers, when this process started them.
    children: Vec<Child>,
    /// The watchdog and the pipe whose closing wakes it.
    watchdog: Option<(Child, ChildStdin)>,
    /// How kube-apiserver was started (binary and arguments), when this process started it:
    /// what [`ControlPlane::restart_apiserver`] starts again.
    apiserver_command: Option<(PathBuf, Vec<String>)>,
    /// How many times kube-apiserver was restarted (names its log files).
    apiserver_restarts: u32,
    stop_on_drop: bool,
    stopped: bool,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver in `dir` (deleted first if it exists),
    /// waits for `/readyz`, installs `deploy/crds/` (waiting until established),
    /// `deploy/rbac.yaml` and the `default` ServiceAccount of namespace `default`.
    /// `progress` receives one line per step.
    ///
    /// On failure everything started is stopped and `dir` is deleted; the error
    /// carries the end of the failing server's log.
    pub fn start(
        binaries: &Binaries,
        dir: &Path,
        lifetime: Lifetime,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Self, ClusterError> {
        Self::start_with_apiserver_flags(binaries, dir, lifetime, &[], progress)
    }

    /// As [`ControlPlane::start`], with `apiserver_flags` added to kube-apiserver's command line
    /// (and kept for [`ControlPlane::restart_apiserver`]), e.g. `--watch-cache=false` and
    /// `--etcd-compaction-interval=1s` for a test that needs a watch to expire (`410 Gone`) soon.
    pub fn start_with_apiserver_flags(
        binaries: &Binaries,
        dir: &Path,
        lifetime: Lifetime,
        apiserver_flags: &[&str],
        progress: &mut dyn FnMut(&str),
    ) -> Result<Self, ClusterError> {
        let started = Instant::now();
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        let logs = dir.join("logs");
        fs::create_dir_all(&logs).map_err(|e| io_error(&logs, e))?;
        let dir = fs::canonicalize(dir).map_err(|e| io_error(dir, e))?;
        let logs = dir.join("logs");

        progress("generating a CA, certificates and the service-account key (openssl)");
        let pki = pki::generate(&dir.join("pki"))?;
        let [etcd_port, peer_port, apiserver_port] = free_ports()?;
        let server = format!("https://127.0.0.1:{apiserver_port}");
        let admin_kubeconfig = dir.join("admin.kubeconfig");
        let restricted_kubeconfig = dir.join("restricted.kubeconfig");
        write_kubeconfig(&admin_kubeconfig, &server, &pki.ca_cert, &pki.admin, "csplease-admin")?;
        write_kubeconfig(&restricted_kubeconfig, &server, &pki.ca_cert, &pki.restricted, "csplease-plugin")?;

        progress(&format!(
            "starting etcd {} on 127.0.0.1:{etcd_port} and kube-apiserver {} on {server}",
            binaries.versions.etcd, binaries.versions.kubernetes
        ));
        let etcd = spawn_server(&binaries.etcd, &etcd_args(&dir, &pki, etcd_port, peer_port), &logs.join("etcd.log"))?;
        let mut cp = Self {
            dir: dir.clone(),
            server,
            admin_kubeconfig,
            restricted_kubeconfig,
            etcd_pid: etcd.id(),
            apiserver_pid: 0,
            children: vec![etcd],
            watchdog: None,
            apiserver_command: None,
            apiserver_restarts: 0,
            stop_on_drop: true,
            stopped: false,
        };
        let mut args = apiserver_args(&pki, etcd_port, apiserver_port);
        args.extend(apiserver_flags.iter().map(|flag| (*flag).to_owned()));
        let apiserver = spawn_server(&binaries.kube_apiserver, &args, &logs.join("kube-apiserver.log"))?;
        cp.apiserver_command = Some((binaries.kube_apiserver.clone(), args));
        cp.apiserver_pid = apiserver.id();
        cp.children.push(apiserver);
        if lifetime == Lifetime::TiedToThisProcess {
            cp.watchdog = Some(spawn_watchdog(&dir, &[cp.apiserver_pid, cp.etcd_pid])?);
        }
        cp.write_state()?;

        progress("waiting for /readyz");
        cp.wait_ready()?;
        progress(&format!("ready after {:.1} s; installing deploy/crds/ and deploy/rbac.yaml", secs(started)));
        cp.install()?;
        progress(&format!("control plane up in {:.1} s", secs(started)));
        cp.stop_on_drop = lifetime == Lifetime::TiedToThisProcess;
        Ok(cp)
    }

    /// The control plane whose state is recorded in `dir`, if any (running or not:
    /// see [`ControlPlane::is_running`]). The handle is [`Lifetime::Detached`].
    pub fn attach(dir: &Path) -> Result<Option<Self>, ClusterError> {
        let state_path = dir.join("state.json");
        let text = match fs::read_to_string(&state_path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&state_path, e)),
        };
        let bad = |reason: &str| ClusterError::Parse { path: state_path.clone(), reason: reason.into() };
        let state: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let string = |key: &str| state[key].as_str().map(str::to_owned).ok_or_else(|| bad(&format!("no string {key}")));
        let pid = |key: &str| {
            state[key].as_u64().and_then(|p| u32::try_from(p).ok()).ok_or_else(|| bad(&format!("no pid {key}")))
        };
        Ok(Some(Self {
            dir: PathBuf::from(string("dir")?),
            server: string("server")?,
            admin_kubeconfig: string("adminKubeconfig")?.into(),
            restricted_kubeconfig: string("restrictedKubeconfig")?.into(),
            etcd_pid: pid("etcdPid")?,
            apiserver_pid: pid("apiserverPid")?,
            children: Vec::new(),
            watchdog: None,
            apiserver_command: None,
            apiserver_restarts: 0,
            stop_on_drop: false,
            stopped: false,
        }))
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The API server's URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The admin kubeconfig (`system:masters`).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// The restricted kubeconfig (only `deploy/rbac.yaml`'s permissions).
    pub fn restricted_kubeconfig(&self) -> &Path {
        &self.restricted_kubeconfig
    }

    /// The pids of etcd and kube-apiserver.
    pub fn pids(&self) -> [u32; 2] {
        [self.etcd_pid, self.apiserver_pid]
    }

    /// Whether both servers are running and the API server answers `/readyz`.
    pub fn is_running(&self) -> bool {
        !self.stopped
            && self.pids().iter().all(|&pid| pid_is_ours(pid, &self.dir))
            && readyz(&self.admin_kubeconfig).is_ok()
    }

    /// Stops both servers, kube-apiserver first (SIGTERM, then SIGKILL after 15 s
    /// each), and deletes the state directory. Harmless if they already stopped.
    ///
    /// Returns only once both processes have exited: every thread of each has ended (a
    /// zombie waiting for its parent to collect it counts as exited; it holds no port, file
    /// or memory). A server that outlives even SIGKILL is an error.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            // We stop the servers ourselves; the watchdog is no longer needed.
            let _ = watchdog.kill();
            let _ = watchdog.wait();
            drop(stdin);
        }
        // kube-apiserver first: it exits in about a second while etcd is up.
        for (pid, name) in [(self.apiserver_pid, "kube-apiserver"), (self.etcd_pid, "etcd")] {
            // Identify the process once, by its command line (our state directory is in it),
            // then follow that one process by its start time: a zombie's command line is empty
            // while its threads may still be running, and the pid cannot be reused before it
            // has been collected.
            if !pid_is_ours(pid, &self.dir) {
                continue;
            }
            let Some(started) = start_time(pid) else { continue };
            signal("-TERM", pid);
            let mut deadline = Instant::now() + STOP_TIMEOUT;
            let mut killed = false;
            loop {
                for child in &mut self.children {
                    let _ = child.try_wait();
                }
                if !alive_since(pid, started) {
                    break;
                }
                if Instant::now() >= deadline {
                    if killed {
                        return Err(ClusterError::Startup {
                            reason: format!("{name} (pid {pid}) still runs {} s after SIGKILL", STOP_TIMEOUT.as_secs()),
                            log_tail: String::new(),
                        });
                    }
                    signal("-KILL", pid);
                    killed = true;
                    deadline = Instant::now() + STOP_TIMEOUT;
                }
                sleep(Duration::from_millis(20));
            }
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
        self.children.clear();
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&self.dir, e)),
        }
    }

    /// Fault injection: kills kube-apiserver with SIGKILL (no graceful shutdown, connections
    /// cut mid-request) and waits until it has exited. etcd keeps running.
    pub fn kill_apiserver(&mut self) -> Result<(), ClusterError> {
        let started = start_time(self.apiserver_pid);
        signal("-KILL", self.apiserver_pid);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while started.is_some_and(|started| alive_since(self.apiserver_pid, started)) {
            for child in &mut self.children {
                let _ = child.try_wait();
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Startup {
                    reason: format!("kube-apiserver (pid {}) still runs after SIGKILL", self.apiserver_pid),
                    log_tail: String::new(),
                });
            }
            sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Fault injection: starts kube-apiserver again, with the same arguments and port as at
    /// [`ControlPlane::start`] (after [`ControlPlane::kill_apiserver`]), and waits for `/readyz`.
    /// The watchdog is replaced by one that knows the new pid. Only for a control plane this
    /// process started.
    pub fn restart_apiserver(&mut self) -> Result<(), ClusterError> {
        let Some((binary, args)) = self.apiserver_command.clone() else {
            return Err(ClusterError::Startup {
                reason: "only a control plane started by this process can restart kube-apiserver".into(),
                log_tail: String::new(),
            });
        };
        self.apiserver_restarts += 1;
        let log = self.dir.join("logs").join(format!("kube-apiserver.restart-{}.log", self.apiserver_restarts));
        let apiserver = spawn_server(&binary, &args, &log)?;
        self.apiserver_pid = apiserver.id();
        // Keep etcd first, kube-apiserver second, as `wait_ready` expects.
        self.children.retain_mut(|child| !matches!(child.try_wait(), Ok(Some(_))));
        self.children.truncate(1);
        self.children.push(apiserver);
        if let Some((mut old, stdin)) = self.watchdog.take() {
            self.watchdog = Some(spawn_watchdog(&self.dir, &[self.apiserver_pid, self.etcd_pid])?);
            // Killing the old watchdog's shell stops nothing; its `cat` ends with our pipe.
            let _ = old.kill();
            let _ = old.wait();
            drop(stdin);
        }
        self.write_state()?;
        self.wait_ready()
    }

    /// Fault injection: freezes etcd with SIGSTOP (it keeps its connections and answers
    /// nothing), or with `frozen == false` thaws it with SIGCONT.
    pub fn freeze_etcd(&self, frozen: bool) {
        signal(if frozen { "-STOP" } else { "-CONT" }, self.etcd_pid);
    }

    fn write_state(&self) -> Result<(), ClusterError> {
        let state = json!({
            "dir": utf8(&self.dir)?,
            "server": self.server,
            "adminKubeconfig": utf8(&self.admin_kubeconfig)?,
            "restrictedKubeconfig": utf8(&self.restricted_kubeconfig)?,
            "etcdPid": self.etcd_pid,
            "apiserverPid": self.apiserver_pid,
        });
        let path = self.dir.join("state.json");
        fs::write(&path, format!("{state:#}\n")).map_err(|e| io_error(&path, e))
    }

    fn wait_ready(&mut self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            for (child, name) in self.children.iter_mut().zip(["etcd", "kube-apiserver"]) {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(ClusterError::Startup {
                        reason: format!("{name} exited during start-up ({status})"),
                        log_tail: log_tail(&self.dir.join("logs").join(format!("{name}.log"))),
                    });
                }
            }
            let last = match readyz(&self.admin_kubeconfig) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(ClusterError::Startup {
                    reason: format!(
                        "kube-apiserver not ready after {} s; last /readyz: {last}",
                        READY_TIMEOUT.as_secs()
                    ),
                    log_tail: log_tail(&self.dir.join("logs/kube-apiserver.log")),
                });
            }
            sleep(Duration::from_millis(200));
        }
    }

    fn install(&self) -> Result<(), ClusterError> {
        let deploy = deploy_dir();
        let crds = deploy.join("crds");
        let rbac = deploy.join("rbac.yaml");
        run_quiet(kubectl(&self.admin_kubeconfig).arg("apply").arg("-f").arg(&crds).arg("-f").arg(&rbac))?;
        create_namespace(&self.admin_kubeconfig, "default")?;
        run_quiet(
            kubectl(&self.admin_kubeconfig)
                .args(["wait", "--for=condition=Established", "--timeout=30s", "-f"])
                .arg(&crds),
        )?;
        // Discovery and the RBAC authorizer catch up asynchronously; wait until the
        // restricted identity can list CStorPools by short name, as the tests will.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match run_quiet(kubectl(&self.restricted_kubeconfig).args(["get", "csp", "-o", "name"])) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if self.stop_on_drop
            && let Err(e) = self.stop()
        {
            eprintln!("warning: stopping the control plane in {}: {e}", self.dir.display());
        }
    }
}

/// Creates (or updates) namespace `name` and its `default` ServiceAccount (there is no
/// controller-manager to create it, and Pods cannot be created without it), as the admin of
/// `admin_kubeconfig`.
pub fn create_namespace(admin_kubeconfig: &Path, name: &str) -> Result<(), ClusterError> {
    let list = json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            { "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } },
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": { "name": "default", "namespace": name }
            }
        ]
    });
    let mut cmd = kubectl(admin_kubeconfig);
    cmd.args(["apply", "-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| ClusterError::Spawn { command: describe(&cmd), source })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(list.to_string().as_bytes()).map_err(|e| io_error(Path::new("kubectl stdin"), e))?;
    }
    let out = child.wait_with_output().map_err(|source| ClusterError::Spawn { command: describe(&cmd), source })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ClusterError::CommandFailed {
            command: describe(&cmd),
            status: out.status,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn readyz(kubeconfig: &Path) -> Result<(), ClusterError> {
    run_quiet(kubectl(kubeconfig).args(["get", "--raw=/readyz", "--request-timeout=2s"])).map(|_| ())
}

fn etcd_args(dir: &Path, pki: &Pki, port: u16, peer_port: u16) -> Vec<String> {
    let client = format!("https://127.0.0.1:{port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    vec![
        "--name=csplease".into(),
        format!("--data-dir={}", dir.join("etcd-data").display()),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster=csplease={peer}"),
        format!("--cert-file={}", pki.etcd_server.cert.display()),
        format!("--key-file={}", pki.etcd_server.key.display()),
        format!("--trusted-ca-file={}", pki.ca_cert.display()),
        "--client-cert-auth".into(),
        // A throwaway cluster: durability is not worth the disk waits.
        "--unsafe-no-fsync".into(),
        "--log-level=warn".into(),
    ]
}

fn apiserver_args(pki: &Pki, etcd_port: u16, port: u16) -> Vec<String> {
    vec![
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--etcd-servers=https://127.0.0.1:{etcd_port}"),
        format!("--etcd-cafile={}", pki.ca_cert.display()),
        format!("--etcd-certfile={}", pki.apiserver_etcd_client.cert.display()),
        format!("--etcd-keyfile={}", pki.apiserver_etcd_client.key.display()),
        format!("--tls-cert-file={}", pki.apiserver.cert.display()),
        format!("--tls-private-key-file={}", pki.apiserver.key.display()),
        format!("--client-ca-file={}", pki.ca_cert.display()),
        "--authorization-mode=Node,RBAC".into(),
        format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
        format!("--service-account-key-file={}", pki.service_account_pub.display()),
        format!("--service-account-signing-key-file={}", pki.service_account_key.display()),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        // 127.0.0.1 may not be an Endpoints address; nothing routes to the Service anyway.
        "--endpoint-reconciler-type=none".into(),
        "--profiling=false".into(),
        "--v=1".into(),
    ]
}

/// Starts a server in its own process group (so a terminal's Ctrl-C reaches
/// only the watchdog's owner), stdin from /dev/null, output to `log`.
fn spawn_server(binary: &Path, args: &[String], log: &Path) -> Result<Child, ClusterError> {
    let out = fs::File::create(log).map_err(|e| io_error(log, e))?;
    let err = out.try_clone().map_err(|e| io_error(log, e))?;
    let mut cmd = Command::new(binary);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    cmd.spawn().map_err(|source| ClusterError::Spawn { command: describe(&cmd), source })
}

fn spawn_watchdog(dir: &Path, pids: &[u32]) -> Result<(Child, ChildStdin), ClusterError> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(WATCHDOG).arg("csplease-watchdog").arg(dir);
    cmd.args(pids.iter().map(u32::to_string));
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0);
    let mut child = cmd.spawn().map_err(|source| ClusterError::Spawn { command: describe(&cmd), source })?;
    match child.stdin.take() {
        Some(stdin) => Ok((child, stdin)),
        None => Err(ClusterError::Spawn { command: describe(&cmd), source: std::io::Error::other("no stdin pipe") }),
    }
}

/// Three distinct free loopback ports (held open together while choosing).
fn free_ports() -> Result<[u16; 3], ClusterError> {
    let bind = || TcpListener::bind("127.0.0.1:0").map_err(|e| io_error(Path::new("127.0.0.1:0"), e));
    let listeners = [bind()?, bind()?, bind()?];
    let mut ports = [0u16; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr().map_err(|e| io_error(Path::new("127.0.0.1:0"), e))?.port();
    }
    Ok(ports)
}

fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    identity: &pki::KeyPair,
    user: &str,
) -> Result<(), ClusterError> {
    // JSON strings are valid YAML double-quoted scalars.
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: csplease\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    client-certificate: {cert}\n    client-key: {key}\ncontexts:\n- name: {user}\n  context:\n    cluster: csplease\n    user: {user}\ncurrent-context: {user}\n",
        server = q(server),
        ca = q(utf8(ca)?),
        user = q(user),
        cert = q(utf8(&identity.cert)?),
        key = q(utf8(&identity.key)?),
    );
    fs::write(path, text).map_err(|e| io_error(path, e))
}

fn utf8(path: &Path) -> Result<&str, ClusterError> {
    path.to_str().ok_or_else(|| ClusterError::NonUtf8Path(path.to_path_buf()))
}

/// Whether `pid` is a live (non-zombie) process whose command line mentions `dir`,
/// i.e. one of our servers and not a reused pid.
fn pid_is_ours(pid: u32, dir: &Path) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = dir.as_os_str().as_encoded_bytes();
    !needle.is_empty() && cmdline.windows(needle.len()).any(|w| w == needle)
}

/// Whether process `pid` is alive: it exists and at least one of its threads has not exited
/// (a zombie, whose threads have all ended and which only waits to be collected, is not alive).
pub fn process_is_alive(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|task| {
        let stat = fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // `pid (comm) S ...`: the state follows the last `)` (comm may contain anything).
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        state.is_some_and(|s| s != 'Z' && s != 'X')
    })
}

/// When process `pid` started (`/proc/PID/stat` field 22, in clock ticks since boot).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after `comm`: state is field 3, so start time (22) is the 20th after the `)`.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process `pid` that started at `started` is still alive.
fn alive_since(pid: u32, started: u64) -> bool {
    start_time(pid) == Some(started) && process_is_alive(pid)
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill").arg(sig).arg(pid.to_string()).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_alive_until_it_exits_and_a_zombie_is_not() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep starts");
        let pid = child.id();
        let started = start_time(pid).expect("a start time");
        assert!(process_is_alive(pid) && alive_since(pid, started));
        assert!(!alive_since(pid, started + 1), "another start time is another process");
        signal("-KILL", pid);
        // Not collected yet: a zombie until `wait`.
        let deadline = Instant::now() + Duration::from_secs(30);
        while process_is_alive(pid) {
            assert!(Instant::now() < deadline, "sleep outlived SIGKILL");
            sleep(Duration::from_millis(10));
        }
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("the zombie is still listed");
        assert!(stat.contains(") Z "), "{stat}");
        child.wait().expect("collected");
        assert!(!process_is_alive(pid));
    }
}
