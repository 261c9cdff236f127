//! `csplease-wasm serve --cert-mode self-managed` against a real kube-apiserver: the webhook
//! makes its CA and serving certificate, keeps them in a Secret, injects the CA into a
//! ValidatingWebhookConfiguration that had no `caBundle`, and the API server then calls it over
//! TLS it verified (a denied steal proves the call). A second replica shares the Secret, and a
//! renewed serving certificate is picked up without a restart. Runs only with `CSPLEASE_LIVE=1`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use base64::Engine as _;
use csplease_tests::cluster::{self, Identity, TestCluster};
use csplease_tests::fixture::{Csp, Pods, lease, lease_of, namespace, set_phase, unique};
use csplease_tests::running::wait_until;
use csplease_tests::webhook::{self, SELECTOR_LABEL, Webhook, assert_denied, configuration_with, https, register};
use serde_json::Value;

/// The serving certificate's lifetime in this test: renewed 30 s after it is issued.
const CERT_LIFETIME_SECS: &str = "45";

fn live(test: &str) -> Option<&'static TestCluster> {
    cluster::live_or_skip(test).then(cluster::shared)
}

/// Deletes the configuration when the test ends, however it ends.
struct Unregister<'a>(&'a TestCluster, String);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .kubectl_admin()
            .args(["delete", "validatingwebhookconfiguration", &self.1, "--ignore-not-found"])
            .output();
    }
}

fn annotate(cluster: &TestCluster, csp: &str, value: &str) -> Output {
    webhook::annotate(cluster.kubectl(Identity::Restricted), csp, Some(value))
}

fn get_json(cluster: &TestCluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend(args);
    all.extend(["-o", "json"]);
    serde_json::from_str(&cluster.kubectl_ok(&all, None)).expect("kubectl prints JSON")
}

fn decode(value: &Value) -> String {
    let bytes = base64::engine::general_purpose::STANDARD.decode(value.as_str().expect("base64 text")).expect("base64");
    String::from_utf8(bytes).expect("PEM is text")
}

fn start(admin: &Path, secret: &str, config: &str, dir: PathBuf) -> Webhook {
    let args: Vec<String> = [
        "--kubeconfig",
        admin.to_str().expect("a UTF-8 path"),
        "--cert-mode",
        "self-managed",
        "--cert-secret",
        secret,
        "--webhook-config",
        config,
        "--cert-ip",
        "127.0.0.1",
        "--cert-dns",
        "localhost",
        "--cert-check-secs",
        "1",
        "--cert-lifetime-secs",
        CERT_LIFETIME_SECS,
        "--cert-dir",
        dir.to_str().expect("a UTF-8 path"),
    ]
    .map(str::to_owned)
    .to_vec();
    Webhook::launch(&csplease_tests::plugin::webhook_binary(), &[], &args)
}

