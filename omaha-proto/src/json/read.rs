//! The JSON reader: a borrowing pull parser over UTF-8-validated input.
//!
//! The decoders walk the document with [`Reader::object`] and [`Reader::list`], reading
//! scalars with [`Reader::scalar`] and skipping unknown members with
//! [`Reader::skip_value`]. Strings are borrowed from the input and copied only when they
//! contain an escape. Nesting is bounded by [`Limits::max_depth`] everywhere, including
//! inside skipped values (skipping is iterative, so no input can exhaust the stack).

use std::borrow::Cow;

use crate::error::DecodeError;
use crate::limits::Limits;

/// A scalar JSON value. The decoders accept any scalar where the protocol has one, since
/// implementations disagree on which JSON type a member has.
pub(crate) enum Scalar<'a> {
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// A number, as written (validated against the JSON grammar).
    Num(&'a str),
    /// `true` or `false`.
    Bool(bool),
    /// `null`: the member is treated as absent.
    Null,
}

/// The parser state over one document.
pub(crate) struct Reader<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    pub(crate) limits: Limits,
}

/// The JSON whitespace characters.
const fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Reader<'a> {
    /// Checks the size and encoding of `input` and starts reading it.
    pub(crate) fn new(input: &'a [u8], limits: Limits) -> Result<Self, DecodeError> {
        if input.len() > limits.max_document_bytes {
            return Err(DecodeError::DocumentTooLarge {
                size: input.len(),
                limit: limits.max_document_bytes,
            });
        }
        let src = std::str::from_utf8(input).map_err(|e| DecodeError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })?;
        Ok(Self {
            src,
            pos: 0,
            depth: 0,
            limits,
        })
    }

    /// The current byte offset.
    pub(crate) const fn position(&self) -> usize {
        self.pos
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    /// Skips whitespace.
    pub(crate) fn ws(&mut self) {
        let bytes = self.bytes();
        while self.pos < bytes.len() && is_ws(bytes[self.pos]) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    /// Skips the safe-JSON prefix `)]}'` a server writes before a response (and the
    /// newline after it), if present.
    pub(crate) fn skip_prefix(&mut self) {
        self.ws();
        if self.src[self.pos..].starts_with(super::PREFIX_TOKEN) {
            self.pos += super::PREFIX_TOKEN.len();
        }
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    pub(crate) fn malformed(&self, path: &'static str, message: &'static str) -> DecodeError {
        DecodeError::MalformedJson {
            path,
            offset: self.pos,
            message,
        }
    }

    fn wrong_type(&self, path: &'static str, member: &str, expected: &'static str) -> DecodeError {
        DecodeError::WrongJsonType {
            path,
            member: crate::decode::truncate(member, 64),
            expected,
            offset: self.pos,
        }
    }

    /// Consumes the opening `{` or `[` at the current position, one level deeper.
    fn enter(&mut self, path: &'static str) -> Result<(), DecodeError> {
        if self.depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep {
                path,
                limit: self.limits.max_depth,
                offset: self.pos,
            });
        }
        self.depth += 1;
        self.pos += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.pos += 1;
        self.depth -= 1;
    }

    /// Reads `"name"` and the `:` after it.
    fn member_name(&mut self, path: &'static str) -> Result<Cow<'a, str>, DecodeError> {
        if self.peek() != Some(b'"') {
            return Err(self.malformed(path, "expected a member name"));
        }
        let name = self.string(path)?;
        if self.peek() != Some(b':') {
            return Err(self.malformed(path, "expected ':' after a member name"));
        }
        self.pos += 1;
        Ok(name)
    }

    /// Reads the object that is the value of `member` in `parent`, calling `f` with each
    /// member's name and the offset of its name; `f` must consume the member's value (or
    /// call [`Reader::skip_value`]). `path` names the object itself in errors.
    pub(crate) fn object<F>(
        &mut self,
        parent: &'static str,
        member: &str,
        path: &'static str,
        mut f: F,
    ) -> Result<(), DecodeError>
    where
        F: FnMut(&mut Self, &str, usize) -> Result<(), DecodeError>,
    {
        match self.peek() {
            Some(b'{') => {}
            None => return Err(self.malformed(parent, "unexpected end of input")),
            Some(_) => return Err(self.wrong_type(parent, member, "an object")),
        }
        self.enter(path)?;
        if self.peek() == Some(b'}') {
            self.leave();
            return Ok(());
        }
        loop {
            self.ws();
            let at = self.pos;
            let name = self.member_name(path)?;
            self.ws();
            f(self, name.as_ref(), at)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.leave();
                    return Ok(());
                }
                None => return Err(self.malformed(path, "unexpected end of input")),
                Some(_) => return Err(self.malformed(path, "expected ',' or '}'")),
            }
        }
    }

    /// Reads the list that is the value of `member`: an array, calling `f` once per
    /// element (positioned at it, with the element's offset), or a single object, taken as
    /// a list of one (producers that convert XML to JSON write a lone child that way), or
    /// `null`, an empty list.
    pub(crate) fn list<F>(
        &mut self,
        parent: &'static str,
        member: &str,
        mut f: F,
    ) -> Result<(), DecodeError>
    where
        F: FnMut(&mut Self, usize) -> Result<(), DecodeError>,
    {
        match self.peek() {
            Some(b'[') => {}
            Some(b'{') => {
                let at = self.pos;
                return f(self, at);
            }
            Some(b'n') => return self.skip_value(parent),
            None => return Err(self.malformed(parent, "unexpected end of input")),
            Some(_) => return Err(self.wrong_type(parent, member, "an array")),
        }
        self.enter(parent)?;
        if self.peek() == Some(b']') {
            self.leave();
            return Ok(());
        }
        loop {
            let at = self.pos;
            f(self, at)?;
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.leave();
                    return Ok(());
                }
                None => return Err(self.malformed(parent, "unexpected end of input")),
                Some(_) => return Err(self.malformed(parent, "expected ',' or ']'")),
            }
        }
    }

    /// Whether the value at the current position is an object or an array.
    pub(crate) fn at_container(&mut self) -> bool {
        matches!(self.peek(), Some(b'{' | b'['))
    }

    /// Reads a scalar value of `member`; an object or array is a
    /// [`DecodeError::WrongJsonType`].
    pub(crate) fn scalar(
        &mut self,
        parent: &'static str,
        member: &str,
    ) -> Result<Scalar<'a>, DecodeError> {
        match self.peek() {
            Some(b'{' | b'[') => {
                Err(self.wrong_type(parent, member, "a string, a number or a boolean"))
            }
            _ => self.scalar_token(parent),
        }
    }

    /// Reads one scalar token.
    fn scalar_token(&mut self, path: &'static str) -> Result<Scalar<'a>, DecodeError> {
        match self.peek() {
            Some(b'"') => self.string(path).map(Scalar::Str),
            Some(b'-' | b'0'..=b'9') => self.number(path).map(Scalar::Num),
            Some(b't') => self.literal(path, "true").map(|()| Scalar::Bool(true)),
            Some(b'f') => self.literal(path, "false").map(|()| Scalar::Bool(false)),
            Some(b'n') => self.literal(path, "null").map(|()| Scalar::Null),
            None => Err(self.malformed(path, "unexpected end of input")),
            Some(_) => Err(self.malformed(path, "expected a value")),
        }
    }

    fn literal(&mut self, path: &'static str, word: &'static str) -> Result<(), DecodeError> {
        if self.src[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.malformed(path, "invalid literal"))
        }
    }

    /// Reads a number per the JSON grammar and returns its text.
    fn number(&mut self, path: &'static str) -> Result<&'a str, DecodeError> {
        let bytes = self.bytes();
        let start = self.pos;
        let mut i = self.pos;
        let digits = |i: &mut usize| {
            let from = *i;
            while *i < bytes.len() && bytes[*i].is_ascii_digit() {
                *i += 1;
            }
            *i - from
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        match bytes.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => {
                self.pos = i;
                return Err(self.malformed(path, "invalid number"));
            }
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.malformed(path, "invalid number"));
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.malformed(path, "invalid number"));
            }
        }
        self.pos = i;
        Ok(&self.src[start..i])
    }

    /// Reads a string (the current byte is its opening quote), unescaped; borrowed from
    /// the input when it has no escape.
    pub(crate) fn string(&mut self, path: &'static str) -> Result<Cow<'a, str>, DecodeError> {
        let bytes = self.bytes();
        self.pos += 1;
        let start = self.pos;
        let mut i = start;
        // The fast path: find the closing quote, or the first escape.
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.src[start..i]));
                }
                b'\\' => break,
                c if c < 0x20 => {
                    self.pos = i;
                    return Err(self.malformed(path, "control character in a string"));
                }
                _ => i += 1,
            }
        }
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.src[start..i]);
        let mut run = i;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    out.push_str(&self.src[run..i]);
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    out.push_str(&self.src[run..i]);
                    self.pos = i;
                    let (c, len) = self.escape(path, i)?;
                    out.push(c);
                    i += len;
                    run = i;
                }
                c if c < 0x20 => {
                    self.pos = i;
                    return Err(self.malformed(path, "control character in a string"));
                }
                _ => i += 1,
            }
        }
        self.pos = bytes.len();
        Err(self.malformed(path, "unterminated string"))
    }

    /// Decodes the escape sequence at `at` (a backslash); returns the character and the
    /// length of the sequence.
    fn escape(&mut self, path: &'static str, at: usize) -> Result<(char, usize), DecodeError> {
        let bytes = self.bytes();
        let simple = match bytes.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = self.hex4(path, at + 2)?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    if bytes.get(at + 6) != Some(&b'\\') || bytes.get(at + 7) != Some(&b'u') {
                        return Err(self.malformed(path, "unpaired surrogate in a string"));
                    }
                    let lo = self.hex4(path, at + 8)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(self.malformed(path, "unpaired surrogate in a string"));
                    }
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    let c = char::from_u32(code)
                        .ok_or_else(|| self.malformed(path, "invalid unicode escape"))?;
                    return Ok((c, 12));
                }
                let c = char::from_u32(hi)
                    .ok_or_else(|| self.malformed(path, "unpaired surrogate in a string"))?;
                return Ok((c, 6));
            }
            None => {
                self.pos = bytes.len();
                return Err(self.malformed(path, "unterminated string"));
            }
            Some(_) => return Err(self.malformed(path, "invalid escape in a string")),
        };
        Ok((simple, 2))
    }

    fn hex4(&mut self, path: &'static str, at: usize) -> Result<u32, DecodeError> {
        let Some(digits) = self.bytes().get(at..at + 4) else {
            return Err(self.malformed(path, "invalid unicode escape"));
        };
        let mut value = 0_u32;
        for &d in digits {
            let v = char::from(d)
                .to_digit(16)
                .ok_or_else(|| self.malformed(path, "invalid unicode escape"))?;
            value = value * 16 + v;
        }
        Ok(value)
    }

    /// Skips one value of any type, checking its syntax and nesting depth. Iterative, so
    /// the depth limit alone bounds the work per level.
    pub(crate) fn skip_value(&mut self, path: &'static str) -> Result<(), DecodeError> {
        // The closing bracket of each open container, innermost last.
        let mut closers: Vec<u8> = Vec::new();
        loop {
            // A value is expected here.
            match self.peek() {
                Some(b'{') => {
                    self.enter(path)?;
                    if self.peek() == Some(b'}') {
                        self.leave();
                    } else {
                        closers.push(b'}');
                        self.member_name(path)?;
                        continue;
                    }
                }
                Some(b'[') => {
                    self.enter(path)?;
                    if self.peek() == Some(b']') {
                        self.leave();
                    } else {
                        closers.push(b']');
                        continue;
                    }
                }
                _ => {
                    self.scalar_token(path)?;
                }
            }
            // A value is complete: close containers, or go on to the next element.
            loop {
                let Some(&closer) = closers.last() else {
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if closer == b'}' {
                            self.member_name(path)?;
                        }
                        break;
                    }
                    Some(c) if c == closer => {
                        self.leave();
                        closers.pop();
                    }
                    None => return Err(self.malformed(path, "unexpected end of input")),
                    Some(_) if closer == b'}' => {
                        return Err(self.malformed(path, "expected ',' or '}'"));
                    }
                    Some(_) => return Err(self.malformed(path, "expected ',' or ']'")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(s: &str) -> Reader<'_> {
        Reader::new(s.as_bytes(), Limits::DEFAULT).unwrap()
    }

    #[test]
    fn strings_unescape_and_borrow_when_plain() {
        let mut r = reader(r#""plain""#);
        assert!(matches!(r.string("p").unwrap(), Cow::Borrowed("plain")));
        let mut r = reader(r#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#);
        assert_eq!(r.string("p").unwrap(), "a\"b\\c/d\n\té😀");
        for bad in [
            r#""a\x""#,
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\udc00""#,
            r#""\u12""#,
            "\"a\nb\"",
            r#""open"#,
            r#""trailing\"#,
        ] {
            let mut r = reader(bad);
            assert!(
                matches!(r.string("p"), Err(DecodeError::MalformedJson { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for good in ["0", "-1", "12", "1.5", "-0.25e+3", "2E9"] {
            let mut r = reader(good);
            assert!(
                matches!(r.scalar("p", "m"), Ok(Scalar::Num(n)) if n == good),
                "{good}"
            );
        }
        for bad in ["01x", "-", "1.", "1e", "+1", ".5"] {
            let mut r = reader(bad);
            let ok = r.scalar("p", "m").is_ok() && r.at_end();
            assert!(!ok, "{bad}");
        }
    }

    #[test]
    fn skipping_checks_syntax_and_depth() {
        let mut r = reader(r#"{"a":[1,{"b":null},"x",[]],"c":{}} "#);
        r.skip_value("p").unwrap();
        assert!(r.at_end());
        for bad in [r#"{"a" 1}"#, "[1,]", "[1 2]", r#"{"a":1,}"#, "[", "{", "]"] {
            let mut r = reader(bad);
            assert!(r.skip_value("p").is_err(), "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        let mut r = reader(&deep);
        assert!(matches!(
            r.skip_value("p"),
            Err(DecodeError::TooDeep { limit: 32, .. })
        ));
        let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
        let mut r = reader(&ok);
        r.skip_value("p").unwrap();
    }
}
