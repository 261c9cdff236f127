//! The objects the live tests set up: namespaces, pods in a phase, CStorPools with a lease.
//!
//! There is no kubelet or scheduler: pods are created and their `status.phase` is set through
//! the status subresource. Every helper panics when the API server refuses, as
//! [`TestCluster::kubectl_ok`] does: a fixture that cannot be set up is a test failure.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

use crate::cluster::TestCluster;

/// The lease annotation's key.
pub const LEASE_KEY: &str = "openebs.io/csp-lease";

/// `prefix-<pid>-<n>`: a name no other test, or test process, uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A new namespace (with its `default` ServiceAccount) named after `prefix`.
pub fn namespace(cluster: &TestCluster, prefix: &str) -> String {
    let ns = unique(prefix);
    cluster.create_namespace(&ns).expect("a namespace");
    ns
}

/// The lease annotation value `{"holder":holder,"leaderTransition":n}`.
pub fn lease_of(holder: &str, n: i64) -> String {
    format!(r#"{{"holder":"{holder}","leaderTransition":{n}}}"#)
}

/// A CStorPool to create: a name, optionally a lease and labels.
#[derive(Debug, Clone)]
pub struct Csp {
    metadata: Value,
}

impl Csp {
    /// A CStorPool named `name` without annotations.
    pub fn named(name: &str) -> Csp {
        Csp { metadata: json!({ "name": name }) }
    }

    /// With the lease annotation set to `value`.
    pub fn lease(mut self, value: &str) -> Csp {
        self.metadata["annotations"] = json!({ LEASE_KEY: value });
        self
    }

    /// With label `key=value`.
    pub fn label(mut self, key: &str, value: &str) -> Csp {
        self.metadata["labels"][key] = json!(value);
        self
    }

    /// Creates (applies) it as admin.
    pub fn create(self, cluster: &TestCluster) {
        cluster.apply(&json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": self.metadata,
            "spec": {"poolSpec": {"poolType": "striped"}}}));
    }
}

/// CStorPool `name` as JSON.
pub fn get_csp(cluster: &TestCluster, name: &str) -> Value {
    serde_json::from_str(&cluster.kubectl_ok(&["get", "csp", name, "-o", "json"], None)).expect("JSON")
}

/// The lease annotation's value on CStorPool `name`, if any.
pub fn lease(cluster: &TestCluster, name: &str) -> Option<String> {
    get_csp(cluster, name)["metadata"]["annotations"][LEASE_KEY].as_str().map(str::to_owned)
}

/// Pods to create in one namespace, all in one phase.
#[derive(Debug, Clone)]
pub struct Pods<'a> {
    namespace: &'a str,
    names: Vec<String>,
    node: Option<&'a str>,
    service_account: Option<&'a str>,
}

impl<'a> Pods<'a> {
    /// Pods `names` in `namespace`, on no node, with the `default` ServiceAccount.
    pub fn new(namespace: &'a str, names: &[&str]) -> Pods<'a> {
        Pods { namespace, names: names.iter().map(|n| (*n).to_owned()).collect(), node: None, service_account: None }
    }

    /// Scheduled on `node`.
    pub fn on(mut self, node: &'a str) -> Pods<'a> {
        self.node = Some(node);
        self
    }

    /// Running as ServiceAccount `name`.
    pub fn service_account(mut self, name: &'a str) -> Pods<'a> {
        self.service_account = Some(name);
        self
    }

    /// Creates them as admin and sets their phase.
    pub fn create(self, cluster: &TestCluster, phase: &str) {
        let items: Vec<Value> = self
            .names
            .iter()
            .map(|name| {
                let mut spec = json!({"containers": [{"name": "pool", "image": "openebs/cstor-pool:3.6.0"}]});
                if let Some(node) = self.node {
                    spec["nodeName"] = json!(node);
                }
                if let Some(sa) = self.service_account {
                    spec["serviceAccountName"] = json!(sa);
                }
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": self.namespace}, "spec": spec})
            })
            .collect();
        cluster.apply(&json!({"apiVersion": "v1", "kind": "List", "items": items}));
        for name in &self.names {
            set_phase(cluster, self.namespace, name, phase);
        }
    }
}

/// Sets pod `namespace/pod`'s `status.phase`.
pub fn set_phase(cluster: &TestCluster, namespace: &str, pod: &str, phase: &str) {
    let patch = json!({"status": {"phase": phase}}).to_string();
    cluster.kubectl_ok(
        &["-n", namespace, "patch", "pod", pod, "--subresource=status", "--type=merge", "-p", &patch],
        None,
    );
}
