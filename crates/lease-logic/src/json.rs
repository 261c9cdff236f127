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
//! depth, surrogate escapes, duplicate names) and returns a [`Document`]: the validated text
//! and where each of its arrays and objects ends. A decision then reads only the few members it
//! needs ([`Raw::decode`], [`Raw::object`]), stepping over the others in constant time; the
//! `spec` and `status` of a CStorPool are never decoded.
//!
//! ```
//! use lease_logic::json::{parse, Duplicates, Json};
//! let doc = parse(br#"{"a":{"b":"\u00e9"},"c":[1e400]}"#, Duplicates::Reject)?;
//! let a = doc.root().object().and_then(|a| a.get("a")).and_then(|a| a.object()).and_then(|a| a.get("b"));
//! assert_eq!(a.map(|b| b.decode()), Some(Json::String("é".into())));
//! assert!(parse(br#"{"a":1,"\u0061":2}"#, Duplicates::Reject).is_err());
//! # Ok::<(), lease_logic::json::ParseError>(())
//! ```

use std::borrow::Cow;
use std::fmt;

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

/// A validated document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    text: &'a str,
    root: (usize, usize),
    /// `(start, end)` of every array and object, in the order they start.
    spans: Vec<(usize, usize)>,
}

impl<'a> Document<'a> {
    /// The document's value.
    pub fn root(&self) -> Raw<'_> {
        Raw { text: self.text, start: self.root.0, end: self.root.1, spans: &self.spans }
    }
}

/// Validates one whole document.
pub fn parse(input: &[u8], duplicates: Duplicates) -> Result<Document<'_>, ParseError> {
    let text =
        std::str::from_utf8(input).map_err(|e| ParseError { kind: ErrorKind::InvalidUtf8, offset: e.valid_up_to() })?;
    parse_str(text, duplicates)
}

/// Validates one whole document held in a string.
pub fn parse_str(text: &str, duplicates: Duplicates) -> Result<Document<'_>, ParseError> {
    let mut validator = Validator {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        duplicates,
        names: if duplicates == Duplicates::Reject { Vec::with_capacity(32) } else { Vec::new() },
        spans: Vec::with_capacity(text.len() / 32),
    };
    validator.skip_ws();
    let start = validator.pos;
    validator.value(0)?;
    let end = validator.pos;
    validator.skip_ws();
    if validator.pos != text.len() {
        return Err(validator.error(ErrorKind::TrailingCharacters));
    }
    Ok(Document { text, root: (start, end), spans: validator.spans })
}

// ---------------------------------------------------------------------------------------------
// Validation: one pass, no tree.

struct Validator<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    duplicates: Duplicates,
    /// The member names of the objects open on the path to the current value (when rejecting
    /// duplicates): each object's names are checked when it closes, then dropped.
    names: Vec<Cow<'a, str>>,
    /// Where every array and object starts and ends.
    spans: Vec<(usize, usize)>,
}

