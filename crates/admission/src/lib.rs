//! The csplease admission webhook's envelope: an `admission.k8s.io/v1` AdmissionReview in, the
//! lease module's `review` request out, the module's decision back into an AdmissionReview
//! response.
//!
//! Pure: no I/O, no clock, and no decisions of its own: whether a write is allowed is the lease
//! module's `review` (SPEC.md section 3), and the conversation with it ("look this pod up, then
//! ask again") is the core's [`lease_logic::Exchange`]. The server (`csplease-wasm serve`) runs it
//! with the module in wasmtime as the evaluator and kube-rs for the one pod lookup a decision may
//! ask for; the fuzz target runs it with the native core.
//!
//! ```
//! use csplease_admission::Admission;
//!
//! let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
//!     "request":{"uid":"705ab4f5","operation":"DELETE","name":"csp-1"}}"#;
//! let admission = Admission::parse(body, &[])?;
//! // The server evaluates with the lease module in wasmtime; here, the native core. A DELETE is
//! // always allowed (SPEC rule 1), so no pod is looked up.
//! let response = futures_lite_block_on(admission.judge(lease_logic::evaluate_json, |_pod| async {
//!     lease_logic::PodFacts::NotFound
//! }));
//! assert!(response.allowed);
//! assert!(String::from_utf8(response.body)?.contains(r#""uid":"705ab4f5","allowed":true"#));
//! # fn futures_lite_block_on<T>(future: impl std::future::Future<Output = T>) -> T {
//! #     let mut future = std::pin::pin!(future);
//! #     let mut context = std::task::Context::from_waker(std::task::Waker::noop());
//! #     loop {
//! #         if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) { return value; }
//! #     }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use lease_logic::{Exchange, Outcome, PodFacts, PodRef, Turn, Verdict};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The one AdmissionReview version the webhook speaks (the configuration must list only it in
/// `admissionReviewVersions`).
pub const API_VERSION: &str = "admission.k8s.io/v1";

/// The largest request body the webhook reads: an UPDATE carries the old and the new object,
/// each at most the API server's 1.5 MiB object limit.
pub const MAX_BODY: usize = 3 << 20;

/// Why a request body is not an AdmissionReview the webhook can judge. The server answers these
/// with HTTP 400 (and 413 for [`BodyError::TooLarge`]); the API server then applies the
/// webhook's failure policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Over [`MAX_BODY`].
    #[error("the request body is over the {MAX_BODY}-byte limit")]
    TooLarge,
    /// Not JSON, or not an object of the expected shape.
    #[error("the body is not an AdmissionReview: {0}")]
    NotAReview(String),
    /// `apiVersion` or `kind` is not `admission.k8s.io/v1` `AdmissionReview`.
    #[error("expected an {API_VERSION} AdmissionReview, got apiVersion {api_version:?} kind {kind:?}")]
    WrongVersion {
        /// The body's `apiVersion`.
        api_version: String,
        /// The body's `kind`.
        kind: String,
    },
    /// No `request`, or one without a non-empty string `uid`.
    #[error("the AdmissionReview has no request with a uid")]
    NoRequest,
}

/// A parsed AdmissionReview, borrowing the body: its request is handed to the module verbatim.
#[derive(Debug)]
pub struct Admission<'a> {
    request: &'a RawValue,
    uid: String,
    /// The break-glass groups to send, when configured (else the module's default applies).
    break_glass: Option<String>,
    /// What the log line names: the operation, the object and who asked.
    pub about: About,
}

/// What a review was about, for logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    /// `request.operation`.
    pub operation: String,
    /// `request.name`.
    pub name: String,
    /// `request.userInfo.username`.
    pub user: String,
}

/// An AdmissionReview response and what it says, for metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The AdmissionReview, JSON.
    pub body: Vec<u8>,
    /// Whether the write is allowed.
    pub allowed: bool,
    /// The module's outcome (`allowed`, `denied`, `invalid`), or `error` when its decision could
    /// not be acted on.
    pub outcome: String,
    /// The reason given to the requester.
    pub reason: String,
    /// The denial's class for the metrics (see [`Response::denial`]); `None` when allowed.
    pub denial: Option<Denial>,
}

