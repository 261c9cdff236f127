//! Faults under `kubectl csplease`, against a real kube-apiserver, through the real `kubectl`:
//! kube-apiserver killed and restarted, etcd frozen, a slow link, a response that stops half way,
//! a connection cut after the patch reached the server. In every case the plugin ends within its
//! limits with a clear one-line error or the lease it asked for, and the lease is left exactly as
//! one of the protocol's legal outcomes leaves it: never half-written, never written twice.
//!
//! The tests that kill or freeze a server start a private control plane (about 5 s) so the
//! shared one, used by other tests at the same time, is never disturbed. The link faults go
//! through [`csplease_tests::proxy`], a TCP proxy that passes TLS through untouched.
//!
//! Runs only with `CSPLEASE_LIVE=1`: `CSPLEASE_LIVE=1 cargo test -p csplease-tests --test faults_live`.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use csplease_tests::cluster::{self, ControlPlane};
use csplease_tests::proxy::{Fault, Proxy};
use serde_json::{Value, json};

const LEASE_KEY: &str = "openebs.io/csp-lease";
const OK: i32 = 0;
const ERROR: i32 = 1;

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

fn lease_of(holder: &str, n: i64) -> String {
    format!(r#"{{"holder":"{holder}","leaderTransition":{n}}}"#)
}

/// `kubectl ARGS` with `kubeconfig`; its stdout, or a panic naming what failed.
fn kubectl_ok(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write as _;
    let mut cmd = cluster::kubectl(kubeconfig);
    cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("kubectl starts");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).expect("kubectl stdin");
    }
    let out = child.wait_with_output().expect("kubectl ends");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn apply(kubeconfig: &Path, object: &Value) {
    kubectl_ok(kubeconfig, &["apply", "-f", "-"], Some(&object.to_string()));
}

/// A CStorPool with `annotations` (created, not applied: `apply` would copy them into its
/// last-applied annotation, doubling their size).
fn csp(kubeconfig: &Path, name: &str, annotations: &Value) {
    let object = json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
                        "metadata": {"name": name, "annotations": annotations},
                        "spec": {"poolSpec": {"poolType": "striped"}}});
    kubectl_ok(kubeconfig, &["create", "-f", "-"], Some(&object.to_string()));
}

fn get_csp(kubeconfig: &Path, name: &str) -> Value {
    serde_json::from_str(&kubectl_ok(kubeconfig, &["get", "csp", name, "-o", "json"], None)).expect("JSON")
}

fn lease(kubeconfig: &Path, name: &str) -> Option<String> {
    get_csp(kubeconfig, name)["metadata"]["annotations"][LEASE_KEY].as_str().map(str::to_owned)
}

/// Pods `names` in namespace `default` with phase `phase`.
fn pods(kubeconfig: &Path, names: &[&str], phase: &str) {
    let items: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                   "spec": {"nodeName": "node-1", "containers": [{"name": "pool", "image": "openebs/cstor-pool:3.6.0"}]}})
        })
        .collect();
    apply(kubeconfig, &json!({"apiVersion": "v1", "kind": "List", "items": items}));
    let patch = json!({"status": {"phase": phase}}).to_string();
    for name in names {
        kubectl_ok(kubeconfig, &["patch", "pod", name, "--subresource=status", "--type=merge", "-p", &patch], None);
    }
}

/// `kubectl csplease ARGS` with `kubeconfig`, the plugin on PATH and no pod environment.
fn plugin(kubeconfig: &Path, args: &[&str]) -> Command {
    let mut cmd = csplease_tests::plugin::through_kubectl(cluster::kubectl(kubeconfig), args);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Waits for `child` at most `limit`; a child still running then is killed and the test fails.
fn finish(mut child: std::process::Child, started: Instant, limit: Duration, what: &str) -> Run {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}: a limit was not honoured");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
        took: started.elapsed(),
    }
}

fn run(cmd: &mut Command, limit: Duration, what: &str) -> Run {
    let started = Instant::now();
    finish(cmd.spawn().expect("kubectl starts"), started, limit, what)
}

