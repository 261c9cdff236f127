//! The command line: kubectl's flags, the subcommands, and the documented exit codes.
//!
//! [`run`] parses the arguments, does the command and returns the exit code; the binary's `main`
//! only calls it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use k8s_openapi::jiff::Timestamp;
use lease_logic::{Outcome, PodRef, Reading};

use crate::connect::{Connected, Connection};
use crate::error::Error;
use crate::lease::{CspLease, DryRun, EventRecord, Report};
use crate::render::{self, Document, List};

/// The exit codes, as `--help` and the README document them.
pub mod exit {
    /// Success, including "already held" and "not held".
    pub const SUCCESS: u8 = 0;
    /// An error: cluster, kubeconfig, not found, forbidden, timeout, lost every race.
    pub const ERROR: u8 = 1;
    /// A usage error: bad flags, no claimant, an invalid `--holder`.
    pub const USAGE: u8 = 2;
    /// Denied: another pod holds the lease (for `hold`, a live one), `hold --wait` timed out, or
    /// an admission webhook denied the write.
    pub const DENIED: u8 = 3;
    /// The lease is invalid (unreadable, or its holder is not a pod reference): needs `--force`.
    pub const INVALID: u8 = 4;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success, including \"already held\" and \"not held\"
  1  error: cluster unreachable, kubeconfig, not found, forbidden, timeout
     (hold --wait rides out an unreachable, slow or failing server until --timeout)
  2  usage: bad flags, no claimant, invalid --holder
  3  denied: another pod holds the lease (hold: a live one; release: --force breaks it);
     also hold --wait when --timeout passes while a live pod holds it, and a write an
     admission webhook denied
  4  the lease is invalid (unreadable, or its holder is not a pod reference): --force repairs it

The claimant is --holder NAMESPACE/POD (or POD with -n), else $NAMESPACE/$POD_NAME as pool
pods set them.";

/// Leases on OpenEBS cStor pools (CStorPool objects, `csp`): who holds each pool, taking and
/// giving them up, race-safe.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-csplease",
    bin_name = "kubectl csplease",
    version = env!("CSPLEASE_VERSION"),
    after_help = EXIT_CODES,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// kubectl's flags.
    #[command(flatten)]
    pub flags: Flags,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's own flags, accepted by every subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Kubectl options")]
pub struct Flags {
    /// Path to the kubeconfig file to use.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// The holder pod's namespace, when --holder names only the pod.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// User to impersonate.
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Group to impersonate (repeatable).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// Limit on each request: 0 (none), 30s, 1m, 500ms, or plain seconds.
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Output format: json or yaml (the decision document with the CStorPool's name), wide
    /// (adds the holder's NODE and whether it is Ready), name.
    #[arg(short = 'o', long, global = true, value_enum, value_name = "FORMAT", hide_possible_values = true)]
    pub output: Option<Output>,
    /// none (write), client (print the decision and patch, write nothing), server (send the
    /// patch with dryRun=All: the API server checks it and stores nothing).
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "MODE",
        default_value = "none",
        hide_possible_values = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client"
    )]
    pub dry_run: DryRunArg,
    /// The annotation key that holds the lease.
    #[arg(long, global = true, value_name = "KEY", default_value = lease_logic::DEFAULT_LEASE_KEY)]
    pub lease_key: String,
    /// The claimant: NAMESPACE/POD, or POD in -n's namespace [default: $NAMESPACE/$POD_NAME].
    #[arg(long, global = true, value_name = "NAMESPACE/POD")]
    pub holder: Option<String>,
    /// Log level: 6 and above log every request and the request count.
    #[arg(short = 'v', long = "v", global = true, value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,
}

/// `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The decision document(s) as JSON, with the CStorPool's name.
    Json,
    /// The same as YAML.
    Yaml,
    /// The table with the holder's NODE and whether it is Ready.
    Wide,
    /// `cstorpool.openebs.io/NAME`.
    Name,
}

