//! A strict RFC 8259 reader that borrows from its input.
//!
//! serde_json is the project's JSON library for everything it writes; reading needs three things
//! that no general-purpose reader offers together, and that the contract (SPEC.md sections 2
//! and 5) pins exactly:
//! - nesting is limited to [`MAX_DEPTH`] levels, counting the outermost `[` or `{`;
//! - duplicate member names are detected anywhere in a request (compared after unescaping),
//!   while a lease value applies duplicates in document order;
//! - numbers are checked for syntax only and kept as their source text, so `1e400` in a member
//!   nobody reads is fine, and the integer rules of `leaderTransition` are applied to the text.
//!
//! The reader validates UTF-8 once, rejects lone surrogate escapes, and allocates only for
//! arrays, objects and strings that contain escapes.

use std::borrow::Cow;
use std::fmt;

/// The deepest nesting a document may have: every `[` or `{` opens a level, the outermost
/// included.
pub const MAX_DEPTH: usize = 128;

/// A JSON value borrowing its strings and numbers from the input where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its source text (syntax checked, value not converted).
    Number(&'a str),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object's members in document order (duplicates kept when they are allowed).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// The last member named `name` of an object, or `None` (also for non-objects).
    pub fn get(&self, name: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

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
            ErrorKind::UnexpectedByte(b) if b.is_ascii_graphic() => {
                write!(f, "unexpected character '{}'", *b as char)?
            }
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

/// Reads one whole document.
pub fn parse(input: &[u8], duplicates: Duplicates) -> Result<Json<'_>, ParseError> {
    let text = std::str::from_utf8(input).map_err(|e| ParseError {
        kind: ErrorKind::InvalidUtf8,
        offset: e.valid_up_to(),
    })?;
    parse_str(text, duplicates)
}

/// Reads one whole document from a string.
pub fn parse_str(text: &str, duplicates: Duplicates) -> Result<Json<'_>, ParseError> {
    let mut reader = Reader { text, bytes: text.as_bytes(), pos: 0, duplicates };
    reader.skip_ws();
    let value = reader.value(0)?;
    reader.skip_ws();
    if reader.pos != reader.bytes.len() {
        return Err(reader.error(ErrorKind::TrailingCharacters));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    duplicates: Duplicates,
}

impl<'a> Reader<'a> {
    fn error(&self, kind: ErrorKind) -> ParseError {
        ParseError { kind, offset: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_byte(&mut self) -> Result<u8, ParseError> {
        self.peek().ok_or_else(|| self.error(ErrorKind::UnexpectedEnd))
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, ParseError> {
        match self.expect_byte()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => Ok(Json::String(self.string()?)),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            other => Err(self.error(ErrorKind::UnexpectedByte(other))),
        }
    }

    fn literal(&mut self, word: &'static str, value: Json<'a>) -> Result<Json<'a>, ParseError> {
        for expected in word.bytes() {
            match self.peek() {
                Some(b) if b == expected => self.pos += 1,
                Some(b) => return Err(self.error(ErrorKind::UnexpectedByte(b))),
                None => return Err(self.error(ErrorKind::UnexpectedEnd)),
            }
        }
        Ok(value)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Json<'a>, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error(ErrorKind::InvalidNumber)),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.error(ErrorKind::InvalidNumber));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.error(ErrorKind::InvalidNumber));
            }
        }
        Ok(Json::Number(&self.text[start..self.pos]))
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error(ErrorKind::InvalidEscape))?;
        let mut value = 0u16;
        for &d in digits {
            let nibble = (d as char).to_digit(16).ok_or_else(|| self.error(ErrorKind::InvalidEscape))?;
            value = value << 4 | nibble as u16;
        }
        self.pos += 4;
        Ok(value)
    }

    /// Reads a string starting at its opening quote.
    fn string(&mut self) -> Result<Cow<'a, str>, ParseError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes.
        loop {
            match self.peek() {
                None => return Err(self.error(ErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0..=0x1f) => return Err(self.error(ErrorKind::ControlCharacter)),
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                None => return Err(self.error(ErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self.expect_byte()?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => out.push(self.unicode_escape()?),
                        _ => {
                            self.pos -= 1;
                            return Err(self.error(ErrorKind::InvalidEscape));
                        }
                    }
                }
                Some(_) => return Err(self.error(ErrorKind::ControlCharacter)),
            }
        }
    }

    /// Reads the four hex digits after `\u` (and a low surrogate's escape after a high one).
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let escape_start = self.pos.saturating_sub(2);
        let lone = |pos| ParseError { kind: ErrorKind::LoneSurrogate, offset: pos };
        let unit = self.hex4()?;
        match unit {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(lone(escape_start));
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(lone(escape_start));
                }
                let code = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                char::from_u32(code).ok_or_else(|| lone(escape_start))
            }
            0xDC00..=0xDFFF => Err(lone(escape_start)),
            _ => char::from_u32(u32::from(unit)).ok_or_else(|| lone(escape_start)),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error(ErrorKind::TooDeep));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.expect_byte()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                other => return Err(self.error(ErrorKind::UnexpectedByte(other))),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error(ErrorKind::TooDeep));
        }
        let open = self.pos;
        self.pos += 1;
        let mut members: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            match self.expect_byte()? {
                b'"' => {}
                other => return Err(self.error(ErrorKind::UnexpectedByte(other))),
            }
            let name = self.string()?;
            self.skip_ws();
            match self.expect_byte()? {
                b':' => self.pos += 1,
                other => return Err(self.error(ErrorKind::UnexpectedByte(other))),
            }
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((name, value));
            self.skip_ws();
            match self.expect_byte()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    break;
                }
                other => return Err(self.error(ErrorKind::UnexpectedByte(other))),
            }
        }
        if self.duplicates == Duplicates::Reject {
            if let Some(name) = first_duplicate(&members) {
                return Err(ParseError { kind: ErrorKind::DuplicateMember(name.to_owned()), offset: open });
            }
        }
        Ok(Json::Object(members))
    }
}

