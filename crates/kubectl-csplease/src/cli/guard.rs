//! `run`: a command guarded by the lease. Takes the lease as `hold` does, runs the command, and
//! gives the lease up when it exits. While it runs, [`CspLease::until_lost`] watches the lease:
//! when it is lost the command gets SIGTERM, then SIGKILL after `--grace`, and the exit code is
//! [`Exit::LeaseLost`]. SIGINT, SIGTERM and SIGHUP sent to csplease are passed on to the command.
//!
//! Where the signals go: without an interactive terminal the command leads a process group of
//! its own and every signal goes to that group (a shell's children too). When csplease runs in
//! the foreground of a terminal, the command stays in csplease's group so that it can use the
//! terminal; the terminal then delivers Ctrl-C (SIGINT) and a hang-up (SIGHUP) to both, so only
//! SIGTERM is passed on, to the command alone, and sending the same signal twice is avoided.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::time::Duration;

use csp_lease::{CspLease, Error, Loss, Report};
use lease_logic::{Lease, Outcome, PodRef};
use rustix::process::{Pid, Signal};
use tokio::process::Command;

use super::output::{fail, finish, one_line};
use super::signals::{self, Caught, Signals};
use super::waiting::{Acquired, Taken, Unfinished};
use super::{Env, Exit, Flags, Taking, waiting};
use crate::render;

/// How long giving the lease back rides out an unreachable or failing API server.
const RELEASE_PATIENCE: Duration = Duration::from_secs(30);

/// What `run` was asked to do besides the CStorPool and the claimant.
pub(super) struct Options<'a> {
    /// `--force`, `--wait`, `--timeout`.
    pub taking: &'a Taking,
    /// `--grace`.
    pub grace: Duration,
    /// The command and its arguments.
    pub command: &'a [OsString],
}

/// The usage errors of `run` that need no cluster: it writes for real and prints nothing of its
/// own on standard output (that is the command's).
pub(super) fn check(flags: &Flags) -> Result<(), String> {
    if flags.dry_run != super::DryRunArg::None {
        return Err("run does not take --dry-run: it runs the command only while it holds the lease".to_owned());
    }
    if flags.output.is_some() {
        return Err("run does not take -o: standard output is the command's".to_owned());
    }
    Ok(())
}

/// `run`: takes the lease, runs the command under it, gives it back; returns the exit code.
pub(super) async fn run(
    lease: &CspLease,
    csp: &str,
    claimant: &PodRef,
    options: &Options<'_>,
    flags: &Flags,
    env: &Env,
) -> Exit {
    // Caught from the start: a signal while waiting for the lease runs nothing.
    let mut signals = match signals::catch() {
        Ok(signals) => signals,
        Err(code) => return code,
    };
    let Acquired { report, took } =
        match waiting::acquire(lease, csp, claimant, options.taking, flags, env, &mut signals).await {
            Ok(acquired) => acquired,
            Err(Unfinished::Failed(code)) => return code,
            Err(Unfinished::Interrupted { caught, taken }) => {
                return interrupted(lease, csp, claimant, &caught, taken != Taken::No, &mut signals).await;
            }
        };
    let Some(held) = report.held().cloned() else {
        // Denied, invalid: printed as `hold` prints it, with its exit code.
        return finish(&report, Some(claimant), flags);
    };
    if flags.verbosity >= 1 {
        eprintln!("{}", render::summary(&report, Some(claimant)));
    }
    // A lease held in the name of a dead or missing pod is anyone's to take over at once.
    let own = lease.lookup(claimant).await;
    if !own.state.is_live() {
        eprintln!(
            "Warning: the claimant {claimant} is {}: any pool pod may take the lease over, which stops the command",
            own.state.liveness()
        );
    }
    // Caught since the lease was taken: the command does not start.
    if let Some(caught) = signals.pending().await {
        return interrupted(lease, csp, claimant, &caught, took, &mut signals).await;
    }
    let status = supervise(lease, csp, &held, options, &mut signals).await;
    match status {
        Ended::Lost => Exit::LeaseLost,
        Ended::Exited(code) => give_back(lease, csp, claimant, code, &mut signals).await,
    }
}

