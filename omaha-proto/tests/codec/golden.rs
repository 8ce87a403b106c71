//! Golden tests over every sample document in `tests/data` and `tests/data/vectors`.

use std::path::PathBuf;

use omaha_proto::{Request, Response};

use crate::data_dir;

fn files_in(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("data dir exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Decodes, round-trips and snapshots one file; returns the snapshot text.
fn golden(name: &str, bytes: &[u8]) -> String {
    if name.contains("request") {
        match Request::decode(bytes) {
            Ok(decoded) => {
                let again = Request::decode(&decoded.encode())
                    .unwrap_or_else(|e| panic!("{name}: re-decoding the encoding failed: {e}"));
                assert_eq!(again, decoded, "{name}: decode(encode(x)) != x");
                format!("{decoded:#?}")
            }
            Err(e) => format!("ERROR: {e}\n{e:?}"),
        }
    } else {
        match Response::decode(bytes) {
            Ok(decoded) => {
                let again = Response::decode(&decoded.encode())
                    .unwrap_or_else(|e| panic!("{name}: re-decoding the encoding failed: {e}"));
                assert_eq!(again, decoded, "{name}: decode(encode(x)) != x");
                format!("{decoded:#?}")
            }
            Err(e) => format!("ERROR: {e}\n{e:?}"),
        }
    }
}

#[test]
fn every_sample_decodes_round_trips_and_matches_its_snapshot() {
    let dir = data_dir();
    let mut checked = 0;
    let mut skipped = Vec::new();
    for path in files_in(&dir)
        .into_iter()
        .chain(files_in(&dir.join("vectors")))
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".xml") {
            skipped.push(name);
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let snapshot = golden(&name, &bytes);
        let malformed = name.contains("MALFORMED");
        assert_eq!(
            snapshot.starts_with("ERROR: "),
            malformed,
            "{name}: only the MALFORMED sample may fail to decode:\n{snapshot}"
        );
        insta::assert_snapshot!(name.trim_end_matches(".xml").to_owned(), snapshot);
        checked += 1;
    }
    // 28 XML samples from the reference, 9 update_engine vectors and this server's
    // rollback answer (`_rollback`).
    assert_eq!(checked, 38);
    // The JSON samples are the JSON test's (json.rs); SOURCES.md is provenance.
    assert_eq!(
        skipped,
        [
            "SOURCES.md",
            "omaha-client-json30-request-events.json",
            "omaha-client-json30-response-all-fields.json"
        ]
    );
}

#[test]
fn malformed_sample_fails_with_a_clear_error() {
    let bytes = crate::read_data("go-omaha-fixture-ue-noupdate-response.MALFORMED.xml");
    let err = Response::decode(&bytes).unwrap_err();
    let message = err.to_string();
    assert!(
        message == "malformed XML in document at byte 48: unexpected character in a start tag",
        "unexpected message: {message}"
    );
}
