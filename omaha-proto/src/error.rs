//! The error returned when a document cannot be decoded, by the XML or the JSON codec.
//!
//! Encoding cannot fail, so there is no encode error.

/// Why a document could not be decoded.
///
/// Every variant says what was wrong and where: `path` is the element path of the
/// innermost known element (for example `request/app/event`), `offset` the byte offset in
/// the input where the offending construct starts (where known, the attribute value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is larger than [`Limits::max_document_bytes`](crate::Limits).
    #[error("document is {size} bytes, over the limit of {limit} bytes")]
    DocumentTooLarge {
        /// Input size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is not valid UTF-8.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The document has a `<!DOCTYPE ...>`; DTDs, and so entity declarations, are refused.
    #[error(
        "document type declaration at byte {offset}: DTDs and entity declarations are not accepted"
    )]
    DoctypeNotAllowed {
        /// Offset of the declaration.
        offset: usize,
    },
    /// A reference to an entity other than the five predefined ones (`&lt;` `&gt;` `&amp;`
    /// `&quot;` `&apos;`); no other entity is ever expanded.
    #[error(
        "unknown entity `&{name};` in {path} at byte {offset}: only &lt; &gt; &amp; &quot; &apos; and character references are accepted"
    )]
    UnknownEntity {
        /// The entity name.
        name: String,
        /// Element path.
        path: &'static str,
        /// Byte offset.
        offset: usize,
    },
    /// A malformed reference: `&` without `;`, or a character reference that is not a
    /// Unicode scalar value.
    #[error("invalid reference `{reference}` in {path} at byte {offset}")]
    InvalidReference {
        /// The reference text (truncated to 32 bytes).
        reference: String,
        /// Element path.
        path: &'static str,
        /// Byte offset.
        offset: usize,
    },
    /// Elements are nested deeper than [`Limits::max_depth`](crate::Limits).
    #[error("elements nested deeper than {limit} levels inside {path} at byte {offset}")]
    TooDeep {
        /// Path of the innermost known element.
        path: &'static str,
        /// The limit.
        limit: usize,
        /// Offset of the element that went too deep.
        offset: usize,
    },
    /// More `<app>` elements than [`Limits::max_apps`](crate::Limits).
    #[error("more than {limit} <app> elements in {path} (at byte {offset})")]
    TooManyApps {
        /// `request` or `response`.
        path: &'static str,
        /// The limit.
        limit: usize,
        /// Offset of the first app over the limit.
        offset: usize,
    },
    /// More `<event>` elements in one app than [`Limits::max_events_per_app`](crate::Limits).
    #[error("more than {limit} <event> elements in {path} (at byte {offset})")]
    TooManyEvents {
        /// `request/app` or `response/app`.
        path: &'static str,
        /// The limit.
        limit: usize,
        /// Offset of the first event over the limit.
        offset: usize,
    },
    /// An attribute value (or element text) longer than
    /// [`Limits::max_attribute_bytes`](crate::Limits).
    #[error(
        "value of {path}@{attribute} is {len} bytes, over the limit of {limit} (at byte {offset})"
    )]
    AttributeTooLong {
        /// Element path.
        path: &'static str,
        /// Attribute name (`#text` for element text).
        attribute: String,
        /// Length in bytes, unescaped.
        len: usize,
        /// The limit.
        limit: usize,
        /// Offset of the value.
        offset: usize,
    },
    /// The same attribute appears twice on one element.
    #[error("duplicate attribute {path}@{attribute} at byte {offset}")]
    DuplicateAttribute {
        /// Element path.
        path: &'static str,
        /// Attribute name.
        attribute: String,
        /// Offset of the second occurrence.
        offset: usize,
    },
    /// A child that may appear at most once appears twice.
    #[error("duplicate <{element}> in {path} at byte {offset}")]
    DuplicateElement {
        /// Parent element path.
        path: &'static str,
        /// The repeated element's name.
        element: &'static str,
        /// Offset of the second occurrence.
        offset: usize,
    },
    /// An attribute value that does not parse as the attribute's type.
    #[error("invalid value {value:?} for {path}@{attribute} at byte {offset}: expected {expected}")]
    InvalidValue {
        /// Element path.
        path: &'static str,
        /// Attribute name.
        attribute: &'static str,
        /// The value (truncated to 64 bytes).
        value: String,
        /// What was expected.
        expected: &'static str,
        /// Offset of the value.
        offset: usize,
    },
    /// The root element is not the expected one.
    #[error("expected root element <{expected}>, found <{found}> at byte {offset}")]
    WrongRoot {
        /// `request` or `response`.
        expected: &'static str,
        /// The name found (truncated to 64 bytes).
        found: String,
        /// Offset of the element.
        offset: usize,
    },
    /// The input holds no root element.
    #[error("no root element: expected <{expected}>")]
    MissingRoot {
        /// `request` or `response`.
        expected: &'static str,
    },
    /// Something other than whitespace, comments or processing instructions outside the
    /// root element.
    #[error("content outside the root element at byte {offset}")]
    ContentOutsideRoot {
        /// Offset of the content.
        offset: usize,
    },
    /// The input ends inside an element.
    #[error("document ends inside {path} (an element opened there is never closed)")]
    UnexpectedEof {
        /// Path of the innermost known open element.
        path: &'static str,
    },
    /// More items of one repeated kind (packages, URLs, ...) in one parent than
    /// [`Limits::max_items`](crate::Limits).
    #[error("more than {limit} {element} items in {path} (at byte {offset})")]
    TooManyItems {
        /// Parent path.
        path: &'static str,
        /// The repeated member (`package`, `url`, ...).
        element: &'static str,
        /// The limit.
        limit: usize,
        /// Offset of the first item over the limit.
        offset: usize,
    },
    /// The input is not well-formed JSON (JSON codec).
    #[error("malformed JSON in {path} at byte {offset}: {message}")]
    MalformedJson {
        /// Path of the innermost known value.
        path: &'static str,
        /// Byte offset.
        offset: usize,
        /// What is wrong.
        message: &'static str,
    },
    /// A JSON member has the wrong type: an object where a string is expected, say
    /// (JSON codec). Scalars are interchangeable (see [`crate::json`]); objects, arrays and
    /// scalars are not.
    #[error("wrong JSON type for {path}/{member} at byte {offset}: expected {expected}")]
    WrongJsonType {
        /// Path of the enclosing object.
        path: &'static str,
        /// The member's name.
        member: String,
        /// What was expected.
        expected: &'static str,
        /// Offset of the value.
        offset: usize,
    },
    /// The same member appears twice in one JSON object (JSON codec).
    #[error("duplicate member {path}/{member} at byte {offset}")]
    DuplicateMember {
        /// Path of the object.
        path: &'static str,
        /// The member's name.
        member: String,
        /// Offset of the second occurrence.
        offset: usize,
    },
    /// The top-level JSON object has no `request` (or `response`) member (JSON codec).
    #[error("the top-level JSON object has no \"{expected}\" member")]
    MissingJsonRoot {
        /// `request` or `response`.
        expected: &'static str,
    },
    /// The input is not well-formed XML (bad tag syntax, mismatched end tag, bad
    /// attribute syntax, ...).
    #[error("malformed XML in {path} at byte {offset}: {message}")]
    Malformed {
        /// Path of the innermost known open element.
        path: &'static str,
        /// Byte offset.
        offset: usize,
        /// What the tokenizer reported.
        message: String,
    },
}