#[test]
fn a_self_managed_certificate_is_made_injected_verified_shared_and_renewed() {
    let Some(cluster) = live("a_self_managed_certificate_is_made_injected_verified_shared_and_renewed") else {
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("certs-live"));
    std::fs::create_dir_all(&dir).expect("a test directory");
    let ns = namespace(cluster, "certs");
    let secret_name = "csplease-webhook-tls";
    let secret = format!("{ns}/{secret_name}");
    let config_name = unique("csplease-certs");
    let _unregister = Unregister(cluster, config_name.clone());
    let selector = unique("certs");

    // 1. The first replica creates the Secret; its configuration has no caBundle at all.
    let first = start(cluster.admin_kubeconfig(), &secret, &config_name, dir.join("first"));
    let config = configuration_with(&config_name, &first.url(), None, &selector);
    assert!(config["webhooks"][0]["clientConfig"].get("caBundle").is_none(), "{config}");
    let probe = unique("csp-probe");
    Csp::named(&probe).label(SELECTOR_LABEL, &selector).create(cluster);
    if let Err(e) = register(cluster.admin_kubeconfig(), &config, &probe) {
        panic!("the API server never called the webhook: {e}\nwebhook log:\n{}", first.log());
    }
    let log = first.log();
    assert!(log.contains(&format!("created Secret {secret} with a new CA")), "{log}");
    assert!(log.contains(&format!("injected the CA into ValidatingWebhookConfiguration {config_name}")), "{log}");

    // The caBundle the API server verified the webhook with is the Secret's CA.
    let stored = get_json(cluster, &["-n", &ns, "secret", secret_name]);
    let injected = get_json(cluster, &["validatingwebhookconfiguration", &config_name]);
    let ca_bundle = injected["webhooks"][0]["clientConfig"]["caBundle"].clone();
    assert_eq!(ca_bundle, stored["data"]["ca.crt"], "the injected caBundle is the Secret's CA");
    assert_eq!(stored["type"], "kubernetes.io/tls");
    let ca_file = dir.join("ca.crt");
    std::fs::write(&ca_file, decode(&ca_bundle)).expect("write ca.crt");

    // 2. A steal is denied with the module's reason, a takeover from a failed holder passes.
    let pods = namespace(cluster, "certs-pods");
    Pods::new(&pods, &["pool-a", "pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{pods}/pool-a"), format!("{pods}/pool-b"));
    let csp = unique("csp-certs");
    Csp::named(&csp).label(SELECTOR_LABEL, &selector).lease(&lease_of(&a, 3)).create(cluster);
    assert_denied(&annotate(cluster, &csp, &lease_of(&b, 4)), &a);
    set_phase(cluster, &pods, "pool-a", "Failed");
    let out = annotate(cluster, &csp, &lease_of(&b, 4));
    assert!(out.status.success(), "the takeover was refused: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lease(cluster, &csp), Some(lease_of(&b, 4)));

    // 3. A second replica reads the Secret instead of making its own CA.
    let second = start(cluster.admin_kubeconfig(), &secret, &config_name, dir.join("second"));
    let log = second.log();
    assert!(log.contains(&format!("serving the certificate of Secret {secret}")), "{log}");
    assert!(!log.contains("created Secret"), "{log}");
    let served = std::fs::read_to_string(dir.join("second/tls.crt")).expect("the second replica's certificate");
    let current = get_json(cluster, &["-n", &ns, "secret", secret_name]);
    assert_eq!(served, decode(&current["data"]["tls.crt"]));
    let health = https(&ca_file, "GET", &format!("https://{}/healthz", second.addr()), None, None);
    assert_eq!((health.status, health.body.trim()), (200, "ok"));
    let metrics = https(&ca_file, "GET", &format!("https://{}/metrics", first.addr()), None, None);
    assert!(metrics.body.contains("csplease_webhook_reviews_total"), "{}", metrics.body);

    // 4. The serving certificate is renewed after 2/3 of its lifetime by one of the replicas,
    // from the same CA; the first replica serves the new one without a restart, and the API
    // server still verifies it with the unchanged caBundle.
    let issued = |secret: &Value| secret["metadata"]["annotations"]["csplease.openebs.io/cert-issued"].clone();
    let before = issued(&current);
    wait_until("the serving certificate is renewed", Duration::from_secs(180), || {
        issued(&get_json(cluster, &["-n", &ns, "secret", secret_name])) != before
    });
    wait_until("the first replica reloads it", Duration::from_secs(180), || {
        first.log().contains("reloaded the TLS certificate")
    });
    let renewed = get_json(cluster, &["-n", &ns, "secret", secret_name]);
    assert_eq!(renewed["data"]["ca.crt"], ca_bundle, "the CA is kept");
    let now = get_json(cluster, &["validatingwebhookconfiguration", &config_name]);
    assert_eq!(now["webhooks"][0]["clientConfig"]["caBundle"], ca_bundle);
    let c = format!("{pods}/pool-c");
    Pods::new(&pods, &["pool-c"]).create(cluster, "Running");
    assert_denied(&annotate(cluster, &csp, &lease_of(&c, 5)), &b);
    let log = first.log();
    assert!(log.contains("denied UPDATE"), "{log}");
    drop(second);
}
