//! [`CspLease`]: the lease on a live cluster. Reads the CStorPool, asks the core, looks the
//! holder pod up when the core asks, and sends the core's guarded patch.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use lease_logic::{
    Conversation, Decision, Lease, LeaseSlot, Observed, PodFacts, PodRef, PodState, PodStatus, Question, Reading, Step,
};

use crate::error::{Error, Target, classify};
use crate::events::{self, LeaseEvent};

/// The CStorPool API group.
pub const GROUP: &str = "openebs.io";
/// The CStorPool API version.
pub const VERSION: &str = "v1alpha1";
/// `group/version`.
pub const API_VERSION: &str = "openebs.io/v1alpha1";
/// The kind.
pub const KIND: &str = "CStorPool";
/// The resource (plural).
pub const PLURAL: &str = "cstorpools";

/// How CStorPools are addressed: built by hand, so no discovery request is ever sent.
pub fn cstorpool_resource() -> ApiResource {
    ApiResource {
        group: GROUP.to_owned(),
        version: VERSION.to_owned(),
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        plural: PLURAL.to_owned(),
    }
}

/// `--dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DryRun {
    /// Write for real.
    #[default]
    None,
    /// Decide and report the patch; send nothing.
    Client,
    /// Send the patch with `dryRun=All`: the API server checks it and persists nothing.
    Server,
}

/// Bounded, jittered retries after a lost race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Read-decide-write rounds at most (at least 1).
    pub attempts: u32,
    /// The first back-off; each later one doubles, up to `max_delay`.
    pub base_delay: Duration,
    /// The largest back-off.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { attempts: 10, base_delay: Duration::from_millis(20), max_delay: Duration::from_secs(1) }
    }
}

impl Retry {
    /// The back-off after losing round `round` (1-based): "equal jitter", half fixed, half random.
    pub fn delay(&self, round: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << round.saturating_sub(1).min(16));
        let ceiling = exp.min(self.max_delay);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// What a lookup of the holder's pod found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderPod {
    /// The pod.
    pub pod: PodRef,
    /// Its state, as the core takes it.
    pub state: PodState,
    /// `spec.nodeName`, when the pod exists and is scheduled.
    pub node: Option<String>,
    /// Why the lookup failed, with [`PodState::LookupFailed`].
    pub error: Option<String>,
}

impl HolderPod {
    /// The state as the core takes it.
    pub fn status(&self) -> PodStatus {
        PodStatus { pod: self.pod.clone(), state: self.state }
    }

    /// What the API returned for `pod`: the pod (`Ok(Some)`), a 404 (`Ok(None)`), or an error.
    /// The one place this crate turns a lookup into [`PodFacts`] for the core.
    fn looked_up(pod: PodRef, found: Result<Option<&Pod>, String>) -> (HolderPod, PodFacts) {
        let (facts, node) = match found {
            Ok(Some(found)) => (
                PodFacts::Found { phase: found.status.as_ref().and_then(|s| s.phase.clone()) },
                found.spec.as_ref().and_then(|s| s.node_name.clone()),
            ),
            Ok(None) => (PodFacts::NotFound, None),
            Err(error) => (PodFacts::LookupFailed { error }, None),
        };
        let error = match &facts {
            PodFacts::LookupFailed { error } => Some(error.clone()),
            _ => None,
        };
        (HolderPod { pod, state: facts.state(), node, error }, facts)
    }
}

