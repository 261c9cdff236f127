//! The lease value: how it is read (leniently, as the original Go code reads it) and written
//! (byte for byte as pool pods write it).

use std::fmt;

use serde::Serialize;

use crate::json::{self, Duplicates, Json};
use crate::pod::PodRef;

/// The default annotation key of the lease.
pub const DEFAULT_LEASE_KEY: &str = "openebs.io/csp-lease";

/// A lease as stored: who holds it and how many times it has been acquired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// `namespace/name` of the holding pod; blank when released.
    pub holder: String,
    /// The count of acquisitions.
    #[serde(rename = "leaderTransition")]
    pub leader_transition: i64,
}

impl Lease {
    /// The annotation value, exactly `{"holder":"…","leaderTransition":N}`.
    ///
    /// ```
    /// let lease = lease_logic::Lease { holder: "openebs/pool-a".into(), leader_transition: 4 };
    /// assert_eq!(lease.to_annotation(), r#"{"holder":"openebs/pool-a","leaderTransition":4}"#);
    /// ```
    pub fn to_annotation(&self) -> String {
        let mut out = String::with_capacity(40 + self.holder.len());
        self.write_json(&mut out);
        out
    }

    /// Appends the lease as compact JSON.
    pub(crate) fn write_json(&self, out: &mut String) {
        out.push_str("{\"holder\":");
        json::write_string(out, &self.holder);
        out.push_str(",\"leaderTransition\":");
        json::write_i64(out, self.leader_transition);
        out.push('}');
    }
}

/// Where the lease key stands in the observed object's annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseSlot<'a> {
    /// The object has no annotations map (absent or `null`).
    NoAnnotations,
    /// The annotations map has no such key.
    NoKey,
    /// The key's value.
    Value(&'a str),
}

impl<'a> LeaseSlot<'a> {
    /// The value string, when the key is present.
    pub fn value(self) -> Option<&'a str> {
        match self {
            LeaseSlot::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// A lease read into one of the five kinds of SPEC.md section 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// No annotations, no key, or a blank value.
    Vacant,
    /// The value is not a lease: the reason says why.
    Malformed(String),
    /// The holder is blank.
    Released(Lease),
    /// The holder is neither blank nor a valid pod reference.
    Unidentifiable(Lease),
    /// The holder is a valid pod reference.
    Held(Lease, PodRef),
}

impl Reading {
    /// Reads what stands under the lease key.
    ///
    /// ```
    /// use lease_logic::{LeaseSlot, Reading};
    /// let reading = Reading::of(LeaseSlot::Value(r#"{"HOLDER":"ns/p","leaderTransition":2}"#));
    /// assert!(matches!(reading, Reading::Held(ref lease, _) if lease.leader_transition == 2));
    /// assert_eq!(Reading::of(LeaseSlot::Value(" \n")), Reading::Vacant);
    /// ```
    pub fn of(slot: LeaseSlot<'_>) -> Reading {
        let value = match slot {
            LeaseSlot::NoAnnotations | LeaseSlot::NoKey => return Reading::Vacant,
            LeaseSlot::Value(v) if is_blank(v) => return Reading::Vacant,
            LeaseSlot::Value(v) => v,
        };
        let lease = match parse_lease(value) {
            Ok(lease) => lease,
            Err(problem) => return Reading::Malformed(problem),
        };
        if is_blank(&lease.holder) {
            return Reading::Released(lease);
        }
        match lease.holder.parse::<PodRef>() {
            Ok(pod) => Reading::Held(lease, pod),
            Err(_) => Reading::Unidentifiable(lease),
        }
    }

    /// The lease as read, for released, unidentifiable and held leases.
    pub fn lease(&self) -> Option<&Lease> {
        match self {
            Reading::Released(l) | Reading::Unidentifiable(l) | Reading::Held(l, _) => Some(l),
            Reading::Vacant | Reading::Malformed(_) => None,
        }
    }

