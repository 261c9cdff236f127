//! Every conformance vector through the native library: each pinned field must match exactly.

use csplease_tests::vectors;

#[test]
fn every_vector_conforms_natively() {
    let cases = vectors::load();
    assert!(cases.len() >= 170, "expected the shared vectors and our own, found {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let decision = lease_logic::evaluate_json(&case.request);
        let problems = vectors::mismatches(case, &decision);
        if !problems.is_empty() {
            failures.push(format!(
                "{}\n    {}\n    got {}",
                case.name,
                problems.join("\n    "),
                String::from_utf8_lossy(&decision)
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} vectors fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
    println!("{} vectors conform", cases.len());
}