fn expect(run: &Run, code: i32, what: &str) {
    assert_eq!(
        run.code, code,
        "{what}: exit {} (want {code})\nstdout: {}\nstderr: {}",
        run.code, run.stdout, run.stderr
    );
}

/// The stderr lines that are not `-v 6` request log lines (`I hh:mm:ss...`).
fn messages(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.starts_with("I ")).collect()
}

/// Asserts that stderr holds exactly one message, an `error: ...` line, and returns it.
fn one_error_line<'a>(run: &'a Run, what: &str) -> &'a str {
    let lines = messages(&run.stderr);
    assert_eq!(lines.len(), 1, "{what}: one line on stderr, not {lines:#?}");
    assert!(lines[0].starts_with("error: "), "{what}: {}", lines[0]);
    lines[0]
}

/// The `-v 6` log lines of requests with `method`.
fn requests(stderr: &str, method: &str) -> usize {
    stderr.lines().filter(|l| l.starts_with("I ") && l.contains(&format!(" {method} https://"))).count()
}

/// A private control plane for a test that kills or freezes one of its servers, and its admin
/// kubeconfig.
fn private_control_plane(test: &str) -> (ControlPlane, PathBuf) {
    let cp = cluster::private_control_plane(&format!("fault-{test}"), &[]);
    let kubeconfig = cp.admin_kubeconfig().to_path_buf();
    (cp, kubeconfig)
}

/// Thaws etcd even when the test fails half way, so the watchdog can stop it.
struct Thaw<'a>(&'a ControlPlane);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        self.0.freeze_etcd(false);
    }
}

#[test]
fn hold_wait_rides_out_a_killed_and_restarted_api_server() {
    if !cluster::live_or_skip("hold_wait_rides_out_a_killed_and_restarted_api_server") {
        return;
    }
    let (mut cp, kc) = private_control_plane("apiserver-kill");
    pods(&kc, &["pool-a", "pool-b"], "Running");
    let name = unique("csp-restart");
    csp(&kc, &name, &json!({ LEASE_KEY: lease_of("default/pool-a", 7) }));

    let started = Instant::now();
    let waiting = plugin(
        &kc,
        &["hold", &name, "--holder", "default/pool-b", "--wait", "--timeout", "150s", "--request-timeout", "5s"],
    )
    .spawn()
    .expect("kubectl starts");
    std::thread::sleep(Duration::from_secs(3));
    cp.kill_apiserver().expect("kube-apiserver killed");
    std::thread::sleep(Duration::from_secs(4));
    cp.restart_apiserver().expect("kube-apiserver restarted");
    eprintln!("kube-apiserver back after {:.1} s", started.elapsed().as_secs_f64());
    // Only now may the holder die: while the server was down, pool-a still held the lease.
    kubectl_ok(&kc, &["delete", "pod", "pool-a", "--grace-period=0", "--force"], None);
    let held = finish(waiting, started, Duration::from_secs(180), "hold --wait across a restart");
    eprintln!("hold --wait: exit {} after {:.1} s\n{}", held.code, held.took.as_secs_f64(), held.stderr);

    expect(&held, OK, "hold --wait acquires once the server is back");
    assert!(held.stdout.contains("taken over"), "{}", held.stdout);
    assert!(
        held.stderr.contains("waiting for") && held.stderr.contains("cannot reach the API server"),
        "the wait says why it is still waiting: {}",
        held.stderr
    );
    assert_eq!(lease(&kc, &name), Some(lease_of("default/pool-b", 8)), "one takeover, byte for byte");
    cp.stop().expect("stopped");
}

