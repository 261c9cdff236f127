//! The admission webhook (`csplease-wasm serve`) registered with a real kube-apiserver, judging
//! real writes made through the real `kubectl` and the plugin.
//!
//! Each test starts its own webhook on a free loopback port and registers it with a
//! ValidatingWebhookConfiguration (`url` client config, the test CA as `caBundle`,
//! `failurePolicy: Fail`) whose object selector matches only that test's CStorPools, so tests
//! running beside it on the same API server are not judged by it. The webhook looks pods up as
//! the admin identity. Runs only with `CSPLEASE_LIVE=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use csplease_tests::cluster::{self, Identity, TestCluster};
use csplease_tests::fixture::{Csp, Pods, lease, lease_of, namespace, set_phase, unique};
use csplease_tests::webhook::{
    self, Certs, DENIED_BY_WEBHOOK, SELECTOR_LABEL, Webhook, assert_allowed, assert_denied, configuration, register,
};
use serde_json::Value;

/// A webhook registered for this test's CStorPools; unregistered when dropped.
struct Guarded {
    cluster: &'static TestCluster,
    webhook: Webhook,
    certs: Certs,
    config_name: String,
    selector: String,
    dir: PathBuf,
}

impl Guarded {
    /// Starts a webhook, registers it and waits until the API server calls it.
    fn start(cluster: &'static TestCluster, test: &str) -> Guarded {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique(&format!("webhook-live-{test}")));
        let certs = Certs::generate(&dir);
        let admin = cluster.admin_kubeconfig().to_str().expect("a UTF-8 path").to_owned();
        let webhook = Webhook::start(&certs, &["--kubeconfig", &admin, "--lookup-timeout-ms", "3000"]);
        let selector = unique(test);
        let config_name = unique("csplease-test");
        let guarded = Guarded { cluster, webhook, certs, config_name, selector, dir };
        guarded.register();
        guarded
    }

    fn register(&self) {
        let probe = unique("csp-probe");
        self.csp(&probe, None);
        let config = configuration(&self.config_name, &self.webhook.url(), &self.certs, &self.selector);
        if let Err(e) = register(self.cluster.admin_kubeconfig(), &config, &probe) {
            panic!("registering the webhook: {e}\nwebhook log:\n{}", self.webhook.log());
        }
    }

    /// Creates CStorPool `name` with this test's label, so the webhook judges its writes.
    fn csp(&self, name: &str, lease: Option<&str>) {
        let csp = Csp::named(name).label(SELECTOR_LABEL, &self.selector);
        match lease {
            Some(lease) => csp.lease(lease),
            None => csp,
        }
        .create(self.cluster);
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .kubectl_admin()
            .args(["delete", "validatingwebhookconfiguration", &self.config_name, "--ignore-not-found"])
            .output();
    }
}

fn live(test: &str) -> Option<&'static TestCluster> {
    cluster::live_or_skip(test).then(cluster::shared)
}

fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("kubectl runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `kubectl annotate --overwrite` of the lease as `who`: set to `value`, or removed with `None`.
fn annotate(cluster: &TestCluster, who: Identity, csp: &str, value: Option<&str>) -> Output {
    webhook::annotate(cluster.kubectl(who), csp, value)
}

/// `kubectl csplease ARGS` with `kubectl`, the plugin on PATH.
fn plugin(kubectl: Command, args: &[&str]) -> Output {
    run(csplease_tests::plugin::through_kubectl(kubectl, args))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn giving_a_running_holders_lease_to_another_pod_is_rejected_with_the_modules_reason() {
    let Some(cluster) = live("giving_a_running_holders_lease_to_another_pod_is_rejected_with_the_modules_reason")
    else {
        return;
    };
    let guarded = Guarded::start(cluster, "steal");
    let ns = namespace(cluster, "wh-steal");
    Pods::new(&ns, &["pool-a", "pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-steal");
    guarded.csp(&name, Some(&lease_of(&a, 3)));

    let out = annotate(cluster, Identity::Restricted, &name, Some(&lease_of(&b, 4)));
    assert_denied(&out, &a);
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 3)), "the lease is unchanged");
    // Nor may a pod's lease be rewritten with a counter that skips, or be cleared by a stranger.
    let out = annotate(cluster, Identity::Restricted, &name, Some(&lease_of(&a, 9)));
    assert_denied(&out, "leaderTransition");
    let out = annotate(cluster, Identity::Restricted, &name, None);
    assert_denied(&out, &a);
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 3)), "the lease is unchanged");
    assert!(guarded.webhook.log().contains("denied UPDATE"), "{}", guarded.webhook.log());
}

