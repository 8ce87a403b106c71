//! Integration tests of the Omaha codecs (XML and JSON): golden files, update_engine
//! vectors, hostile input, constructors and property tests. One binary (see style-anchors §3.3).
//!
//! The tests read their data files, so the crate's no-IO lint is lifted here.
#![allow(clippy::disallowed_methods)]

mod constructors;
mod golden;
mod hostile;
mod json;
mod lenient;
mod regressions;
mod roundtrip;
mod vectors;

use std::path::{Path, PathBuf};

/// The test data directory.
fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Reads a file under `tests/data`.
fn read_data(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