#[test]
fn a_frozen_etcd_ends_hold_at_the_request_timeout_and_writes_nothing() {
    if !cluster::live_or_skip("a_frozen_etcd_ends_hold_at_the_request_timeout_and_writes_nothing") {
        return;
    }
    let (mut cp, kc) = private_control_plane("etcd-freeze");
    let name = unique("csp-frozen");
    csp(&kc, &name, &json!({ "example.com/other": "x" }));

    let thaw = Thaw(&cp);
    cp.freeze_etcd(true);
    let hold = run(
        &mut plugin(&kc, &["hold", &name, "--holder", "default/pool-a", "--request-timeout", "2s"]),
        Duration::from_secs(60),
        "hold with etcd frozen",
    );
    eprintln!("hold, etcd frozen: exit {} after {:.1} s: {}", hold.code, hold.took.as_secs_f64(), hold.stderr);
    expect(&hold, ERROR, "hold with etcd frozen");
    let line = one_error_line(&hold, "hold with etcd frozen");
    assert!(line.contains("did not answer in time (2s)"), "{line}");
    assert!(hold.took < Duration::from_secs(20), "--request-timeout 2s honoured: {:?}", hold.took);

    // --wait with no request timeout: the wait's own limit bounds it.
    let wait = run(
        &mut plugin(&kc, &["hold", &name, "--holder", "default/pool-a", "--wait", "--timeout", "3s"]),
        Duration::from_secs(60),
        "hold --wait with etcd frozen",
    );
    eprintln!("hold --wait, etcd frozen: exit {} after {:.1} s: {}", wait.code, wait.took.as_secs_f64(), wait.stderr);
    expect(&wait, ERROR, "hold --wait with etcd frozen");
    let line = one_error_line(&wait, "hold --wait with etcd frozen");
    assert!(line.contains("timed out after 3s"), "{line}");
    assert!(wait.took < Duration::from_secs(20), "--timeout 3s honoured: {:?}", wait.took);

    drop(thaw);
    // Once etcd is back: the lease is as one of the legal outcomes leaves it, and a hold holds it at 1.
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let mut cmd = cluster::kubectl(&kc);
        let out = cmd.args(["get", "csp", &name, "-o", "json", "--request-timeout=5s"]).output().expect("kubectl");
        if out.status.success() {
            break serde_json::from_slice::<Value>(&out.stdout).expect("JSON");
        }
        assert!(Instant::now() < deadline, "the API server recovers: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(500));
    };
    // A request that timed out may still complete once etcd thaws: the legal outcomes are
    // nothing written (vacant), or the whole hold (leaderTransition 1). Never anything else.
    let written = &after["metadata"]["annotations"][LEASE_KEY];
    assert!(
        *written == Value::Null || *written == lease_of("default/pool-a", 1).as_str(),
        "after the thaw the lease is vacant or exactly the hold: {written}"
    );
    let again = run(&mut plugin(&kc, &["hold", &name, "--holder", "default/pool-a"]), Duration::from_secs(60), "hold");
    expect(&again, OK, "hold after etcd thawed");
    assert_eq!(lease(&kc, &name), Some(lease_of("default/pool-a", 1)));
    cp.stop().expect("stopped");
}

/// The shared cluster's admin kubeconfig, pointed through a fresh proxy.
fn through_proxy(test: &str) -> Option<(&'static cluster::TestCluster, Proxy, PathBuf)> {
    if !cluster::live_or_skip(test) {
        return None;
    }
    let shared = cluster::shared();
    let (proxy, kc) = Proxy::in_front_of(shared.admin_kubeconfig()).expect("a proxy");
    Some((shared, proxy, kc))
}

#[test]
fn a_slow_link_within_the_request_timeout_still_acquires_and_a_slower_one_times_out() {
    let Some((shared, proxy, via)) =
        through_proxy("a_slow_link_within_the_request_timeout_still_acquires_and_a_slower_one_times_out")
    else {
        return;
    };
    let direct = shared.admin_kubeconfig();
    let name = unique("csp-slow");
    csp(direct, &name, &json!({}));

    proxy.set_fault(Fault::Delay(Duration::from_millis(300)));
    let hold = run(
        &mut plugin(&via, &["hold", &name, "--holder", "slow/pool-a", "--request-timeout", "10s"]),
        Duration::from_secs(120),
        "hold over a slow link",
    );
    eprintln!("hold, 300 ms per chunk: exit {} after {:.1} s", hold.code, hold.took.as_secs_f64());
    expect(&hold, OK, "hold over a slow link");
    assert_eq!(lease(direct, &name), Some(lease_of("slow/pool-a", 1)));

    proxy.set_fault(Fault::Delay(Duration::from_secs(3)));
    let rv = get_csp(direct, &name)["metadata"]["resourceVersion"].clone();
    let status = run(
        &mut plugin(&via, &["release", &name, "--holder", "slow/pool-a", "--request-timeout", "1s"]),
        Duration::from_secs(60),
        "release over a slower link",
    );
    eprintln!(
        "release, 3 s per chunk: exit {} after {:.1} s: {}",
        status.code,
        status.took.as_secs_f64(),
        status.stderr
    );
    expect(&status, ERROR, "release over a link slower than --request-timeout");
    let line = one_error_line(&status, "a slower link");
    assert!(line.contains("did not answer in time"), "{line}");
    assert!(status.took < Duration::from_secs(15), "--request-timeout 1s honoured: {:?}", status.took);
    assert_eq!(get_csp(direct, &name)["metadata"]["resourceVersion"], rv, "nothing written");
    let _ = std::fs::remove_file(via);
}

