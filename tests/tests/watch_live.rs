//! `kubectl csplease status --watch` and `hold --wait` (which waits by watching), through the real
//! `kubectl` against a real kube-apiserver.
//!
//! Runs only with `CSPLEASE_LIVE=1` (`cargo xtask test` sets it); otherwise each test prints that
//! it was skipped. There is no kubelet: pods are created and their `status.phase` is set through
//! the status subresource. The timings of `hold_wait_wake_up_latency` and
//! `status_watch_row_latency` are measurements (they are ignored by default), never assertions:
//! the only time limits here are generous hang bounds.
//!
//! The tests that restart kube-apiserver, or run it with other flags (to make a watch expire),
//! start a private control plane, so the shared one is never disturbed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use csplease_tests::cluster::{self, Identity, TestCluster};
use csplease_tests::fixture::{Csp, LEASE_KEY, Pods, get_csp, lease, lease_of, namespace, set_phase, unique};
use csplease_tests::plugin::through_kubectl;
use csplease_tests::proxy::{Fault, Proxy};
use csplease_tests::running::{HANG, Running, median_and_max};

fn live(test: &str) -> Option<&'static TestCluster> {
    cluster::live_or_skip(test).then(cluster::shared)
}

fn plugin(cluster: &TestCluster, args: &[&str]) -> Command {
    csplease_tests::plugin::through_kubectl(cluster.kubectl(Identity::Admin), args)
}

fn plugin_as(cluster: &TestCluster, who: Identity, args: &[&str]) -> Command {
    csplease_tests::plugin::through_kubectl(cluster.kubectl(who), args)
}

