//! `kubectl csplease inspect`: the lease inspector page, served on loopback, with a read-only
//! view of the cluster's CStorPools.
//!
//! The page (`web/`, built into `web/pkg/` by `cargo xtask web`) is embedded in the binary. It
//! runs the lease module itself; this server only hands it the files and one JSON document,
//! `GET /api/csps`: `{"context", "leaseKey", "items": [{"object", "holderPod"}]}`, every
//! CStorPool as read and its holder pod's state (`null` when no pod holds the lease). It never
//! writes to the cluster. It listens on 127.0.0.1 only and answers only requests whose `Host` is
//! that address (so no other web page can reach the cluster through it, DNS rebinding included).
//!
//! It runs on the project's HTTP stack (hyper 1 on tokio, as the webhook does): every
//! connection is its own task, so a slow or idle client never holds up another request.

use std::convert::Infallible;
use std::io::Write as _;
use std::time::Duration;

use bytes::Bytes;
use csp_lease::CspLease;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// How long a client may take to send a request's head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request head read (a request's head is a few hundred bytes).
const MAX_HEAD: usize = 64 * 1024;

/// The page's Content-Security-Policy: its own files only, and its WASM module.
const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'self'";

/// One file of the page: its path, content type and bytes.
type Asset = (&'static str, &'static str, &'static [u8]);

/// The page's files, embedded when `web/pkg/` was built before this crate (see `build.rs`).
#[cfg(csplease_inspector)]
const ASSETS: &[Asset] = &[
    ("/", "text/html; charset=utf-8", include_bytes!("../../../web/index.html")),
    ("/pkg/inspector.js", "text/javascript; charset=utf-8", include_bytes!("../../../web/pkg/inspector.js")),
    ("/pkg/inspector.css", "text/css; charset=utf-8", include_bytes!("../../../web/pkg/inspector.css")),
    ("/pkg/csplease_bg.wasm", "application/wasm", include_bytes!("../../../web/pkg/csplease_bg.wasm")),
];
#[cfg(not(csplease_inspector))]
const ASSETS: &[Asset] = &[];

/// Whether this binary carries the page.
pub fn has_page() -> bool {
    !ASSETS.is_empty()
}

/// Serves the page on `127.0.0.1:port` (0: any free port) until the process is stopped; prints
/// the URL on stdout. Returns only on an error.
pub async fn serve(lease: &CspLease, context: &str, port: u16) -> Result<(), String> {
    if !has_page() {
        return Err(
            "this kubectl-csplease was built without the inspector page: run `cargo xtask web`, then build it again"
                .into(),
        );
    }
    let listener =
        TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("Serving the lease inspector at http://127.0.0.1:{port}/ (read-only; Ctrl-C stops it)");
    let _ = std::io::stdout().flush();
    serve_on(listener, lease.clone(), context.to_owned()).await
}

/// What every connection's requests are answered from.
struct Site {
    lease: CspLease,
    context: String,
    port: u16,
}

/// Answers the connections `listener` accepts, each in its own task, until accepting fails.
async fn serve_on(listener: TcpListener, lease: CspLease, context: String) -> Result<(), String> {
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let site = std::sync::Arc::new(Site { lease, context, port });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(MAX_HEAD);
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| format!("accepting a connection: {e}"))?;
        let (site, http) = (site.clone(), http.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(respond(&site, &request).await) }
            });
            // A client that goes away or sends garbage only ends its own connection.
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn respond(site: &Site, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let host = request.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let port = site.port;
    if host != format!("127.0.0.1:{port}") && host != format!("localhost:{port}") {
        return response(
            StatusCode::FORBIDDEN,
            "text/plain",
            b"forbidden: use http://127.0.0.1 with this port".to_vec(),
        );
    }
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        return response(StatusCode::METHOD_NOT_ALLOWED, "text/plain", b"read-only: GET only".to_vec());
    }
    let path = request.uri().path();
    if path == "/api/csps" {
        return match csps(&site.lease, &site.context).await {
            Ok(body) => response(StatusCode::OK, "application/json", body.to_string().into_bytes()),
            Err(e) => {
                response(StatusCode::BAD_GATEWAY, "application/json", json!({ "error": e }).to_string().into_bytes())
            }
        };
    }
    let path = if path == "/index.html" { "/" } else { path };
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => {
            let body = if method == Method::HEAD { Vec::new() } else { body.to_vec() };
            response(StatusCode::OK, content_type, body)
        }
        None => response(StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec()),
    }
}

