//! `cargo xtask demo`: the lease protocol on a real control plane, step by step, through the real
//! `kubectl` and the plugin's real output.
//!
//! Uses the cluster named by `$CSPLEASE_KUBECONFIG`, or the one `cargo xtask cluster up` runs;
//! otherwise starts a local control plane (etcd + kube-apiserver) and stops it at the end, unless
//! `--keep` (then `cargo xtask cluster down` stops it). Never touches `$KUBECONFIG`'s cluster.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail, ensure};
use csplease_local_cluster::{ControlPlane, Lifetime};
use csplease_tests::cluster::ENV_KUBECONFIG;
use csplease_tests::webhook::{Certs, SELECTOR_LABEL, Webhook, configuration, register};
use serde_json::json;

use crate::workspace;
use crate::{cluster, debian};

/// Arguments of `cargo xtask demo`.
#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Leave the control plane running afterwards (`cargo xtask cluster down` stops it).
    #[arg(long)]
    pub keep: bool,
}

/// The demo's namespace, pool pods and pools.
const NS: &str = "openebs";
const POD_A: &str = "cstor-pool-a-6bbc79f5fd-x2kq7";
const POD_B: &str = "cstor-pool-a-6bbc79f5fd-9dlmb";
const LABEL: &str = "app.kubernetes.io/part-of=csplease-demo";
/// The demo webhook's configuration and the CStorPool that proves it is called.
const WEBHOOK_CONFIG: &str = "csplease-demo-lease-policy";
const PROBE: &str = "csplease-demo-webhook-probe";

/// Runs the demo.
pub fn run_with(args: Args) -> anyhow::Result<()> {
    let plugin_dir = build_plugin()?;
    let (kubeconfig, mut owned) = cluster_for_demo(args.keep)?;
    let demo = Demo { kubeconfig, plugin_dir };
    let result = demo.story();
    if let Some(cp) = owned.as_mut() {
        if args.keep {
            eprintln!(
                "\nThe control plane keeps running (--keep): export KUBECONFIG={}; stop it with `cargo xtask cluster down`",
                cp.admin_kubeconfig().display()
            );
        } else {
            eprintln!("\nStopping the local control plane.");
            cp.stop().context("stopping the control plane")?;
        }
    }
    result
}

/// Builds the plugin and the webhook and returns the directory that holds them.
fn build_plugin() -> anyhow::Result<PathBuf> {
    let root = workspace::root();
    // The control plane needs openssl (certificates); the demo's last step uses curl.
    debian::ensure_packages(&["openssl", "curl"])?;
    eprintln!("Building the lease inspector page (the plugin embeds it) ...");
    crate::wasm::ensure_tools()?;
    crate::web::ensure_tools()?;
    crate::web::build(&root)?;
    eprintln!("Building kubectl-csplease and csplease-wasm ...");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "kubectl-csplease", "--bin", "kubectl-csplease"])
        .args(["-p", "csplease-wasm", "--bin", "csplease-wasm"])
        .current_dir(&root)
        .status()
        .context("running cargo")?;
    ensure!(status.success(), "building kubectl-csplease and csplease-wasm failed");
    Ok(workspace::target_dir(&root).join("debug"))
}

/// The admin kubeconfig of the demo's cluster, and the control plane when the demo started it.
fn cluster_for_demo(keep: bool) -> anyhow::Result<(PathBuf, Option<ControlPlane>)> {
    if let Some(config) = std::env::var_os(ENV_KUBECONFIG).filter(|v| !v.is_empty()) {
        eprintln!("Using the cluster of ${ENV_KUBECONFIG}.");
        return Ok((PathBuf::from(config), None));
    }
    let state = cluster::state_dir();
    if let Some(cp) = ControlPlane::attach(&state)?
        && cp.is_running()
    {
        eprintln!("Using the control plane of `cargo xtask cluster up` at {}.", cp.server());
        return Ok((cp.admin_kubeconfig().to_path_buf(), None));
    }
    let bins = cluster::ensure_binaries()?;
    let (dir, lifetime) = if keep {
        (state, Lifetime::Detached)
    } else {
        (std::env::temp_dir().join(format!("csplease-demo-{}", std::process::id())), Lifetime::TiedToThisProcess)
    };
    eprintln!(
        "Starting a local control plane (etcd {} + kube-apiserver {}) ...",
        bins.versions.etcd, bins.versions.kubernetes
    );
    let cp = ControlPlane::start(&bins, &dir, lifetime, &mut |line| eprintln!("  {line}"))?;
    Ok((cp.admin_kubeconfig().to_path_buf(), Some(cp)))
}

struct Demo {
    kubeconfig: PathBuf,
    plugin_dir: PathBuf,
}

