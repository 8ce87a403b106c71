//! Fleet simulations on a virtual clock: thousands of instances checking in against one
//! group, with the engine deciding every check. No sleeps, no wall clock; every run is
//! deterministic (seeded SplitMix64).

mod auto_pause;
mod fleet;
mod linear;
mod rate;
