//! `updatectl`: the operator CLI of the update service, a superset of CoreUpdate's
//! `updateservicectl`.
//!
//! The commands are built in a later step; this binary currently only identifies itself.
#![forbid(unsafe_code)]

fn main() {
    println!("updatectl {}", env!("CARGO_PKG_VERSION"));
}
