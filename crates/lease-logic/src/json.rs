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

impl<'a> Document<'a> {
    /// The document's value.
    pub fn root(&self) -> Raw<'_> {
        Raw { doc: self, start: self.root.0, end: self.root.1 }
    }
}

/// Validates one whole document.
pub fn parse(input: &[u8], duplicates: Duplicates) -> Result<Document<'_>, ParseError> {
    let text =
        std::str::from_utf8(input).map_err(|e| ParseError { kind: ErrorKind::InvalidUtf8, offset: e.valid_up_to() })?;
    parse_str(text, duplicates)
}

/// The most container records reserved before reading (a CStorPool has a few dozen).
const PREALLOCATED_CONTAINERS: usize = 256;
/// The most member records reserved before reading (a CStorPool has about a hundred).
const PREALLOCATED_MEMBERS: usize = 512;

/// Validates one whole document held in a string.
pub fn parse_str(text: &str, duplicates: Duplicates) -> Result<Document<'_>, ParseError> {
    let mut validator = Validator {
        text,
        bytes: text.as_bytes(),
        duplicates,
        // Sized for a typical request up front; a huge one (a 3 MiB AdmissionReview is mostly
        // long strings) grows these as it needs, instead of reserving for the worst case: in the
        // WASM module, memory is capped.
        containers: Vec::with_capacity((text.len() / 32 + 1).min(PREALLOCATED_CONTAINERS)),
        members: Vec::with_capacity((text.len() / 16 + 1).min(PREALLOCATED_MEMBERS)),
    };
    let root = validator.document()?;
    Ok(Document { text, root, containers: validator.containers, members: validator.members })
}

// ---------------------------------------------------------------------------------------------
// Validation: one pass, no recursion, no tree.

struct Validator<'a> {
    text: &'a str,
    bytes: &'a [u8],
    duplicates: Duplicates,
    containers: Vec<Container>,
    members: Vec<Member<'a>>,
}

fn error(kind: ErrorKind, offset: usize) -> ParseError {
    ParseError { kind, offset }
}

/// The error for the byte at `pos` (or the end) where it does not belong.
fn unexpected(bytes: &[u8], pos: usize) -> ParseError {
    match bytes.get(pos) {
        Some(&byte) => error(ErrorKind::UnexpectedByte(byte), pos),
        None => error(ErrorKind::UnexpectedEnd, pos),
    }
}

#[inline(always)]
fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