impl<'a> Validator<'a> {
    fn error(&self, kind: ErrorKind) -> ParseError {
        ParseError { kind, offset: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next_byte(&self) -> Result<u8, ParseError> {
        self.peek().ok_or_else(|| self.error(ErrorKind::UnexpectedEnd))
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), ParseError> {
        match self.next_byte()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string(false).map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            other => Err(self.error(ErrorKind::UnexpectedByte(other))),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), ParseError> {
        for &expected in word {
            match self.peek() {
                Some(b) if b == expected => self.pos += 1,
                Some(b) => return Err(self.error(ErrorKind::UnexpectedByte(b))),
                None => return Err(self.error(ErrorKind::UnexpectedEnd)),
            }
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), ParseError> {
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
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let value = self.bytes.get(self.pos..self.pos + 4).and_then(hex4);
        let value = value.ok_or_else(|| self.error(ErrorKind::InvalidEscape))?;
        self.pos += 4;
        Ok(value)
    }

    /// Checks a string starting at its opening quote; with `decode`, returns its content.
    fn string(&mut self, decode: bool) -> Result<Option<Cow<'a, str>>, ParseError> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos = plain_run(self.bytes, self.pos);
            match self.peek() {
                None => return Err(self.error(ErrorKind::UnexpectedEnd)),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 1;
                    match self.next_byte()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                        b'u' => {
                            let escape_start = self.pos - 1;
                            self.pos += 1;
                            let lone = ParseError { kind: ErrorKind::LoneSurrogate, offset: escape_start };
                            match self.hex4()? {
                                0xD800..=0xDBFF => {
                                    if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                        return Err(lone);
                                    }
                                    self.pos += 2;
                                    if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                                        return Err(lone);
                                    }
                                }
                                0xDC00..=0xDFFF => return Err(lone),
                                _ => {}
                            }
                        }
                        _ => return Err(self.error(ErrorKind::InvalidEscape)),
                    }
                }
                Some(0..=0x1f) => return Err(self.error(ErrorKind::ControlCharacter)),
                Some(_) => self.pos += 1,
            }
        }
        let content = &self.text[start..self.pos];
        self.pos += 1;
        Ok(decode.then(|| if escaped { Cow::Owned(unescape(content)) } else { Cow::Borrowed(content) }))
    }

    fn array(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error(ErrorKind::TooDeep));
        }
        let span = self.open_span();
        self.pos += 1;
        self.skip_ws();
        if self.peek() != Some(b']') {
            loop {
                self.skip_ws();
                self.value(depth)?;
                self.skip_ws();
                match self.next_byte()? {
                    b',' => self.pos += 1,
                    b']' => break,
                    other => return Err(self.error(ErrorKind::UnexpectedByte(other))),
                }
            }
        }
        self.pos += 1;
        self.close_span(span);
        Ok(())
    }

    fn open_span(&mut self) -> usize {
        self.spans.push((self.pos, self.pos));
        self.spans.len() - 1
    }

    fn close_span(&mut self, span: usize) {
        if let Some(entry) = self.spans.get_mut(span) {
            entry.1 = self.pos;
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.error(ErrorKind::TooDeep));
        }
        let open = self.pos;
        let span = self.open_span();
        let first_name = self.names.len();
        let reject = self.duplicates == Duplicates::Reject;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.close_span(span);
            return Ok(());
        }
        loop {
            self.skip_ws();
            match self.next_byte()? {
                b'"' => {}
                other => return Err(self.error(ErrorKind::UnexpectedByte(other))),
            }
            if let Some(name) = self.string(reject)? {
                self.names.push(name);
            }
            self.skip_ws();
            match self.next_byte()? {
                b':' => self.pos += 1,
                other => return Err(self.error(ErrorKind::UnexpectedByte(other))),
            }
            self.skip_ws();
            self.value(depth)?;
            self.skip_ws();
            match self.next_byte()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    break;
                }
                other => return Err(self.error(ErrorKind::UnexpectedByte(other))),
            }
        }
        if reject {
            if let Some(name) = first_duplicate(&self.names[first_name..]) {
                return Err(ParseError { kind: ErrorKind::DuplicateMember(name.to_owned()), offset: open });
            }
            self.names.truncate(first_name);
        }
        self.close_span(span);
        Ok(())
    }
}

