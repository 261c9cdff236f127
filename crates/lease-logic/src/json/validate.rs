//! Validation: one pass over the bytes, no recursion, no tree.

use std::borrow::Cow;

use super::*;

/// The most container records reserved before reading (a CStorPool has a few dozen).
const PREALLOCATED_CONTAINERS: usize = 256;
/// The most member records reserved before reading (a CStorPool has about a hundred).
const PREALLOCATED_MEMBERS: usize = 512;

/// Validates one whole document held in a string, recording its containers and members.
pub(super) fn document(text: &str, duplicates: Duplicates) -> Result<Document<'_>, ParseError> {
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
pub(super) fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
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
pub(super) fn plain_run(bytes: &[u8], from: usize) -> usize {
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
pub(super) fn unescape(content: &str) -> String {
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