impl<'a> Validator<'a> {
    /// Validates the whole text and returns where its value starts and ends.
    ///
    /// One loop, no recursion: the open containers are chained through their `parent`, and the
    /// innermost one's state is kept in locals.
    fn document(&mut self) -> Result<(usize, usize), ParseError> {
        let bytes = self.bytes;
        let root = skip_ws(bytes, 0);
        let mut pos = root;
        let mut end = root;
        // The innermost open container, whether it is an object, and how many are open.
        let mut open: Option<usize> = None;
        let mut in_object = false;
        let mut depth = 0;
        // In an object: whether a member's name comes next, and the member last named.
        let mut name_next = false;
        let mut member = 0;
        'value: loop {
            if name_next {
                member = self.members.len();
                pos = self.member_name(open, pos)?;
            }
            // A value starts at `pos`.
            let start = pos;
            match bytes.get(pos) {
                Some(&opening @ (b'{' | b'[')) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(error(ErrorKind::TooDeep, pos));
                    }
                    let first_member = self.members.len();
                    self.containers.push(Container {
                        start,
                        end: start,
                        first_member,
                        member_count: 0,
                        parent: open,
                        owner: member,
                        name_hashes: 0,
                        name_clash: false,
                    });
                    open = Some(self.containers.len() - 1);
                    in_object = opening == b'{';
                    pos = skip_ws(bytes, pos + 1);
                    let closing = if in_object { b'}' } else { b']' };
                    if bytes.get(pos) != Some(&closing) {
                        name_next = in_object;
                        continue 'value;
                    }
                    // Empty: the loop below closes it.
                }
                scalar => {
                    pos = match scalar {
                        Some(b'"') => scan_string(bytes, pos)?.0,
                        Some(b't') => literal(bytes, pos, b"true")?,
                        Some(b'f') => literal(bytes, pos, b"false")?,
                        Some(b'n') => literal(bytes, pos, b"null")?,
                        Some(b'-' | b'0'..=b'9') => number(bytes, pos)?,
                        _ => return Err(unexpected(bytes, pos)),
                    };
                    end = pos;
                    if in_object {
                        self.value_of(member, start, end);
                    }
                    pos = skip_ws(bytes, pos);
                }
            }
            // After a value: a `,`, or the end of the innermost open container (or of the text).
            while let Some(index) = open {
                match bytes.get(pos) {
                    Some(b',') => {
                        pos = skip_ws(bytes, pos + 1);
                        name_next = in_object;
                        continue 'value;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    _ => return Err(unexpected(bytes, pos)),
                }
                pos += 1;
                end = pos;
                let closed = self.close(index, end)?;
                depth -= 1;
                open = closed.parent;
                in_object = open
                    .and_then(|parent| self.containers.get(parent))
                    .is_some_and(|parent| bytes.get(parent.start) == Some(&b'{'));
                member = closed.owner;
                if in_object {
                    self.value_of(member, closed.start, end);
                }
                pos = skip_ws(bytes, pos);
            }
            if pos != bytes.len() {
                return Err(error(ErrorKind::TrailingCharacters, pos));
            }
            return Ok((root, end));
        }
    }

    /// Reads the name of a member of the object `object`, at `pos`, and the `:` after it;
    /// returns where the value starts.
    #[inline(always)]
    fn member_name(&mut self, object: Option<usize>, pos: usize) -> Result<usize, ParseError> {
        let bytes = self.bytes;
        if bytes.get(pos) != Some(&b'"') {
            return Err(unexpected(bytes, pos));
        }
        let (end, escaped) = scan_string(bytes, pos)?;
        let content = self.text.get(pos + 1..end - 1).unwrap_or("");
        let name = if escaped { Cow::Owned(unescape(content)) } else { Cow::Borrowed(content) };
        if let Some(container) = object.and_then(|index| self.containers.get_mut(index)) {
            container.member_count += 1;
            let bit = 1 << name_hash(&name);
            container.name_clash |= container.name_hashes & bit != 0;
            container.name_hashes |= bit;
        }
        self.members.push(Member { name, start: end, end, next: usize::MAX });
        let colon = skip_ws(bytes, end);
        if bytes.get(colon) != Some(&b':') {
            return Err(unexpected(bytes, colon));
        }
        Ok(skip_ws(bytes, colon + 1))
    }

    /// Records that the value of `member` went from `start` to `end`: the next member of its
    /// object comes after all that the value holds.
    #[inline(always)]
    fn value_of(&mut self, member: usize, start: usize, end: usize) {
        let next = self.members.len();
        if let Some(member) = self.members.get_mut(member) {
            member.start = start;
            member.end = end;
            member.next = next;
        }
    }

    /// Closes the container `index` at `end` (after its last byte) and returns it. An object's
    /// members are checked for duplicates.
    fn close(&mut self, index: usize, end: usize) -> Result<Container, ParseError> {
        let Some(container) = self.containers.get_mut(index) else {
            // Never: `index` is the innermost open container.
            return Err(error(ErrorKind::UnexpectedEnd, end));
        };
        container.end = end;
        let container = *container;
        if self.duplicates == Duplicates::Reject
            && container.name_clash
            && let Some(name) = first_duplicate(&self.members, container)
        {
            return Err(error(ErrorKind::DuplicateMember(name.to_owned()), container.start));
        }
        Ok(container)
    }
}

/// Checks the string whose opening quote is at `pos`; returns the position after its closing
/// quote and whether it has escapes.
#[inline(always)]
fn scan_string(bytes: &[u8], pos: usize) -> Result<(usize, bool), ParseError> {
    let mut pos = pos + 1;
    let mut escaped = false;
    loop {
        pos = plain_run(bytes, pos);
        match bytes.get(pos) {
            Some(b'"') => return Ok((pos + 1, escaped)),
            Some(b'\\') => {
                escaped = true;
                pos = escape(bytes, pos)?;
            }
            Some(_) => return Err(error(ErrorKind::ControlCharacter, pos)),
            None => return Err(error(ErrorKind::UnexpectedEnd, pos)),
        }
    }
}

