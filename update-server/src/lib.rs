//! The update service: the Omaha endpoint for instances, the CoreUpdate-compatible admin API,
//! the web control panel, and durable storage on SQLite (embedded, the default) or PostgreSQL
//! (for several replicas).
//!
//! With the default `server` feature the crate builds the whole service; without it, only the
//! parts a client needs, so that `updatectl` does not pull in sqlx or axum.
//!
//! The map of the modules, from the request inwards:
//!
//! - [`http`]: routes and status codes;
//! - [`api`]: the admin API's JSON wire types (also without the `server` feature);
//! - [`endpoint`]: the update endpoints as a client sees them, route and encoding per wire
//!   protocol (also without the `server` feature);
//! - [`admin`]: the CoreUpdate-compatible admin API;
//! - [`panel`]: the web control panel at `/`;
//! - [`auth`]: Hawk, Basic and Bearer authentication, sealed API keys and tokens;
//! - [`access`]: roles, scopes and the one authorization decision;
//! - [`hosting`]: payload uploads and downloads (with ranges), detached signatures;
//! - [`backup`]: `GET /db/backup` and `update-server restore`;
//! - [`upstream`]: syncing from upstream servers: published channels and packages from another
//!   server of this kind, or releases, floors and payloads from an Omaha server followed as a
//!   client;
//! - [`conn`]: the accept loop and the connection limits and timeouts;
//! - [`tls`]: HTTPS with rustls;
//! - [`protocol`]: the pluggable wire format (Omaha v3 XML);
//! - [`cup`]: CUP-ECDSA signing of update answers, and the signing keys;
//! - [`service`]: the update check, fast path and write path;
//! - [`writer`]: events and grant decisions, atomically, in shared transactions;
//! - [`sightings`]: write-behind of "last seen" and counters;
//! - [`metrics`]: `/metrics` (Prometheus) and `/readyz`;
//! - [`retention`]: pruning old history, rollups and activity in the background;
//! - [`census`]: counting the instances per version for the graphs;
//! - [`overview`]: a group's rollout state, progress, ETA and what needs attention;
//! - [`counts`]: the instance counts the database keeps, folded and reconciled;
//! - [`lifecycle`]: recording the end of timed rollouts;
//! - `changes`: what a change changed, field by field, for the activity log;
//! - [`cache`]: the in-memory configuration;
//! - [`policy`]: a group's stored policy document;
//! - [`store`]: SQLite and PostgreSQL;
//! - [`clock`]: where the time comes from.
#![forbid(unsafe_code)]

#[cfg(feature = "server")]
pub mod access;
#[cfg(feature = "server")]
pub mod admin;
pub mod api;
#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod backup;
#[cfg(feature = "server")]
pub mod budget;
#[cfg(feature = "server")]
pub mod cache;
#[cfg(feature = "server")]
pub mod census;
#[cfg(feature = "server")]
pub(crate) mod changes;
#[cfg(feature = "server")]
pub mod clock;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod conn;
#[cfg(feature = "server")]
pub mod counts;
#[cfg(feature = "server")]
pub mod cup;
pub mod endpoint;
#[cfg(feature = "server")]
pub mod hosting;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod lifecycle;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod notify;
#[cfg(feature = "server")]
pub mod openapi;
#[cfg(feature = "server")]
pub mod overview;
#[cfg(feature = "server")]
pub mod panel;
#[cfg(feature = "server")]
pub mod policy;
#[cfg(feature = "server")]
pub mod protocol;
#[cfg(feature = "server")]
pub mod refusals;
#[cfg(feature = "server")]
pub mod retention;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod sightings;
#[cfg(feature = "server")]
pub mod sso;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod throttle;
#[cfg(feature = "server")]
pub mod tls;
#[cfg(feature = "server")]
pub mod upstream;
#[cfg(feature = "server")]
pub mod writer;

#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub use server::{Running, ServerError, ServerOptions, load_secret, open_store, serve};
