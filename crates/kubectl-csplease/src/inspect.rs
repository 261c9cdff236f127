//! `kubectl csplease inspect`: the lease inspector page, served on loopback, with a read-only
//! view of the cluster's CStorPools.
//!
//! The page (`web/`, built into `web/pkg/` by `cargo xtask web`) is embedded in the binary. It
//! runs the lease module itself; this server only hands it the files and one JSON document,
//! `GET /api/csps`: `{"context", "leaseKey", "items": [{"object", "holderPod"}]}`, every
//! CStorPool as read and its holder pod's state (`null` when no pod holds the lease). It never
//! writes to the cluster. It listens on 127.0.0.1 only and answers only requests whose `Host` is
//! that address (so no other web page can reach the cluster through it, DNS rebinding included).

use std::io::{Read as _, Write as _};
use std::time::Duration;

use serde_json::{Value, json};

use crate::lease::CspLease;

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
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("Serving the lease inspector at http://127.0.0.1:{port}/ (read-only; Ctrl-C stops it)");
    let _ = std::io::stdout().flush();
    loop {
        let (stream, _) = listener.accept().await.map_err(|e| format!("accepting a connection: {e}"))?;
        // One small request at a time: read it with plain blocking I/O, bounded by a timeout.
        let Ok(mut stream) = stream.into_std() else { continue };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let response = match read_request(&mut stream) {
            Some((method, path, host)) => respond(lease, context, port, &method, &path, &host).await,
            None => response(400, "text/plain", b"bad request".to_vec()),
        };
        let _ = stream.write_all(&response);
    }
}

/// The method, path (without the query) and `Host` of a request, or `None` when it is not one.
fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, String, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
        if buffer.len() > 64 * 1024 {
            return None;
        }
    }
    let head = String::from_utf8_lossy(&buffer);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?);
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let host = lines
        .find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("host")).map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    Some((method, path, host))
}

async fn respond(lease: &CspLease, context: &str, port: u16, method: &str, path: &str, host: &str) -> Vec<u8> {
    if host != format!("127.0.0.1:{port}") && host != format!("localhost:{port}") {
        return response(403, "text/plain", b"forbidden: use http://127.0.0.1 with this port".to_vec());
    }
    if method != "GET" && method != "HEAD" {
        return response(405, "text/plain", b"read-only: GET only".to_vec());
    }
    if path == "/api/csps" {
        return match csps(lease, context).await {
            Ok(body) => response(200, "application/json", body.to_string().into_bytes()),
            Err(e) => response(502, "application/json", json!({ "error": e }).to_string().into_bytes()),
        };
    }
    let path = if path == "/index.html" { "/" } else { path };
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => {
            let body = if method == "HEAD" { Vec::new() } else { body.to_vec() };
            response(200, content_type, body)
        }
        None => response(404, "text/plain", b"not found".to_vec()),
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

fn response(code: u16, content_type: &str, body: Vec<u8>) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Bad Gateway",
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; style-src 'self'\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}