/// Checks the escape whose `\` is at `pos`; returns the position after it.
fn escape(bytes: &[u8], pos: usize) -> Result<usize, ParseError> {
    let hex4_at = |at: usize| bytes.get(at..at + 4).and_then(hex4).ok_or(error(ErrorKind::InvalidEscape, at));
    match bytes.get(pos + 1) {
        None => Err(error(ErrorKind::UnexpectedEnd, pos + 1)),
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(pos + 2),
        Some(b'u') => {
            let lone = error(ErrorKind::LoneSurrogate, pos);
            match hex4_at(pos + 2)? {
                0xD800..=0xDBFF => {
                    if bytes.get(pos + 6..pos + 8) != Some(b"\\u") {
                        return Err(lone);
                    }
                    if !(0xDC00..=0xDFFF).contains(&hex4_at(pos + 8)?) {
                        return Err(lone);
                    }
                    Ok(pos + 12)
                }
                0xDC00..=0xDFFF => Err(lone),
                _ => Ok(pos + 6),
            }
        }
        Some(_) => Err(error(ErrorKind::InvalidEscape, pos + 1)),
    }
}

/// Checks the literal `word` at `pos`; returns the position after it.
fn literal(bytes: &[u8], pos: usize, word: &[u8]) -> Result<usize, ParseError> {
    for (at, &expected) in (pos..).zip(word) {
        if bytes.get(at) != Some(&expected) {
            return Err(unexpected(bytes, at));
        }
    }
    Ok(pos + word.len())
}

/// Checks the number at `pos`; returns the position after it.
fn number(bytes: &[u8], mut pos: usize) -> Result<usize, ParseError> {
    let digits = |mut at: usize| {
        while let Some(b'0'..=b'9') = bytes.get(at) {
            at += 1;
        }
        at
    };
    if bytes.get(pos) == Some(&b'-') {
        pos += 1;
    }
    pos = match bytes.get(pos) {
        Some(b'0') => pos + 1,
        Some(b'1'..=b'9') => digits(pos + 1),
        _ => return Err(error(ErrorKind::InvalidNumber, pos)),
    };
    if bytes.get(pos) == Some(&b'.') {
        let after = digits(pos + 1);
        if after == pos + 1 {
            return Err(error(ErrorKind::InvalidNumber, after));
        }
        pos = after;
    }
    if let Some(b'e' | b'E') = bytes.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = bytes.get(pos) {
            pos += 1;
        }
        let after = digits(pos);
        if after == pos {
            return Err(error(ErrorKind::InvalidNumber, pos));
        }
        pos = after;
    }
    Ok(pos)
}

/// The position of the first byte from `from` on that is `"`, `\` or a control character (or
/// the end): eight bytes at a time, with the classic "has a zero byte" word tricks.
#[inline(always)]
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

/// A number below 64 that equal names share: from the name's length and its first and last
/// bytes.
fn name_hash(name: &str) -> u32 {
    let bytes = name.as_bytes();
    let edge = |byte: Option<&u8>| byte.map_or(0, |&b| u32::from(b));
    (name.len() as u32).wrapping_mul(7).wrapping_add(edge(bytes.first()) * 3).wrapping_add(edge(bytes.last())) % 64
}

