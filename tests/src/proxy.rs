//! A TCP proxy for fault injection between a client and the API server: it passes bytes
//! through untouched (TLS included, so the client still checks the server's certificate and
//! still authenticates with its own), and on request adds delay, stalls a response or cuts the
//! connection in the middle of one, or holds an answer back for a while.
//!
//! The proxy cannot read HTTP through TLS, so faults are aimed by byte counts: a fault strikes
//! on the first connection whose client has sent at least `client_bytes` (a request with a large
//! body, e.g. a patch that carries a large `test` value, crosses a threshold the TLS handshake
//! and small GETs stay under), after `server_bytes` more bytes of the server's answer went
//! through. Each fault strikes once; then the proxy passes everything again.
//!
//! ```no_run
//! use csplease_tests::proxy::{Fault, Proxy};
//! let proxy = Proxy::start("127.0.0.1:6443").expect("a proxy");
//! proxy.set_fault(Fault::Cut { client_bytes: 6000, server_bytes: 0 });
//! // point a kubeconfig at proxy.url() and run the client
//! assert_eq!(proxy.strikes(), 1);
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::fixture::unique;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Passes every byte through at once.
    None,
    /// Holds each chunk the server sends for this long before passing it on (a slow link).
    Delay(Duration),
    /// On the first connection whose client has sent at least `client_bytes`, passes
    /// `server_bytes` more bytes of the server's answer, then passes nothing more from the server
    /// while keeping the connection open (a response that stops half way).
    Stall {
        /// Client bytes on the connection that arm the fault.
        client_bytes: usize,
        /// Server bytes let through once armed.
        server_bytes: usize,
    },
    /// On the first connection whose client has sent at least `client_bytes`, holds the
    /// server's next answer for `by` and then passes everything on (an answer that comes late;
    /// the request has reached the server and been acted on meanwhile).
    Late {
        /// Client bytes on the connection that arm the fault.
        client_bytes: usize,
        /// How long the answer is held.
        by: Duration,
    },
    /// As [`Fault::Stall`], but closes both directions of the connection instead (a connection
    /// dropped in the middle of a response; with `server_bytes: 0`, right after the request
    /// reached the server and before any answer).
    Cut {
        /// Client bytes on the connection that arm the fault.
        client_bytes: usize,
        /// Server bytes let through once armed.
        server_bytes: usize,
    },
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    fault: Mutex<Fault>,
    /// Set once a one-shot fault struck, until the next `set_fault`.
    struck: AtomicBool,
    strikes: AtomicUsize,
    connections: AtomicUsize,
    closing: AtomicBool,
}

/// A running proxy on a free loopback port; it stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`.
    ///
    /// # Errors
    /// When the address does not resolve or no port can be bound.
    pub fn start(upstream: impl ToSocketAddrs) -> io::Result<Proxy> {
        let upstream = upstream
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the upstream address resolves to nothing"))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            fault: Mutex::new(Fault::None),
            struck: AtomicBool::new(false),
            strikes: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.closing.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&accepting);
                thread::spawn(move || connection(client, &shared));
            }
        });
        Ok(Proxy { addr, shared })
    }

    /// A proxy in front of the API server that `kubeconfig` names, and a copy of `kubeconfig`
    /// (beside it, same credentials) whose server is the proxy.
    ///
    /// # Errors
    /// When `kubeconfig` cannot be read or has no `server:` line, or the copy cannot be written,
    /// or [`Proxy::start`] fails.
    pub fn in_front_of(kubeconfig: &Path) -> io::Result<(Proxy, PathBuf)> {
        let text = std::fs::read_to_string(kubeconfig)?;
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .map(|s| s.trim().trim_matches('"').to_owned())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no `server:` line in the kubeconfig"))?;
        let proxy = Proxy::start(server.trim_start_matches("https://").trim_end_matches('/'))?;
        let via = kubeconfig.with_file_name(format!("{}.kubeconfig", unique("via-proxy")));
        std::fs::write(&via, text.replace(&server, &proxy.url()))?;
        Ok((proxy, via))
    }

    /// `https://127.0.0.1:<port>`: the server URL for a kubeconfig that goes through the proxy.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the fault for what comes next (re-arming a one-shot fault).
    pub fn set_fault(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = fault;
        self.shared.struck.store(false, Ordering::SeqCst);
    }

    /// How many times a [`Fault::Late`], [`Fault::Stall`] or [`Fault::Cut`] struck.
    pub fn strikes(&self) -> usize {
        self.shared.strikes.load(Ordering::SeqCst)
    }

    /// Waits until the faults have struck `strikes` times in all, checking every 5 ms (the
    /// moment matters: a test acts on the request the fault holds); panics naming `what` after
    /// [`HANG`](crate::running::HANG).
    pub fn wait_for_strikes(&self, strikes: usize, what: &str) {
        crate::running::poll_until(what, crate::running::HANG, Duration::from_millis(5), || self.strikes() >= strikes);
    }

    /// How many client connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `closing`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// One proxied connection: client-to-server in a second thread, server-to-client (where the
/// faults apply) in this one.
fn connection(client: TcpStream, shared: &Arc<Shared>) {
    let Ok(server) = TcpStream::connect(shared.upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone()) else { return };
    let sent = Arc::new(AtomicUsize::new(0));
    let client_done = Arc::new(AtomicBool::new(false));
    let upload = {
        let (sent, client_done) = (Arc::clone(&sent), Arc::clone(&client_done));
        thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match client_in.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        // Counted before the server can see it, so it is counted before any answer.
                        sent.fetch_add(n, Ordering::SeqCst);
                        if server_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            client_done.store(true, Ordering::SeqCst);
            let _ = server_out.shutdown(Shutdown::Write);
        })
    };
    download(client, server, shared, &sent, &client_done);
    let _ = upload.join();
}

fn download(
    mut client: TcpStream,
    mut server: TcpStream,
    shared: &Shared,
    sent: &AtomicUsize,
    client_done: &AtomicBool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    // Server bytes passed since this connection's fault was armed.
    let mut armed: Option<(usize, bool)> = None;
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let fault = *shared.fault.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (threshold, budget, cut) = match fault {
            Fault::None => (None, 0, false),
            Fault::Delay(delay) => {
                thread::sleep(delay);
                (None, 0, false)
            }
            Fault::Late { client_bytes, by } => {
                if sent.load(Ordering::SeqCst) >= client_bytes && !shared.struck.swap(true, Ordering::SeqCst) {
                    shared.strikes.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(by);
                }
                (None, 0, false)
            }
            Fault::Stall { client_bytes, server_bytes } => (Some(client_bytes), server_bytes, false),
            Fault::Cut { client_bytes, server_bytes } => (Some(client_bytes), server_bytes, true),
        };
        if armed.is_none()
            && let Some(threshold) = threshold
            && sent.load(Ordering::SeqCst) >= threshold
            && !shared.struck.swap(true, Ordering::SeqCst)
        {
            armed = Some((0, cut));
        }
        let Some((passed, cut)) = armed.as_mut() else {
            if client.write_all(&buf[..n]).is_err() {
                break;
            }
            continue;
        };
        let allowed = budget.saturating_sub(*passed).min(n);
        if allowed > 0 && client.write_all(&buf[..allowed]).is_err() {
            break;
        }
        *passed += allowed;
        if allowed < n || *passed >= budget {
            shared.strikes.fetch_add(1, Ordering::SeqCst);
            if *cut {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
                return;
            }
            // Stall: keep both sockets open, pass nothing more, until the client gives up.
            while !client_done.load(Ordering::SeqCst) && !shared.closing.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = server.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = client.shutdown(Shutdown::Write);
}
