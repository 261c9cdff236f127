//! The write: one RFC 6902 JSON Patch that is a compare-and-swap (SPEC.md section 4).

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::json;
use crate::lease::LeaseSlot;

/// The pointer of `metadata.resourceVersion`.
pub const RESOURCE_VERSION_PATH: &str = "/metadata/resourceVersion";
/// The pointer of `metadata.annotations`.
pub const ANNOTATIONS_PATH: &str = "/metadata/annotations";

/// A JSON Patch: its operations in order. Serialises as the JSON array the API server takes with
/// `Content-Type: application/json-patch+json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Patch(pub Vec<PatchOp>);

impl Patch {
    /// The patch as the request body: compact JSON.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// Appends the patch as compact JSON.
    pub(crate) fn write_json(&self, out: &mut String) {
        out.push('[');
        for (i, op) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            // The names of operations need no escapes.
            out.push_str("{\"op\":\"");
            out.push_str(op.op.as_str());
            out.push_str("\",\"path\":");
            json::write_string(out, &op.path);
            out.push_str(",\"value\":");
            match &op.value {
                PatchValue::Text(text) => json::write_string(out, text),
                PatchValue::Annotations { key, value } => {
                    out.push('{');
                    json::write_string(out, key);
                    out.push(':');
                    json::write_string(out, value);
                    out.push('}');
                }
            }
            out.push('}');
        }
        out.push(']');
    }

    /// The length of the strings the patch holds (its JSON is about that plus 40 bytes an
    /// operation, and whatever escapes add).
    pub(crate) fn text_len(&self) -> usize {
        self.0
            .iter()
            .map(|op| {
                op.path.len()
                    + match &op.value {
                        PatchValue::Text(text) => text.len(),
                        PatchValue::Annotations { key, value } => key.len() + value.len(),
                    }
            })
            .sum()
    }

    /// Whether the patch starts with a `test` that guards its write.
    pub fn is_guarded(&self) -> bool {
        matches!(self.0.first(), Some(PatchOp { op: Op::Test, .. })) && self.0.len() == 2
    }
}

/// One patch operation, its keys in the order `op`, `path`, `value`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PatchOp {
    /// The operation.
    pub op: Op,
    /// The JSON Pointer it applies to.
    pub path: String,
    /// The value it tests, replaces or adds.
    pub value: PatchValue,
}

/// The operations a lease write uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// Fails the whole patch unless the value at the path is equal.
    Test,
    /// Replaces the value at the path.
    Replace,
    /// Adds the value at the path.
    Add,
}

impl Op {
    /// The operation's name in a patch.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Test => "test",
            Op::Replace => "replace",
            Op::Add => "add",
        }
    }
}

/// The value of a patch operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchValue {
    /// A string.
    Text(String),
    /// A new annotations map holding only the lease: `{key: value}`.
    Annotations {
        /// The lease key.
        key: String,
        /// The lease value.
        value: String,
    },
}

impl Serialize for PatchValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PatchValue::Text(text) => serializer.serialize_str(text),
            PatchValue::Annotations { key, value } => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry(key, value)?;
                map.end()
            }
        }
    }
}

/// The JSON Pointer of the annotation `key` (RFC 6901: `~` as `~0`, `/` as `~1`).
///
/// ```
/// assert_eq!(lease_logic::annotation_pointer("openebs.io/csp-lease"), "/metadata/annotations/openebs.io~1csp-lease");
/// ```
pub fn annotation_pointer(key: &str) -> String {
    let mut pointer = String::with_capacity(ANNOTATIONS_PATH.len() + 1 + key.len() + 2);
    pointer.push_str(ANNOTATIONS_PATH);
    pointer.push('/');
    let mut rest = key;
    while let Some(at) = rest.bytes().position(|b| b == b'~' || b == b'/') {
        pointer.push_str(&rest[..at]);
        pointer.push_str(if rest.as_bytes()[at] == b'~' { "~0" } else { "~1" });
        rest = &rest[at + 1..];
    }
    pointer.push_str(rest);
    pointer
}

