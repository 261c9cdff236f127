//! The decision document: what the core decided, and the write that carries it out.

use std::fmt;

use serde::Serialize;

use crate::json;
use crate::lease::Lease;
use crate::patch::Patch;
use crate::pod::PodRef;

/// The four things the core decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Take the lease for a claimant.
    Hold,
    /// Give the lease up (or, with force, break it).
    Release,
    /// Report the lease; never writes.
    Status,
    /// Judge a write to a CStorPool as an admission controller.
    Review,
}

impl Action {
    /// The action's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Hold => "hold",
            Action::Release => "release",
            Action::Status => "status",
            Action::Review => "review",
        }
    }

    /// The action of a wire name.
    pub fn from_name(name: &str) -> Option<Action> {
        [Action::Hold, Action::Release, Action::Status, Action::Review].into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was decided (SPEC.md section 5 lists which outcomes each action has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// hold: a vacant or released lease was taken.
    Acquired,
    /// hold: the claimant holds it already; nothing to write.
    AlreadyHeld,
    /// hold: the lease of a dead holder, or (forced) an unreadable one, was taken over.
    TakenOver,
    /// hold, release, review: refused.
    Denied,
    /// hold, review: the core needs the state of the pod in `lookup`; ask again with it.
    NeedHolderStatus,
    /// The request, the claimant or the lease cannot be decided on; the reason says why.
    Invalid,
    /// release: the lease was released (or, forced, broken).
    Released,
    /// release: nobody holds the lease; nothing to write.
    NotHeld,
    /// status: nobody ever held the lease (or its value is blank).
    Vacant,
    /// status: a pod holds the lease.
    Held,
    /// review: the write may go ahead.
    Allowed,
}

impl Outcome {
    /// The outcome's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Acquired => "acquired",
            Outcome::AlreadyHeld => "alreadyHeld",
            Outcome::TakenOver => "takenOver",
            Outcome::Denied => "denied",
            Outcome::NeedHolderStatus => "needHolderStatus",
            Outcome::Invalid => "invalid",
            Outcome::Released => "released",
            Outcome::NotHeld => "notHeld",
            Outcome::Vacant => "vacant",
            Outcome::Held => "held",
            Outcome::Allowed => "allowed",
        }
    }
}

impl Outcome {
    /// Every outcome, in SPEC.md's order.
    pub const ALL: [Outcome; 11] = [
        Outcome::Acquired,
        Outcome::AlreadyHeld,
        Outcome::TakenOver,
        Outcome::Denied,
        Outcome::NeedHolderStatus,
        Outcome::Invalid,
        Outcome::Released,
        Outcome::NotHeld,
        Outcome::Vacant,
        Outcome::Held,
        Outcome::Allowed,
    ];

    /// The outcome of a wire name.
    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether the claimant holds the lease after a `hold` with this outcome (acquired, taken
    /// over, or already held).
    pub fn claimant_holds(self) -> bool {
        matches!(self, Outcome::Acquired | Outcome::TakenOver | Outcome::AlreadyHeld)
    }
}

/// What a decision that writes does to the lease, as the people following it name it (the
/// plugin's Events, its one-line summaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// A vacant or released lease was acquired.
    Acquired,
    /// The lease of a dead holder (or, forced, an unreadable lease) was taken over.
    TakenOver,
    /// The holder released its own lease.
    Released,
    /// Someone else's lease, or an unreadable one, was broken with `force`.
    Broken,
}

impl Change {
    /// The Kubernetes Event reason: `LeaseAcquired`, `LeaseTakenOver`, `LeaseReleased`,
    /// `LeaseBroken`.
    pub fn event_reason(self) -> &'static str {
        match self {
            Change::Acquired => "LeaseAcquired",
            Change::TakenOver => "LeaseTakenOver",
            Change::Released => "LeaseReleased",
            Change::Broken => "LeaseBroken",
        }
    }

    /// Whether the change overrides another pod's claim (a takeover or a broken lease): such
    /// changes are reported as warnings.
    pub fn overrides_another(self) -> bool {
        matches!(self, Change::TakenOver | Change::Broken)
    }
}

