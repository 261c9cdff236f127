//! The admission webhook (`csplease-wasm serve`) as the tests run it: its certificates, its
//! process, its registration with a real API server, and plain HTTPS requests to it.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::cluster::RawResponse;
use crate::fixture::LEASE_KEY;
use base64::Engine as _;
use serde::Deserialize as _;

/// A CA and a serving certificate for `127.0.0.1` and `localhost` signed by it, as PEM files.
#[derive(Debug)]
pub struct Certs {
    /// The CA certificate, PEM (what a `caBundle` carries).
    pub ca_pem: String,
    /// The CA certificate file.
    pub ca: PathBuf,
    /// The serving certificate file.
    pub cert: PathBuf,
    /// The serving key file.
    pub key: PathBuf,
}

impl Certs {
    /// Generates a fresh CA and serving certificate into `dir` (created if missing).
    ///
    /// # Panics
    /// When generating or writing fails: a fixture that cannot be set up is a test failure.
    pub fn generate(dir: &Path) -> Certs {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose, SanType,
        };
        std::fs::create_dir_all(dir).expect("a certificate directory");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "csplease webhook test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("a CA key")).expect("a CA");
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("serving parameters");
        leaf.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
        leaf.distinguished_name.push(DnType::CommonName, "csplease-webhook");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("a serving key");
        let cert = leaf.signed_by(&key, &ca).expect("a serving certificate");
        let certs =
            Certs { ca_pem: ca.pem(), ca: dir.join("ca.crt"), cert: dir.join("tls.crt"), key: dir.join("tls.key") };
        std::fs::write(&certs.ca, &certs.ca_pem).expect("write ca.crt");
        std::fs::write(&certs.cert, cert.pem()).expect("write tls.crt");
        std::fs::write(&certs.key, key.serialize_pem()).expect("write tls.key");
        certs
    }

    /// The CA, base64-encoded PEM: a webhook configuration's `caBundle`.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }
}

/// A running `csplease-wasm serve`, stopped (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Webhook {
    binary: PathBuf,
    prefix: Vec<String>,
    child: Option<Child>,
    addr: SocketAddr,
    args: Vec<String>,
    log: Arc<Mutex<String>>,
}

impl Webhook {
    /// Starts `csplease-wasm serve` on a free loopback port with `certs`, then `args` (for example
    /// `--kubeconfig`, `--break-glass-group`), and waits until it serves.
    ///
    /// # Panics
    /// When it does not start serving within 60 s, with its output.
    pub fn start(certs: &Certs, args: &[&str]) -> Webhook {
        Webhook::start_binary(&crate::plugin::webhook_binary(), certs, args)
    }

