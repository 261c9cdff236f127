//! Kubernetes Events on the CStorPool for every lease write, so `kubectl describe csp` shows the
//! lease's history: `LeaseAcquired`, `LeaseTakenOver`, `LeaseReleased`, `LeaseBroken`.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DynamicObject, PostParams};
use lease_logic::{Change, Decision, PodRef};

/// The component named in events and field managers.
pub const COMPONENT: &str = "kubectl-csplease";

/// Events of cluster-scoped objects live in this namespace, as client-go's recorder puts them.
pub const EVENT_NAMESPACE: &str = "default";

/// What a lease write records: the core's [`Change`] (its reason is
/// [`Change::event_reason`]).
pub type LeaseEvent = Change;

/// `Normal`, or `Warning` for a change that overrides another pod's claim (a takeover, a broken
/// lease).
pub fn kind(change: Change) -> &'static str {
    if change.overrides_another() { "Warning" } else { "Normal" }
}

/// The message: old and new holder, the counter, and the core's reason.
pub fn message(decision: &Decision) -> String {
    let holder = |h: Option<&str>| match h {
        Some(h) if !lease_logic::is_blank(h) => h.to_owned(),
        _ => "<none>".to_owned(),
    };
    let old = holder(decision.before.as_ref().map(|l| l.holder.as_str()));
    let new = holder(decision.after.as_ref().map(|l| l.holder.as_str()));
    let counter = decision.after.as_ref().map_or(0, |l| l.leader_transition);
    format!("holder {old} -> {new}, leaderTransition {counter}: {}", decision.reason)
}

/// The Event recording `event` on `csp`; `claimant` is the pod on whose behalf it was written.
pub fn build(csp: &DynamicObject, event: LeaseEvent, decision: &Decision, claimant: Option<&PodRef>) -> Event {
    let now = Timestamp::now();
    let name = csp.metadata.name.clone().unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(EVENT_NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some(crate::API_VERSION.to_owned()),
            kind: Some(crate::KIND.to_owned()),
            name: Some(name),
            uid: csp.metadata.uid.clone(),
            resource_version: csp.metadata.resource_version.clone(),
            ..ObjectReference::default()
        },
        related: claimant.map(|pod| ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Pod".to_owned()),
            namespace: Some(pod.namespace().to_owned()),
            name: Some(pod.name().to_owned()),
            ..ObjectReference::default()
        }),
        reason: Some(event.event_reason().to_owned()),
        message: Some(message(decision)),
        type_: Some(kind(event).to_owned()),
        action: decision.action.map(|a| a.as_str().to_owned()),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        source: Some(EventSource { component: Some(COMPONENT.to_owned()), host: None }),
        reporting_component: Some(COMPONENT.to_owned()),
        reporting_instance: Some(claimant.map_or_else(|| COMPONENT.to_owned(), ToString::to_string)),
        ..Event::default()
    }
}

/// Creates the event; the caller logs a failure, never fails on it.
pub(crate) async fn record(client: &kube::Client, event: &Event) -> Result<(), kube::Error> {
    let api: kube::Api<Event> = kube::Api::namespaced(client.clone(), EVENT_NAMESPACE);
    api.create(&PostParams::default(), event).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lease_logic::{LeaseSlot, Observed};

    fn observed(value: &str) -> Observed<'_> {
        Observed {
            lease_key: lease_logic::DEFAULT_LEASE_KEY,
            slot: LeaseSlot::Value(value),
            resource_version: Some("1"),
        }
    }

    fn pod(text: &str) -> PodRef {
        text.parse().expect("a pod")
    }

    #[test]
    fn each_write_has_its_event_and_names_both_holders() {
        let (a, b) = (pod("openebs/a"), pod("openebs/b"));
        let held_by_a = r#"{"holder":"openebs/a","leaderTransition":3}"#;
        let vacant = lease_logic::hold(&observed(""), &a, None, false);
        assert_eq!(vacant.change, Some(Change::Acquired));
        let gone = lease_logic::PodStatus { pod: a.clone(), state: lease_logic::PodState::NotFound };
        let takeover = lease_logic::hold(&observed(held_by_a), &b, Some(&gone), false);
        assert_eq!(takeover.change, Some(Change::TakenOver));
        assert_eq!(kind(Change::TakenOver), "Warning");
        assert!(message(&takeover).starts_with("holder openebs/a -> openebs/b, leaderTransition 4: "));
        let own = lease_logic::release(&observed(held_by_a), Some(&a), false);
        assert_eq!(own.change, Some(Change::Released));
        assert_eq!(kind(Change::Released), "Normal");
        let broken = lease_logic::release(&observed(held_by_a), Some(&b), true);
        assert_eq!(broken.change, Some(Change::Broken));
        let anonymous = lease_logic::release(&observed(held_by_a), None, true);
        assert_eq!(anonymous.change, Some(Change::Broken));
        assert!(message(&anonymous).starts_with("holder openebs/a -> <none>, leaderTransition 3: "));
        let denied = lease_logic::release(&observed(held_by_a), Some(&b), false);
        assert_eq!(denied.change, None, "no write, no event");
    }

    #[test]
    fn the_event_points_at_the_cluster_scoped_pool() {
        let csp: DynamicObject = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cstor-pool-a", "uid": "u-1", "resourceVersion": "9"}
        }))
        .expect("an object");
        let a = pod("openebs/a");
        let decision = lease_logic::hold(&observed(""), &a, None, false);
        let event = build(&csp, Change::Acquired, &decision, Some(&a));
        assert_eq!(event.metadata.namespace.as_deref(), Some(EVENT_NAMESPACE));
        assert_eq!(event.involved_object.namespace, None, "the pool is cluster-scoped");
        assert_eq!(event.involved_object.uid.as_deref(), Some("u-1"));
        assert_eq!(event.involved_object.kind.as_deref(), Some("CStorPool"));
        assert_eq!(event.reason.as_deref(), Some("LeaseAcquired"));
        assert_eq!(event.related.and_then(|r| r.name).as_deref(), Some("a"));
    }
}