/// What the caller can do about a decision that did not go its way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Remedy {
    /// A live pod holds the lease: wait until it is gone and ask again.
    Wait,
    /// Asking again with `force` would do it (an unreadable lease, or another pod's lease to
    /// break on release).
    Force,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision; serialises as SPEC.md's decision document, keys in its order, absent as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The request's action (`None` when there was none or it is unknown).
    pub action: Option<Action>,
    /// What was decided.
    pub outcome: Outcome,
    /// One sentence naming what decided it (free text).
    pub reason: String,
    /// The observed lease (the old one, for review), when it was read and is not vacant.
    pub before: Option<Lease>,
    /// The lease that will be written (hold, release), or the new lease (review).
    pub after: Option<Lease>,
    /// The exact new annotation value, when the decision writes.
    pub annotation: Option<String>,
    /// The guarded JSON Patch that writes it.
    pub patch: Option<Patch>,
    /// The pod whose state is needed, with [`Outcome::NeedHolderStatus`].
    pub lookup: Option<PodRef>,
    /// status and review: whether the (old) holder is live, when its state was supplied.
    pub live: Option<bool>,
    /// What the write does to the lease, when the decision writes (not in the decision
    /// document).
    #[serde(skip)]
    pub change: Option<Change>,
    /// What the caller can do when the decision did not go its way (not in the decision
    /// document).
    #[serde(skip)]
    pub remedy: Option<Remedy>,
}

impl Decision {
    /// A decision of `outcome` with nothing else known.
    pub fn bare(action: Option<Action>, outcome: Outcome, reason: impl Into<String>) -> Decision {
        Decision {
            action,
            outcome,
            reason: reason.into(),
            before: None,
            after: None,
            annotation: None,
            patch: None,
            lookup: None,
            live: None,
            change: None,
            remedy: None,
        }
    }

    /// An `invalid` decision with its reason.
    pub fn invalid(action: Option<Action>, reason: impl Into<String>) -> Decision {
        Decision::bare(action, Outcome::Invalid, reason)
    }

    /// The decision document: compact JSON, keys in SPEC.md's order, strings escaped as
    /// serde_json escapes them (the same bytes as `serde_json::to_vec(self)`, written directly
    /// because this is the hot path of every runtime).
    pub fn to_json(&self) -> Vec<u8> {
        // Room for the keys and the strings, with some to spare for escapes.
        let lease_len = |l: &Option<Lease>| l.as_ref().map_or(0, |l| l.holder.len());
        let strings = self.reason.len()
            + lease_len(&self.before)
            + lease_len(&self.after)
            + self.annotation.as_ref().map_or(0, String::len)
            + self.patch.as_ref().map_or(0, Patch::text_len);
        let mut out = String::with_capacity(256 + strings + strings / 2);
        // The names of actions and outcomes need no escapes.
        out.push_str("{\"action\":");
        match self.action {
            Some(action) => {
                out.push('"');
                out.push_str(action.as_str());
                out.push('"');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"outcome\":\"");
        out.push_str(self.outcome.as_str());
        out.push_str("\",\"reason\":");
        json::write_string(&mut out, &self.reason);
        for (key, lease) in [(",\"before\":", &self.before), (",\"after\":", &self.after)] {
            out.push_str(key);
            match lease {
                Some(lease) => lease.write_json(&mut out),
                None => out.push_str("null"),
            }
        }
        out.push_str(",\"annotation\":");
        match &self.annotation {
            Some(annotation) => json::write_string(&mut out, annotation),
            None => out.push_str("null"),
        }
        out.push_str(",\"patch\":");
        match &self.patch {
            Some(patch) => patch.write_json(&mut out),
            None => out.push_str("null"),
        }
        out.push_str(",\"lookup\":");
        match &self.lookup {
            Some(pod) => {
                out.push_str("{\"namespace\":");
                json::write_string(&mut out, pod.namespace());
                out.push_str(",\"name\":");
                json::write_string(&mut out, pod.name());
                out.push('}');
            }
            None => out.push_str("null"),
        }
        out.push_str(",\"live\":");
        out.push_str(match self.live {
            Some(true) => "true",
            Some(false) => "false",
            None => "null",
        });
        out.push('}');
        out.into_bytes()
    }

    /// Whether the decision writes (carries a patch).
    pub fn writes(&self) -> bool {
        self.patch.is_some()
    }
}
