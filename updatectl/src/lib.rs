//! `updatectl`: the operator CLI of the update service, a superset of CoreUpdate's
//! `updateservicectl` (the commands of the getting-started walkthrough).
//!
//! The library holds everything but the process glue: the command line ([`cli`]), the
//! admin API client ([`client`]: `update_api::Client`, Hawk-signed, set up from the global
//! flags), the commands (returning an [`output::Output`]), the table writer ([`tabwriter`])
//! and the fake instances ([`fake`]). `main.rs` maps [`Error`] to exit codes.
#![forbid(unsafe_code)]

pub mod admin;
pub mod bench;
pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod fake;
pub mod omaha;
pub mod output;
pub mod progress;
pub mod rollout;
pub mod tabwriter;
pub mod transfer;
pub mod watch;
pub mod webhook;

pub use error::Error;
