//! Host-capability interactions in kwctl's replay-file format
//! (`kwctl run --replay-host-capabilities-interactions FILE`).
//!
//! The file is a YAML list of events; each is an `Exchange` of a request (the host capability
//! call, as YAML tagged with its kind, e.g. `!KubernetesListResourceNamespace`) and a response,
//! `Success` with the JSON payload the host returned or `Error` with its message:
//!
//! ```yaml
//! - type: Exchange
//!   request: |
//!     !KubernetesListResourceNamespace
//!     api_version: v1
//!     kind: Pod
//!     namespace: openebs
//!     label_selector: null
//!     field_selector: metadata.name=cstor-pool-b
//!     field_masks: null
//!   response:
//!     type: Success
//!     payload: '{"apiVersion":"v1","kind":"PodList","items":[]}'
//! ```
//!
//! A [`Replay`] answers a policy's host calls from such a file. A call matches an exchange when
//! its capability and every field of its request are equal; each exchange answers once, in file
//! order among equal requests. A call that no exchange answers is an error the harness reports
//! (it is also an error to the policy), so a missing recording fails the test loudly.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a replay file cannot be used, or a call was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file is not a list of exchanges.
    #[error("the replay file is not a list of kwctl exchanges: {0}")]
    File(String),
    /// An exchange's request is not a tagged YAML mapping.
    #[error("exchange {index}: the request is not a tagged YAML mapping: {problem}")]
    Request {
        /// The exchange's index in the file.
        index: usize,
        /// What is wrong.
        problem: String,
    },
    /// A host call that no remaining exchange answers.
    #[error("no recorded interaction answers {binding}/{namespace}/{operation} {payload}")]
    Missing {
        /// The waPC binding.
        binding: String,
        /// The capability namespace.
        namespace: String,
        /// The operation.
        operation: String,
        /// The request payload, as the policy sent it.
        payload: String,
    },
}

/// One event of a replay file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// A host capability call and its answer.
    Exchange {
        /// The request, YAML tagged with the request's kind.
        request: String,
        /// What the host answered.
        response: Response,
    },
}

/// What the host answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Response {
    /// The call succeeded; `payload` is what the policy received.
    Success {
        /// The answer, JSON text.
        payload: String,
    },
    /// The call failed with `message`.
    Error {
        /// The host's error.
        message: String,
    },
}

/// A request of the file: the kind (the YAML tag) and the fields.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    kind: String,
    fields: Value,
}

/// Answers host calls from a replay file.
#[derive(Debug)]
pub struct Replay {
    exchanges: Vec<(Recorded, Response)>,
    /// Which exchanges have answered; all of them stay usable when `reuse` is set.
    used: Mutex<Vec<bool>>,
    reuse: bool,
    /// The calls nobody answered since [`Replay::take_missing`] was last called.
    missing: Mutex<Vec<ReplayError>>,
    /// The exchanges that answered since [`Replay::take_answered`] was last called.
    answered: Mutex<Vec<usize>>,
}

/// The request kind of a Kubewarden host capability, as the replay file tags it.
pub fn request_kind(binding: &str, namespace: &str, operation: &str) -> Option<&'static str> {
    match (binding, namespace, operation) {
        ("kubewarden", "kubernetes", "list_resources_by_namespace") => Some("KubernetesListResourceNamespace"),
        ("kubewarden", "kubernetes", "list_resources_all") => Some("KubernetesListResourceAll"),
        ("kubewarden", "kubernetes", "get_resource") => Some("KubernetesGetResource"),
        _ => None,
    }
}

impl Replay {
    /// Reads a replay file; each exchange answers once.
    ///
    /// # Errors
    /// [`ReplayError`] when the text is not a list of exchanges with tagged requests.
    pub fn parse(text: &str) -> Result<Replay, ReplayError> {
        let events: Vec<Event> = serde_yaml_ng::from_str(text).map_err(|e| ReplayError::File(e.to_string()))?;
        let mut exchanges = Vec::with_capacity(events.len());
        for (index, Event::Exchange { request, response }) in events.into_iter().enumerate() {
            let problem = |problem: String| ReplayError::Request { index, problem };
            let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&request).map_err(|e| problem(e.to_string()))?;
            let serde_yaml_ng::Value::Tagged(tagged) = value else {
                return Err(problem("no `!Kind` tag".into()));
            };
            let kind = tagged.tag.to_string().trim_start_matches('!').to_owned();
            let fields: Value = serde_yaml_ng::from_value(tagged.value).map_err(|e| problem(e.to_string()))?;
            exchanges.push((Recorded { kind, fields }, response));
        }
        let used = Mutex::new(vec![false; exchanges.len()]);
        Ok(Replay { exchanges, used, reuse: false, missing: Mutex::new(Vec::new()), answered: Mutex::new(Vec::new()) })
    }

    /// The same replay, with every exchange answering any number of times (for benchmarks).
    pub fn reusable(mut self) -> Replay {
        self.reuse = true;
        self
    }

    /// How many exchanges the file has.
    pub fn len(&self) -> usize {
        self.exchanges.len()
    }

    /// Whether the file has no exchange.
    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty()
    }

    /// The indices of the exchanges that have not answered.
    pub fn unused(&self) -> Vec<usize> {
        let used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        used.iter().enumerate().filter(|(_, used)| !**used).map(|(index, _)| index).collect()
    }

    /// The calls no exchange answered since the last time this was called.
    pub fn take_missing(&self) -> Vec<ReplayError> {
        std::mem::take(&mut *self.missing.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The exchanges that answered since the last time this was called, in order: each request's
    /// fields (as JSON) and the recorded response.
    pub fn take_answered(&self) -> Vec<(Value, Response)> {
        let answered = std::mem::take(&mut *self.answered.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        answered
            .into_iter()
            .map(|index| (self.exchanges[index].0.fields.clone(), self.exchanges[index].1.clone()))
            .collect()
    }

    /// Answers one waPC host call: the recorded `Success` payload, or the recorded `Error` (and a
    /// missing recording) as an error.
    pub fn answer(&self, binding: &str, namespace: &str, operation: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let call = request_kind(binding, namespace, operation)
            .zip(serde_json::from_slice::<Value>(payload).ok())
            .map(|(kind, fields)| Recorded { kind: kind.to_owned(), fields });
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = call.and_then(|call| {
            self.exchanges
                .iter()
                .enumerate()
                .find(|(index, (recorded, _))| (self.reuse || !used[*index]) && *recorded == call)
                .map(|(index, (_, response))| (index, response))
        });
        match found {
            Some((index, response)) => {
                used[index] = true;
                self.answered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(index);
                match response {
                    Response::Success { payload } => Ok(payload.clone().into_bytes()),
                    Response::Error { message } => Err(message.clone()),
                }
            }
            None => {
                let missing = ReplayError::Missing {
                    binding: binding.to_owned(),
                    namespace: namespace.to_owned(),
                    operation: operation.to_owned(),
                    payload: String::from_utf8_lossy(payload).into_owned(),
                };
                let message = missing.to_string();
                self.missing.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(missing);
                Err(message)
            }
        }
    }
}