/// Every CStorPool and its holder pod, as the page reads them.
async fn csps(lease: &CspLease, context: &str) -> Result<Value, String> {
    let pools = lease.list(true).await.map_err(|e| e.to_string())?;
    let items: Vec<Value> = pools
        .iter()
        .map(|pool| {
            json!({
                "object": serde_json::to_value(&pool.object).unwrap_or(Value::Null),
                "holderPod": pool.holder.as_ref().map(|h| json!({
                    "pod": h.pod.to_string(),
                    "state": h.state.as_str(),
                    "node": h.node,
                    "error": h.error,
                })),
            })
        })
        .collect();
    Ok(json!({ "context": context, "leaseKey": lease.lease_key(), "items": items }))
}

fn response(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    /// A page server whose cluster is a closed port: `/api/csps` fails, the rest is the server's own.
    async fn server() -> u16 {
        let config = kube::Config::new("http://127.0.0.1:1".parse().expect("a URL"));
        let client = kube::Client::try_from(config).expect("a client");
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        tokio::spawn(serve_on(listener, CspLease::new(client), "test".into()));
        port
    }

    /// Sends `head` plus `Connection: close` and the blank line; returns the whole answer.
    async fn finish(mut stream: TcpStream, head: &str) -> String {
        stream.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes()).await.expect("sent");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("answered");
        String::from_utf8_lossy(&answer).into_owned()
    }

    async fn ask(port: u16, head: &str) -> String {
        finish(TcpStream::connect(("127.0.0.1", port)).await.expect("connected"), head).await
    }

    #[tokio::test]
    async fn only_gets_for_its_own_address_are_answered() {
        let port = server().await;
        let other = ask(port, &format!("GET / HTTP/1.1\r\nHost: evil.example:{port}\r\n")).await;
        assert!(other.starts_with("HTTP/1.1 403 "), "{other}");
        assert!(other.ends_with("forbidden: use http://127.0.0.1 with this port"), "{other}");
        let post =
            ask(port, &format!("POST /api/csps HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n")).await;
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        let missing = ask(port, &format!("GET /nothing-here HTTP/1.1\r\nHost: localhost:{port}\r\n")).await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        assert!(missing.contains("\r\ncache-control: no-store\r\n"), "{missing}");
        assert!(missing.contains("\r\nx-content-type-options: nosniff\r\n"), "{missing}");
        assert!(missing.contains("\r\ncontent-security-policy: default-src 'self';"), "{missing}");
    }

    #[tokio::test]
    async fn a_cluster_that_is_gone_is_a_bad_gateway_with_the_error() {
        let port = server().await;
        let answer = ask(port, &format!("GET /api/csps?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n")).await;
        assert!(answer.starts_with("HTTP/1.1 502 "), "{answer}");
        assert!(answer.contains("content-type: application/json"), "{answer}");
        assert!(answer.contains(r#"{"error":"#), "{answer}");
    }

    #[tokio::test]
    async fn a_client_that_stalls_holds_up_no_other() {
        let port = server().await;
        // The first client sends half a request head and stops.
        let mut stalled = TcpStream::connect(("127.0.0.1", port)).await.expect("connected");
        stalled
            .write_all(format!("GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n").as_bytes())
            .await
            .expect("sent");
        // Another is answered meanwhile: a server reading one request at a time would wait for
        // the first one's timeout, and then answer the first with an error.
        let other = ask(port, &format!("GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n")).await;
        assert!(other.starts_with("HTTP/1.1 404 "), "{other}");
        // The first is still being read, and is answered once it is complete.
        let first = finish(stalled, "").await;
        assert!(first.starts_with("HTTP/1.1 404 "), "{first}");
    }
}
