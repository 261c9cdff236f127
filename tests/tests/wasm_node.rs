//! The lease module in another engine: Node.js (V8) loads the very module `csplease-wasm`
//! embeds, with a few lines of plain JavaScript that know only the documented ABI
//! (`tests/node/run-vectors.mjs`), and runs every vector. Each decision must be byte-identical
//! to the native core's and match the vector's `expect`.
//!
//! Needs `node` (20 or later) on `PATH`, or its path in `$NODE`.

use std::path::Path;
use std::process::Command;

use csplease_tests::records::{frame, unframe};
use csplease_tests::vectors::{differences, load};

#[test]
fn node_runs_the_module_and_matches_native_byte_for_byte() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-node");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (module, requests, decisions) = (dir.join("lease.wasm"), dir.join("requests.bin"), dir.join("decisions.bin"));
    std::fs::write(&module, wasm_sandbox::EMBEDDED_MODULE).expect("write module");
    let cases = load();
    std::fs::write(&requests, frame(cases.iter().map(|c| c.request.clone()))).expect("write requests");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node").join("run-vectors.mjs");
    let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
    let output = Command::new(&node)
        .arg(&script)
        .arg(&module)
        .arg(&requests)
        .arg(&decisions)
        .output()
        .unwrap_or_else(|e| panic!("running {node:?} (Node.js 20+ is needed for this test; set $NODE): {e}"));
    assert!(output.status.success(), "node failed ({}):\n{}", output.status, String::from_utf8_lossy(&output.stderr));

    let got = unframe(&std::fs::read(&decisions).expect("read decisions"));
    assert_eq!(got.len(), cases.len(), "one decision per request");
    let mut failures = Vec::new();
    for (case, decision) in cases.iter().zip(&got) {
        let native = lease_logic::evaluate_json(&case.request);
        failures.extend(differences(case, "V8", decision, &native));
    }
    assert!(failures.is_empty(), "{} failure(s) over {} cases:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
