//! Instructions per decision of the lease core, held to budgets.
//!
//! Instruction counts do not depend on how busy the machine is, so unlike wall-clock figures they
//! can fail a build: `cargo xtask test` runs `cargo run --release -p csplease-instruction-budgets`,
//! which prints a table and exits 1 when a decision is over its budget.
//!
//! Each decision is one shared vector through [`lease_logic::evaluate_json`], the wire entry point
//! every runtime uses. It is counted as BENCHMARKS.md section 1 counts it: the binary runs itself
//! under `valgrind --tool=callgrind`, looping the decision [`SHORT_RUN`] and then [`LONG_RUN`]
//! times; the difference of the two runs' "Collected" instruction counts, divided by the difference
//! of the loop counts, is the cost of one decision without the set-up (starting the process,
//! reading the vectors).

use std::path::{Path, PathBuf};

/// One decision held to a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// What the decision is, for the table.
    pub decision: &'static str,
    /// The vector file, relative to `tests/vectors/`.
    pub file: &'static str,
    /// The vector's `name` in that file.
    pub vector: &'static str,
    /// The most instructions one decision may take.
    pub max_instructions: u64,
}

/// The budgets (issue 12, item 7), each about 3-4% above what the core took when they were set
/// (25.2k, 30.8k and 56.9k).
pub const BUDGETS: [Budget; 3] = [
    Budget {
        decision: "acquire (hold, released lease)",
        file: "lease.json",
        vector: "hold: released lease",
        max_instructions: 26_000,
    },
    Budget {
        decision: "takeover (hold, holder NotFound)",
        file: "lease.json",
        vector: "hold: other holder not found",
        max_instructions: 32_000,
    },
    Budget {
        decision: "review (UPDATE, legal takeover)",
        file: "lease.json",
        vector: "review: pod takes over dead holder",
        max_instructions: 59_000,
    },
];

/// The loop count of the first run.
pub const SHORT_RUN: u64 = 10_000;
/// The loop count of the second run.
pub const LONG_RUN: u64 = 20_000;

/// The shared vectors' directory, `tests/vectors/`.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

/// The request bytes of vector `name` in `file` (a JSON array of `{"name", "request", ...}`),
/// written compactly as the benchmarks send them.
pub fn request(file: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&text).with_context(|| format!("{}: not a JSON array", file.display()))?;
    let case = cases
        .iter()
        .find(|c| c["name"] == name)
        .with_context(|| format!("{}: no vector named {name:?}", file.display()))?;
    Ok(serde_json::to_vec(&case["request"])?)
}

/// The instruction count in callgrind's summary (`==PID== Collected : N` on stderr).
pub fn collected(callgrind_stderr: &str) -> Option<u64> {
    callgrind_stderr.lines().find_map(|line| {
        let rest = line.split_once("Collected :")?.1;
        rest.trim().parse().ok()
    })
}

/// Instructions per decision from the two runs' totals.
pub fn per_decision(short_total: u64, long_total: u64) -> Option<u64> {
    let extra = long_total.checked_sub(short_total)?;
    Some(extra.div_ceil(LONG_RUN - SHORT_RUN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrinds_summary() {
        let stderr = "==41== Callgrind, a call-graph generating cache profiler\n==41== \n\
                      ==41== Events    : Ir\n==41== Collected : 262004113\n==41== \n==41== I   refs:      262,004,113\n";
        assert_eq!(collected(stderr), Some(262_004_113));
        assert_eq!(collected("==41== nothing here\n"), None);
    }

    #[test]
    fn the_set_up_cancels_out() {
        let setup = 1_500_000;
        assert_eq!(per_decision(setup + SHORT_RUN * 25_200, setup + LONG_RUN * 25_200), Some(25_200));
        assert_eq!(per_decision(10, 5), None);
    }

    #[test]
    fn every_budgeted_vector_exists() {
        for budget in BUDGETS {
            let bytes = request(&vectors_dir().join(budget.file), budget.vector).expect("vector");
            let decision = String::from_utf8(lease_logic::evaluate_json(&bytes)).expect("UTF-8");
            assert!(!decision.contains(r#""outcome":"invalid""#), "{}: {decision}", budget.vector);
        }
    }
}
