//! The browser build's entry points, exported through `wasm-bindgen`.
//!
//! Compiled only for `wasm32` with the `bindgen` feature (`cargo xtask web` builds it into
//! `web/pkg/` for the lease inspector). It adds no logic of its own, and the page adds none
//! either: JavaScript hands over request documents and renders what comes back.
//! - [`evaluate`]: the wire entry point unchanged (SPEC.md section 5).
//! - [`Conversation`]: the core's conversation on the wire ([`crate::Exchange`]): the page
//!   performs the pod lookups the core asks for and resumes with what it found.
//! - [`pod_states`]: every pod state with whether it counts as live, for the page's labels.

use wasm_bindgen::prelude::wasm_bindgen;

use crate::{Exchange, PodFacts, PodRef, PodState, Turn};

/// Evaluates one request document (UTF-8 JSON bytes) and returns the decision document.
///
/// The wire entry point unchanged: never throws, whatever the bytes.
#[wasm_bindgen]
pub fn evaluate(request: &[u8]) -> Vec<u8> {
    crate::evaluate_json(request)
}

/// Every pod state as JSON: `[{"state":"Running","live":true,"liveness":"live (Running)"}, ...]`.
#[wasm_bindgen(js_name = podStates)]
pub fn pod_states() -> String {
    let mut out = String::from("[");
    for (i, state) in PodState::ALL.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"state\":\"");
        out.push_str(state.as_str());
        out.push_str("\",\"live\":");
        out.push_str(if state.is_live() { "true" } else { "false" });
        out.push_str(",\"liveness\":");
        crate::json::write_string(&mut out, state.liveness());
        out.push('}');
    }
    out.push(']');
    out
}

/// One conversation with the core about a request document:
/// `while ((pod = c.step())) c.resume(JSON.stringify(whatTheLookupOfPodFound))`, then
/// `c.decision()`.
#[wasm_bindgen]
pub struct Conversation {
    exchange: Exchange,
    decision: Vec<u8>,
    asked: Option<PodRef>,
}

#[wasm_bindgen]
impl Conversation {
    /// Starts a conversation about `request` (a request document's bytes).
    #[wasm_bindgen(constructor)]
    pub fn new(request: &[u8]) -> Conversation {
        Conversation { exchange: Exchange::new(request.to_vec()), decision: Vec::new(), asked: None }
    }

    /// Asks the core. Returns the pod (`namespace/name`) to look up, or `undefined` once the core
    /// has decided ([`Conversation::decision`]).
    pub fn step(&mut self) -> Option<String> {
        self.decision = crate::evaluate_json(self.exchange.request());
        match self.exchange.read(&self.decision) {
            Turn::LookUp(pod) => {
                let text = pod.to_string();
                self.asked = Some(pod);
                Some(text)
            }
            Turn::Decided(_) | Turn::Undecided(_) => None,
        }
    }

    /// The last decision document.
    pub fn decision(&self) -> String {
        String::from_utf8_lossy(&self.decision).into_owned()
    }

    /// What the lookup of the pod [`Conversation::step`] named found, as JSON
    /// ([`PodFacts::from_json`]).
    pub fn resume(&mut self, found: &str) {
        self.settle(&PodFacts::from_json(found));
    }

    fn settle(&mut self, facts: &PodFacts) {
        if let Some(pod) = self.asked.take() {
            self.exchange.resume(pod, facts);
        }
    }
}
