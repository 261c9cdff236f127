//! The arguments: kubectl's flags, the subcommands and their options, as clap parses them.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Leases on OpenEBS cStor pools (CStorPool objects, `csp`): who holds each pool, taking and
/// giving them up, race-safe.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-csplease",
    bin_name = "kubectl csplease",
    version = env!("CSPLEASE_VERSION"),
    after_help = super::after_help(),
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
    #[command(after_help = super::after_help())]
    Status {
        /// The CStorPool; all of them when omitted.
        csp: Option<String>,
        /// After the table, follow the leases: one more row each time a lease or its holder's
        /// pod changes (-o json: one document per line). Ctrl-C stops.
        #[arg(short = 'w', long)]
        watch: bool,
    },
    /// Take the lease of a CStorPool for the claimant
    ///
    /// SIGINT, SIGTERM and SIGHUP end it with 128+N. A write of the lease already on its way is
    /// let finish first (for up to 5 s, or until a second signal), and the message says whether
    /// it took the lease.
    #[command(after_help = super::after_help())]
    Hold {
        /// The CStorPool.
        csp: String,
        /// --force, --wait and --timeout.
        #[command(flatten)]
        taking: Taking,
    },
    /// Run a command while holding the lease of a CStorPool, and give the lease up when it exits
    ///
    /// Takes the lease for the claimant as `hold` does, runs COMMAND with its arguments, and
    /// releases the lease when the command exits; the exit status is the command's. While the
    /// command runs, csplease watches the lease: if it is lost (broken with `release --force`,
    /// taken or rewritten by anyone, or the CStorPool deleted), the command gets SIGTERM, then
    /// SIGKILL after --grace, and csplease exits with 5. SIGINT, SIGTERM and SIGHUP sent to
    /// csplease are passed on to the command; the lease is given up after it exits. One that
    /// comes before the command starts ends csplease with 128+N: the command does not run, and a
    /// lease taken meanwhile is given back.
    ///
    /// Without a terminal the command runs in a process group of its own, and every signal goes
    /// to that group (its children too). From an interactive terminal it shares the terminal:
    /// Ctrl-C and a hang-up reach it from the terminal, and SIGTERM and the stop after a lost
    /// lease go to the command alone.
    ///
    /// The command's environment gains CSPLEASE_CSP, CSPLEASE_HOLDER and
    /// CSPLEASE_LEADER_TRANSITION (the lease's count: a fencing token for what it writes).
    ///
    /// The lease names a pod, not a process: two `run`s with the same claimant share it. Give
    /// each its own (--holder).
    #[command(after_help = super::after_help())]
    Run {
        /// The CStorPool.
        // Indexed explicitly: completion re-adds `csp` with its candidates, after COMMAND.
        #[arg(index = 1)]
        csp: String,
        /// --force, --wait and --timeout, as `hold` takes them.
        #[command(flatten)]
        taking: Taking,
        /// After the lease is lost, how long the command has after SIGTERM before SIGKILL.
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
        grace: Duration,
        /// The command and its arguments, after `--`.
        #[arg(index = 2, last = true, required = true, num_args = 1.., value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Give up the claimant's lease; --force breaks anyone's and says whose
    ///
    /// SIGINT, SIGTERM and SIGHUP end it with 128+N. A write of the lease already on its way is
    /// let finish first (for up to 5 s, or until a second signal), and the message says whether
    /// it gave the lease up.
    #[command(after_help = super::after_help())]
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

/// How the lease is taken, by `hold` and by `run`.
#[derive(Debug, Args)]
pub struct Taking {
    /// Take over an invalid (unreadable or unidentifiable) lease. Never overrides a live holder.
    #[arg(long)]
    pub force: bool,
    /// Keep trying while a live pod holds the lease, or while the API server is unreachable,
    /// slow or failing (each try reads the CStorPool again: no write is ever resent blindly).
    /// It tries again as soon as a watch sees the CStorPool or the holder's pod change.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait keeps trying; it also bounds every request made meanwhile (never a
    /// command that `run` runs).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, requires = "wait")]
    pub timeout: Duration,
}

impl Taking {
    /// `--wait`'s limit, when waiting.
    pub fn wait(&self) -> Option<Duration> {
        self.wait.then_some(self.timeout)
    }
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
}
