//! A strict RFC 8259 reader that validates once and then reads only what is asked for.
//!
//! serde_json is the project's JSON library for everything it writes; reading needs three things
//! that no general-purpose reader offers together, and that the contract (SPEC.md sections 2
//! and 5) pins exactly:
//! - nesting is limited to [`MAX_DEPTH`] levels, counting the outermost `[` or `{`;
//! - duplicate member names are detected anywhere in a request (compared after unescaping),
//!   while a lease value applies duplicates in document order;
//! - numbers are checked for syntax only and kept as their source text, so `1e400` in a member
//!   nobody reads is fine, and the integer rules of `leaderTransition` apply to the text.
//!
//! [`parse`] checks the whole document in one pass without building a tree (UTF-8, grammar,
//! depth, surrogate escapes, duplicate names) and returns a [`Document`]: the validated text,
//! where each of its arrays and objects ends, and each object's members (name, where the value
//! is, the next member). A decision then reads only the few members it needs ([`Raw::decode`],
//! [`Raw::object`], [`Object::get`]) by following those links, never scanning the text again;
//! the `spec` and `status` of a CStorPool are never decoded.
//!
//! The module is private to the core, and split by job: [`validate`] checks a document in one
//! pass, [`read`] follows the links it recorded, [`write`] writes compact JSON as serde_json
//! does.

use std::borrow::Cow;
use std::fmt;

mod read;
mod validate;
mod write;

pub use read::{Json, Object, Raw};
pub use write::{write_i64, write_string};

/// The deepest nesting a document may have: every `[` or `{` opens a level, the outermost
/// included.
pub const MAX_DEPTH: usize = 128;

/// Whether an object may repeat a member name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// Repeated names are kept in document order (a lease value: the last one wins).
    Keep,
    /// A repeated name, anywhere in the document, is an error (a request).
    Reject,
}

/// Why a document is not accepted, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The byte offset at which it was found.
    pub offset: usize,
}

/// The kinds of [`ParseError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input is not UTF-8.
    InvalidUtf8,
    /// The input ended inside a value.
    UnexpectedEnd,
    /// A byte that cannot start or continue a value here.
    UnexpectedByte(u8),
    /// Something after the document other than white space.
    TrailingCharacters,
    /// More than [`MAX_DEPTH`] levels of nesting.
    TooDeep,
    /// A number that breaks RFC 8259's grammar.
    InvalidNumber,
    /// A raw control character inside a string.
    ControlCharacter,
    /// An unknown escape, or a `\u` without four hex digits.
    InvalidEscape,
    /// A `\u` escape of a surrogate that is not part of a high-low pair.
    LoneSurrogate,
    /// An object repeats a member name.
    DuplicateMember(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::InvalidUtf8 => write!(f, "invalid UTF-8")?,
            ErrorKind::UnexpectedEnd => write!(f, "unexpected end of input")?,
            ErrorKind::UnexpectedByte(b) if b.is_ascii_graphic() => write!(f, "unexpected character '{}'", *b as char)?,
            ErrorKind::UnexpectedByte(b) => write!(f, "unexpected byte 0x{b:02x}")?,
            ErrorKind::TrailingCharacters => write!(f, "trailing characters after the value")?,
            ErrorKind::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels")?,
            ErrorKind::InvalidNumber => write!(f, "invalid number")?,
            ErrorKind::ControlCharacter => write!(f, "control character in a string")?,
            ErrorKind::InvalidEscape => write!(f, "invalid escape")?,
            ErrorKind::LoneSurrogate => write!(f, "lone surrogate in a \\u escape")?,
            ErrorKind::DuplicateMember(name) => write!(f, "duplicate member {name:?}")?,
        }
        write!(f, " at byte {}", self.offset)
    }
}

impl std::error::Error for ParseError {}

/// A validated document: its text, where each of its arrays and objects starts and ends, and
/// the members of each object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    text: &'a str,
    root: (usize, usize),
    /// Every array and object, in the order they start.
    containers: Vec<Container>,
    /// The members of every object, in the order their names appear; each links to the next
    /// member of its object.
    members: Vec<Member<'a>>,
}