/// Why a write was denied, coarsely, from the decision's fields: the metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The old holder is live (`live` is `true`).
    HolderLive,
    /// Any other `denied`: a counter that skips or goes back, another pod's lease written by a
    /// pod, an unreadable new lease.
    Protocol,
    /// `invalid`: the request itself could not be judged.
    InvalidRequest,
    /// The module still needed a pod's state after it was given one, or its decision was
    /// unreadable.
    Undecided,
}

impl Denial {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Denial::HolderLive => "holder_live",
            Denial::Protocol => "protocol",
            Denial::InvalidRequest => "invalid_request",
            Denial::Undecided => "undecided",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(borrow, default)]
    request: Option<&'a RawValue>,
}

/// The request members the webhook reads itself, each of any type: only the module judges types
/// (a `userInfo` of the wrong type is its `invalid`, answered to the request's uid).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RequestMeta {
    uid: Option<serde_json::Value>,
    operation: Option<serde_json::Value>,
    name: Option<serde_json::Value>,
    user_info: Option<serde_json::Value>,
}

/// `value` when it is a string, else empty.
fn text(value: Option<&serde_json::Value>) -> String {
    value.and_then(serde_json::Value::as_str).unwrap_or_default().to_owned()
}

impl<'a> Admission<'a> {
    /// Reads an AdmissionReview body. `break_glass` replaces the module's default break-glass
    /// groups (`system:masters`) when not empty.
    ///
    /// Only the envelope is checked here; the request inside goes to the module as it came, and
    /// the module judges it (a request it cannot read is `invalid`, and denied).
    ///
    /// # Errors
    /// [`BodyError`] when the body is too large or not a `v1` AdmissionReview with a request uid.
    pub fn parse(body: &'a [u8], break_glass: &[String]) -> Result<Admission<'a>, BodyError> {
        if body.len() > MAX_BODY {
            return Err(BodyError::TooLarge);
        }
        // serde would also take a struct from an array; an AdmissionReview is an object.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(BodyError::NotAReview("not a JSON object".into()));
        }
        let envelope: Envelope<'a> =
            serde_json::from_slice(body).map_err(|e| BodyError::NotAReview(one_line(&e.to_string())))?;
        let api_version = envelope.api_version.unwrap_or_default();
        let kind = envelope.kind.unwrap_or_default();
        if api_version != API_VERSION || kind != "AdmissionReview" {
            return Err(BodyError::WrongVersion { api_version, kind });
        }
        let request = envelope.request.ok_or(BodyError::NoRequest)?;
        // Lenient: a request the module will call invalid still gets a denial with the module's
        // reason, as long as it has a uid to answer to.
        let meta: RequestMeta = serde_json::from_str(request.get()).unwrap_or_default();
        let uid = Some(text(meta.uid.as_ref())).filter(|uid| !uid.is_empty()).ok_or(BodyError::NoRequest)?;
        let about = About {
            operation: text(meta.operation.as_ref()),
            name: text(meta.name.as_ref()),
            user: text(meta.user_info.as_ref().and_then(|u| u.get("username"))),
        };
        let break_glass = (!break_glass.is_empty()).then(|| json_text(&break_glass));
        Ok(Admission { request, uid, break_glass, about })
    }

