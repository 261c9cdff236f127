//! `csplease-wasm eval`: JSON Lines in, one decision per line out, in input order, on N threads.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use crate::LeaseModule;

/// Lines handed to a worker at a time: enough to make the hand-off cost nothing per line.
const BATCH: usize = 128;

/// How [`eval_lines`] runs.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// Worker threads (at least 1). The host's concurrency limit must allow as many instances.
    pub jobs: usize,
    /// Keep one warm instance per worker instead of a fresh instance per request.
    pub warm: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { jobs: 1, warm: false }
    }
}

/// Reads request documents, one per line, and writes one decision document per line, in input
/// order. Every line gets a decision: an empty or malformed line gets the module's `invalid`
/// decision for it, and a failure inside the sandbox an `invalid` decision from the host. A
/// trailing `\n` ends a line; the last line needs none. Returns the number of decisions written.
///
/// # Errors
/// Only reading `input` or writing `output`.
pub fn eval_lines<R: BufRead, W: Write + Send>(
    module: &LeaseModule,
    mut input: R,
    output: W,
    options: EvalOptions,
) -> io::Result<u64> {
    let jobs = options.jobs.max(1);
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<Vec<u8>>)>(jobs * 2);
    let work_rx = Arc::new(Mutex::new(work_rx));
    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Vec<Vec<u8>>)>(jobs * 2);

    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut warm = options.warm.then(|| module.warm());
                loop {
                    let next = work_rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok((seq, lines)) = next else { break };
                    let decisions = lines
                        .iter()
                        .map(|line| match warm.as_mut() {
                            Some(instance) => instance.evaluate(line),
                            None => module.evaluate(line),
                        })
                        .collect();
                    if done_tx.send((seq, decisions)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(work_rx);
        drop(done_tx);

        let writer = scope.spawn(move || write_in_order(done_rx, output));

        let mut seq = 0;
        let mut read_error = None;
        loop {
            let mut batch = Vec::with_capacity(BATCH);
            while batch.len() < BATCH {
                let mut line = Vec::new();
                match input.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        batch.push(line);
                    }
                    Err(e) => {
                        read_error = Some(e);
                        break;
                    }
                }
            }
            let last = batch.len() < BATCH;
            // A send fails only when every worker is gone, because the writer stopped.
            if !batch.is_empty() && work_tx.send((seq, batch)).is_err() {
                break;
            }
            seq += 1;
            if last {
                break;
            }
        }
        drop(work_tx);
        let written = writer.join().unwrap_or_else(|_| Err(io::Error::other("the output thread panicked")));
        match read_error {
            Some(e) => Err(e),
            None => written,
        }
    })
}

/// Writes the workers' batches in sequence order.
fn write_in_order<W: Write>(done: mpsc::Receiver<(u64, Vec<Vec<u8>>)>, output: W) -> io::Result<u64> {
    let mut output = io::BufWriter::with_capacity(1 << 16, output);
    let mut pending = BTreeMap::new();
    let mut next = 0;
    let mut written = 0;
    for (seq, decisions) in done {
        pending.insert(seq, decisions);
        while let Some(decisions) = pending.remove(&next) {
            for decision in decisions {
                output.write_all(&decision)?;
                output.write_all(b"\n")?;
                written += 1;
            }
            next += 1;
        }
    }
    output.flush()?;
    Ok(written)
}
