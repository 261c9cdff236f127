//! `kubectl csplease` against a real kube-apiserver, through the real `kubectl`, which finds
//! `kubectl-csplease` on `PATH`.
//!
//! Runs only with `CSPLEASE_LIVE=1` (`cargo xtask test` sets it); otherwise each test prints that
//! it was skipped. There is no kubelet: pods are created and their `status.phase` is set through
//! the status subresource. The plugin binary comes from `$CSPLEASE_PLUGIN_DIR` when set (xtask
//! builds it first), else this test builds it with cargo.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use csplease_tests::cluster::{self, Identity, TestCluster};
use serde_json::{Value, json};

const LEASE_KEY: &str = "openebs.io/csp-lease";

/// Exit codes the plugin documents.
const OK: i32 = 0;
const ERROR: i32 = 1;
const USAGE: i32 = 2;
const DENIED: i32 = 3;
const INVALID: i32 = 4;

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// The live cluster, or `None` (after saying so) when live tests are off.
fn live(test: &str) -> Option<&'static TestCluster> {
    cluster::live_or_skip(test).then(cluster::shared)
}

/// `kubectl csplease ARGS` as `who`, with the plugin on PATH and no pod environment.
fn plugin(cluster: &TestCluster, who: Identity, args: &[&str]) -> Command {
    csplease_tests::plugin::through_kubectl(cluster.kubectl(who), args)
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command) -> Run {
    let out: Output = cmd.stdin(Stdio::null()).output().expect("kubectl runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn csplease(cluster: &TestCluster, args: &[&str]) -> Run {
    run(plugin(cluster, Identity::Admin, args))
}

fn expect(run: &Run, code: i32, what: &str) {
    assert_eq!(
        run.code, code,
        "{what}: exit {} (want {code})\nstdout: {}\nstderr: {}",
        run.code, run.stdout, run.stderr
    );
}

/// Creates a CStorPool, with the lease annotation set to `lease` when given.
fn csp(cluster: &TestCluster, name: &str, lease: Option<&str>) {
    let mut metadata = json!({ "name": name });
    if let Some(lease) = lease {
        metadata["annotations"] = json!({ LEASE_KEY: lease });
    }
    cluster.apply(&json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": metadata,
                "spec": {"poolSpec": {"poolType": "striped"}}}));
}

/// The CStorPool as JSON.
fn get_csp(cluster: &TestCluster, name: &str) -> Value {
    serde_json::from_str(&cluster.kubectl_ok(&["get", "csp", name, "-o", "json"], None)).expect("JSON")
}

/// The lease annotation's value, if any.
fn lease(cluster: &TestCluster, name: &str) -> Option<String> {
    get_csp(cluster, name)["metadata"]["annotations"][LEASE_KEY].as_str().map(str::to_owned)
}

fn resource_version(cluster: &TestCluster, name: &str) -> String {
    get_csp(cluster, name)["metadata"]["resourceVersion"].as_str().expect("a resourceVersion").to_owned()
}

/// Creates pods `names` in `ns` (on node `node-1`) and sets their phase.
fn pods(cluster: &TestCluster, ns: &str, names: &[String], phase: &str) {
    pods_on(cluster, ns, names, phase, "node-1");
}

/// Creates pods `names` in `ns` on `node` and sets their phase.
fn pods_on(cluster: &TestCluster, ns: &str, names: &[String], phase: &str, node: &str) {
    let items: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                   "spec": {"nodeName": node, "containers": [{"name": "pool", "image": "openebs/cstor-pool:3.6.0"}]}})
        })
        .collect();
    cluster.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}));
    for name in names {
        set_phase(cluster, ns, name, phase);
    }
}

fn set_phase(cluster: &TestCluster, ns: &str, pod: &str, phase: &str) {
    let patch = json!({"status": {"phase": phase}}).to_string();
    cluster.kubectl_ok(&["-n", ns, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &patch], None);
}

fn namespace(cluster: &TestCluster, prefix: &str) -> String {
    let ns = unique(prefix);
    cluster.create_namespace(&ns).expect("a namespace");
    ns
}

