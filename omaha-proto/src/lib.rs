//! The Omaha v3 XML wire format, as spoken by Flatcar's `update_engine`, go-omaha,
//! CoreUpdate and Nebraska: typed request and response documents, `decode` from
//! bytes and `encode` to bytes.
//!
//! The crate is pure: it performs no IO, reads no clock and draws no random numbers.
#![forbid(unsafe_code)]