#[test]
fn a_response_that_stops_half_way_ends_at_the_request_timeout() {
    let Some((shared, proxy, via)) = through_proxy("a_response_that_stops_half_way_ends_at_the_request_timeout") else {
        return;
    };
    let direct = shared.admin_kubeconfig();
    let name = unique("csp-stall");
    // 200 KiB in another annotation: the GET's answer spans many TLS records, so the stall
    // comes after the response's head, in its body.
    csp(direct, &name, &json!({ "example.com/blob": "b".repeat(200 << 10), LEASE_KEY: lease_of("", 3) }));
    let rv = get_csp(direct, &name)["metadata"]["resourceVersion"].clone();

    for (verb, args) in [
        ("status", vec!["status", name.as_str(), "--request-timeout", "2s"]),
        ("hold", vec!["hold", name.as_str(), "--holder", "stall/pool-a", "--request-timeout", "2s"]),
    ] {
        proxy.set_fault(Fault::Stall { client_bytes: 0, server_bytes: 40_000 });
        let stalled = run(&mut plugin(&via, &args), Duration::from_secs(90), verb);
        eprintln!(
            "{verb}, stalled after 40 kB: exit {} after {:.1} s: {}",
            stalled.code,
            stalled.took.as_secs_f64(),
            stalled.stderr
        );
        assert!(proxy.strikes() > 0, "the stall struck");
        expect(&stalled, ERROR, verb);
        let line = one_error_line(&stalled, verb);
        assert!(line.contains("did not answer in time (2s)"), "{line}");
        assert!(stalled.took < Duration::from_secs(15), "--request-timeout 2s honoured: {:?}", stalled.took);
    }
    assert_eq!(get_csp(direct, &name)["metadata"]["resourceVersion"], rv, "nothing written");
    let _ = std::fs::remove_file(via);
}

