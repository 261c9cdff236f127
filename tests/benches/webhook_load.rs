//! A loopback load generator for the admission webhook: `csplease-wasm serve` in its own process,
//! driven over HTTPS/1.1 keep-alive connections with AdmissionReviews that need no pod lookup
//! (half allowed, half denied), once with a fresh instance per review and once with warm
//! instances. Every answer is checked (HTTP 200, the expected verdict). Prints one table row per
//! mode: reviews, wall time, reviews/s, latency percentiles, and the server's peak RSS (VmHWM).
//!
//! ```text
//! cargo bench -p csplease-tests --bench webhook_load
//! CSPLEASE_LOAD_REVIEWS=200000 CSPLEASE_LOAD_SECONDS=30 CSPLEASE_LOAD_CONNECTIONS=16 cargo bench ...
//! CSPLEASE_LOAD_SERVER_ARGS="--threads 1" cargo bench ...   # more `csplease-wasm serve` flags
//! ```
//! Bounded by a count (default 100,000 per mode) and a time (default 20 s per mode), whichever
//! comes first. The server gets `--threads` = the CPU count; the generator shares the machine.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use csplease_tests::webhook::{Certs, Webhook, unreachable_kubeconfig};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A CStorPool from the shared vectors (about 0.8 KB) with its lease set to `lease`.
fn pool(lease: &str) -> Value {
    let case = csplease_tests::vectors::load()
        .into_iter()
        .find(|c| c.name == "lease: hold: released lease")
        .expect("the vector `hold: released lease`");
    let request: Value = serde_json::from_slice(&case.request).expect("JSON");
    let mut object = request["object"].clone();
    object["metadata"]["annotations"]["openebs.io/csp-lease"] = json!(lease);
    object
}

/// Two AdmissionReviews that need no pod lookup: a pod acquiring a released lease (allowed, SPEC
/// review rule 6) and a pod writing another pod's name into a lease (denied, rule 4).
fn reviews() -> [(Bytes, bool); 2] {
    let user = json!({"username": "system:serviceaccount:openebs:pool", "groups": ["system:serviceaccounts"],
        "extra": {"authentication.kubernetes.io/pod-name": ["pool-a"]}});
    let review = |uid: &str, old: &str, new: &str| {
        let request = json!({"uid": uid, "kind": {"group": "openebs.io", "version": "v1alpha1", "kind": "CStorPool"},
            "resource": {"group": "openebs.io", "version": "v1alpha1", "resource": "cstorpools"},
            "name": "cstor-pool-1", "operation": "UPDATE", "userInfo": user,
            "oldObject": pool(old), "object": pool(new)});
        let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request});
        Bytes::from(serde_json::to_vec(&body).expect("JSON"))
    };
    [
        (
            review(
                "load-allowed",
                r#"{"holder":"","leaderTransition":4}"#,
                r#"{"holder":"openebs/pool-a","leaderTransition":5}"#,
            ),
            true,
        ),
        (
            review(
                "load-denied",
                r#"{"holder":"","leaderTransition":4}"#,
                r#"{"holder":"openebs/pool-b","leaderTransition":5}"#,
            ),
            false,
        ),
    ]
}

struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
    errors: Vec<String>,
}

async fn connection(
    tls: tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
    work: Arc<std::sync::atomic::AtomicU64>,
    until: Instant,
    reviews: Arc<[(Bytes, bool); 2]>,
) -> (Vec<Duration>, Vec<String>) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let server = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("a name");
    let stream = tls.connect(server, stream).await.expect("TLS handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("HTTP/1.1");
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    loop {
        let n = work.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if n == 0 || n > u64::MAX / 2 || Instant::now() >= until {
            break;
        }
        let (body, allowed) = &reviews[(n % 2) as usize];
        let request = Request::post("/validate")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("a request");
        let started = Instant::now();
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(e) => {
                errors.push(format!("send: {e}"));
                break;
            }
        };
        let status = response.status();
        let answer = response.into_body().collect().await.map(|b| b.to_bytes());
        latencies.push(started.elapsed());
        let expected = if *allowed { &br#""allowed":true"#[..] } else { &br#""allowed":false"#[..] };
        match answer {
            Ok(answer) if status == 200 && answer.windows(expected.len()).any(|w| w == expected) => {}
            Ok(answer) => errors.push(format!("{status}: {}", String::from_utf8_lossy(&answer))),
            Err(e) => errors.push(format!("body: {e}")),
        }
    }
    (latencies, errors)
}

