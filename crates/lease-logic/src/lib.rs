//! lease-logic (work in progress: the core is being written).

/// Evaluates one request document (SPEC.md section 5) and returns the decision document.
pub fn evaluate_json(request: &[u8]) -> Vec<u8> {
    let _ = request;
    br#"{"action":null,"outcome":"invalid","reason":"not implemented yet","before":null,"after":null,"annotation":null,"patch":null,"lookup":null,"live":null}"#.to_vec()
}
