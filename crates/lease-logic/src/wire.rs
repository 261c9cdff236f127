//! The wire entry point: a request document in, a decision document out (SPEC.md section 5).
//!
//! Every runtime (the native library, the WASM module in wasmtime and in the browser) calls
//! [`evaluate_json`], so they answer byte for byte alike.

use crate::decide::{self, Observed};
use crate::decision::{Action, Decision};
use crate::json::{self, Duplicates, Json};
use crate::lease::{DEFAULT_LEASE_KEY, LeaseSlot};
use crate::pod::{PodRef, PodStatus};
use crate::review::{self, DEFAULT_BREAK_GLASS_GROUP, Operation, Requester, Review};

/// The extra of a service-account token bound to a pod, naming the pod.
const POD_NAME_EXTRA: &str = "authentication.kubernetes.io/pod-name";

/// Evaluates one request document and returns the decision document.
///
/// Never panics: any input, even bytes that are not JSON, gives a decision document, with
/// outcome `invalid` and a reason naming the field when the request cannot be decided on.
///
/// ```
/// let decision = lease_logic::evaluate_json(br#"{"action":"status","object":{"metadata":{}}}"#);
/// assert!(decision.starts_with(br#"{"action":"status","outcome":"vacant","#));
/// ```
pub fn evaluate_json(request: &[u8]) -> Vec<u8> {
    evaluate(request).to_json()
}

/// Evaluates one request document into a typed [`Decision`].
pub fn evaluate(request: &[u8]) -> Decision {
    let document = match json::parse(request, Duplicates::Reject) {
        Ok(document) => document,
        Err(e) => return Decision::invalid(None, format!("the request is not valid JSON: {e}")),
    };
    if !matches!(document, Json::Object(_)) {
        return Decision::invalid(None, format!("the request is {}, not an object", document.type_name()));
    }
    let request = Members(&document);
    let action = match request.get("action") {
        None => return Decision::invalid(None, "the request has no \"action\""),
        Some(Json::String(name)) => match Action::from_name(name) {
            Some(action) => action,
            None => {
                return Decision::invalid(
                    None,
                    format!("\"action\" {name:?} is not one of hold, release, status, review"),
                );
            }
        },
        Some(other) => return Decision::invalid(None, format!("\"action\" is {}, not a string", other.type_name())),
    };
    match read_and_decide(action, request) {
        Ok(decision) => decision,
        Err(reason) => Decision::invalid(Some(action), reason),
    }
}

/// An object's members, a `null` member counting as absent.
#[derive(Clone, Copy)]
struct Members<'d, 'a>(&'d Json<'a>);

impl<'d, 'a> Members<'d, 'a> {
    fn get(self, name: &str) -> Option<&'d Json<'a>> {
        self.0.get(name).filter(|v| !matches!(v, Json::Null))
    }
}

