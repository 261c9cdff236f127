//! The signals `hold`, `release` and `run` catch (SIGINT, SIGTERM, SIGHUP) from the moment they
//! start, so that none of them can end one while a write is in flight (not knowing what it did),
//! nor `run` between taking the lease and giving it back.

use std::time::Duration;

use rustix::process::Signal;
use tokio::signal::unix::{SignalKind, signal};

use super::Exit;

/// How long a write in flight when a signal is caught is let finish, so that what it did is known
/// (and `run` gives back a lease it took).
pub(super) const IN_FLIGHT_PATIENCE: Duration = Duration::from_secs(5);

/// The signals caught: SIGINT, SIGTERM, SIGHUP.
pub(super) struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hang_up: tokio::signal::unix::Signal,
}

/// Starts catching the signals for a command, or prints why it cannot and returns the exit code.
pub(super) fn catch() -> Result<Signals, Exit> {
    Signals::new().map_err(|e| super::output::fail(&format!("cannot catch signals: {e}"), Exit::Error))
}

/// One signal caught.
pub(super) struct Caught {
    /// The signal, to pass on.
    pub signal: Signal,
    /// Its name, for messages.
    pub name: &'static str,
}

impl Caught {
    /// The exit code of a process this signal ended.
    pub fn exit(&self) -> Exit {
        Exit::of_signal(self.signal.as_raw())
    }
}

impl Signals {
    /// Starts catching them: from now on they no longer end the process.
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hang_up: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal caught. Cancel-safe.
    pub async fn next(&mut self) -> Caught {
        tokio::select! {
            _ = self.interrupt.recv() => Caught { signal: Signal::INT, name: "SIGINT" },
            _ = self.terminate.recv() => Caught { signal: Signal::TERM, name: "SIGTERM" },
            _ = self.hang_up.recv() => Caught { signal: Signal::HUP, name: "SIGHUP" },
        }
    }

    /// A signal already caught and not yet taken, without waiting.
    pub async fn pending(&mut self) -> Option<Caught> {
        tokio::select! {
            biased;
            caught = self.next() => Some(caught),
            () = std::future::ready(()) => None,
        }
    }

    /// Lets `attempt`, in flight when a signal was caught, finish: its output, or `None` when it
    /// did not within [`IN_FLIGHT_PATIENCE`], or a second signal came first.
    pub async fn let_finish<T>(&mut self, attempt: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            finished = tokio::time::timeout(IN_FLIGHT_PATIENCE, attempt) => finished.ok(),
            _ = self.next() => None,
        }
    }
}
