//! The pull decoder shared by the request and response decoders.
//!
//! A [`Cursor`] wraps the borrowing tokenizer of [`xml`] and turns its tokens into a
//! smaller set ([`Ev`]), enforcing the [`Limits`] and the security rules on the way:
//! DOCTYPE refused, only the five predefined entities and character references, nesting
//! depth bounded. Attribute values are borrowed from the input; a value is copied once into
//! the owned field of the result, and unescaped only when it contains `&`.

use std::borrow::Cow;

use crate::error::DecodeError;
use crate::limits::Limits;

pub(crate) mod request;
pub(crate) mod response;
mod xml;

use xml::{Tag, Token, Tokenizer};

/// A simplified pull event.
pub(crate) enum Ev<'a> {
    /// `<name ...>`; the matching [`Ev::End`] follows the element's content.
    Start(Tag<'a>),
    /// `<name .../>`.
    Empty(Tag<'a>),
    /// The end tag of the innermost open element.
    End,
    /// Character data (text with references resolved, or CDATA).
    Text(Cow<'a, str>),
    /// End of input.
    Eof,
}

/// The decoder state over one document.
pub(crate) struct Cursor<'a> {
    tokens: Tokenizer<'a>,
    /// Address of the first byte of the input, to turn borrowed slices into offsets.
    base: usize,
    len: usize,
    pub(crate) limits: Limits,
    depth: usize,
    /// Offset where the most recently read event starts.
    pub(crate) ev_start: usize,
}

impl<'a> Cursor<'a> {
    /// Checks the size and encoding of `input` and starts reading it.
    pub(crate) fn new(input: &'a [u8], limits: Limits) -> Result<Self, DecodeError> {
        if input.len() > limits.max_document_bytes {
            return Err(DecodeError::DocumentTooLarge {
                size: input.len(),
                limit: limits.max_document_bytes,
            });
        }
        let doc = std::str::from_utf8(input).map_err(|e| DecodeError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        Ok(Self {
            tokens: Tokenizer::new(doc),
            base: doc.as_ptr().addr(),
            len: doc.len(),
            limits,
            depth: 0,
            ev_start: 0,
        })
    }

    /// Byte offset of a slice borrowed from the input (or of the current event when the
    /// slice is not borrowed from it).
    pub(crate) fn offset_of(&self, s: &str) -> usize {
        let p = s.as_ptr().addr();
        if p >= self.base && p <= self.base + self.len {
            p - self.base
        } else {
            self.ev_start
        }
    }

    /// Reads the next event of interest; `path` names the innermost known open element
    /// for error messages.
    pub(crate) fn next(&mut self, path: &'static str) -> Result<Ev<'a>, DecodeError> {
        loop {
            self.ev_start = self.tokens.position();
            let token = self
                .tokens
                .next_token()
                .map_err(|e| DecodeError::Malformed {
                    path,
                    offset: e.offset,
                    message: e.message.to_owned(),
                })?;
            return Ok(match token {
                Token::Start(tag) => {
                    self.check_depth(path)?;
                    self.depth += 1;
                    Ev::Start(tag)
                }
                Token::Empty(tag) => {
                    self.check_depth(path)?;
                    Ev::Empty(tag)
                }
                Token::End => {
                    self.depth = self.depth.saturating_sub(1);
                    Ev::End
                }
                // References are resolved (and so checked) even in text that is ignored.
                Token::Text(t, false) => Ev::Text(Cow::Borrowed(t)),
                Token::Text(t, true) => Ev::Text(unescape(t, path, self.ev_start)?),
                Token::CData(t) => Ev::Text(Cow::Borrowed(t)),
                Token::Doctype => {
                    return Err(DecodeError::DoctypeNotAllowed {
                        offset: self.ev_start,
                    });
                }
                Token::Skip => continue,
                Token::Eof => Ev::Eof,
            });
        }
    }

    fn check_depth(&self, path: &'static str) -> Result<(), DecodeError> {
        if self.depth >= self.limits.max_depth {
            Err(DecodeError::TooDeep {
                path,
                limit: self.limits.max_depth,
                offset: self.ev_start,
            })
        } else {
            Ok(())
        }
    }

    /// Consumes the content and end tag of an element whose start tag was just read
    /// (`open`), or nothing for an empty-element tag.
    pub(crate) fn skip(&mut self, path: &'static str, open: bool) -> Result<(), DecodeError> {
        if !open {
            return Ok(());
        }
        let mut depth = 1_usize;
        loop {
            match self.next(path)? {
                Ev::Start(_) => depth += 1,
                Ev::End => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Ev::Eof => return Err(DecodeError::UnexpectedEof { path }),
                Ev::Empty(_) | Ev::Text(_) => {}
            }
        }
    }

    /// Reads the children of an open element up to its end tag, calling `child` for each
    /// child element (`open` tells whether it has content to consume; `child` must consume
    /// it, typically with [`Cursor::children`] or [`Cursor::skip`]). Text is ignored.
    pub(crate) fn children<F>(
        &mut self,
        path: &'static str,
        mut child: F,
    ) -> Result<(), DecodeError>
    where
        F: FnMut(&mut Self, &Tag<'a>, bool) -> Result<(), DecodeError>,
    {
        loop {
            match self.next(path)? {
                Ev::Start(e) => child(self, &e, true)?,
                Ev::Empty(e) => child(self, &e, false)?,
                Ev::End => return Ok(()),
                Ev::Eof => return Err(DecodeError::UnexpectedEof { path }),
                Ev::Text(_) => {}
            }
        }
    }

    /// Reads the text content of an open element up to its end tag; child elements are
    /// skipped. The text is bounded by `max_attribute_bytes`.
    pub(crate) fn text(&mut self, path: &'static str, open: bool) -> Result<String, DecodeError> {
        let mut out = String::new();
        if !open {
            return Ok(out);
        }
        let start = self.ev_start;
        loop {
            match self.next(path)? {
                Ev::Text(t) => out.push_str(&t),
                Ev::Start(_) => self.skip(path, true)?,
                Ev::Empty(_) => {}
                Ev::End => return Ok(out),
                Ev::Eof => return Err(DecodeError::UnexpectedEof { path }),
            }
            if out.len() > self.limits.max_attribute_bytes {
                return Err(DecodeError::AttributeTooLong {
                    path,
                    attribute: "#text".to_owned(),
                    len: out.len(),
                    limit: self.limits.max_attribute_bytes,
                    offset: start,
                });
            }
        }
    }

    /// Calls `f` with each attribute of `e` (name and value), after checking its length.
    /// Must be called before the next event is read (it then uses the attribute positions
    /// recorded by the tokenizer; otherwise the tag is re-scanned).
    pub(crate) fn attributes<F>(
        &self,
        e: &Tag<'a>,
        path: &'static str,
        mut f: F,
    ) -> Result<(), DecodeError>
    where
        F: FnMut(&str, Value<'_>) -> Result<(), DecodeError>,
    {
        let limit = self.limits.max_attribute_bytes;
        self.tokens.attributes(e, |name, raw, has_ref| {
            let offset = self.offset_of(raw);
            // Unescaping never lengthens a value, so only a long raw value needs the
            // (unescaped) length measured. The limit is on the unescaped value so that it
            // does not depend on how a producer chose to escape it.
            if raw.len() > limit {
                let len = unescape(raw, path, offset)?.len();
                if len > limit {
                    return Err(DecodeError::AttributeTooLong {
                        path,
                        attribute: truncate(name, 64),
                        len,
                        limit,
                        offset,
                    });
                }
            }
            f(
                name,
                Value {
                    raw,
                    offset,
                    path,
                    has_ref,
                },
            )
        })
    }
}

/// Decodes a whole document: prolog, the root element named `root` (handed to `parse`
/// with its `open` flag), epilog.
pub(crate) fn document<'a, T, F>(
    input: &'a [u8],
    limits: Limits,
    root: &'static str,
    parse: F,
) -> Result<T, DecodeError>
where
    F: FnOnce(&mut Cursor<'a>, &Tag<'a>, bool) -> Result<T, DecodeError>,
{
    let mut c = Cursor::new(input, limits)?;
    let value = loop {
        match c.next("document")? {
            Ev::Start(e) | Ev::Empty(e) if e.name != root => {
                return Err(DecodeError::WrongRoot {
                    expected: root,
                    found: truncate(e.name, 64),
                    offset: c.ev_start,
                });
            }
            Ev::Start(e) => break parse(&mut c, &e, true)?,
            Ev::Empty(e) => break parse(&mut c, &e, false)?,
            Ev::Text(t) if is_xml_whitespace(&t) => {}
            Ev::Text(_) | Ev::End => {
                return Err(DecodeError::ContentOutsideRoot { offset: c.ev_start });
            }
            Ev::Eof => return Err(DecodeError::MissingRoot { expected: root }),
        }
    };
    loop {
        match c.next("document")? {
            Ev::Eof => return Ok(value),
            Ev::Text(t) if is_xml_whitespace(&t) => {}
            _ => return Err(DecodeError::ContentOutsideRoot { offset: c.ev_start }),
        }
    }
}

fn is_xml_whitespace(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Resolves a reference name (the text between `&` and `;`).
fn resolve_reference(name: &str, path: &'static str, offset: usize) -> Result<char, DecodeError> {
    let invalid = || DecodeError::InvalidReference {
        reference: truncate(&format!("&{name};"), 32),
        path,
        offset,
    };
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => {
            if let Some(num) = name.strip_prefix('#') {
                let (digits, radix) = match num.strip_prefix('x') {
                    Some(hex) => (hex, 16),
                    None => (num, 10),
                };
                if digits.is_empty()
                    || digits.len() > 8
                    || !digits.bytes().all(|b| char::from(b).is_digit(radix))
                {
                    return Err(invalid());
                }
                u32::from_str_radix(digits, radix)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(invalid)
            } else {
                Err(DecodeError::UnknownEntity {
                    name: truncate(name, 32),
                    path,
                    offset,
                })
            }
        }
    }
}

/// Replaces references in an attribute value; borrows when there is no `&`.
fn unescape<'v>(
    raw: &'v str,
    path: &'static str,
    offset: usize,
) -> Result<Cow<'v, str>, DecodeError> {
    let Some(first) = raw.find('&') else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    let mut rest = &raw[first..];
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let at = offset + (raw.len() - rest.len()) + amp;
        let after = &rest[amp + 1..];
        let Some(semi) = after.find(';') else {
            return Err(DecodeError::InvalidReference {
                reference: truncate(&rest[amp..], 32),
                path,
                offset: at,
            });
        };
        out.push(resolve_reference(&after[..semi], path, at)?);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// One attribute value, borrowed from the input, with what is needed to report errors.
pub(crate) struct Value<'v> {
    raw: &'v str,
    offset: usize,
    path: &'static str,
    has_ref: bool,
}

impl<'v> Value<'v> {
    /// The unescaped value.
    pub(crate) fn text(&self) -> Result<Cow<'v, str>, DecodeError> {
        if self.has_ref {
            unescape(self.raw, self.path, self.offset)
        } else {
            Ok(Cow::Borrowed(self.raw))
        }
    }

    /// The unescaped value, owned.
    pub(crate) fn string(&self) -> Result<String, DecodeError> {
        self.text().map(Cow::into_owned)
    }

    fn duplicate(&self, name: &'static str) -> DecodeError {
        DecodeError::DuplicateAttribute {
            path: self.path,
            attribute: name.to_owned(),
            offset: self.offset,
        }
    }

    pub(crate) fn invalid(&self, name: &'static str, expected: &'static str) -> DecodeError {
        DecodeError::InvalidValue {
            path: self.path,
            attribute: name,
            value: truncate(self.raw, 64),
            expected,
            offset: self.offset,
        }
    }

    /// Fails when `slot` was already set by an earlier attribute of the same name.
    pub(crate) fn fresh<T>(&self, slot: &Option<T>, name: &'static str) -> Result<(), DecodeError> {
        if slot.is_some() {
            Err(self.duplicate(name))
        } else {
            Ok(())
        }
    }

    /// Stores the string value.
    pub(crate) fn set_string(
        &self,
        slot: &mut Option<String>,
        name: &'static str,
    ) -> Result<(), DecodeError> {
        self.fresh(slot, name)?;
        *slot = Some(self.string()?);
        Ok(())
    }

    /// Stores a value parsed by `parse` from the unescaped, whitespace-trimmed text; an
    /// empty value leaves the slot empty (as Go's encoding/xml reads it as zero).
    pub(crate) fn set_parsed<T>(
        &self,
        slot: &mut Option<T>,
        name: &'static str,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<(), DecodeError> {
        self.fresh(slot, name)?;
        let text = self.text()?;
        let trimmed = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
        if trimmed.is_empty() {
            return Ok(());
        }
        *slot = Some(parse(trimmed).ok_or_else(|| self.invalid(name, expected))?);
        Ok(())
    }

    /// Stores a boolean, accepting every spelling of omaha-protocol.md §15.2.
    pub(crate) fn set_bool(
        &self,
        slot: &mut Option<bool>,
        name: &'static str,
    ) -> Result<(), DecodeError> {
        self.set_parsed(
            slot,
            name,
            "a boolean (true/false, 1/0, t/f, yes/no, y/n, on/off)",
            parse_bool,
        )
    }

    /// Stores a signed decimal integer.
    pub(crate) fn set_i64(
        &self,
        slot: &mut Option<i64>,
        name: &'static str,
    ) -> Result<(), DecodeError> {
        self.set_parsed(slot, name, "a decimal integer", |s| s.parse().ok())
    }

    /// Stores an unsigned decimal integer.
    pub(crate) fn set_u64(
        &self,
        slot: &mut Option<u64>,
        name: &'static str,
    ) -> Result<(), DecodeError> {
        self.set_parsed(slot, name, "an unsigned decimal integer", |s| {
            s.parse().ok()
        })
    }
}

/// Lenient boolean: Go's strconv.ParseBool set plus ue-rs's yes/no/on/off, any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["1", "t", "true", "y", "yes", "on"];
    const FALSE: [&str; 6] = ["0", "f", "false", "n", "no", "off"];
    if TRUE.iter().any(|t| s.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| s.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// Fails with [`DecodeError::TooManyItems`] when `items` already holds
/// [`Limits::max_items`] elements and another `element` starts.
pub(crate) fn room_for<T>(
    c: &Cursor<'_>,
    items: &[T],
    path: &'static str,
    element: &'static str,
) -> Result<(), DecodeError> {
    if items.len() >= c.limits.max_items {
        Err(DecodeError::TooManyItems {
            path,
            element,
            limit: c.limits.max_items,
            offset: c.ev_start,
        })
    } else {
        Ok(())
    }
}

/// Fails with [`DecodeError::DuplicateElement`] when a singleton child was already seen.
pub(crate) fn fresh_element<T>(
    c: &Cursor<'_>,
    slot: &Option<T>,
    path: &'static str,
    element: &'static str,
) -> Result<(), DecodeError> {
    if slot.is_some() {
        Err(DecodeError::DuplicateElement {
            path,
            element,
            offset: c.ev_start,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_only_predefined_and_numeric() {
        assert_eq!(
            unescape("a&lt;b&#x3A9;&#65;&amp;", "p", 0).unwrap(),
            "a<bΩA&"
        );
        assert!(matches!(
            unescape("plain", "p", 0).unwrap(),
            Cow::Borrowed("plain")
        ));
        assert!(matches!(
            unescape("x&nbsp;", "p", 10),
            Err(DecodeError::UnknownEntity { offset: 11, .. })
        ));
        assert!(matches!(
            unescape("x&amp", "p", 0),
            Err(DecodeError::InvalidReference { offset: 1, .. })
        ));
        for bad in [
            "&#xD800;",
            "&#x110000;",
            "&#;",
            "&#x;",
            "&#+65;",
            "&#x-1;",
            "&#99999999999;",
        ] {
            assert!(
                matches!(
                    unescape(bad, "p", 0),
                    Err(DecodeError::InvalidReference { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn booleans_are_lenient() {
        for t in ["1", "t", "T", "true", "True", "TRUE", "yes", "on", "Y"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "false", "False", "FALSE", "no", "off", "N"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool("2"), None);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("ΩΩΩ", 3), "Ω...");
    }
}