/// How the command ended.
enum Ended {
    /// It exited with this code, holding the lease as far as csplease saw, or could not be
    /// started (126, 127; nothing ran). Either way the lease is given back.
    Exited(Exit),
    /// The lease was lost while it ran, and it was stopped.
    Lost,
}

/// Runs the command and waits for it, stopping it if the lease is lost and passing signals on.
async fn supervise(lease: &CspLease, csp: &str, held: &Lease, options: &Options<'_>, signals: &mut Signals) -> Ended {
    let Some((program, arguments)) = options.command.split_first() else {
        return Ended::Exited(fail("run: no command", Exit::Usage));
    };
    let interactive = in_terminal_foreground();
    let mut command = Command::new(program);
    command
        .args(arguments)
        .env("CSPLEASE_CSP", csp)
        .env("CSPLEASE_HOLDER", &held.holder)
        .env("CSPLEASE_LEADER_TRANSITION", held.leader_transition.to_string());
    if !interactive {
        command.process_group(0);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let program = program.to_string_lossy();
            let code = if e.kind() == std::io::ErrorKind::NotFound { Exit::CommandNotFound } else { Exit::CannotRun };
            return Ended::Exited(fail(&format!("cannot run {program}: {e}"), code));
        }
    };
    let target = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw)
        .map(|pid| Target { pid, group: !interactive });
    let name = render::object_name(csp);
    let mut lost = std::pin::pin!(lease.until_lost(csp, held));
    // Whether the lease is still followed (not lost, and no error that waiting cannot cure).
    let mut following = true;
    let mut was_lost = false;
    let mut kill_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            status = child.wait() => {
                let code = match status {
                    Ok(status) => Exit::of_command(status),
                    Err(e) => fail(&format!("cannot wait for the command: {e}"), Exit::Error),
                };
                return if was_lost { Ended::Lost } else { Ended::Exited(code) };
            }
            caught = signals.next() => {
                if let Some(target) = &target && (!interactive || caught.signal == Signal::TERM) {
                    target.send(caught.signal);
                }
            }
            loss = &mut lost, if following => {
                following = false;
                match loss {
                    Ok(loss) => {
                        let what = match loss {
                            Loss::Rewritten(reading) => format!("it is now {reading}"),
                            Loss::Deleted => "the CStorPool was deleted".to_owned(),
                        };
                        eprintln!(
                            "error: lost the lease of {name}: {}; stopping the command (SIGTERM, then SIGKILL after {})",
                            one_line(&what),
                            shown(options.grace)
                        );
                        was_lost = true;
                        if let Some(target) = &target {
                            target.send(Signal::TERM);
                        }
                        kill_at = Some(tokio::time::Instant::now() + options.grace);
                    }
                    Err(e) => eprintln!(
                        "Warning: cannot follow the lease of {name} any more: {}; the command keeps running",
                        one_line(&e.to_string())
                    ),
                }
            }
            () = sleep_until(kill_at), if kill_at.is_some() => {
                kill_at = None;
                eprintln!("error: the command did not stop within the grace period: sending SIGKILL");
                if let Some(target) = &target {
                    target.send(Signal::KILL);
                }
            }
        }
    }
}

