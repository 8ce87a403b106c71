//! `update-server`: the self-hosted Omaha update service (Omaha endpoint, CoreUpdate-compatible
//! admin API, web control panel).
//!
//! The server is built on `omaha-proto` and `rollout-core` in a later step; this binary
//! currently only identifies itself.
#![forbid(unsafe_code)]

fn main() {
    println!("update-server {}", env!("CARGO_PKG_VERSION"));
}
