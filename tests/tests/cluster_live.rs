//! Proof that the local control plane is a real Kubernetes API server, and a record of
//! exactly what it answers to the writes the lease protocol makes.
//!
//! Runs only with `CSPLEASE_LIVE=1` (`cargo xtask test` sets it); otherwise each test
//! prints that it was skipped. Uses the real `kubectl` and raw HTTPS requests (`curl`).
//! The observed answers are written up in `tests/cluster/README.md`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use csplease_tests::cluster::{self, ControlPlane, Identity, RawResponse, TestCluster};
use serde_json::{Value, json};

const LEASE_KEY: &str = "openebs.io/csp-lease";
const LEASE_POINTER: &str = "/metadata/annotations/openebs.io~1csp-lease";
const JSON_PATCH: &str = "application/json-patch+json";
/// The whole message of a 422 for a failed JSON Patch `test` (the patch library's own
/// error text is not passed on).
const INVALID_MESSAGE: &str = "the server rejected our request due to an error in our request";

/// A CStorPool name unique to this test process and call.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl starts");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).expect("write kubectl stdin");
    }
    child.wait_with_output().expect("kubectl finishes")
}

fn ok(cmd: Command, stdin: Option<&str>) -> String {
    let out = run(cmd, stdin);
    assert!(
        out.status.success(),
        "kubectl failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Creates a CStorPool holding `lease` through `kubectl apply`, returns its JSON.
fn create_csp(c: &TestCluster, name: &str, lease: &str) -> Value {
    let csp = json!({
        "apiVersion": "openebs.io/v1alpha1",
        "kind": "CStorPool",
        "metadata": { "name": name, "annotations": { LEASE_KEY: lease } },
        "spec": { "poolSpec": { "poolType": "striped" } }
    });
    let mut cmd = c.kubectl_admin();
    cmd.args(["create", "-o", "json", "-f", "-"]);
    serde_json::from_str(&ok(cmd, Some(&csp.to_string()))).expect("created CSP is JSON")
}

fn get_csp(c: &TestCluster, name: &str) -> Value {
    let mut cmd = c.kubectl_admin();
    cmd.args(["get", "csp", name, "-o", "json"]);
    serde_json::from_str(&ok(cmd, None)).expect("CSP is JSON")
}

fn rv(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"].as_str().expect("resourceVersion").to_owned()
}

fn lease(obj: &Value) -> Option<&str> {
    obj["metadata"]["annotations"][LEASE_KEY].as_str()
}

fn csp_path(name: &str) -> String {
    format!("/apis/openebs.io/v1alpha1/cstorpools/{name}")
}

fn patch(c: &TestCluster, who: Identity, name: &str, patch: &Value) -> RawResponse {
    c.request(who, "PATCH", &csp_path(name), Some(JSON_PATCH), Some(&patch.to_string()))
        .expect("request reaches the API server")
}

fn status_of(resp: &RawResponse) -> Value {
    resp.json().unwrap_or_else(|e| panic!("error body is a Status ({e}): {}", resp.body))
}

/// Prints the server's answer so a test log shows exactly what was observed.
fn show(what: &str, resp: &RawResponse) {
    eprintln!("{what}: HTTP {} {}", resp.status, resp.body.replace('\n', ""));
}

#[test]
fn kubectl_lists_the_crd_and_a_csp_created_through_it() {
    if !cluster::live_or_skip("kubectl_lists_the_crd_and_a_csp_created_through_it") {
        return;
    }
    let c = cluster::shared();
    let mut cmd = c.kubectl_admin();
    cmd.args(["get", "crd", "cstorpools.openebs.io", "-o", "json"]);
    let crd: Value = serde_json::from_str(&ok(cmd, None)).expect("CRD is JSON");
    assert_eq!(crd["spec"]["group"], "openebs.io");
    assert_eq!(crd["spec"]["scope"], "Cluster");
    assert_eq!(crd["spec"]["names"]["kind"], "CStorPool");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["csp"]));
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");

    let name = unique("listed");
    create_csp(c, &name, r#"{"holder":"openebs/pool-0","leaderTransition":1}"#);
    let mut cmd = c.kubectl_admin();
    cmd.args(["get", "csp"]);
    let table = ok(cmd, None);
    eprintln!("kubectl get csp:\n{table}");
    assert!(table.lines().next().is_some_and(|h| h.starts_with("NAME") && h.contains("TYPE")));
    assert!(table.lines().any(|l| l.starts_with(&name) && l.contains("striped")), "{table}");

    // The version is the one we built, not something else answering on the port.
    let mut cmd = c.kubectl_admin();
    cmd.args(["get", "--raw", "/version"]);
    let version: Value = serde_json::from_str(&ok(cmd, None)).expect("version JSON");
    let expected = cluster::Versions::from_go_mods().expect("versions").kubernetes;
    assert_eq!(version["gitVersion"], expected.as_str());
}

#[test]
fn a_matching_compare_and_swap_patch_is_applied() {
    if !cluster::live_or_skip("a_matching_compare_and_swap_patch_is_applied") {
        return;
    }
    let c = cluster::shared();
    let name = unique("cas");
    let old = r#"{"holder":"openebs/pool-0","leaderTransition":1}"#;
    let new = r#"{"holder":"openebs/pool-1","leaderTransition":2}"#;
    let before = create_csp(c, &name, old);
    let resp = patch(
        c,
        Identity::Restricted,
        &name,
        &json!([
            { "op": "test", "path": LEASE_POINTER, "value": old },
            { "op": "replace", "path": LEASE_POINTER, "value": new }
        ]),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    let after = get_csp(c, &name);
    assert_eq!(lease(&after), Some(new));
    assert_ne!(rv(&after), rv(&before));
}

#[test]
fn a_failed_test_op_is_422_invalid() {
    if !cluster::live_or_skip("a_failed_test_op_is_422_invalid") {
        return;
    }
    let c = cluster::shared();
    let name = unique("test-fails");
    let current = r#"{"holder":"openebs/pool-0","leaderTransition":1}"#;
    let before = create_csp(c, &name, current);
    let body = json!([
        { "op": "test", "path": LEASE_POINTER, "value": r#"{"holder":"openebs/other","leaderTransition":1}"# },
        { "op": "replace", "path": LEASE_POINTER, "value": r#"{"holder":"openebs/pool-1","leaderTransition":2}"# }
    ]);

    let resp = patch(c, Identity::Restricted, &name, &body);
    show("failed test on the lease value", &resp);
    assert_eq!(resp.status, 422);
    let status = status_of(&resp);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["code"], 422);
    assert_eq!(status["message"], INVALID_MESSAGE);
    assert_eq!(status["details"], json!({}));

    // kubectl reports the same answer its own way.
    let mut cmd = c.kubectl_restricted();
    cmd.args(["patch", "csp", &name, "--type=json", "-p", &body.to_string()]);
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim(), format!("The request is invalid: {INVALID_MESSAGE}"));

    // Nothing was written.
    let after = get_csp(c, &name);
    assert_eq!(lease(&after), Some(current));
    assert_eq!(rv(&after), rv(&before));
}

#[test]
fn a_test_op_on_a_stale_resource_version_is_422_invalid_not_409() {
    if !cluster::live_or_skip("a_test_op_on_a_stale_resource_version_is_422_invalid_not_409") {
        return;
    }
    let c = cluster::shared();
    let name = unique("stale-test");
    let stale = rv(&create_csp(c, &name, ""));
    // Someone else writes in between: the resourceVersion moves on.
    let mut cmd = c.kubectl_admin();
    cmd.args(["annotate", "csp", &name, "example.com/touched=yes"]);
    ok(cmd, None);
    let current = get_csp(c, &name);
    assert_ne!(rv(&current), stale);

    let resp = patch(
        c,
        Identity::Restricted,
        &name,
        &json!([
            { "op": "test", "path": "/metadata/resourceVersion", "value": stale },
            { "op": "replace", "path": LEASE_POINTER, "value": r#"{"holder":"openebs/pool-1","leaderTransition":1}"# }
        ]),
    );
    show("test on a stale /metadata/resourceVersion", &resp);
    assert_eq!(resp.status, 422);
    let status = status_of(&resp);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["message"], INVALID_MESSAGE);
    assert_eq!(rv(&get_csp(c, &name)), rv(&current));

    // The same `test` with the current version goes through.
    let resp = patch(
        c,
        Identity::Restricted,
        &name,
        &json!([
            { "op": "test", "path": "/metadata/resourceVersion", "value": rv(&current) },
            { "op": "replace", "path": LEASE_POINTER, "value": r#"{"holder":"openebs/pool-1","leaderTransition":1}"# }
        ]),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
}

#[test]
fn a_patch_that_carries_a_stale_resource_version_is_409_conflict() {
    if !cluster::live_or_skip("a_patch_that_carries_a_stale_resource_version_is_409_conflict") {
        return;
    }
    let c = cluster::shared();
    let name = unique("stale-carry");
    let stale = rv(&create_csp(c, &name, ""));
    let mut cmd = c.kubectl_admin();
    cmd.args(["annotate", "csp", &name, "example.com/touched=yes"]);
    ok(cmd, None);
    let current = get_csp(c, &name);

    // A JSON Patch that sets metadata.resourceVersion makes it a precondition.
    let resp = patch(
        c,
        Identity::Restricted,
        &name,
        &json!([
            { "op": "replace", "path": "/metadata/resourceVersion", "value": stale },
            { "op": "replace", "path": LEASE_POINTER, "value": r#"{"holder":"openebs/pool-1","leaderTransition":1}"# }
        ]),
    );
    show("JSON Patch replacing /metadata/resourceVersion with a stale one", &resp);
    assert_eq!(resp.status, 409);
    let status = status_of(&resp);
    assert_eq!(status["reason"], "Conflict");
    assert_eq!(status["code"], 409);
    assert_eq!(
        status["message"],
        format!(
            "Operation cannot be fulfilled on cstorpools.openebs.io \"{name}\": the object has been \
             modified; please apply your changes to the latest version and try again"
        )
    );
    assert_eq!(status["details"], json!({ "name": name, "group": "openebs.io", "kind": "cstorpools" }));

    // So does a merge patch carrying it.
    let resp = c
        .request(
            Identity::Restricted,
            "PATCH",
            &csp_path(&name),
            Some("application/merge-patch+json"),
            Some(&json!({ "metadata": { "resourceVersion": stale, "annotations": { LEASE_KEY: "x" } } }).to_string()),
        )
        .expect("request");
    show("merge patch carrying a stale resourceVersion", &resp);
    assert_eq!(resp.status, 409);
    assert_eq!(status_of(&resp)["reason"], "Conflict");
    assert_eq!(rv(&get_csp(c, &name)), rv(&current));
}

#[test]
fn racing_compare_and_swaps_one_wins_the_rest_get_422() {
    if !cluster::live_or_skip("racing_compare_and_swaps_one_wins_the_rest_get_422") {
        return;
    }
    let c = cluster::shared();
    let name = unique("race");
    let old = r#"{"holder":"openebs/pool-0","leaderTransition":1}"#;
    let version = rv(&create_csp(c, &name, old));
    // Half guard on the value, half on the resourceVersion, all observed the same state.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (name, version) = (&name, &version);
                s.spawn(move || {
                    let new = format!(r#"{{"holder":"openebs/pool-{i}","leaderTransition":2}}"#);
                    let guard = if i % 2 == 0 {
                        json!({ "op": "test", "path": LEASE_POINTER, "value": old })
                    } else {
                        json!({ "op": "test", "path": "/metadata/resourceVersion", "value": version })
                    };
                    let body = json!([guard, { "op": "replace", "path": LEASE_POINTER, "value": new }]);
                    patch(c, Identity::Restricted, name, &body).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    eprintln!("12 racing compare-and-swaps: {statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|&s| s == 200 || s == 422), "only 200 and 422: {statuses:?}");
}

#[test]
fn a_missing_object_is_404_not_found() {
    if !cluster::live_or_skip("a_missing_object_is_404_not_found") {
        return;
    }
    let c = cluster::shared();
    let resp = patch(
        c,
        Identity::Restricted,
        "no-such-pool",
        &json!([{ "op": "test", "path": "/metadata/name", "value": "x" }]),
    );
    show("JSON Patch of a missing CStorPool", &resp);
    assert_eq!(resp.status, 404);
    let status = status_of(&resp);
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["message"], "cstorpools.openebs.io \"no-such-pool\" not found");

    let resp = c
        .request(Identity::Restricted, "GET", "/api/v1/namespaces/default/pods/no-such-pod", None, None)
        .expect("request");
    show("GET of a missing Pod", &resp);
    assert_eq!(resp.status, 404);
    assert_eq!(status_of(&resp)["message"], "pods \"no-such-pod\" not found");
}

#[test]
fn the_restricted_identity_has_only_the_plugins_rbac() {
    if !cluster::live_or_skip("the_restricted_identity_has_only_the_plugins_rbac") {
        return;
    }
    let c = cluster::shared();
    let name = unique("rbac");
    create_csp(c, &name, "");

    let can = |verb: &str, resource: &str| {
        let mut cmd = c.kubectl_restricted();
        cmd.args(["auth", "can-i", verb, resource]);
        String::from_utf8_lossy(&run(cmd, None).stdout).trim().to_owned()
    };
    for (verb, resource) in [
        ("get", "cstorpools.openebs.io"),
        ("list", "cstorpools.openebs.io"),
        ("patch", "cstorpools.openebs.io"),
        ("get", "pods"),
        ("list", "nodes"),
        ("create", "events"),
        ("patch", "events.events.k8s.io"),
    ] {
        assert_eq!(can(verb, resource), "yes", "{verb} {resource}");
    }
    for (verb, resource) in [
        ("delete", "cstorpools.openebs.io"),
        ("create", "cstorpools.openebs.io"),
        ("update", "cstorpools.openebs.io"),
        ("patch", "pods"),
        ("get", "secrets"),
    ] {
        assert_eq!(can(verb, resource), "no", "{verb} {resource}");
    }

    // It can patch (the lease write) ...
    let mut cmd = c.kubectl_restricted();
    cmd.args(["patch", "csp", &name, "--type=merge", "-p", r#"{"metadata":{"annotations":{"a":"b"}}}"#]);
    ok(cmd, None);
    // ... and is refused a delete, with the API server's own 403.
    let resp = c.request(Identity::Restricted, "DELETE", &csp_path(&name), None, None).expect("request");
    show("DELETE of a CStorPool as the restricted identity", &resp);
    assert_eq!(resp.status, 403);
    let status = status_of(&resp);
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["message"],
        format!(
            "cstorpools.openebs.io \"{name}\" is forbidden: User \"csplease-plugin\" cannot delete \
             resource \"cstorpools\" in API group \"openebs.io\" at the cluster scope"
        )
    );
    let mut cmd = c.kubectl_restricted();
    cmd.args(["delete", "csp", &name]);
    let out = run(cmd, None);
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with("Error from server (Forbidden)"), "{}", stderr(&out));
    get_csp(c, &name);
}

#[test]
fn pods_are_created_and_their_phase_set_through_the_status_subresource() {
    if !cluster::live_or_skip("pods_are_created_and_their_phase_set_through_the_status_subresource") {
        return;
    }
    let c = cluster::shared();
    let ns = unique("pods");
    c.create_namespace(&ns).expect("namespace");
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": "pool-0", "namespace": ns },
        "spec": { "containers": [{ "name": "pool", "image": "example.invalid/cstor-pool:1" }] }
    });
    let mut cmd = c.kubectl_admin();
    cmd.args(["create", "-f", "-"]);
    ok(cmd, Some(&pod.to_string()));

    // No kubelet: the phase stays Pending until a test sets it.
    let phase = || {
        let mut cmd = c.kubectl_restricted();
        cmd.args(["get", "pod", "pool-0", "-n", &ns, "-o", "jsonpath={.status.phase}"]);
        ok(cmd, None)
    };
    assert_eq!(phase(), "Pending");
    let mut cmd = c.kubectl_admin();
    cmd.args(["patch", "pod", "pool-0", "-n", &ns, "--subresource=status", "--type=merge"])
        .args(["-p", r#"{"status":{"phase":"Running"}}"#]);
    ok(cmd, None);
    assert_eq!(phase(), "Running");

    // Pod-bound service-account tokens work without a controller-manager.
    let mut cmd = c.kubectl_admin();
    cmd.args(["create", "token", "default", "-n", &ns, "--bound-object-kind=Pod", "--bound-object-name=pool-0"]);
    let token = ok(cmd, None);
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");
}

/// Set in the child process of the watchdog test.
const CRASH_CHILD: &str = "CSPLEASE_TEST_CRASH_CHILD";

#[test]
fn a_crashed_test_process_leaves_nothing_behind() {
    if !cluster::live_or_skip("a_crashed_test_process_leaves_nothing_behind") {
        return;
    }
    if std::env::var_os(CRASH_CHILD).is_some() {
        // The child: start a private cluster, say where it is, and die without cleaning up.
        let bins = cluster::Binaries::locate().expect("binaries");
        let dir = std::env::temp_dir().join(format!("csplease-crash-{}", std::process::id()));
        let cp = ControlPlane::start(&bins, &dir, cluster::Lifetime::TiedToThisProcess, &mut |_| {}).expect("start");
        let [etcd, apiserver] = cp.pids();
        println!("CRASH-CHILD {} {etcd} {apiserver}", cp.dir().display());
        std::mem::forget(cp);
        std::process::abort();
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args(["--exact", "a_crashed_test_process_leaves_nothing_behind", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD, "1")
        .output()
        .expect("child test process runs");
    assert!(!out.status.success(), "the child aborted");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("CRASH-CHILD ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("child output: {stdout}\n{}", stderr(&out)));
    let mut words = line.rsplitn(3, ' ');
    let (apiserver, etcd, dir) = (words.next().expect("pid"), words.next().expect("pid"), words.next().expect("dir"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let gone = |pid: &str| {
        !Path::new(&format!("/proc/{pid}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid}/cmdline")).map(|c| c.is_empty()).unwrap_or(true)
    };
    while Instant::now() < deadline && !(gone(etcd) && gone(apiserver) && !Path::new(dir).exists()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gone(etcd), "etcd {etcd} still runs");
    assert!(gone(apiserver), "kube-apiserver {apiserver} still runs");
    assert!(!Path::new(dir).exists(), "{dir} still exists");
}