impl Demo {
    fn story(&self) -> anyhow::Result<()> {
        self.setup()?;
        let a = format!("{NS}/{POD_A}");
        let b = format!("{NS}/{POD_B}");

        heading("1. Two pools: cstor-pool-a is vacant, cstor-pool-b is held by a pod that no longer exists");
        self.show(&["csplease", "status"])?;

        heading(&format!("2. Pool pod {POD_A} takes the lease of cstor-pool-a"));
        self.show(&["csplease", "hold", "cstor-pool-a", "--holder", &a])?;

        heading(&format!("3. A second pod, {POD_B}, is denied: the holder is Running (exit code 3)"));
        self.show(&["csplease", "hold", "cstor-pool-a", "--holder", &b])?;
        self.show(&["csplease", "status", "cstor-pool-a", "--holder", &b])?;

        heading(&format!("4. The holder's pod fails; {POD_B} takes over, and the counter goes up"));
        self.set_phase(POD_A, "Failed")?;
        note(&format!("(pod {POD_A} is now Failed)"));
        self.show(&["csplease", "hold", "cstor-pool-a", "--holder", &b])?;

        heading("5. The old holder comes back and tries to release: denied, it no longer holds the lease");
        self.show(&["csplease", "release", "cstor-pool-a", "--holder", &a])?;

        heading("6. cstor-pool-b's holder is gone (pod not found): taken over; then the new holder releases");
        self.show(&["csplease", "hold", "cstor-pool-b", "--holder", &a, "-o", "json"])?;
        self.show(&["csplease", "release", "cstor-pool-b", "--holder", &a])?;

        heading("7. A command under the lease: `kubectl csplease run` holds it exactly while the command runs");
        let script = r#"echo "maintenance of $CSPLEASE_CSP as $CSPLEASE_HOLDER (leaderTransition $CSPLEASE_LEADER_TRANSITION)"; kubectl csplease status cstor-pool-b | grep -E '^(Lease|Holder):'"#;
        // The claimant is a live pod (POD_B, Running); a dead one's lease is anyone's to take.
        self.show(&["csplease", "run", "cstor-pool-b", "--holder", &b, "--", "sh", "-c", script])?;
        note("(given back when it exited:)");
        self.show(&["csplease", "status", "cstor-pool-b"])?;
        self.lost_mid_run(&b)?;

        heading("8. Every lease, with the holders' nodes; and the history in kubectl describe");
        self.show(&["csplease", "status", "-o", "wide"])?;
        let describe = self.kubectl(&["describe", "csp", "cstor-pool-a"])?;
        let events = describe.lines().skip_while(|l| !l.starts_with("Events:")).collect::<Vec<_>>().join("\n");
        println!("$ kubectl describe csp cstor-pool-a | sed -n '/^Events:/,$p'\n{events}");

        heading("9. The same core, offline: `kubectl csplease decide` (request documents in, decisions out)");
        let requests = [
            json!({"action": "hold", "claimant": a, "object": {"metadata": {"resourceVersion": "7",
                "annotations": {"openebs.io/csp-lease": format!(r#"{{"holder":"{b}","leaderTransition":3}}"#)}}},
                "holderPod": {"pod": b, "state": "NotFound"}}),
            json!({"action": "release", "claimant": a, "object": {"metadata": {"resourceVersion": "7",
                "annotations": {"openebs.io/csp-lease": format!(r#"{{"holder":"{b}","leaderTransition":3}}"#)}}}}),
            json!({"action": "hold", "claimant": a, "object": {"metadata": {"resourceVersion": "7",
                "annotations": {"openebs.io/csp-lease": "   "}}}}),
            json!({"action": "status", "object": {"metadata": {"annotations": {"openebs.io/csp-lease": "{\"holder\":\"no-slash\"}"}}}}),
        ];
        let input: String = requests.iter().map(|r| format!("{r}\n")).collect();
        println!("$ kubectl csplease decide <<'EOF'\n{input}EOF");
        let out = self.run(&["csplease", "decide"], Some(&input))?;
        print!("{}", out.0);

        heading("10. The lease policy in front of every write: `csplease-wasm serve` as an admission webhook");
        self.policy(&a, &b)?;

        heading("11. The lease inspector on this cluster: `kubectl csplease inspect` (read-only)");
        self.inspector()?;
        println!("\nDone: every write above was one guarded JSON Patch; every decision came from lease-logic.");
        Ok(())
    }

    /// `run` with a command that keeps working, the lease broken under it with `release --force`:
    /// the command is stopped (SIGTERM) and `run` exits 5.
    fn lost_mid_run(&self, holder: &str) -> anyhow::Result<()> {
        let script = r#"trap 'echo "stopping: the lease is gone"; exit 0' TERM; echo working; while :; do sleep 0.1 & wait; done"#;
        let args = ["csplease", "run", "cstor-pool-b", "--holder", holder, "--grace", "5s", "--", "sh", "-c", script];
        println!("$ kubectl {} &", args.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "));
        let mut child =
            self.command(&args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let mut stdout = std::io::BufReader::new(child.stdout.take().context("stdout")?);
        let mut first = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut first)?;
        print!("{first}");
        self.show(&["csplease", "release", "cstor-pool-b", "--force"])?;
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest)?;
        let out = child.wait_with_output()?;
        print!("{rest}{}", String::from_utf8_lossy(&out.stderr));
        println!("(the background run's exit code: {})\n", out.status.code().unwrap_or(-1));
        Ok(())
    }

    /// Runs the webhook on loopback, registers it with deploy/webhook.yaml's configuration for the
    /// demo's pools, and shows it judging a hand-made steal and the plugin's own write, as an
    /// operator outside the break-glass group. Unregisters and stops it after.
    fn policy(&self, a: &str, b: &str) -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("csplease-demo-webhook-{}", std::process::id()));
        let certs = Certs::generate(&dir);
        let kubeconfig = self.kubeconfig.to_str().context("the kubeconfig path is not UTF-8")?;
        let webhook =
            Webhook::start_binary(&self.plugin_dir.join("csplease-wasm"), &certs, &["--kubeconfig", kubeconfig]);
        let selected = format!("{SELECTOR_LABEL}=demo");
        self.kubectl(&["label", "--overwrite", "csp", "cstor-pool-a", "cstor-pool-b", &selected])?;
        let probe = json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
            "metadata": {"name": PROBE, "labels": {"app.kubernetes.io/part-of": "csplease-demo", SELECTOR_LABEL: "demo"}}});
        self.kubectl_in(&["apply", "-f", "-"], &probe.to_string())?;
        let registered = (|| -> anyhow::Result<()> {
            let config = configuration(WEBHOOK_CONFIG, &webhook.url(), &certs, "demo");
            register(&self.kubeconfig, &config, PROBE).map_err(anyhow::Error::msg)?;
            note(&format!(
                "(csplease-wasm serve listens on {}; registered with deploy/webhook.yaml's rules, failurePolicy Fail)",
                webhook.url()
            ));
            let operator = ["--as=operator-jane", "--as-group=csplease:plugin"];
            note(&format!(
                "An operator (not in system:masters) hand-edits the lease of cstor-pool-a, held by the Running {b}:"
            ));
            let steal = format!(r#"openebs.io/csp-lease={{"holder":"{a}","leaderTransition":3}}"#);
            self.show(&[&operator[..], &["annotate", "--overwrite", "csp", "cstor-pool-a", &steal]].concat())?;
            note("The plugin's own writes pass unchanged (cstor-pool-b is released):");
            self.show(&[&["csplease", "hold", "cstor-pool-b", "--holder", b][..], &operator[..]].concat())?;
            let metrics = format!("https://{}/metrics", webhook.addr());
            let text = csplease_tests::webhook::https(&certs.ca, "GET", &metrics, None, None).body;
            println!("$ curl -s --cacert ca.crt {metrics} | grep _total");
            text.lines().filter(|l| l.contains("_total")).for_each(|l| println!("{l}"));
            Ok(())
        })();
        self.kubectl(&["delete", "validatingwebhookconfiguration", WEBHOOK_CONFIG, "--ignore-not-found"])?;
        self.kubectl(&["delete", "csp", PROBE, "--ignore-not-found"])?;
        let _ = std::fs::remove_dir_all(&dir);
        registered
    }

    /// Serves the inspector page on loopback, shows what it lists, and on a terminal keeps it
    /// open until Enter.
    fn inspector(&self) -> anyhow::Result<()> {
        use std::io::{BufRead as _, IsTerminal as _};
        println!("$ kubectl csplease inspect");
        let mut child = self
            .command(&["csplease", "inspect"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("running kubectl csplease inspect")?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            std::io::BufReader::new(stdout).read_line(&mut line)?;
        }
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or("").to_owned();
        let shown = (|| -> anyhow::Result<()> {
            ensure!(!url.is_empty(), "kubectl csplease inspect printed no URL: {line:?}");
            print!("{line}");
            let api = format!("{}/api/csps", url.trim_end_matches('/'));
            let out = Command::new("curl").args(["-sS", "--max-time", "10", &api]).output().context("running curl")?;
            let listing: serde_json::Value = serde_json::from_slice(&out.stdout).context("the inspector's listing")?;
            let items = listing["items"].as_array().map_or(0, Vec::len);
            println!("$ curl -s {api}   # what the page lists: {items} CStorPools with their holders' states");
            if std::io::stdin().is_terminal() {
                println!("Open {url} in a browser; press Enter to stop the inspector.");
                std::io::stdin().lock().read_line(&mut String::new())?;
            }
            Ok(())
        })();
        child.kill().ok();
        child.wait().ok();
        shown
    }

    fn setup(&self) -> anyhow::Result<()> {
        heading("Setting up: namespace openebs, two nodes, two pools, two pool pods");
        // A re-run on a kept cluster starts from scratch; pools that are not the demo's are left alone.
        let existing =
            self.kubectl(&["get", "csp", "cstor-pool-a", "cstor-pool-b", "-o", "json", "--ignore-not-found"])?;
        if !existing.trim().is_empty() {
            let list: serde_json::Value = serde_json::from_str(&existing).context("reading kubectl's answer")?;
            let items = list["items"].as_array().cloned().unwrap_or_else(|| vec![list.clone()]);
            for item in items {
                if item["metadata"]["labels"]["app.kubernetes.io/part-of"] != "csplease-demo" {
                    bail!(
                        "cstorpool {} exists and is not the demo's; run the demo on a fresh cluster \
                         (unset {ENV_KUBECONFIG} and stop `cargo xtask cluster up`)",
                        item["metadata"]["name"]
                    );
                }
            }
        }
        self.kubectl(&["delete", "csp", "-l", LABEL, "--ignore-not-found"])?;
        let _ = self.kubectl(&[
            "-n",
            NS,
            "delete",
            "pods",
            "-l",
            LABEL,
            "--grace-period=0",
            "--force",
            "--ignore-not-found",
        ]);
        let labels = json!({"app.kubernetes.io/part-of": "csplease-demo"});
        let mut items = vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": NS}}),
            json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
                   "metadata": {"name": "cstor-pool-a", "labels": labels},
                   "spec": {"poolSpec": {"poolType": "striped"}}}),
            json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool",
                   "metadata": {"name": "cstor-pool-b", "labels": labels, "annotations": {
                       "openebs.io/csp-lease": format!(r#"{{"holder":"{NS}/cstor-pool-b-5c6d8f7b9-qq4lz","leaderTransition":3}}"#)}},
                   "spec": {"poolSpec": {"poolType": "mirrored"}}}),
        ];
        for (pod, node) in [(POD_A, "node-1"), (POD_B, "node-2")] {
            items.push(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": NS, "labels": labels},
                "spec": {"nodeName": node, "containers": [{"name": "cstor-pool", "image": "openebs/cstor-pool:3.6.0"}]}}));
        }
        for node in ["node-1", "node-2"] {
            items.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}));
        }
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        self.kubectl_in(&["apply", "-f", "-"], &list.to_string())?;
        for (node, ready) in [("node-1", "True"), ("node-2", "True")] {
            let status = json!({"status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
                "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
            self.kubectl(&["patch", "node", node, "--subresource=status", "--type=merge", "-p", &status.to_string()])?;
        }
        for pod in [POD_A, POD_B] {
            self.set_phase(pod, "Running")?;
        }
        note("(no kubelet runs here: pod phases are set through the status subresource)");
        Ok(())
    }

    fn set_phase(&self, pod: &str, phase: &str) -> anyhow::Result<()> {
        let patch = json!({"status": {"phase": phase}}).to_string();
        self.kubectl(&["-n", NS, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &patch]).map(drop)
    }

    /// Prints `$ kubectl ARGS`, then what it printed, then its exit code when not 0.
    fn show(&self, args: &[&str]) -> anyhow::Result<()> {
        println!("$ kubectl {}", args.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" "));
        let (stdout, stderr, code) = self.run(args, None)?;
        print!("{stdout}");
        print!("{stderr}");
        if code != 0 {
            println!("(exit code {code})");
        }
        println!();
        std::io::stdout().flush().ok();
        Ok(())
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.plugin_dir.clone()).chain(std::env::split_paths(&path));
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("PATH", std::env::join_paths(dirs).unwrap_or(path))
            .env_remove("NAMESPACE")
            .env_remove("POD_NAME");
        if let Some(dir) = self.kubeconfig.parent() {
            cmd.env("KUBECACHEDIR", dir.join("kube-cache"));
        }
        cmd
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<(String, String, i32)> {
        let mut cmd = self.command(args);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("running kubectl (is it installed?)")?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code().unwrap_or(-1),
        ))
    }

    fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.checked(args, None)
    }

    fn kubectl_in(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        self.checked(args, Some(stdin))
    }

    fn checked(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
        let (stdout, stderr, code) = self.run(args, stdin)?;
        if code != 0 {
            bail!("kubectl {} failed (exit {code}): {stderr}", args.join(" "));
        }
        Ok(stdout)
    }
}

fn heading(text: &str) {
    println!("\n=== {text}\n");
}

fn note(text: &str) {
    println!("{text}\n");
}

fn shell_word(word: &str) -> String {
    if word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c)) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
