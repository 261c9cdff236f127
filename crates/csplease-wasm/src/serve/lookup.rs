//! The one pod lookup a review may need, with kube-rs and a short timeout.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use lease_logic::PodFacts;

/// Looks pods up for the webhook: `get` on one pod, bounded by a timeout. It reports what the API
/// returned ([`PodFacts`]); the core decides what that means. Any failure (a timeout, a refused
/// connection, a 403) is [`PodFacts::LookupFailed`], which the core counts as live: a webhook
/// that cannot see a holder never lets another pod take its lease.
#[derive(Clone)]
pub struct PodLookup {
    client: kube::Client,
    timeout: Duration,
}

/// The metrics label of a lookup's result: `found`, `not_found` or `failed`.
pub fn label(facts: &PodFacts) -> &'static str {
    match facts {
        PodFacts::Found { .. } => "found",
        PodFacts::NotFound => "not_found",
        PodFacts::LookupFailed { .. } => "failed",
    }
}

impl PodLookup {
    /// Lookups through `client`, each bounded by `timeout`.
    pub fn new(client: kube::Client, timeout: Duration) -> PodLookup {
        PodLookup { client, timeout }
    }

    /// What the API returns for pod `namespace/name`.
    pub async fn facts(&self, namespace: &str, name: &str) -> PodFacts {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match tokio::time::timeout(self.timeout, pods.get_opt(name)).await {
            Ok(Ok(Some(pod))) => PodFacts::Found { phase: pod.status.and_then(|s| s.phase) },
            Ok(Ok(None)) => PodFacts::NotFound,
            Ok(Err(e)) => {
                PodFacts::LookupFailed { error: e.to_string().split_whitespace().collect::<Vec<_>>().join(" ") }
            }
            Err(_) => PodFacts::LookupFailed { error: format!("no answer within {} ms", self.timeout.as_millis()) },
        }
    }
}

impl std::fmt::Debug for PodLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodLookup").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}
