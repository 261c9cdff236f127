//! The command line: kubectl's flags, the subcommands, and the documented exit codes.
//!
//! [`run`] parses the arguments, does the command and returns the exit code; the binary's `main`
//! only calls it. By job: [`arguments`](Cli) (what clap parses), `claimant` (who claims the
//! lease), `status`, `waiting` (`hold --wait`), `guard` (`run`: a command under the lease),
//! `output` (what is printed when a command ends) and [`exit`] (the exit codes, defined once for
//! the code, `--help` and the READMEs).

mod arguments;
mod claimant;
pub mod exit;
mod guard;
mod output;
mod signals;
mod status;
mod waiting;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{CommandFactory, Parser};
use csp_lease::{CspLease, DryRun, Write};
use lease_logic::PodRef;

pub use arguments::{Cli, Command, DryRunArg, Flags, Output, Shell, Taking, parse_duration};
pub use exit::Exit;
use output::{fail, finish, write_error};

use crate::connect::Connection;
use crate::render;

/// The text after the options in `--help`: the exit codes and who the claimant is.
fn after_help() -> String {
    format!("{}\n\n{}", exit::help(), claimant::HELP)
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
    command(args, env).code()
}

fn command<I, T>(args: I, env: &Env) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage } else { Exit::Success };
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
            return Exit::Success;
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}"), Exit::Error),
    };
    runtime.block_on(live(cli, env))
}

fn decide(file: Option<PathBuf>) -> Exit {
    let stdout = std::io::stdout().lock();
    let result = match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => match std::fs::File::open(&path) {
            Ok(input) => crate::decide::run(std::io::BufReader::new(input), stdout),
            Err(e) => return fail(&format!("cannot read {}: {e}", path.display()), Exit::Error),
        },
        None => crate::decide::run(std::io::stdin().lock(), stdout),
    };
    match result {
        Ok(_) => Exit::Success,
        Err(e) => fail(&format!("decide: {e}"), Exit::Error),
    }
}

async fn live(cli: Cli, env: &Env) -> Exit {
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
        return fail("--lease-key must not be empty", Exit::Usage);
    }
    // Usage errors come before any configuration is loaded.
    if let Err(message) = claimant::check(&cli.command, flags, env) {
        return fail(&message, Exit::Usage);
    }
    if let Command::Run { .. } = cli.command
        && let Err(message) = guard::check(flags)
    {
        return fail(&message, Exit::Usage);
    }
    let connected = match connection.connect().await {
        Ok(connected) => connected,
        Err(e) => return fail(&e.to_string(), Exit::Error),
    };
    let dry_run = match flags.dry_run {
        DryRunArg::None => DryRun::None,
        DryRunArg::Client => DryRun::Client,
        DryRunArg::Server => DryRun::Server,
    };
    let lease = connected.lease().with_lease_key(flags.lease_key.clone()).with_dry_run(dry_run);
    let code = match &cli.command {
        Command::Status { csp, watch: true } => status::watch(&lease, csp.as_deref(), flags).await,
        Command::Status { csp: None, watch: false } => status::status_all(&lease, flags).await,
        Command::Status { csp: Some(csp), watch: false } => match claimant::claimant(flags, env, &connected) {
            Ok(claimant) => status::status_one(&lease, csp, claimant.as_ref(), flags).await,
            Err(message) => fail(&message, Exit::Usage),
        },
        Command::Hold { csp, taking } => match claimant::required(flags, env, &connected) {
            Ok(claimant) => waiting::hold(&lease, csp, &claimant, taking, flags, env).await,
            Err(message) => fail(&message, Exit::Usage),
        },
        Command::Run { csp, taking, grace, command } => match claimant::required(flags, env, &connected) {
            Ok(claimant) => {
                let options = guard::Options { taking, grace: *grace, command };
                guard::run(&lease, csp, &claimant, &options, flags, env).await
            }
            Err(message) => fail(&message, Exit::Usage),
        },
        Command::Release { csp, force } => match claimant::claimant(flags, env, &connected) {
            Ok(None) if !force => fail(claimant::NO_CLAIMANT, Exit::Usage),
            Ok(claimant) => release(&lease, csp, claimant.as_ref(), *force, flags).await,
            Err(message) => fail(&message, Exit::Usage),
        },
        Command::Inspect { port } => match crate::inspect::serve(&lease, &connected.server, *port).await {
            Ok(()) => Exit::Success,
            Err(message) => fail(&message, Exit::Error),
        },
        Command::Decide { .. } | Command::Completion { .. } => Exit::Success,
    };
    if flags.verbosity >= 6 {
        let count = connected.log.count();
        let plural = if count == 1 { "" } else { "s" };
        eprintln!("I {} kubectl-csplease sent {count} request{plural}", crate::trace::clock());
    }
    code
}

/// `release`: gives the lease up (or breaks it), prints the result and returns its exit code.
/// A signal lets a write in flight finish (see [`signals::Signals::let_finish`]) and says what
/// it did, with exit 128+N.
async fn release(lease: &CspLease, csp: &str, claimant: Option<&PodRef>, force: bool, flags: &Flags) -> Exit {
    let mut signals = match signals::catch() {
        Ok(signals) => signals,
        Err(code) => return code,
    };
    let mut attempt = std::pin::pin!(lease.release(csp, claimant, force));
    let result = tokio::select! {
        result = &mut attempt => result,
        caught = signals.next() => {
            let what = match signals.let_finish(attempt).await {
                Some(Ok(report)) if matches!(report.write, Write::Written { .. }) => {
                    format!("the write in flight landed: {}", render::summary(&report, claimant))
                }
                Some(Ok(_)) => "nothing was written".to_owned(),
                Some(Err(e)) if !e.may_have_written() => "nothing was written".to_owned(),
                Some(Err(_)) | None => format!(
                    "the write in flight went unanswered: the lease of {} may have been given up; see `kubectl csplease status {csp}`",
                    render::object_name(csp)
                ),
            };
            return fail(&format!("interrupted by {}: {what}", caught.name), caught.exit());
        }
    };
    match result {
        Ok(report) => finish(&report, claimant, flags),
        Err(e) => fail(&e.to_string(), write_error(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_help_ends_with_the_exit_codes_and_the_claimant() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains(&exit::help()), "{help}");
        assert!(help.trim_end().ends_with("pods set them."), "{help}");
    }
}
