//! `kubectl-csplease`: the binary; everything it does is a library function.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Leases on OpenEBS cStor pools (CStorPool objects, `csp`).
#[derive(Parser)]
#[command(name = "kubectl csplease", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decide requests offline: a request document or JSON Lines in, decision documents out.
    Decide {
        /// Read requests from FILE instead of standard input ("-" is standard input).
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decide { file } => decide(file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn decide(file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    use anyhow::Context;
    let stdout = std::io::stdout().lock();
    match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => {
            let input = std::fs::File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
            kubectl_csplease::decide::run(std::io::BufReader::new(input), stdout)?;
        }
        None => {
            kubectl_csplease::decide::run(std::io::stdin().lock(), stdout)?;
        }
    }
    Ok(())
}
