//! Reading a validated document: following the links validation recorded.

use std::borrow::Cow;

use super::validate::{plain_run, skip_ws, unescape};
use super::*;

impl<'a> Document<'a> {
    /// The document's value.
    pub fn root(&self) -> Raw<'_> {
        Raw { doc: self, start: self.root.0, end: self.root.1 }
    }
}

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