    /// Whether a holder that took `held` still holds it: the lease reads as exactly `held` (the
    /// same holder and the same `leaderTransition`). Any write since then (a release, a forced
    /// break, a takeover, the same pod taking it again) means it was lost.
    ///
    /// ```
    /// use lease_logic::{Lease, LeaseSlot, Reading};
    /// let held = Lease { holder: "openebs/pool-a".into(), leader_transition: 4 };
    /// let now = |value| Reading::of(LeaseSlot::Value(value));
    /// assert!(now(r#"{"holder":"openebs/pool-a","leaderTransition":4}"#).keeps(&held));
    /// assert!(!now(r#"{"holder":"openebs/pool-a","leaderTransition":5}"#).keeps(&held));
    /// assert!(!now(r#"{"holder":"","leaderTransition":4}"#).keeps(&held));
    /// assert!(!Reading::Vacant.keeps(&held));
    /// ```
    pub fn keeps(&self, held: &Lease) -> bool {
        matches!(self, Reading::Held(lease, _) if lease == held)
    }

    /// The `leaderTransition` a write keeps or counts from: 0 for vacant and malformed leases.
    pub fn previous(&self) -> i64 {
        self.lease().map_or(0, |l| l.leader_transition)
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reading::Vacant => write!(f, "vacant"),
            Reading::Malformed(problem) => write!(f, "malformed ({problem})"),
            Reading::Released(l) => write!(f, "released (leaderTransition {})", l.leader_transition),
            Reading::Unidentifiable(l) => {
                write!(
                    f,
                    "held by {:?}, which is not a pod reference (leaderTransition {})",
                    l.holder, l.leader_transition
                )
            }
            Reading::Held(l, pod) => write!(f, "held by {pod} (leaderTransition {})", l.leader_transition),
        }
    }
}

/// Empty or only Unicode White_Space: what Go's `strings.TrimSpace` and `str::trim` remove.
pub fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Reads a non-blank value the way Go's `encoding/json` reads it into the original struct.
fn parse_lease(value: &str) -> Result<Lease, String> {
    let doc = json::parse_str(value, Duplicates::Keep).map_err(|e| format!("not JSON: {e}"))?;
    let mut lease = Lease { holder: String::new(), leader_transition: 0 };
    let members = match doc.root().decode() {
        Json::Null => return Ok(lease),
        Json::Object(object) => object.iter(),
        other => return Err(format!("{} is not a lease object", other.type_name())),
    };
    for (name, value) in members {
        match field_of(name) {
            Some(Field::Holder) => match value.decode() {
                Json::Null => {}
                Json::String(holder) => lease.holder = holder.into_owned(),
                other => return Err(format!("\"holder\" is {}, not a string", other.type_name())),
            },
            Some(Field::LeaderTransition) => match value.decode() {
                Json::Null => {}
                Json::Number(text) => lease.leader_transition = parse_counter(text)?,
                other => {
                    return Err(format!("\"leaderTransition\" is {}, not an integer", other.type_name()));
                }
            },
            None => {}
        }
    }
    Ok(lease)
}

enum Field {
    Holder,
    LeaderTransition,
}

/// Which field a member name sets, matched as Go's `encoding/json` folds case.
fn field_of(name: &str) -> Option<Field> {
    if folds_to(name, "holder") {
        Some(Field::Holder)
    } else if folds_to(name, "leadertransition") {
        Some(Field::LeaderTransition)
    } else {
        None
    }
}

/// `name` equals the lowercase ASCII `target` after mapping `A`–`Z` to `a`–`z`, U+017F to `s`
/// and U+212A to `k`.
fn folds_to(name: &str, target: &str) -> bool {
    if name.is_ascii() {
        return name.eq_ignore_ascii_case(target);
    }
    let mut folded = name.chars().map(|c| match c {
        'A'..='Z' => c.to_ascii_lowercase(),
        '\u{17F}' => 's',
        '\u{212A}' => 'k',
        other => other,
    });
    target.chars().all(|t| folded.next() == Some(t)) && folded.next().is_none()
}

