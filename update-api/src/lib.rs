//! The admin API of the update service (this repository's `update-server`, which speaks
//! CoreUpdate's `update/v1` API with extensions), as a client and the server share it:
//!
//! - [`api`]: the JSON wire types of every request and answer;
//! - [`openapi`]: every operation (method, path, bodies, the permission it needs), and with
//!   the `openapi` feature the OpenAPI 3.0 document the server serves;
//! - [`access`]: the permission model the operations declare (roles, permissions, where an
//!   operation names its application);
//! - [`auth`] and [`hawk`]: the credentials the API takes, and Hawk signing as
//!   `updateservicectl` does it (one implementation for both sides);
//! - [`Client`]: a typed async client (reqwest);
//! - [`endpoint`]: the update endpoints (Omaha XML and JSON) as a client sees them.
//!
//! Listing the apps a user (or a token) may see:
//!
//! ```no_run
//! use update_api::{Auth, Client};
//!
//! # async fn run() -> Result<(), update_api::Error> {
//! let client = Client::new(
//!     "https://updates.example.com",
//!     Auth::hawk("admin", "d3b07384d113edec49eaa6238ad5ff00"),
//! )?;
//! for app in client.apps().await?.items {
//!     println!("{}\t{}\t{}", app.id, app.label, app.description);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Any other operation goes through [`Client::call`] with the types of [`api`]:
//!
//! ```no_run
//! use reqwest::Method;
//! use update_api::api::Overview;
//! use update_api::{Auth, Client};
//!
//! # async fn run() -> Result<(), update_api::Error> {
//! let client = Client::new("http://localhost:8000", Auth::user_key("ci", "ust_..."))?;
//! let overview: Overview = client
//!     .call(Method::GET, &["overview"], &[("appId", "my-app".to_owned())], None::<&()>)
//!     .await?;
//! # let _ = overview;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! - `rustls` (default): HTTPS for [`Client`] with rustls.
//! - `openapi`: `schemars::JsonSchema` on the wire types and `openapi::document()`.
//! - `clap`: [`endpoint::UpdateProtocol`] as a command-line value (`clap::ValueEnum`).
//!
//! # Stability
//!
//! The crate follows semantic versioning. While its version is `0.y.z`, a release that
//! changes or removes a public item, or changes what is sent to the server, raises `y`
//! (`0.1` to `0.2`); one that only adds items or fixes bugs raises `z`. New fields of the
//! wire types count as additions (the server reads every field as its zero value when
//! absent): build the structs with `..Default::default()` to keep compiling. The
//! minimum supported Rust version (`rust-version` in `Cargo.toml`) is raised only in a
//! release that raises `y`, and each release is listed in `CHANGELOG.md`.
#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod auth;
pub mod client;
pub mod endpoint;
mod error;
pub mod hawk;
pub mod openapi;
mod percent;

pub use client::{Auth, Client, Uploaded};
pub use error::Error;