fn csplease_ok(cluster: &TestCluster, args: &[&str]) -> String {
    let out = plugin(cluster, args).stdin(Stdio::null()).output().expect("kubectl runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The cells of a table row.
fn cells(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[test]
fn status_watch_shows_a_hold_a_failing_holder_and_a_release_then_stops_on_ctrl_c() {
    let Some(cluster) = live("status_watch_shows_a_hold_a_failing_holder_and_a_release_then_stops_on_ctrl_c") else {
        return;
    };
    let ns = namespace(cluster, "watch");
    Pods::new(&ns, &["pool-a"]).create(cluster, "Running");
    let a = format!("{ns}/pool-a");
    let name = unique("csp-watch");
    Csp::named(&name).create(cluster);

    let mut watch = Running::start(plugin(cluster, &["status", &name, "--watch"]));
    let header = watch.line("header", |l| l.starts_with("NAME"));
    assert_eq!(cells(&header), ["NAME", "HOLDER", "TRANSITIONS", "HOLDER-PHASE", "LIVE", "AGE"]);
    let first = watch.line("the vacant lease", |l| l.starts_with(&name));
    assert_eq!(cells(&first)[1..5], ["<none>", "0", "<none>", "<none>"], "{first}");

    csplease_ok(cluster, &["hold", &name, "--holder", &a]);
    let held = watch.line("the hold", |l| l.starts_with(&name));
    assert_eq!(cells(&held)[1..5], [a.as_str(), "1", "Running", "true"], "{held}");

    set_phase(cluster, &ns, "pool-a", "Failed");
    let failed = watch.line("the holder failing", |l| l.starts_with(&name));
    assert_eq!(cells(&failed)[1..5], [a.as_str(), "1", "Failed", "false"], "{failed}");

    csplease_ok(cluster, &["release", &name, "--force"]);
    let released = watch.line("the release", |l| l.starts_with(&name));
    assert_eq!(cells(&released)[1..3], ["<released>", "1"], "{released}");

    // An unrelated change to the CStorPool (a label) changes no row: nothing is printed for it.
    cluster.kubectl_ok(&["label", "csp", &name, "unrelated=yes"], None);
    csplease_ok(cluster, &["hold", &name, "--holder", &a, "--force"]);
    let again = watch.line("the next change", |l| l.starts_with(&name));
    assert_eq!(cells(&again)[1..3], [a.as_str(), "2"], "the label printed no row: {again}");

    assert_eq!(watch.interrupt(), Some(0), "Ctrl-C stops it cleanly");
}

#[test]
fn status_watch_json_prints_one_document_per_line_for_every_pool() {
    let Some(cluster) = live("status_watch_json_prints_one_document_per_line_for_every_pool") else {
        return;
    };
    let ns = namespace(cluster, "watchjson");
    Pods::new(&ns, &["pool-a"]).create(cluster, "Running");
    let a = format!("{ns}/pool-a");
    let name = unique("csp-watchjson");
    Csp::named(&name).create(cluster);

    let mut watch = Running::start(plugin(cluster, &["status", "--watch", "-o", "json"]));
    let is_mine = |l: &str| {
        let doc: serde_json::Value = serde_json::from_str(l).expect("one JSON document per line");
        doc["name"] == name.as_str()
    };
    let first: serde_json::Value = serde_json::from_str(&watch.line("the pool", is_mine)).expect("JSON");
    assert!(first["before"].is_null(), "{first}");

    csplease_ok(cluster, &["hold", &name, "--holder", &a]);
    let held: serde_json::Value = serde_json::from_str(&watch.line("the hold", is_mine)).expect("JSON");
    assert_eq!(held["before"]["holder"], a.as_str(), "{held}");
    assert_eq!(held["live"], true, "{held}");

    set_phase(cluster, &ns, "pool-a", "Failed");
    let failed: serde_json::Value = serde_json::from_str(&watch.line("the holder failing", is_mine)).expect("JSON");
    assert_eq!(failed["live"], false, "{failed}");

    assert_eq!(watch.interrupt(), Some(0));
}

#[test]
fn the_restricted_identity_of_deploy_rbac_can_watch() {
    let Some(cluster) = live("the_restricted_identity_of_deploy_rbac_can_watch") else {
        return;
    };
    let ns = namespace(cluster, "watchrbac");
    Pods::new(&ns, &["pool-a"]).create(cluster, "Running");
    let a = format!("{ns}/pool-a");
    let name = unique("csp-watchrbac");
    Csp::named(&name).create(cluster);

    let mut watch = Running::start(plugin_as(cluster, Identity::Restricted, &["status", &name, "--watch"]));
    watch.line("the vacant lease", |l| l.starts_with(&name));
    csplease_ok(cluster, &["hold", &name, "--holder", &a]);
    let held = watch.line("the hold", |l| l.starts_with(&name));
    assert_eq!(cells(&held)[1..5], [a.as_str(), "1", "Running", "true"], "{held}");
    set_phase(cluster, &ns, "pool-a", "Failed");
    let failed = watch.line("the holder failing", |l| l.starts_with(&name));
    assert_eq!(cells(&failed)[3..5], ["Failed", "false"], "{failed}");
    let stderr = watch.pending_errors();
    assert!(stderr.is_empty(), "no broken watch: {stderr:#?}");
    assert_eq!(watch.interrupt(), Some(0));
}

#[test]
fn hold_wait_takes_over_when_the_holder_pod_fails() {
    let Some(cluster) = live("hold_wait_takes_over_when_the_holder_pod_fails") else {
        return;
    };
    let ns = namespace(cluster, "waitwatch");
    Pods::new(&ns, &["pool-a", "pool-b"]).create(cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-waitwatch");
    Csp::named(&name).lease(&lease_of(&a, 4)).create(cluster);

    let mut waiting = Running::start(plugin(cluster, &["hold", &name, "--holder", &b, "--wait", "--timeout", "10m"]));
    waiting.error_line("of waiting", |l| l.contains(&format!("held by {a}")));
    // A change that does not free the lease (a label) wakes it, and it waits on.
    cluster.kubectl_ok(&["label", "csp", &name, "unrelated=yes"], None);
    std::thread::sleep(Duration::from_millis(500));
    assert!(waiting.is_running(), "still waiting while pool-a runs");
    set_phase(cluster, &ns, "pool-a", "Failed");
    assert_eq!(waiting.wait(), Some(0));
    assert_eq!(lease(cluster, &name), Some(lease_of(&b, 5)));
}

#[test]
fn status_watch_carries_on_after_the_api_server_restarts() {
    if !cluster::live_or_skip("status_watch_carries_on_after_the_api_server_restarts") {
        return;
    }
    let mut cp = cluster::private_control_plane("watch-restart", &[]);
    let cluster = TestCluster::of(&cp);
    let ns = namespace(&cluster, "watchrestart");
    Pods::new(&ns, &["pool-a", "pool-b"]).create(&cluster, "Running");
    let (a, b) = (format!("{ns}/pool-a"), format!("{ns}/pool-b"));
    let name = unique("csp-watchrestart");
    Csp::named(&name).lease(&lease_of(&a, 1)).create(&cluster);

    let mut watch = Running::start(plugin(&cluster, &["status", &name, "--watch"]));
    let first = watch.line("the lease held by pool-a", |l| l.starts_with(&name));
    assert_eq!(cells(&first)[1..5], [a.as_str(), "1", "Running", "true"], "{first}");
    // Both watches (the CStorPool's and the holder's pods') run before the restart.
    set_phase(&cluster, &ns, "pool-a", "Failed");
    let failed = watch.line("the holder failing", |l| l.starts_with(&name));
    assert_eq!(cells(&failed)[1..5], [a.as_str(), "1", "Failed", "false"], "{failed}");

    // Let the reads that follow a change end first: one that the kill cuts half way (the
    // CStorPool read, the holder's lookup failed) would print a row with `LookupFailed` first.
    std::thread::sleep(Duration::from_secs(1));

    cp.kill_apiserver().expect("kube-apiserver killed");
    watch.error_line("saying that the watch broke", |l| l.starts_with("Warning: the watch broke, resuming"));
    cp.restart_apiserver().expect("kube-apiserver restarted (etcd kept the data)");

    csplease_ok(&cluster, &["hold", &name, "--holder", &b]);
    let rows = watch.seen().len();
    let taken = watch.line("the takeover after the restart", |l| l.starts_with(&name) && cells(l)[1] == b);
    assert_eq!(cells(&taken)[1..5], [b.as_str(), "2", "Running", "true"], "{taken}");
    let between = &watch.seen()[rows..watch.seen().len() - 1];
    if !between.is_empty() {
        eprintln!("rows before the takeover's, after the restart: {between:#?}");
    }
    if !watch.errors().iter().any(|l| l == "The watch resumed.") {
        watch.error_line("saying that the watch resumed", |l| l == "The watch resumed.");
    }
    assert!(watch.is_running(), "still watching after the restart");
    assert_eq!(watch.interrupt(), Some(0), "Ctrl-C stops it cleanly");
    cp.stop().expect("stopped");
}

/// Whether `line` (the plugin's `-v 6` log) is a watch of the CStorPools from `version`.
fn watches_pools_from(line: &str, version: &str) -> bool {
    line.contains("/cstorpools?")
        && line.contains("watch=true")
        && line.contains(&format!("&resourceVersion={version} "))
}

/// A real `410 Gone`: kube-apiserver serves watches from etcd (`--watch-cache=false`) and compacts
/// etcd's history every second (`--etcd-compaction-interval=1s`); the plugin talks to it through a
/// proxy that cuts the CStorPool watch's connection. The watch resumes from the version it last
/// saw, which etcd no longer has, so the API server answers `410 Gone` (`Expired`): the plugin
/// reads the lease again, watches again from the current state, and shows the next change.
#[test]
fn status_watch_reads_again_after_its_watch_expires() {
    if !cluster::live_or_skip("status_watch_reads_again_after_its_watch_expires") {
        return;
    }
    let mut cp =
        cluster::private_control_plane("watch-expiry", &["--watch-cache=false", "--etcd-compaction-interval=1s"]);
    let cluster = TestCluster::of(&cp);
    let ns = namespace(&cluster, "watchexpiry");
    Pods::new(&ns, &["pool-a"]).create(&cluster, "Running");
    let a = format!("{ns}/pool-a");
    let name = unique("csp-watchexpiry");
    Csp::named(&name).lease(&lease_of(&a, 1)).create(&cluster);
    let (proxy, via) = Proxy::in_front_of(cluster.admin_kubeconfig()).expect("a proxy");

    let mut watch = Running::start(through_kubectl(cluster::kubectl(&via), &["status", &name, "--watch", "-v", "6"]));
    watch.line("the lease held by pool-a", |l| l.starts_with(&name));
    watch.error_line("of the first watch, from the current state", |l| watches_pools_from(l, "0"));
    // A lease change, written past the proxy: once its row is printed, the plugin's watch of the
    // CStorPool has seen the version it will resume from.
    let key = format!("{LEASE_KEY}={}", lease_of(&a, 2));
    cluster.kubectl_ok(&["annotate", "csp", &name, "--overwrite", &key], None);
    let changed = watch.line("the lease change", |l| l.starts_with(&name));
    assert_eq!(cells(&changed)[1..3], [a.as_str(), "2"], "{changed}");
    let seen = get_csp(&cluster, &name)["metadata"]["resourceVersion"].as_str().expect("a resourceVersion").to_owned();

    // Wait until etcd's history no longer has that version: a watch from it is answered 410.
    let path = format!(
        "/apis/openebs.io/v1alpha1/cstorpools?watch=true&resourceVersion={seen}&fieldSelector=metadata.name%3D{name}&timeoutSeconds=1"
    );
    let deadline = Instant::now() + HANG;
    loop {
        let answer = cluster.request(Identity::Admin, "GET", &path, None, None).expect("a watch request");
        if answer.body.contains(r#""code":410"#) {
            break;
        }
        assert!(Instant::now() < deadline, "version {seen} still not compacted (hang bound {HANG:?}): {}", answer.body);
        std::thread::sleep(Duration::from_millis(200));
    }

    // Cut the connection of the next answer the plugin gets: the CStorPool watch's, carrying the
    // event of a change that changes no row (a label).
    proxy.set_fault(Fault::Cut { client_bytes: 0, server_bytes: 0 });
    cluster.kubectl_ok(&["label", "csp", &name, "unrelated=yes"], None);
    watch.error_line(&format!("of the watch resuming from version {seen}"), |l| watches_pools_from(l, &seen));
    assert_eq!(proxy.strikes(), 1, "one connection cut");
    let read = format!("/cstorpools/{name} ");
    watch.error_line("of the lease read again after the 410", |l| l.contains(" GET https://") && l.contains(&read));
    watch.error_line("of the watch starting again from the current state", |l| watches_pools_from(l, "0"));

    csplease_ok(&cluster, &["release", &name, "--force"]);
    let released = watch.line("the release after the 410", |l| l.starts_with(&name));
    assert_eq!(cells(&released)[1..3], ["<released>", "2"], "{released}");
    assert!(watch.is_running(), "still watching after the 410");
    assert_eq!(watch.interrupt(), Some(0), "Ctrl-C stops it cleanly");
    cp.stop().expect("stopped");
}

/// The measurement for BENCHMARKS.md: from the holder pod's phase becoming Failed to the waiting
/// `hold --wait` having written the takeover (its exit, which comes right after the write and its
/// Event), over 20 runs. Prints the figures; asserts only that each takeover happened.
///
/// `CSPLEASE_LIVE=1 cargo test -p csplease-tests --test watch_live -- --ignored --nocapture`
#[test]
#[ignore = "a measurement: run it by hand for BENCHMARKS.md"]
fn hold_wait_wake_up_latency() {
    let Some(cluster) = live("hold_wait_wake_up_latency") else {
        return;
    };
    let ns = namespace(cluster, "waitbench");
    let (mut from_patch_start, mut from_patch_end) = (Vec::new(), Vec::new());
    for run in 0..20 {
        let (pa, pb) = (format!("a{run}"), format!("b{run}"));
        Pods::new(&ns, &[pa.as_str(), pb.as_str()]).create(cluster, "Running");
        let (a, b) = (format!("{ns}/{pa}"), format!("{ns}/{pb}"));
        let name = unique("csp-waitbench");
        Csp::named(&name).lease(&lease_of(&a, 1)).create(cluster);
        let mut waiting =
            Running::start(plugin(cluster, &["hold", &name, "--holder", &b, "--wait", "--timeout", "10m"]));
        waiting.error_line("of waiting", |l| l.contains("held by"));
        // Let the watch be established (the first denial comes before it).
        std::thread::sleep(Duration::from_secs(1));
        let start = Instant::now();
        set_phase(cluster, &ns, &pa, "Failed");
        let end = Instant::now();
        assert_eq!(waiting.wait(), Some(0));
        let exited = Instant::now();
        from_patch_start.push(exited - start);
        from_patch_end.push(exited - end);
        assert_eq!(lease(cluster, &name), Some(lease_of(&b, 2)));
    }
    let summary = |times| median_and_max(times, 0);
    println!(
        "hold --wait, holder Failed -> takeover written, 20 runs: from the status patch's answer: {}; \
         from the start of `kubectl patch`: {}",
        summary(from_patch_end),
        summary(from_patch_start)
    );
}

/// The measurement for BENCHMARKS.md: from a lease change being written to its row on the stdout
/// of `status CSP --watch`, over 20 changes. Each change is a merge patch of the lease annotation
/// (a new `leaderTransition`) sent with `curl`; its moment lies between the start of `curl` and
/// its answer, and the figures are given from both. Prints them; asserts only that each row shows
/// its change.
///
/// `CSPLEASE_LIVE=1 cargo test -p csplease-tests --test watch_live -- --ignored --nocapture status_watch_row_latency`
#[test]
#[ignore = "a measurement: run it by hand for BENCHMARKS.md"]
fn status_watch_row_latency() {
    let Some(cluster) = live("status_watch_row_latency") else {
        return;
    };
    let ns = namespace(cluster, "watchbench");
    Pods::new(&ns, &["pool-a"]).create(cluster, "Running");
    let a = format!("{ns}/pool-a");
    let name = unique("csp-watchbench");
    Csp::named(&name).lease(&lease_of(&a, 1)).create(cluster);
    let mut watch = Running::start(plugin(cluster, &["status", &name, "--watch"]));
    watch.line("the first row", |l| l.starts_with(&name));
    // Let the watches be established (the first row comes before them).
    std::thread::sleep(Duration::from_secs(1));
    let path = format!("/apis/openebs.io/v1alpha1/cstorpools/{name}");
    let (mut from_start, mut from_answer) = (Vec::new(), Vec::new());
    for transitions in 2..22 {
        let patch = serde_json::json!({"metadata": {"annotations": {LEASE_KEY: lease_of(&a, transitions)}}});
        let start = Instant::now();
        let answer = cluster
            .request(Identity::Admin, "PATCH", &path, Some("application/merge-patch+json"), Some(&patch.to_string()))
            .expect("curl runs");
        let end = Instant::now();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let (at, row) = watch.line_at("the change", |l| l.starts_with(&name));
        assert_eq!(cells(&row)[1..3], [a.as_str(), transitions.to_string().as_str()], "{row}");
        from_start.push(at - start);
        from_answer.push(at.saturating_duration_since(end));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(watch.interrupt(), Some(0));
    let summary = |times| median_and_max(times, 1);
    println!(
        "status --watch, lease patched -> its row on stdout, 20 runs: from the patch's answer: {}; \
         from the start of `curl`: {}",
        summary(from_answer),
        summary(from_start)
    );
}

/// A row whose holder could not be looked up is read again without waiting for a change: here
/// the identity may list and watch pods but not get one at first (every lookup is refused while
/// the watches work), then is allowed to, and the row turns from `LookupFailed` to the pod's
/// phase with no change to the lease or the pod, so no watch event.
#[test]
fn status_watch_reads_again_after_a_holder_lookup_failed() {
    let Some(cluster) = live("status_watch_reads_again_after_a_holder_lookup_failed") else {
        return;
    };
    let ns = namespace(cluster, "watch-lookup");
    Pods::new(&ns, &["pool-a"]).create(cluster, "Running");
    let a = format!("{ns}/pool-a");
    let name = unique("csp-lookup");
    Csp::named(&name).lease(&lease_of(&a, 1)).create(cluster);
    let user = unique("csplease-watcher");
    let rbac = |kind: &str, rules: serde_json::Value| {
        let role = serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
            "metadata": {"name": user, "namespace": ns}, "rules": rules});
        cluster.apply(&role);
        let binding_kind = format!("{kind}Binding");
        cluster.apply(&serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding_kind,
            "metadata": {"name": user, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": user},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}));
    };
    rbac(
        "ClusterRole",
        serde_json::json!([{"apiGroups": ["openebs.io"], "resources": ["cstorpools"], "verbs": ["get", "list", "watch"]},
                           {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]}]),
    );

    let mut watch = Running::start(plugin(cluster, &["status", &name, "--watch", "--as", &user]));
    let first = watch.line("the row", |l| l.starts_with(&name));
    assert_eq!(cells(&first)[1..5], [a.as_str(), "1", "LookupFailed", "true"], "{first}");

    rbac("Role", serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]));
    let row = watch.line("the row read again", |l| l.starts_with(&name));
    assert_eq!(cells(&row)[1..5], [a.as_str(), "1", "Running", "true"], "{row}");
    assert_eq!(watch.interrupt(), Some(0));
    cluster.kubectl_ok(&["delete", "clusterrole,clusterrolebinding", &user], None);
}
