//! The one conversation every adapter has with the core, in the sans-IO style of rustls's
//! unbuffered API: ask; when the core answers "look this pod up", perform that lookup and resume
//! with what the API returned; the core decides again.
//!
//! The adapter's loop is always the same few lines, and holds no rule of the protocol:
//!
//! ```
//! use lease_logic::{Conversation, LeaseSlot, Observed, Outcome, PodFacts, Question, Step};
//!
//! let claimant: lease_logic::PodRef = "openebs/pool-a".parse()?;
//! let observed = Observed {
//!     lease_key: lease_logic::DEFAULT_LEASE_KEY,
//!     slot: LeaseSlot::Value(r#"{"holder":"openebs/pool-b","leaderTransition":3}"#),
//!     resource_version: Some("5001"),
//! };
//! let mut conversation = Conversation::new(Question::Hold { observed, claimant: &claimant, force: false });
//! let decision = loop {
//!     match conversation.step() {
//!         Step::Decided(decision) => break decision,
//!         // The adapter's I/O: here the API said 404 for the holder's pod.
//!         Step::LookUp(pod) => conversation.resume(pod, &PodFacts::NotFound),
//!     }
//! };
//! assert_eq!(decision.outcome, Outcome::TakenOver);
//! # Ok::<(), lease_logic::InvalidPodRef>(())
//! ```
//!
//! [`Exchange`] is the same conversation on the wire format (SPEC.md section 5), for adapters
//! whose evaluator is a request document in and a decision document out (the sandboxed module,
//! the page, a policy engine's guest): the core re-writes the request with the looked-up pod's
//! state (`holderPod`) and reads the evaluator's decision documents.
//!
//! What a lookup found is given as the API returned it ([`PodFacts`]): the core alone maps a
//! phase to a [`PodState`] and a state to live or dead.

use crate::actions::{self, Observed};
use crate::decision::{Decision, Outcome};
use crate::json::{self, Duplicates, Json};
use crate::lease::Reading;
use crate::pod::{PodRef, PodState, PodStatus};

/// What a lookup of one pod returned, before the core interprets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodFacts {
    /// The pod exists; `phase` is its `status.phase` exactly as the API returned it (`None` when
    /// the pod has no phase).
    Found {
        /// `status.phase`.
        phase: Option<String>,
    },
    /// The API answered 404: the pod does not exist.
    NotFound,
    /// The lookup failed any other way: a timeout, a refused connection, a 403, ...
    LookupFailed {
        /// What went wrong, for the adapter's messages and logs.
        error: String,
    },
}

impl PodFacts {
    /// The state the core takes these facts for. This is the one place a phase becomes a state:
    /// `Running`, `Pending`, `Succeeded` and `Failed` are themselves; any other phase, and no
    /// phase, is `Unknown` (live: the pod may still run the pool).
    pub fn state(&self) -> PodState {
        match self {
            PodFacts::Found { phase } => match phase.as_deref() {
                Some("Running") => PodState::Running,
                Some("Pending") => PodState::Pending,
                Some("Succeeded") => PodState::Succeeded,
                Some("Failed") => PodState::Failed,
                _ => PodState::Unknown,
            },
            PodFacts::NotFound => PodState::NotFound,
            PodFacts::LookupFailed { .. } => PodState::LookupFailed,
        }
    }

    /// Reads facts written as JSON: `{"phase":"Running"}` (a pod; `phase` absent or `null` when
    /// it has none), `{"notFound":true}`, or `{"error":"..."}`. Anything else is a failed lookup
    /// (which the core counts as live).
    ///
    /// ```
    /// use lease_logic::{PodFacts, PodState};
    /// assert_eq!(PodFacts::from_json(r#"{"phase":"Failed"}"#).state(), PodState::Failed);
    /// assert_eq!(PodFacts::from_json(r#"{"notFound":true}"#), PodFacts::NotFound);
    /// assert_eq!(PodFacts::from_json("{}").state(), PodState::Unknown);
    /// assert_eq!(PodFacts::from_json("oops").state(), PodState::LookupFailed);
    /// ```
    pub fn from_json(text: &str) -> PodFacts {
        let read = || {
            let document = json::parse_str(text, Duplicates::Reject).ok()?;
            let fields = document.root().object()?;
            let get = |name| fields.get(name).map(json::Raw::decode);
            Some(match (get("notFound"), get("error"), get("phase")) {
                (Some(Json::Bool(true)), _, _) => PodFacts::NotFound,
                (_, Some(Json::String(error)), _) => PodFacts::LookupFailed { error: error.into_owned() },
                (_, _, Some(Json::String(phase))) => PodFacts::Found { phase: Some(phase.into_owned()) },
                (_, _, None | Some(Json::Null)) => PodFacts::Found { phase: None },
                _ => return None,
            })
        };
        read().unwrap_or_else(|| PodFacts::LookupFailed { error: format!("unreadable lookup result {text:?}") })
    }

