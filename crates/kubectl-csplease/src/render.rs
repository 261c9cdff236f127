//! What the plugin prints: kubectl-style tables, a describe-like detail view, one-line results,
//! and the decision documents for `-o json|yaml`. Pure functions of their inputs (the clock is a
//! parameter), so tests pin them with snapshots.

use std::collections::HashMap;
use std::fmt::Write as _;

use k8s_openapi::jiff::Timestamp;
use lease_logic::{Change, Decision, Outcome, PodRef, Reading, Remedy};
use serde::Serialize;

use csp_lease::{HolderPod, PoolStatus, Report, Write};

/// How a CStorPool is named in messages, as kubectl names it: `cstorpool.openebs.io/NAME`.
pub fn object_name(csp: &str) -> String {
    format!("cstorpool.openebs.io/{csp}")
}

/// A decision document (SPEC.md section 5) with the CStorPool's name first; `hold`, when
/// present, is what `hold` would decide for the given claimant.
#[derive(Debug, Serialize)]
pub struct Document<'a> {
    /// The CStorPool's name.
    pub name: &'a str,
    /// The decision, its members in the SPEC's order.
    #[serde(flatten)]
    pub decision: &'a Decision,
    /// `status NAME --holder POD`: what `hold` would decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<&'a Decision>,
}

/// A kubectl-style `List` of documents.
#[derive(Debug, Serialize)]
pub struct List<'a> {
    /// `v1`.
    #[serde(rename = "apiVersion")]
    pub api_version: &'static str,
    /// `List`.
    pub kind: &'static str,
    /// The documents.
    pub items: Vec<Document<'a>>,
}

impl<'a> List<'a> {
    /// A list of these documents.
    pub fn of(items: Vec<Document<'a>>) -> Self {
        List { api_version: "v1", kind: "List", items }
    }
}

/// kubectl's `HumanDuration`: `45s`, `3m20s`, `17m`, `5h12m`, `3d4h`, `120d`, `2y30d`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let seconds = seconds.max(0);
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let d = (hours / 24) % 365;
        return if d == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{d}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of something created at `created`, seen at `now`.
pub fn age(created: Option<Timestamp>, now: Timestamp) -> String {
    match created {
        Some(created) => human_duration(now.as_second() - created.as_second()),
        None => "<unknown>".into(),
    }
}

/// One row of the `status` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// NAME.
    pub name: String,
    /// HOLDER.
    pub holder: String,
    /// TRANSITIONS.
    pub transitions: String,
    /// HOLDER-PHASE.
    pub phase: String,
    /// LIVE.
    pub live: String,
    /// AGE.
    pub age: String,
    /// NODE (wide).
    pub node: String,
    /// NODE-READY (wide).
    pub node_ready: String,
}

const NONE: &str = "<none>";

/// The HOLDER and TRANSITIONS columns of a reading.
pub fn holder_columns(reading: &Reading) -> (String, String) {
    match reading {
        Reading::Vacant => (NONE.into(), "0".into()),
        Reading::Released(lease) => ("<released>".into(), lease.leader_transition.to_string()),
        Reading::Held(lease, pod) => (pod.to_string(), lease.leader_transition.to_string()),
        Reading::Unidentifiable(lease) => ("<invalid>".into(), lease.leader_transition.to_string()),
        Reading::Malformed(_) => ("<unreadable>".into(), "<unknown>".into()),
    }
}

/// `True`, `False`, `Unknown` for a node's Ready condition; `<none>` when the node is unknown.
fn ready_column(node: Option<&str>, nodes: Option<&HashMap<String, Option<bool>>>) -> String {
    match (node, nodes) {
        (Some(node), Some(nodes)) => match nodes.get(node) {
            Some(Some(true)) => "True".into(),
            Some(Some(false)) => "False".into(),
            Some(None) => "Unknown".into(),
            None => "<not found>".into(),
        },
        _ => NONE.into(),
    }
}

/// The table row of one pool at `now`; `nodes` (for `-o wide`) maps node names to readiness.
pub fn row(status: &PoolStatus, now: Timestamp, nodes: Option<&HashMap<String, Option<bool>>>) -> Row {
    let (holder, transitions) = holder_columns(&status.reading());
    let pod = status.holder.as_ref();
    let node = pod.and_then(|p| p.node.as_deref());
    Row {
        name: status.name().to_owned(),
        holder,
        transitions,
        phase: pod.map_or_else(|| NONE.to_owned(), |p| p.state.as_str().to_owned()),
        live: status.decision.live.map_or_else(|| NONE.to_owned(), |l| l.to_string()),
        age: age(status.created(), now),
        node: node.unwrap_or(NONE).to_owned(),
        node_ready: ready_column(node, nodes),
    }
}

/// A kubectl-style table: upper-case headers, columns padded to their widest cell plus 3 spaces.
pub fn table(rows: &[Row], wide: bool) -> String {
    let widths = widths(rows, wide);
    let mut out = line(&header(wide), &widths);
    for row in rows {
        out.push_str(&line(&cells(row, wide), &widths));
    }
    out
}

/// One more row of a table printed before with `widths` (`status --watch`), as `kubectl get -w`
/// prints it: padded to the table's columns, or wider when a cell is.
pub fn table_row(row: &Row, wide: bool, widths: &[usize]) -> String {
    line(&cells(row, wide), widths)
}