/// `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRunArg {
    /// Write.
    None,
    /// Decide only.
    Client,
    /// Let the API server check the write.
    Server,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show leases: a table of every CStorPool, or one in detail with what `hold` would do for
    /// --holder.
    #[command(after_help = EXIT_CODES)]
    Status {
        /// The CStorPool; all of them when omitted.
        csp: Option<String>,
    },
    /// Take the lease of a CStorPool for the claimant.
    #[command(after_help = EXIT_CODES)]
    Hold {
        /// The CStorPool.
        csp: String,
        /// Take over an invalid (unreadable or unidentifiable) lease. Never overrides a live holder.
        #[arg(long)]
        force: bool,
        /// Keep trying while a live pod holds the lease, or while the API server is unreachable,
        /// slow or failing (each try reads the CStorPool again: no write is ever resent blindly).
        #[arg(long)]
        wait: bool,
        /// How long --wait keeps trying; it also bounds every request made meanwhile.
        #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, requires = "wait")]
        timeout: Duration,
    },
    /// Give up the claimant's lease; --force breaks anyone's and says whose.
    #[command(after_help = EXIT_CODES)]
    Release {
        /// The CStorPool.
        csp: String,
        /// Break the lease whoever holds it (or clear an invalid one). No claimant needed.
        #[arg(long)]
        force: bool,
    },
    /// Serve the lease inspector page on 127.0.0.1, with a read-only view of every CStorPool
    ///
    /// Prints the page's URL. The page lists the cluster's CStorPools and their holder pods and
    /// previews hold and release on them; nothing is ever written. Ctrl-C stops it.
    Inspect {
        /// The port to listen on; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Decide requests offline: a request document or JSON Lines in, decision documents out.
    Decide {
        /// Read requests from FILE instead of standard input ("-" is standard input).
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Print a shell completion script.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// Shells `completion` supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// bash.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// Parses kubectl-style durations: `0`, `45` (seconds), `500ms`, `30s`, `5m`, `1h`, `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}: use a number with a unit, e.g. 30s, 5m, 500ms");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
        let number: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::try_from_secs_f64(number * scale).map_err(|_| bad())?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// What the process environment provides: `$NAMESPACE` and `$POD_NAME`, and whether stderr is a
/// terminal. Tests pass their own.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `$NAMESPACE`.
    pub namespace: Option<String>,
    /// `$POD_NAME`.
    pub pod_name: Option<String>,
    /// Whether standard error is a terminal (for `hold --wait`'s progress line).
    pub terminal: bool,
}

impl Env {
    /// The real process environment.
    pub fn from_process() -> Env {
        let var = |k| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env { namespace: var("NAMESPACE"), pod_name: var("POD_NAME"), terminal: std::io::stderr().is_terminal() }
    }
}

/// Runs the plugin with `args` (the first is the program name); returns the exit code.
pub fn run<I, T>(args: I, env: &Env) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::SUCCESS };
        }
    };
    match cli.command {
        Command::Decide { file } => return decide(file),
        Command::Completion { shell } => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(shell, &mut Cli::command(), "kubectl-csplease", &mut std::io::stdout());
            return exit::SUCCESS;
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}"), exit::ERROR),
    };
    runtime.block_on(live(cli, env))
}

/// Prints `error: message` on one line and returns `code`.
fn fail(message: &str, code: u8) -> u8 {
    eprintln!("error: {}", one_line(message));
    code
}

/// `text` with its control characters escaped (`\n`, `\u{0}`...), so that an error is always one
/// line, whatever a server, an annotation or a holder's name holds.
fn one_line(text: &str) -> String {
    text.chars().fold(String::with_capacity(text.len()), |mut line, c| {
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
        line
    })
}

fn decide(file: Option<PathBuf>) -> u8 {
    let stdout = std::io::stdout().lock();
    let result = match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => match std::fs::File::open(&path) {
            Ok(input) => crate::decide::run(std::io::BufReader::new(input), stdout),
            Err(e) => return fail(&format!("cannot read {}: {e}", path.display()), exit::ERROR),
        },
        None => crate::decide::run(std::io::stdin().lock(), stdout),
    };
    match result {
        Ok(_) => exit::SUCCESS,
        Err(e) => fail(&format!("decide: {e}"), exit::ERROR),
    }
}