/// The first name that an object repeats, if any.
fn first_duplicate<'n>(members: &'n [Member<'_>], object: Container) -> Option<&'n str> {
    const PAIRWISE_UP_TO: usize = 16;
    let (first, count) = (object.first_member, object.member_count);
    let names = move |count| chain(members, first, count).map(|member| member.name.as_ref());
    if count <= PAIRWISE_UP_TO {
        return names(count)
            .enumerate()
            .find(|&(i, name)| names(i).any(|earlier| earlier == name))
            .map(|(_, name)| name);
    }
    let mut sorted: Vec<&str> = names(count).collect();
    heapsort(&mut sorted);
    sorted.windows(2).find(|pair| pair[0] == pair[1]).map(|pair| pair[0])
}

/// Sorts in O(n log n) with a few lines of code: `slice::sort_unstable` is faster on large
/// inputs but adds kilobytes to the WASM module, and objects with more than a handful of
/// members are rare in a request.
fn heapsort<T: Ord>(items: &mut [T]) {
    fn sift_down<T: Ord>(items: &mut [T], mut root: usize, end: usize) {
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
        out.push('\\');
        match byte {
            b'"' | b'\\' => out.push(char::from(byte)),
            0x08 => out.push('b'),
            0x0c => out.push('f'),
            b'\n' => out.push('n'),
            b'\r' => out.push('r'),
            b'\t' => out.push('t'),
            _ => {
                out.push_str("u00");
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
    doc: &'a Document<'a>,
    start: usize,
    end: usize,
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
    Object(Object<'a>),
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
        self.doc.text.get(self.start..self.end).unwrap_or("")
    }

    fn first_byte(self) -> Option<u8> {
        self.doc.text.as_bytes().get(self.start).copied()
    }

    /// The value, decoded one level deep.
    pub fn decode(self) -> Json<'a> {
        match self.first_byte() {
            Some(b'{') => self.object().map_or(Json::Null, Json::Object),
            Some(b'[') => Json::Array(self),
            Some(b'"') => Json::String(decode_string(self.text())),
            Some(b't') => Json::Bool(true),
            Some(b'f') => Json::Bool(false),
            Some(b'n') | None => Json::Null,
            Some(_) => Json::Number(self.text()),
        }
    }

    /// The array or object that starts where this value does.
    fn container(self) -> Option<&'a Container> {
        let containers = &self.doc.containers;
        containers.binary_search_by_key(&self.start, |c| c.start).ok().and_then(|found| containers.get(found))
    }

    /// The members of an object, in document order; `None` for any other value.
    pub fn object(self) -> Option<Object<'a>> {
        if self.first_byte() != Some(b'{') {
            return None;
        }
        let container = self.container()?;
        Some(Object { doc: self.doc, first: container.first_member, count: container.member_count })
    }

    /// Iterates the items of an array (nothing for any other value).
    pub fn items(self) -> Items<'a> {
        let pos = if self.first_byte() == Some(b'[') { self.start + 1 } else { self.end };
        Items { raw: self, pos }
    }

    /// The position of the next byte that is not white space, before the value's end.
    fn next_token(self, from: usize) -> Option<usize> {
        Some(skip_ws(self.doc.text.as_bytes(), from)).filter(|&at| at < self.end)
    }

    /// The end of the value that starts at `start`: a string is scanned, an array or object is
    /// looked up among the containers the validation recorded.
    fn value_end(self, start: usize) -> usize {
        let bytes = self.doc.text.as_bytes();
        match bytes.get(start) {
            Some(b'"') => string_end(bytes, start),
            Some(b'{' | b'[') => Raw { start, ..self }.container().map_or(self.end, |c| c.end),
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

/// An object's members, as the validation recorded them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<'a> {
    doc: &'a Document<'a>,
    first: usize,
    count: usize,
}

impl<'a> Object<'a> {
    /// The value of the last member named `name`.
    pub fn get(&self, name: &str) -> Option<Raw<'a>> {
        self.members().filter(|m| m.name == name).last().map(|m| self.value(m))
    }

    /// The members in document order, their names unescaped.
    pub fn iter(self) -> impl Iterator<Item = (&'a str, Raw<'a>)> {
        self.members().map(move |m| (m.name.as_ref(), self.value(m)))
    }

    /// How many members the object has.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn members(&self) -> impl Iterator<Item = &'a Member<'a>> + use<'a> {
        chain(&self.doc.members, self.first, self.count)
    }

    fn value(&self, member: &Member<'a>) -> Raw<'a> {
        Raw { doc: self.doc, start: member.start, end: member.end }
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
        let bytes = raw.doc.text.as_bytes();
        let start = raw.next_token(self.pos).filter(|&at| bytes.get(at) != Some(&b']'))?;
        let end = raw.value_end(start);
        self.pos = raw.next_token(end).map_or(raw.end, |at| at + 1);
        Some(Raw { start, end, ..raw })
    }
}

/// The end of the validated string that starts (with its quote) at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    loop {
        i = plain_run(bytes, i);
        match bytes.get(i) {
            Some(b'"') => return i + 1,
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
            None => return bytes.len(),
        }
    }
}

/// The content of a validated string (`quoted` includes the quotes), unescaped.
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
        assert_eq!(ok("{}").root().object().map(|o| o.len()), Some(0));
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
