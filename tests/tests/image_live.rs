//! The webhook's container image (`cargo xtask image`, an OCI archive in `target/dist/`) run with
//! podman as the real API server's webhook: loaded with `podman load`, started with runc on the
//! host's network with a read-only root filesystem, the certificate and a kubeconfig mounted, and
//! registered with a `url` client config. Runs only with `CSPLEASE_LIVE=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use csplease_tests::cluster::{self, Identity, TestCluster};
use csplease_tests::deploy;
use csplease_tests::fixture::{Csp, Pods, lease, lease_of, namespace, set_phase, unique};
use csplease_tests::webhook::{
    self, Certs, DENIED_BY_WEBHOOK, SELECTOR_LABEL, Webhook, configuration, https, register,
};
use serde_json::Value;

fn live(test: &str) -> Option<&'static TestCluster> {
    cluster::live_or_skip(test).then(cluster::shared)
}

fn podman(args: &[&str]) -> Output {
    let out = Command::new("podman").args(args).stdin(Stdio::null()).output().expect("podman runs");
    assert!(out.status.success(), "podman {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    out
}

/// The container and its configuration, removed when the test ends, however it ends.
struct Running<'a> {
    cluster: &'a TestCluster,
    container: String,
    config_name: String,
    webhook: Webhook,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .kubectl_admin()
            .args(["delete", "validatingwebhookconfiguration", &self.config_name, "--ignore-not-found"])
            .output();
        let _ = Command::new("podman").args(["rm", "--force", "--time", "5", &self.container]).output();
    }
}

fn annotate(cluster: &TestCluster, csp: &str, value: &str) -> Output {
    webhook::annotate(cluster.kubectl(Identity::Restricted), csp, Some(value))
}

/// The admin kubeconfig with its certificates inlined, so the container needs only this file.
fn flat_kubeconfig(cluster: &TestCluster, dir: &Path) -> PathBuf {
    let text = cluster.kubectl_ok(&["config", "view", "--raw", "--flatten", "--minify"], None);
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write the kubeconfig");
    path
}

#[test]
fn the_image_runs_under_podman_as_the_api_servers_webhook() {
    let Some(cluster) = live("the_image_runs_under_podman_as_the_api_servers_webhook") else {
        return;
    };
    let archive = deploy::image_archive();
    assert!(archive.is_file(), "{} is missing: run `cargo xtask image`", archive.display());
    let loaded = podman(&["load", "--quiet", "-i", archive.to_str().expect("a UTF-8 path")]);
    let reference = deploy::image_reference();
    assert!(String::from_utf8_lossy(&loaded.stdout).contains(&reference), "{loaded:?}");

    // What the image is: one static binary run as a numeric non-root user, with OCI labels.
    let inspect = podman(&["image", "inspect", &reference]);
    let image: Value = serde_json::from_slice(&inspect.stdout).expect("podman prints JSON");
    let config = &image[0]["Config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"][0], "/csplease-wasm");
    let labels = &config["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], deploy::VERSION);
    for key in ["org.opencontainers.image.source", "org.opencontainers.image.revision"] {
        assert!(labels[key].as_str().is_some_and(|v| !v.is_empty()), "label {key}: {labels}");
    }
    let layers = image[0]["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
    assert!(layers <= 2, "FROM scratch: the binary and /tmp only, {layers} layers");

    // Run it: the host's network (the API server calls 127.0.0.1), runc, the ulimits this
    // machine permits, a read-only root with podman's tmpfs /tmp for the compiled-module cache.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("image-live"));
    let certs = Certs::generate(&dir);
    flat_kubeconfig(cluster, &dir);
    let container = unique("csplease-image");
    let mount = format!("{}:/config:ro", dir.display());
    let prefix: Vec<String> = [
        "--runtime",
        "runc",
        "run",
        "--rm",
        "--name",
        &container,
        "--network",
        "host",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "--read-only",
        "--volume",
        &mount,
        &reference,
    ]
    .map(str::to_owned)
    .to_vec();
    let args: Vec<String> =
        ["--tls-cert", "/config/tls.crt", "--tls-key", "/config/tls.key", "--kubeconfig", "/config/kubeconfig"]
            .map(str::to_owned)
            .to_vec();
    let webhook = Webhook::launch(Path::new("podman"), &prefix, &args);
    let selector = unique("image");
    let running = Running { cluster, container, config_name: unique("csplease-image"), webhook };

    let base = format!("https://{}", running.webhook.addr());
    let health = https(&certs.ca, "GET", &format!("{base}/healthz"), None, None);
    assert_eq!((health.status, health.body.trim()), (200, "ok"), "{}", running.webhook.log());

    let probe = unique("csp-probe");
    Csp::named(&probe).label(SELECTOR_LABEL, &selector).create(cluster);
    let config = configuration(&running.config_name, &running.webhook.url(), &certs, &selector);
    if let Err(e) = register(cluster.admin_kubeconfig(), &config, &probe) {
        panic!("registering the container: {e}\nits log:\n{}", running.webhook.log());
    }

    let pods = namespace(cluster, "image");
    Pods::new(&pods, &["pool-a", "pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{pods}/pool-a"), format!("{pods}/pool-b"));
    let csp = unique("csp-image");
    Csp::named(&csp).label(SELECTOR_LABEL, &selector).lease(&lease_of(&a, 3)).create(cluster);
    let out = annotate(cluster, &csp, &lease_of(&b, 4));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the steal was allowed");
    let reason = text.split(DENIED_BY_WEBHOOK).nth(1).unwrap_or_else(|| panic!("not the webhook's denial: {text}"));
    assert!(reason.contains(&a), "the reason {reason:?} does not name the holder {a}");
    // The container looks the holder up through the mounted kubeconfig: once it failed, the
    // takeover passes.
    set_phase(cluster, &pods, "pool-a", "Failed");
    let out = annotate(cluster, &csp, &lease_of(&b, 4));
    assert!(out.status.success(), "the takeover was refused: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lease(cluster, &csp), Some(lease_of(&b, 4)));

    let metrics = https(&certs.ca, "GET", &format!("{base}/metrics"), None, None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("csplease_webhook_pod_lookups_total{result=\"found\"}"), "{}", metrics.body);
    assert!(running.webhook.log().contains("denied UPDATE"), "{}", running.webhook.log());
}