    /// The request's uid, which the response echoes.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The module's `review` request for this AdmissionReview (the conversation adds the
    /// holder pod's state when the module asks for it).
    pub fn request(&self) -> Vec<u8> {
        let raw = self.request.get();
        let mut out = Vec::with_capacity(raw.len() + 160);
        out.extend_from_slice(br#"{"action":"review","request":"#);
        out.extend_from_slice(raw.as_bytes());
        if let Some(groups) = &self.break_glass {
            out.extend_from_slice(br#","breakGlassGroups":"#);
            out.extend_from_slice(groups.as_bytes());
        }
        out.push(b'}');
        out
    }

    /// Judges this AdmissionReview: runs the core's conversation ([`Exchange`]) with `evaluate`
    /// (a request document in, a decision document out) and, when the module asks for a pod,
    /// `lookup` (what the API returned for it; any failure is [`PodFacts::LookupFailed`]).
    pub async fn judge<F>(
        &self,
        mut evaluate: impl FnMut(&[u8]) -> Vec<u8>,
        mut lookup: impl FnMut(PodRef) -> F,
    ) -> Response
    where
        F: std::future::Future<Output = PodFacts>,
    {
        let mut exchange = Exchange::new(self.request());
        loop {
            match exchange.read(&evaluate(exchange.request())) {
                Turn::Decided(verdict) => return self.respond_to(verdict),
                Turn::LookUp(pod) => {
                    let facts = lookup(pod.clone()).await;
                    exchange.resume(pod, &facts);
                }
                Turn::Undecided(why) => {
                    return self.deny(
                        "error",
                        format!("the lease module gave no usable decision: {why}"),
                        500,
                        Denial::Undecided,
                    );
                }
            }
        }
    }

    /// The response for the module's verdict.
    fn respond_to(&self, verdict: Verdict) -> Response {
        let Verdict { outcome, reason, live } = verdict;
        match outcome {
            Outcome::Allowed => self.respond(true, outcome.as_str(), reason, None),
            Outcome::Denied => {
                let class = if live == Some(true) { Denial::HolderLive } else { Denial::Protocol };
                self.deny(outcome.as_str(), reason, 403, class)
            }
            Outcome::Invalid => self.deny(outcome.as_str(), reason, 400, Denial::InvalidRequest),
            other => {
                let reason = format!("the lease module answered {:?}, not a review outcome: {reason}", other.as_str());
                self.deny("error", reason, 500, Denial::Undecided)
            }
        }
    }

    fn deny(&self, outcome: &str, reason: String, code: u16, class: Denial) -> Response {
        self.respond(false, outcome, reason, Some((code, class)))
    }

    fn respond(&self, allowed: bool, outcome: &str, reason: String, denial: Option<(u16, Denial)>) -> Response {
        let mut body = Vec::with_capacity(160 + self.uid.len() + reason.len());
        body.extend_from_slice(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"#);
        body.extend_from_slice(json_text(&self.uid).as_bytes());
        body.extend_from_slice(if allowed { br#","allowed":true"# } else { br#","allowed":false"# });
        if let Some((code, _)) = denial {
            let status = match code {
                403 => "Forbidden",
                400 => "BadRequest",
                _ => "InternalError",
            };
            body.extend_from_slice(format!(r#","status":{{"code":{code},"reason":"{status}","message":"#).as_bytes());
            body.extend_from_slice(json_text(&reason).as_bytes());
            body.push(b'}');
        }
        body.extend_from_slice(br#","auditAnnotations":{"outcome":"#);
        body.extend_from_slice(json_text(outcome).as_bytes());
        body.extend_from_slice(b"}}}");
        Response { body, allowed, outcome: outcome.to_owned(), reason, denial: denial.map(|(_, class)| class) }
    }
}

/// `value` as JSON text.
fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Strings and arrays of strings always serialize.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// `text` on one line: runs of whitespace, newlines included, become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(request: &str) -> String {
        format!(r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{request}}}"#)
    }

    const DENIED: &[u8] = br#"{"action":"review","outcome":"denied","reason":"holder openebs/a is running","before":null,"after":null,"annotation":null,"patch":null,"lookup":null,"live":true}"#;

    /// Judges with an evaluator that always answers `decision`.
    fn judged(admission: &Admission<'_>, decision: &'static [u8]) -> Response {
        now(admission.judge(|_| decision.to_vec(), |_| async { PodFacts::NotFound }))
    }

    #[test]
    fn the_request_goes_to_the_module_verbatim_with_the_configured_groups() {
        let body = review(r#"{"uid":"u-1","operation":"UPDATE", "name":"csp-1","userInfo":{"username":"bob"}}"#);
        let groups = ["ops:breakglass".to_owned()];
        let admission = Admission::parse(body.as_bytes(), &groups).expect("a review");
        assert_eq!(admission.uid(), "u-1");
        assert_eq!(admission.about, About { operation: "UPDATE".into(), name: "csp-1".into(), user: "bob".into() });
        assert_eq!(
            String::from_utf8(admission.request()).expect("utf-8"),
            r#"{"action":"review","request":{"uid":"u-1","operation":"UPDATE", "name":"csp-1","userInfo":{"username":"bob"}},"breakGlassGroups":["ops:breakglass"]}"#
        );
        let plain = Admission::parse(body.as_bytes(), &[]).expect("a review");
        assert!(!String::from_utf8(plain.request()).expect("utf-8").contains("breakGlassGroups"));
    }

    #[test]
    fn a_denial_carries_the_modules_reason_and_uid() {
        let body = review(r#"{"uid":"u\"2","operation":"UPDATE"}"#);
        let admission = Admission::parse(body.as_bytes(), &[]).expect("a review");
        let response = judged(&admission, DENIED);
        assert_eq!(
            String::from_utf8(response.body).expect("utf-8"),
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u\"2","allowed":false,"status":{"code":403,"reason":"Forbidden","message":"holder openebs/a is running"},"auditAnnotations":{"outcome":"denied"}}}"#
        );
        assert_eq!(response.denial, Some(Denial::HolderLive));
    }

    /// Polls a future that never waits (the lookups here answer at once) to its end.
    fn now<T>(future: impl std::future::Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
        }
    }

    #[test]
    fn judging_looks_the_holder_up_once_and_asks_the_core_again() {
        let lease = |holder: &str, n: u32| format!(r#"{{\"holder\":\"{holder}\",\"leaderTransition\":{n}}}"#);
        let object = |holder: &str, n: u32| {
            format!(
                r#"{{"metadata":{{"name":"csp-1","annotations":{{"openebs.io/csp-lease":"{}"}}}}}}"#,
                lease(holder, n)
            )
        };
        let body = review(&format!(
            r#"{{"uid":"u-7","operation":"UPDATE","userInfo":{{"username":"alice"}},"oldObject":{},"object":{}}}"#,
            object("openebs/a", 3),
            object("openebs/b", 4)
        ));
        let admission = Admission::parse(body.as_bytes(), &[]).expect("a review");
        let found = |phase: &str| PodFacts::Found { phase: Some(phase.to_owned()) };
        let failed = PodFacts::LookupFailed { error: "timeout".into() };
        for (facts, allowed) in [
            (PodFacts::NotFound, true),
            (found("Failed"), true),
            (found("Running"), false),
            (found("NotAPhase"), false),
            (failed, false),
        ] {
            let mut asked = Vec::new();
            let response = now(admission.judge(lease_logic::evaluate_json, |pod| {
                asked.push(pod.to_string());
                let facts = facts.clone();
                async move { facts }
            }));
            assert_eq!(asked, ["openebs/a"], "{facts:?}");
            assert_eq!(response.allowed, allowed, "{facts:?}: {}", response.reason);
            if !allowed {
                assert_eq!(response.denial, Some(Denial::HolderLive), "{facts:?}");
            }
        }
    }

    #[test]
    fn invalid_unreadable_and_repeated_asks_deny() {
        let body = review(r#"{"uid":"u"}"#);
        let admission = Admission::parse(body.as_bytes(), &[]).expect("a review");
        let invalid = br#"{"action":"review","outcome":"invalid","reason":"`request.object` is not an object"}"#;
        let response = judged(&admission, invalid);
        assert!(!response.allowed);
        assert_eq!(response.denial, Some(Denial::InvalidRequest));
        assert!(String::from_utf8_lossy(&response.body).contains(r#""code":400"#));
        for undecided in [
            &b"\xff"[..],
            br#"{"outcome":"acquired"}"#,
            br#"{"outcome":"needHolderStatus","lookup":{"namespace":"openebs","name":"a"}}"#,
        ] {
            let response = now(admission.judge(|_| undecided.to_vec(), |_| async { PodFacts::NotFound }));
            assert!(!response.allowed);
            assert_eq!(response.denial, Some(Denial::Undecided), "{}", String::from_utf8_lossy(undecided));
        }
    }

    #[test]
    fn bodies_that_are_not_v1_reviews_are_refused() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not an AdmissionReview"),
            (b"[]", "not an AdmissionReview"),
            (b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"a\"}", "not an"),
            (br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"a"}}"#, "v1beta1"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"a"}}"#, "Pod"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "no request"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}"#, "no request"),
            (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":7}"#, "no request"),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a"},"request":{"uid":"b"}}"#,
                "duplicate field",
            ),
        ];
        for (body, expected) in cases {
            let err = Admission::parse(body, &[]).expect_err("refused");
            let text = err.to_string();
            assert!(text.contains(expected), "{}: {text}", String::from_utf8_lossy(body));
            assert!(!text.contains('\n'), "{text}");
        }
        let huge = vec![b' '; MAX_BODY + 1];
        assert_eq!(Admission::parse(&huge, &[]).expect_err("too large"), BodyError::TooLarge);
    }
}
