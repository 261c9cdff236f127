//! The wire entry point: a request document in, a decision document out (SPEC.md section 5).
//!
//! Every runtime (the native library, the WASM module in wasmtime and in the browser) calls
//! [`evaluate_json`], so they answer byte for byte alike.

use crate::actions::{self, Observed};
use crate::decision::{Action, Decision};
use crate::json::{self, Duplicates, Json, Object};
use crate::lease::{DEFAULT_LEASE_KEY, LeaseSlot};
use crate::pod::{PodRef, PodStatus};
use crate::review::{self, DEFAULT_BREAK_GLASS_GROUP, Operation, Requester, Review};
use std::borrow::Cow;

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
    let Some(request) = document.root().object() else {
        return Decision::invalid(
            None,
            format!("the request is {}, not an object", document.root().decode().type_name()),
        );
    };
    let request = Fields(request);
    let action = match request.get("action") {
        None => return Decision::invalid(None, "the request has no \"action\""),
        Some(Json::String(name)) => match Action::from_name(&name) {
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
    match read_and_decide(action, &request) {
        Ok(decision) => decision,
        Err(reason) => Decision::invalid(Some(action), reason),
    }
}

/// An object's members, a `null` member counting as absent.
struct Fields<'a>(Object<'a>);

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> Option<Json<'a>> {
        self.0.get(name).map(json::Raw::decode).filter(|v| !matches!(v, Json::Null))
    }
}

/// Reads the members `action` uses, checking each, then decides.
fn read_and_decide(action: Action, request: &Fields<'_>) -> Result<Decision, String> {
    let lease_key = lease_key(request)?;
    let lease_key = lease_key.as_ref();
    let holder = holder_pod(request)?;
    match action {
        Action::Hold => {
            let site = site(request.get("object"), "object", lease_key)?;
            let claimant = claimant(request)?.ok_or("\"claimant\" is required for hold")?;
            let force = force(request)?;
            Ok(actions::hold(&site.observed(lease_key), &claimant, holder.as_ref(), force))
        }
        Action::Release => {
            let site = site(request.get("object"), "object", lease_key)?;
            let claimant = claimant(request)?;
            let force = force(request)?;
            if claimant.is_none() && !force {
                return Err("\"claimant\" is required for release without force".into());
            }
            Ok(actions::release(&site.observed(lease_key), claimant.as_ref(), force))
        }
        Action::Status => {
            let site = site(request.get("object"), "object", lease_key)?;
            Ok(actions::status(&site.observed(lease_key), holder.as_ref()))
        }
        Action::Review => {
            let admission = match request.get("request") {
                Some(Json::Object(object)) => Fields(object),
                Some(other) => {
                    return Err(format!("\"request\" is {}, not an AdmissionRequest object", other.type_name()));
                }
                None => return Err("\"request\" (the AdmissionRequest) is required for review".into()),
            };
            let break_glass_groups = match request.get("breakGlassGroups") {
                None => vec![Cow::Borrowed(DEFAULT_BREAK_GLASS_GROUP)],
                Some(groups) => strings(groups, "breakGlassGroups")?,
            };
            let operation = match admission.get("operation") {
                Some(Json::String(op)) => Operation::from_name(&op)
                    .ok_or_else(|| format!("\"request.operation\" {op:?} is not CREATE, UPDATE or DELETE"))?,
                Some(other) => return Err(format!("\"request.operation\" is {}, not a string", other.type_name())),
                None => return Err("\"request.operation\" is required".into()),
            };
            let (pod, groups) = requester(&admission)?;
            let (old, new) = match operation {
                Operation::Create => (Site::VACANT, site(admission.get("object"), "request.object", lease_key)?),
                Operation::Update => (
                    site(admission.get("oldObject"), "request.oldObject", lease_key)?,
                    site(admission.get("object"), "request.object", lease_key)?,
                ),
                Operation::Delete => (Site::VACANT, Site::VACANT),
            };
            Ok(review::review(&Review {
                operation,
                old: old.observed(lease_key).slot,
                new: new.observed(lease_key).slot,
                requester: Requester { pod, groups: groups.iter().map(AsRef::as_ref).collect() },
                break_glass_groups: break_glass_groups.iter().map(AsRef::as_ref).collect(),
                holder: holder.as_ref(),
            }))
        }
    }
}

/// Where the lease stands in a CStorPool object of the request (its strings decoded).
struct Site<'a> {
    /// `None`: no annotations map; `Some(None)`: no such key.
    value: Option<Option<Cow<'a, str>>>,
    resource_version: Option<Cow<'a, str>>,
}

impl<'a> Site<'a> {
    const VACANT: Site<'static> = Site { value: None, resource_version: None };

    fn observed<'s>(&'s self, lease_key: &'s str) -> Observed<'s> {
        let slot = match &self.value {
            None => LeaseSlot::NoAnnotations,
            Some(None) => LeaseSlot::NoKey,
            Some(Some(value)) => LeaseSlot::Value(value),
        };
        Observed { lease_key, slot, resource_version: self.resource_version.as_deref() }
    }
}