fn lease_of(holder: &str, n: i64) -> String {
    format!(r#"{{"holder":"{holder}","leaderTransition":{n}}}"#)
}

/// The reasons of the Events recorded on CStorPool `name`, oldest first.
fn event_reasons(cluster: &TestCluster, name: &str) -> Vec<String> {
    let selector = format!("involvedObject.name={name},involvedObject.kind=CStorPool");
    let out = cluster.kubectl_ok(&["get", "events", "-A", "--field-selector", &selector, "-o", "json"], None);
    let list: Value = serde_json::from_str(&out).expect("JSON");
    let mut events: Vec<(String, String)> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
                e["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    events.sort();
    events.into_iter().map(|(_, reason)| reason).collect()
}

#[test]
fn plugin_hold_release_status_through_kubectl() {
    let Some(cluster) = live("plugin_hold_release_status_through_kubectl") else {
        return;
    };
    let ns = namespace(cluster, "hrs");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    pods(cluster, &ns, &["pool-a".into(), "pool-b".into()], "Running");
    let name = unique("csp-hrs");
    csp(cluster, &name, None);

    let status = csplease(cluster, &["status", &name, "-o", "json"]);
    expect(&status, OK, "status of a vacant lease");
    let doc: Value = serde_json::from_str(&status.stdout).expect("JSON");
    assert_eq!((doc["name"].as_str(), doc["outcome"].as_str()), (Some(name.as_str()), Some("vacant")));

    let first = csplease(cluster, &["hold", &name, "--holder", &a]);
    expect(&first, OK, "hold of a vacant lease");
    assert!(first.stdout.contains("lease acquired by"), "{}", first.stdout);
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 1)), "byte for byte what pool pods write");

    expect(&csplease(cluster, &["hold", &name, "--holder", &a]), OK, "hold by the holder");
    let rv = resource_version(cluster, &name);
    // --holder POD with -n NAMESPACE names the same pod as --holder NAMESPACE/POD.
    let denied = csplease(cluster, &["hold", &name, "--holder", "pool-b", "-n", &ns]);
    expect(&denied, DENIED, "hold while a Running pod holds it");
    assert!(denied.stderr.starts_with("error: cstorpool.openebs.io/"), "{}", denied.stderr);
    assert_eq!(resource_version(cluster, &name), rv, "a denied hold writes nothing");

    let table = csplease(cluster, &["status"]);
    expect(&table, OK, "status table");
    let row = table.stdout.lines().find(|l| l.starts_with(&name)).expect("a row for the pool");
    assert!(row.contains(&a) && row.contains("Running") && row.contains("true"), "{row}");

    // The holder's pod fails: the lease can be taken over, counting one more.
    set_phase(cluster, &ns, "pool-a", "Failed");
    let takeover = csplease(cluster, &["hold", &name, "--holder", &b, "-o", "json"]);
    expect(&takeover, OK, "takeover from a Failed holder");
    let doc: Value = serde_json::from_str(&takeover.stdout).expect("JSON");
    assert_eq!(doc["outcome"], "takenOver");
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 2)));

    expect(&csplease(cluster, &["release", &name, "--holder", &a]), DENIED, "release by a former holder");
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 2)), "a former holder's release changes nothing");
    let released = csplease(cluster, &["release", &name, "--holder", &b]);
    expect(&released, OK, "release by the holder");
    assert_eq!(lease(cluster, &name), Some(lease_of("", 2)), "release keeps the counter");
    let again = csplease(cluster, &["release", &name, "--holder", &b]);
    expect(&again, OK, "release of a released lease");
    assert!(again.stdout.contains("not held"), "{}", again.stdout);

    // A re-acquisition counts from the released value; --force breaks it and says whose.
    expect(&csplease(cluster, &["hold", &name, "--holder", &b]), OK, "re-acquire");
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 3)));
    let broken = csplease(cluster, &["release", &name, "--force"]);
    expect(&broken, OK, "forced release");
    assert!(broken.stdout.contains("broken") && broken.stdout.contains(&b), "{}", broken.stdout);
    assert_eq!(lease(cluster, &name), Some(lease_of("", 3)));

    assert_eq!(
        event_reasons(cluster, &name),
        ["LeaseAcquired", "LeaseTakenOver", "LeaseReleased", "LeaseAcquired", "LeaseBroken"],
        "one Event per write, so `kubectl describe csp` shows the history"
    );
    let describe = cluster.kubectl_ok(&["describe", "csp", &name], None);
    assert!(describe.contains("LeaseTakenOver") && describe.contains(&format!("{a} -> {b}")), "{describe}");
}