#[test]
fn a_takeover_from_a_failed_pod_and_a_break_glass_clear_pass() {
    let Some(cluster) = live("a_takeover_from_a_failed_pod_and_a_break_glass_clear_pass") else {
        return;
    };
    let guarded = Guarded::start(cluster, "legal");
    let ns = namespace(cluster, "wh-legal");
    Pods::new(&ns, &["pool-a"]).create(cluster, "Failed");
    Pods::new(&ns, &["pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-legal");
    guarded.csp(&name, Some(&lease_of(&a, 5)));

    // The holder failed: anyone with patch may hand the lease on, counting one more transition.
    assert_allowed(&annotate(cluster, Identity::Restricted, &name, Some(&lease_of(&b, 6))));
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 6)));
    // pool-b runs: the restricted identity may not clear it, a break-glass admin may.
    assert_denied(&annotate(cluster, Identity::Restricted, &name, Some(&lease_of("", 6))), &b);
    assert_allowed(&annotate(cluster, Identity::Admin, &name, Some(&lease_of("", 6))));
    assert_eq!(lease(cluster, &name), Some(lease_of("", 6)));
    // A released lease is taken with the next counter, and only with it.
    assert_denied(&annotate(cluster, Identity::Restricted, &name, Some(&lease_of(&a, 9))), "");
    assert_allowed(&annotate(cluster, Identity::Restricted, &name, Some(&lease_of(&a, 7))));
    // The admin may also remove the annotation outright.
    assert_allowed(&annotate(cluster, Identity::Admin, &name, None));
    assert_eq!(lease(cluster, &name), None);
    let metrics = metrics(&guarded);
    assert!(metrics.contains("csplease_webhook_pod_lookups_total{result=\"found\"}"), "{metrics}");
}

