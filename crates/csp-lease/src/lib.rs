//! [`CspLease`]: leases on OpenEBS cStor pools (CStorPool objects) on a live cluster, race-safe,
//! for Rust pool managers. The kubectl plugin `kubectl csplease` is built on it.
//!
//! Every decision comes from [`lease_logic`]; this crate only reads the cluster, asks the core,
//! looks up the pod the core names when it asks (`needHolderStatus`), and sends the core's guarded
//! JSON Patch verbatim. It never re-derives a decision or builds a patch of its own. It carries no
//! command line, YAML or HTTP server: a pool manager compiles the core, kube-rs and a timer.
//!
//! A pool manager uses [`CspLease`] in-process, as the original Go pool code used its `Leaser`
//! (Hold / Update / Release):
//!
//! - [`CspLease::hold`] reads the CStorPool, decides, looks the holder's pod up if the core asks,
//!   and writes. A lost race (the API server's 422 for a failed `test`, or 409) makes it read
//!   again, forget the pod state, and decide again, a bounded number of times with jitter.
//! - [`CspLease::update`] sends one decision's patch once (the original's `Update`, the patch of
//!   the CSP); [`Error::LostRace`] when the object moved.
//! - [`CspLease::release`] gives the lease up, or with `force` breaks someone else's.
//! - [`CspLease::status`] and [`CspLease::list`] report leases with their holders' pods.
//! - [`CspLease::watch`] follows CStorPools and their holders' pods and says when to read again.
//! - [`CspLease::until_lost`] waits until a lease the claimant holds ([`Report::held`]) is
//!   broken, taken or rewritten: what a pool manager stops its pool on.
//!
//! A denied or invalid lease is not an error: it is the [`Report`]'s decision. [`Error`] is for
//! the cluster, the kubeconfig and the transport.
//!
//! ```no_run
//! use csp_lease::{CspLease, Error};
//! use lease_logic::{Outcome, PodRef};
//!
//! # async fn pool_manager() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let lease = CspLease::new(client);
//! let me: PodRef = "openebs/cstor-pool-a-6bbc79f5fd-9dlmb".parse()?;
//!
//! let report = lease.hold("cstor-pool-a", &me, false).await?;
//! match report.decision.outcome {
//!     Outcome::Acquired | Outcome::TakenOver | Outcome::AlreadyHeld => { /* run the pool */ }
//!     Outcome::Denied => eprintln!("waiting: {}", report.decision.reason),
//!     _ => eprintln!("cannot take the lease: {}", report.decision.reason),
//! }
//!
//! // On shutdown: give it up. Releasing a lease someone else took meanwhile is denied, never done.
//! match lease.release("cstor-pool-a", Some(&me), false).await {
//!     Ok(report) => println!("{}", report.decision.reason),
//!     Err(Error::NotFound { name }) => eprintln!("{name} is gone"),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(())
//! # }
//! ```

pub mod error;
pub mod events;
mod lease;
mod watch;

pub use error::{Error, TimedOut};
pub use lease::{
    API_VERSION, CspLease, DryRun, EventRecord, GROUP, HolderPod, KIND, PLURAL, PoolStatus, Report, Retry, VERSION,
    Write, cstorpool_resource, observe,
};
pub use watch::{Loss, Wake, Watch};