/// Where the pod lookups of a conversation are answered.
enum Lookups<'a> {
    /// One `get` per lookup.
    Get(&'a CspLease),
    /// From one list of pods made beforehand.
    Listed(&'a PodIndex),
}

/// Runs the core's conversation about `question`, answering the one pod lookup it may ask for
/// from `lookups`. Every read of a lease in this crate goes through it.
async fn converse(question: Question<'_>, lookups: Lookups<'_>) -> (Decision, Option<HolderPod>) {
    let mut conversation = Conversation::new(question);
    let mut holder = None;
    loop {
        match conversation.step() {
            Step::Decided(decision) => return (decision, holder),
            Step::LookUp(pod) => {
                let (found, facts) = match lookups {
                    Lookups::Get(lease) => lease.look_up(&pod).await,
                    Lookups::Listed(index) => index.holder(&pod),
                };
                conversation.resume(pod, &facts);
                holder = Some(found);
            }
        }
    }
}

/// What `hold` or `release` asks for.
#[derive(Debug, Clone, Copy)]
enum Intent<'a> {
    Hold { claimant: &'a PodRef, force: bool },
    Release { claimant: Option<&'a PodRef>, force: bool },
}

impl<'a> Intent<'a> {
    fn question(self, observed: Observed<'a>) -> Question<'a> {
        match self {
            Intent::Hold { claimant, force } => Question::Hold { observed, claimant, force },
            Intent::Release { claimant, force } => Question::Release { observed, claimant, force },
        }
    }

    fn claimant(self) -> Option<&'a PodRef> {
        match self {
            Intent::Hold { claimant, .. } => Some(claimant),
            Intent::Release { claimant, .. } => claimant,
        }
    }
}

/// What became of a decision's patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// The decision writes nothing.
    None,
    /// The patch was applied; the CStorPool's new `resourceVersion`.
    Written {
        /// The new resourceVersion.
        resource_version: Option<String>,
    },
    /// `--dry-run=client`: the patch was not sent.
    DryRunClient,
    /// `--dry-run=server`: the API server accepted the patch and persisted nothing.
    DryRunServer,
}

/// Whether the Event for a write was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRecord {
    /// Created, with this reason.
    Recorded(LeaseEvent),
    /// Could not be created (the lease write stands).
    Failed(LeaseEvent, String),
}

/// The result of `hold` or `release`: the core's final decision and what was done with it.
#[derive(Debug, Clone)]
pub struct Report {
    /// The CStorPool's name.
    pub csp: String,
    /// The core's decision on the last state read.
    pub decision: Decision,
    /// The lease as the core read it on that last read.
    pub reading: Reading,
    /// The holder's pod, when the core asked for it.
    pub holder: Option<HolderPod>,
    /// What became of the patch.
    pub write: Write,
    /// Read-decide(-write) rounds it took (more than 1 after lost races).
    pub rounds: u32,
    /// The Event for the write, when one was due.
    pub event: Option<EventRecord>,
}

impl Report {
    /// Whether the claimant holds the lease now (acquired, taken over or already held).
    pub fn holds(&self) -> bool {
        self.decision.outcome.claimant_holds()
    }

    /// The lease the claimant holds now, as the CStorPool stores it: the lease written, or the
    /// one it already held. `None` when it does not hold it, or on a dry run (nothing stored).
    /// [`CspLease::until_lost`] watches it.
    pub fn held(&self) -> Option<&Lease> {
        if !self.holds() || matches!(self.write, Write::DryRunClient | Write::DryRunServer) {
            return None;
        }
        self.decision.after.as_ref().or(self.decision.before.as_ref())
    }
}

/// One CStorPool's lease as observed, with its holder's pod when looked up.
#[derive(Debug, Clone)]
pub struct PoolStatus {
    /// The CStorPool as read.
    pub object: DynamicObject,
    /// The lease key.
    pub lease_key: String,
    /// The core's `status` decision (with `live` when the holder was looked up).
    pub decision: Decision,
    /// The holder's pod, when the lease is held and pods were looked up.
    pub holder: Option<HolderPod>,
}

