//! `status`: every CStorPool's lease as a table, or one in detail with what `hold` would do;
//! `status --watch`: the table, then a row for each change.

use std::collections::HashMap;

use csp_lease::{CspLease, PoolStatus, Wake};
use k8s_openapi::jiff::Timestamp;
use lease_logic::{PodRef, Reading};

use super::output::{fail, one_line, print_doc};
use super::{Exit, Flags, Output};
use crate::render::{self, Document, List};

pub(super) async fn status_all(lease: &CspLease, flags: &Flags) -> Exit {
    let pools = match lease.list(true).await {
        Ok(pools) => pools,
        Err(e) => return fail(&e.to_string(), Exit::Error),
    };
    for pool in &pools {
        if let Some(error) = pool.holder.as_ref().and_then(|h| h.error.as_ref()) {
            eprintln!("Warning: cannot look up holder pods: {error}");
            break;
        }
    }
    match flags.output {
        Some(Output::Json | Output::Yaml) => {
            let docs = pools.iter().map(|p| Document { name: p.name(), decision: &p.decision, hold: None }).collect();
            print_doc(&List::of(docs), flags.output);
        }
        Some(Output::Name) => {
            for pool in &pools {
                println!("{}", render::object_name(pool.name()));
            }
        }
        output => {
            if pools.is_empty() {
                eprintln!("No resources found");
                return Exit::Success;
            }
            let wide = output == Some(Output::Wide);
            let nodes = if wide { nodes(lease).await } else { None };
            let now = Timestamp::now();
            let rows: Vec<_> = pools.iter().map(|p| render::row(p, now, nodes.as_ref())).collect();
            print!("{}", render::table(&rows, wide));
        }
    }
    Exit::Success
}

async fn nodes(lease: &CspLease) -> Option<HashMap<String, Option<bool>>> {
    match lease.node_readiness().await {
        Ok(nodes) => Some(nodes),
        Err(e) => {
            eprintln!("Warning: cannot list nodes: {e}");
            None
        }
    }
}

pub(super) async fn status_one(lease: &CspLease, csp: &str, claimant: Option<&PodRef>, flags: &Flags) -> Exit {
    let status = match lease.status(csp).await {
        Ok(status) => status,
        Err(e) => return fail(&e.to_string(), Exit::Error),
    };
    let would = claimant.map(|c| (c, status.would_hold(c, false)));
    match flags.output {
        Some(Output::Json | Output::Yaml) => {
            let doc =
                Document { name: status.name(), decision: &status.decision, hold: would.as_ref().map(|(_, d)| d) };
            print_doc(&doc, flags.output);
        }
        Some(Output::Name) => println!("{}", render::object_name(status.name())),
        output => {
            let nodes = match (output, status.holder.as_ref().and_then(|h| h.node.as_ref())) {
                (Some(Output::Wide), Some(_)) => nodes(lease).await,
                _ => None,
            };
            let would = would.as_ref().map(|(c, d)| (*c, d));
            print!("{}", render::describe(&status, Timestamp::now(), would, nodes.as_ref()));
        }
    }
    Exit::Success
}

/// `status --watch [CSP]`: the table (or one document per line with `-o json`), then one more row
/// each time a lease or its holder's pod changes, until Ctrl-C (exit 0). Every row is the core's
/// status conversation on a fresh read; the watch only says when to read again.
pub(super) async fn watch(lease: &CspLease, csp: Option<&str>, flags: &Flags) -> Exit {
    // Polled first, so Ctrl-C is handled from before the first line is printed.
    tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => Exit::Success,
        exit = watching(lease, csp, flags) => exit,
    }
}

async fn watching(lease: &CspLease, csp: Option<&str>, flags: &Flags) -> Exit {
    let pools = match read(lease, csp).await {
        Ok(pools) => pools,
        Err(e) => return fail(&e.to_string(), Exit::Error),
    };
    let wide = flags.output == Some(Output::Wide);
    let mut printer = Printer { output: flags.output, wide, widths: Vec::new(), shown: HashMap::new() };
    printer.first(&pools, if wide { nodes(lease).await } else { None }.as_ref());
    follow(lease, csp, pools, &mut printer).await;
    Exit::Success
}

/// Prints the changes after the first table, for ever.
///
/// A read that failed, or that shows a holder whose pod could not be looked up, may leave a row
/// that is out of date: it is read again after a pause (1 s, doubling to 5 s) even when the
/// watch sees no change.
async fn follow(lease: &CspLease, csp: Option<&str>, pools: Vec<PoolStatus>, printer: &mut Printer) {
    let mut holders = holders(&pools);
    let mut watch = lease.watch(csp);
    let mut last_warning = None;
    let mut unsure = u32::from(lookup_failed(&pools));
    loop {
        let wake = match unsure {
            0 => watch.changed(&holders).await,
            n => tokio::select! {
                wake = watch.changed(&holders) => wake,
                () = tokio::time::sleep(read_again_after(n)) => Wake::Changed,
            },
        };
        let warning = match wake {
            Wake::Broken { detail } => Some(format!("the watch broke, resuming: {}", one_line(&detail))),
            Wake::Changed => match read(lease, csp).await {
                Ok(pools) => {
                    let nodes = if printer.wide { nodes(lease).await } else { None };
                    printer.changes(&pools, nodes.as_ref());
                    holders = self::holders(&pools);
                    unsure = if lookup_failed(&pools) { unsure.saturating_add(1) } else { 0 };
                    None
                }
                Err(e) => {
                    unsure = unsure.saturating_add(1);
                    Some(one_line(&e.to_string()))
                }
            },
        };
        match (&warning, &last_warning) {
            (Some(now), before) if before.as_ref() != Some(now) => eprintln!("Warning: {now}"),
            (None, Some(_)) => eprintln!("The watch resumed."),
            _ => {}
        }
        last_warning = warning;
    }
}