/// Whether the API server keeps `value` byte for byte, so a `test` on it can match: printable
/// ASCII without `<`, `>` or `&` (the server's encoder escapes those).
pub fn survives_reencoding(value: &str) -> bool {
    value.bytes().all(|b| (0x20..=0x7e).contains(&b) && !matches!(b, b'<' | b'>' | b'&'))
}

/// The patch needs `metadata.resourceVersion` and the object has none as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingResourceVersion;

/// Builds the guarded write of `new_value` under `key`, given what was observed there.
///
/// ```
/// use lease_logic::{compare_and_swap, LeaseSlot};
/// let patch = compare_and_swap("openebs.io/csp-lease", LeaseSlot::Value("old"), "new", None).unwrap();
/// assert_eq!(
///     patch.to_json(),
///     r#"[{"op":"test","path":"/metadata/annotations/openebs.io~1csp-lease","value":"old"},{"op":"replace","path":"/metadata/annotations/openebs.io~1csp-lease","value":"new"}]"#
/// );
/// ```
pub fn compare_and_swap(
    key: &str,
    observed: LeaseSlot<'_>,
    new_value: &str,
    resource_version: Option<&str>,
) -> Result<Patch, MissingResourceVersion> {
    let pointer = annotation_pointer(key);
    let text = |s: &str| PatchValue::Text(s.to_owned());
    let version_test = || {
        resource_version
            .map(|rv| PatchOp { op: Op::Test, path: RESOURCE_VERSION_PATH.to_owned(), value: text(rv) })
            .ok_or(MissingResourceVersion)
    };
    let ops = match observed {
        LeaseSlot::Value(old) if survives_reencoding(old) => vec![
            PatchOp { op: Op::Test, path: pointer.clone(), value: text(old) },
            PatchOp { op: Op::Replace, path: pointer, value: text(new_value) },
        ],
        LeaseSlot::Value(_) => {
            vec![version_test()?, PatchOp { op: Op::Replace, path: pointer, value: text(new_value) }]
        }
        LeaseSlot::NoKey => vec![version_test()?, PatchOp { op: Op::Add, path: pointer, value: text(new_value) }],
        LeaseSlot::NoAnnotations => vec![
            version_test()?,
            PatchOp {
                op: Op::Add,
                path: ANNOTATIONS_PATH.to_owned(),
                value: PatchValue::Annotations { key: key.to_owned(), value: new_value.to_owned() },
            },
        ],
    };
    Ok(Patch(ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_tilde_then_slash() {
        assert_eq!(annotation_pointer("a~/b"), "/metadata/annotations/a~0~1b");
        assert_eq!(annotation_pointer("~1"), "/metadata/annotations/~01");
    }

    #[test]
    fn values_the_server_reencodes_use_the_resource_version() {
        for bad in ["a<b", "a>b", "a&b", "é", "\n", "\u{7f}"] {
            assert!(!survives_reencoding(bad), "{bad:?}");
            let patch = compare_and_swap("k", LeaseSlot::Value(bad), "v", Some("7")).expect("has rv");
            assert_eq!(patch.0[0].path, RESOURCE_VERSION_PATH);
            assert_eq!(compare_and_swap("k", LeaseSlot::Value(bad), "v", None), Err(MissingResourceVersion));
        }
        assert!(survives_reencoding(r#"{"holder":"a/b","leaderTransition":1} ~"#));
    }

    #[test]
    fn absent_annotations_add_the_map() {
        let patch = compare_and_swap("k/x", LeaseSlot::NoAnnotations, "v", Some("9")).expect("has rv");
        assert_eq!(
            patch.to_json(),
            r#"[{"op":"test","path":"/metadata/resourceVersion","value":"9"},{"op":"add","path":"/metadata/annotations","value":{"k/x":"v"}}]"#
        );
        assert!(patch.is_guarded());
    }
}
