//! What can go wrong talking to the cluster, as typed errors that name the object and say what to
//! do. A lease that is denied or invalid is not an error: it is a [`Decision`](lease_logic::Decision)
//! in the [`Report`](crate::Report).

use std::fmt;
use std::time::Duration;

/// An error from the cluster, the kubeconfig or the transport.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kubeconfig (or the in-cluster configuration) could not be loaded.
    #[error("cannot load the cluster configuration: {detail}; pass --kubeconfig FILE or set KUBECONFIG")]
    Config {
        /// What went wrong.
        detail: String,
    },
    /// The name is not a valid CStorPool name.
    #[error("{name:?} is not a valid cstorpool name (a DNS-1123 subdomain: lowercase letters, digits, '-' and '.')")]
    InvalidName {
        /// The name as given.
        name: String,
    },
    /// The CStorPool does not exist.
    #[error("cstorpools.openebs.io {name:?} not found; list them with `kubectl get csp`")]
    NotFound {
        /// The CStorPool's name.
        name: String,
    },
    /// The identity may not do something the command needs.
    #[error(
        "{message}; the plugin needs get, list and patch on cstorpools.openebs.io, get and list on pods and nodes, and create on events (deploy/rbac.yaml)"
    )]
    Forbidden {
        /// The verb that was refused (`get`, `list`, `patch`, `create`).
        verb: &'static str,
        /// The object or collection it was refused on.
        target: String,
        /// The API server's message, which names the user and the missing verb.
        message: String,
    },
    /// An admission webhook or a ValidatingAdmissionPolicy (csplease's own lease policy, or
    /// another) denied the write. The message is the API server's, which names the webhook or
    /// policy and carries its reason.
    #[error("the cluster's admission policy refused to {verb} {target}: {message}")]
    Refused {
        /// The verb.
        verb: &'static str,
        /// The object.
        target: String,
        /// The API server's message: `admission webhook "NAME" denied the request: REASON`, or
        /// `... ValidatingAdmissionPolicy 'NAME' with binding 'B' denied request: REASON`.
        message: String,
    },
    /// The API server refused the request for another reason.
    #[error("the API server refused to {verb} {target}: {message} ({code} {reason})")]
    Api {
        /// The verb.
        verb: &'static str,
        /// The object or collection.
        target: String,
        /// The HTTP status code.
        code: u16,
        /// The status reason (`Invalid`, `Conflict`, ...).
        reason: String,
        /// The API server's message.
        message: String,
    },
    /// The guarded write was refused because the CStorPool changed since it was read (a failed
    /// `test`, HTTP 422, or a version conflict, HTTP 409). [`CspLease::update`](crate::CspLease::update)
    /// returns it; `hold` and `release` read again and decide again.
    #[error("cstorpool {name:?} changed since it was read ({code} {reason}): lost the race")]
    LostRace {
        /// The CStorPool's name.
        name: String,
        /// 422 or 409.
        code: u16,
        /// The status reason.
        reason: String,
        /// The API server's message.
        message: String,
    },
    /// Every attempt lost the race: the lease kept changing between read and write.
    #[error("cstorpool {name:?} kept changing: gave up after {attempts} attempts; try again")]
    Contended {
        /// The CStorPool's name.
        name: String,
        /// How many read-decide-write rounds were tried.
        attempts: u32,
    },
    /// Nothing listens at the API server's address.
    #[error(
        "cannot reach the API server at {server}: connection refused; is the cluster up, and are --kubeconfig/--context right?"
    )]
    Unreachable {
        /// The server URL.
        server: String,
    },
    /// The TLS handshake failed (unknown CA, wrong name, bad client certificate).
    #[error(
        "TLS with the API server at {server} failed: {detail}; check the kubeconfig's certificate-authority and client certificate"
    )]
    Tls {
        /// The server URL.
        server: String,
        /// What the TLS layer said.
        detail: String,
    },
    /// The API server did not answer in time.
    #[error("the API server at {server} did not answer in time{}; raise --request-timeout or check the cluster",
        after.map(|d| format!(" ({d:?})")).unwrap_or_default())]
    Timeout {
        /// The server URL.
        server: String,
        /// The limit that passed, when it was `--request-timeout`'s.
        after: Option<Duration>,
    },
    /// The connection was cut before the answer was complete (reset, or closed half way).
    #[error("the connection to the API server at {server} was cut before the answer was complete: {detail}")]
    Disconnected {
        /// The server URL.
        server: String,
        /// What the transport said.
        detail: String,
    },
    /// A patch was sent but no answer came back (a timeout or a cut connection): the lease may or
    /// may not have been written. Nothing is sent again without reading the CStorPool first.
    #[error(
        "cstorpool {name:?}: the patch may or may not have been applied ({cause}); see who holds the lease with `kubectl csplease status {name}`"
    )]
    WriteUnknown {
        /// The CStorPool's name.
        name: String,
        /// Why no answer came (a [`Error::Timeout`], [`Error::Disconnected`] or [`Error::Transport`]).
        cause: Box<Error>,
    },
    /// Any other transport failure.
    #[error("request to the API server at {server} failed: {detail}")]
    Transport {
        /// The server URL.
        server: String,
        /// The error chain.
        detail: String,
    },
    /// The API server answered something that is not a Kubernetes object.
    #[error("cannot read the API server's answer for {target}: {detail}")]
    Decode {
        /// What was read.
        target: String,
        /// The parse error.
        detail: String,
    },
    /// `hold --wait` ran out of time while another live pod held the lease.
    #[error("timed out after {after:?} waiting for cstorpool {name:?}: {reason}")]
    WaitTimedOut {
        /// The CStorPool's name.
        name: String,
        /// The wait limit.
        after: Duration,
        /// Why the last attempt was denied.
        reason: String,
    },
}

