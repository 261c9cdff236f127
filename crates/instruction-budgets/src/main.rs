//! `csplease-instruction-budgets`: counts the instructions of each budgeted decision with
//! callgrind, prints a table and exits 1 when one is over its budget.
//!
//! Run it in release mode, as the figures in BENCHMARKS.md section 1 are:
//! `cargo run --release -p csplease-instruction-budgets`. Needs `valgrind` on `PATH`.
//!
//! `csplease-instruction-budgets loop FILE NAME COUNT` is what runs under callgrind: it decides
//! vector NAME of FILE COUNT times.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use csplease_instruction_budgets::{BUDGETS, LONG_RUN, SHORT_RUN, collected, per_decision, request, vectors_dir};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => check(),
        [mode, file, name, count] if mode == "loop" => decide_in_a_loop(file, name, count),
        _ => Err(anyhow::anyhow!("usage: csplease-instruction-budgets [loop FILE NAME COUNT]")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Decides one vector `count` times.
fn decide_in_a_loop(file: &str, name: &str, count: &str) -> anyhow::Result<bool> {
    let count: u64 = count.parse().with_context(|| format!("COUNT {count:?} is not a number"))?;
    let request = request(file.as_ref(), name)?;
    let mut bytes_out = 0;
    for _ in 0..count {
        bytes_out += lease_logic::evaluate_json(std::hint::black_box(&request)).len();
    }
    println!("{count} decisions of {name:?} ({} bytes in): {bytes_out} bytes out", request.len());
    Ok(true)
}

/// Measures every budgeted decision; `Ok(false)` when one is over.
fn check() -> anyhow::Result<bool> {
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build counts far more instructions than the budgets are for; use --release");
    }
    let exe = std::env::current_exe().context("finding this program")?;
    let out_dir = std::env::temp_dir().join(format!("csplease-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let count = |file: &str, vector: &str, loops: u64| -> anyhow::Result<u64> {
        let output = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}/callgrind.out.%p", out_dir.display()))
            .arg(&exe)
            .arg("loop")
            .arg(vectors_dir().join(file))
            .arg(vector)
            .arg(loops.to_string())
            .output()
            .context("running valgrind (Debian's `valgrind` package); is it installed?")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            bail!("valgrind on {vector:?} x {loops} failed ({}):\n{stderr}", output.status);
        }
        collected(&stderr).with_context(|| format!("no `Collected :` line in callgrind's output:\n{stderr}"))
    };

    let mut within = true;
    let mut rows = Vec::new();
    for budget in BUDGETS {
        let short = count(budget.file, budget.vector, SHORT_RUN)?;
        let long = count(budget.file, budget.vector, LONG_RUN)?;
        let per = per_decision(short, long).context("the longer run counted fewer instructions")?;
        let ok = per <= budget.max_instructions;
        within &= ok;
        rows.push((budget, per, ok));
    }
    let _ = std::fs::remove_dir_all(&out_dir);

    println!("{:<34} {:>13} {:>8}", "decision", "instructions", "budget");
    for (budget, per, ok) in rows {
        println!(
            "{:<34} {:>13} {:>8}  {}",
            budget.decision,
            group(per),
            group(budget.max_instructions),
            if ok { "ok" } else { "OVER BUDGET" }
        );
    }
    println!(
        "(valgrind --tool=callgrind; per decision = (Collected of {} loops - Collected of {}) / {})",
        LONG_RUN,
        SHORT_RUN,
        LONG_RUN - SHORT_RUN
    );
    if !within {
        eprintln!("error: a decision of the core is over its instruction budget (see the table above)");
    }
    Ok(within)
}

/// `25200` as `25,200`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
