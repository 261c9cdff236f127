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

/// Where the serving certificate comes from.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CertMode {
    /// Files given with --tls-cert and --tls-key (a mounted Secret, cert-manager's...).
    Provided,
    /// A CA and certificate the webhook makes, keeps in --cert-secret, injects into
    /// --webhook-config and renews.
    SelfManaged,
}

/// The flags of `serve --cert-mode self-managed`.
#[derive(clap::Args)]
struct CertFlags {
    /// Where the serving certificate comes from.
    #[arg(long, value_enum, default_value = "provided")]
    cert_mode: CertMode,
    /// The Secret that keeps the CA and serving certificate (created when absent).
    #[arg(long, value_name = "NAMESPACE/NAME", required_if_eq("cert_mode", "self-managed"))]
    cert_secret: Option<String>,
    /// The ValidatingWebhookConfiguration whose webhooks get the CA as caBundle.
    #[arg(long, value_name = "NAME")]
    webhook_config: Option<String>,
    /// A DNS name of the serving certificate (repeatable), e.g. the Service's NAME.NAMESPACE.svc.
    #[arg(long = "cert-dns", value_name = "NAME")]
    dns_names: Vec<String>,
    /// An IP address of the serving certificate (repeatable).
    #[arg(long = "cert-ip", value_name = "IP")]
    ip_addresses: Vec<std::net::IpAddr>,
    /// How long a serving certificate is valid, in seconds; renewed after 2/3 of it.
    #[arg(long, value_name = "SECONDS", default_value_t = 365 * 24 * 3600)]
    cert_lifetime_secs: u64,
    /// How long the CA is valid, in seconds; renewed after 2/3 of it.
    #[arg(long, value_name = "SECONDS", default_value_t = 10 * 365 * 24 * 3600)]
    ca_lifetime_secs: u64,
    /// How often the Secret and the configuration's caBundle are checked, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    cert_check_secs: u64,
    /// Where the serving certificate's files are written [default: $TMPDIR/csplease-wasm-certs].
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
}

impl CertFlags {
    fn options(&self) -> anyhow::Result<Option<csplease_wasm::serve::certs::SelfManagedOptions>> {
        if self.cert_mode == CertMode::Provided {
            return Ok(None);
        }
        let secret = self.cert_secret.as_deref().unwrap_or_default();
        let Some((namespace, name)) = secret.split_once('/') else {
            anyhow::bail!("--cert-secret must be NAMESPACE/NAME, not {secret:?}");
        };
        Ok(Some(csplease_wasm::serve::certs::SelfManagedOptions {
            secret_namespace: namespace.to_owned(),
            secret_name: name.to_owned(),
            webhook_configuration: self.webhook_config.clone(),
            dns_names: self.dns_names.clone(),
            ip_addresses: self.ip_addresses.clone(),
            cert_lifetime: Duration::from_secs(self.cert_lifetime_secs),
            ca_lifetime: Duration::from_secs(self.ca_lifetime_secs),
            check_every: Duration::from_secs(self.cert_check_secs.max(1)),
            dir: self.cert_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("csplease-wasm-certs")),
        }))
    }
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
        /// The PEM certificate chain to serve (re-read when it changes); with `--cert-mode provided`.
        #[arg(long, value_name = "FILE", required_if_eq("cert_mode", "provided"))]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of the certificate (re-read when it changes); with `--cert-mode provided`.
        #[arg(long, value_name = "FILE", required_if_eq("cert_mode", "provided"))]
        tls_key: Option<PathBuf>,
        #[command(flatten)]
        certs: Box<CertFlags>,
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
            ref certs,
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
            let self_managed = certs.options()?;
            // This thread accepts connections and runs the pod lookups; the workers serve.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(async {
                let client = kube_client(kubeconfig.as_deref()).await.context("setting up pod lookups")?;
                let (tls_cert, tls_key) = match self_managed {
                    Some(options) => {
                        let manager = csplease_wasm::serve::certs::SelfManaged::start(client.clone(), options)
                            .await
                            .context("setting up the self-managed certificate")?;
                        let files = (manager.cert_path(), manager.key_path());
                        tokio::spawn(manager.run());
                        files
                    }
                    None => (tls_cert.clone().unwrap_or_default(), tls_key.clone().unwrap_or_default()),
                };
                let pods = csplease_wasm::serve::PodLookup::new(client, Duration::from_millis(lookup_timeout_ms));
                let options = csplease_wasm::serve::ServeOptions {
                    addr,
                    tls_cert,
                    tls_key,
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
