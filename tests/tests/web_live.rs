//! Live mode of the lease inspector against the real control plane: `kubectl csplease inspect`
//! serves the page, headless Chromium opens it (`tests/web/run.mjs --live-url`), and the page
//! lists the cluster's CStorPools with their holders and the holders' pod states. The plugin runs
//! as the restricted identity the project's RBAC grants, and nothing is written.
//!
//! Runs only with `CSPLEASE_LIVE=1`, with Chromium, chromedriver, `node` and `web/pkg/` in place
//! (missing ones fail the test when `CSPLEASE_WEB` is set, else skip it), and with a plugin that
//! has the `inspect` subcommand. The plugin binary comes from `$CSPLEASE_PLUGIN_DIR` when set,
//! else this test builds it with cargo.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use csplease_tests::cluster::{self, Identity, TestCluster};
use serde_json::{Value, json};

const LEASE_KEY: &str = "openebs.io/csp-lease";

fn plugin_binary() -> PathBuf {
    csplease_tests::plugin::binary()
}

fn web_missing() -> Vec<String> {
    let web = cluster::workspace_root().join("web");
    let mut missing: Vec<String> = ["index.html", "pkg/inspector.js", "pkg/inspector.css", "pkg/csplease_bg.wasm"]
        .iter()
        .filter(|f| !web.join(f).is_file())
        .map(|f| format!("web/{f} (run `cargo xtask web`)"))
        .collect();
    for (var, default) in
        [("CSPLEASE_CHROMIUM", "/usr/bin/chromium"), ("CSPLEASE_CHROMEDRIVER", "/usr/bin/chromedriver")]
    {
        let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
        if !path.is_file() {
            missing.push(path.display().to_string());
        }
    }
    missing
}

/// Stops the plugin when the test ends, however it ends.
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn live_mode_lists_the_clusters_pools_and_their_holders() {
    let test = "live_mode_lists_the_clusters_pools_and_their_holders";
    if !cluster::live_or_skip(test) {
        return;
    }
    let missing = web_missing();
    if !missing.is_empty() {
        assert!(std::env::var_os("CSPLEASE_WEB").is_none(), "CSPLEASE_WEB is set but {} missing", missing.join(", "));
        eprintln!("SKIPPED web test {test}: missing {}", missing.join(", "));
        return;
    }
    let plugin = plugin_binary();
    let help = Command::new(&plugin).args(["inspect", "--help"]).output().expect("the plugin runs");
    assert!(help.status.success(), "{} has no `inspect` subcommand", plugin.display());

    let cluster = cluster::shared();
    let ns = format!("web-live-{}", std::process::id());
    cluster.create_namespace(&ns).expect("a namespace");
    let pod = "pool-a";
    cluster.apply(
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": ns},
                "spec": {"nodeName": "node-1", "containers": [{"name": "pool", "image": "openebs/cstor-pool:3.6.0"}]}}),
    );
    let phase = json!({"status": {"phase": "Running"}}).to_string();
    cluster.kubectl_ok(&["-n", &ns, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &phase], None);
    let pools = [
        (format!("{ns}-held"), Some(format!(r#"{{"holder":"{ns}/{pod}","leaderTransition":3}}"#))),
        (format!("{ns}-gone"), Some(format!(r#"{{"holder":"{ns}/pool-x","leaderTransition":5}}"#))),
        (format!("{ns}-vacant"), None),
    ];
    for (name, lease) in &pools {
        let mut metadata = json!({ "name": name });
        if let Some(lease) = lease {
            metadata["annotations"] = json!({ LEASE_KEY: lease });
        }
        cluster.apply(&json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": metadata,
                    "spec": {"poolSpec": {"poolType": "striped"}}}));
    }
    let versions = |cluster: &TestCluster| -> Vec<String> {
        pools
            .iter()
            .map(|(name, _)| {
                let csp: Value =
                    serde_json::from_str(&cluster.kubectl_ok(&["get", "csp", name, "-o", "json"], None)).expect("JSON");
                csp["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_owned()
            })
            .collect()
    };
    let before = versions(cluster);

    // The plugin, as the restricted identity, on a free port; its first line names the URL.
    let mut child = Command::new(&plugin)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig(Identity::Restricted))
        .args(["inspect", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the plugin starts");
    let stdout = child.stdout.take().expect("stdout");
    let serving = Serving(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("the plugin prints its URL");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();

    let out = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| cluster::workspace_root().join("target"), PathBuf::from)
        .join("web-artifacts")
        .join("live");
    std::fs::create_dir_all(&out).expect("artifacts dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("web").join("run.mjs");
    let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
    let run =
        Command::new(node).arg(&script).arg("--live-url").arg(&url).arg("--out").arg(&out).output().expect("node runs");
    drop(serving);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("a report")).expect("JSON");
    assert!(run.status.success(), "the live page failed ({}):\n{stderr}", run.status);

    let rows = report["live"].as_array().expect("the listed pools");
    let row = |name: &str| -> Vec<String> {
        let row = rows.iter().find(|r| r["csp"] == name).unwrap_or_else(|| panic!("{name} not listed: {rows:#?}"));
        row["cells"].as_array().expect("cells").iter().map(|c| c.as_str().unwrap_or_default().to_owned()).collect()
    };
    // Cells: the name, the lease, the holder pod, leaderTransition, the Inspect button.
    assert_eq!(row(&pools[0].0)[1..4], [format!("held by {ns}/{pod}"), "Running on node-1".into(), "3".into()]);
    assert_eq!(row(&pools[1].0)[1..4], [format!("held by {ns}/pool-x"), "NotFound".into(), "5".into()]);
    assert_eq!(row(&pools[2].0)[1..4], ["vacant".to_owned(), "—".into(), "—".into()]);
    assert_eq!(versions(cluster), before, "the inspector wrote to the cluster");
}
