//! The plugin's library, `CspLease`, in-process against a real kube-apiserver: `update` is a
//! compare-and-swap, and each command costs exactly the requests it needs (counted by the
//! client's own trace).
//!
//! Runs only with `CSPLEASE_LIVE=1` (`cargo xtask test` sets it).

use std::sync::atomic::{AtomicU32, Ordering};

use csp_lease::{Write, observe};
use csplease_tests::cluster::{self, TestCluster};
use kubectl_csplease::{Connected, Connection};
use lease_logic::{DEFAULT_LEASE_KEY, Outcome, PodRef};
use serde_json::{Value, json};

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Namespace `ns` with Running pods `names`, and a CStorPool `csp` with `lease` when given.
fn fixtures(cluster: &TestCluster, ns: &str, names: &[&str], csp: &str, lease: Option<&str>) {
    cluster.create_namespace(ns).expect("a namespace");
    let mut items: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                   "spec": {"nodeName": "node-1", "containers": [{"name": "pool", "image": "openebs/cstor-pool:3.6.0"}]}})
        })
        .collect();
    let mut metadata = json!({"name": csp});
    if let Some(lease) = lease {
        metadata["annotations"] = json!({ DEFAULT_LEASE_KEY: lease });
    }
    items.push(json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": metadata}));
    cluster.kubectl_ok(
        &["apply", "-f", "-"],
        Some(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()),
    );
    for name in names {
        let patch = json!({"status": {"phase": "Running"}}).to_string();
        cluster
            .kubectl_ok(&["-n", ns, "patch", "pod", name, "--subresource=status", "--type=merge", "-p", &patch], None);
    }
}

fn connect(cluster: &TestCluster, runtime: &tokio::runtime::Runtime) -> Connected {
    let connection = Connection { kubeconfig: Some(cluster.admin_kubeconfig().to_path_buf()), ..Connection::default() };
    runtime.block_on(connection.connect()).expect("a client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

#[test]
fn plugin_library_update_is_a_compare_and_swap() {
    if !cluster::live_or_skip("plugin_library_update_is_a_compare_and_swap") {
        return;
    }
    let cluster = cluster::shared();
    let ns = unique("lib");
    let csp = unique("csp-lib");
    fixtures(cluster, &ns, &["pool-a", "pool-b"], &csp, None);
    let a: PodRef = format!("{ns}/pool-a").parse().expect("a pod");
    let b: PodRef = format!("{ns}/pool-b").parse().expect("a pod");
    let rt = runtime();
    let lease = connect(cluster, &rt).lease();

    rt.block_on(async {
        // A decides on what it read ...
        let object = lease.get(&csp).await.expect("read");
        let stale = lease_logic::hold(&observe(&object, DEFAULT_LEASE_KEY), &a, None, false);
        assert_eq!(stale.outcome, Outcome::Acquired);
        // ... B takes the lease meanwhile ...
        let report = lease.hold(&csp, &b, false).await.expect("B's hold");
        assert_eq!(report.decision.outcome, Outcome::Acquired);
        assert!(matches!(report.write, Write::Written { .. }));
        // ... so A's write is refused, never applied.
        let refused = lease.update(&csp, &stale).await.expect_err("a stale decision");
        assert!(refused.is_lost_race(), "{refused}");
        // A reads again, looks B up and is denied.
        let again = lease.hold(&csp, &a, false).await.expect("A's hold");
        assert_eq!(again.decision.outcome, Outcome::Denied);
        assert_eq!(again.rounds, 1);
        // B's release goes through; A's release of B's lease would not have.
        let denied = lease.release(&csp, Some(&a), false).await.expect("A's release");
        assert_eq!(denied.decision.outcome, Outcome::Denied);
        let released = lease.release(&csp, Some(&b), false).await.expect("B's release");
        assert_eq!(released.decision.outcome, Outcome::Released);
    });
    let value = cluster
        .kubectl_ok(&["get", "csp", &csp, "-o", "jsonpath={.metadata.annotations.openebs\\.io/csp-lease}"], None);
    assert_eq!(value, format!(r#"{{"holder":"","leaderTransition":1}}"#));
}

#[test]
fn plugin_library_requests_per_command() {
    if !cluster::live_or_skip("plugin_library_requests_per_command") {
        return;
    }
    let cluster = cluster::shared();
    let ns = unique("reqs");
    let (vacant, dead) = (unique("csp-vacant"), unique("csp-dead"));
    fixtures(cluster, &ns, &["pool-a"], &vacant, None);
    let gone = format!(r#"{{"holder":"{ns}/gone","leaderTransition":4}}"#);
    fixtures(cluster, &format!("{ns}-x"), &[], &dead, Some(&gone));
    let a: PodRef = format!("{ns}/pool-a").parse().expect("a pod");
    let rt = runtime();
    let connected = connect(cluster, &rt);
    let count = |f: &dyn Fn() -> Outcome| {
        let before = connected.log.count();
        let outcome = f();
        (outcome, connected.log.count() - before)
    };
    let quiet = connected.lease().with_events(false);
    let recorded = connected.lease();

    // The lease's own requests: hold is 2 without a lookup, 3 with one.
    assert_eq!(
        count(&|| rt.block_on(quiet.hold(&vacant, &a, false)).expect("hold").decision.outcome),
        (Outcome::Acquired, 2)
    );
    assert_eq!(
        count(&|| rt.block_on(quiet.hold(&vacant, &a, false)).expect("hold").decision.outcome),
        (Outcome::AlreadyHeld, 1)
    );
    assert_eq!(
        count(&|| rt.block_on(quiet.hold(&dead, &a, false)).expect("hold").decision.outcome),
        (Outcome::TakenOver, 3)
    );
    // The Event the plugin records on every write is one request more.
    assert_eq!(
        count(&|| rt.block_on(recorded.release(&vacant, Some(&a), false)).expect("release").decision.outcome),
        (Outcome::Released, 3)
    );
    assert_eq!(count(&|| rt.block_on(recorded.status(&dead)).expect("status").decision.outcome), (Outcome::Held, 2));
    assert_eq!(count(&|| rt.block_on(recorded.list(true)).map(|_| Outcome::Held).expect("list")), (Outcome::Held, 2));
}
