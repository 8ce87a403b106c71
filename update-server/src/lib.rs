//! The update service: the Omaha endpoint for instances, the CoreUpdate-compatible admin API,
//! the web control panel, and durable storage on SQLite (embedded, the default) or PostgreSQL
//! (for several replicas).
//!
//! The admin API's wire types, its operation table and Hawk signing are the `update_api`
//! crate's, which clients share without this crate's dependencies; they are re-exported here
//! as [`api`], [`endpoint`] and [`openapi`].
//!
//! The map of the modules, from the request inwards:
//!
//! - [`http`]: routes and status codes;
//! - [`api`]: the admin API's JSON wire types (`update_api::api`);
//! - [`endpoint`]: the update endpoints as a client sees them, route and encoding per wire
//!   protocol (`update_api::endpoint`);
//! - [`openapi`]: every operation of the admin API with the access it needs, and the OpenAPI
//!   document (`update_api::openapi`);
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

pub mod access;
pub mod admin;
pub mod auth;
pub mod backup;
pub mod budget;
pub mod cache;
pub mod census;
pub(crate) mod changes;
pub mod clock;
pub mod config;
pub mod conn;
pub mod counts;
pub mod cup;
pub mod hosting;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod overview;
pub mod panel;
pub mod policy;
pub mod protocol;
pub mod refusals;
pub mod retention;
pub mod service;
pub mod sightings;
pub mod sso;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod upstream;
pub mod writer;

mod server;
pub use server::{Running, ServerError, ServerOptions, load_secret, open_store, serve};
pub use update_api::{api, endpoint, openapi};