#[test]
fn plugin_hold_race_twenty_pods_one_winner() {
    let Some(cluster) = live("plugin_hold_race_twenty_pods_one_winner") else {
        return;
    };
    let ns = namespace(cluster, "race");
    let names: Vec<String> = (0..20).map(|i| format!("pool-{i}")).collect();
    pods(cluster, &ns, &names, "Running");
    let name = unique("csp-race");
    csp(cluster, &name, None);

    let children: Vec<(String, Child)> = names
        .iter()
        .map(|pod| {
            let holder = format!("{ns}/{pod}");
            let mut cmd = plugin(cluster, Identity::Admin, &["hold", &name, "--holder", &holder]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            (holder, cmd.spawn().expect("kubectl starts"))
        })
        .collect();
    let results: Vec<(String, Output)> =
        children.into_iter().map(|(holder, child)| (holder, child.wait_with_output().expect("ends"))).collect();

    let winners: Vec<&String> = results.iter().filter(|(_, o)| o.status.code() == Some(OK)).map(|(h, _)| h).collect();
    let denied = results.iter().filter(|(_, o)| o.status.code() == Some(DENIED)).count();
    let others: Vec<String> = results
        .iter()
        .filter(|(_, o)| !matches!(o.status.code(), Some(OK | DENIED)))
        .map(|(h, o)| format!("{h}: {:?} {}", o.status.code(), String::from_utf8_lossy(&o.stderr)))
        .collect();
    assert!(others.is_empty(), "every hold is acquired or denied: {others:#?}");
    assert_eq!(winners.len(), 1, "exactly one acquires: {winners:?}");
    assert_eq!(denied, 19);
    assert_eq!(lease(cluster, &name), Some(lease_of(winners[0], 1)), "leaderTransition 1");
    assert_eq!(event_reasons(cluster, &name), ["LeaseAcquired"]);
}

#[test]
fn plugin_release_race_never_clears_a_new_holders_lease() {
    let Some(cluster) = live("plugin_release_race_never_clears_a_new_holders_lease") else {
        return;
    };
    let ns = namespace(cluster, "relrace");
    for round in 0..6 {
        let (pod_a, pod_b) = (format!("a-{round}"), format!("b-{round}"));
        pods(cluster, &ns, &[pod_a.clone(), pod_b.clone()], "Running");
        let (a, b) = (format!("{ns}/{pod_a}"), format!("{ns}/{pod_b}"));
        let name = unique("csp-relrace");
        csp(cluster, &name, Some(&lease_of(&a, 5)));
        // A's pod is deleted; B takes over while A (still running somewhere) releases.
        cluster.kubectl_ok(&["-n", &ns, "delete", "pod", &pod_a, "--grace-period=0", "--force"], None);
        let mut release = plugin(cluster, Identity::Admin, &["release", &name, "--holder", &a]);
        let mut hold = plugin(cluster, Identity::Admin, &["hold", &name, "--holder", &b]);
        let (release, hold) = if round % 2 == 0 {
            let r = release.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starts");
            let h = hold.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starts");
            (r, h)
        } else {
            let h = hold.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starts");
            let r = release.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starts");
            (r, h)
        };
        let (release, hold) = (release.wait_with_output().expect("ends"), hold.wait_with_output().expect("ends"));
        assert_eq!(hold.status.code(), Some(OK), "B's hold: {}", String::from_utf8_lossy(&hold.stderr));
        assert!(
            matches!(release.status.code(), Some(OK | DENIED)),
            "A's release is done before B's hold, or denied after it: {}",
            String::from_utf8_lossy(&release.stderr)
        );
        assert_eq!(lease(cluster, &name), Some(lease_of(&b, 6)), "round {round}: B holds, whatever the order");
    }
}

#[test]
fn plugin_bad_input_clear_errors_nothing_written() {
    let Some(cluster) = live("plugin_bad_input_clear_errors_nothing_written") else {
        return;
    };
    let ns = namespace(cluster, "bad");
    pods(cluster, &ns, &["pool-a".into()], "Running");
    let a = format!("{ns}/pool-a");

    let missing = csplease(cluster, &["hold", "no-such-pool", "--holder", &a]);
    expect(&missing, ERROR, "nonexistent CSP");
    assert!(missing.stderr.contains("\"no-such-pool\" not found"), "{}", missing.stderr);

    let name = unique("csp-bad");
    csp(cluster, &name, Some("{\"holder\":\"x\","));
    let rv = resource_version(cluster, &name);
    let invalid_holder = csplease(cluster, &["hold", &name, "--holder", "NotA/Pod"]);
    expect(&invalid_holder, USAGE, "invalid holder");
    assert!(invalid_holder.stderr.starts_with("error: invalid claimant"), "{}", invalid_holder.stderr);
    let malformed = csplease(cluster, &["hold", &name, "--holder", &a]);
    expect(&malformed, INVALID, "malformed annotation");
    assert!(malformed.stderr.contains("unreadable") && malformed.stderr.contains("--force"), "{}", malformed.stderr);
    expect(&csplease(cluster, &["release", &name, "--holder", &a]), INVALID, "release of a malformed lease");
    let status = csplease(cluster, &["status", &name]);
    expect(&status, OK, "status reports a malformed lease");
    assert!(status.stdout.contains("invalid"), "{}", status.stdout);
    expect(&csplease(cluster, &["hold", &name, "--holder", &a, "--force", "--dry-run=server"]), OK, "server dry run");
    expect(&csplease(cluster, &["hold", &name, "--holder", &a, "--force", "--dry-run=client"]), OK, "client dry run");
    assert_eq!(resource_version(cluster, &name), rv, "none of the above wrote anything");

    // An annotation key the API server refuses: a clear error at once, not ten retries (counted
    // in the request log of `-v 6`, not timed: a busy machine must not decide this).
    let bad_key =
        csplease(cluster, &["hold", &name, "--holder", &a, "--force", "--lease-key", "not a key!", "-v", "6"]);
    expect(&bad_key, ERROR, "invalid lease key");
    assert!(bad_key.stderr.contains("refused"), "{}", bad_key.stderr);
    let patches = bad_key.stderr.lines().filter(|l| l.contains(" PATCH ")).count();
    assert_eq!(patches, 1, "one patch, not retried as a lost race:\n{}", bad_key.stderr);
    assert_eq!(resource_version(cluster, &name), rv);

    // --force repairs it.
    expect(&csplease(cluster, &["hold", &name, "--holder", &a, "--force"]), OK, "forced repair");
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 1)));

    // Someone without rights: forbidden, naming the user and the verb.
    let forbidden = csplease(cluster, &["status", &name, "--as", "nobody"]);
    expect(&forbidden, ERROR, "forbidden");
    assert!(forbidden.stderr.contains("forbidden") && forbidden.stderr.contains("nobody"), "{}", forbidden.stderr);

    // Server gone: the same kubeconfig with the server moved to a closed port.
    let config = std::fs::read_to_string(cluster.admin_kubeconfig()).expect("kubeconfig");
    let server =
        config.lines().find_map(|l| l.trim().strip_prefix("server: ")).expect("a server line").trim().to_owned();
    let gone = cluster.admin_kubeconfig().with_file_name(format!("gone-{}.kubeconfig", std::process::id()));
    std::fs::write(&gone, config.replace(&server, "https://127.0.0.1:1")).expect("write kubeconfig");
    let mut cmd = plugin(cluster, Identity::Admin, &["hold", &name, "--holder", &a]);
    cmd.env("KUBECONFIG", &gone);
    let down = run(cmd);
    let _ = std::fs::remove_file(&gone);
    expect(&down, ERROR, "server gone");
    assert!(down.stderr.contains("connection refused"), "{}", down.stderr);

    // TLS: a kubeconfig that trusts the wrong CA (its own client certificate).
    let value =
        |key: &str| config.lines().find_map(|l| l.trim().strip_prefix(key)).map(|v| v.trim().to_owned()).expect(key);
    let (ca, cert) = (value("certificate-authority:"), value("client-certificate:"));
    let wrong_ca = cluster.admin_kubeconfig().with_file_name(format!("wrong-ca-{}.kubeconfig", std::process::id()));
    std::fs::write(&wrong_ca, config.replace(&ca, &cert)).expect("write kubeconfig");
    let mut cmd = plugin(cluster, Identity::Admin, &["hold", &name, "--holder", &a]);
    cmd.env("KUBECONFIG", &wrong_ca);
    let tls = run(cmd);
    let _ = std::fs::remove_file(&wrong_ca);
    expect(&tls, ERROR, "TLS failure");
    assert!(tls.stderr.starts_with("error: TLS with the API server"), "{}", tls.stderr);

    let timeout = csplease(cluster, &["status", &name, "--request-timeout", "1ms"]);
    expect(&timeout, ERROR, "request timeout");
    assert!(timeout.stderr.contains("did not answer in time"), "{}", timeout.stderr);
}