/// `leaderTransition`: an integer literal `0|-?[1-9][0-9]*` that fits in 64 signed bits.
fn parse_counter(text: &str) -> Result<i64, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let integer = text == "0"
        || matches!(digits.as_bytes().first(), Some(b'1'..=b'9')) && digits.bytes().all(|b| b.is_ascii_digit());
    if !integer {
        return Err(format!("\"leaderTransition\" is {text}, not an integer"));
    }
    text.parse::<i64>().map_err(|_| format!("\"leaderTransition\" {text} does not fit in a signed 64-bit integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: &str) -> Reading {
        Reading::of(LeaseSlot::Value(value))
    }

    fn lease(holder: &str, n: i64) -> Lease {
        Lease { holder: holder.into(), leader_transition: n }
    }

    #[test]
    fn vacant_values() {
        for v in [
            "",
            " ",
            "\t\n\r\u{b}\u{c}",
            "\u{85}\u{a0}\u{1680}\u{2000}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}",
        ] {
            assert_eq!(read(v), Reading::Vacant, "{v:?}");
        }
        assert_eq!(Reading::of(LeaseSlot::NoKey), Reading::Vacant);
        assert_eq!(Reading::of(LeaseSlot::NoAnnotations), Reading::Vacant);
    }

    #[test]
    fn read_like_go_encoding_json() {
        let cases: &[(&str, Reading)] = &[
            ("null", Reading::Released(lease("", 0))),
            ("{}", Reading::Released(lease("", 0))),
            (r#"{"holder":"a/b","leaderTransition":3}"#, Reading::Held(lease("a/b", 3), "a/b".parse().expect("valid"))),
            (r#"{"HoLdEr":"  ","LEADERTRANSITION":3}"#, Reading::Released(lease("  ", 3))),
            (
                r#"{"holder":"a/b","holder":null,"leaderTransition":-4}"#,
                Reading::Held(lease("a/b", -4), "a/b".parse().expect("valid")),
            ),
            (r#"{"holder":"x","holder":""}"#, Reading::Released(lease("", 0))),
            ("{\"leaderTran\u{17F}ition\":5,\"x\":1e400}", Reading::Released(lease("", 5))),
            (r#"{"holder":"nope"}"#, Reading::Unidentifiable(lease("nope", 0))),
            (r#" {"holder":" a/b"} "#, Reading::Unidentifiable(lease(" a/b", 0))),
            (r#"{"leaderTransition":9223372036854775807}"#, Reading::Released(lease("", i64::MAX))),
            (r#"{"leaderTransition":-9223372036854775808}"#, Reading::Released(lease("", i64::MIN))),
        ];
        for (value, want) in cases {
            assert_eq!(&read(value), want, "{value}");
        }
    }

    #[test]
    fn malformed_values() {
        for v in [
            "{",
            "[]",
            "\"a/b\"",
            "3",
            "true",
            r#"{"holder":3}"#,
            r#"{"holder":"a/b","holder":3,"holder":"a/b"}"#,
            r#"{"leaderTransition":"3"}"#,
            r#"{"leaderTransition":2.0}"#,
            r#"{"leaderTransition":1e2}"#,
            r#"{"leaderTransition":-0}"#,
            r#"{"leaderTransition":9223372036854775808}"#,
            r#"{"leaderTransition":-9223372036854775809}"#,
            r#"{"leaderTransition":true}"#,
            r#"{"holder":"\ud800"}"#,
            r#"{"holder":"a/b",}"#,
            "{\"holder\":NaN}",
        ] {
            assert!(matches!(read(v), Reading::Malformed(_)), "{v} was read as {:?}", read(v));
        }
    }

    #[test]
    fn written_byte_for_byte() {
        assert_eq!(lease("", -1).to_annotation(), r#"{"holder":"","leaderTransition":-1}"#);
    }
}
