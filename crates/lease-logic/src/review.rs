//! `review`: admission control of a write to a CStorPool (SPEC.md section 3, **review**).

use crate::decision::{Action, Decision, Outcome};
use crate::lease::{Lease, LeaseSlot, Reading};
use crate::pod::{PodState, PodStatus};

/// The group whose members may break any lease unless configured otherwise.
pub const DEFAULT_BREAK_GLASS_GROUP: &str = "system:masters";

/// The operation of an admission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// An object is created.
    Create,
    /// An object is updated (or patched).
    Update,
    /// An object is deleted.
    Delete,
}

impl Operation {
    /// The operation of an `AdmissionRequest.operation` string.
    pub fn from_name(name: &str) -> Option<Operation> {
        match name {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            _ => None,
        }
    }
}

/// Who makes the write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requester<'a> {
    /// The requester's pod identity `namespace/pod`, when its token is bound to a pod.
    pub pod: Option<String>,
    /// The requester's groups.
    pub groups: Vec<&'a str>,
}

/// A write to judge, already read from its `AdmissionRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review<'a> {
    /// The operation.
    pub operation: Operation,
    /// The lease before the write (for `CREATE`, [`LeaseSlot::NoAnnotations`]).
    pub old: LeaseSlot<'a>,
    /// The lease the write leaves (ignored for `DELETE`).
    pub new: LeaseSlot<'a>,
    /// Who writes.
    pub requester: Requester<'a>,
    /// Groups whose members may write any lease that reads well.
    pub break_glass_groups: Vec<&'a str>,
    /// The looked-up state of one pod; it counts only when it names the old lease's holder.
    pub holder: Option<&'a PodStatus>,
}

/// Judges a write (the rules of SPEC.md section 3, first match wins).
pub fn review(request: &Review<'_>) -> Decision {
    let action = Some(Action::Review);
    if request.operation == Operation::Delete {
        return Decision::bare(action, Outcome::Allowed, "deleting a CStorPool is not a lease write");
    }
    let old = Reading::of(request.old);
    let new = Reading::of(request.new);
    let old_holder = match &old {
        Reading::Held(lease, pod) => Some((pod, PodStatus::of(request.holder, &lease.holder))),
        _ => None,
    };
    let decision = |outcome, reason: String| Decision {
        before: old.lease().cloned(),
        after: new.lease().cloned(),
        live: old_holder.and_then(|(_, state)| state).map(PodState::is_live),
        ..Decision::bare(action, outcome, reason)
    };
    let allowed = |reason: String| decision(Outcome::Allowed, reason);
    let denied = |reason: String| decision(Outcome::Denied, reason);

    // 1. The lease is not touched.
    if request.old.value() == request.new.value() {
        return allowed("the lease annotation is unchanged".into());
    }
    // 2. The new lease must read well.
    match &new {
        Reading::Malformed(problem) => return denied(format!("the new lease annotation is unreadable: {problem}")),
        Reading::Unidentifiable(lease) => {
            return denied(format!("the new lease's holder {:?} is not a pod reference NAMESPACE/NAME", lease.holder));
        }
        _ => {}
    }
    // 3. Break-glass.
    if let Some(group) = request.requester.groups.iter().find(|g| request.break_glass_groups.contains(g)) {
        return allowed(format!("the requester is in the break-glass group {group:?}"));
    }
    // 4. A pod writes leases only for itself.
    if let (Some(me), Reading::Held(_, holder)) = (&request.requester.pod, &new)
        && !holder.is(me)
    {
        return denied(format!("pod {me} may not give the lease to another pod ({holder})"));
    }
    let previous = old.previous();
    let keeps_previous = |new_lease: Option<&Lease>| new_lease.is_none_or(|l| l.leader_transition == previous);
    let counts_one_more = |lease: &Lease| previous.checked_add(1) == Some(lease.leader_transition);
    match (&new, &old) {
        // 5. A release.
        (Reading::Vacant | Reading::Released(_), Reading::Vacant | Reading::Released(_)) => {
            if keeps_previous(new.lease()) {
                allowed("the lease stays released".into())
            } else {
                denied(format!("a released lease must keep leaderTransition {previous}"))
            }
        }
        (Reading::Vacant | Reading::Released(_), Reading::Held(_, h)) => {
            let by_holder = request.requester.pod.as_deref().is_some_and(|me| h.is(me));
            let state = old_holder.and_then(|(_, state)| state);
            if by_holder || state.is_some_and(|s| !s.is_live()) {
                if !keeps_previous(new.lease()) {
                    denied(format!("releasing the lease of {h} must keep leaderTransition {previous}"))
                } else if by_holder {
                    allowed(format!("{h} releases its own lease"))
                } else {
                    allowed(format!("holder {h} is gone"))
                }
            } else {
                match state {
                    None => needs_holder(decision, h),
                    Some(state) => {
                        denied(["the lease is held by ", h.as_str(), ", which is ", state.liveness()].concat())
                    }
                }
            }
        }
        // 6. An acquisition.
        (Reading::Held(lease, n), Reading::Vacant) => {
            if lease.leader_transition == 1 {
                allowed([n.as_str(), " acquires a vacant lease"].concat())
            } else {
                denied(format!(
                    "the first acquisition of a lease must write leaderTransition 1, not {}",
                    lease.leader_transition
                ))
            }
        }
        (Reading::Held(lease, n), Reading::Released(_)) => {
            if counts_one_more(lease) {
                allowed([n.as_str(), " acquires a released lease"].concat())
            } else {
                denied(format!("acquiring a released lease must count leaderTransition {previous} + 1"))
            }
        }
        (Reading::Held(lease, n), Reading::Held(_, h)) if n == h => {
            if lease.leader_transition == previous {
                allowed([n.as_str(), " keeps its lease"].concat())
            } else {
                denied(format!("{n} already holds the lease: leaderTransition must stay {previous}"))
            }
        }
        (Reading::Held(lease, n), Reading::Held(_, h)) => match old_holder.and_then(|(_, state)| state) {
            Some(state) if !state.is_live() => {
                if counts_one_more(lease) {
                    allowed(
                        ["holder ", h.as_str(), " is gone (", state.describe(), "): ", n.as_str(), " takes over"]
                            .concat(),
                    )
                } else {
                    denied(format!("taking over from {h} must count leaderTransition {previous} + 1"))
                }
            }
            Some(state) => denied(["the lease is held by ", h.as_str(), ", which is ", state.liveness()].concat()),
            None => needs_holder(decision, h),
        },
        (_, Reading::Malformed(_) | Reading::Unidentifiable(_)) => {
            denied("the old lease annotation is unreadable: only a break-glass group may rewrite it".into())
        }
        // Rule 2 returned for these new readings.
        (Reading::Malformed(_) | Reading::Unidentifiable(_), _) => {
            denied("the new lease annotation is unreadable".into())
        }
    }
}

fn needs_holder(decision: impl Fn(Outcome, String) -> Decision, holder: &crate::pod::PodRef) -> Decision {
    Decision {
        lookup: Some(holder.clone()),
        ..decision(Outcome::NeedHolderStatus, format!("the lease is held by {holder}: its pod's state is needed"))
    }
}
