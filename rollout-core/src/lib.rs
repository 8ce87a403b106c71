//! The rollout policy engine: given a group's policy and rollout state, an instance and
//! `now`, decide whether the instance gets an update.
//!
//! The crate is pure and deterministic: no IO, no clock (`now` is an argument), no
//! randomness.
#![forbid(unsafe_code)]
