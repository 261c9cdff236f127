//! `status`: every CStorPool's lease as a table, or one in detail with what `hold` would do.

use std::collections::HashMap;

use csp_lease::CspLease;
use k8s_openapi::jiff::Timestamp;
use lease_logic::PodRef;

use super::output::{fail, print_doc};
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