/// The widths of the columns of [`table`] for `rows`.
pub fn widths(rows: &[Row], wide: bool) -> Vec<usize> {
    let mut widths: Vec<usize> = header(wide).iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(cells(row, wide)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths
}

fn header(wide: bool) -> Vec<&'static str> {
    let mut header = vec!["NAME", "HOLDER", "TRANSITIONS", "HOLDER-PHASE", "LIVE", "AGE"];
    if wide {
        header.extend(["NODE", "NODE-READY"]);
    }
    header
}

fn cells(r: &Row, wide: bool) -> Vec<&str> {
    let mut c = vec![r.name.as_str(), &r.holder, &r.transitions, &r.phase, &r.live, &r.age];
    if wide {
        c.extend([r.node.as_str(), &r.node_ready]);
    }
    c
}

fn line(cells: &[&str], widths: &[usize]) -> String {
    let mut out = String::new();
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.iter().enumerate() {
        if i == last {
            out.push_str(cell);
        } else {
            let width = widths.get(i).copied().unwrap_or(0).max(cell.chars().count()) + 3;
            let _ = write!(out, "{cell:<width$}");
        }
    }
    out.push('\n');
    out
}

/// The detail view of `status NAME`: the lease, its holder, and what `hold` would do for
/// `claimant` (the decision the core gave for it).
pub fn describe(
    status: &PoolStatus,
    now: Timestamp,
    would: Option<(&PodRef, &Decision)>,
    nodes: Option<&HashMap<String, Option<bool>>>,
) -> String {
    let reading = status.reading();
    let mut lines: Vec<(String, String)> = vec![
        ("Name".into(), status.name().to_owned()),
        ("Lease key".into(), status.lease_key.clone()),
        ("Lease".into(), status.decision.outcome.to_string()),
    ];
    let (holder, transitions) = holder_columns(&reading);
    match &reading {
        Reading::Unidentifiable(lease) => {
            lines.push(("Holder".into(), format!("{:?} (not a pod reference)", lease.holder)))
        }
        _ => lines.push(("Holder".into(), holder)),
    }
    lines.push(("Transitions".into(), transitions));
    if let Some(pod) = &status.holder {
        lines.push(("Holder phase".into(), holder_phase(pod)));
        if let Some(live) = status.decision.live {
            lines.push(("Live".into(), live.to_string()));
        }
        if let Some(node) = &pod.node {
            let ready = match nodes {
                Some(_) => format!(" (Ready: {})", ready_column(Some(node), nodes)),
                None => String::new(),
            };
            lines.push(("Node".into(), format!("{node}{ready}")));
        }
    }
    let annotation = match status.observed().slot.value() {
        Some(value) => value.to_owned(),
        None => NONE.into(),
    };
    lines.push(("Annotation".into(), annotation));
    lines.push(("Age".into(), age(status.created(), now)));
    lines.push(("Reason".into(), status.decision.reason.clone()));
    if let Some((claimant, decision)) = would {
        lines.push(("Claimant".into(), claimant.to_string()));
        lines.push(("Hold would be".into(), format!("{}: {}", decision.outcome, decision.reason)));
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for (key, value) in lines {
        let _ = writeln!(out, "{:<width$}{value}", format!("{key}:"));
    }
    out
}

fn holder_phase(pod: &HolderPod) -> String {
    match (&pod.error, pod.state) {
        (Some(error), _) => format!("{} ({error})", pod.state),
        (None, lease_logic::PodState::NotFound) => "NotFound (the pod does not exist)".into(),
        (None, state) => state.to_string(),
    }
}

/// The one line that says what `hold` or `release` did; for a denied or invalid outcome it is the
/// error message (without `error: `). `claimant` is whom the command acted for.
pub fn summary(report: &Report, claimant: Option<&PodRef>) -> String {
    let d = &report.decision;
    let name = object_name(&report.csp);
    let claimant = claimant.map_or_else(|| "<nobody>".to_owned(), ToString::to_string);
    let counter = |lease: Option<&lease_logic::Lease>| lease.map_or(0, |l| l.leader_transition);
    let suffix = match report.write {
        Write::DryRunClient => " (dry run)",
        Write::DryRunServer => " (server dry run)",
        Write::None | Write::Written { .. } => "",
    };
    let line = match d.outcome {
        Outcome::Acquired => {
            format!("{name} lease acquired by {claimant} (leaderTransition {})", counter(d.after.as_ref()))
        }
        Outcome::TakenOver => {
            format!(
                "{name} lease taken over by {claimant} (leaderTransition {}): {}",
                counter(d.after.as_ref()),
                d.reason
            )
        }
        Outcome::AlreadyHeld => {
            format!("{name} lease already held by {claimant} (leaderTransition {})", counter(d.before.as_ref()))
        }
        Outcome::Released => match (d.change, &d.before) {
            (Some(Change::Released), Some(before)) => {
                format!("{name} lease released by {claimant} (leaderTransition {})", before.leader_transition)
            }
            _ => format!("{name} lease broken: {}", d.reason),
        },
        Outcome::NotHeld => format!("{name} lease not held: {}", d.reason),
        Outcome::Denied => {
            let verb = if d.action == Some(lease_logic::Action::Release) { "released" } else { "acquired" };
            let hint = if d.remedy == Some(Remedy::Wait) { "; wait for it with --wait" } else { "" };
            format!("{name}: not {verb}: {}{hint}", d.reason)
        }
        Outcome::Invalid => {
            let hint = if d.remedy == Some(Remedy::Force) { " (--force)" } else { "" };
            format!("{name}: lease is invalid: {}{hint}", d.reason)
        }
        other => format!("{name}: {other}: {}", d.reason),
    };
    format!("{line}{suffix}")
}