/// An array or an object of a [`Document`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Container {
    start: usize,
    end: usize,
    /// An object's first member (an index into the document's members), and how many it has.
    first_member: usize,
    member_count: usize,
    /// While validating: the container this one is in, and the member of that container (when
    /// it is an object) whose value this one is.
    parent: Option<usize>,
    owner: usize,
    /// While validating an object: the [`name_hash`]es of its names, and whether two names
    /// have the same (only then can a name be repeated).
    name_hashes: u64,
    name_clash: bool,
}

/// A member of an object: its name (unescaped), where its value is, and the index of the
/// object's next member.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member<'a> {
    name: Cow<'a, str>,
    start: usize,
    end: usize,
    next: usize,
}

/// The members of an object: `count` members, from `first` on, each linking to the next.
fn chain<'d, 'a>(members: &'d [Member<'a>], first: usize, count: usize) -> impl Iterator<Item = &'d Member<'a>> {
    std::iter::successors(members.get(first), |member| members.get(member.next)).take(count)
}

/// Validates one whole document.
pub fn parse(input: &[u8], duplicates: Duplicates) -> Result<Document<'_>, ParseError> {
    let text =
        std::str::from_utf8(input).map_err(|e| ParseError { kind: ErrorKind::InvalidUtf8, offset: e.valid_up_to() })?;
    parse_str(text, duplicates)
}

/// Validates one whole document held in a string.
pub fn parse_str(text: &str, duplicates: Duplicates) -> Result<Document<'_>, ParseError> {
    validate::document(text, duplicates)
}

#[cfg(test)]
mod tests {
    use super::validate::plain_run;
    use super::*;