async fn live(cli: Cli, env: &Env) -> u8 {
    let flags = &cli.flags;
    let connection = Connection {
        kubeconfig: flags.kubeconfig.clone(),
        context: flags.context.clone(),
        cluster: flags.cluster.clone(),
        user: flags.user.clone(),
        impersonate: flags.as_user.clone(),
        impersonate_groups: flags.as_group.clone(),
        request_timeout: Some(flags.request_timeout).filter(|d| !d.is_zero()),
        verbosity: flags.verbosity,
    };
    if flags.lease_key.is_empty() {
        return fail("--lease-key must not be empty", exit::USAGE);
    }
    // Usage errors come before any configuration is loaded.
    let needs_claimant = match &cli.command {
        Command::Hold { .. } => true,
        Command::Release { force, .. } => !force,
        _ => false,
    };
    if needs_claimant && flags.holder.is_none() && env.pod_name.is_none() {
        return fail(NO_CLAIMANT, exit::USAGE);
    }
    if let Some(holder) = flags.holder.as_ref().filter(|h| h.contains('/'))
        && let Err(e) = holder.parse::<PodRef>()
    {
        return fail(&format!("invalid claimant from --holder: {e}"), exit::USAGE);
    }
    let connected = match connection.connect().await {
        Ok(connected) => connected,
        Err(e) => return fail(&e.to_string(), exit::ERROR),
    };
    let dry_run = match flags.dry_run {
        DryRunArg::None => DryRun::None,
        DryRunArg::Client => DryRun::Client,
        DryRunArg::Server => DryRun::Server,
    };
    let lease = CspLease::connected(&connected).with_lease_key(flags.lease_key.clone()).with_dry_run(dry_run);
    let code = match &cli.command {
        Command::Status { csp: None } => status_all(&lease, flags).await,
        Command::Status { csp: Some(csp) } => match claimant(flags, env, &connected) {
            Ok(claimant) => status_one(&lease, csp, claimant.as_ref(), flags).await,
            Err(message) => fail(&message, exit::USAGE),
        },
        Command::Hold { csp, force, wait, timeout } => match claimant(flags, env, &connected) {
            Ok(Some(claimant)) => {
                let wait = wait.then_some(*timeout);
                hold(&lease, csp, &claimant, *force, wait, flags, env).await
            }
            Ok(None) => fail(NO_CLAIMANT, exit::USAGE),
            Err(message) => fail(&message, exit::USAGE),
        },
        Command::Release { csp, force } => match claimant(flags, env, &connected) {
            Ok(None) if !force => fail(NO_CLAIMANT, exit::USAGE),
            Ok(claimant) => release(&lease, csp, claimant.as_ref(), *force, flags).await,
            Err(message) => fail(&message, exit::USAGE),
        },
        Command::Inspect { port } => match crate::inspect::serve(&lease, &connected.server, *port).await {
            Ok(()) => exit::SUCCESS,
            Err(message) => fail(&message, exit::ERROR),
        },
        Command::Decide { .. } | Command::Completion { .. } => exit::SUCCESS,
    };
    if flags.verbosity >= 6 {
        let count = connected.log.count();
        let plural = if count == 1 { "" } else { "s" };
        eprintln!("I {} kubectl-csplease sent {count} request{plural}", crate::trace::clock());
    }
    code
}

const NO_CLAIMANT: &str = "no claimant: pass --holder NAMESPACE/POD, or set NAMESPACE and POD_NAME as pool pods do";

