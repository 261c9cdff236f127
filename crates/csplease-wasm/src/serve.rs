//! `csplease-wasm serve`: the lease module as a ValidatingAdmissionWebhook over HTTPS.
//!
//! `POST /validate` takes an `admission.k8s.io/v1` AdmissionReview, runs the module's `review`
//! on its request ([`csplease_admission`]), looks up the one pod a decision may need with kube-rs
//! (a short timeout; any failure is `LookupFailed`, which counts as live), and answers with the
//! module's verdict and reason. `/healthz`, `/readyz` and Prometheus `/metrics` are served on
//! the same port.
//!
//! HTTP status codes: 200 with an AdmissionReview for every request the webhook could read
//! (allowed or denied); 400 for a body that is not an `admission.k8s.io/v1` AdmissionReview with
//! a request uid; 413 for a body over [`csplease_admission::MAX_BODY`]; 415 for a content type
//! other than JSON; 405 for a method other than POST; 404 for any other path. The API server
//! treats every non-200 answer as a failed call and applies the configuration's
//! `failurePolicy`.

pub mod certs;
mod lookup;
mod metrics;
mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub use lookup::PodLookup;

use csplease_admission::{Admission, MAX_BODY};
use metrics::Metrics;
use wasm_sandbox::{LeaseModule, WarmInstance};

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the webhook serves and how.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on (port 0 picks a free port; the bound address is printed).
    pub addr: SocketAddr,
    /// The PEM certificate chain; re-read when the file changes.
    pub tls_cert: PathBuf,
    /// The PEM private key; re-read when the file changes.
    pub tls_key: PathBuf,
    /// The break-glass groups; empty keeps the module's default (`system:masters`).
    pub break_glass_groups: Vec<String>,
    /// Keep warm instances between reviews instead of a fresh instance per review.
    pub warm: bool,
    /// Worker threads serving connections (at least 1).
    pub threads: usize,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The certificate or key could not be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// A worker thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Thread(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
}

/// The module, run in a fresh instance per review or in a pool of warm ones.
enum Evaluator {
    Fresh(LeaseModule),
    Warm(LeaseModule, Mutex<Vec<WarmInstance>>),
}

impl Evaluator {
    fn evaluate(&self, request: &[u8]) -> Vec<u8> {
        match self {
            Evaluator::Fresh(module) => module.evaluate(request),
            Evaluator::Warm(module, pool) => {
                let taken = pool.lock().unwrap_or_else(PoisonError::into_inner).pop();
                let mut instance = taken.unwrap_or_else(|| module.warm());
                let decision = instance.evaluate(request);
                pool.lock().unwrap_or_else(PoisonError::into_inner).push(instance);
                decision
            }
        }
    }
}

struct State {
    evaluator: Evaluator,
    pods: PodLookup,
    break_glass_groups: Vec<String>,
    metrics: Metrics,
    ready: AtomicBool,
}