/// Whether a holder's pod could not be looked up in this read (its row says `LookupFailed`).
fn lookup_failed(pools: &[PoolStatus]) -> bool {
    pools.iter().any(|pool| pool.holder.as_ref().is_some_and(|holder| holder.error.is_some()))
}

/// The pause before reading again after `unsure` uncertain reads in a row: 1 s doubling to 5 s.
fn read_again_after(unsure: u32) -> std::time::Duration {
    let pause = std::time::Duration::from_secs(1).saturating_mul(1 << unsure.saturating_sub(1).min(3));
    pause.min(std::time::Duration::from_secs(5))
}

/// The leases `status --watch` follows: one CStorPool, or all of them.
async fn read(lease: &CspLease, csp: Option<&str>) -> Result<Vec<PoolStatus>, csp_lease::Error> {
    match csp {
        Some(csp) => lease.status(csp).await.map(|status| vec![status]),
        None => lease.list(true).await,
    }
}

/// The pods that hold the leases, as read.
fn holders(pools: &[PoolStatus]) -> Vec<PodRef> {
    pools
        .iter()
        .filter_map(|p| match p.reading() {
            Reading::Held(_, pod) => Some(pod),
            _ => None,
        })
        .collect()
}

/// What `status --watch` printed last for each CStorPool, so a row is printed only when its
/// content changes.
struct Printer {
    output: Option<Output>,
    wide: bool,
    widths: Vec<usize>,
    shown: HashMap<String, String>,
}

impl Printer {
    /// The table (or every document), at the start.
    fn first(&mut self, pools: &[PoolStatus], nodes: Option<&HashMap<String, Option<bool>>>) {
        let now = Timestamp::now();
        let rows: Vec<_> = pools.iter().map(|p| render::row(p, now, nodes)).collect();
        for (pool, row) in pools.iter().zip(&rows) {
            self.shown.insert(pool.name().to_owned(), self.content(pool, row));
        }
        match self.output {
            Some(Output::Json | Output::Yaml | Output::Name) => {
                for (pool, row) in pools.iter().zip(&rows) {
                    self.print(pool, row);
                }
            }
            _ => {
                if pools.is_empty() {
                    eprintln!("No resources found");
                }
                self.widths = render::widths(&rows, self.wide);
                print!("{}", render::table(&rows, self.wide));
            }
        }
        flush();
    }

    /// The rows whose content changed since last printed.
    fn changes(&mut self, pools: &[PoolStatus], nodes: Option<&HashMap<String, Option<bool>>>) {
        let now = Timestamp::now();
        let mut seen = std::collections::HashSet::new();
        for pool in pools {
            let row = render::row(pool, now, nodes);
            let content = self.content(pool, &row);
            seen.insert(pool.name());
            if self.shown.get(pool.name()) != Some(&content) {
                if self.widths.is_empty() && !matches!(self.output, Some(Output::Json | Output::Yaml | Output::Name)) {
                    self.widths = render::widths(std::slice::from_ref(&row), self.wide);
                    print!("{}", render::table(&[], self.wide));
                }
                self.print(pool, &row);
                self.shown.insert(pool.name().to_owned(), content);
            }
        }
        self.shown.retain(|name, _| seen.contains(name.as_str()));
        flush();
    }

    /// What decides whether a row is news: the document for -o json|yaml, else the row without
    /// its AGE.
    fn content(&self, pool: &PoolStatus, row: &render::Row) -> String {
        match self.output {
            Some(Output::Json | Output::Yaml) => {
                let doc = Document { name: pool.name(), decision: &pool.decision, hold: None };
                serde_json::to_string(&doc).unwrap_or_default()
            }
            _ => format!("{:?}", render::Row { age: String::new(), ..row.clone() }),
        }
    }

    fn print(&self, pool: &PoolStatus, row: &render::Row) {
        match self.output {
            Some(Output::Json) => println!("{}", self.content(pool, row)),
            Some(Output::Yaml) => {
                println!("---");
                print_doc(&Document { name: pool.name(), decision: &pool.decision, hold: None }, self.output);
            }
            Some(Output::Name) => println!("{}", render::object_name(pool.name())),
            _ => print!("{}", render::table_row(row, self.wide, &self.widths)),
        }
    }
}

fn flush() {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncertain_read_is_read_again_after_a_bounded_pause() {
        let pauses: Vec<u64> = (1..=6).map(|n| read_again_after(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 5, 5, 5]);
    }
}