#[test]
fn a_connection_cut_after_the_patch_is_never_blindly_repeated() {
    let Some((shared, proxy, via)) = through_proxy("a_connection_cut_after_the_patch_is_never_blindly_repeated") else {
        return;
    };
    let direct = shared.admin_kubeconfig();
    // A released lease with an unknown 12 kB member (ignored on reading): the hold's patch carries
    // it in its `test` op, so the patch is the only request big enough to arm the cut.
    let padded = format!(r#"{{"holder":"","leaderTransition":4,"note":"{}"}}"#, "n".repeat(12_000));

    // Without --wait: the answer never comes, so the outcome is unknown; the plugin says so once.
    let name = unique("csp-cut");
    csp(direct, &name, &json!({ LEASE_KEY: padded }));
    proxy.set_fault(Fault::Cut { client_bytes: 8_000, server_bytes: 0 });
    let cut =
        run(&mut plugin(&via, &["hold", &name, "--holder", "cut/pool-a", "-v", "6"]), Duration::from_secs(60), "hold");
    eprintln!("hold, cut after the patch: exit {} after {:.1} s:\n{}", cut.code, cut.took.as_secs_f64(), cut.stderr);
    assert_eq!(proxy.strikes(), 1, "the cut struck once");
    expect(&cut, ERROR, "hold whose answer was cut off");
    let line = one_error_line(&cut, "hold whose answer was cut off");
    assert!(line.contains("may or may not have been applied") && line.contains(&name), "{line}");
    assert_eq!(requests(&cut.stderr, "PATCH"), 1, "one patch, not repeated: {}", cut.stderr);
    let after = lease(direct, &name);
    assert!(
        after.as_deref() == Some(lease_of("cut/pool-a", 5).as_str()) || after.as_deref() == Some(padded.as_str()),
        "the patch was applied whole or not at all: {after:?}"
    );

    // With --wait: it reads again before anything else, and finds the lease its own.
    let name = unique("csp-cut-wait");
    csp(direct, &name, &json!({ LEASE_KEY: padded }));
    proxy.set_fault(Fault::Cut { client_bytes: 8_000, server_bytes: 0 });
    let waited = run(
        &mut plugin(&via, &["hold", &name, "--holder", "cut/pool-a", "--wait", "--timeout", "60s", "-v", "6"]),
        Duration::from_secs(90),
        "hold --wait",
    );
    eprintln!(
        "hold --wait, cut after the patch: exit {} after {:.1} s:\n{}",
        waited.code,
        waited.took.as_secs_f64(),
        waited.stderr
    );
    assert_eq!(proxy.strikes(), 2, "the cut struck again");
    expect(&waited, OK, "hold --wait whose first answer was cut off");
    assert!(waited.stdout.contains("already held"), "re-read, found its own lease: {}", waited.stdout);
    assert_eq!(requests(&waited.stderr, "PATCH"), 1, "the patch was not sent again: {}", waited.stderr);
    assert_eq!(lease(direct, &name), Some(lease_of("cut/pool-a", 5)), "written once: 4 + 1");
    let _ = std::fs::remove_file(via);
}

/// A signal to `hold` while its patch is on its way: the patch is let finish, and the one-line
/// message says what it did. The proxy holds the patch's answer back 3 s (it lands: the lease is
/// the claimant's), or stalls it for good (after 5 s of patience: it may be), or stalls it and a
/// second signal comes (no more patience: it may be). A signal while `hold --wait` waits on a
/// live holder ends it at once, having taken nothing. In every case the exit is 128 + the first
/// signal, and the lease is as the message says. As in the test above, a 12 kB unknown member
/// makes the patch the only request that arms the fault, which strikes once the patch has
/// reached the server (it has been applied then).
#[test]
fn a_signal_to_hold_while_its_write_is_on_its_way_says_whether_it_took_the_lease() {
    let Some((shared, proxy, via)) =
        through_proxy("a_signal_to_hold_while_its_write_is_on_its_way_says_whether_it_took_the_lease")
    else {
        return;
    };
    let direct = shared.admin_kubeconfig();
    let padded = format!(r#"{{"holder":"","leaderTransition":4,"note":"{}"}}"#, "n".repeat(12_000));
    let claimant = "signal/pool-a";
    let stall = Fault::Stall { client_bytes: 8_000, server_bytes: 0 };
    // The answer, the fault that keeps it, a second signal, and whether the patch's answer is seen.
    let cases: [(&str, Fault, Option<&str>, bool); 3] = [
        ("late", Fault::Late { client_bytes: 8_000, by: Duration::from_secs(3) }, None, true),
        ("never", stall, None, false),
        ("never, then a second signal", stall, Some("INT"), false),
    ];
    for (strikes, (answer, fault, second, seen)) in (1..).zip(cases) {
        let name = unique("csp-signal");
        csp(direct, &name, &json!({ LEASE_KEY: padded }));
        proxy.set_fault(fault);
        let hold = csplease_tests::running::Running::start(plugin(&via, &["hold", &name, "--holder", claimant]));
        proxy.wait_for_strikes(strikes, &format!("{answer}: the patch reaching the server"));
        hold.signal("TERM");
        let mut stopped = Instant::now();
        if let Some(second) = second {
            // Long enough for the first to be taken on its own, whatever the load.
            std::thread::sleep(Duration::from_millis(500));
            hold.signal(second);
            stopped = Instant::now();
        }
        let (code, stdout, stderr) = hold.finish();
        let after = stopped.elapsed();
        assert_eq!(code, Some(143), "answered {answer}: 128 + SIGTERM: {stderr:?}");
        assert!(stdout.is_empty(), "answered {answer}: {stdout:?}");
        let object = format!("cstorpool.openebs.io/{name}");
        let message = if seen {
            format!(
                "error: interrupted by SIGTERM: the write in flight landed: {claimant} holds the lease of {object}; give it back with `kubectl csplease release {name} --holder {claimant}`"
            )
        } else {
            format!(
                "error: interrupted by SIGTERM: the write in flight went unanswered: {claimant} may hold the lease of {object}; see `kubectl csplease status {name}`"
            )
        };
        assert_eq!(stderr, [message], "answered {answer}");
        if second.is_some() {
            // The patience is 5 s; a second signal ends it at once.
            assert!(after < Duration::from_secs(3), "answered {answer}: ended {after:?} after the second signal");
        }
        assert_eq!(lease(direct, &name), Some(lease_of(claimant, 5)), "answered {answer}: the patch was applied");
    }

    // Waiting on a live holder: nothing in flight, nothing taken.
    let name = unique("csp-signal-wait");
    pods(direct, &["signal-holder"], "Running");
    let held = lease_of("default/signal-holder", 2);
    csp(direct, &name, &json!({ LEASE_KEY: held }));
    let mut hold = csplease_tests::running::Running::start(plugin(
        direct,
        &["hold", &name, "--holder", claimant, "--wait", "--timeout", "60s"],
    ));
    hold.error_line("the wait's progress", |l| l.starts_with("waiting for "));
    hold.signal("INT");
    let (code, _, stderr) = hold.finish();
    assert_eq!(code, Some(130), "128 + SIGINT: {stderr:?}");
    assert_eq!(stderr, ["error: interrupted by SIGINT: the lease was not taken"]);
    assert_eq!(lease(direct, &name), Some(held), "untouched");
    let _ = std::fs::remove_file(via);
}

/// The same for `release`: a signal while its patch is on its way lets the patch finish, and the
/// one-line message says whether the lease was given up (answer held back 3 s: it was) or may
/// have been (answer stalled for good); exit 128 + the signal either way.
#[test]
fn a_signal_to_release_while_its_write_is_on_its_way_says_whether_it_gave_the_lease_up() {
    let Some((shared, proxy, via)) =
        through_proxy("a_signal_to_release_while_its_write_is_on_its_way_says_whether_it_gave_the_lease_up")
    else {
        return;
    };
    let direct = shared.admin_kubeconfig();
    let claimant = "signal/pool-a";
    let padded = format!(r#"{{"holder":"{claimant}","leaderTransition":4,"note":"{}"}}"#, "n".repeat(12_000));
    let cases = [
        ("late", Fault::Late { client_bytes: 8_000, by: Duration::from_secs(3) }, true),
        ("never", Fault::Stall { client_bytes: 8_000, server_bytes: 0 }, false),
    ];
    for (strikes, (answer, fault, seen)) in (1..).zip(cases) {
        let name = unique("csp-signal-release");
        csp(direct, &name, &json!({ LEASE_KEY: padded }));
        proxy.set_fault(fault);
        let release = csplease_tests::running::Running::start(plugin(&via, &["release", &name, "--holder", claimant]));
        proxy.wait_for_strikes(strikes, &format!("{answer}: the patch reaching the server"));
        release.signal("TERM");
        let (code, stdout, stderr) = release.finish();
        assert_eq!(code, Some(143), "answered {answer}: 128 + SIGTERM: {stderr:?}");
        assert!(stdout.is_empty(), "answered {answer}: {stdout:?}");
        let message = if seen {
            format!(
                "error: interrupted by SIGTERM: the write in flight landed: cstorpool.openebs.io/{name} lease released by {claimant} (leaderTransition 4)"
            )
        } else {
            format!(
                "error: interrupted by SIGTERM: the write in flight went unanswered: the lease of cstorpool.openebs.io/{name} may have been given up; see `kubectl csplease status {name}`"
            )
        };
        assert_eq!(stderr, [message], "answered {answer}");
        assert_eq!(lease(direct, &name), Some(lease_of("", 4)), "answered {answer}: the patch was applied");
    }
    let _ = std::fs::remove_file(via);
}