#[test]
fn the_plugin_works_unchanged_with_the_webhook_in_place() {
    let Some(cluster) = live("the_plugin_works_unchanged_with_the_webhook_in_place") else {
        return;
    };
    let guarded = Guarded::start(cluster, "plugin");
    let ns = namespace(cluster, "wh-plugin");
    Pods::new(&ns, &["pool-a", "pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-plugin");
    guarded.csp(&name, None);

    let restricted = || cluster.kubectl(Identity::Restricted);
    let out = plugin(restricted(), &["hold", &name, "--holder", &a]);
    assert_eq!(code(&out), 0, "hold of a vacant lease: {}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 1)));
    // The plugin itself denies a hold against a live holder, before any write.
    let out = plugin(restricted(), &["hold", &name, "--holder", &b]);
    assert_eq!(code(&out), 3, "hold against a live holder: {}", stderr(&out));
    // pool-a fails: pool-b takes over, through the webhook's own lookup of pool-a.
    set_phase(cluster, &ns, "pool-a", "Failed");
    let out = plugin(restricted(), &["hold", &name, "--holder", &b]);
    assert_eq!(code(&out), 0, "takeover: {}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 2)));
    // A break-glass release by the admin.
    let out = plugin(cluster.kubectl_admin(), &["release", &name, "--force"]);
    assert_eq!(code(&out), 0, "release --force by the admin: {}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of("", 2)));
    let out = plugin(restricted(), &["hold", &name, "--holder", &a]);
    assert_eq!(code(&out), 0, "hold of a released lease: {}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 3)));

    // A forced release by an identity the policy does not trust is refused by the webhook, and
    // the plugin says so: exit 3, one line naming the webhook and its reason, nothing changed.
    set_phase(cluster, &ns, "pool-a", "Running");
    let out = plugin(restricted(), &["release", &name, "--force"]);
    let text = stderr(&out);
    assert_eq!(code(&out), 3, "{text}");
    assert!(text.contains("admission policy refused") && text.contains(DENIED_BY_WEBHOOK), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 3)));
}

#[test]
fn a_pod_bound_token_may_release_only_its_own_lease() {
    let Some(cluster) = live("a_pod_bound_token_may_release_only_its_own_lease") else {
        return;
    };
    let guarded = Guarded::start(cluster, "token");
    let ns = namespace(cluster, "wh-token");
    cluster.kubectl_ok(&["-n", &ns, "create", "serviceaccount", "pool"], None);
    let binding = unique("csplease-pool");
    cluster.kubectl_ok(
        &[
            "create",
            "clusterrolebinding",
            &binding,
            "--clusterrole=csplease-plugin",
            &format!("--serviceaccount={ns}:pool"),
        ],
        None,
    );
    Pods::new(&ns, &["pool-a", "pool-b"]).service_account("pool").create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    // A token bound to pod pool-a, through the real TokenRequest API.
    let token = cluster.kubectl_ok(
        &["-n", &ns, "create", "token", "pool", "--bound-object-kind", "Pod", "--bound-object-name", "pool-a"],
        None,
    );
    let kubeconfig = cluster.token_kubeconfig(&guarded.dir, token.trim());
    let as_pool_a = || cluster::kubectl(&kubeconfig);
    let out = run({
        let mut k = as_pool_a();
        k.args(["auth", "whoami", "-o", "json"]);
        k
    });
    let whoami: Value = serde_json::from_slice(&out.stdout).expect("whoami JSON");
    assert_eq!(
        whoami["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"][0], "pool-a",
        "the token carries its pod: {whoami}"
    );

    let own = unique("csp-own");
    let other = unique("csp-other");
    guarded.csp(&own, Some(&lease_of(&a, 2)));
    guarded.csp(&other, Some(&lease_of(&b, 4)));
    // pool-a may not hand its lease to pool-b, nor write pool-b's name anywhere (rule 4) ...
    assert_denied(&webhook::annotate(as_pool_a(), &own, Some(&lease_of(&b, 3))), "");
    // ... may not release pool-b's lease, even claiming to be pool-b ...
    assert_denied(&webhook::annotate(as_pool_a(), &other, Some(&lease_of("", 4))), &b);
    let out = plugin(as_pool_a(), &["release", &other, "--holder", &b]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains(DENIED_BY_WEBHOOK), "{}", stderr(&out));
    assert_eq!(lease(cluster, &other), Some(lease_of(&b, 4)));
    // ... and releases its own through the plugin.
    let out = plugin(as_pool_a(), &["release", &own, "--holder", &a]);
    assert_eq!(code(&out), 0, "release of its own lease: {}", stderr(&out));
    assert_eq!(lease(cluster, &own), Some(lease_of("", 2)));
    cluster.kubectl_ok(&["delete", "clusterrolebinding", &binding], None);
}

#[test]
fn restarting_the_webhook_loses_nothing() {
    let Some(cluster) = live("restarting_the_webhook_loses_nothing") else {
        return;
    };
    let mut guarded = Guarded::start(cluster, "restart");
    let ns = namespace(cluster, "wh-restart");
    Pods::new(&ns, &["pool-a", "pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-restart");
    guarded.csp(&name, Some(&lease_of(&a, 1)));
    assert_denied(&annotate(cluster, Identity::Restricted, &name, Some(&lease_of(&b, 2))), &a);

    guarded.webhook.restart();
    // The very next writes are judged as before: the denial stands, the legal takeover passes.
    assert_denied(&annotate(cluster, Identity::Restricted, &name, Some(&lease_of(&b, 2))), &a);
    set_phase(cluster, &ns, "pool-a", "Succeeded");
    assert_allowed(&annotate(cluster, Identity::Restricted, &name, Some(&lease_of(&b, 2))));
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 2)));
}

#[test]
fn with_the_webhook_down_and_failure_policy_fail_writes_are_refused_clearly() {
    let Some(cluster) = live("with_the_webhook_down_and_failure_policy_fail_writes_are_refused_clearly") else {
        return;
    };
    let mut guarded = Guarded::start(cluster, "down");
    let ns = namespace(cluster, "wh-down");
    Pods::new(&ns, &["pool-a"]).create(cluster, "Running");
    let a = format!("{ns}/pool-a");
    let name = unique("csp-down");
    guarded.csp(&name, None);
    guarded.webhook.stop();

    let out = plugin(cluster.kubectl(Identity::Restricted), &["hold", &name, "--holder", &a]);
    let text = stderr(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(text.contains("failed calling webhook \"leases.csplease.openebs.io\""), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert_eq!(lease(cluster, &name), None, "nothing was written");
    // Writes that leave the lease alone never reach the webhook (its matchConditions), so the
    // pool's other updates go on while it is down.
    cluster.kubectl_ok(&["label", "csp", &name, "pool-health=degraded"], None);

    guarded.webhook.restart();
    let out = plugin(cluster.kubectl(Identity::Restricted), &["hold", &name, "--holder", &a]);
    assert_eq!(code(&out), 0, "once the webhook is back: {}", stderr(&out));
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 1)));
}

fn metrics(guarded: &Guarded) -> String {
    let url = format!("https://{}/metrics", guarded.webhook.addr());
    csplease_tests::webhook::https(&guarded.certs.ca, "GET", &url, None, None).body
}

#[test]
fn the_deploy_manifest_is_accepted_by_the_api_server() {
    let Some(cluster) = live("the_deploy_manifest_is_accepted_by_the_api_server") else {
        return;
    };
    // Its namespace must exist for a server-side dry run; nothing else is created.
    let _ = cluster.create_namespace("csplease");
    let manifest = cluster::deploy_dir().join("webhook.yaml");
    let out = cluster.kubectl_ok(&["apply", "--dry-run=server", "-f", manifest.to_str().expect("a UTF-8 path")], None);
    for kind in [
        "serviceaccount/csplease-webhook",
        "clusterrole.rbac.authorization.k8s.io/csplease-webhook",
        "deployment.apps/csplease-webhook",
        "service/csplease-webhook",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/csplease-lease-policy",
    ] {
        assert!(out.contains(&format!("{kind} created (server dry run)")), "{kind} missing from\n{out}");
    }
}