/// The position of the first byte from `from` on that is `"`, `\` or a control character (or
/// the end): eight bytes at a time, with the classic "has a zero byte" word tricks.
fn plain_run(bytes: &[u8], from: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit set in the lowest byte of `v` that is zero (bytes above it may be set falsely,
    // which never matters: only the lowest is used).
    let zero_byte = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let special = zero_byte(w ^ (LO * u64::from(b'"')))
            | zero_byte(w ^ (LO * u64::from(b'\\')))
            | (w.wrapping_sub(LO * 0x20) & !w & HI);
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

/// The first name that an object repeats, if any.
fn first_duplicate<'n>(names: &'n [Cow<'_, str>]) -> Option<&'n str> {
    const PAIRWISE_UP_TO: usize = 16;
    if names.len() <= PAIRWISE_UP_TO {
        return names.iter().enumerate().find(|(i, name)| names[..*i].contains(name)).map(|(_, name)| name.as_ref());
    }
    let mut sorted: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    heapsort(&mut sorted);
    sorted.windows(2).find(|pair| pair[0] == pair[1]).map(|pair| pair[0])
}

/// Sorts in O(n log n) with a few lines of code: `slice::sort_unstable` is faster on large
/// inputs but adds kilobytes to the WASM module, and objects with more than a handful of
/// members are rare in a request.
fn heapsort(items: &mut [&str]) {
    fn sift_down(items: &mut [&str], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && items[child] < items[child + 1] {
                child += 1;
            }
            if items[root] >= items[child] {
                return;
            }
            items.swap(root, child);
            root = child;
        }
    }
    let len = items.len();
    for root in (0..len / 2).rev() {
        sift_down(items, root, len);
    }
    for end in (1..len).rev() {
        items.swap(0, end);
        sift_down(items, 0, end);
    }
}

fn hex4(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |value, &d| Some(value << 4 | (d as char).to_digit(16)? as u16))
}

/// Unescapes the content of a string that [`Validator::string`] accepted.
fn unescape(content: &str) -> String {
    let bytes = content.as_bytes();
    let mut out = String::with_capacity(content.len());
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&content[run..i]);
        let escape = bytes.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        match escape {
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let unit = bytes.get(i..i + 4).and_then(hex4).unwrap_or(0xFFFD);
                i += 4;
                let code = if (0xD800..=0xDBFF).contains(&unit) {
                    let low = bytes.get(i + 2..i + 6).and_then(hex4).unwrap_or(0xDC00);
                    i += 6;
                    0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low).saturating_sub(0xDC00) & 0x3FF)
                } else {
                    u32::from(unit)
                };
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            other => out.push(other as char),
        }
        run = i;
    }
    out.push_str(content.get(run..).unwrap_or(""));
    out
}

// ---------------------------------------------------------------------------------------------
// Writing: compact JSON, escaped exactly as serde_json escapes (SPEC.md section 5).

/// Appends `text` as a JSON string: `"` and `\` escaped, `\b \f \n \r \t` in their short
/// forms, other characters below U+0020 as `\u00xx` (lowercase hex), everything else raw.
pub fn write_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.push('"');
    let mut start = 0;
    loop {
        // `plain_run` stops only at ASCII bytes, so both ends are character boundaries.
        let stop = plain_run(bytes, start);
        out.push_str(text.get(start..stop).unwrap_or(""));
        let Some(&byte) = bytes.get(stop) else { break };
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
        start = stop + 1;
    }
    out.push('"');
}

/// Appends an integer.
pub fn write_i64(out: &mut String, value: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    for &digit in &digits[at..] {
        out.push(char::from(digit));
    }
}

// ---------------------------------------------------------------------------------------------
// Reading a validated document.

/// A value of a validated [`Document`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a> {
    text: &'a str,
    start: usize,
    end: usize,
    spans: &'a [(usize, usize)],
}

