//! The browser build's entry point: [`crate::evaluate_json`] exported through `wasm-bindgen`.
//!
//! Compiled only for `wasm32` with the `bindgen` feature (`cargo xtask` builds it into `web/pkg/`
//! for the lease inspector). It adds no logic: JavaScript hands over the request document's bytes
//! and gets the decision document's bytes back, exactly as every other runtime does (SPEC.md
//! section 5). The page wraps it as `window.csplease.evaluate(requestJson) -> decisionJson`.

use wasm_bindgen::prelude::wasm_bindgen;

/// Evaluates one request document (UTF-8 JSON bytes) and returns the decision document.
///
/// The wire entry point unchanged: never throws, whatever the bytes.
#[wasm_bindgen]
pub fn evaluate(request: &[u8]) -> Vec<u8> {
    crate::evaluate_json(request)
}
