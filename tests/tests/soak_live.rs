//! Soak: 10 CStorPools, 8 claimant pods each, pods' phases flipping at random, every claimant
//! holding and releasing in a loop, for `CSPLEASE_SOAK_SECS` seconds (default 60; `cargo xtask
//! test` keeps the default, well under 3 minutes with set-up). Every version of every CStorPool
//! is recorded from a watch (`kubectl get csp -w`, a separate client), and the history must show:
//!
//! - at most one live holder per pool at any time: the lease moves from a holder to another pod
//!   only after the holder's pod died (its `Failed`/`Succeeded` phase has an earlier
//!   resourceVersion than the takeover), so two live pods never both hold it;
//! - `leaderTransition` rises by exactly one at each change to a new holder and never otherwise
//!   (a release keeps it);
//! - no successful write missing from the history: every write a claimant reports is a version in
//!   the watch, with the exact annotation it wrote;
//! - no write without the core's guard: every change of the lease in the history is a write a
//!   claimant reported, decided on exactly the version before it (its decision's `before`), so
//!   no write was applied to a state it did not observe.
//!
//! The claimants use the plugin's library, [`csp_lease::CspLease`], in-process: the same
//! read-decide-write code `kubectl csplease hold/release` runs (the binary's `hold` is this call
//! plus printing), without spawning two processes per operation, which on 2 cores would make
//! the process start-up, not the lease, the load. The binary is driven through `kubectl` by
//! `plugin_live.rs` and `faults_live.rs`. Pods have no kubelet: this test sets their phases,
//! and a dead pod (phase `Failed` or `Succeeded`, sometimes then deleted) never runs again; its
//! claimant starts a new pod with a new name, as a ReplicaSet would.
//!
//! Runs only with `CSPLEASE_LIVE=1`:
//! `CSPLEASE_LIVE=1 CSPLEASE_SOAK_SECS=60 cargo test -p csplease-tests --test soak_live -- --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::io::BufReader;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use csp_lease::{CspLease, Error, Report, Write};
use csplease_tests::cluster::{self, TestCluster};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubectl_csplease::Connection;
use lease_logic::PodRef;
use serde_json::{Value, json};

const KEY: &str = "openebs.io/csp-lease";
const POOLS: usize = 10;
const CLAIMANTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    Pending,
    Unknown,
    Failed,
    Succeeded,
}

impl Phase {
    fn dead(self) -> bool {
        matches!(self, Phase::Failed | Phase::Succeeded)
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Running => "Running",
            Phase::Pending => "Pending",
            Phase::Unknown => "Unknown",
            Phase::Failed => "Failed",
            Phase::Succeeded => "Succeeded",
        }
    }
}

/// A write a claimant reports: the patch was applied, giving version `rv`.
#[derive(Debug, Clone)]
struct Written {
    csp: String,
    rv: u64,
    by: String,
    annotation: String,
    before: Option<(String, i64)>,
}

#[derive(Debug, Default)]
struct Tally {
    operations: u64,
    outcomes: BTreeMap<String, u64>,
    lost_races: u64,
    errors: BTreeMap<String, u64>,
    unexpected_errors: Vec<String>,
    flips: u64,
    deaths: u64,
    deletions: u64,
    pods_started: u64,
}

