//! Pods: the references that name a lease's holder or claimant, and the states a lookup reports.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A valid pod reference, `namespace/name` (SPEC.md section 2).
///
/// The namespace is a DNS-1123 label (at most 63 characters) and the name a DNS-1123 subdomain
/// (at most 253 characters); nothing is trimmed.
///
/// ```
/// use lease_logic::PodRef;
/// let pod: PodRef = "openebs/cstor-pool-a-6bbc79f5fd-9dlmb".parse()?;
/// assert_eq!(pod.namespace(), "openebs");
/// assert!("openebs/".parse::<PodRef>().is_err());
/// # Ok::<(), lease_logic::InvalidPodRef>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodRef {
    /// `namespace/name`, validated.
    text: String,
    /// Where the `/` is.
    slash: usize,
}

/// Serialises as `{"namespace": ..., "name": ...}`, the `lookup` of a decision document.
impl Serialize for PodRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut pod = serializer.serialize_struct("PodRef", 2)?;
        pod.serialize_field("namespace", self.namespace())?;
        pod.serialize_field("name", self.name())?;
        pod.end()
    }
}

/// Why a string is not a valid pod reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPodRef {
    /// The string as given.
    pub input: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

const NAMESPACE_RULE: &str = "the namespace must be a DNS-1123 label (lowercase letters, digits and '-', at most 63)";
const NAME_RULE: &str = "the name must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253)";

impl fmt::Display for InvalidPodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a pod reference NAMESPACE/NAME: {}", self.input, self.problem)
    }
}

impl std::error::Error for InvalidPodRef {}

impl PodRef {
    /// Checks `namespace` and `name` and joins them into a reference.
    pub fn new(namespace: &str, name: &str) -> Result<Self, InvalidPodRef> {
        let invalid = |problem| InvalidPodRef { input: format!("{namespace}/{name}"), problem };
        if !is_dns1123_label(namespace) {
            return Err(invalid(NAMESPACE_RULE));
        }
        if !is_dns1123_subdomain(name) {
            return Err(invalid(NAME_RULE));
        }
        Ok(PodRef { text: format!("{namespace}/{name}"), slash: namespace.len() })
    }

    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        self.text.get(..self.slash).unwrap_or("")
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        self.text.get(self.slash + 1..).unwrap_or("")
    }

    /// The reference as written, `namespace/name`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `text` is exactly this reference, `namespace/name`.
    pub fn is(&self, text: &str) -> bool {
        self.text == text
    }
}

impl FromStr for PodRef {
    type Err = InvalidPodRef;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some(slash) = text.bytes().position(|b| b == b'/') else {
            return Err(InvalidPodRef { input: text.to_owned(), problem: "it has no '/'" });
        };
        let (namespace, name) = (&text[..slash], &text[slash + 1..]);
        // A name that is a DNS-1123 subdomain has no '/'.
        if is_dns1123_label(namespace) && is_dns1123_subdomain(name) {
            return Ok(PodRef { text: text.to_owned(), slash });
        }
        let problem = if name.contains('/') {
            "it has more than one '/'"
        } else if !is_dns1123_label(namespace) {
            NAMESPACE_RULE
        } else {
            NAME_RULE
        };
        Err(InvalidPodRef { input: text.to_owned(), problem })
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(text: &str) -> bool {
    text.len() <= 63 && is_dns1123(text, false)
}

/// A DNS-1123 subdomain: labels `[a-z0-9]([-a-z0-9]*[a-z0-9])?` joined by `.`, at most 253
/// characters.
pub fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= 253 && is_dns1123(text, true)
}

/// One or more DNS-1123 labels, joined by `.` when `dots` allows it (one pass over the bytes).
fn is_dns1123(text: &str, dots: bool) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if text.is_empty() {
        return false;
    }
    // `previous` starts as a label boundary: a label may not start with `-` or `.`.
    let mut previous = b'.';
    for &byte in text.as_bytes() {
        let fits = match byte {
            b'.' => dots && alnum(previous),
            b'-' => previous != b'.',
            other => alnum(other),
        };
        if !fits {
            return false;
        }
        previous = byte;
    }
    alnum(previous)
}

