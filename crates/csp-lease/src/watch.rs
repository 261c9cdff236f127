//! [`Watch`]: follows CStorPools and their holders' pods with watches, and says when a lease may
//! have changed. It decides nothing: the caller reads the lease again (through the core's
//! conversation) on every wake-up.
//!
//! A watch that expires (`410 Gone`) starts again from the current state (the API server sends
//! every object again, which is one more wake-up); a watch that breaks (the API server restarts or
//! is unreachable) resumes from the last version seen, after a bounded, jittered back-off.

use std::collections::HashSet;
use std::fmt::Debug;
use std::pin::Pin;
use std::time::Duration;

use futures::future::{Either, select};
use futures::{FutureExt as _, Stream, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, WatchEvent, WatchParams};
use kube::core::Resource;
use lease_logic::{Lease, PodRef, Reading};
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::lease::{CspLease, observe};

/// How long the API server keeps one watch request open before the watch is made again.
const WATCH_SECONDS: u32 = 290;

/// Why [`Watch::changed`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// A followed CStorPool or a holder's pod changed, or a watch started again from the current
    /// state (after it expired): read the leases again.
    Changed,
    /// A watch broke (the API server is unreachable, restarting or refusing); it resumes on the
    /// next call after a back-off. Reading the leases again is the caller's choice.
    Broken {
        /// What failed.
        detail: String,
    },
}

/// What one watch saw next.
enum Seen<K> {
    Object(K),
    Expired,
    Broken(String),
}

type Events<K> = Pin<Box<dyn Stream<Item = kube::Result<WatchEvent<K>>> + Send>>;

/// One resource followed by a watch that resumes after it ends or breaks.
struct Follow<K> {
    api: Api<K>,
    params: WatchParams,
    /// Where the next watch starts: the last version seen, or "0" (the current state).
    version: String,
    events: Option<Events<K>>,
    failures: u32,
}

impl<K> Follow<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    fn new(api: Api<K>, fields: Option<String>) -> Self {
        let mut params = WatchParams::default().timeout(WATCH_SECONDS);
        if let Some(fields) = fields {
            params = params.fields(&fields);
        }
        Follow { api, params, version: "0".to_owned(), events: None, failures: 0 }
    }

    /// The next object seen, or why there is none. Cancel-safe: dropping it loses no event.
    async fn next(&mut self) -> Seen<K> {
        loop {
            let events = match &mut self.events {
                Some(events) => events,
                None => {
                    if self.failures > 0 {
                        tokio::time::sleep(back_off(self.failures)).await;
                    }
                    match self.api.watch(&self.params, &self.version).await {
                        Ok(events) => self.events.insert(Box::pin(events)),
                        Err(kube::Error::Api(status)) if status.code == 410 => return self.expired(),
                        Err(e) => return self.broken(e.to_string()),
                    }
                }
            };
            match events.next().await {
                // The API server ended the watch (its timeout, or it is going away): resume.
                None => self.events = None,
                Some(Ok(WatchEvent::Added(object) | WatchEvent::Modified(object) | WatchEvent::Deleted(object))) => {
                    self.failures = 0;
                    if let Some(version) = object.meta().resource_version.clone() {
                        self.version = version;
                    }
                    return Seen::Object(object);
                }
                Some(Ok(WatchEvent::Bookmark(bookmark))) => self.version = bookmark.metadata.resource_version,
                Some(Ok(WatchEvent::Error(status))) if status.code == 410 => return self.expired(),
                Some(Ok(WatchEvent::Error(status))) => return self.broken(status.message.clone()),
                Some(Err(e)) => return self.broken(e.to_string()),
            }
        }
    }

    /// The version is gone from the API server's history: start again from the current state.
    fn expired(&mut self) -> Seen<K> {
        self.events = None;
        // The API server answered: the watch from the current state starts at once.
        self.failures = 0;
        self.version = "0".to_owned();
        Seen::Expired
    }

    fn broken(&mut self, detail: String) -> Seen<K> {
        self.events = None;
        self.failures = self.failures.saturating_add(1);
        Seen::Broken(detail)
    }
}

/// The pause before watching again after `failures` failures in a row: 0.2 s doubling to 5 s,
/// half of it random.
fn back_off(failures: u32) -> Duration {
    let ceiling = Duration::from_millis(200).saturating_mul(1 << failures.saturating_sub(1).min(5));
    let ceiling = ceiling.min(Duration::from_secs(5));
    ceiling / 2 + (ceiling / 2).mul_f64(fastrand::f64())
}

/// Which pods are followed: the holders' namespace when they share one, else every namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    Namespace(String),
    All,
}

/// Follows one CStorPool, or all of them, and the pods that hold their leases.
///
/// Made by [`CspLease::watch`]; [`Watch::changed`] waits for the next change.
pub struct Watch {
    client: kube::Client,
    pools: Follow<DynamicObject>,
    pods: Option<(Scope, Follow<Pod>)>,
}

impl Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("pods", &self.pods.as_ref().map(|(scope, _)| scope)).finish_non_exhaustive()
    }
}