/// What the claimants and the phase flipper share.
struct World {
    namespace: String,
    pods: Api<Pod>,
    phases: Mutex<HashMap<String, Phase>>,
    /// `namespace/pod` → the resourceVersion of the phase change that killed it.
    deaths: Mutex<HashMap<String, u64>>,
    writes: Mutex<Vec<Written>>,
    tally: Mutex<Tally>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rv_of(rv: Option<&String>) -> u64 {
    rv.and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl World {
    fn phase(&self, pod: &str) -> Option<Phase> {
        lock(&self.phases).get(pod).copied()
    }

    async fn set_phase(&self, pod: &str, phase: Phase) -> Result<u64, kube::Error> {
        let patch = json!({"status": {"phase": phase.name()}});
        let updated = self.pods.patch_status(pod, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        let rv = rv_of(updated.metadata.resource_version.as_ref());
        lock(&self.phases).insert(pod.to_owned(), phase);
        if phase.dead() {
            lock(&self.deaths).insert(format!("{}/{pod}", self.namespace), rv);
        }
        Ok(rv)
    }

    async fn start_pod(&self, pod: &str) -> Result<(), kube::Error> {
        let spec: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod},
            "spec": {"nodeName": "node-1", "containers": [{"name": "pool", "image": "openebs/cstor-pool:3.6.0"}]}
        }))
        .expect("a pod");
        self.pods.create(&PostParams::default(), &spec).await?;
        self.set_phase(pod, Phase::Running).await?;
        lock(&self.tally).pods_started += 1;
        Ok(())
    }

    fn record(&self, csp: &str, me: &PodRef, report: &Report) {
        let mut tally = lock(&self.tally);
        tally.operations += 1;
        *tally.outcomes.entry(format!("{:?}", report.decision.outcome)).or_default() += 1;
        tally.lost_races += u64::from(report.rounds.saturating_sub(1));
        drop(tally);
        if let Write::Written { resource_version } = &report.write {
            lock(&self.writes).push(Written {
                csp: csp.to_owned(),
                rv: rv_of(resource_version.as_ref()),
                by: me.to_string(),
                annotation: report.decision.annotation.clone().unwrap_or_default(),
                before: report.decision.before.as_ref().map(|l| (l.holder.clone(), l.leader_transition)),
            });
        }
    }

    fn error(&self, what: &str, error: &Error) {
        let mut tally = lock(&self.tally);
        tally.operations += 1;
        let kind = format!("{what}: {}", format!("{error:?}").split([' ', '{', '(']).next().unwrap_or("?"));
        *tally.errors.entry(kind).or_default() += 1;
        if !error.is_transient() && tally.unexpected_errors.len() < 20 {
            tally.unexpected_errors.push(format!("{what}: {error}"));
        }
    }
}

fn pause(max_ms: u64) -> tokio::time::Sleep {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=max_ms)))
}

/// One claimant slot: its pod holds and releases the lease on `csp` in a loop; when its pod
/// dies, a new pod with a new name takes its place.
async fn claimant(world: Arc<World>, lease: CspLease, csp: String, slot: String) {
    let mut generation = 0;
    let mut pod = format!("{slot}-g0");
    while !world.stop.load(Ordering::SeqCst) {
        if world.phase(&pod).is_none_or(Phase::dead) {
            generation += 1;
            pod = format!("{slot}-g{generation}");
            if world.start_pod(&pod).await.is_err() {
                pause(50).await;
            }
            continue;
        }
        let me: PodRef = format!("{}/{pod}", world.namespace).parse().expect("a pod reference");
        match lease.hold(&csp, &me, false).await {
            Ok(report) => {
                world.record(&csp, &me, &report);
                if report.holds() {
                    // Run the pool a while. A pod that dies meanwhile releases nothing: its
                    // lease waits for a takeover.
                    pause(if fastrand::u32(0..4) == 0 { 400 } else { 30 }).await;
                    if world.phase(&pod).is_none_or(Phase::dead) {
                        continue;
                    }
                    if fastrand::bool() {
                        match lease.hold(&csp, &me, false).await {
                            Ok(again) => world.record(&csp, &me, &again),
                            Err(e) => world.error("hold", &e),
                        }
                    }
                    match lease.release(&csp, Some(&me), false).await {
                        Ok(released) => world.record(&csp, &me, &released),
                        Err(e) => world.error("release", &e),
                    }
                }
            }
            Err(e) => world.error("hold", &e),
        }
        pause(20).await;
    }
}

/// Flips a random live pod's phase every few milliseconds: mostly between the live phases, one
/// time in five to a dead one (and then, half the time, deletes it: NotFound).
async fn flipper(world: Arc<World>) {
    while !world.stop.load(Ordering::SeqCst) {
        pause(20).await;
        let live: Vec<(String, Phase)> =
            lock(&world.phases).iter().filter(|(_, p)| !p.dead()).map(|(n, p)| (n.clone(), *p)).collect();
        if live.is_empty() {
            continue;
        }
        let (pod, was) = live[fastrand::usize(0..live.len())].clone();
        let phase = match fastrand::u32(0..10) {
            0 => Phase::Failed,
            1 => Phase::Succeeded,
            2..=4 => Phase::Pending,
            5..=6 => Phase::Unknown,
            _ => Phase::Running,
        };
        if phase == was || world.set_phase(&pod, phase).await.is_err() {
            continue;
        }
        {
            let mut tally = lock(&world.tally);
            tally.flips += 1;
            tally.deaths += u64::from(phase.dead());
        }
        if phase.dead()
            && fastrand::bool()
            && world.pods.delete(&pod, &DeleteParams::default().grace_period(0)).await.is_ok()
        {
            lock(&world.tally).deletions += 1;
        }
    }
}

