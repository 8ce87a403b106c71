//! The library an application team embeds in its updater: check for updates over Omaha,
//! download and verify the payload, install it through the team's hooks, and report
//! progress and completion to the update service.
//!
//! The update flow itself is built in a later step; this crate currently holds only its
//! documentation.
#![forbid(unsafe_code)]