/// Reads the members `action` uses, checking each, then decides.
fn read_and_decide(action: Action, request: Members<'_, '_>) -> Result<Decision, String> {
    let lease_key = lease_key(request)?;
    let holder = holder_pod(request)?;
    match action {
        Action::Hold => {
            let observed = observed(request.get("object"), "object", lease_key)?;
            let claimant = claimant(request)?.ok_or("\"claimant\" is required for hold")?;
            let force = force(request)?;
            Ok(decide::hold(&observed, &claimant, holder.as_ref(), force))
        }
        Action::Release => {
            let observed = observed(request.get("object"), "object", lease_key)?;
            let claimant = claimant(request)?;
            let force = force(request)?;
            if claimant.is_none() && !force {
                return Err("\"claimant\" is required for release without force".into());
            }
            Ok(decide::release(&observed, claimant.as_ref(), force))
        }
        Action::Status => {
            let observed = observed(request.get("object"), "object", lease_key)?;
            Ok(decide::status(&observed, holder.as_ref()))
        }
        Action::Review => {
            let admission = match request.get("request") {
                Some(object @ Json::Object(_)) => Members(object),
                Some(other) => return Err(format!("\"request\" is {}, not an AdmissionRequest object", other.type_name())),
                None => return Err("\"request\" (the AdmissionRequest) is required for review".into()),
            };
            let break_glass_groups = match request.get("breakGlassGroups") {
                None => vec![DEFAULT_BREAK_GLASS_GROUP],
                Some(groups) => strings(groups, "breakGlassGroups")?,
            };
            let operation = match admission.get("operation") {
                Some(Json::String(op)) => Operation::from_name(op)
                    .ok_or_else(|| format!("\"request.operation\" {op:?} is not CREATE, UPDATE or DELETE"))?,
                Some(other) => return Err(format!("\"request.operation\" is {}, not a string", other.type_name())),
                None => return Err("\"request.operation\" is required".into()),
            };
            let requester = requester(admission)?;
            let vacant = Observed { lease_key, slot: LeaseSlot::NoAnnotations, resource_version: None };
            let (old, new) = match operation {
                Operation::Create => (vacant, observed(admission.get("object"), "request.object", lease_key)?),
                Operation::Update => (
                    observed(admission.get("oldObject"), "request.oldObject", lease_key)?,
                    observed(admission.get("object"), "request.object", lease_key)?,
                ),
                Operation::Delete => (vacant, vacant),
            };
            Ok(review::review(&Review {
                operation,
                old: old.slot,
                new: new.slot,
                requester,
                break_glass_groups,
                holder: holder.as_ref(),
            }))
        }
    }
}

fn lease_key<'d>(request: Members<'d, '_>) -> Result<&'d str, String> {
    match request.get("leaseKey") {
        None => Ok(DEFAULT_LEASE_KEY),
        Some(Json::String(key)) if !key.is_empty() => Ok(key),
        Some(Json::String(_)) => Err("\"leaseKey\" is empty".into()),
        Some(other) => Err(format!("\"leaseKey\" is {}, not a string", other.type_name())),
    }
}

fn force(request: Members<'_, '_>) -> Result<bool, String> {
    match request.get("force") {
        None => Ok(false),
        Some(Json::Bool(force)) => Ok(*force),
        Some(other) => Err(format!("\"force\" is {}, not a boolean", other.type_name())),
    }
}

fn pod_ref(value: &Json<'_>, field: &str) -> Result<PodRef, String> {
    match value {
        Json::String(text) => text.parse().map_err(|e| format!("\"{field}\": {e}")),
        other => Err(format!("\"{field}\" is {}, not a string NAMESPACE/NAME", other.type_name())),
    }
}

fn claimant(request: Members<'_, '_>) -> Result<Option<PodRef>, String> {
    request.get("claimant").map(|c| pod_ref(c, "claimant")).transpose()
}

fn holder_pod(request: Members<'_, '_>) -> Result<Option<PodStatus>, String> {
    let Some(value) = request.get("holderPod") else { return Ok(None) };
    let Json::Object(_) = value else {
        return Err(format!("\"holderPod\" is {}, not an object {{\"pod\",\"state\"}}", value.type_name()));
    };
    let members = Members(value);
    let pod = pod_ref(members.get("pod").ok_or("\"holderPod.pod\" is required")?, "holderPod.pod")?;
    let state = match members.get("state") {
        Some(Json::String(state)) => state.parse().map_err(|e| format!("\"holderPod.state\": {e}"))?,
        Some(other) => return Err(format!("\"holderPod.state\" is {}, not a string", other.type_name())),
        None => return Err("\"holderPod.state\" is required".into()),
    };
    Ok(Some(PodStatus { pod, state }))
}

