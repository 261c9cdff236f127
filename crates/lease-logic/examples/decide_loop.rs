//! Decides one shared vector a given number of times, for instruction counts that do not depend
//! on the machine's load (BENCHMARKS.md section 1):
//!
//! ```sh
//! cargo build --release -p lease-logic --example decide_loop
//! valgrind --tool=callgrind target/release/examples/decide_loop "hold: released lease" 10000
//! valgrind --tool=callgrind target/release/examples/decide_loop "hold: released lease" 20000
//! ```
//!
//! The difference of the two runs' counts, over 10,000, is the cost of one decision without the
//! set-up (reading the vectors).

use serde_json::Value;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "hold: released lease".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/lease.json");
    let text = std::fs::read_to_string(path).expect("the shared vectors are readable");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
    let case = cases.iter().find(|c| c["name"] == name.as_str()).expect("the vector exists");
    let request = serde_json::to_vec(&case["request"]).expect("serialisable");
    let mut total = 0;
    for _ in 0..count {
        total += lease_logic::evaluate_json(std::hint::black_box(&request)).len();
    }
    println!("{count} decisions of {name:?} ({} bytes): {total} bytes out", request.len());
}