    fn ok(text: &str) -> Document<'_> {
        parse_str(text, Duplicates::Reject).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &str) -> ErrorKind {
        match parse_str(text, Duplicates::Reject) {
            Ok(v) => panic!("{text:?} was accepted as {v:?}"),
            Err(e) => e.kind,
        }
    }

    #[test]
    fn accepts_rfc_8259_values() {
        assert_eq!(ok(" null ").root().decode(), Json::Null);
        let doc = ok("[true, false ,[1]]");
        let items: Vec<_> = doc.root().items().map(|i| i.text()).collect();
        assert_eq!(items, ["true", "false", "[1]"]);
        assert_eq!(ok("1e400").root().decode(), Json::Number("1e400"));
        assert_eq!(ok("-0.5E+3").root().decode(), Json::Number("-0.5E+3"));
        assert_eq!(
            ok(r#""a\"\\\/\b\f\n\r\t\u00e9""#).root().decode(),
            Json::String("a\"\\/\u{8}\u{c}\n\r\t\u{e9}".into())
        );
        assert_eq!(ok(r#""\ud83d\ude00x""#).root().decode(), Json::String("\u{1F600}x".into()));
        let doc = ok(r#"{ "a" : {"x":"}"} , "b":[ ] ,"c":"\"]", "\u0064" : 1 }"#);
        let object = doc.root().object().expect("an object");
        let names: Vec<_> = object.iter().map(|(n, v)| (n, v.text())).collect();
        assert_eq!(names, [("a", r#"{"x":"}"}"#), ("b", "[ ]"), ("c", r#""\"]""#), ("d", "1")]);
        assert_eq!(ok("[]").root().items().count(), 0);
        assert_eq!(ok("{}").root().object().map(|o| o.iter().count()), Some(0));
        assert!(ok("[]").root().object().is_none());
    }

    #[test]
    fn rejects_what_rfc_8259_rejects() {
        for text in [
            "",
            "NaN",
            "Infinity",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "'a'",
            "tru",
            "nul",
            "[1 2]",
            "{\"a\" 1}",
            "{1:1}",
        ] {
            assert!(parse_str(text, Duplicates::Keep).is_err(), "{text:?} was accepted");
        }
        assert_eq!(err("\"a\u{1}\""), ErrorKind::ControlCharacter);
        assert_eq!(err(r#""\x""#), ErrorKind::InvalidEscape);
        assert_eq!(err(r#""\u12""#), ErrorKind::InvalidEscape);
        assert_eq!(err("1 2"), ErrorKind::TrailingCharacters);
    }

    #[test]
    fn rejects_lone_surrogates() {
        assert_eq!(err(r#""\ud800""#), ErrorKind::LoneSurrogate);
        assert_eq!(err(r#""\udc00""#), ErrorKind::LoneSurrogate);
        assert_eq!(err(r#""\ud800\u0041""#), ErrorKind::LoneSurrogate);
        assert_eq!(err(r#""\ud800x""#), ErrorKind::LoneSurrogate);
    }

    #[test]
    fn limits_depth_to_128_levels() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse_str(&deep(MAX_DEPTH), Duplicates::Keep).is_ok());
        assert_eq!(parse_str(&deep(MAX_DEPTH + 1), Duplicates::Keep).map_err(|e| e.kind), Err(ErrorKind::TooDeep));
        assert_eq!(parse_str(&deep(100_000), Duplicates::Keep).map_err(|e| e.kind), Err(ErrorKind::TooDeep));
    }

    #[test]
    fn duplicates_are_compared_after_unescaping() {
        assert_eq!(err(r#"{"a":1,"\u0061":2}"#), ErrorKind::DuplicateMember("a".into()));
        assert_eq!(err(r#"[{"x":{"k":1,"k":2}}]"#), ErrorKind::DuplicateMember("k".into()));
        assert!(parse_str(r#"{"a":{"a":{"a":1}},"b":{"a":2}}"#, Duplicates::Reject).is_ok());
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(parse_str(&format!("{{{}}}", many.join(",")), Duplicates::Reject).is_ok());
        assert_eq!(err(&format!("{{{},\"k7\":0}}", many.join(","))), ErrorKind::DuplicateMember("k7".into()));
        let kept = parse_str(r#"{"a":1,"a":2}"#, Duplicates::Keep).expect("duplicates kept");
        assert_eq!(kept.root().object().and_then(|o| o.get("a")).map(Raw::decode), Some(Json::Number("2")));
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(parse(b"\"\xff\"", Duplicates::Keep).map_err(|e| e.kind), Err(ErrorKind::InvalidUtf8));
    }

    #[test]
    fn plain_runs_stop_at_the_first_special_byte() {
        let naive = |bytes: &[u8], from: usize| {
            (from..bytes.len())
                .find(|&i| bytes[i] == b'"' || bytes[i] == b'\\' || bytes[i] < 0x20)
                .unwrap_or(bytes.len())
        };
        let samples: [&[u8]; 7] = [
            b"",
            b"abcdefghijklmnopqrstuvwxyz\"",
            b"abcdefg\\hijk",
            b"\x1fabc",
            "é€😀 plain text with no specials at all, long enough for several words".as_bytes(),
            b"\x7f\x80\xff\x20\x21\x22",
            b"0123456\x00",
        ];
        for sample in samples {
            for from in 0..=sample.len() {
                assert_eq!(plain_run(sample, from), naive(sample, from), "{sample:?} from {from}");
            }
        }
    }

    use proptest::prelude::*;

    proptest! {
    /// Strings are escaped as serde_json escapes them, whatever they hold.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them(text in any::<String>(), controls in "[\\x00-\\x1f\"\\\\\u{7f}é😀a]{0,40}") {
        for text in [&text, &controls] {
            let mut ours = String::new();
            write_string(&mut ours, text);
            prop_assert_eq!(ours, serde_json::to_string(text).expect("serialisable"));
        }
    }

    /// The reader accepts exactly what serde_json accepts, within the limits they share (no
    /// duplicate members, at most 127 levels, numbers that fit an f64).
    #[test]
    fn the_reader_agrees_with_serde_json(text in "[\\[\\]{}\",:0-9a-z.eE+\\- \\\\u]{0,40}") {
        let theirs = serde_json::from_str::<serde_json::Value>(&text);
        if let Err(e) = &theirs {
            prop_assume!(!e.to_string().contains("number out of range"));
        }
        let ours = parse_str(&text, Duplicates::Keep);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: ours {:?}, serde_json {:?}", text, ours.err(), theirs.err());
    }
    }
}
