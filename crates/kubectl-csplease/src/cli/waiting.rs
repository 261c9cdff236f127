//! `hold --wait`: try again while a live pod holds the lease or the API server is unreachable,
//! slow or failing, until `--timeout`, showing progress on stderr. While a live pod holds it,
//! the next try is when a watch of the CStorPool or of the holder's pod sees a change (or after a
//! bounded back-off when the watch breaks), not on a timer.

use std::io::Write as _;
use std::time::{Duration, Instant};

use csp_lease::{CspLease, Error, Report, Wake, Watch, Write};
use lease_logic::{Outcome, PodRef, Reading};

use super::output::{fail, finish, one_line, write_error};
use super::signals::{self, Caught, Signals};
use super::{Env, Exit, Flags, Taking};
use crate::render;

/// `hold`: takes the lease (waiting with `--wait`), prints the result and returns its exit code.
/// SIGINT, SIGTERM and SIGHUP end it at once, except while the lease is being written: that write
/// is let finish ([`Signals::let_finish`]), and the message says whether it took the lease.
pub(super) async fn hold(
    lease: &CspLease,
    csp: &str,
    claimant: &PodRef,
    taking: &Taking,
    flags: &Flags,
    env: &Env,
) -> Exit {
    let mut signals = match signals::catch() {
        Ok(signals) => signals,
        Err(code) => return code,
    };
    match acquire(lease, csp, claimant, taking, flags, env, &mut signals).await {
        Ok(Acquired { report, .. }) => finish(&report, Some(claimant), flags),
        Err(Unfinished::Failed(code)) => code,
        Err(Unfinished::Interrupted { caught, taken }) => {
            let name = render::object_name(csp);
            let what = match taken {
                Taken::No => "the lease was not taken".to_owned(),
                Taken::Yes => format!(
                    "the write in flight landed: {claimant} holds the lease of {name}; give it back with `kubectl csplease release {csp} --holder {claimant}`"
                ),
                Taken::Unknown => format!(
                    "the write in flight went unanswered: {claimant} may hold the lease of {name}; see `kubectl csplease status {csp}`"
                ),
            };
            fail(&format!("interrupted by {}: {what}", caught.name), caught.exit())
        }
    }
}

/// What [`acquire`] came to: the last report (held or not).
pub(super) struct Acquired {
    /// The last attempt's report.
    pub report: Report,
    /// Whether this call gave the claimant the lease (it wrote it, or it holds it after a write
    /// whose answer was lost), as opposed to finding it held already.
    pub took: bool,
}

/// Why [`acquire`] returned no report.
pub(super) enum Unfinished {
    /// An error, already printed, with its exit code.
    Failed(Exit),
    /// A signal was caught. A write in flight is not cut off: it is let finish for up to
    /// [`IN_FLIGHT_PATIENCE`](super::signals::IN_FLIGHT_PATIENCE) first, or until a second signal.
    Interrupted {
        /// The (first) signal.
        caught: Caught,
        /// Whether this call gave the claimant the lease.
        taken: Taken,
    },
}

/// Whether an interrupted [`acquire`] gave the claimant the lease (a lease the claimant held
/// before the call does not count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Taken {
    /// Nothing was written, or nothing that took the lease.
    No,
    /// A write took it: its answer says so (or a read after a write whose answer was lost).
    Yes,
    /// A write whose answer was lost (it timed out, was cut, or was not awaited to the end) may
    /// have taken it.
    Unknown,
}

