//! The wire entry point takes any bytes: it must never panic, always answer a decision document,
//! and answer the same bytes for the same input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|request: &[u8]| {
    let decision = lease_logic::evaluate_json(request);
    assert!(decision.starts_with(b"{\"action\":"), "not a decision document");
    assert_eq!(decision, lease_logic::evaluate_json(request), "not deterministic");
});
