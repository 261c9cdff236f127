//! [`Running`]: a process the live tests started and follow while it runs (`status --watch`,
//! `hold --wait`, `run`): its output lines arrive on channels with the moment each was read, and
//! every wait has a hang bound.

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How long a test waits for something that should come at once before it calls it a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// A running process, its standard output and error arriving line by line.
pub struct Running {
    child: Child,
    stdout: Receiver<(Instant, String)>,
    stderr: Receiver<(Instant, String)>,
    /// The stdout lines read so far.
    seen: Vec<String>,
    /// The stderr lines read so far.
    errors: Vec<String>,
}

impl Running {
    /// Starts `command` with no standard input and its output piped.
    pub fn start(mut command: Command) -> Running {
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("it starts");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Running { child, stdout, stderr, seen: Vec::new(), errors: Vec::new() }
    }

    /// As [`Running::start`], with its standard input piped to the writer returned.
    pub fn start_with_input(mut command: Command) -> (Running, std::process::ChildStdin) {
        let mut child =
            command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("it starts");
        let input = child.stdin.take().expect("stdin");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        (Running { child, stdout, stderr, seen: Vec::new(), errors: Vec::new() }, input)
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The stdout lines read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The stderr lines read so far.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The next stdout line that `wanted` accepts; panics after [`HANG`].
    pub fn line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        self.line_at(what, wanted).1
    }

    /// As [`Running::line`], with the moment the line was read from the process's stdout.
    pub fn line_at(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> (Instant, String) {
        self.next(Stream::Stdout, what, wanted)
    }

    /// The next stderr line that `wanted` accepts; panics after [`HANG`].
    pub fn error_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        self.next(Stream::Stderr, what, wanted).1
    }

    /// The next line of `stream` that `wanted` accepts, with when it was read; every line read is
    /// kept ([`Running::seen`], [`Running::errors`]). Panics after [`HANG`].
    fn next(&mut self, stream: Stream, what: &str, wanted: impl Fn(&str) -> bool) -> (Instant, String) {
        let deadline = Instant::now() + HANG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (lines, kept) = match stream {
                Stream::Stdout => (&self.stdout, &mut self.seen),
                Stream::Stderr => (&self.stderr, &mut self.errors),
            };
            match lines.recv_timeout(left) {
                Ok((at, line)) => {
                    kept.push(line.clone());
                    if wanted(&line) {
                        return (at, line);
                    }
                }
                Err(_) => {
                    let which = match stream {
                        Stream::Stdout => "line",
                        Stream::Stderr => "stderr line",
                    };
                    self.hang(&format!("no {which} {what}"))
                }
            }
        }
    }

    /// Kills it and panics with `what` and everything it printed.
    fn hang(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        self.errors.extend(self.stderr.try_iter().map(|(_, line)| line));
        panic!("{what} (hang bound {HANG:?})\nstdout: {:#?}\nstderr: {:#?}", self.seen, self.errors);
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }

    /// The stderr lines that have arrived and not been taken yet (they are kept in
    /// [`Running::errors`] too).
    pub fn pending_errors(&mut self) -> Vec<String> {
        let new: Vec<String> = self.stderr.try_iter().map(|(_, line)| line).collect();
        self.errors.extend(new.iter().cloned());
        new
    }

    /// Sends it `signal` (`INT`, `TERM`, ...) with `kill -s`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill -s {signal}");
    }

    /// SIGINT (Ctrl-C), then the exit code.
    pub fn interrupt(mut self) -> Option<i32> {
        self.signal("INT");
        self.wait()
    }

    /// The exit code (`None` when a signal ended it); kills it after [`HANG`].
    pub fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("did not exit (hang bound {HANG:?})");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The exit code and everything it wrote after the lines already taken, once it exits.
    pub fn finish(mut self) -> (Option<i32>, Vec<String>, Vec<String>) {
        let code = self.wait();
        // The readers end at end of file, which comes with the exit.
        let rest = |lines: &Receiver<(Instant, String)>| {
            let mut all = Vec::new();
            while let Ok((_, line)) = lines.recv_timeout(HANG) {
                all.push(line);
            }
            all
        };
        let stdout = rest(&self.stdout);
        let stderr = rest(&self.stderr);
        (code, stdout, stderr)
    }
}

/// One of a process's output streams.
#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Polls `done` every half second until it holds; panics naming `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, done: impl FnMut() -> bool) {
    poll_until(what, limit, Duration::from_millis(500), done);
}

/// As [`wait_until`], polling every `every`: for a cheap local check (a file, a counter) whose
/// moment matters to the test.
pub fn poll_until(what: &str, limit: Duration, every: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(every);
    }
}

/// The lines read from `from`, each with the moment it was read, on a channel that closes at end
/// of file.
fn lines(from: impl Read + Send + 'static) -> Receiver<(Instant, String)> {
    let (send, receive) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if send.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    receive
}

/// `median M, max X` of a measurement's times, for the measurements BENCHMARKS.md quotes, with
/// `decimals` digits after the unit's point (`{:.1?}`).
///
/// # Panics
///
/// When `times` is empty.
pub fn median_and_max(mut times: Vec<Duration>, decimals: usize) -> String {
    times.sort();
    let n = times.len();
    let median = if n.is_multiple_of(2) { (times[n / 2 - 1] + times[n / 2]) / 2 } else { times[n / 2] };
    format!("median {median:.decimals$?}, max {:.decimals$?}", times[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let times: Vec<Duration> = (1..=20).rev().map(Duration::from_millis).collect();
        assert_eq!(median_and_max(times, 1), "median 10.5ms, max 20.0ms");
        let odd: Vec<Duration> = [3, 1, 2].into_iter().map(Duration::from_millis).collect();
        assert_eq!(median_and_max(odd, 0), "median 2ms, max 3ms");
    }
}