/// Reads the lease slot and resource version of a CStorPool object.
fn observed<'d>(object: Option<&'d Json<'_>>, field: &str, lease_key: &'d str) -> Result<Observed<'d>, String> {
    let object = match object {
        Some(object @ Json::Object(_)) => Members(object),
        Some(other) => return Err(format!("\"{field}\" is {}, not a CStorPool object", other.type_name())),
        None => return Err(format!("\"{field}\" is required")),
    };
    let metadata = match object.0.get("metadata") {
        Some(metadata @ Json::Object(_)) => Members(metadata),
        Some(other) => return Err(format!("\"{field}.metadata\" is {}, not an object", other.type_name())),
        None => return Err(format!("\"{field}.metadata\" is required")),
    };
    let slot = match metadata.get("annotations") {
        None => LeaseSlot::NoAnnotations,
        Some(annotations @ Json::Object(_)) => match annotations.get(lease_key) {
            None => LeaseSlot::NoKey,
            Some(Json::String(value)) => LeaseSlot::Value(value),
            Some(other) => {
                return Err(format!(
                    "\"{field}.metadata.annotations\" {lease_key:?} is {}, not a string",
                    other.type_name()
                ));
            }
        },
        Some(other) => {
            return Err(format!("\"{field}.metadata.annotations\" is {}, not an object", other.type_name()));
        }
    };
    let resource_version = match metadata.get("resourceVersion") {
        Some(Json::String(rv)) => Some(rv.as_ref()),
        _ => None,
    };
    Ok(Observed { lease_key, slot, resource_version })
}

/// An array of strings.
fn strings<'d>(value: &'d Json<'_>, field: &str) -> Result<Vec<&'d str>, String> {
    let not_strings = || format!("\"{field}\" is {}, not an array of strings", value.type_name());
    let Json::Array(items) = value else { return Err(not_strings()) };
    items
        .iter()
        .map(|item| match item {
            Json::String(s) => Ok(s.as_ref()),
            other => Err(format!("\"{field}\" holds {}, not only strings", other.type_name())),
        })
        .collect()
}

/// Reads `userInfo`: the requester's groups and pod identity (SPEC.md section 3, **review**).
fn requester<'d>(admission: Members<'d, '_>) -> Result<Requester<'d>, String> {
    let Some(user) = admission.get("userInfo") else { return Ok(Requester::default()) };
    let Json::Object(_) = user else {
        return Err(format!("\"request.userInfo\" is {}, not an object", user.type_name()));
    };
    let user = Members(user);
    let username = match user.get("username") {
        None => None,
        Some(Json::String(name)) => Some(name.as_ref()),
        Some(other) => return Err(format!("\"request.userInfo.username\" is {}, not a string", other.type_name())),
    };
    let groups = user.get("groups").map(|g| strings(g, "request.userInfo.groups")).transpose()?.unwrap_or_default();
    let mut pod_name = None;
    match user.get("extra") {
        None => {}
        Some(Json::Object(entries)) => {
            for (key, values) in entries {
                let values = strings(values, &format!("request.userInfo.extra[{key:?}]"))?;
                if key == POD_NAME_EXTRA {
                    pod_name = Some(values);
                }
            }
        }
        Some(other) => return Err(format!("\"request.userInfo.extra\" is {}, not an object", other.type_name())),
    }
    let service_account_namespace = username.and_then(|name| {
        let parts: Vec<&str> = name.split(':').collect();
        match parts.as_slice() {
            ["system", "serviceaccount", namespace, account] if !namespace.is_empty() && !account.is_empty() => {
                Some(*namespace)
            }
            _ => None,
        }
    });
    let pod = match (service_account_namespace, pod_name) {
        (Some(namespace), Some(names)) => match names.as_slice() {
            [name] => Some(format!("{namespace}/{name}")),
            _ => {
                return Err(format!(
                    "\"request.userInfo.extra\" {POD_NAME_EXTRA:?} holds {} strings, not exactly one",
                    names.len()
                ));
            }
        },
        _ => None,
    };
    Ok(Requester { pod, groups })
}
