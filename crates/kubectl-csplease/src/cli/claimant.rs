//! Who claims the lease: `--holder NAMESPACE/POD` (or `POD` with `-n`), else
//! `$NAMESPACE/$POD_NAME` as pool pods set them.

use lease_logic::PodRef;

use super::{Command, Env, Flags};
use crate::connect::Connected;

/// How `--help` explains the claimant.
pub(super) const HELP: &str = "\
The claimant is --holder NAMESPACE/POD (or POD with -n), else $NAMESPACE/$POD_NAME as pool
pods set them.";

/// The usage error of a command that needs a claimant and has none.
pub(super) const NO_CLAIMANT: &str =
    "no claimant: pass --holder NAMESPACE/POD, or set NAMESPACE and POD_NAME as pool pods do";

/// The usage errors about the claimant that need no cluster: a command that needs one and has
/// none, or a `--holder NAMESPACE/POD` that is not a pod reference.
pub(super) fn check(command: &Command, flags: &Flags, env: &Env) -> Result<(), String> {
    let needs_claimant = match command {
        Command::Hold { .. } | Command::Run { .. } => true,
        Command::Release { force, .. } => !force,
        _ => false,
    };
    if needs_claimant && flags.holder.is_none() && env.pod_name.is_none() {
        return Err(NO_CLAIMANT.to_owned());
    }
    if let Some(holder) = flags.holder.as_ref().filter(|h| h.contains('/'))
        && let Err(e) = holder.parse::<PodRef>()
    {
        return Err(format!("invalid claimant from --holder: {e}"));
    }
    Ok(())
}

/// The claimant of a command that needs one (`hold`, `run`); having none is the usage error
/// [`check`] gives before anything is loaded.
pub(super) fn required(flags: &Flags, env: &Env, connected: &Connected) -> Result<PodRef, String> {
    claimant(flags, env, connected)?.ok_or_else(|| NO_CLAIMANT.to_owned())
}

/// The claimant: `--holder` (with `-n`, `$NAMESPACE` or the context's namespace when it names only
/// a pod), else `$NAMESPACE/$POD_NAME`; `None` when neither is there.
pub(super) fn claimant(flags: &Flags, env: &Env, connected: &Connected) -> Result<Option<PodRef>, String> {
    let namespace =
        || flags.namespace.clone().or_else(|| env.namespace.clone()).unwrap_or_else(|| connected.namespace.clone());
    let (text, from) = match (&flags.holder, &env.pod_name) {
        (Some(holder), _) if holder.contains('/') => (holder.clone(), "--holder"),
        (Some(holder), _) => (format!("{}/{holder}", namespace()), "--holder"),
        (None, Some(pod)) => {
            let ns = env
                .namespace
                .clone()
                .or_else(|| flags.namespace.clone())
                .unwrap_or_else(|| connected.namespace.clone());
            (format!("{ns}/{pod}"), "$NAMESPACE/$POD_NAME")
        }
        (None, None) => return Ok(None),
    };
    text.parse::<PodRef>().map(Some).map_err(|e| format!("invalid claimant from {from}: {e}"))
}
