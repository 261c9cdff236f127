//! The one pod lookup a review may need, with kube-rs and a short timeout.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use lease_logic::PodState;

/// Looks pods up for the webhook: `get` on one pod, bounded by a timeout. Any failure (a timeout,
/// a refused connection, a 403) gives [`PodState::LookupFailed`], which the core counts as live:
/// a webhook that cannot see a holder never lets another pod take its lease.
#[derive(Clone)]
pub struct PodLookup {
    client: kube::Client,
    timeout: Duration,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The pod's state as the core takes it.
    pub state: PodState,
    /// Why the lookup failed, with [`PodState::LookupFailed`].
    pub error: Option<String>,
}

impl Found {
    /// The metrics label: `found`, `not_found` or `failed`.
    pub fn label(&self) -> &'static str {
        match self.state {
            PodState::NotFound => "not_found",
            PodState::LookupFailed => "failed",
            _ => "found",
        }
    }
}

impl PodLookup {
    /// Lookups through `client`, each bounded by `timeout`.
    pub fn new(client: kube::Client, timeout: Duration) -> PodLookup {
        PodLookup { client, timeout }
    }

    /// The state of pod `namespace/name`.
    pub async fn state(&self, namespace: &str, name: &str) -> Found {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match tokio::time::timeout(self.timeout, pods.get_opt(name)).await {
            Ok(Ok(Some(pod))) => {
                let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                Found { state: PodState::from_phase(phase), error: None }
            }
            Ok(Ok(None)) => Found { state: PodState::NotFound, error: None },
            Ok(Err(e)) => Found {
                state: PodState::LookupFailed,
                error: Some(e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")),
            },
            Err(_) => Found {
                state: PodState::LookupFailed,
                error: Some(format!("no answer within {} ms", self.timeout.as_millis())),
            },
        }
    }
}

impl std::fmt::Debug for PodLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodLookup").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}
