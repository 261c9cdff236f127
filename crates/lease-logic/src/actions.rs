//! `hold`, `release` and `status`: the tables of SPEC.md section 3, as typed functions.

use crate::decision::{Action, Change, Decision, Outcome, Remedy};
use crate::lease::{Lease, LeaseSlot, Reading};
use crate::patch::{MissingResourceVersion, compare_and_swap};
use crate::pod::{PodRef, PodState, PodStatus};

/// What the core needs to know of the observed CStorPool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed<'a> {
    /// The annotation key of the lease.
    pub lease_key: &'a str,
    /// What stands under that key.
    pub slot: LeaseSlot<'a>,
    /// `metadata.resourceVersion`, when the object has it as a string.
    pub resource_version: Option<&'a str>,
}

impl<'a> Observed<'a> {
    /// The lease as read from the slot.
    pub fn reading(&self) -> Reading {
        Reading::of(self.slot)
    }
}

/// Decides `hold` for `claimant` (SPEC.md section 3, **hold**).
///
/// `holder` is the looked-up state of one pod; it counts only when it names the current holder.
pub fn hold(observed: &Observed<'_>, claimant: &PodRef, holder: Option<&PodStatus>, force: bool) -> Decision {
    let reading = observed.reading();
    let decision = |outcome, reason: String| Decision {
        before: reading.lease().cloned(),
        ..Decision::bare(Some(Action::Hold), outcome, reason)
    };
    let take = |outcome, reason: String, counter: i64| {
        let change = if outcome == Outcome::Acquired { Change::Acquired } else { Change::TakenOver };
        write(
            Action::Hold,
            Decision { change: Some(change), ..decision(outcome, reason) },
            observed,
            Lease { holder: claimant.as_str().to_owned(), leader_transition: counter },
        )
    };
    let next = |lease: &Lease| lease.leader_transition.checked_add(1);
    let at_maximum = |lease: &Lease| {
        decision(
            Outcome::Invalid,
            format!(
                "leaderTransition is at its maximum ({}) and cannot count another acquisition",
                lease.leader_transition
            ),
        )
    };
    match &reading {
        Reading::Vacant => {
            take(Outcome::Acquired, ["the lease is vacant: ", claimant.as_str(), " acquires it"].concat(), 1)
        }
        Reading::Released(lease) => match next(lease) {
            Some(n) => {
                take(Outcome::Acquired, ["the lease was released: ", claimant.as_str(), " acquires it"].concat(), n)
            }
            None => at_maximum(lease),
        },
        Reading::Held(_, pod) if pod == claimant => {
            decision(Outcome::AlreadyHeld, [claimant.as_str(), " already holds the lease"].concat())
        }
        Reading::Held(lease, pod) => match PodStatus::of(holder, &lease.holder) {
            None => Decision {
                lookup: Some(pod.clone()),
                ..decision(
                    Outcome::NeedHolderStatus,
                    ["the lease is held by ", pod.as_str(), ": its pod's state is needed"].concat(),
                )
            },
            Some(state) if state.is_live() => Decision {
                remedy: Some(Remedy::Wait),
                ..decision(
                    Outcome::Denied,
                    ["the lease is held by ", pod.as_str(), ", which is ", state.liveness()].concat(),
                )
            },
            Some(state) => match next(lease) {
                Some(n) => take(
                    Outcome::TakenOver,
                    ["holder ", pod.as_str(), " is gone (", state.describe(), "): ", claimant.as_str(), " takes over"]
                        .concat(),
                    n,
                ),
                None => at_maximum(lease),
            },
        },
        Reading::Unidentifiable(lease) if force => match next(lease) {
            Some(n) => take(
                Outcome::TakenOver,
                format!("forced: the holder {:?} is not a pod reference; {claimant} takes over", lease.holder),
                n,
            ),
            None => at_maximum(lease),
        },
        Reading::Unidentifiable(lease) => Decision {
            remedy: Some(Remedy::Force),
            ..decision(
                Outcome::Invalid,
                format!(
                    "the holder {:?} is not a pod reference NAMESPACE/NAME; use force to take the lease over",
                    lease.holder
                ),
            )
        },
        Reading::Malformed(problem) if force => take(
            Outcome::TakenOver,
            format!("forced: the lease annotation was unreadable ({problem}); {claimant} takes over"),
            1,
        ),
        Reading::Malformed(problem) => Decision {
            remedy: Some(Remedy::Force),
            ..decision(
                Outcome::Invalid,
                format!("the lease annotation is unreadable: {problem}; use force to repair it"),
            )
        },
    }
}