/// The claimant: `--holder` (with `-n`, `$NAMESPACE` or the context's namespace when it names only
/// a pod), else `$NAMESPACE/$POD_NAME`; `None` when neither is there.
fn claimant(flags: &Flags, env: &Env, connected: &Connected) -> Result<Option<PodRef>, String> {
    let namespace =
        || flags.namespace.clone().or_else(|| env.namespace.clone()).unwrap_or_else(|| connected.namespace.clone());
    let (text, from) = match (&flags.holder, &env.pod_name) {
        (Some(holder), _) if holder.contains('/') => (holder.clone(), "--holder"),
        (Some(holder), _) => (format!("{}/{holder}", namespace()), "--holder"),
        (None, Some(pod)) => {
            let ns = env
                .namespace
                .clone()
                .or_else(|| flags.namespace.clone())
                .unwrap_or_else(|| connected.namespace.clone());
            (format!("{ns}/{pod}"), "$NAMESPACE/$POD_NAME")
        }
        (None, None) => return Ok(None),
    };
    text.parse::<PodRef>().map(Some).map_err(|e| format!("invalid claimant from {from}: {e}"))
}

fn print_doc<T: serde::Serialize>(doc: &T, output: Option<Output>) {
    let text = match output {
        Some(Output::Yaml) => serde_yaml_ng::to_string(doc).unwrap_or_default(),
        _ => {
            let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
            text.push('\n');
            text
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
}

fn structured(output: Option<Output>) -> bool {
    matches!(output, Some(Output::Json | Output::Yaml))
}

async fn status_all(lease: &CspLease, flags: &Flags) -> u8 {
    let pools = match lease.list(true).await {
        Ok(pools) => pools,
        Err(e) => return fail(&e.to_string(), exit::ERROR),
    };
    for pool in &pools {
        if let Some(error) = pool.holder.as_ref().and_then(|h| h.error.as_ref()) {
            eprintln!("Warning: cannot look up holder pods: {error}");
            break;
        }
    }
    match flags.output {
        Some(Output::Json | Output::Yaml) => {
            let docs = pools.iter().map(|p| Document { name: p.name(), decision: &p.decision, hold: None }).collect();
            print_doc(&List::of(docs), flags.output);
        }
        Some(Output::Name) => {
            for pool in &pools {
                println!("{}", render::object_name(pool.name()));
            }
        }
        output => {
            if pools.is_empty() {
                eprintln!("No resources found");
                return exit::SUCCESS;
            }
            let wide = output == Some(Output::Wide);
            let nodes = if wide { nodes(lease).await } else { None };
            let now = Timestamp::now();
            let rows: Vec<_> = pools.iter().map(|p| render::row(p, now, nodes.as_ref())).collect();
            print!("{}", render::table(&rows, wide));
        }
    }
    exit::SUCCESS
}

async fn nodes(lease: &CspLease) -> Option<HashMap<String, Option<bool>>> {
    match lease.node_readiness().await {
        Ok(nodes) => Some(nodes),
        Err(e) => {
            eprintln!("Warning: cannot list nodes: {e}");
            None
        }
    }
}

async fn status_one(lease: &CspLease, csp: &str, claimant: Option<&PodRef>, flags: &Flags) -> u8 {
    let status = match lease.status(csp).await {
        Ok(status) => status,
        Err(e) => return fail(&e.to_string(), exit::ERROR),
    };
    let would = claimant.map(|c| (c, status.would_hold(c, false)));
    match flags.output {
        Some(Output::Json | Output::Yaml) => {
            let doc =
                Document { name: status.name(), decision: &status.decision, hold: would.as_ref().map(|(_, d)| d) };
            print_doc(&doc, flags.output);
        }
        Some(Output::Name) => println!("{}", render::object_name(status.name())),
        output => {
            let nodes = match (output, status.holder.as_ref().and_then(|h| h.node.as_ref())) {
                (Some(Output::Wide), Some(_)) => nodes(lease).await,
                _ => None,
            };
            let would = would.as_ref().map(|(c, d)| (*c, d));
            print!("{}", render::describe(&status, Timestamp::now(), would, nodes.as_ref()));
        }
    }
    exit::SUCCESS
}

async fn hold(
    lease: &CspLease,
    csp: &str,
    claimant: &PodRef,
    force: bool,
    wait: Option<Duration>,
    flags: &Flags,
    env: &Env,
) -> u8 {
    let started = Instant::now();
    let mut progress = Progress::new(env.terminal);
    // With --wait: why the last round did not take the lease, and the exit code if it was the
    // last one (3 for a live holder, 1 for a server that failed).
    let mut last: Option<(u8, String)> = None;
    loop {
        let remaining = wait.map(|limit| limit.saturating_sub(started.elapsed()));
        if let (Some(limit), Some(Duration::ZERO)) = (wait, remaining)
            && let Some((code, reason)) = last.take()
        {
            progress.finish();
            let error = Error::WaitTimedOut { name: csp.to_owned(), after: limit, reason };
            return fail(&error.to_string(), code);
        }
        // With --wait, its limit bounds every attempt too: a server that never answers cannot
        // hold the command past --timeout.
        let attempt = lease.hold(csp, claimant, force);
        let result = match (wait, remaining.filter(|r| !r.is_zero())) {
            (Some(limit), Some(remaining)) => match tokio::time::timeout(remaining, attempt).await {
                Ok(result) => result,
                Err(_) => {
                    progress.finish();
                    let reason = "the API server did not answer; the lease may or may not have been written".to_owned();
                    let error = Error::WaitTimedOut { name: csp.to_owned(), after: limit, reason };
                    return fail(&error.to_string(), exit::ERROR);
                }
            },
            _ => attempt.await,
        };
        let report = match result {
            Ok(report) => report,
            // --wait rides out a restarting or overloaded API server: the next round reads the
            // CStorPool again and decides again, so nothing is ever resent blindly.
            Err(e) if wait.is_some() && e.is_transient() => {
                progress.show_error(csp, &e);
                last = Some((exit::ERROR, e.to_string()));
                tokio::time::sleep(poll(wait.map(|limit| limit.saturating_sub(started.elapsed())))).await;
                continue;
            }
            Err(e) => {
                progress.finish();
                return fail(&e.to_string(), write_error(&e));
            }
        };
        if wait.is_none() || report.decision.outcome != Outcome::Denied {
            progress.finish();
            return finish(&report, Some(claimant), force, flags);
        }
        progress.show(&report);
        last = Some((exit::DENIED, report.decision.reason));
        tokio::time::sleep(poll(wait.map(|limit| limit.saturating_sub(started.elapsed())))).await;
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

async fn release(lease: &CspLease, csp: &str, claimant: Option<&PodRef>, force: bool, flags: &Flags) -> u8 {
    match lease.release(csp, claimant, force).await {
        Ok(report) => finish(&report, claimant, force, flags),
        Err(e) => fail(&e.to_string(), write_error(&e)),
    }
}

/// The exit code of a `hold` or `release` that failed: [`exit::DENIED`] when an admission
/// webhook denied the write, else [`exit::ERROR`].
fn write_error(error: &Error) -> u8 {
    if error.is_refused() { exit::DENIED } else { exit::ERROR }
}

/// Prints the result of `hold` or `release` and returns its exit code.
fn finish(report: &Report, claimant: Option<&PodRef>, force: bool, flags: &Flags) -> u8 {
    if let Some(EventRecord::Failed(kind, error)) = &report.event {
        eprintln!("Warning: the lease was written, but its {} event was not recorded: {error}", kind.reason());
    }
    let code = match report.decision.outcome {
        Outcome::Denied => exit::DENIED,
        Outcome::Invalid => exit::INVALID,
        Outcome::NeedHolderStatus => exit::ERROR,
        _ => exit::SUCCESS,
    };
    let invalid_lease = matches!(report.reading, Reading::Malformed(_) | Reading::Unidentifiable(_));
    let line = render::summary(report, claimant, invalid_lease && !force);
    if structured(flags.output) {
        print_doc(&Document { name: &report.csp, decision: &report.decision, hold: None }, flags.output);
    } else if flags.output == Some(Output::Name) {
        println!("{}", render::object_name(&report.csp));
    } else if code == exit::SUCCESS {
        println!("{line}");
        if report.write == crate::lease::Write::DryRunClient
            && let Some(patch) = &report.decision.patch
        {
            println!("patch: {}", patch.to_json());
        }
    }
    if code != exit::SUCCESS {
        eprintln!("error: {}", one_line(&line));
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(one_line("holder \"a\nb\"\r\0 é"), "holder \"a\\nb\"\\r\\u{0} é");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