/// One version of a CStorPool, as the watch saw it.
#[derive(Debug, Clone)]
struct Version {
    rv: u64,
    lease: Option<String>,
}

/// `kubectl get csp -l soak=ID -w`: every version of every soak pool, by name.
struct Watch {
    child: std::process::Child,
    history: Arc<Mutex<HashMap<String, Vec<Version>>>>,
    events: Arc<Mutex<u64>>,
    problems: Arc<Mutex<Vec<String>>>,
}

impl Watch {
    fn start(cluster: &TestCluster, id: &str) -> Watch {
        let mut child = cluster
            .kubectl_admin()
            .args(["get", "csp", "-l", &format!("soak={id}"), "-w", "--output-watch-events", "-o", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl get -w starts");
        let stdout = child.stdout.take().expect("piped");
        let history: Arc<Mutex<HashMap<String, Vec<Version>>>> = Arc::default();
        let events: Arc<Mutex<u64>> = Arc::default();
        let problems: Arc<Mutex<Vec<String>>> = Arc::default();
        let (h, e, p) = (Arc::clone(&history), Arc::clone(&events), Arc::clone(&problems));
        std::thread::spawn(move || {
            for event in serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>() {
                let Ok(event) = event else { break };
                *lock(&e) += 1;
                let object = &event["object"];
                match event["type"].as_str() {
                    Some("ADDED" | "MODIFIED") => {
                        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                        let rv = object["metadata"]["resourceVersion"].as_str().and_then(|v| v.parse().ok());
                        let lease = object["metadata"]["annotations"][KEY].as_str().map(str::to_owned);
                        lock(&h).entry(name).or_default().push(Version { rv: rv.unwrap_or(0), lease });
                    }
                    other => lock(&p).push(format!("watch event {other:?}: {event}")),
                }
            }
        });
        Watch { child, history, events, problems }
    }

    fn last_rv(&self, name: &str) -> u64 {
        lock(&self.history).get(name).and_then(|v| v.last()).map_or(0, |v| v.rv)
    }
}

/// A lease value as the core writes it: `(holder, leaderTransition)`.
fn parse(value: &str) -> Option<(String, i64)> {
    let doc: Value = serde_json::from_str(value).ok()?;
    Some((doc["holder"].as_str()?.to_owned(), doc["leaderTransition"].as_i64()?))
}

/// Checks one pool's history against the writes the claimants reported; returns violations.
fn check_pool(
    name: &str,
    history: &[Version],
    writes: &HashMap<u64, &Written>,
    deaths: &HashMap<String, u64>,
) -> (Vec<String>, u64) {
    let mut violations = Vec::new();
    let mut changes = 0;
    for pair in history.windows(2) {
        let (prev, cur) = (&pair[0], &pair[1]);
        if cur.rv <= prev.rv {
            violations.push(format!("{name}: resourceVersion went from {} to {}", prev.rv, cur.rv));
        }
        if cur.lease == prev.lease {
            continue;
        }
        changes += 1;
        let Some(value) = cur.lease.as_deref() else {
            violations.push(format!("{name}@{}: the lease annotation was removed", cur.rv));
            continue;
        };
        let Some((holder, n)) = parse(value) else {
            violations.push(format!("{name}@{}: unreadable lease {value:?}", cur.rv));
            continue;
        };
        let (prev_holder, p) = match prev.lease.as_deref() {
            None => (String::new(), 0),
            Some(v) => match parse(v) {
                Some(lease) => lease,
                None => {
                    violations.push(format!("{name}@{}: unreadable previous lease {v:?}", prev.rv));
                    continue;
                }
            },
        };
        // No write without the guard: a reported write, decided on exactly the version before.
        match writes.get(&cur.rv) {
            None => violations.push(format!("{name}@{}: lease changed to {value} by no reported write", cur.rv)),
            Some(w) => {
                if w.annotation != value {
                    violations.push(format!(
                        "{name}@{}: {} wrote {} but the history has {value}",
                        cur.rv, w.by, w.annotation
                    ));
                }
                // A vacant lease (no annotation) is observed as `before: null`.
                let observed = prev.lease.as_ref().map(|_| (prev_holder.clone(), p));
                if w.before != observed {
                    violations.push(format!(
                        "{name}@{}: {} decided on {:?} but wrote over {:?} (version {}): unguarded",
                        cur.rv, w.by, w.before, observed, prev.rv
                    ));
                }
                if holder.is_empty() && w.by != prev_holder {
                    violations.push(format!("{name}@{}: {} released {prev_holder}'s lease", cur.rv, w.by));
                }
            }
        }
        if holder.is_empty() {
            if n != p || prev_holder.is_empty() {
                violations.push(format!("{name}@{}: release {prev_holder}/{p} -> {value}", cur.rv));
            }
        } else if holder == prev_holder {
            violations.push(format!("{name}@{}: {holder} rewrote its own lease {p} -> {n}", cur.rv));
        } else {
            if n != p + 1 {
                violations.push(format!("{name}@{}: new holder {holder}, leaderTransition {p} -> {n}", cur.rv));
            }
            if !prev_holder.is_empty() {
                match deaths.get(&prev_holder) {
                    Some(&died) if died < cur.rv => {}
                    died => violations.push(format!(
                        "{name}@{}: {holder} took over from {prev_holder}, which was live (died at {died:?})",
                        cur.rv
                    )),
                }
            }
        }
    }
    (violations, changes)
}

#[test]
fn soak_ten_pools_eighty_claimants_flipping_phases() {
    if !cluster::live_or_skip("soak_ten_pools_eighty_claimants_flipping_phases") {
        return;
    }
    let seconds: u64 = std::env::var("CSPLEASE_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let cluster = cluster::shared();
    let id = format!("soak-{}", std::process::id());
    cluster.create_namespace(&id).expect("a namespace");
    let pools: Vec<String> = (0..POOLS).map(|i| format!("{id}-csp-{i}")).collect();
    let items: Vec<Value> = pools
        .iter()
        .map(|name| {
            json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
                   "metadata": {"name": name, "labels": {"soak": id}},
                   "spec": {"poolSpec": {"poolType": "striped"}}})
        })
        .collect();
    cluster.kubectl_ok(
        &["create", "-f", "-"],
        Some(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()),
    );

    let mut watch = Watch::start(cluster, &id);
    let deadline = Instant::now() + Duration::from_secs(60);
    while lock(&watch.history).len() < POOLS {
        assert!(Instant::now() < deadline, "the watch lists the pools");
        std::thread::sleep(Duration::from_millis(50));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let started = Instant::now();
    let world = runtime.block_on(async {
        let connection = Connection {
            kubeconfig: Some(cluster.admin_kubeconfig().to_path_buf()),
            request_timeout: Some(Duration::from_secs(30)),
            ..Connection::default()
        };
        let connected = connection.connect().await.expect("a client");
        // Events are recorded by plugin_live.rs; here they would only add a request per write.
        let lease = connected.lease().with_events(false);
        let world = Arc::new(World {
            namespace: id.clone(),
            pods: Api::namespaced(connected.client.clone(), &id),
            phases: Mutex::default(),
            deaths: Mutex::default(),
            writes: Mutex::default(),
            tally: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let mut tasks = Vec::new();
        for (p, csp) in pools.iter().enumerate() {
            for c in 0..CLAIMANTS {
                let slot = format!("c{p}-{c}");
                world.start_pod(&format!("{slot}-g0")).await.expect("a claimant pod");
                tasks.push(tokio::spawn(claimant(Arc::clone(&world), lease.clone(), csp.clone(), slot)));
            }
        }
        tasks.push(tokio::spawn(flipper(Arc::clone(&world))));
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        world.stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.expect("a task ends");
        }
        world
    });
    let took = started.elapsed();

    // Let the watch catch up with each pool's last version.
    let list: Value =
        serde_json::from_str(&cluster.kubectl_ok(&["get", "csp", "-l", &format!("soak={id}"), "-o", "json"], None))
            .expect("JSON");
    let deadline = Instant::now() + Duration::from_secs(60);
    for item in list["items"].as_array().expect("items") {
        let name = item["metadata"]["name"].as_str().expect("a name");
        let rv: u64 = item["metadata"]["resourceVersion"].as_str().and_then(|v| v.parse().ok()).expect("an rv");
        while watch.last_rv(name) < rv {
            assert!(Instant::now() < deadline, "the watch saw {name} up to {rv}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = watch.child.kill();
    let _ = watch.child.wait();

    let writes = lock(&world.writes).clone();
    let deaths = lock(&world.deaths).clone();
    let history = lock(&watch.history).clone();
    let mut violations: Vec<String> = lock(&watch.problems).clone();
    let mut changes = 0;
    for name in &pools {
        let by_rv: HashMap<u64, &Written> = writes.iter().filter(|w| &w.csp == name).map(|w| (w.rv, w)).collect();
        let versions = history.get(name).map_or(&[][..], Vec::as_slice);
        let (found, changed) = check_pool(name, versions, &by_rv, &deaths);
        violations.extend(found);
        changes += changed;
        // No successful write missing from the history.
        for w in by_rv.values() {
            if !versions.iter().any(|v| v.rv == w.rv && v.lease.as_deref() == Some(w.annotation.as_str())) {
                violations.push(format!(
                    "{name}: {}'s write at {} ({}) is missing from the history",
                    w.by, w.rv, w.annotation
                ));
            }
        }
    }
    let takeovers =
        writes.iter().filter(|w| w.before.as_ref().is_some_and(|(h, _)| !h.is_empty() && *h != w.by)).count();

    let tally = lock(&world.tally);
    eprintln!(
        "soak: {POOLS} pools x {CLAIMANTS} claimants for {:.1} s: {} operations ({:.0}/s), outcomes {:?}, \
         {} writes ({} takeovers), {} lost races retried, errors {:?}; {} phase flips, {} deaths ({} deleted), \
         {} pods started; watch: {} events, {} lease changes; violations: {}",
        took.as_secs_f64(),
        tally.operations,
        tally.operations as f64 / took.as_secs_f64(),
        tally.outcomes,
        writes.len(),
        takeovers,
        tally.lost_races,
        tally.errors,
        tally.flips,
        tally.deaths,
        tally.deletions,
        tally.pods_started,
        lock(&watch.events),
        changes,
        violations.len()
    );
    for v in violations.iter().take(30) {
        eprintln!("VIOLATION {v}");
    }
    assert!(violations.is_empty(), "{} invariant violations", violations.len());
    assert!(tally.unexpected_errors.is_empty(), "errors that are not transient: {:#?}", tally.unexpected_errors);
    assert_eq!(changes as usize, writes.len(), "every write is one change in the history, and nothing else changed it");
    assert!(writes.len() >= POOLS, "the soak did work: {} writes", writes.len());
    if seconds >= 30 {
        assert!(takeovers > 0, "some holders died and were taken over from");
    }
}

/// The checker itself: each kind of violation in a made-up history is caught (so a clean soak
/// means something). Not live.
#[test]
fn the_history_checker_catches_every_kind_of_violation() {
    let lease = |h: &str, n: i64| Some(format!(r#"{{"holder":"{h}","leaderTransition":{n}}}"#));
    let v = |rv: u64, lease: Option<String>| Version { rv, lease };
    let w = |rv: u64, by: &str, annotation: Option<String>, before: Option<(&str, i64)>| Written {
        csp: "p".into(),
        rv,
        by: by.into(),
        annotation: annotation.unwrap_or_default(),
        before: before.map(|(h, n)| (h.to_owned(), n)),
    };
    let writes = [
        w(2, "ns/a", lease("ns/a", 1), None),
        w(3, "ns/a", lease("", 1), Some(("ns/a", 1))),
        w(4, "ns/b", lease("ns/b", 2), Some(("", 1))),
        w(5, "ns/c", lease("ns/c", 3), Some(("ns/b", 2))),
    ];
    let by_rv: HashMap<u64, &Written> = writes.iter().map(|w| (w.rv, w)).collect();
    let good = [v(1, None), v(2, lease("ns/a", 1)), v(3, lease("", 1)), v(4, lease("ns/b", 2)), v(5, lease("ns/c", 3))];
    let dead_b: HashMap<String, u64> = [("ns/b".to_owned(), 4)].into();
    assert_eq!(check_pool("p", &good, &by_rv, &dead_b), (vec![], 4));

    let count = |history: &[Version], deaths: &HashMap<String, u64>| check_pool("p", history, &by_rv, deaths).0.len();
    // b was still live at 5: a takeover from a live holder.
    assert_eq!(count(&good, &HashMap::new()), 1);
    // The counter jumps by two.
    let mut jump = good.clone();
    jump[4].lease = lease("ns/c", 4);
    assert!(count(&jump, &dead_b) >= 2, "wrong counter, and not what ns/c wrote");
    // A change nobody reported (an unguarded writer), taking over from a live holder.
    let mut foreign = good.to_vec();
    foreign.push(v(6, lease("ns/x", 4)));
    assert_eq!(count(&foreign, &dead_b), 2);
    // Someone else's write slipped in before ns/c's: ns/c's write no longer sits on the version it
    // decided on (unguarded), ns/b's write is not what the history has, and y was live.
    let mut slipped = good.to_vec();
    slipped[3].lease = lease("ns/y", 2);
    assert_eq!(count(&slipped, &dead_b), 3);
}