/// `grace` as the user wrote it: `10s`, `2m`, `500ms`.
fn shown(grace: Duration) -> String {
    if grace.subsec_millis() == 0 {
        render::human_duration(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX))
    } else {
        format!("{}ms", grace.as_millis())
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// Gives the lease back after the command ended with `code`. Returns `code`,
/// [`Exit::LeaseLost`] when the lease turned out to be someone else's already, [`Exit::Error`]
/// when a successful command's lease could not be given back, or 128+N when a signal stopped
/// the trying.
async fn give_back(lease: &CspLease, csp: &str, claimant: &PodRef, code: Exit, signals: &mut Signals) -> Exit {
    let name = render::object_name(csp);
    match release(lease, csp, claimant, signals).await {
        Ok(report) if report.decision.outcome == Outcome::Released => code,
        Ok(report) => {
            let message = format!("lost the lease of {name} before it could be given back: {}", report.decision.reason);
            fail(&message, Exit::LeaseLost)
        }
        Err(NotGivenBack::Failed(error)) => {
            let fallback = if code == Exit::Command(0) { Exit::Error } else { code };
            fail(&still_held(csp, claimant, &error), fallback)
        }
        Err(NotGivenBack::Interrupted(caught, error)) => {
            let message = format!(
                "interrupted by {} while giving the lease back: {}",
                caught.name,
                still_held(csp, claimant, &error)
            );
            fail(&message, caught.exit())
        }
    }
}

/// Ends a `run` that a signal stopped before the command started, giving back the lease if this
/// `run` may have taken it. The exit code is the signal's (128+N).
async fn interrupted(
    lease: &CspLease,
    csp: &str,
    claimant: &PodRef,
    caught: &Caught,
    maybe_taken: bool,
    signals: &mut Signals,
) -> Exit {
    let mut message = format!("interrupted by {} while taking the lease: the command did not run", caught.name);
    if maybe_taken {
        match release(lease, csp, claimant, signals).await {
            Ok(report) if report.decision.outcome == Outcome::Released => {
                message.push_str("; the lease taken meanwhile was given back");
            }
            // Not the claimant's: nothing was taken after all.
            Ok(_) => {}
            Err(NotGivenBack::Failed(error) | NotGivenBack::Interrupted(_, error)) => {
                message = format!("{message}; {}", still_held(csp, claimant, &error));
            }
        }
    }
    fail(&message, caught.exit())
}

/// Why [`release`] did not give the lease back.
enum NotGivenBack {
    /// An error that waiting did not cure.
    Failed(Error),
    /// A signal came while waiting to try again after this error.
    Interrupted(Caught, Error),
}

/// Releases the lease as the claimant (never clearing anyone else's), riding out a failing API
/// server for [`RELEASE_PATIENCE`]. A signal that comes while it waits to try again stops it
/// (a second Ctrl-C need not wait out the patience); a try in flight is never cut off, and the
/// signals caught before it started (those that stopped the command) do not count.
async fn release(
    lease: &CspLease,
    csp: &str,
    claimant: &PodRef,
    signals: &mut Signals,
) -> Result<Report, NotGivenBack> {
    while signals.pending().await.is_some() {}
    let started = tokio::time::Instant::now();
    loop {
        match lease.release(csp, Some(claimant), false).await {
            Ok(report) => return Ok(report),
            Err(e) if e.is_transient() && started.elapsed() < RELEASE_PATIENCE => {
                let pause = Duration::from_millis(500 + fastrand::u64(0..500));
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    caught = signals.next() => return Err(NotGivenBack::Interrupted(caught, e)),
                }
            }
            Err(e) => return Err(NotGivenBack::Failed(e)),
        }
    }
}

/// The message for a lease that could not be given back, and how to give it back by hand.
fn still_held(csp: &str, claimant: &PodRef, error: &Error) -> String {
    format!(
        "the lease of {} may still be held by {claimant}: {error}; give it back with `kubectl csplease release {csp} --holder {claimant}`",
        render::object_name(csp)
    )
}

/// Whether standard input is a terminal whose foreground process group is csplease's: then the
/// terminal's signals reach the command directly.
fn in_terminal_foreground() -> bool {
    let stdin = std::io::stdin();
    stdin.is_terminal() && rustix::termios::tcgetpgrp(&stdin).is_ok_and(|group| group == rustix::process::getpgrp())
}

/// Where signals for the command go: its process, or the process group it leads.
struct Target {
    pid: Pid,
    group: bool,
}

impl Target {
    fn send(&self, signal: Signal) {
        // It may have exited just now: nothing to stop then.
        let _ = if self.group {
            rustix::process::kill_process_group(self.pid, signal)
        } else {
            rustix::process::kill_process(self.pid, signal)
        };
    }
}
