//! `csplease-wasm`: evaluates lease requests in the sandboxed lease module (wasmtime).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wasm_sandbox::{Config, EvalOptions, Host, LeaseModule};

/// Evaluates csplease lease requests in the sandboxed WASM module.
#[derive(Parser)]
#[command(
    name = "csplease-wasm",
    version = env!("CSPLEASE_VERSION"),
    after_help = "Exit status: 0 on success (an `invalid` decision is still a success); 1 when the module \
                  cannot be loaded or input/output fails, with `error: ...` on stderr."
)]
struct Cli {
    /// Run this module instead of the embedded one (a `.wasm` binary, or `.wat` text).
    #[arg(long, global = true, value_name = "FILE")]
    module: Option<PathBuf>,
    /// Deadline of one evaluation, in milliseconds [default: 100 for eval; 1000 for serve, where a
    /// busy node must not turn a preempted review into a denial].
    #[arg(long, global = true, value_name = "MS")]
    deadline_ms: Option<u64>,
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
    /// Serve the module's `review` as a ValidatingAdmissionWebhook over HTTPS: `POST /validate`
    /// (admission.k8s.io/v1 AdmissionReview), `GET /healthz`, `/readyz`, `/metrics`.
    #[command(after_help = "Pod lookups use --kubeconfig, else $KUBECONFIG, ~/.kube/config or the in-cluster \
                            service account. Stops on SIGTERM or Ctrl-C after the reviews in flight. \
                            Exit status 1 when it cannot start, with `error: ...` on stderr.")]
    Serve {
        /// The PEM certificate chain to serve (re-read when it changes).
        #[arg(long, value_name = "FILE")]
        tls_cert: PathBuf,
        /// The PEM private key of the certificate (re-read when it changes).
        #[arg(long, value_name = "FILE")]
        tls_key: PathBuf,
        /// The address to listen on; port 0 picks a free one (printed on stderr).
        #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
        addr: std::net::SocketAddr,
        /// A group whose members may write any lease (repeatable; replaces the default,
        /// `system:masters`).
        #[arg(long = "break-glass-group", value_name = "GROUP")]
        break_glass_groups: Vec<String>,
        /// The kubeconfig for pod lookups.
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<PathBuf>,
        /// How long one pod lookup may take before it counts as failed (a failed lookup counts
        /// the holder as live), in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 2000)]
        lookup_timeout_ms: u64,
        /// Worker threads serving connections, each with its own single-threaded runtime
        /// [default: the number of CPUs].
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Keep one instance per worker between reviews instead of a fresh instance per review:
        /// faster, but reviews are no longer isolated from each other.
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
                None => wasm_sandbox::EMBEDDED_MODULE.to_vec(),
            };
            if output.as_os_str() == "-" {
                std::io::stdout().write_all(&bytes).context("writing the module to stdout")?;
            } else {
                std::fs::write(output, &bytes).with_context(|| format!("writing {}", output.display()))?;
            }
            Ok(())
        }
        Command::Serve {
            ref tls_cert,
            ref tls_key,
            addr,
            ref break_glass_groups,
            ref kubeconfig,
            lookup_timeout_ms,
            threads,
            warm,
        } => {
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            anyhow::ensure!(threads >= 1, "--threads must be at least 1");
            // One instance per worker thread, and one more for loading the module.
            let module = load(&cli, threads + 1, 1000)?;
            // This thread accepts connections and runs the pod lookups; the workers serve.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async {
                let client = kube_client(kubeconfig.as_deref()).await.context("setting up pod lookups")?;
                let pods = csplease_wasm::serve::PodLookup::new(client, Duration::from_millis(lookup_timeout_ms));
                let options = csplease_wasm::serve::ServeOptions {
                    addr,
                    tls_cert: tls_cert.clone(),
                    tls_key: tls_key.clone(),
                    break_glass_groups: break_glass_groups.clone(),
                    warm,
                    threads,
                };
                csplease_wasm::serve::serve(options, module, pods, stop_signal()).await?;
                Ok(())
            })
        }
        Command::Eval { jobs, warm } => {
            anyhow::ensure!(jobs >= 1, "--jobs must be at least 1");
            let module = load(&cli, jobs, 100)?;
            let input = std::io::stdin().lock();
            wasm_sandbox::eval_lines(&module, input, std::io::stdout(), EvalOptions { jobs, warm })
                .context("evaluating requests")?;
            Ok(())
        }
    }
}

/// The module (`--module`, else the embedded one) in a host with the global flags' limits.
fn load(cli: &Cli, max_concurrency: usize, default_deadline_ms: u64) -> anyhow::Result<LeaseModule> {
    let config = Config {
        deadline: Duration::from_millis(cli.deadline_ms.unwrap_or(default_deadline_ms)),
        memory_limit: cli.memory_limit_mib.checked_mul(1 << 20).context("--memory-limit-mib is too large")?,
        max_concurrency,
        cache_dir: if cli.no_cache { None } else { cli.cache_dir.clone().or_else(wasm_sandbox::default_cache_dir) },
    };
    let host = Host::new(config)?;
    Ok(match &cli.module {
        Some(path) => host.load_file(path)?,
        None => host.load_embedded()?,
    })
}

/// A kube-rs client from `kubeconfig`, else inferred ($KUBECONFIG, ~/.kube/config, in-cluster).
async fn kube_client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file =
                kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using {}", path.display()))?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// Completes on SIGTERM (what Kubernetes sends) or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