/// What a lookup of a pod reported (SPEC.md section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodState {
    /// Phase `Running`.
    Running,
    /// Phase `Pending`: some containers may already run, so it counts as live.
    Pending,
    /// Phase `Succeeded`.
    Succeeded,
    /// Phase `Failed`.
    Failed,
    /// Phase `Unknown` (or no phase).
    Unknown,
    /// The API answered 404: the pod does not exist.
    NotFound,
    /// The lookup failed in any other way.
    LookupFailed,
}

impl PodState {
    /// Every state, in the order SPEC.md lists them.
    pub const ALL: [PodState; 7] = [
        PodState::Running,
        PodState::Pending,
        PodState::Succeeded,
        PodState::Failed,
        PodState::Unknown,
        PodState::NotFound,
        PodState::LookupFailed,
    ];

    /// Whether a pod in this state may still be running the pool: `Running`, `Pending`,
    /// `Unknown` and `LookupFailed` are live; `NotFound`, `Succeeded` and `Failed` are dead.
    pub fn is_live(self) -> bool {
        !matches!(self, PodState::NotFound | PodState::Succeeded | PodState::Failed)
    }

    /// The state's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PodState::Running => "Running",
            PodState::Pending => "Pending",
            PodState::Succeeded => "Succeeded",
            PodState::Failed => "Failed",
            PodState::Unknown => "Unknown",
            PodState::NotFound => "NotFound",
            PodState::LookupFailed => "LookupFailed",
        }
    }

    /// "live (Running)" or "dead (pod not found)": whether a pod in this state counts as live,
    /// and why; the words every adapter shows beside a state.
    pub fn liveness(self) -> &'static str {
        match self {
            PodState::Running => "live (Running)",
            PodState::Pending => "live (Pending)",
            PodState::Unknown => "live (Unknown)",
            PodState::LookupFailed => "live (its lookup failed)",
            PodState::Succeeded => "dead (Succeeded)",
            PodState::Failed => "dead (Failed)",
            PodState::NotFound => "dead (pod not found)",
        }
    }

    /// A few words on the state, for reasons: "not found", "Failed", ...
    pub fn describe(self) -> &'static str {
        match self {
            PodState::NotFound => "pod not found",
            PodState::LookupFailed => "its lookup failed",
            other => other.as_str(),
        }
    }
}

impl FromStr for PodState {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PodState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| format!("{text:?} is not a pod state (one of Running, Pending, Succeeded, Failed, Unknown, NotFound, LookupFailed)"))
    }
}

impl fmt::Display for PodState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The observed state of one named pod, as a caller looked it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodStatus {
    /// The pod looked up.
    pub pod: PodRef,
    /// What the lookup found.
    pub state: PodState,
}

impl PodStatus {
    /// The state, if this lookup is of the pod named `holder` (a state for any other pod is
    /// ignored, SPEC.md section 3).
    pub fn of(status: Option<&PodStatus>, holder: &str) -> Option<PodState> {
        status.filter(|s| s.pod.is(holder)).map(|s| s.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_references() {
        let long_label = "a".repeat(63);
        let long_name = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
        assert_eq!(long_name.len(), 253);
        for ok in ["a/b", "openebs/pool-1.x", &format!("{long_label}/{long_name}"), "0/0"] {
            assert!(ok.parse::<PodRef>().is_ok(), "{ok}");
        }
        let too_long_label = "a".repeat(64);
        let too_long_name = format!("{long_name}a");
        for bad in [
            "",
            "/",
            "a",
            "a/",
            "/b",
            "a/b/c",
            "A/b",
            "a/B",
            "a-/b",
            "a/b-",
            "a/.b",
            "a/b..c",
            "a.b/c",
            " a/b",
            "a/b ",
            &format!("{too_long_label}/b"),
            &format!("a/{too_long_name}"),
        ] {
            assert!(bad.parse::<PodRef>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn pod_ref_is_exact() {
        let pod: PodRef = "ns/p".parse().expect("valid");
        assert!(pod.is("ns/p"));
        for other in ["ns/p ", "ns/q", "nsx/p", "ns//p", "n/sp", "ns/pp"] {
            assert!(!pod.is(other), "{other}");
        }
    }

    #[test]
    fn liveness_follows_the_spec() {
        let live: Vec<_> = PodState::ALL.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(live, [PodState::Running, PodState::Pending, PodState::Unknown, PodState::LookupFailed]);
    }
}
