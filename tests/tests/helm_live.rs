//! The Helm chart `deploy/helm/csplease-webhook` with the real `helm` (built from the Go module
//! proxy into the tool cache by `cargo xtask test`) and a real kube-apiserver: `helm lint`,
//! `helm template` through `kubectl apply --dry-run=server`, and `helm install`. There is no
//! kubelet, so no pod runs: the tests assert on the objects the API server keeps, and run the
//! webhook binary on the host as the chart's ServiceAccount with the chart's arguments. Runs only
//! with `CSPLEASE_LIVE=1`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use csplease_tests::cluster::{self, TestCluster};
use csplease_tests::deploy;
use csplease_tests::fixture::unique;
use csplease_tests::running::wait_until;
use csplease_tests::webhook::{Certs, Webhook};
use serde_json::Value;

fn live(test: &str) -> Option<&'static TestCluster> {
    cluster::live_or_skip(test).then(cluster::shared)
}

/// `helm ARGS` against the test cluster; panics with helm's output when it fails.
fn helm(cluster: &TestCluster, args: &[&str]) -> String {
    let out = helm_output(cluster, args);
    assert!(out.status.success(), "helm {}:\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn helm_output(cluster: &TestCluster, args: &[&str]) -> Output {
    let binary = deploy::helm_binary();
    assert!(binary.is_file(), "{} is missing: `cargo xtask test` builds it", binary.display());
    deploy::helm()
        .arg("--kubeconfig")
        .arg(cluster.admin_kubeconfig())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("helm runs")
}

fn chart() -> String {
    deploy::chart_dir().display().to_string()
}

/// A values file in `dir`: `yaml`, plus an object selector so the release's webhook judges no
/// CStorPool of the tests running beside it.
fn values(dir: &Path, name: &str, yaml: &str) -> String {
    std::fs::create_dir_all(dir).expect("a test directory");
    let path = dir.join(format!("{name}.yaml"));
    let selector =
        format!("webhook:\n  objectSelector:\n    matchLabels:\n      csplease.test/helm: {}\n", unique("x"));
    std::fs::write(&path, format!("{selector}{yaml}")).expect("write values");
    path.display().to_string()
}

fn provided_values(dir: &Path) -> String {
    let certs = Certs::generate(&dir.join("provided"));
    let read = |p: &Path| std::fs::read_to_string(p).expect("PEM");
    let indent = |pem: String| pem.lines().map(|l| format!("      {l}\n")).collect::<String>();
    let yaml = format!(
        "certificates:\n  mode: provided\n  provided:\n    tlsCrt: |\n{}    tlsKey: |\n{}    caBundle: |\n{}",
        indent(read(&certs.cert)),
        indent(read(&certs.key)),
        indent(certs.ca_pem.clone()),
    );
    values(dir, "provided", &yaml)
}

fn kubectl_apply_dry_run(cluster: &TestCluster, manifest: &str) -> String {
    let mut child = cluster
        .kubectl_admin()
        .args(["apply", "--dry-run=server", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child.stdin.take().expect("stdin").write_all(manifest.as_bytes()).expect("write the manifest");
    let out = child.wait_with_output().expect("kubectl runs");
    assert!(out.status.success(), "kubectl apply --dry-run=server:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get(cluster: &TestCluster, args: &[&str]) -> Value {
    let mut all = vec!["get"];
    all.extend(args);
    all.extend(["-o", "json"]);
    serde_json::from_str(&cluster.kubectl_ok(&all, None)).expect("kubectl prints JSON")
}

fn temp_dir(prefix: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique(prefix))
}

#[test]
fn the_chart_lints_and_its_manifests_pass_a_server_side_dry_run_in_every_certificate_mode() {
    let Some(cluster) = live("the_chart_lints_and_its_manifests_pass_a_server_side_dry_run_in_every_certificate_mode")
    else {
        return;
    };
    let dir = temp_dir("helm-template");
    let ns = csplease_tests::fixture::namespace(cluster, "helm-template");
    let self_managed = values(&dir, "self-managed", "replicas: 3\nbreakGlassGroups: [ops:leases]\n");
    let provided = provided_values(&dir);
    let cert_manager = values(&dir, "cert-manager", "certificates:\n  mode: cert-manager\n");
    for file in [&self_managed, &provided, &cert_manager] {
        let out = helm(cluster, &["lint", "--strict", &chart(), "-f", file]);
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
    // A mode that does not exist, or provided without a CA, is refused when rendering.
    let bad = helm_output(cluster, &["template", "x", &chart(), "--set", "certificates.mode=openssl"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("certificates.mode must be"), "{bad:?}");
    let bad = helm_output(cluster, &["template", "x", &chart(), "--set", "certificates.mode=provided"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("needs certificates.provided.caBundle"), "{bad:?}");

    let release = unique("tmpl");
    for (file, extra) in [(&self_managed, &["role.rbac.authorization.k8s.io"][..]), (&provided, &["secret/"][..])] {
        let manifest = helm(cluster, &["template", &release, &chart(), "--namespace", &ns, "-f", file]);
        let out = kubectl_apply_dry_run(cluster, &manifest);
        for kind in [
            "serviceaccount/",
            "clusterrole.rbac.authorization.k8s.io/",
            "clusterrolebinding.rbac.authorization.k8s.io/",
            "deployment.apps/",
            "service/",
            "poddisruptionbudget.policy/",
            "validatingwebhookconfiguration.admissionregistration.k8s.io/",
        ]
        .iter()
        .chain(extra)
        {
            assert!(out.contains(kind) && out.contains("(server dry run)"), "{kind} missing from\n{out}");
        }
    }
    // cert-manager's objects need its CRDs, which this API server does not have: check the
    // rendering only.
    let manifest = helm(cluster, &["template", &release, &chart(), "--namespace", &ns, "-f", &cert_manager]);
    assert!(
        manifest.contains(&format!("cert-manager.io/inject-ca-from: {ns}/{release}-csplease-webhook")),
        "{manifest}"
    );
    assert!(manifest.contains("kind: Certificate") && manifest.contains("selfSigned: {}"), "{manifest}");
    assert!(!manifest.contains("caBundle:"), "cert-manager injects the caBundle:\n{manifest}");
}

/// A kubeconfig for ServiceAccount `namespace/name`, with a token from the TokenRequest API.
fn service_account_kubeconfig(cluster: &TestCluster, dir: &Path, namespace: &str, name: &str) -> PathBuf {
    let token = cluster.kubectl_ok(&["-n", namespace, "create", "token", name, "--duration", "1h"], None);
    let path = dir.join("service-account.kubeconfig");
    std::fs::write(&path, cluster.kubectl_ok(&["config", "view", "--raw", "--flatten", "--minify"], None))
        .expect("write the kubeconfig");
    let set = |args: &[&str]| {
        let out = cluster::kubectl(&path).args(args).output().expect("kubectl runs");
        assert!(out.status.success(), "kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    };
    set(&["config", "set-credentials", "service-account", &format!("--token={}", token.trim())]);
    set(&["config", "set-context", "--current", "--user=service-account"]);
    path
}

/// Uninstalls the release and deletes the Secret the webhook made when the test ends.
struct Release<'a> {
    cluster: &'a TestCluster,
    name: String,
    namespace: String,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let _ = helm_output(self.cluster, &["uninstall", &self.name, "--namespace", &self.namespace]);
    }
}

#[test]
fn helm_install_creates_the_webhook_and_its_own_service_account_can_run_it() {
    let Some(cluster) = live("helm_install_creates_the_webhook_and_its_own_service_account_can_run_it") else {
        return;
    };
    let dir = temp_dir("helm-install");
    let ns = csplease_tests::fixture::namespace(cluster, "helm-install");
    let file = values(&dir, "install", "breakGlassGroups: [ops:leases]\nwebhook:\n  failurePolicy: Ignore\n");
    let release = Release { cluster, name: unique("csp"), namespace: ns.clone() };
    let name = format!("{}-csplease-webhook", release.name);
    let out = helm(cluster, &["install", &release.name, &chart(), "--namespace", &ns, "-f", &file]);
    assert!(out.contains("STATUS: deployed"), "{out}");

    // The objects, as the API server keeps them.
    let deployment = get(cluster, &["-n", &ns, "deployment", &name]);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], name.as_str());
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    let container = &pod["containers"][0];
    assert_eq!(container["image"], format!("{}:{}", deploy::IMAGE_NAME, deploy::VERSION));
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    let args: Vec<String> =
        container["args"].as_array().expect("args").iter().filter_map(|a| a.as_str().map(str::to_owned)).collect();
    for arg in [
        "--cert-mode=self-managed".to_owned(),
        format!("--cert-secret={ns}/{name}-tls"),
        format!("--webhook-config={name}"),
        format!("--cert-dns={name}.{ns}.svc"),
        "--break-glass-group=ops:leases".to_owned(),
    ] {
        assert!(args.contains(&arg), "{arg} missing from {args:?}");
    }
    let configuration = get(cluster, &["validatingwebhookconfiguration", &name]);
    let webhook = &configuration["webhooks"][0];
    assert_eq!(webhook["failurePolicy"], "Ignore");
    assert_eq!(webhook["clientConfig"]["service"]["name"], name.as_str());
    assert!(webhook["clientConfig"].get("caBundle").is_none(), "no caBundle before the webhook injects it");
    let role = get(cluster, &["clusterrole", &name]);
    let narrowed = role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["resources"][0] == "validatingwebhookconfigurations");
    assert_eq!(narrowed.expect("a rule for the configuration")["resourceNames"][0], name.as_str());
    let role = get(cluster, &["-n", &ns, "role", &name]);
    assert_eq!(role["rules"][0]["resourceNames"][0], format!("{name}-tls"));
    get(cluster, &["-n", &ns, "service", &name]);
    get(cluster, &["-n", &ns, "poddisruptionbudget", &name]);

    // The pods cannot run here (no kubelet): run the binary as the chart's ServiceAccount with
    // the Deployment's arguments. With nothing but the chart's RBAC it creates its Secret and
    // injects the CA into the chart's configuration.
    let kubeconfig = service_account_kubeconfig(cluster, &dir, &ns, &name);
    let mut host_args: Vec<String> = args
        .into_iter()
        .skip(1)
        .filter(|a| !["--addr=", "--cert-dir=", "--cert-check-secs="].iter().any(|flag| a.starts_with(flag)))
        .collect();
    host_args.push(format!("--kubeconfig={}", kubeconfig.display()));
    host_args.push(format!("--cert-dir={}", dir.join("certs").display()));
    host_args.push("--cert-check-secs=1".to_owned());
    let webhook = Webhook::launch(&csplease_tests::plugin::webhook_binary(), &[], &host_args);
    let secret = get(cluster, &["-n", &ns, "secret", &format!("{name}-tls")]);
    let injected =
        || get(cluster, &["validatingwebhookconfiguration", &name])["webhooks"][0]["clientConfig"]["caBundle"].clone();
    wait_until("the CA is injected", Duration::from_secs(120), || injected() == secret["data"]["ca.crt"]);
    assert!(webhook.log().contains(&format!("created Secret {ns}/{name}-tls")), "{}", webhook.log());
    // Stopped, so that it cannot repair what the upgrade would break.
    drop(webhook);

    // An upgrade leaves the injected caBundle alone (the chart does not render one).
    let out =
        helm(cluster, &["upgrade", &release.name, &chart(), "--namespace", &ns, "-f", &file, "--set", "replicas=3"]);
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert_eq!(get(cluster, &["-n", &ns, "deployment", &name])["spec"]["replicas"], 3);
    assert_eq!(injected(), secret["data"]["ca.crt"], "the upgrade kept the caBundle");

    // The ServiceAccount may not read other Secrets.
    let out = cluster::kubectl(&kubeconfig).args(["-n", &ns, "get", "secrets"]).output().expect("kubectl runs");
    assert!(!out.status.success(), "the ServiceAccount may list Secrets");
}
