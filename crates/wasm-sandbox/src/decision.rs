//! The one decision document the host writes itself: `invalid`, when the module could not decide.

/// The decision document (SPEC.md section 5) with outcome `invalid` and `reason`, every other
/// member `null`, members in the SPEC's order, written compactly as serde_json writes it.
///
/// ```
/// let d = wasm_sandbox::invalid_decision("the lease module trapped: \"unreachable\"");
/// assert_eq!(
///     String::from_utf8(d).unwrap(),
///     r#"{"action":null,"outcome":"invalid","reason":"the lease module trapped: \"unreachable\"","before":null,"after":null,"annotation":null,"patch":null,"lookup":null,"live":null}"#
/// );
/// ```
pub fn invalid_decision(reason: &str) -> Vec<u8> {
    let reason = serde_json::Value::from(reason).to_string();
    let mut out = Vec::with_capacity(reason.len() + 128);
    out.extend_from_slice(br#"{"action":null,"outcome":"invalid","reason":"#);
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(br#","before":null,"after":null,"annotation":null,"patch":null,"lookup":null,"live":null}"#);
    out
}