/// A value decoded one level deep: scalars are read, arrays and objects stay raw.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as its source text.
    Number(&'a str),
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// An array.
    Array(Raw<'a>),
    /// An object.
    Object(Raw<'a>),
}

impl<'a> Json<'a> {
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

impl<'a> Raw<'a> {
    /// The value's source text.
    pub fn text(self) -> &'a str {
        self.text.get(self.start..self.end).unwrap_or("")
    }

    fn first_byte(self) -> Option<u8> {
        self.text.as_bytes().get(self.start).copied()
    }

    fn at(self, start: usize, end: usize) -> Raw<'a> {
        Raw { start, end, ..self }
    }

    /// The value, decoded one level deep.
    pub fn decode(self) -> Json<'a> {
        match self.first_byte() {
            Some(b'{') => Json::Object(self),
            Some(b'[') => Json::Array(self),
            Some(b'"') => Json::String(decode_string(self.text())),
            Some(b't') => Json::Bool(true),
            Some(b'f') => Json::Bool(false),
            Some(b'n') | None => Json::Null,
            Some(_) => Json::Number(self.text()),
        }
    }

    /// The members of an object, in document order; `None` for any other value.
    pub fn object(self) -> Option<Object<'a>> {
        (self.first_byte() == Some(b'{')).then(|| Object { members: self.members().collect() })
    }

    /// Iterates the members of an object (nothing for any other value).
    pub fn members(self) -> Members<'a> {
        let pos = if self.first_byte() == Some(b'{') { self.start + 1 } else { self.end };
        Members { raw: self, pos }
    }

    /// Iterates the items of an array (nothing for any other value).
    pub fn items(self) -> Items<'a> {
        let pos = if self.first_byte() == Some(b'[') { self.start + 1 } else { self.end };
        Items { raw: self, pos }
    }

    /// The position of the next byte that is not white space, before the value's end.
    fn next_token(self, from: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        (from..self.end).find(|&i| !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r'))
    }

    /// The end of the value that starts at `start`: a string is scanned, an array or object is
    /// looked up among the spans the validation recorded.
    fn value_end(self, start: usize) -> usize {
        let bytes = self.text.as_bytes();
        match bytes.get(start) {
            Some(b'"') => string_end(bytes, start).0,
            Some(b'{' | b'[') => match self.spans.binary_search_by_key(&start, |span| span.0) {
                Ok(found) => self.spans[found].1,
                Err(_) => self.end,
            },
            _ => {
                let mut i = start;
                while let Some(b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'+' | b'-' | b'.') = bytes.get(i) {
                    i += 1;
                }
                i
            }
        }
    }
}

/// An object's members, read once so that looking several up costs one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object<'a> {
    members: Vec<(Cow<'a, str>, Raw<'a>)>,
}

impl<'a> Object<'a> {
    /// The value of the last member named `name`.
    pub fn get(&self, name: &str) -> Option<Raw<'a>> {
        self.members.iter().rev().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The members in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Raw<'a>)> {
        self.members.iter().map(|(n, v)| (n.as_ref(), *v))
    }
}

/// The iterator of [`Raw::members`].
#[derive(Debug, Clone)]
pub struct Members<'a> {
    raw: Raw<'a>,
    pos: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (Cow<'a, str>, Raw<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let raw = self.raw;
        let bytes = raw.text.as_bytes();
        let key_start = raw.next_token(self.pos).filter(|&at| bytes[at] == b'"')?;
        let (key_end, escaped) = string_end(bytes, key_start);
        let colon = raw.next_token(key_end)?;
        let value_start = raw.next_token(colon + 1)?;
        let value_end = raw.value_end(value_start);
        self.pos = raw.next_token(value_end).map_or(raw.end, |at| at + 1);
        let key = raw.text.get(key_start + 1..key_end.saturating_sub(1)).unwrap_or("");
        let key = if escaped { Cow::Owned(unescape(key)) } else { Cow::Borrowed(key) };
        Some((key, raw.at(value_start, value_end)))
    }
}

/// The iterator of [`Raw::items`].
#[derive(Debug, Clone)]
pub struct Items<'a> {
    raw: Raw<'a>,
    pos: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Raw<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = self.raw;
        let bytes = raw.text.as_bytes();
        let start = raw.next_token(self.pos).filter(|&at| bytes[at] != b']')?;
        let end = raw.value_end(start);
        self.pos = raw.next_token(end).map_or(raw.end, |at| at + 1);
        Some(raw.at(start, end))
    }
}

/// The content of a validated string (`quoted` includes the quotes).
/// The end of the validated string that starts (with its quote) at `start`, and whether it has
/// escapes.
fn string_end(bytes: &[u8], start: usize) -> (usize, bool) {
    let mut escaped = false;
    let mut i = start + 1;
    loop {
        i = plain_run(bytes, i);
        match bytes.get(i) {
            Some(b'"') => return (i + 1, escaped),
            Some(b'\\') => {
                escaped = true;
                i += 2;
            }
            Some(_) => i += 1,
            None => return (bytes.len(), escaped),
        }
    }
}

fn decode_string(quoted: &str) -> Cow<'_, str> {
    let content = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or("");
    if content.contains('\\') { Cow::Owned(unescape(content)) } else { Cow::Borrowed(content) }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(ok("{}").root().members().count(), 0);
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
}