fn lease_key<'a>(request: &Fields<'a>) -> Result<Cow<'a, str>, String> {
    match request.get("leaseKey") {
        None => Ok(Cow::Borrowed(DEFAULT_LEASE_KEY)),
        Some(Json::String(key)) if !key.is_empty() => Ok(key),
        Some(Json::String(_)) => Err("\"leaseKey\" is empty".into()),
        Some(other) => Err(format!("\"leaseKey\" is {}, not a string", other.type_name())),
    }
}

fn force(request: &Fields<'_>) -> Result<bool, String> {
    match request.get("force") {
        None => Ok(false),
        Some(Json::Bool(force)) => Ok(force),
        Some(other) => Err(format!("\"force\" is {}, not a boolean", other.type_name())),
    }
}

fn pod_ref(value: Json<'_>, field: &str) -> Result<PodRef, String> {
    match value {
        Json::String(text) => text.parse().map_err(|e| format!("\"{field}\": {e}")),
        other => Err(format!("\"{field}\" is {}, not a string NAMESPACE/NAME", other.type_name())),
    }
}

fn claimant(request: &Fields<'_>) -> Result<Option<PodRef>, String> {
    request.get("claimant").map(|c| pod_ref(c, "claimant")).transpose()
}

fn holder_pod(request: &Fields<'_>) -> Result<Option<PodStatus>, String> {
    let Some(value) = request.get("holderPod") else { return Ok(None) };
    let Json::Object(object) = value else {
        return Err(format!("\"holderPod\" is {}, not an object {{\"pod\",\"state\"}}", value.type_name()));
    };
    let members = Fields(object);
    let pod = pod_ref(members.get("pod").ok_or("\"holderPod.pod\" is required")?, "holderPod.pod")?;
    let state = match members.get("state") {
        Some(Json::String(state)) => state.parse().map_err(|e| format!("\"holderPod.state\": {e}"))?,
        Some(other) => return Err(format!("\"holderPod.state\" is {}, not a string", other.type_name())),
        None => return Err("\"holderPod.state\" is required".into()),
    };
    Ok(Some(PodStatus { pod, state }))
}

/// Reads the lease and the resource version of a CStorPool object.
fn site<'a>(object: Option<Json<'a>>, field: &str, lease_key: &str) -> Result<Site<'a>, String> {
    let object = match object {
        Some(Json::Object(object)) => object,
        Some(other) => return Err(format!("\"{field}\" is {}, not a CStorPool object", other.type_name())),
        None => return Err(format!("\"{field}\" is required")),
    };
    let metadata = match object.get("metadata").map(json::Raw::decode) {
        Some(Json::Object(metadata)) => Fields(metadata),
        Some(other) => return Err(format!("\"{field}.metadata\" is {}, not an object", other.type_name())),
        None => return Err(format!("\"{field}.metadata\" is required")),
    };
    let value = match metadata.get("annotations") {
        None => None,
        Some(Json::Object(annotations)) => match annotations.get(lease_key).map(json::Raw::decode) {
            None => Some(None),
            Some(Json::String(value)) => Some(Some(value)),
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
        Some(Json::String(rv)) => Some(rv),
        _ => None,
    };
    Ok(Site { value, resource_version })
}

/// An array of strings.
fn strings<'a>(value: Json<'a>, field: &str) -> Result<Vec<Cow<'a, str>>, String> {
    let Json::Array(items) = value else {
        return Err(format!("\"{field}\" is {}, not an array of strings", value.type_name()));
    };
    items
        .items()
        .map(|item| match item.decode() {
            Json::String(s) => Ok(s),
            other => Err(format!("\"{field}\" holds {}, not only strings", other.type_name())),
        })
        .collect()
}

/// The requester's pod identity and groups.
type Identity<'a> = (Option<String>, Vec<Cow<'a, str>>);

/// Reads `userInfo`: the requester's pod identity and groups (SPEC.md section 3, **review**).
fn requester<'a>(admission: &Fields<'a>) -> Result<Identity<'a>, String> {
    let Some(user) = admission.get("userInfo") else { return Ok((None, Vec::new())) };
    let Json::Object(user) = user else {
        return Err(format!("\"request.userInfo\" is {}, not an object", user.type_name()));
    };
    let user = Fields(user);
    let username = match user.get("username") {
        None => None,
        Some(Json::String(name)) => Some(name),
        Some(other) => return Err(format!("\"request.userInfo.username\" is {}, not a string", other.type_name())),
    };
    let groups = user.get("groups").map(|g| strings(g, "request.userInfo.groups")).transpose()?.unwrap_or_default();
    let mut pod_name = None;
    match user.get("extra") {
        None => {}
        Some(Json::Object(entries)) => {
            for (key, values) in entries.iter() {
                let values = strings(values.decode(), &format!("request.userInfo.extra[{key:?}]"))?;
                if key == POD_NAME_EXTRA {
                    pod_name = Some(values);
                }
            }
        }
        Some(other) => return Err(format!("\"request.userInfo.extra\" is {}, not an object", other.type_name())),
    }
    let service_account_namespace = username.as_deref().and_then(|name| {
        let parts: Vec<&str> = name.split(':').collect();
        match parts.as_slice() {
            ["system", "serviceaccount", namespace, account] if !namespace.is_empty() && !account.is_empty() => {
                Some(namespace.to_string())
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
    Ok((pod, groups))
}
