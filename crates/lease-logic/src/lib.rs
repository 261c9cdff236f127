//! The csplease lease protocol for OpenEBS cStor pools, as a pure core.
//!
//! This crate is deterministic: it does no I/O, reads no clock, no environment and no randomness.
//! Inputs come in as data (the observed `CStorPool`, the claimant, the state of the holder's pod
//! when the caller looked it up); a [`Decision`] and the JSON Patch that carries it out go out.
//! The kubectl plugin sends that patch, the wasmtime host and the browser page run this same
//! code compiled to WebAssembly. `SPEC.md` is the contract; this is its only implementation.
//!
//! # The protocol in brief
//!
//! A cStor pool pod guards its `CStorPool` with a lease kept in the annotation
//! `openebs.io/csp-lease`: `{"holder":"<namespace>/<pod>","leaderTransition":N}`. The value is
//! read as leniently as the original Go code reads it ([`Reading::of`]): field names match
//! case-insensitively, unknown fields are ignored, `null` and blank values are accepted. It is
//! written byte for byte as pool pods write it ([`Lease::to_annotation`]).
//!
//! [`hold`] takes the lease for a claimant when it is vacant or released, or when its holder's
//! pod is dead (not found, `Succeeded` or `Failed`). When another pod holds it and the caller did
//! not say how that pod is, the decision is [`Outcome::NeedHolderStatus`] with the pod to look up
//! in [`Decision::lookup`]: the caller looks it up and asks again. [`release`] gives the lease up
//! (or, with `force`, breaks someone else's); [`status`] reports it; [`review`] judges a write
//! to a CStorPool as an admission controller would.
//!
//! Every write is one JSON Patch that is a compare-and-swap ([`compare_and_swap`]): it tests the
//! observed value (or `metadata.resourceVersion`) before it replaces it, so a lease that changed
//! since it was read is never overwritten. The API server answers a failed test with 422 or 409;
//! the caller reads again and decides again.
//!
//! # Example
//!
//! ```
//! use lease_logic::{hold, LeaseSlot, Observed, Outcome, PodState, PodStatus};
//!
//! let pool_a: lease_logic::PodRef = "openebs/pool-a".parse()?;
//! let observed = Observed {
//!     lease_key: lease_logic::DEFAULT_LEASE_KEY,
//!     slot: LeaseSlot::Value(r#"{"holder":"openebs/pool-b","leaderTransition":3}"#),
//!     resource_version: Some("5001"),
//! };
//!
//! // Another pod holds the lease: the core asks how that pod is.
//! let first = hold(&observed, &pool_a, None, false);
//! assert_eq!(first.outcome, Outcome::NeedHolderStatus);
//! let holder = first.lookup.expect("the pod to look up");
//!
//! // The caller looked it up: the pod is gone, so pool-a takes over and counts one more.
//! let gone = PodStatus { pod: holder, state: PodState::NotFound };
//! let second = hold(&observed, &pool_a, Some(&gone), false);
//! assert_eq!(second.outcome, Outcome::TakenOver);
//! assert_eq!(second.annotation.as_deref(), Some(r#"{"holder":"openebs/pool-a","leaderTransition":4}"#));
//! assert!(second.patch.expect("a write").is_guarded());
//! # Ok::<(), lease_logic::InvalidPodRef>(())
//! ```
//!
//! The same decision through the wire format that every runtime shares:
//!
//! ```
//! let request = br#"{"action":"hold","claimant":"openebs/pool-a",
//!     "object":{"metadata":{"name":"csp-1","resourceVersion":"7"}}}"#;
//! let decision = String::from_utf8(lease_logic::evaluate_json(request)).unwrap();
//! assert!(decision.contains(r#""outcome":"acquired""#));
//! ```

mod actions;
mod conversation;
mod decision;
mod json;
mod lease;
mod patch;
mod pod;
mod review;
mod wire;

pub use actions::{Observed, hold, release, status};
pub use conversation::{Conversation, Exchange, PodFacts, Question, Step, Turn, Verdict};
pub use decision::{Action, Change, Decision, Outcome, Remedy};
pub use lease::{DEFAULT_LEASE_KEY, Lease, LeaseSlot, Reading, is_blank};
pub use patch::{
    ANNOTATIONS_PATH, MissingResourceVersion, Op, Patch, PatchOp, PatchValue, RESOURCE_VERSION_PATH,
    annotation_pointer, compare_and_swap, survives_reencoding,
};
pub use pod::{InvalidPodRef, PodRef, PodState, PodStatus, is_dns1123_label, is_dns1123_subdomain};
pub use review::{DEFAULT_BREAK_GLASS_GROUP, Operation, Requester, Review, review};
pub use wire::{evaluate, evaluate_json};

#[cfg(all(target_arch = "wasm32", not(feature = "bindgen")))]
mod wasm_abi;

#[cfg(all(target_arch = "wasm32", feature = "bindgen"))]
mod bindgen;