/// Takes the lease as `hold` does, waiting with `wait`: the last report (held or not), or why
/// not. A signal caught on `signals` ends it (see [`Unfinished::Interrupted`]).
pub(super) async fn acquire(
    lease: &CspLease,
    csp: &str,
    claimant: &PodRef,
    taking: &Taking,
    flags: &Flags,
    env: &Env,
    signals: &mut Signals,
) -> Result<Acquired, Unfinished> {
    let (force, wait) = (taking.force, taking.wait());
    let started = Instant::now();
    let mut progress = Progress::new(env.terminal);
    // With --wait: why the last round did not take the lease, and the exit code if it was the
    // last one (3 for a live holder, 1 for a server that failed).
    let mut last: Option<(Exit, String)> = None;
    // Made at the first denial, and kept: it wakes the next round.
    let mut watch: Option<Watch> = None;
    // Whether a write was sent whose answer was lost: it may have taken the lease.
    let mut sent_unanswered = false;
    let took = |report: &Report, sent_unanswered: bool| {
        report.held().is_some() && (sent_unanswered || matches!(report.write, Write::Written { .. }))
    };
    loop {
        let remaining = wait.map(|limit| limit.saturating_sub(started.elapsed()));
        if let (Some(limit), Some(Duration::ZERO)) = (wait, remaining)
            && let Some((code, reason)) = last.take()
        {
            progress.finish();
            let error = Error::WaitTimedOut { name: csp.to_owned(), after: limit, reason };
            return Err(Unfinished::Failed(fail(&error.to_string(), code)));
        }
        // With --wait, its limit bounds every attempt too: a server that never answers cannot
        // hold the command past --timeout.
        let bound = remaining.filter(|r| !r.is_zero());
        let mut attempt = std::pin::pin!(async {
            match bound {
                Some(bound) => tokio::time::timeout(bound, lease.hold(csp, claimant, force)).await.ok(),
                None => Some(lease.hold(csp, claimant, force).await),
            }
        });
        let answered = tokio::select! {
            answered = &mut attempt => answered,
            caught = signals.next() => {
                progress.finish();
                // The patch may be on its way: let it land, to know whether it took the lease.
                let landed = signals.let_finish(attempt).await;
                let taken = match landed {
                    Some(Some(Ok(report))) if took(&report, sent_unanswered) => Taken::Yes,
                    Some(Some(Ok(_))) => Taken::No,
                    Some(Some(Err(e))) if !sent_unanswered && !e.may_have_written() => Taken::No,
                    Some(Some(Err(_)) | None) | None => Taken::Unknown,
                };
                return Err(Unfinished::Interrupted { caught, taken });
            }
        };
        let Some(result) = answered else {
            progress.finish();
            let reason = "the API server did not answer; the lease may or may not have been written".to_owned();
            let error = Error::WaitTimedOut { name: csp.to_owned(), after: wait.unwrap_or_default(), reason };
            return Err(Unfinished::Failed(fail(&error.to_string(), Exit::Error)));
        };
        let report = match result {
            Ok(report) => report,
            // --wait rides out a restarting or overloaded API server: the next round reads the
            // CStorPool again and decides again, so nothing is ever resent blindly.
            Err(e) if wait.is_some() && e.is_transient() => {
                sent_unanswered |= e.may_have_written();
                progress.show_error(csp, &e);
                last = Some((Exit::Error, e.to_string()));
                let pause = poll(wait.map(|limit| limit.saturating_sub(started.elapsed())));
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    caught = signals.next() => {
                        progress.finish();
                        let taken = if sent_unanswered { Taken::Unknown } else { Taken::No };
                        return Err(Unfinished::Interrupted { caught, taken });
                    }
                }
                continue;
            }
            Err(e) => {
                progress.finish();
                return Err(Unfinished::Failed(fail(&e.to_string(), write_error(&e))));
            }
        };
        if wait.is_none() || report.decision.outcome != Outcome::Denied {
            progress.finish();
            let took = took(&report, sent_unanswered);
            return Ok(Acquired { report, took });
        }
        progress.show(&report);
        let holder: Vec<PodRef> = match &report.reading {
            Reading::Held(_, pod) => vec![pod.clone()],
            _ => Vec::new(),
        };
        last = Some((Exit::Denied, report.decision.reason));
        let watch = watch.get_or_insert_with(|| lease.watch(Some(csp)));
        let remaining = wait.map_or(Duration::ZERO, |limit| limit.saturating_sub(started.elapsed()));
        // Whatever woke it (a change, a broken watch after its back-off, or the limit), the next
        // round reads the CStorPool again and decides again.
        let woken = tokio::select! {
            woken = tokio::time::timeout(remaining, watch.changed(&holder)) => woken,
            caught = signals.next() => {
                progress.finish();
                // Just denied: another pod holds it, whatever an earlier write did.
                return Err(Unfinished::Interrupted { caught, taken: Taken::No });
            }
        };
        if let Ok(Wake::Broken { detail }) = woken
            && flags.verbosity >= 2
        {
            eprintln!("I {} hold --wait: the watch broke, reading again: {}", crate::trace::clock(), one_line(&detail));
        }
    }
}

/// The pause between two rounds of `hold --wait`: 1 to 1.5 s, and never past its limit.
fn poll(remaining: Option<Duration>) -> Duration {
    let poll = Duration::from_millis(1000 + fastrand::u64(0..500));
    remaining.map_or(poll, |r| poll.min(r))
}

/// `hold --wait`'s progress: one line rewritten in place on a terminal, plain lines otherwise
/// (when the holder changes, and every 30 s).
struct Progress {
    terminal: bool,
    holder: Option<(String, Instant)>,
    last_line: Option<Instant>,
    last_error: Option<String>,
    drawn: bool,
}

impl Progress {
    fn new(terminal: bool) -> Self {
        Progress { terminal, holder: None, last_line: None, last_error: None, drawn: false }
    }

    fn show(&mut self, report: &Report) {
        let holder = report.decision.before.as_ref().map_or_else(String::new, |l| l.holder.clone());
        let changed = self.holder.as_ref().is_none_or(|(h, _)| *h != holder);
        if changed {
            self.holder = Some((holder.clone(), Instant::now()));
        }
        let since = self.holder.as_ref().map_or(Duration::ZERO, |(_, t)| t.elapsed());
        let phase = report.holder.as_ref().map_or_else(String::new, |h| format!(" ({})", h.state));
        let line = format!(
            "waiting for {}: held by {holder}{phase} for {}",
            render::object_name(&report.csp),
            render::human_duration(i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
        );
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            self.drawn = true;
        } else if changed || self.last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
            let _ = writeln!(err, "{line}");
            self.last_line = Some(Instant::now());
        }
    }

    /// A round that failed with an error `hold --wait` rides out.
    fn show_error(&mut self, csp: &str, error: &Error) {
        let line = format!("waiting for {}: {}", render::object_name(csp), one_line(&error.to_string()));
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
            self.drawn = true;
        } else if self.last_error.as_deref() != Some(line.as_str())
            || self.last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            let _ = writeln!(err, "{line}");
            self.last_line = Some(Instant::now());
        }
        self.last_error = Some(line);
        // The next report that shows a holder is news again.
        self.holder = None;
    }

    fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
            self.drawn = false;
        }
    }
}
