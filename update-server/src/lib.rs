//! The update service: the Omaha endpoint for instances, the CoreUpdate-compatible admin API,
//! the web control panel, and durable storage on SQLite (embedded, the default) or PostgreSQL
//! (for several replicas).
//!
//! With the default `server` feature the crate builds the whole service; without it, only the
//! parts a client needs (the admin API's wire types), so that `updatectl` does not pull in
//! sqlx or axum.
#![forbid(unsafe_code)]

#[cfg(feature = "server")]
pub mod store;