    /// The facts as the state's owner would report them: `pod` with the state these facts give.
    pub fn status(&self, pod: PodRef) -> PodStatus {
        PodStatus { pod, state: self.state() }
    }
}

/// A question for the core about one observed CStorPool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question<'a> {
    /// `hold` for `claimant` (SPEC.md section 3).
    Hold {
        /// The CStorPool as read.
        observed: Observed<'a>,
        /// Who takes the lease.
        claimant: &'a PodRef,
        /// Take over an unreadable lease.
        force: bool,
    },
    /// `release` for `claimant` (`None` only with `force`).
    Release {
        /// The CStorPool as read.
        observed: Observed<'a>,
        /// Who gives the lease up.
        claimant: Option<&'a PodRef>,
        /// Break anyone's lease.
        force: bool,
    },
    /// `status`. With `holder_liveness`, a lease held by a pod makes the conversation ask for
    /// that pod first, so the decision says whether the holder is live.
    Status {
        /// The CStorPool as read.
        observed: Observed<'a>,
        /// Ask for the holder's pod.
        holder_liveness: bool,
    },
}

/// What the conversation needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The core decided.
    Decided(Decision),
    /// Look this pod up, then [`Conversation::resume`] with what the API returned.
    LookUp(PodRef),
}

/// One typed conversation with the core (see the module docs).
#[derive(Debug, Clone)]
pub struct Conversation<'a> {
    question: Question<'a>,
    holder: Option<PodStatus>,
}

impl<'a> Conversation<'a> {
    /// Starts a conversation about `question`, knowing nothing of any pod.
    pub fn new(question: Question<'a>) -> Self {
        Conversation { question, holder: None }
    }

    /// The core's answer with what is known so far: a decision, or the one pod it needs.
    ///
    /// The core asks at most once: after a lookup it always decides.
    pub fn step(&mut self) -> Step {
        let holder = self.holder.as_ref();
        let decision = match self.question {
            Question::Hold { observed, claimant, force } => actions::hold(&observed, claimant, holder, force),
            Question::Release { observed, claimant, force } => actions::release(&observed, claimant, force),
            Question::Status { observed, holder_liveness } => {
                if let (true, None, Reading::Held(_, pod)) = (holder_liveness, holder, observed.reading()) {
                    return Step::LookUp(pod);
                }
                actions::status(&observed, holder)
            }
        };
        match (decision.outcome, &decision.lookup, holder) {
            (Outcome::NeedHolderStatus, Some(pod), None) => Step::LookUp(pod.clone()),
            _ => Step::Decided(decision),
        }
    }

    /// Gives the core what the lookup of `pod` returned.
    pub fn resume(&mut self, pod: PodRef, facts: &PodFacts) {
        self.holder = Some(facts.status(pod));
    }

    /// The pod state the core was given, if any.
    pub fn holder(&self) -> Option<&PodStatus> {
        self.holder.as_ref()
    }
}

/// The conversation on the wire format, for an evaluator that takes request documents and gives
/// decision documents (the WASM module, the page, a policy engine's guest).
///
/// ```
/// use lease_logic::{Exchange, PodFacts, Turn};
///
/// let request = br#"{"action":"hold","claimant":"openebs/pool-a","object":{"metadata":{"resourceVersion":"7",
///     "annotations":{"openebs.io/csp-lease":"{\"holder\":\"openebs/pool-b\",\"leaderTransition\":3}"}}}}"#;
/// let mut exchange = Exchange::new(request.to_vec());
/// let verdict = loop {
///     // The evaluator: here the native core; the webhook runs the sandboxed module instead.
///     match exchange.read(&lease_logic::evaluate_json(exchange.request())) {
///         Turn::Decided(verdict) => break verdict,
///         Turn::LookUp(pod) => exchange.resume(pod, &PodFacts::Found { phase: Some("Failed".into()) }),
///         Turn::Undecided(why) => panic!("{why}"),
///     }
/// };
/// assert_eq!(verdict.outcome, lease_logic::Outcome::TakenOver);
/// ```
#[derive(Debug, Clone)]
pub struct Exchange {
    request: Vec<u8>,
    asked: Option<PodRef>,
}