fn drive(certs: &Certs, webhook: &Webhook, reviews: u64, seconds: u64, connections: usize) -> Run {
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::from(rustls_pem_der(&certs.ca_pem).expect("the CA certificate in DER"));
    roots.add(ca).expect("the CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let work = Arc::new(std::sync::atomic::AtomicU64::new(reviews));
    let bodies = Arc::new(self::reviews());
    let addr = webhook.addr();
    runtime.block_on(async {
        let started = Instant::now();
        let until = started + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(connection(tls.clone(), addr, work.clone(), until, bodies.clone())))
            .collect();
        let mut run = Run { latencies: Vec::new(), wall: Duration::ZERO, errors: Vec::new() };
        for task in tasks {
            let (latencies, errors) = task.await.expect("a connection task");
            run.latencies.extend(latencies);
            run.errors.extend(errors);
        }
        run.wall = started.elapsed();
        run
    })
}

/// The DER bytes of the first PEM block in `pem`.
fn rustls_pem_der(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).ok().map(|c| c.to_vec())
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The process's user + system CPU time so far (`/proc/PID/stat`, in clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Builds the release `csplease-wasm` and returns its path.
fn release_binary() -> std::path::PathBuf {
    let root = csplease_tests::cluster::workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "--release", "-p", "csplease-wasm", "--bin", "csplease-wasm"])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the release csplease-wasm failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    target.join("release").join("csplease-wasm")
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects nothing here.
    let binary = release_binary();
    let reviews = env_or("CSPLEASE_LOAD_REVIEWS", 100_000);
    let seconds = env_or("CSPLEASE_LOAD_SECONDS", 20);
    let connections = env_or("CSPLEASE_LOAD_CONNECTIONS", 8) as usize;
    let server_args = std::env::var("CSPLEASE_LOAD_SERVER_ARGS").unwrap_or_default();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("webhook-load-{}", std::process::id()));
    let certs = Certs::generate(&dir);
    let kubeconfig = unreachable_kubeconfig(&dir);
    let kubeconfig = kubeconfig.to_str().expect("a UTF-8 path");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "webhook load: {reviews} reviews or {seconds} s per mode, {connections} HTTPS/1.1 connections, \
         {cpus} CPUs, the release `csplease-wasm serve` (one worker thread per CPU)"
    );
    println!(
        "| mode | reviews | errors | wall | reviews/s | p50 | p99 | p99.9 | max | server CPU/review | server peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (mode, extra) in [("fresh", None), ("warm", Some("--warm"))] {
        let mut args = vec!["--kubeconfig", kubeconfig];
        args.extend(extra);
        args.extend(server_args.split_whitespace());
        let mut webhook = Webhook::start_binary(&binary, &certs, &args);
        let pid = webhook.pid().expect("a running webhook");
        // Warm up: connections, the compiled-module cache, the instance pool.
        drive(&certs, &webhook, 2_000, 10, connections);
        let cpu_before = cpu_time(pid);
        let mut run = drive(&certs, &webhook, reviews, seconds, connections);
        let cpu = cpu_before.zip(cpu_time(pid)).map_or("?".to_owned(), |(before, after)| {
            format!("{:.0} µs", (after - before).as_secs_f64() * 1e6 / run.latencies.len().max(1) as f64)
        });
        let rss = peak_rss_kib(pid).map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        webhook.stop();
        run.latencies.sort();
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        println!(
            "| {mode} | {} | {} | {:.2} s | {:.0} | {} | {} | {} | {} | {cpu} | {rss} |",
            run.latencies.len(),
            run.errors.len(),
            run.wall.as_secs_f64(),
            run.latencies.len() as f64 / run.wall.as_secs_f64(),
            ms(percentile(&run.latencies, 50.0)),
            ms(percentile(&run.latencies, 99.0)),
            ms(percentile(&run.latencies, 99.9)),
            ms(run.latencies.last().copied().unwrap_or_default()),
        );
        for error in run.errors.iter().take(5) {
            eprintln!("  error: {error}");
        }
        assert!(run.errors.is_empty(), "{} answers were wrong", run.errors.len());
    }
}