/// The first name that an object repeats, if any.
fn first_duplicate<'m>(members: &'m [(Cow<'_, str>, Json<'_>)]) -> Option<&'m str> {
    const PAIRWISE_UP_TO: usize = 16;
    if members.len() <= PAIRWISE_UP_TO {
        for (i, (name, _)) in members.iter().enumerate() {
            if members[..i].iter().any(|(earlier, _)| earlier == name) {
                return Some(name);
            }
        }
        return None;
    }
    let mut names: Vec<&str> = members.iter().map(|(name, _)| name.as_ref()).collect();
    names.sort_unstable();
    names.windows(2).find(|pair| pair[0] == pair[1]).map(|pair| pair[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Json<'_> {
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
        assert_eq!(ok(" null "), Json::Null);
        assert_eq!(ok("[true,false]"), Json::Array(vec![Json::Bool(true), Json::Bool(false)]));
        assert_eq!(ok("1e400"), Json::Number("1e400"));
        assert_eq!(ok("-0.5E+3"), Json::Number("-0.5E+3"));
        assert_eq!(ok(r#""a\"\\\/\b\f\n\r\t\u00e9""#), Json::String("a\"\\/\u{8}\u{c}\n\r\t\u{e9}".into()));
        assert_eq!(ok(r#""\ud83d\ude00""#), Json::String("\u{1F600}".into()));
        assert_eq!(ok(r#"{"a":{},"b":[]}"#).get("b"), Some(&Json::Array(vec![])));
    }

    #[test]
    fn rejects_what_rfc_8259_rejects() {
        for text in ["", "NaN", "Infinity", "-", "01", "1.", ".5", "1e", "+1", "[1,]", "{\"a\":1,}", "'a'", "tru", "nul"] {
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
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":{i}")).collect();
        assert!(parse_str(&format!("{{{}}}", many.join(",")), Duplicates::Reject).is_ok());
        assert_eq!(err(&format!("{{{},\"k7\":0}}", many.join(","))), ErrorKind::DuplicateMember("k7".into()));
        let kept = parse_str(r#"{"a":1,"a":2}"#, Duplicates::Keep).expect("duplicates kept");
        assert_eq!(kept.get("a"), Some(&Json::Number("2")));
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert_eq!(parse(b"\"\xff\"", Duplicates::Keep).map_err(|e| e.kind), Err(ErrorKind::InvalidUtf8));
    }
}
