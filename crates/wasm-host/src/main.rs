//! `csplease-wasm`: evaluates lease requests in the sandboxed lease module (wasmtime).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wasm_host::{Config, EvalOptions, Host};

/// Evaluates csplease lease requests in the sandboxed WASM module.
#[derive(Parser)]
#[command(
    name = "csplease-wasm",
    version,
    after_help = "Exit status: 0 on success (an `invalid` decision is still a success); 1 when the module \
                  cannot be loaded or input/output fails, with `error: ...` on stderr."
)]
struct Cli {
    /// Run this module instead of the embedded one (a `.wasm` binary, or `.wat` text).
    #[arg(long, global = true, value_name = "FILE")]
    module: Option<PathBuf>,
    /// Deadline of one evaluation, in milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = 100)]
    deadline_ms: u64,
    /// Memory limit of one instance, in MiB.
    #[arg(long, global = true, value_name = "MIB", default_value_t = 16)]
    memory_limit_mib: usize,
    /// Where to cache the compiled module [default: $CSPLEASE_CACHE/wasmtime, else
    /// ~/.cache/csplease/wasmtime].
    #[arg(long, global = true, value_name = "DIR", env = "CSPLEASE_WASM_CACHE")]
    cache_dir: Option<PathBuf>,
    /// Compile the module at every start instead of caching the compiled code.
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read requests as JSON Lines on stdin; write one decision per line on stdout, in input
    /// order. A bad line gets an `invalid` decision; the others are unaffected.
    Eval {
        /// Evaluate on this many threads.
        #[arg(long, short = 'j', value_name = "N", default_value_t = 1)]
        jobs: usize,
        /// Keep one instance per thread between requests instead of a fresh instance per
        /// request: faster, but requests are no longer isolated from each other.
        #[arg(long)]
        warm: bool,
    },
    /// Write the module (the embedded one, or `--module`'s) to a file, for other engines.
    Module {
        /// The file to write; `-` for stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Module { ref output } => {
            let bytes = match &cli.module {
                Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                None => wasm_host::EMBEDDED_MODULE.to_vec(),
            };
            if output.as_os_str() == "-" {
                std::io::stdout().write_all(&bytes).context("writing the module to stdout")?;
            } else {
                std::fs::write(output, &bytes).with_context(|| format!("writing {}", output.display()))?;
            }
            Ok(())
        }
        Command::Eval { jobs, warm } => {
            anyhow::ensure!(jobs >= 1, "--jobs must be at least 1");
            let config = Config {
                deadline: Duration::from_millis(cli.deadline_ms),
                memory_limit: cli.memory_limit_mib.checked_mul(1 << 20).context("--memory-limit-mib is too large")?,
                max_concurrency: jobs,
                cache_dir: if cli.no_cache {
                    None
                } else {
                    cli.cache_dir.clone().or_else(wasm_host::default_cache_dir)
                },
            };
            let host = Host::new(config)?;
            let module = match &cli.module {
                Some(path) => host.load_file(path)?,
                None => host.load_embedded()?,
            };
            let input = std::io::stdin().lock();
            wasm_host::eval_lines(&module, input, std::io::stdout(), EvalOptions { jobs, warm })
                .context("evaluating requests")?;
            Ok(())
        }
    }
}