    /// As [`Webhook::start`], running `binary` (a release build, for the load generator).
    ///
    /// # Panics
    /// As [`Webhook::start`].
    pub fn start_binary(binary: &Path, certs: &Certs, args: &[&str]) -> Webhook {
        let mut all = vec![
            "--tls-cert".to_owned(),
            certs.cert.display().to_string(),
            "--tls-key".to_owned(),
            certs.key.display().to_string(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        Webhook::launch(binary, &[], &all)
    }

    /// Starts `program PREFIX... serve ARGS... --addr 127.0.0.1:0` and waits until it serves:
    /// the webhook binary with no prefix, or `podman` with `run ... IMAGE` as the prefix. `args`
    /// name the certificate (`--tls-cert`/`--tls-key`, or `--cert-mode self-managed ...`).
    ///
    /// # Panics
    /// As [`Webhook::start`].
    pub fn launch(program: &Path, prefix: &[String], args: &[String]) -> Webhook {
        let mut webhook = Webhook {
            binary: program.to_path_buf(),
            prefix: prefix.to_vec(),
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            args: args.to_vec(),
            log: Arc::default(),
        };
        webhook.spawn();
        webhook
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its `POST /validate` URL.
    pub fn url(&self) -> String {
        format!("https://{}/validate", self.addr)
    }

    /// Everything it wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops it with SIGTERM and waits for it to exit (SIGKILL after 15 s).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it and starts it again on the same address.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether its process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.prefix).arg("serve").args(&self.args).arg("--addr").arg(self.addr.to_string());
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("csplease-wasm serve starts");
        let stderr = child.stderr.take().expect("a stderr pipe");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("serving on https://").nth(1) {
                    let addr = addr.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => self.addr = addr.parse().expect("an address"),
            Err(_) => panic!("csplease-wasm serve did not start serving:\n{}", self.log()),
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes a kubeconfig into `dir` whose API server is a closed port, and returns its path: a
/// webhook given it starts, and every pod lookup it makes fails at once (`LookupFailed`).
pub fn unreachable_kubeconfig(dir: &Path) -> PathBuf {
    let path = dir.join("unreachable.kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\nclusters:\n- name: nowhere\n  cluster:\n    \
         server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: nowhere\n  context:\n    \
         cluster: nowhere\n    user: nobody\nusers:\n- name: nobody\n  user:\n    token: nothing\n",
    )
    .expect("write the kubeconfig");
    path
}

/// Sends one HTTPS request with `curl`, trusting `ca`: `method` to `url` with `body` and
/// `content_type`; the status and body as received.
///
/// # Panics
/// When curl cannot connect or gives no status.
pub fn https(ca: &Path, method: &str, url: &str, content_type: Option<&str>, body: Option<&[u8]>) -> RawResponse {
    let options = [OsStr::new("--cacert"), ca.as_os_str()];
    crate::cluster::curl(options, method, url, content_type, body)
        .unwrap_or_else(|e| panic!("curl {method} {url}: {e}"))
}

/// The label whose value limits a registered test webhook to some CStorPools
/// ([`configuration`]'s `selector`).
pub const SELECTOR_LABEL: &str = "csplease.test/webhook";

/// What kubectl prints when the webhook denies a write.
pub const DENIED_BY_WEBHOOK: &str = "admission webhook \"leases.csplease.openebs.io\" denied the request: ";

/// Applies `configuration` with `kubeconfig`'s identity (which must be allowed to, and be in a
/// break-glass group) and waits until the API server calls the webhook: the configuration is
/// picked up asynchronously. `probe` is a CStorPool the configuration selects; the wait writes a
/// malformed lease to it until the webhook denies that (SPEC review rule 2 denies it to anyone),
/// so the probe is left unchanged.
///
/// # Errors
/// When kubectl fails to apply, or the webhook is not called within 60 s (with kubectl's last
/// answer).
pub fn register(kubeconfig: &Path, configuration: &serde_json::Value, probe: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut apply = crate::cluster::kubectl(kubeconfig);
    apply.args(["apply", "-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = apply.spawn().map_err(|e| format!("kubectl apply: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(configuration.to_string().as_bytes()).map_err(|e| format!("kubectl apply: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("kubectl apply: {e}"))?;
    if !out.status.success() {
        return Err(format!("kubectl apply: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let started = Instant::now();
    loop {
        let out = crate::cluster::kubectl(kubeconfig)
            .args(["annotate", "--overwrite", "csp", probe, "openebs.io/csp-lease=not a lease"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("kubectl annotate: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && stderr.contains(DENIED_BY_WEBHOOK) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("the API server did not call the webhook within 60 s; kubectl said: {stderr}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The ValidatingWebhookConfiguration of `deploy/webhook.yaml` (its rules, match conditions,
/// failure policy and timeout, as shipped), renamed `name`, calling `url` instead of the Service
/// and trusting `certs`' CA, and limited to CStorPools labelled [`SELECTOR_LABEL`]`=<selector>`
/// so a test's webhook does not judge the CStorPools of the tests running beside it.
///
/// # Panics
/// When `deploy/webhook.yaml` has no ValidatingWebhookConfiguration.
pub fn configuration(name: &str, url: &str, certs: &Certs, selector: &str) -> serde_json::Value {
    configuration_with(name, url, Some(certs.ca_bundle()), selector)
}

/// As [`configuration`], with `ca_bundle` (base64 PEM) as its `caBundle`, or none at all (for a
/// webhook that injects its own).
///
/// # Panics
/// As [`configuration`].
pub fn configuration_with(name: &str, url: &str, ca_bundle: Option<String>, selector: &str) -> serde_json::Value {
    let path = crate::cluster::deploy_dir().join("webhook.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/webhook.yaml is readable");
    let mut config = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).expect("deploy/webhook.yaml is YAML"))
        .find(|doc| doc["kind"] == "ValidatingWebhookConfiguration")
        .expect("deploy/webhook.yaml has a ValidatingWebhookConfiguration");
    config["metadata"]["name"] = name.into();
    let webhook = &mut config["webhooks"][0];
    webhook["clientConfig"] = match ca_bundle {
        Some(ca_bundle) => serde_json::json!({"url": url, "caBundle": ca_bundle}),
        None => serde_json::json!({"url": url}),
    };
    webhook["objectSelector"] = serde_json::json!({"matchLabels": {SELECTOR_LABEL: selector}});
    config
}

/// `kubectl annotate --overwrite` of a CStorPool's lease with `kubectl` (a command that already
/// names its identity): set to `value`, or removed with `None`.
pub fn annotate(mut kubectl: Command, csp: &str, value: Option<&str>) -> Output {
    let arg = match value {
        Some(value) => format!("{LEASE_KEY}={value}"),
        None => format!("{LEASE_KEY}-"),
    };
    kubectl.args(["annotate", "--overwrite", "csp", csp, &arg]).stdin(Stdio::null()).output().expect("kubectl runs")
}

/// Asserts the write was denied by the webhook, with a reason containing `because`.
pub fn assert_denied(out: &Output, because: &str) {
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the write was allowed");
    let reason = text.split(DENIED_BY_WEBHOOK).nth(1).unwrap_or_else(|| panic!("not the webhook's denial: {text}"));
    assert!(reason.contains(because), "the reason {reason:?} does not say {because:?}");
}

/// Asserts the write was allowed.
pub fn assert_allowed(out: &Output) {
    assert!(out.status.success(), "the write was refused: {}", String::from_utf8_lossy(&out.stderr));
}
