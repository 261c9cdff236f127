//! Kubernetes Events on the CStorPool for every lease write, so `kubectl describe csp` shows the
//! lease's history: `LeaseAcquired`, `LeaseTakenOver`, `LeaseReleased`, `LeaseBroken`.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DynamicObject, PostParams};
use lease_logic::{Decision, Outcome, PodRef};

/// The component named in events and field managers.
pub const COMPONENT: &str = "kubectl-csplease";

/// Events of cluster-scoped objects live in this namespace, as client-go's recorder puts them.
pub const EVENT_NAMESPACE: &str = "default";

/// The reason an event gives for a lease write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseEvent {
    /// A vacant or released lease was acquired.
    Acquired,
    /// The lease of a dead holder (or, forced, an unreadable lease) was taken over.
    TakenOver,
    /// The holder released its lease.
    Released,
    /// Someone else's lease (or an unreadable one) was broken with `--force`.
    Broken,
}

impl LeaseEvent {
    /// The event of a decision that writes; `None` for one that does not.
    pub fn of(decision: &Decision, claimant: Option<&PodRef>) -> Option<LeaseEvent> {
        decision.patch.as_ref()?;
        match decision.outcome {
            Outcome::Acquired => Some(LeaseEvent::Acquired),
            Outcome::TakenOver => Some(LeaseEvent::TakenOver),
            Outcome::Released => {
                let own = match (&decision.before, claimant) {
                    (Some(before), Some(claimant)) => claimant.is(&before.holder),
                    _ => false,
                };
                Some(if own { LeaseEvent::Released } else { LeaseEvent::Broken })
            }
            _ => None,
        }
    }

    /// The event's `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            LeaseEvent::Acquired => "LeaseAcquired",
            LeaseEvent::TakenOver => "LeaseTakenOver",
            LeaseEvent::Released => "LeaseReleased",
            LeaseEvent::Broken => "LeaseBroken",
        }
    }

    /// `Normal`, or `Warning` for a takeover or a broken lease.
    pub fn kind(self) -> &'static str {
        match self {
            LeaseEvent::Acquired | LeaseEvent::Released => "Normal",
            LeaseEvent::TakenOver | LeaseEvent::Broken => "Warning",
        }
    }

    /// The message: old and new holder, the counter, and the core's reason.
    pub fn message(self, decision: &Decision) -> String {
        let holder = |h: Option<&str>| match h {
            Some(h) if !lease_logic::is_blank(h) => h.to_owned(),
            _ => "<none>".to_owned(),
        };
        let old = holder(decision.before.as_ref().map(|l| l.holder.as_str()));
        let new = holder(decision.after.as_ref().map(|l| l.holder.as_str()));
        let counter = decision.after.as_ref().map_or(0, |l| l.leader_transition);
        format!("holder {old} -> {new}, leaderTransition {counter}: {}", decision.reason)
    }
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
        reason: Some(event.reason().to_owned()),
        message: Some(event.message(decision)),
        type_: Some(event.kind().to_owned()),
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
        assert_eq!(LeaseEvent::of(&vacant, Some(&a)), Some(LeaseEvent::Acquired));
        let gone = lease_logic::PodStatus { pod: a.clone(), state: lease_logic::PodState::NotFound };
        let takeover = lease_logic::hold(&observed(held_by_a), &b, Some(&gone), false);
        assert_eq!(LeaseEvent::of(&takeover, Some(&b)), Some(LeaseEvent::TakenOver));
        assert!(
            LeaseEvent::TakenOver.message(&takeover).starts_with("holder openebs/a -> openebs/b, leaderTransition 4: ")
        );
        let own = lease_logic::release(&observed(held_by_a), Some(&a), false);
        assert_eq!(LeaseEvent::of(&own, Some(&a)), Some(LeaseEvent::Released));
        let broken = lease_logic::release(&observed(held_by_a), Some(&b), true);
        assert_eq!(LeaseEvent::of(&broken, Some(&b)), Some(LeaseEvent::Broken));
        let anonymous = lease_logic::release(&observed(held_by_a), None, true);
        assert_eq!(LeaseEvent::of(&anonymous, None), Some(LeaseEvent::Broken));
        assert!(LeaseEvent::Broken.message(&anonymous).starts_with("holder openebs/a -> <none>, leaderTransition 3: "));
        let denied = lease_logic::release(&observed(held_by_a), Some(&b), false);
        assert_eq!(LeaseEvent::of(&denied, Some(&b)), None, "no write, no event");
    }

    #[test]
    fn the_event_points_at_the_cluster_scoped_pool() {
        let csp: DynamicObject = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cstor-pool-a", "uid": "u-1", "resourceVersion": "9"}
        }))
        .expect("an object");
        let a = pod("openebs/a");
        let decision = lease_logic::hold(&observed(""), &a, None, false);
        let event = build(&csp, LeaseEvent::Acquired, &decision, Some(&a));
        assert_eq!(event.metadata.namespace.as_deref(), Some(EVENT_NAMESPACE));
        assert_eq!(event.involved_object.namespace, None, "the pool is cluster-scoped");
        assert_eq!(event.involved_object.uid.as_deref(), Some("u-1"));
        assert_eq!(event.involved_object.kind.as_deref(), Some("CStorPool"));
        assert_eq!(event.reason.as_deref(), Some("LeaseAcquired"));
        assert_eq!(event.related.and_then(|r| r.name).as_deref(), Some("a"));
    }
}