/// What an [`Exchange`] needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// The evaluator decided.
    Decided(Verdict),
    /// Look this pod up, [`Exchange::resume`], and evaluate [`Exchange::request`] again.
    LookUp(PodRef),
    /// The evaluator's answer cannot be acted on (unreadable, an unknown outcome, or a second
    /// request for a pod after its lookup); the adapter must not act on the write.
    Undecided(String),
}

/// The members of a decision document that adapters act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The outcome.
    pub outcome: Outcome,
    /// The reason, one sentence (empty when the document had none).
    pub reason: String,
    /// Whether the (old) holder is live, when the decision says.
    pub live: Option<bool>,
}

impl Exchange {
    /// Starts an exchange about one request document.
    pub fn new(request: Vec<u8>) -> Self {
        Exchange { request, asked: None }
    }

    /// The request document to evaluate now.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Reads the evaluator's decision document for [`Exchange::request`].
    pub fn read(&mut self, decision: &[u8]) -> Turn {
        let verdict = match read_decision(decision) {
            Ok(verdict) => verdict,
            Err(problem) => return Turn::Undecided(format!("the decision is unreadable: {problem}")),
        };
        match verdict {
            (verdict, Some(pod)) if verdict.outcome == Outcome::NeedHolderStatus => match &self.asked {
                None => {
                    self.asked = Some(pod.clone());
                    Turn::LookUp(pod)
                }
                Some(_) => Turn::Undecided(format!("the core asked for pod {pod} again after its lookup")),
            },
            (verdict, _) if verdict.outcome == Outcome::NeedHolderStatus => {
                Turn::Undecided(format!("needHolderStatus without a pod to look up: {}", verdict.reason))
            }
            (verdict, _) => Turn::Decided(verdict),
        }
    }

    /// Gives the core what the lookup of `pod` returned: the request is re-written with
    /// `holderPod` set to the state the facts give (any `holderPod` it had is replaced).
    pub fn resume(&mut self, pod: PodRef, facts: &PodFacts) {
        let state = facts.state();
        // Only a request the core could read asks for a pod, so both of these hold whenever the
        // core asked; a request that cannot be read is left as it is (and stays `invalid`).
        let Ok(document) = json::parse(&self.request, Duplicates::Reject) else { return };
        let Some(members) = document.root().object() else { return };
        let mut out = String::with_capacity(self.request.len() + 96);
        out.push('{');
        for (name, value) in members.iter().filter(|(name, _)| *name != "holderPod") {
            json::write_string(&mut out, name);
            out.push(':');
            out.push_str(value.text());
            out.push(',');
        }
        out.push_str("\"holderPod\":{\"pod\":");
        json::write_string(&mut out, pod.as_str());
        out.push_str(",\"state\":\"");
        out.push_str(state.as_str());
        out.push_str("\"}}");
        self.request = out.into_bytes();
    }
}

