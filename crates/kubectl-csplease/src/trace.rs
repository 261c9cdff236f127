//! The client's own trace: a tower layer that counts every request a command sends, logs each
//! one at `-v 6` and above (as kubectl does), and bounds each by `--request-timeout`: the whole
//! exchange, from sending the request to the last byte of the response's body, as kubectl's own
//! `--request-timeout` does (a response that stops half way fails at the limit too).
//!
//! The count is how the benchmarks measure requests per command: it sees every request the
//! client sends, including retries and the Event write.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use csp_lease::TimedOut;
use http::{Request, Response};
use tower::{BoxError, Layer, Service};

/// Counts and logs requests; clones share one count.
#[derive(Clone, Debug)]
pub struct RequestLog {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    count: AtomicU32,
    verbosity: u8,
    timeout: Option<Duration>,
    server: String,
}

impl RequestLog {
    /// A log for requests to `server` (shown in log lines), printing at `verbosity` 6 and above,
    /// failing any request that takes longer than `timeout`.
    pub fn new(server: impl Into<String>, verbosity: u8, timeout: Option<Duration>) -> Self {
        let server = server.into().trim_end_matches('/').to_owned();
        RequestLog { shared: Arc::new(Shared { count: AtomicU32::new(0), verbosity, timeout, server }) }
    }

    /// How many requests were sent so far.
    pub fn count(&self) -> u32 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// The verbosity it logs at.
    pub fn verbosity(&self) -> u8 {
        self.shared.verbosity
    }
}

impl<S> Layer<S> for RequestLog {
    type Service = Logged<S>;

    fn layer(&self, inner: S) -> Logged<S> {
        Logged { inner, log: self.clone() }
    }
}

/// The service [`RequestLog`] wraps around the client's stack.
#[derive(Debug, Clone)]
pub struct Logged<S> {
    inner: S,
    log: RequestLog,
}

impl<S, B, RB> Service<Request<B>> for Logged<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<Bounded<RB>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Bounded<RB>>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.log.shared);
        shared.count.fetch_add(1, Ordering::Relaxed);
        let method = request.method().clone();
        let uri = request.uri().clone();
        let started = Instant::now();
        let response = self.inner.call(request);
        Box::pin(async move {
            let deadline = shared.timeout.map(|limit| (tokio::time::Instant::from_std(started) + limit, limit));
            let result = match deadline {
                Some((at, limit)) => match tokio::time::timeout_at(at, response).await {
                    Ok(result) => result.map_err(Into::into),
                    Err(_) => Err(Box::new(TimedOut(limit)) as BoxError),
                },
                None => response.await.map_err(Into::into),
            };
            let result = result.map(|response| {
                response.map(|body| Bounded {
                    body: Box::pin(body),
                    deadline: deadline.map(|(at, limit)| (Box::pin(tokio::time::sleep_until(at)), limit)),
                })
            });
            if shared.verbosity >= 6 {
                let status = match &result {
                    Ok(response) => response.status().to_string(),
                    Err(err) => format!("error ({err})"),
                };
                let ms = started.elapsed().as_millis();
                eprintln!("I {} {method} {}{uri} {status} in {ms} milliseconds", clock(), shared.server);
            }
            result
        })
    }
}

/// A response body that fails with [`TimedOut`] once the request's deadline passes.
pub struct Bounded<B> {
    body: Pin<Box<B>>,
    deadline: Option<(Pin<Box<tokio::time::Sleep>>, Duration)>,
}

impl<B> fmt::Debug for Bounded<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bounded").field("limit", &self.deadline.as_ref().map(|(_, limit)| limit)).finish()
    }
}

impl<B> http_body::Body for Bounded<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, BoxError>>> {
        if let Poll::Ready(frame) = self.body.as_mut().poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if let Some((sleep, limit)) = &mut self.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(Box::new(TimedOut(*limit)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// `HH:MM:SS.micros` in UTC, for log lines.
pub(crate) fn clock() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    now.strftime("%H:%M:%S%.6f").to_string()
}