/// Decides `release` (SPEC.md section 3, **release**).
///
/// `claimant` may be `None` only with `force` (the wire layer checks this); `release` never asks
/// for the holder's state.
pub fn release(observed: &Observed<'_>, claimant: Option<&PodRef>, force: bool) -> Decision {
    let reading = observed.reading();
    let decision = |outcome, reason: String| Decision {
        before: reading.lease().cloned(),
        ..Decision::bare(Some(Action::Release), outcome, reason)
    };
    let clear = |change, reason: String, counter: i64| {
        write(
            Action::Release,
            Decision { change: Some(change), ..decision(Outcome::Released, reason) },
            observed,
            Lease { holder: String::new(), leader_transition: counter },
        )
    };
    let force_would = |decision: Decision| Decision { remedy: Some(Remedy::Force), ..decision };
    match &reading {
        Reading::Held(lease, pod) if claimant == Some(pod) => {
            clear(Change::Released, [pod.as_str(), " releases its lease"].concat(), lease.leader_transition)
        }
        Reading::Vacant => decision(Outcome::NotHeld, "the lease is vacant: nothing to release".into()),
        Reading::Released(_) => decision(Outcome::NotHeld, "the lease is already released".into()),
        Reading::Held(lease, pod) if force => clear(
            Change::Broken,
            format!("forced: broke the lease of {pod} (leaderTransition {})", lease.leader_transition),
            lease.leader_transition,
        ),
        Reading::Held(_, pod) => force_would(decision(
            Outcome::Denied,
            match claimant {
                Some(claimant) => format!("the lease is held by {pod}, not {claimant}; use force to break it"),
                None => format!("the lease is held by {pod}; use force to break it"),
            },
        )),
        Reading::Unidentifiable(lease) if force => clear(
            Change::Broken,
            format!("forced: broke the lease of {:?}, which is not a pod reference", lease.holder),
            lease.leader_transition,
        ),
        Reading::Unidentifiable(lease) => force_would(decision(
            Outcome::Invalid,
            format!(
                "the holder {:?} is not a pod reference NAMESPACE/NAME; use force to break the lease",
                lease.holder
            ),
        )),
        Reading::Malformed(problem) if force => {
            clear(Change::Broken, format!("forced: cleared an unreadable lease annotation ({problem})"), 0)
        }
        Reading::Malformed(problem) => force_would(decision(
            Outcome::Invalid,
            format!("the lease annotation is unreadable: {problem}; use force to clear it"),
        )),
    }
}

/// Reports the lease (SPEC.md section 3, **status**); never writes.
pub fn status(observed: &Observed<'_>, holder: Option<&PodStatus>) -> Decision {
    let reading = observed.reading();
    let decision = |outcome, reason: String| Decision {
        before: reading.lease().cloned(),
        ..Decision::bare(Some(Action::Status), outcome, reason)
    };
    match &reading {
        Reading::Vacant => decision(Outcome::Vacant, "the lease is vacant".into()),
        Reading::Released(lease) => {
            decision(Outcome::Released, format!("the lease is released (leaderTransition {})", lease.leader_transition))
        }
        Reading::Held(lease, pod) => {
            let state = PodStatus::of(holder, &lease.holder);
            let reason = match state {
                Some(state) => ["the lease is held by ", pod.as_str(), ", which is ", state.liveness()].concat(),
                None => ["the lease is held by ", pod.as_str()].concat(),
            };
            Decision { live: state.map(PodState::is_live), ..decision(Outcome::Held, reason) }
        }
        Reading::Unidentifiable(lease) => {
            decision(Outcome::Invalid, format!("the holder {:?} is not a pod reference NAMESPACE/NAME", lease.holder))
        }
        Reading::Malformed(problem) => {
            decision(Outcome::Invalid, format!("the lease annotation is unreadable: {problem}"))
        }
    }
}

/// Completes `decision` with the lease `after`, its annotation and its guarded patch.
fn write(action: Action, decision: Decision, observed: &Observed<'_>, after: Lease) -> Decision {
    let annotation = after.to_annotation();
    match compare_and_swap(observed.lease_key, observed.slot, &annotation, observed.resource_version) {
        Ok(patch) => Decision { after: Some(after), annotation: Some(annotation), patch: Some(patch), ..decision },
        Err(MissingResourceVersion) => Decision {
            before: decision.before,
            ..Decision::invalid(
                Some(action),
                "the object has no string metadata.resourceVersion to guard the write with",
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_says_what_is_live_says() {
        for state in PodState::ALL {
            let word = if state.is_live() { "live" } else { "dead" };
            assert_eq!(state.liveness(), format!("{word} ({})", state.describe()));
        }
    }
}