/// Reads a decision document's outcome, reason, live and lookup.
fn read_decision(decision: &[u8]) -> Result<(Verdict, Option<PodRef>), String> {
    let document = json::parse(decision, Duplicates::Reject).map_err(|e| e.to_string())?;
    let fields = document.root().object().ok_or("it is not an object")?;
    let get = |name| fields.get(name).map(json::Raw::decode);
    let outcome = match get("outcome") {
        Some(Json::String(name)) => Outcome::from_name(&name).ok_or_else(|| format!("{name:?} is not an outcome"))?,
        _ => return Err("it has no string \"outcome\"".into()),
    };
    let reason = match get("reason") {
        Some(Json::String(reason)) => reason.into_owned(),
        _ => String::new(),
    };
    let live = match get("live") {
        Some(Json::Bool(live)) => Some(live),
        _ => None,
    };
    let lookup = match fields.get("lookup").and_then(json::Raw::object) {
        Some(pod) => {
            let part = |name| match pod.get(name).map(json::Raw::decode) {
                Some(Json::String(text)) => Ok(text),
                _ => Err(format!("its lookup has no string {name:?}")),
            };
            Some(PodRef::new(&part("namespace")?, &part("name")?).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    Ok((Verdict { outcome, reason, live }, lookup))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseSlot;

    fn held_by_b() -> Observed<'static> {
        Observed {
            lease_key: crate::DEFAULT_LEASE_KEY,
            slot: LeaseSlot::Value(r#"{"holder":"openebs/b","leaderTransition":3}"#),
            resource_version: Some("5"),
        }
    }

    #[test]
    fn a_phase_becomes_a_state_in_one_place() {
        let found = |phase: Option<&str>| PodFacts::Found { phase: phase.map(str::to_owned) }.state();
        assert_eq!(found(Some("Running")), PodState::Running);
        assert_eq!(found(Some("Pending")), PodState::Pending);
        assert_eq!(found(Some("Succeeded")), PodState::Succeeded);
        assert_eq!(found(Some("Failed")), PodState::Failed);
        // An unrecognised or missing phase is Unknown, which is live (the original took over).
        for phase in [None, Some("Terminating"), Some("running"), Some("")] {
            assert_eq!(found(phase), PodState::Unknown, "{phase:?}");
            assert!(found(phase).is_live());
        }
        assert_eq!(PodFacts::NotFound.state(), PodState::NotFound);
        assert_eq!(PodFacts::LookupFailed { error: "timeout".into() }.state(), PodState::LookupFailed);
    }

    #[test]
    fn hold_asks_once_then_decides() {
        let claimant: PodRef = "openebs/a".parse().expect("valid");
        let mut conversation =
            Conversation::new(Question::Hold { observed: held_by_b(), claimant: &claimant, force: false });
        let Step::LookUp(pod) = conversation.step() else { panic!("expected a lookup") };
        assert_eq!(pod.as_str(), "openebs/b");
        conversation.resume(pod, &PodFacts::Found { phase: Some("Bogus".into()) });
        let Step::Decided(decision) = conversation.step() else { panic!("expected a decision") };
        assert_eq!(decision.outcome, Outcome::Denied);
    }

    #[test]
    fn status_with_holder_liveness_asks_for_the_holder() {
        let mut conversation = Conversation::new(Question::Status { observed: held_by_b(), holder_liveness: true });
        let Step::LookUp(pod) = conversation.step() else { panic!("expected a lookup") };
        conversation.resume(pod, &PodFacts::Found { phase: Some("Failed".into()) });
        let Step::Decided(decision) = conversation.step() else { panic!("expected a decision") };
        assert_eq!(decision.live, Some(false));
        let mut plain = Conversation::new(Question::Status { observed: held_by_b(), holder_liveness: false });
        assert!(matches!(plain.step(), Step::Decided(d) if d.live.is_none()));
    }

    #[test]
    fn the_exchange_replaces_holder_pod_and_keeps_every_other_member() {
        let request = br#"{"action":"status","holderPod":{"pod":"x/y","state":"Running"},"object":{"metadata":{}},"extra":[1e400]}"#;
        let mut exchange = Exchange::new(request.to_vec());
        exchange.resume("openebs/b".parse().expect("valid"), &PodFacts::NotFound);
        assert_eq!(
            String::from_utf8_lossy(exchange.request()),
            r#"{"action":"status","object":{"metadata":{}},"extra":[1e400],"holderPod":{"pod":"openebs/b","state":"NotFound"}}"#
        );
    }

    #[test]
    fn unreadable_or_repeated_asks_are_undecided() {
        let mut exchange = Exchange::new(b"{}".to_vec());
        assert!(matches!(exchange.read(b"not json"), Turn::Undecided(_)));
        assert!(matches!(exchange.read(br#"{"outcome":"maybe"}"#), Turn::Undecided(_)));
        let ask = br#"{"outcome":"needHolderStatus","lookup":{"namespace":"openebs","name":"b"}}"#;
        assert!(matches!(exchange.read(ask), Turn::LookUp(_)));
        assert!(matches!(exchange.read(ask), Turn::Undecided(_)));
    }
}