/// Serves the webhook until `shutdown` completes, then stops accepting, lets requests in flight
/// finish (up to 10 s) and returns. Prints `serving on https://ADDR` on stderr once listening.
///
/// Connections are accepted on the calling task's runtime and handed round-robin to
/// [`ServeOptions::threads`] worker threads, each running its own single-threaded runtime: a
/// connection stays on one thread, and reviews (microseconds each) run on it synchronously, with
/// no wake-ups between threads. The host's concurrency limit must allow one instance per worker.
/// The pod lookups run on the calling runtime, which must keep running (it does: it awaits this).
///
/// # Errors
/// [`ServeError`] when the certificate cannot be loaded, the address cannot be bound or a worker
/// thread cannot start.
pub async fn serve(
    options: ServeOptions,
    module: LeaseModule,
    pods: PodLookup,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let acceptor = tls::Acceptor::load(&options.tls_cert, &options.tls_key)?;
    let listener =
        TcpListener::bind(options.addr).await.map_err(|cause| ServeError::Bind { addr: options.addr, cause })?;
    let bound = listener.local_addr().map_err(|cause| ServeError::Bind { addr: options.addr, cause })?;
    let evaluator = if options.warm {
        Evaluator::Warm(module.clone(), Mutex::new(Vec::new()))
    } else {
        Evaluator::Fresh(module.clone())
    };
    let state = Arc::new(State {
        evaluator,
        pods,
        break_glass_groups: options.break_glass_groups,
        metrics: Metrics::new(),
        ready: AtomicBool::new(true),
    });
    let mut workers = Vec::new();
    for n in 0..options.threads.max(1) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (acceptor, state) = (acceptor.clone(), state.clone());
        let thread = std::thread::Builder::new()
            .name(format!("csplease-webhook-{n}"))
            .spawn(move || worker(rx, acceptor, state))
            .map_err(|cause| ServeError::Thread(cause.to_string()))?;
        workers.push((tx, thread));
    }
    let reload = tokio::spawn(acceptor.watch());
    eprintln!(
        "csplease-wasm: serving on https://{bound} (module sha256 {}, {} instances, {} threads)",
        module.sha256(),
        if options.warm { "warm" } else { "fresh" },
        workers.len()
    );

    tokio::pin!(shutdown);
    for next in (0..workers.len()).cycle() {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted.and_then(|(stream, _)| stream.into_std()) {
                Ok(stream) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    eprintln!("csplease-wasm: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = workers[next].0.send(stream);
    }
    state.ready.store(false, Ordering::SeqCst);
    drop(listener);
    reload.abort();
    eprintln!("csplease-wasm: shutting down; answering the reviews in flight");
    // Each worker drains its connections when its channel closes; the lookups they may still make
    // run on this runtime, so wait for them without blocking it.
    let joins: Vec<_> = workers.into_iter().map(|(_, thread)| thread).collect();
    let _ = tokio::task::spawn_blocking(move || joins.into_iter().for_each(|t| drop(t.join()))).await;
    Ok(())
}

/// One worker thread: a single-threaded runtime serving the connections handed to it until the
/// acceptor closes its channel, then draining them (up to [`DRAIN_TIMEOUT`]).
fn worker(
    mut connections: tokio::sync::mpsc::UnboundedReceiver<std::net::TcpStream>,
    acceptor: tls::Acceptor,
    state: Arc<State>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("csplease-wasm: a worker thread cannot start its runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        while let Some(stream) = connections.recv().await {
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else { continue };
            let _ = stream.set_nodelay(true);
            let (acceptor, state, builder) = (acceptor.clone(), state.clone(), builder.clone());
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(_)) | Err(_) => return,
                };
                let service = hyper::service::service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(route(&state, request).await) }
                });
                let connection = builder.serve_connection(TokioIo::new(tls), service).into_owned();
                let _ = watcher.watch(connection).await;
            });
        }
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
            eprintln!("csplease-wasm: connections still open after {} s; closing them", DRAIN_TIMEOUT.as_secs());
        }
    });
}

async fn route(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (head, body) = request.into_parts();
    // The body is read whatever the route: an answer sent before the request's body was read
    // makes HTTP/2 reset the stream, which clients report as an error instead of the answer.
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return refuse(state, StatusCode::PAYLOAD_TOO_LARGE, &format!("the body is over {MAX_BODY} bytes"));
        }
        Err(e) => return refuse(state, StatusCode::BAD_REQUEST, &format!("reading the body: {e}")),
    };
    match (&head.method, head.uri.path()) {
        (&Method::POST, "/validate") => validate(state, &head, &body).await,
        (_, "/validate") => plain(StatusCode::METHOD_NOT_ALLOWED, "use POST"),
        (&Method::GET, "/healthz") => plain(StatusCode::OK, "ok"),
        (&Method::GET, "/readyz") if state.ready.load(Ordering::SeqCst) => plain(StatusCode::OK, "ok"),
        (&Method::GET, "/readyz") => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        (&Method::GET, "/metrics") => {
            let mut response = Response::new(Full::new(Bytes::from(state.metrics.encode())));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            );
            response
        }
        _ => plain(StatusCode::NOT_FOUND, "not found: the webhook serves POST /validate"),
    }
}

async fn validate(state: &State, head: &hyper::http::request::Parts, body: &[u8]) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let json = head
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return refuse(state, StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body must be application/json");
    }
    let admission = match Admission::parse(body, &state.break_glass_groups) {
        Ok(admission) => admission,
        Err(e) => return refuse(state, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let response = review(state, &admission).await;
    state.metrics.reviewed(&response, started.elapsed());
    if !response.allowed {
        let about = &admission.about;
        eprintln!(
            "csplease-wasm: {} {} {:?} by {:?} (uid {}): {}",
            response.outcome,
            about.operation,
            about.name,
            about.user,
            admission.uid(),
            response.reason
        );
    }
    let mut http = Response::new(Full::new(Bytes::from(response.body)));
    http.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    http
}

/// Runs the module, with one pod lookup when the decision asks for it.
async fn review(state: &State, admission: &Admission<'_>) -> csplease_admission::Response {
    let lookup = |pod: lease_logic::PodRef| async move {
        let facts = state.pods.facts(pod.namespace(), pod.name()).await;
        state.metrics.looked_up(lookup::label(&facts));
        if let lease_logic::PodFacts::LookupFailed { error } = &facts {
            eprintln!("csplease-wasm: looking up pod {pod} failed (counted as live): {error}");
        }
        facts
    };
    admission.judge(|request| state.evaluator.evaluate(request), lookup).await
}

/// An HTTP error for a body the webhook cannot judge, counted and logged.
fn refuse(state: &State, status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    state.metrics.refused(status.as_u16());
    eprintln!("csplease-wasm: refused a request ({}): {message}", status.as_u16());
    plain(status, message)
}

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