#[test]
fn plugin_restricted_identity_can_do_everything_it_needs() {
    let Some(cluster) = live("plugin_restricted_identity_can_do_everything_it_needs") else {
        return;
    };
    let ns = namespace(cluster, "rbac");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-rbac");
    csp(cluster, &name, None);
    let node = unique("node");
    cluster.apply(&json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}));
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
        "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    cluster
        .kubectl_ok(&["patch", "node", &node, "--subresource=status", "--type=merge", "-p", &ready.to_string()], None);
    pods_on(cluster, &ns, &["pool-a".into(), "pool-b".into()], "Running", &node);

    let as_plugin = |args: &[&str]| run(plugin(cluster, Identity::Restricted, args));
    let no_warning = |r: &Run, what: &str| assert!(!r.stderr.contains("Warning"), "{what}: {}", r.stderr);

    let hold = as_plugin(&["hold", &name, "--holder", &a]);
    expect(&hold, OK, "hold as the restricted identity");
    no_warning(&hold, "the Event is recorded");
    let wide = as_plugin(&["status", "-o", "wide"]);
    expect(&wide, OK, "status -o wide");
    no_warning(&wide, "pods and nodes are listed");
    let row = wide.stdout.lines().find(|l| l.starts_with(&name)).expect("a row for the pool");
    assert!(row.contains(&a) && row.contains(&node) && row.ends_with("True"), "NODE and NODE-READY: {row}");
    let denied = as_plugin(&["hold", &name, "--holder", &b]);
    expect(&denied, DENIED, "the holder lookup (get pod) is allowed");
    set_phase(cluster, &ns, "pool-a", "Succeeded");
    let takeover = as_plugin(&["hold", &name, "--holder", &b]);
    expect(&takeover, OK, "takeover");
    no_warning(&takeover, "takeover");
    expect(&as_plugin(&["hold", &name, "--holder", &a, "--dry-run=server"]), DENIED, "server dry run");
    let release = as_plugin(&["release", &name, "--holder", &b]);
    expect(&release, OK, "release");
    no_warning(&release, "release");
    expect(&as_plugin(&["hold", &name, "--holder", &b]), OK, "hold again");
    let broken = as_plugin(&["release", &name, "--force"]);
    expect(&broken, OK, "release --force");
    no_warning(&broken, "release --force");
    expect(&as_plugin(&["status", &name, "--holder", &a, "-o", "yaml"]), OK, "status detail");
    assert_eq!(
        event_reasons(cluster, &name),
        ["LeaseAcquired", "LeaseTakenOver", "LeaseReleased", "LeaseAcquired", "LeaseBroken"]
    );
}

