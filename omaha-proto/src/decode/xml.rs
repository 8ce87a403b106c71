//! A minimal pull tokenizer for the XML that Omaha documents use.
//!
//! It borrows everything from the input `&str` and allocates only the stack of open
//! element names. It checks well-formedness as far as a decoder that must never be
//! confused needs: start and end tags match, attributes are `name="value"` or
//! `name='value'` separated by whitespace, comments, processing instructions and CDATA
//! sections are closed. A `<!DOCTYPE` is reported so the caller can refuse it; references
//! are left in text and attribute values for the caller to resolve.
//!
//! Why not quick-xml: on this machine quick-xml 0.42's reader alone (events plus attribute
//! iteration, no decoding) takes about 2.1 µs for a 742-byte update_engine request, more
//! than the 2 µs budget for the whole decode; this tokenizer takes a fraction of that (see
//! `benches/benches/codec.rs`).

/// A start tag (`<name attrs>` or `<name attrs/>`).
pub(crate) struct Tag<'a> {
    /// The element name.
    pub(crate) name: &'a str,
    /// The attribute section, already checked to be well-formed.
    attrs: &'a str,
    /// Which start tag of the document this is, to find its recorded attributes.
    generation: u32,
}

impl<'a> Tag<'a> {
    /// The attributes in document order, as (name, raw value) pairs, re-scanned from the
    /// checked attribute section (the slow path; see [`Tokenizer::attributes`]).
    pub(crate) fn attributes(&self) -> Attributes<'a> {
        Attributes {
            s: self.attrs,
            pos: 0,
        }
    }
}

/// An attribute recorded while its tag was checked: offsets into the document.
#[derive(Clone, Copy)]
pub(crate) struct Span {
    name: (u32, u32),
    value: (u32, u32),
    /// Whether the value contains `&` (so needs unescaping).
    pub(crate) has_ref: bool,
}

/// Iterator over a checked attribute section.
pub(crate) struct Attributes<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.s.as_bytes();
        let mut i = skip_ws(b, self.pos);
        let name_start = i;
        i = scan_name(b, i);
        if i == name_start {
            return None;
        }
        let name = self.s.get(name_start..i)?;
        i = skip_ws(b, i);
        i = skip_ws(b, i + 1); // the checked '='
        let quote = *b.get(i)?;
        let value_start = i + 1;
        let len = self.s.get(value_start..)?.find(char::from(quote))?;
        let value = self.s.get(value_start..value_start + len)?;
        self.pos = value_start + len + 1;
        Some((name, value))
    }
}