impl CspLease {
    /// Follows `csp` (every CStorPool when `None`) and its holders' pods; see [`Watch`].
    pub fn watch(&self, csp: Option<&str>) -> Watch {
        let fields = csp.map(|name| format!("metadata.name={name}"));
        Watch { client: self.client(), pools: Follow::new(self.pools(), fields), pods: None }
    }
}

/// How a held lease was lost; see [`CspLease::until_lost`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loss {
    /// The lease now reads as something else: released, broken, taken over or written again.
    Rewritten(Reading),
    /// The CStorPool is gone.
    Deleted,
}

impl CspLease {
    /// Waits until `held` (the lease as [`Report::held`](crate::Report::held) gave it) is lost:
    /// `csp`'s lease reads as anything other than exactly `held` ([`Reading::keeps`]), or `csp` is
    /// deleted. It follows `csp` with a [`Watch`] and reads it again on every change, starting
    /// with one read at once, so a change made before the call is seen too.
    ///
    /// While the API server cannot be reached, slow or failing, it keeps waiting: nobody else can
    /// write the lease meanwhile, and it reads again when the watch resumes. It returns an error
    /// only for one that waiting cannot cure (forbidden, for example).
    pub async fn until_lost(&self, csp: &str, held: &Lease) -> Result<Loss, Error> {
        let mut watch = self.watch(Some(csp));
        loop {
            match self.get(csp).await {
                Ok(object) => {
                    let reading = observe(&object, self.lease_key()).reading();
                    if !reading.keeps(held) {
                        return Ok(Loss::Rewritten(reading));
                    }
                }
                Err(e) if e.is_not_found() => return Ok(Loss::Deleted),
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(e),
            }
            // A change, a restarted watch, or a broken one after its back-off: read again.
            let _ = watch.changed(&[]).await;
        }
    }
}

impl Watch {
    /// Waits until a followed CStorPool changes, or one of `holders` (the pods that hold the
    /// leases as last read) changes or goes away, then returns [`Wake::Changed`]; changes that
    /// arrive together are one wake-up. [`Wake::Broken`] when a watch broke.
    pub async fn changed(&mut self, holders: &[PodRef]) -> Wake {
        self.follow_pods(holders);
        let holders: HashSet<(&str, &str)> = holders.iter().map(|p| (p.namespace(), p.name())).collect();
        let is_holder = |pod: &Pod| {
            let meta = &pod.metadata;
            holders.contains(&(meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default()))
        };
        loop {
            let woke = match &mut self.pods {
                None => pool_wake(self.pools.next().await),
                Some((_, pods)) => {
                    let pools = std::pin::pin!(self.pools.next());
                    let pods = std::pin::pin!(pods.next());
                    match select(pools, pods).await {
                        Either::Left((seen, _)) => pool_wake(seen),
                        Either::Right((Seen::Object(pod), _)) if !is_holder(&pod) => None,
                        Either::Right((seen, _)) => pool_wake(seen.map_object()),
                    }
                }
            };
            let Some(wake) = woke else { continue };
            if wake == Wake::Changed {
                self.drain(&is_holder);
            }
            return wake;
        }
    }

    /// Takes in the changes already arrived, so that a burst is one wake-up.
    fn drain(&mut self, is_holder: &dyn Fn(&Pod) -> bool) {
        while let Some(Seen::Object(_) | Seen::Expired) = self.pools.next().now_or_never() {}
        if let Some((_, pods)) = &mut self.pods {
            while let Some(seen) = pods.next().now_or_never() {
                match seen {
                    Seen::Object(pod) if !is_holder(&pod) => {}
                    Seen::Object(_) | Seen::Expired => {}
                    Seen::Broken(_) => break,
                }
            }
        }
    }

    /// Watches the pods of `holders`' namespace(s), starting again when that changes.
    fn follow_pods(&mut self, holders: &[PodRef]) {
        let namespaces: HashSet<&str> = holders.iter().map(PodRef::namespace).collect();
        let scope = match namespaces.iter().next() {
            None => None,
            Some(ns) if namespaces.len() == 1 => Some(Scope::Namespace((*ns).to_owned())),
            Some(_) => Some(Scope::All),
        };
        if self.pods.as_ref().map(|(s, _)| s) == scope.as_ref() {
            return;
        }
        self.pods = scope.map(|scope| {
            let api = match &scope {
                Scope::Namespace(ns) => Api::namespaced(self.client.clone(), ns),
                Scope::All => Api::all(self.client.clone()),
            };
            (scope, Follow::new(api, None))
        });
    }
}

impl<K> Seen<K> {
    fn map_object(self) -> Seen<()> {
        match self {
            Seen::Object(_) => Seen::Object(()),
            Seen::Expired => Seen::Expired,
            Seen::Broken(detail) => Seen::Broken(detail),
        }
    }
}

fn pool_wake<K>(seen: Seen<K>) -> Option<Wake> {
    Some(match seen {
        Seen::Object(_) | Seen::Expired => Wake::Changed,
        Seen::Broken(detail) => Wake::Broken { detail },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_is_bounded_and_grows() {
        for failures in 1..40 {
            let pause = back_off(failures);
            assert!(pause <= Duration::from_secs(5), "{failures}: {pause:?}");
            assert!(pause >= Duration::from_millis(100), "{failures}: {pause:?}");
        }
        assert!(back_off(1) <= Duration::from_millis(200));
    }
}
