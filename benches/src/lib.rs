//! Benchmarks of the update service: criterion benchmarks of the codec and the rollout
//! engine (under `benches/`), and shared fixtures for them.
#![forbid(unsafe_code)]
