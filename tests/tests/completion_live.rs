//! `kubectl csplease <TAB>` through the real `kubectl __complete csplease ...`, which runs
//! `kubectl_complete-csplease` from `PATH`, against a real kube-apiserver.
//!
//! Runs only with `CSPLEASE_LIVE=1` (`cargo xtask test` sets it); otherwise each test prints that
//! it was skipped. The binaries come from `$CSPLEASE_PLUGIN_DIR` when set, else this test builds
//! them with cargo.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use csplease_tests::cluster::{self, Identity, TestCluster};
use serde_json::{Value, json};

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn live(test: &str) -> Option<&'static TestCluster> {
    cluster::live_or_skip(test).then(cluster::shared)
}

/// What `kubectl __complete csplease WORDS` printed: the candidates' values (without their
/// descriptions) and the directive line.
#[derive(Debug)]
struct Completion {
    values: Vec<String>,
    directive: String,
    stderr: String,
}

/// `kubectl __complete csplease WORDS` as admin, with the plugin's directory first on `PATH`
/// (`kubectl` passes its environment, `KUBECONFIG` included, to the completion program).
fn kubectl_complete(kubectl: Command, words: &[&str]) -> Completion {
    let mut cmd = kubectl;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(csplease_tests::plugin::dir().clone()).chain(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).expect("a PATH"))
        .env_remove("NAMESPACE")
        .env_remove("POD_NAME")
        .args(["__complete", "csplease"])
        .args(words)
        .stdin(Stdio::null());
    let out = cmd.output().expect("kubectl runs");
    assert!(out.status.success(), "kubectl __complete failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines: Vec<&str> = stdout.lines().collect();
    let directive = lines.pop().unwrap_or_default().to_owned();
    Completion {
        values: lines.iter().map(|l| l.split('\t').next().unwrap_or_default().to_owned()).collect(),
        directive,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn complete(cluster: &TestCluster, words: &[&str]) -> Completion {
    kubectl_complete(cluster.kubectl(Identity::Admin), words)
}

fn csp(cluster: &TestCluster, name: &str) {
    cluster.apply(&json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": {"name": name},
                "spec": {"poolSpec": {"poolType": "striped"}}}));
}

fn pods(cluster: &TestCluster, ns: &str, names: &[&str]) {
    let items: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                   "spec": {"nodeName": "node-1", "containers": [{"name": "pool", "image": "openebs/cstor-pool:3.6.0"}]}})
        })
        .collect();
    cluster.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}));
}

#[test]
fn subcommands_and_flags_through_kubectl() {
    let Some(cluster) = live("subcommands_and_flags_through_kubectl") else {
        return;
    };
    let all = complete(cluster, &[""]);
    // Every subcommand, and no flag before a `-` is typed (the unit tests check the list is
    // exactly clap's).
    for sub in ["status", "hold", "release", "inspect", "decide", "completion"] {
        assert!(all.values.iter().any(|v| v == sub), "{sub}: {all:?}");
    }
    assert!(all.values.iter().all(|v| !v.starts_with('-')), "{all:?}");
    assert_eq!(all.directive, ":4", "{all:?}");
    assert_eq!(complete(cluster, &["re"]).values, ["release"]);
    let flags = complete(cluster, &["hold", "x", "--f"]);
    assert_eq!((flags.values, flags.directive.as_str()), (vec!["--force".to_owned()], ":4"));
    assert_eq!(complete(cluster, &["status", "--output", "y"]).values, ["yaml"]);
}

#[test]
fn csp_names_from_the_cluster_through_kubectl() {
    let Some(cluster) = live("csp_names_from_the_cluster_through_kubectl") else {
        return;
    };
    let prefix = unique("csp-tab");
    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    csp(cluster, &a);
    csp(cluster, &b);
    for sub in ["status", "hold", "run", "release"] {
        let got = complete(cluster, &[sub, &prefix]);
        assert_eq!(got.values, [a.clone(), b.clone()], "{sub}: {got:?}");
        assert_eq!(got.directive, ":4", "{sub}: {got:?}");
    }
    // After `run CSP --` the words are the command's: no candidates, and the shell completes.
    let command = complete(cluster, &["run", &a, "--", ""]);
    assert_eq!((command.values.len(), command.directive.as_str()), (0, ":0"), "{command:?}");
    let one = complete(cluster, &["hold", "--force", &format!("{prefix}-b")]);
    assert_eq!(one.values, std::slice::from_ref(&b), "{one:?}");
    // The connection flags typed after the plugin's name are used: a context that does not exist
    // gives nothing, quietly.
    let nowhere = complete(cluster, &["--context", "no-such-context", "status", &prefix]);
    assert_eq!((nowhere.values.len(), nowhere.directive.as_str()), (0, ":4"), "{nowhere:?}");
    let explicit = cluster.kubeconfig(Identity::Admin).display().to_string();
    let here = complete(cluster, &["--kubeconfig", &explicit, "status", &prefix]);
    assert_eq!(here.values, [a, b], "{here:?}");
}

#[test]
fn holder_pods_in_the_namespace_typed_through_kubectl() {
    let Some(cluster) = live("holder_pods_in_the_namespace_typed_through_kubectl") else {
        return;
    };
    let ns = unique("tab");
    cluster.create_namespace(&ns).expect("a namespace");
    pods(cluster, &ns, &["pool-a-0", "pool-b-0", "web-0"]);
    let got = complete(cluster, &["hold", "some-csp", "-n", &ns, "--holder", "pool"]);
    assert_eq!(got.values, ["pool-a-0", "pool-b-0"], "{got:?}");
    assert_eq!(got.directive, ":4");
    let all = complete(cluster, &["--namespace", &ns, "release", "x", "--holder", ""]);
    assert_eq!(all.values, ["pool-a-0", "pool-b-0", "web-0"], "{all:?}");
    let qualified = complete(cluster, &["hold", "x", "--holder", &format!("{ns}/w")]);
    assert_eq!(qualified.values, [format!("{ns}/web-0")], "{qualified:?}");
}

#[test]
fn no_cluster_gives_no_candidates_and_no_error() {
    let Some(cluster) = live("no_cluster_gives_no_candidates_and_no_error") else {
        return;
    };
    // A kubeconfig naming a server nobody listens on.
    let dir = std::env::temp_dir().join(unique("csplease-tab-nowhere"));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters: [{name: x, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         contexts: [{name: x, context: {cluster: x, user: x}}]\nusers: [{name: x, user: {token: t}}]\n",
    )
    .expect("a kubeconfig");
    let mut kubectl = cluster.kubectl(Identity::Admin);
    kubectl.env("KUBECONFIG", &kubeconfig);
    let got = kubectl_complete(kubectl, &["hold", ""]);
    assert_eq!((got.values.len(), got.directive.as_str()), (0, ":4"), "{got:?}");
    assert!(!got.stderr.contains("error"), "{got:?}");
    std::fs::remove_dir_all(&dir).ok();
}
