//! The csplease Kubewarden policy, built, and run on Kubewarden's own waPC host crates.
//!
//! The build script compiles `csplease-kubewarden-policy` for `wasm32-unknown-unknown` and writes
//! its `io.kubewarden.metadata` section; [`POLICY`] is the result. [`Prepared`] loads it the way
//! Kubewarden's policy evaluator does: `wasmtime-provider` (on the workspace's wasmtime) under a
//! `wapc` host, once compiled, then an instance per [`Policy`]. The policy's host-capability calls
//! (the holder pod's lookup) are answered by a [`Replay`] of recorded interactions in kwctl's
//! replay-file format.
//!
//! ```
//! use std::sync::Arc;
//! use csplease_kubewarden_harness::{Prepared, Replay};
//!
//! let prepared = Prepared::new()?;
//! let policy = prepared.instantiate(Arc::new(Replay::parse("[]")?))?;
//! assert_eq!(policy.call("protocol_version", b"")?, b"\"v1\"");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

pub mod replay;
pub mod wasm;

pub use replay::{Replay, ReplayError};

/// The policy module: `csplease-kubewarden-policy` for `wasm32-unknown-unknown` with its
/// `io.kubewarden.metadata` section.
pub const POLICY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/csplease-kubewarden-policy.wasm"));

/// The replay file committed beside the policy: the pod lookups of the `review` vectors.
pub const RECORDED: &str = include_str!("../../kubewarden-policy/host-capabilities.yml");

/// The policy's imports: the `wapc` namespace's host functions of the waPC protocol (a guest
/// call's request, response and error; a host call, its response and error), nothing else. The
/// one waPC function it does not import is `__console_log`, which it never calls.
pub const WAPC_IMPORTS: [&str; 8] = [
    "wapc.__guest_error",
    "wapc.__guest_request",
    "wapc.__guest_response",
    "wapc.__host_call",
    "wapc.__host_error",
    "wapc.__host_error_len",
    "wapc.__host_response",
    "wapc.__host_response_len",
];

/// What went wrong running the policy.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// wasmtime or the waPC host refused the module, or a call trapped.
    #[error("the waPC host: {0}")]
    Host(String),
    /// The policy made a host call that no recorded interaction answers.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Unrecorded(Vec<ReplayError>),
}

/// The policy compiled once, ready for instances (policy-evaluator's "pre" provider).
pub struct Prepared {
    pre: wasmtime_provider::WasmtimeEngineProviderPre,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepared")
    }
}

impl Prepared {
    /// Compiles [`POLICY`] with a default wasmtime engine.
    ///
    /// # Errors
    /// [`HarnessError::Host`] when wasmtime refuses the module.
    pub fn new() -> Result<Prepared, HarnessError> {
        let engine = wasmtime::Engine::default();
        let pre = wasmtime_provider::WasmtimeEngineProviderBuilder::new()
            .engine(engine)
            .module_bytes(POLICY)
            .build_pre()
            .map_err(|e| HarnessError::Host(e.to_string()))?;
        Ok(Prepared { pre })
    }

    /// A fresh instance whose host calls `replay` answers (the waPC host runs the guest's
    /// `wapc_init` here).
    ///
    /// # Errors
    /// [`HarnessError::Host`] when the instance cannot be made.
    pub fn instantiate(&self, replay: Arc<Replay>) -> Result<Policy, HarnessError> {
        let engine = self.pre.rehydrate(None).map_err(|e| HarnessError::Host(e.to_string()))?;
        let answering = Arc::clone(&replay);
        let callback = move |_id: u64,
                             binding: &str,
                             namespace: &str,
                             operation: &str,
                             payload: &[u8]|
              -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
            Ok(answering.answer(binding, namespace, operation, payload)?)
        };
        let host = wapc::WapcHost::new(Box::new(engine), Some(Box::new(callback)))
            .map_err(|e| HarnessError::Host(e.to_string()))?;
        Ok(Policy { host, replay })
    }
}

/// One instance of the policy under a waPC host.
pub struct Policy {
    host: wapc::WapcHost,
    replay: Arc<Replay>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Policy")
    }
}

impl Policy {
    /// Calls the guest's waPC function `operation` with `payload` (`protocol_version`,
    /// `validate_settings`, `validate`).
    ///
    /// # Errors
    /// [`HarnessError::Unrecorded`] when the policy asked the host something no recording
    /// answers (even though the policy itself went on); [`HarnessError::Host`] when the call failed.
    pub fn call(&self, operation: &str, payload: &[u8]) -> Result<Vec<u8>, HarnessError> {
        let answer = self.host.call(operation, payload).map_err(|e| HarnessError::Host(e.to_string()));
        let missing = self.replay.take_missing();
        if !missing.is_empty() {
            return Err(HarnessError::Unrecorded(missing));
        }
        answer
    }
}

/// Kubewarden's `ValidationRequest` for a review vector's request document: its `request`
/// (the AdmissionRequest) and, as settings, its `breakGlassGroups` and `leaseKey` when it has them.
/// `holderPod` is the host's business (the policy looks the pod up), so it is left out.
pub fn validation_request(review: &serde_json::Value) -> serde_json::Value {
    let mut request = serde_json::Map::new();
    if let Some(admission) = review.get("request") {
        request.insert("request".into(), admission.clone());
    }
    let mut settings = serde_json::Map::new();
    for name in ["breakGlassGroups", "leaseKey"] {
        if let Some(value) = review.get(name) {
            settings.insert(name.into(), value.clone());
        }
    }
    request.insert("settings".into(), settings.into());
    request.into()
}