impl PoolStatus {
    /// The CStorPool's name.
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    /// What the core is given of the object.
    pub fn observed(&self) -> Observed<'_> {
        observe(&self.object, &self.lease_key)
    }

    /// The lease as read.
    pub fn reading(&self) -> Reading {
        self.observed().reading()
    }

    /// `metadata.creationTimestamp`.
    pub fn created(&self) -> Option<Timestamp> {
        self.object.metadata.creation_timestamp.as_ref().map(|t| t.0)
    }

    /// What `hold` by `claimant` would decide now, given the holder state already looked up.
    pub fn would_hold(&self, claimant: &PodRef, force: bool) -> Decision {
        let status = self.holder.as_ref().map(HolderPod::status);
        lease_logic::hold(&self.observed(), claimant, status.as_ref(), force)
    }
}

/// The `Observed` view of a CStorPool for the core.
pub fn observe<'a>(object: &'a DynamicObject, lease_key: &'a str) -> Observed<'a> {
    let slot = match &object.metadata.annotations {
        None => LeaseSlot::NoAnnotations,
        Some(map) => map.get(lease_key).map_or(LeaseSlot::NoKey, |v| LeaseSlot::Value(v)),
    };
    Observed { lease_key, slot, resource_version: object.metadata.resource_version.as_deref() }
}

/// The lease on CStorPools of one cluster: the Rust form of the original pool code's `Leaser`
/// (Hold / Update / Release), race-safe.
///
/// Every write is the core's guarded JSON Patch; a lost race (HTTP 422 from a failed `test`, or
/// 409) makes it read again, forget the holder state it looked up, and decide again, at most
/// [`Retry::attempts`] times with jittered back-off. It never writes without a guard.
#[derive(Clone)]
pub struct CspLease {
    client: kube::Client,
    server: String,
    pools: Api<DynamicObject>,
    lease_key: String,
    retry: Retry,
    dry_run: DryRun,
    events: bool,
}

impl std::fmt::Debug for CspLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CspLease")
            .field("server", &self.server)
            .field("lease_key", &self.lease_key)
            .field("retry", &self.retry)
            .field("dry_run", &self.dry_run)
            .field("events", &self.events)
            .finish()
    }
}

impl CspLease {
    /// Leases on `client`'s cluster under the default key `openebs.io/csp-lease`, recording
    /// Events, with the default [`Retry`].
    pub fn new(client: kube::Client) -> Self {
        CspLease {
            pools: Api::all_with(client.clone(), &cstorpool_resource()),
            client,
            server: "the API server".to_owned(),
            lease_key: lease_logic::DEFAULT_LEASE_KEY.to_owned(),
            retry: Retry::default(),
            dry_run: DryRun::None,
            events: true,
        }
    }

