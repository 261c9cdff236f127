//! The plugin's human output, pinned: the status table (plain and wide), the detail view, and
//! the one-line results of hold and release. No cluster: objects are built from JSON.

use std::collections::HashMap;

use csp_lease::{HolderPod, PoolStatus, Report, Write, observe};
use k8s_openapi::jiff::Timestamp;
use kube::api::DynamicObject;
use kubectl_csplease::render::{self, human_duration};
use lease_logic::{DEFAULT_LEASE_KEY, PodRef, PodState};
use serde_json::json;

const NOW: &str = "2026-11-24T03:00:00Z";

fn now() -> Timestamp {
    NOW.parse().expect("a timestamp")
}

fn pool(name: &str, lease: Option<&str>, created: &str) -> DynamicObject {
    let mut metadata = json!({"name": name, "resourceVersion": "7", "creationTimestamp": created});
    if let Some(lease) = lease {
        metadata["annotations"] = json!({ DEFAULT_LEASE_KEY: lease });
    }
    serde_json::from_value(json!({"apiVersion": "openebs.io/v1alpha1", "kind": "CStorPool", "metadata": metadata}))
        .expect("a CStorPool")
}

fn pod(text: &str, state: PodState, node: Option<&str>) -> HolderPod {
    HolderPod { pod: text.parse().expect("a pod"), state, node: node.map(str::to_owned), error: None }
}

fn status(object: DynamicObject, holder: Option<HolderPod>) -> PoolStatus {
    let state = holder.as_ref().map(HolderPod::status);
    let decision = lease_logic::status(&observe(&object, DEFAULT_LEASE_KEY), state.as_ref());
    PoolStatus { object, lease_key: DEFAULT_LEASE_KEY.to_owned(), decision, holder }
}

fn pools() -> Vec<PoolStatus> {
    vec![
        status(pool("cstor-pool-a", None, "2026-11-24T02:59:15Z"), None),
        status(
            pool("cstor-pool-b", Some(r#"{"holder":"openebs/pool-b-0","leaderTransition":3}"#), "2026-11-24T01:00:00Z"),
            Some(pod("openebs/pool-b-0", PodState::Running, Some("node-1"))),
        ),
        status(
            pool(
                "cstor-pool-c",
                Some(r#"{"holder":"openebs/pool-c-0","leaderTransition":12}"#),
                "2026-11-20T03:00:00Z",
            ),
            Some(pod("openebs/pool-c-0", PodState::NotFound, None)),
        ),
        status(pool("cstor-pool-d", Some(r#"{"holder":"","leaderTransition":5}"#), "2026-11-24T02:50:00Z"), None),
        status(pool("cstor-pool-e", Some("not json"), "2025-01-01T00:00:00Z"), None),
        status(
            pool("cstor-pool-f", Some(r#"{"holder":"no-slash","leaderTransition":2}"#), "2026-11-24T02:00:00Z"),
            None,
        ),
        status(
            pool("cstor-pool-g", Some(r#"{"holder":"openebs/pool-g-0","leaderTransition":1}"#), "2026-11-24T02:00:00Z"),
            Some(pod("openebs/pool-g-0", PodState::Failed, Some("node-2"))),
        ),
    ]
}

#[test]
fn status_table() {
    let rows: Vec<_> = pools().iter().map(|p| render::row(p, now(), None)).collect();
    insta::assert_snapshot!(render::table(&rows, false));
}

#[test]
fn status_table_wide() {
    let nodes = HashMap::from([("node-1".to_owned(), Some(true)), ("node-2".to_owned(), Some(false))]);
    let rows: Vec<_> = pools().iter().map(|p| render::row(p, now(), Some(&nodes))).collect();
    insta::assert_snapshot!(render::table(&rows, true));
}

#[test]
fn status_detail_with_what_hold_would_do() {
    let pools = pools();
    let claimant: PodRef = "openebs/pool-b-1".parse().expect("a pod");
    let mut out = String::new();
    for pool in &pools {
        let would = pool.would_hold(&claimant, false);
        out.push_str(&render::describe(pool, now(), Some((&claimant, &would)), None));
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

#[test]
fn json_document_has_the_name_first_then_the_decision() {
    let pools = pools();
    let pool = &pools[1];
    let doc = render::Document { name: pool.name(), decision: &pool.decision, hold: None };
    insta::assert_snapshot!(serde_json::to_string(&doc).expect("json"));
}

fn report(pool: &PoolStatus, decision: lease_logic::Decision, write: Write) -> Report {
    Report {
        csp: pool.name().to_owned(),
        decision,
        reading: pool.reading(),
        holder: pool.holder.clone(),
        write,
        rounds: 1,
        event: None,
    }
}

#[test]
fn one_line_results() {
    let pools = pools();
    let me: PodRef = "openebs/pool-b-1".parse().expect("a pod");
    let holder_b: PodRef = "openebs/pool-b-0".parse().expect("a pod");
    let written = || Write::Written { resource_version: Some("8".into()) };
    let mut lines = Vec::new();
    for (i, pool) in pools.iter().enumerate() {
        let decision = pool.would_hold(&me, false);
        let write = if decision.writes() { written() } else { Write::None };
        lines.push(format!("hold {}: {}", pool.name(), render::summary(&report(pool, decision, write), Some(&me))));
        if i == 4 {
            let forced = pool.would_hold(&me, true);
            lines.push(format!(
                "hold --force {}: {}",
                pool.name(),
                render::summary(&report(pool, forced, written()), Some(&me))
            ));
        }
    }
    let b = &pools[1];
    let own = lease_logic::release(&b.observed(), Some(&holder_b), false);
    lines.push(format!("release (holder): {}", render::summary(&report(b, own, written()), Some(&holder_b))));
    let denied = lease_logic::release(&b.observed(), Some(&me), false);
    lines.push(format!("release (other): {}", render::summary(&report(b, denied, Write::None), Some(&me))));
    let broken = lease_logic::release(&b.observed(), None, true);
    lines.push(format!("release --force: {}", render::summary(&report(b, broken, written()), None)));
    let a = &pools[0];
    let dry = a.would_hold(&me, false);
    lines.push(format!("hold --dry-run: {}", render::summary(&report(a, dry.clone(), Write::DryRunClient), Some(&me))));
    lines.push(format!("hold --dry-run=server: {}", render::summary(&report(a, dry, Write::DryRunServer), Some(&me))));
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn ages_read_like_kubectl() {
    let cases = [
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (185, "3m5s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (3 * 365 * 86400 + 86400, "3y1d"),
        (9 * 365 * 86400, "9y"),
        (-5, "<invalid>"),
    ];
    for (seconds, want) in cases {
        assert_eq!(human_duration(seconds), want, "{seconds}s");
    }
}
