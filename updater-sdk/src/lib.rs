//! The library an application team embeds in its updater: check for updates over Omaha,
//! download and verify the payload, install it through the team's hooks, and report
//! progress and completion to the update service.
//!
//! # The flow
//!
//! [`Updater::run_once`] does one pass, [`Updater::run`] repeats it until cancelled:
//!
//! 1. Update check (`<ping>`, `<updatecheck>` and the routine 3/2 event, as update_engine
//!    sends it). Everything on the wire is built and parsed by [`omaha_proto`].
//! 2. On an update: 13/1, download into `<state dir>/download/<package name>` with resume
//!    (HTTP `Range`) and a streaming SHA-256, size and hash checks, optionally the ed25519
//!    signature check, then 14/1.
//! 3. [`Hooks::install`]. [`InstallOutcome::Complete`]: 3/1, [`Hooks::health_check`], 3/2
//!    with `previousversion`. [`InstallOutcome::Deferred`]: 800/1; the update completes
//!    (health check, 3/2) when an updater next runs with the new version as its current
//!    version.
//! 4. Any failure after the update started is reported as 3/0 with an error code
//!    ([`Error::omaha_error_code`]; the table is in [`mod@error`]). A failed health check
//!    runs [`Hooks::rollback`] first.
//!
//! The state directory keeps `state.json` (written atomically), so a restart between the
//! install and the completion report still reports 3/2, and a cut download resumes.
//!
//! # Floors: updates in several steps
//!
//! A floor is a version every instance below it must install before a later one (a release
//! that migrates data, say). By default the server offers an instance below a floor that
//! floor alone ([`UpdateInfo::floor_reason`] says so), and each pass installs one step:
//! two floors behind, an instance needs three passes to reach the channel's version.
//!
//! With [`UpdaterBuilder::multi_manifest`], checks send `multi_manifest_ok="true"` and the
//! server answers with every floor on the way and the target at once. The SDK reads them
//! as an [`UpdatePlan`] (floors first, in the server's order, then the target; an answer
//! that lists a non-floor before another version, or anything after the target, is
//! refused as invalid, so no floor is skipped), announces it with
//! [`Notification::Steps`], and installs the steps in order in the same pass. Each step
//! is a whole update of its own: its payload with its own size, SHA-256 (and signature),
//! its extra files in [`UpdateInfo::extra_files`], the install hook, the health check,
//! and its events (13/1, 14/1, 3/1 from the version running, then 3/2 naming the step's
//! version and the one before it), so the server follows the instance through the
//! floors and counts the update complete at the target's 3/2. A failure at any step
//! stops there and is reported as 3/0 with its code; the instance stays on the last step
//! it completed. A step whose install hook returns [`InstallOutcome::Deferred`] ends the
//! pass (800/1); once the app restarts on it, the next pass completes it and goes on at
//! once with a new check, which the server answers with the remaining steps. The state
//! file records the step in progress, so a restart anywhere resumes at the right step.
//!
//! Requests have a timeout; transient failures (transport errors, timeouts, HTTP 5xx)
//! are retried with exponential backoff and jitter, and [`Updater::run`] backs off
//! between failed passes. The server's `PollInterval`, when present, replaces the
//! configured interval. HTTPS uses the system's roots, or only the CA certificates given to
//! [`HttpOptions::trust_only_roots_pem`] for a service behind a private CA.
//!
//! # Signatures
//!
//! Omaha has no field for a payload signature, so the SDK looks for a detached signature
//! next to the payload: for a payload at `<URL>`, the signature is at **`<URL>.sig`**
//! (for example `https://pkgs.example.com/app/1.2.0/update.gz.sig`; any static file server
//! can host it). The file holds the 64-byte **Ed25519** signature (RFC 8032 §5.1, pure
//! Ed25519, no pre-hash, no context) of the whole payload file, either as the 64 raw bytes
//! or as their standard base64 (padded, surrounding whitespace ignored). The SDK fetches
//! it before the download and verifies it while the payload streams in, so a payload of
//! any size is never held in memory. Any Ed25519 signer produces it, for example
//! `openssl pkeyutl -sign -inkey key.pem -rawin -in update.gz | base64 -w0 > update.gz.sig`,
//! or `ed25519_dalek::SigningKey::sign(&payload)`. The public key is given to
//! [`UpdaterBuilder::public_key`] as the standard base64 of its 32 bytes
//! ([`PublicKey::from_base64`]; from an OpenSSL key:
//! `openssl pkey -in key.pem -pubout -outform DER | tail -c 32 | base64`). The signature is checked only when the updater has a
//! key; then a missing, malformed or wrong signature fails the update (3/0, code 12) and
//! nothing is installed.
//!
//! # Protocols
//!
//! [`UpdaterBuilder::protocol`] chooses the wire protocol: Omaha v3 XML on
//! `<server>/v1/update/` ([`Protocol::Xml`], the default, what update_engine speaks) or
//! Omaha JSON 3.1 on `<server>/v1/update/json` ([`Protocol::Json`], what Chromium's updater
//! speaks). The requests, events and decisions are the same; only the encoding differs.
//!
//! # Signed answers (CUP-ECDSA)
//!
//! With a pinned key ([`UpdaterBuilder::cup_key`], the server's public key and its key
//! version, from `update-server cup-keys` or `GET /v1/cup/keys`), every request carries a
//! fresh random `requestid` and nonce (`cup2key=<version>:<nonce>`, `cup2hreq`), and every
//! answer must be signed by the server for exactly that request: the proof
//! (`X-Cup-Server-Proof`, else `ETag`) must name this request's hash, its signature must
//! verify with the pinned key over the request, the answer body and the nonce, and the
//! whole answer must arrive within [`UpdaterBuilder::cup_max_answer_age`] (default
//! [`DEFAULT_CUP_MAX_ANSWER_AGE`], 30 s) of sending the request. Otherwise the answer is
//! refused with [`Error::AnswerRefused`] ([`AnswerRefused::Unsigned`],
//! [`AnswerRefused::BadSignature`], [`AnswerRefused::Replayed`],
//! [`AnswerRefused::Stale`], [`AnswerRefused::MalformedProof`]) and not acted on: nothing is
//! downloaded, installed or persisted, no event is sent; [`Updater::run`] backs off. Pinning
//! several key versions (a rotation) makes requests name the newest. Without a pinned key,
//! answers are not checked (the server signs only when asked). The protocol and the
//! operator's side are in the repository's `docs/signing.md`.
//!
//! # Anti-rollback
//!
//! The state directory keeps the highest version the updater ever installed (the version it
//! was built to run counts). An update to a lower version is refused with
//! [`Error::Downgrade`], reported to the server as 3/0 with code 44, unless the server
//! marked it an explicit rollback ([`UpdatePlan::is_rollback`]: `_rollback="true"` on the
//! update check, which `update-server` sends when the group allows downgrades). A marked
//! rollback is installed like any update, and its version becomes the highest installed one
//! once it completes. Pin a CUP key too: without one, a man in the middle could add the mark.
//! Versions compare by their dot-separated parts ([`core::compare_versions`]).
//!
//! # Example
//!
//! ```no_run
//! use std::path::Path;
//! use updater_sdk::{HookError, Hooks, InstallOutcome, UpdateInfo, Updater};
//!
//! struct MyApp;
//!
//! #[updater_sdk::async_trait]
//! impl Hooks for MyApp {
//!     async fn install(&self, payload: &Path, update: &UpdateInfo)
//!         -> Result<InstallOutcome, HookError> {
//!         let target = format!("/opt/myapp/releases/{}", update.version);
//!         tokio::fs::copy(payload, &target).await?;
//!         // Restart the service on the new release here, then:
//!         Ok(InstallOutcome::Complete)
//!     }
//!
//!     async fn health_check(&self, version: &str) -> Result<(), HookError> {
//!         let _ = version; // Probe the new version; an error rolls it back.
//!         Ok(())
//!     }
//! }
//!
//! # async fn example() -> Result<(), updater_sdk::Error> {
//! let updater = Updater::builder("https://updates.example.com", "e96281a6-d1af-4bde-9a0a-97b76e56dc57")
//!     .group("stable")
//!     .current_version("1.0.0")
//!     .state_dir("/var/lib/myapp-updater")
//!     .build(MyApp)
//!     .await?;
//! match updater.run_once().await? {
//!     updater_sdk::Outcome::Completed { version, .. } => println!("now on {version}"),
//!     other => println!("{other:?}"),
//! }
//! // Or forever, until Ctrl-C:
//! updater.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(())
//! # }
//! ```
//!
//! The decisions are in [`core`], pure functions of their inputs, usable without a server;
//! for example the schedule of checks (45 minutes, spread by ±10 %, unless the server sends
//! a `PollInterval`) and of retries after failures (from 10 s, doubling, at most 4 hours):
//!
//! ```
//! use std::time::Duration;
//! use updater_sdk::core::{SchedulePolicy, backoff_delay, poll_delay};
//!
//! let policy = SchedulePolicy::default();
//! // `sample` is the jitter draw in [0, 1); 0.5 is the middle of the spread.
//! assert_eq!(poll_delay(&policy, None, 0.5), Duration::from_secs(45 * 60));
//! // A server asking for checks every second is held to one a minute.
//! assert_eq!(poll_delay(&policy, Some(Duration::from_secs(1)), 0.5), Duration::from_secs(60));
//! // The third failure in a row waits between half and all of 40 s.
//! assert_eq!(backoff_delay(&policy, 3, 0.0), Duration::from_secs(20));
//! assert_eq!(backoff_delay(&policy, 3, 1.0), Duration::from_secs(40));
//! ```
//!
//! `examples/exec-updater.rs` is a complete updater that installs by running a command,
//! like `updateservicectl watch`:
//! `cargo run -p updater-sdk --example exec-updater -- --help`.
//!
//! # Stability
//!
//! The crate follows semantic versioning. While its version is `0.y.z`, a release that changes
//! or removes a public item, or changes what the updater sends the server or stores in its
//! state directory, raises `y` (`0.1` to `0.2`); one that only adds items or fixes bugs raises
//! `z`. From `1.0.0` on, breaking changes raise the major version. The minimum supported Rust
//! version (`rust-version` in `Cargo.toml`) is raised only in a release that raises `y` (or,
//! from 1.0, the minor version), and each release is listed in `CHANGELOG.md`.
#![forbid(unsafe_code)]

pub mod client;
pub mod core;
pub mod error;
pub mod hooks;
pub mod state;
mod updater;

pub use crate::core::{ExtraFile, UpdateInfo, UpdatePlan};
pub use async_trait::async_trait;
pub use client::{HttpOptions, Protocol};
pub use error::{AnswerRefused, Error, HookError};
pub use hooks::{Hooks, InstallOutcome, Notification};
pub use omaha_proto::cup::CupPublicKey;
pub use updater::{
    DEFAULT_CUP_MAX_ANSWER_AGE, MACHINE_ID_PATH, Outcome, PublicKey, Updater, UpdaterBuilder,
};