    /// Names the API server as `server` (its URL) in errors, instead of "the API server".
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = server.into();
        self
    }

    /// Uses annotation `key` for the lease.
    pub fn with_lease_key(mut self, key: impl Into<String>) -> Self {
        self.lease_key = key.into();
        self
    }

    /// Retries lost races by `retry`.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = Retry { attempts: retry.attempts.max(1), ..retry };
        self
    }

    /// Writes for real, or only pretends ([`DryRun`]).
    pub fn with_dry_run(mut self, dry_run: DryRun) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Records an Event for every write (the default), or not.
    pub fn with_events(mut self, events: bool) -> Self {
        self.events = events;
        self
    }

    /// The client (for [`crate::Watch`]).
    pub(crate) fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The CStorPools (for [`crate::Watch`]).
    pub(crate) fn pools(&self) -> Api<DynamicObject> {
        self.pools.clone()
    }

    /// The lease key.
    pub fn lease_key(&self) -> &str {
        &self.lease_key
    }

    /// Takes the lease on `csp` for `claimant` (`Hold` of the original).
    ///
    /// Denied and invalid outcomes are not errors: they are the report's decision. `force` takes
    /// over an unreadable lease; it never overrides a live holder.
    pub async fn hold(&self, csp: &str, claimant: &PodRef, force: bool) -> Result<Report, Error> {
        self.change(csp, Intent::Hold { claimant, force }).await
    }

    /// Gives up `claimant`'s lease on `csp`; with `force`, breaks anyone's (the report's
    /// `decision.before` says whose). `claimant` may be `None` only with `force`.
    pub async fn release(&self, csp: &str, claimant: Option<&PodRef>, force: bool) -> Result<Report, Error> {
        self.change(csp, Intent::Release { claimant, force }).await
    }

    /// Sends `decision`'s guarded patch to `csp` once (`Update` of the original: the patch of
    /// the CSP). Returns the object as written, or [`Error::LostRace`] when the CStorPool changed
    /// since the decision's read. A decision without a patch, or [`DryRun::Client`], sends
    /// nothing and returns `None`.
    pub async fn update(&self, csp: &str, decision: &Decision) -> Result<Option<DynamicObject>, Error> {
        check_name(csp)?;
        let Some(patch) = &decision.patch else {
            return Ok(None);
        };
        if self.dry_run == DryRun::Client {
            return Ok(None);
        }
        let mut uri = format!("/apis/{API_VERSION}/{PLURAL}/{csp}?fieldManager={}", events::COMPONENT);
        if self.dry_run == DryRun::Server {
            uri.push_str("&dryRun=All");
        }
        let request = http::Request::patch(uri)
            .header(http::header::CONTENT_TYPE, "application/json-patch+json")
            .header(http::header::ACCEPT, "application/json")
            .body(patch.to_json().into_bytes())
            .map_err(|e| Error::Transport { server: self.server.clone(), detail: e.to_string() })?;
        match self.client.request::<DynamicObject>(request).await {
            Ok(object) => Ok(Some(object)),
            Err(kube::Error::Api(status)) if status.code == 422 || status.code == 409 => Err(Error::LostRace {
                name: csp.to_owned(),
                code: status.code,
                reason: status.reason,
                message: status.message,
            }),
            Err(e) => match self.classify(e, "patch", csp) {
                // Sent, but no answer: the write may have happened. Say so; never resend blindly.
                cause @ (Error::Timeout { .. } | Error::Disconnected { .. } | Error::Transport { .. })
                    if self.dry_run == DryRun::None =>
                {
                    Err(Error::WriteUnknown { name: csp.to_owned(), cause: Box::new(cause) })
                }
                other => Err(other),
            },
        }
    }

    /// Reads the lease on `csp` and, when a pod holds it, that pod's state.
    pub async fn status(&self, csp: &str) -> Result<PoolStatus, Error> {
        let object = self.get(csp).await?;
        let question = Question::Status { observed: observe(&object, &self.lease_key), holder_liveness: true };
        let (decision, holder) = converse(question, Lookups::Get(self)).await;
        Ok(PoolStatus { object, lease_key: self.lease_key.clone(), decision, holder })
    }

    /// Reads every CStorPool's lease, with one list of CStorPools and (when `pods`, and some pod
    /// holds a lease) one list of pods: of the holders' namespace when they share one, else of all.
    pub async fn list(&self, pods: bool) -> Result<Vec<PoolStatus>, Error> {
        let list = self.pools.list(&ListParams::default()).await.map_err(|e| self.classify(e, "list", ""))?;
        let mut items: Vec<DynamicObject> = list.items;
        items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        // One list of pods answers every lookup the conversations ask for.
        let holders: Vec<PodRef> = items
            .iter()
            .filter_map(|o| match observe(o, &self.lease_key).reading() {
                Reading::Held(_, pod) => Some(pod),
                _ => None,
            })
            .collect();
        let found = if pods { self.pods_of(holders.iter()).await } else { PodIndex::default() };
        let mut statuses = Vec::with_capacity(items.len());
        for object in items {
            let question = Question::Status { observed: observe(&object, &self.lease_key), holder_liveness: pods };
            let (decision, holder) = converse(question, Lookups::Listed(&found)).await;
            statuses.push(PoolStatus { object, lease_key: self.lease_key.clone(), decision, holder });
        }
        Ok(statuses)
    }

    /// The Ready condition of every node, by name (`None`: no Ready condition). One list.
    pub async fn node_readiness(&self) -> Result<HashMap<String, Option<bool>>, Error> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = nodes.list(&ListParams::default()).await.map_err(|e| {
            classify(e, Target { verb: "list", what: "nodes", server: &self.server }, || Error::NotFound {
                name: "nodes".into(),
            })
        })?;
        Ok(list
            .items
            .into_iter()
            .map(|node| {
                let ready = node
                    .status
                    .and_then(|s| s.conditions)
                    .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Ready"))
                    .and_then(|c| match c.status.as_str() {
                        "True" => Some(true),
                        "False" => Some(false),
                        _ => None,
                    });
                (node.metadata.name.unwrap_or_default(), ready)
            })
            .collect())
    }

    /// Looks one pod up: its phase, or `NotFound` on 404, or `LookupFailed` on any other error.
    pub async fn lookup(&self, pod: &PodRef) -> HolderPod {
        self.look_up(pod).await.0
    }

    /// One `get` of a pod, and what it returned for the core.
    async fn look_up(&self, pod: &PodRef) -> (HolderPod, PodFacts) {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), pod.namespace());
        let found = pods.get_opt(pod.name()).await.map_err(|e| {
            let target = Target { verb: "get", what: &format!("pod {pod}"), server: &self.server };
            classify(e, target, || Error::NotFound { name: pod.to_string() }).to_string()
        });
        HolderPod::looked_up(pod.clone(), found.as_ref().map(Option::as_ref).map_err(Clone::clone))
    }

    /// Reads `csp`.
    pub async fn get(&self, csp: &str) -> Result<DynamicObject, Error> {
        check_name(csp)?;
        self.pools.get(csp).await.map_err(|e| self.classify(e, "get", csp))
    }

    /// The read-decide-write loop shared by hold and release.
    async fn change(&self, csp: &str, intent: Intent<'_>) -> Result<Report, Error> {
        let claimant = intent.claimant();
        let mut refused: Option<(Option<String>, Error)> = None;
        for round in 1..=self.retry.attempts {
            let object = self.get(csp).await?;
            if let Some((version, Error::LostRace { code, reason, message, .. })) = refused.take()
                && version.is_some()
                && version == object.metadata.resource_version
            {
                // The object did not move, so the refusal was not a lost race: the server
                // rejects the patch itself (e.g. an invalid --lease-key). Do not retry it.
                return Err(Error::Api { verb: "patch", target: format!("cstorpool {csp:?}"), code, reason, message });
            }
            let observed = observe(&object, &self.lease_key);
            let (decision, holder) = converse(intent.question(observed), Lookups::Get(self)).await;
            let reading = observed.reading();
            let report = |decision, write, event| Report {
                csp: csp.to_owned(),
                decision,
                reading,
                holder,
                write,
                rounds: round,
                event,
            };
            if decision.patch.is_none() {
                return Ok(report(decision, Write::None, None));
            }
            if self.dry_run == DryRun::Client {
                return Ok(report(decision, Write::DryRunClient, None));
            }
            match self.update(csp, &decision).await {
                Ok(written) => {
                    if self.dry_run == DryRun::Server {
                        return Ok(report(decision, Write::DryRunServer, None));
                    }
                    let resource_version = written.as_ref().and_then(|o| o.metadata.resource_version.clone());
                    let event = match (self.events, decision.change) {
                        (true, Some(kind)) => {
                            let target = written.as_ref().unwrap_or(&object);
                            let event = events::build(target, kind, &decision, claimant);
                            Some(match events::record(&self.client, &event).await {
                                Ok(()) => EventRecord::Recorded(kind),
                                Err(e) => EventRecord::Failed(kind, self.classify(e, "create", "event").to_string()),
                            })
                        }
                        _ => None,
                    };
                    return Ok(report(decision, Write::Written { resource_version }, event));
                }
                Err(lost @ Error::LostRace { .. }) if round < self.retry.attempts => {
                    refused = Some((object.metadata.resource_version.clone(), lost));
                    tokio::time::sleep(self.retry.delay(round)).await;
                }
                Err(Error::LostRace { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Contended { name: csp.to_owned(), attempts: self.retry.attempts })
    }

    async fn pods_of(&self, holders: impl Iterator<Item = &PodRef>) -> PodIndex {
        let namespaces: BTreeSet<&str> = holders.map(PodRef::namespace).collect();
        let api: Api<Pod> = match namespaces.iter().next() {
            None => return PodIndex::default(),
            Some(ns) if namespaces.len() == 1 => Api::namespaced(self.client.clone(), ns),
            Some(_) => Api::all(self.client.clone()),
        };
        match api.list(&ListParams::default()).await {
            Ok(list) => PodIndex {
                pods: list
                    .items
                    .into_iter()
                    .filter_map(|p| Some(((p.metadata.namespace.clone()?, p.metadata.name.clone()?), p)))
                    .collect(),
                error: None,
            },
            Err(e) => PodIndex {
                pods: HashMap::new(),
                error: Some(
                    classify(e, Target { verb: "list", what: "pods", server: &self.server }, || Error::NotFound {
                        name: "pods".into(),
                    })
                    .to_string(),
                ),
            },
        }
    }

    fn classify(&self, e: kube::Error, verb: &'static str, csp: &str) -> Error {
        let what = if csp.is_empty() { "cstorpools.openebs.io".to_owned() } else { format!("cstorpool {csp:?}") };
        classify(e, Target { verb, what: &what, server: &self.server }, || Error::NotFound { name: csp.to_owned() })
    }
}

/// The pods of one list, by namespace and name.
#[derive(Default)]
struct PodIndex {
    pods: HashMap<(String, String), Pod>,
    error: Option<String>,
}

impl PodIndex {
    fn holder(&self, pod: &PodRef) -> (HolderPod, PodFacts) {
        let found = match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(self.pods.get(&(pod.namespace().to_owned(), pod.name().to_owned()))),
        };
        HolderPod::looked_up(pod.clone(), found)
    }
}

fn check_name(csp: &str) -> Result<(), Error> {
    if lease_logic::is_dns1123_subdomain(csp) { Ok(()) } else { Err(Error::InvalidName { name: csp.to_owned() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_is_bounded_and_jittered() {
        let retry = Retry::default();
        for round in 1..=40 {
            let ceiling = retry.base_delay.saturating_mul(1 << (round - 1).min(16)).min(retry.max_delay);
            for _ in 0..50 {
                let delay = retry.delay(round);
                assert!(delay >= ceiling / 2 && delay <= ceiling, "round {round}: {delay:?} of {ceiling:?}");
            }
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| retry.delay(3)).collect();
        assert!(spread.len() > 1, "jittered");
    }

    #[test]
    fn the_observed_view_tells_no_annotations_from_no_key() {
        let object = |metadata: serde_json::Value| -> DynamicObject {
            serde_json::from_value(serde_json::json!({ "metadata": metadata })).expect("an object")
        };
        let key = lease_logic::DEFAULT_LEASE_KEY;
        let none = object(serde_json::json!({"name": "a", "resourceVersion": "1"}));
        assert_eq!(observe(&none, key).slot, LeaseSlot::NoAnnotations);
        assert_eq!(observe(&none, key).resource_version, Some("1"));
        let other = object(serde_json::json!({"name": "a", "annotations": {"x": "y"}}));
        assert_eq!(observe(&other, key).slot, LeaseSlot::NoKey);
        let held = object(serde_json::json!({"name": "a", "annotations": {key: "v"}}));
        assert_eq!(observe(&held, key).slot, LeaseSlot::Value("v"));
    }
}