impl Error {
    /// Whether the error is a lost compare-and-swap (the object changed since it was read).
    pub fn is_lost_race(&self) -> bool {
        matches!(self, Error::LostRace { .. })
    }

    /// Whether an admission webhook denied the request ([`Error::Refused`]).
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Refused { .. })
    }

    /// Whether the error is [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether a write was sent and its answer lost ([`Error::WriteUnknown`]): the lease may or
    /// may not have been written.
    pub fn may_have_written(&self) -> bool {
        matches!(self, Error::WriteUnknown { .. })
    }

    /// Whether trying again later may succeed: the server was unreachable, slow, cut the
    /// connection, answered 429 or 5xx, or the lease kept changing. `hold --wait` keeps waiting
    /// through these (reading the CStorPool again first: it never resends a write blindly).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. }
            | Error::Timeout { .. }
            | Error::Disconnected { .. }
            | Error::Transport { .. }
            | Error::WriteUnknown { .. }
            | Error::Contended { .. } => true,
            Error::Api { code, .. } => *code == 429 || *code >= 500,
            _ => false,
        }
    }
}

/// A request took longer than its limit. A client layer that bounds each request (the plugin's
/// `--request-timeout`) fails with it; [`Error`] names it [`Error::Timeout`] with the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut(pub Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no answer within the request timeout ({:?})", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// What a request was about, to name it in errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub verb: &'static str,
    pub what: &'a str,
    pub server: &'a str,
}

/// Maps a kube-rs error to ours, naming `target`. `not_found` is the error a 404 becomes.
pub(crate) fn classify(err: kube::Error, target: Target<'_>, not_found: impl FnOnce() -> Error) -> Error {
    let server = target.server.to_owned();
    match err {
        kube::Error::Api(status) => match status.code {
            404 => not_found(),
            // A webhook's denial carries the webhook's own code (403 or 400, say) and this text;
            // a ValidatingAdmissionPolicy's, a 403 or 422 naming the policy and its binding.
            _ if (status.message.starts_with("admission webhook \"")
                && status.message.contains("denied the request"))
                || (status.message.contains("ValidatingAdmissionPolicy '")
                    && status.message.contains("denied request")) =>
            {
                Error::Refused { verb: target.verb, target: target.what.to_owned(), message: status.message }
            }
            403 => Error::Forbidden { verb: target.verb, target: target.what.to_owned(), message: status.message },
            code => Error::Api {
                verb: target.verb,
                target: target.what.to_owned(),
                code,
                reason: status.reason,
                message: status.message,
            },
        },
        kube::Error::SerdeError(e) => Error::Decode { target: target.what.to_owned(), detail: e.to_string() },
        kube::Error::InferKubeconfig(e) => Error::Config { detail: e.to_string() },
        kube::Error::Auth(e) => Error::Config { detail: format!("credentials: {e}") },
        other => transport(&other, server),
    }
}

/// Classifies a transport failure by walking the error's sources.
fn transport(err: &(dyn std::error::Error + 'static), server: String) -> Error {
    let mut chain = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(t) = e.downcast_ref::<TimedOut>() {
            return Error::Timeout { server, after: Some(t.0) };
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind;
            match io.kind() {
                ErrorKind::ConnectionRefused => return Error::Unreachable { server },
                ErrorKind::TimedOut => {
                    return Error::Timeout { server, after: None };
                }
                // Not a TLS misconfiguration even when rustls reports it (a missing close_notify):
                // the peer or something between went away.
                ErrorKind::UnexpectedEof
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe => return Error::Disconnected { server, detail: io.to_string() },
                _ => {}
            }
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed())
        {
            return Error::Disconnected { server, detail: hyper.to_string() };
        }
        chain.push(e.to_string());
        current = e.source();
    }
    chain.dedup();
    let detail = chain.join(": ");
    let lower = detail.to_ascii_lowercase();
    if ["certificate", "tls", "handshake", "unknownissuer", "badsignature"].iter().any(|w| lower.contains(w)) {
        let innermost = chain.last().cloned().unwrap_or_default();
        return Error::Tls { server, detail: innermost };
    }
    if lower.contains("connection refused") {
        return Error::Unreachable { server };
    }
    Error::Transport { server, detail }
}
