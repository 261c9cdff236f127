//! The conformance vectors in `tests/vectors/*.json`, loaded for every runtime's test.
//!
//! Each file is a JSON array of cases `{"name", "request", "expect"}`. `request` is the request
//! document as JSON; a case may instead give `requestText`, the exact request bytes as a string,
//! for inputs that a JSON value cannot express (duplicate members, odd escapes, broken syntax).
//! `expect` pins some or all of the decision document's fields.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One conformance case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The file the case came from, and its name there.
    pub name: String,
    /// The exact request bytes to evaluate.
    pub request: Vec<u8>,
    /// The decision fields the case pins.
    pub expect: serde_json::Map<String, Value>,
}

/// The directory holding the vector files.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Loads every case of every `*.json` file in [`dir`], sorted by file name.
///
/// # Panics
/// On an unreadable or ill-formed vector file: the vectors are the test's own input.
pub fn load() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/vectors is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("vector file is readable");
        let list: Vec<Value> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a JSON array of cases: {e}", file.display()));
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_owned();
        for case in list {
            let name = case["name"].as_str().expect("case has a name");
            let request = match (case.get("requestText"), case.get("request")) {
                (Some(Value::String(text)), _) => text.clone().into_bytes(),
                (_, Some(request)) => serde_json::to_vec(request).expect("serialisable"),
                _ => panic!("{stem}: case {name:?} has neither request nor requestText"),
            };
            let expect = case["expect"].as_object().expect("case has an expect object").clone();
            cases.push(Case { name: format!("{stem}: {name}"), request, expect });
        }
    }
    cases
}

/// Compares a decision document with a case's `expect`: every pinned field must be equal.
///
/// Returns a description of every difference, empty when the decision conforms.
pub fn mismatches(case: &Case, decision: &[u8]) -> Vec<String> {
    let decision: Value = match serde_json::from_slice(decision) {
        Ok(v) => v,
        Err(e) => return vec![format!("decision is not JSON: {e}")],
    };
    let mut out = Vec::new();
    for (field, want) in &case.expect {
        let got = decision.get(field).unwrap_or(&Value::Null);
        if got != want {
            out.push(format!("{field}: expected {want}, got {got}"));
        }
    }
    out
}

/// Every way one runtime's `decision` for `case` falls short: not byte-identical to `native`
/// (the native core's decision for the same request), or not matching `expect`. Each line names
/// the case and the runtime; empty when the runtime conforms.
pub fn differences(case: &Case, runtime: &str, decision: &[u8], native: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if decision != native {
        out.push(format!(
            "{}: {runtime} and native differ\n    native:  {}\n    {runtime}: {}",
            case.name,
            String::from_utf8_lossy(native),
            String::from_utf8_lossy(decision)
        ));
    }
    out.extend(mismatches(case, decision).into_iter().map(|m| format!("{}: {runtime}: {m}", case.name)));
    out
}