/// One token.
pub(crate) enum Token<'a> {
    /// `<name ...>`.
    Start(Tag<'a>),
    /// `<name .../>`.
    Empty(Tag<'a>),
    /// `</name>` (matching the innermost open start tag).
    End,
    /// Character data between tags, references unresolved, and whether it holds a `&`.
    Text(&'a str, bool),
    /// The content of a CDATA section.
    CData(&'a str),
    /// A comment, processing instruction or XML declaration.
    Skip,
    /// `<!DOCTYPE ...`.
    Doctype,
    /// End of input (elements may still be open: the caller reports that).
    Eof,
}

/// A syntax error: where and what.
pub(crate) struct SyntaxError {
    pub(crate) offset: usize,
    pub(crate) message: &'static str,
}

/// The tokenizer state.
pub(crate) struct Tokenizer<'a> {
    doc: &'a str,
    pos: usize,
    open: Vec<&'a str>,
    /// The attributes of the most recent start tag.
    spans: Vec<Span>,
    generation: u32,
}

/// Byte classes: whitespace, and bytes that may appear in a name.
const WS: u8 = 1;
const NAME: u8 = 2;
static CLASS: [u8; 256] = {
    let mut t = [NAME; 256];
    t[b' ' as usize] = WS;
    t[b'\t' as usize] = WS;
    t[b'\n' as usize] = WS;
    t[b'\r' as usize] = WS;
    let delimiters = b"/><=\"'&!?";
    let mut i = 0;
    while i < delimiters.len() {
        t[delimiters[i] as usize] = 0;
        i += 1;
    }
    t
};

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && CLASS[usize::from(b[i])] == WS {
        i += 1;
    }
    i
}

/// End of the name starting at `i` (equal to `i` when there is none).
fn scan_name(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && CLASS[usize::from(b[i])] == NAME {
        i += 1;
    }
    i
}

/// The first offset at or after `i` holding `x` or `y`, eight bytes at a time.
fn find2(b: &[u8], mut i: usize, x: u8, y: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (vx, vy) = (LO * u64::from(x), LO * u64::from(y));
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let (a, c) = (w ^ vx, w ^ vy);
        // A zero byte in `a` or `c` is a match; the lowest flagged byte is always a true
        // match (borrows only propagate upwards).
        let z = ((a.wrapping_sub(LO) & !a) | (c.wrapping_sub(LO) & !c)) & HI;
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?
        .iter()
        .position(|&c| c == x || c == y)
        .map(|j| i + j)
}

/// Offset of the `quote` closing a value that starts at `i`, and whether the value holds
/// a `&`.
fn scan_value(b: &[u8], i: usize, quote: u8) -> Option<(usize, bool)> {
    let mut has_ref = false;
    let mut at = i;
    loop {
        at = find2(b, at, quote, b'&')?;
        if b[at] == quote {
            return Some((at, has_ref));
        }
        has_ref = true;
        at += 1;
    }
}

fn offset(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl<'a> Tokenizer<'a> {
    /// Starts at the beginning of `doc`, after a byte order mark if there is one.
    pub(crate) fn new(doc: &'a str) -> Self {
        let pos = if doc.starts_with('\u{feff}') { 3 } else { 0 };
        Self {
            doc,
            pos,
            open: Vec::with_capacity(8),
            spans: Vec::with_capacity(16),
            generation: 0,
        }
    }

    /// Calls `f` with each attribute of `tag` (name, raw value, offset of the value, whether
    /// it holds a reference). Uses the spans recorded while the tag was checked when `tag`
    /// is the most recent start tag, and re-scans its attribute section otherwise.
    pub(crate) fn attributes<E>(
        &self,
        tag: &Tag<'a>,
        mut f: impl FnMut(&'a str, &'a str, bool) -> Result<(), E>,
    ) -> Result<(), E> {
        let doc = self.doc;
        // Spans hold 32-bit offsets; larger documents (only possible with raised limits)
        // always take the re-scan path.
        if tag.generation == self.generation && u32::try_from(doc.len()).is_ok() {
            for span in &self.spans {
                let name = doc
                    .get(span.name.0 as usize..span.name.1 as usize)
                    .unwrap_or("");
                let value = doc
                    .get(span.value.0 as usize..span.value.1 as usize)
                    .unwrap_or("");
                f(name, value, span.has_ref)?;
            }
        } else {
            for (name, value) in tag.attributes() {
                f(name, value, value.contains('&'))?;
            }
        }
        Ok(())
    }

    /// Offset of the next token.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn err(&self, offset: usize, message: &'static str) -> SyntaxError {
        SyntaxError { offset, message }
    }

    /// Finds `pat` at or after `from`; the offset just past it.
    fn past(
        &self,
        from: usize,
        pat: &str,
        message: &'static str,
    ) -> Result<(usize, usize), SyntaxError> {
        match self.doc.get(from..).and_then(|s| s.find(pat)) {
            Some(at) => Ok((from + at, from + at + pat.len())),
            None => Err(self.err(self.pos, message)),
        }
    }

    /// Reads the next token.
    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, SyntaxError> {
        let b = self.doc.as_bytes();
        let start = self.pos;
        if start >= b.len() {
            // The caller knows which element is still open and reports it.
            return Ok(Token::Eof);
        }
        if b[start] != b'<' {
            let mut has_ref = false;
            let mut at = start;
            let end = loop {
                match find2(b, at, b'<', b'&') {
                    Some(i) if b[i] == b'&' => {
                        has_ref = true;
                        at = i + 1;
                    }
                    Some(i) => break i,
                    None => break b.len(),
                }
            };
            self.pos = end;
            return Ok(Token::Text(&self.doc[start..end], has_ref));
        }
        match b.get(start + 1) {
            Some(b'/') => {
                let name_end = scan_name(b, start + 2);
                let name = &self.doc[start + 2..name_end];
                let gt = skip_ws(b, name_end);
                if b.get(gt) != Some(&b'>') {
                    return Err(self.err(start, "end tag not closed by `>`"));
                }
                match self.open.pop() {
                    Some(open) if open == name => {}
                    Some(_) => {
                        return Err(self.err(start, "end tag does not match the open element"));
                    }
                    None => return Err(self.err(start, "end tag without a start tag")),
                }
                self.pos = gt + 1;
                Ok(Token::End)
            }
            Some(b'?') => {
                let (_, end) =
                    self.past(start + 2, "?>", "processing instruction not closed by `?>`")?;
                self.pos = end;
                Ok(Token::Skip)
            }
            Some(b'!') => {
                let rest = &self.doc[start..];
                if rest.starts_with("<!--") {
                    let (_, end) = self.past(start + 4, "-->", "comment not closed by `-->`")?;
                    self.pos = end;
                    Ok(Token::Skip)
                } else if rest.starts_with("<![CDATA[") {
                    let (at, end) =
                        self.past(start + 9, "]]>", "CDATA section not closed by `]]>`")?;
                    self.pos = end;
                    Ok(Token::CData(&self.doc[start + 9..at]))
                } else if rest.starts_with("<!DOCTYPE") {
                    // Nothing after a DTD is read: the caller refuses the document.
                    self.pos = b.len();
                    Ok(Token::Doctype)
                } else {
                    Err(self.err(start, "unknown markup declaration after `<!`"))
                }
            }
            _ => self.start_tag(start),
        }
    }

    fn start_tag(&mut self, start: usize) -> Result<Token<'a>, SyntaxError> {
        let b = self.doc.as_bytes();
        let name_end = scan_name(b, start + 1);
        if name_end == start + 1 {
            return Err(self.err(start, "expected an element name after `<`"));
        }
        let name = &self.doc[start + 1..name_end];
        self.spans.clear();
        self.generation = self.generation.wrapping_add(1);
        let mut i = name_end;
        loop {
            let before = i;
            i = skip_ws(b, i);
            match b.get(i) {
                None => return Err(self.err(start, "start tag not closed by `>`")),
                Some(b'>') => {
                    self.pos = i + 1;
                    self.open.push(name);
                    return Ok(Token::Start(Tag {
                        name,
                        attrs: &self.doc[name_end..i],
                        generation: self.generation,
                    }));
                }
                Some(b'/') => {
                    if b.get(i + 1) != Some(&b'>') {
                        return Err(self.err(i, "expected `>` after `/` in a tag"));
                    }
                    self.pos = i + 2;
                    return Ok(Token::Empty(Tag {
                        name,
                        attrs: &self.doc[name_end..i],
                        generation: self.generation,
                    }));
                }
                Some(_) => {}
            }
            if CLASS[usize::from(b[i])] != NAME {
                return Err(self.err(i, "unexpected character in a start tag"));
            }
            if i == before {
                return Err(self.err(i, "expected whitespace before an attribute"));
            }
            let attr_start = i;
            i = scan_name(b, i);
            if i == attr_start {
                return Err(self.err(i, "expected an attribute name"));
            }
            let attr_end = i;
            i = skip_ws(b, i);
            if b.get(i) != Some(&b'=') {
                return Err(self.err(i, "expected `=` after an attribute name"));
            }
            i = skip_ws(b, i + 1);
            let Some(&quote @ (b'"' | b'\'')) = b.get(i) else {
                return Err(self.err(i, "expected a quoted attribute value"));
            };
            let Some((close, has_ref)) = scan_value(b, i + 1, quote) else {
                return Err(self.err(i, "attribute value not closed"));
            };
            self.spans.push(Span {
                name: (offset(attr_start), offset(attr_end)),
                value: (offset(i + 1), offset(close)),
                has_ref,
            });
            i = close + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All tokens of `doc` in a compact form, or the first error.
    fn tokens(doc: &str) -> Result<Vec<String>, (usize, &'static str)> {
        let mut t = Tokenizer::new(doc);
        let mut out = Vec::new();
        loop {
            let token = t.next_token().map_err(|e| (e.offset, e.message))?;
            out.push(match token {
                Token::Start(tag) | Token::Empty(tag) => {
                    let mut attrs = Vec::new();
                    t.attributes(&tag, |n, v, r| {
                        attrs.push(format!("{n}={v}{}", if r { "&" } else { "" }));
                        Ok::<(), ()>(())
                    })
                    .unwrap();
                    let rescanned: Vec<String> = tag
                        .attributes()
                        .map(|(n, v)| format!("{n}={v}{}", if v.contains('&') { "&" } else { "" }))
                        .collect();
                    assert_eq!(attrs, rescanned, "recorded and re-scanned attributes agree");
                    format!(
                        "<{}{}>",
                        tag.name,
                        attrs.iter().map(|a| format!(" {a}")).collect::<String>()
                    )
                }
                Token::End => "</>".to_owned(),
                Token::Text(text, r) => format!("T({text}){}", if r { "&" } else { "" }),
                Token::CData(text) => format!("C({text})"),
                Token::Skip => "skip".to_owned(),
                Token::Doctype => "doctype".to_owned(),
                Token::Eof => break,
            });
        }
        Ok(out)
    }

    #[test]
    fn tags_attributes_and_text() {
        assert_eq!(
            tokens("\u{feff}<?xml version=\"1.0\"?><a x = \"1>2\" y='q\"&amp;'\n z=\"\"><b/>t&lt;<!--c--><![CDATA[<&>]]></a >")
                .unwrap(),
            [
                "skip",
                "<a x=1>2 y=q\"&amp;& z=>",
                "<b>",
                "T(t&lt;)&",
                "skip",
                "C(<&>)",
                "</>"
            ]
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        for (doc, offset, message) in [
            ("<a></b>", 3, "end tag does not match the open element"),
            ("</a>", 0, "end tag without a start tag"),
            ("<a></a", 3, "end tag not closed by `>`"),
            ("<a x=1/>", 5, "expected a quoted attribute value"),
            ("<a x/>", 4, "expected `=` after an attribute name"),
            (
                "<a x=\"1\"y=\"2\"/>",
                8,
                "expected whitespace before an attribute",
            ),
            ("<a x=\"1/>", 5, "attribute value not closed"),
            ("<a", 0, "start tag not closed by `>`"),
            ("<a /x>", 3, "expected `>` after `/` in a tag"),
            ("< a/>", 0, "expected an element name after `<`"),
            ("<a \"x\"/>", 3, "unexpected character in a start tag"),
            ("<!-- x", 0, "comment not closed by `-->`"),
            ("<![CDATA[ x", 0, "CDATA section not closed by `]]>`"),
            ("<? x", 0, "processing instruction not closed by `?>`"),
            ("<!ELEMENT x>", 0, "unknown markup declaration after `<!`"),
        ] {
            assert_eq!(tokens(doc), Err((offset, message)), "{doc}");
        }
        assert_eq!(tokens("<!DOCTYPE x>").unwrap(), ["doctype"]);
        // End of input inside an element is reported by the caller, which knows the path.
        assert_eq!(tokens("<a><b>").unwrap(), ["<a>", "<b>"]);
    }

    #[test]
    fn find2_agrees_with_a_plain_scan() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|k| [b'a', b'"', b'&', 0x80, 0xff, b'<'][((state >> (k % 60)) % 6) as usize])
                .collect();
            for start in 0..=len {
                let plain = bytes[start..]
                    .iter()
                    .position(|&c| c == b'"' || c == b'&')
                    .map(|j| start + j);
                assert_eq!(
                    find2(&bytes, start, b'"', b'&'),
                    plain,
                    "{bytes:?} from {start}"
                );
            }
        }
    }
}