#[test]
fn plugin_event_failure_is_logged_never_fatal() {
    let Some(cluster) = live("plugin_event_failure_is_logged_never_fatal") else { return };
    let ns = namespace(cluster, "noevents");
    pods(cluster, &ns, &["pool-a".into()], "Running");
    let a = format!("{ns}/pool-a");
    let name = unique("csp-noevents");
    csp(cluster, &name, None);
    // A user with the lease rights but none on events.
    let user = unique("no-events");
    cluster.apply(&json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": user},
         "rules": [{"apiGroups": ["openebs.io"], "resources": ["cstorpools"], "verbs": ["get", "list", "patch"]},
                   {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": user},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
    ]}));
    let hold = csplease(cluster, &["hold", &name, "--holder", &a, "--as", &user]);
    expect(&hold, OK, "the lease write stands without its Event");
    assert!(hold.stdout.contains("lease acquired"), "{}", hold.stdout);
    assert!(
        hold.stderr.starts_with("Warning: the lease was written, but its LeaseAcquired event was not recorded")
            && hold.stderr.contains("forbidden"),
        "{}",
        hold.stderr
    );
    assert_eq!(lease(cluster, &name), Some(lease_of(&a, 1)));
}

#[test]
fn plugin_hold_wait_takes_the_lease_when_the_holder_dies() {
    let Some(cluster) = live("plugin_hold_wait_takes_the_lease_when_the_holder_dies") else {
        return;
    };
    let ns = namespace(cluster, "wait");
    pods(cluster, &ns, &["pool-a".into(), "pool-b".into()], "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-wait");
    csp(cluster, &name, Some(&lease_of(&a, 7)));

    let gave_up = csplease(cluster, &["hold", &name, "--holder", &b, "--wait", "--timeout", "2s"]);
    expect(&gave_up, DENIED, "--wait times out while the holder lives");
    assert!(gave_up.stderr.contains("timed out after"), "{}", gave_up.stderr);

    let mut waiting = plugin(cluster, Identity::Admin, &["hold", &name, "--holder", &b, "--wait", "--timeout", "60s"]);
    let child = waiting.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starts");
    std::thread::sleep(Duration::from_secs(3));
    cluster.kubectl_ok(&["-n", &ns, "delete", "pod", "pool-a", "--grace-period=0", "--force"], None);
    let out = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(OK), "{stderr}");
    assert!(stderr.contains(&format!("held by {a}")), "plain progress lines when not a terminal: {stderr}");
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 8)));
}
