//! The JSON codec: every JSON sample decodes and round-trips (snapshotted), golden
//! encodes of each protocol version, XML and JSON forms of the same document give equal
//! models, hostile input fails with its own error, and property tests of round trips per
//! version and of arbitrary and mutated input.

use std::path::{Path, PathBuf};

use proptest::collection::vec;
use proptest::prelude::*;

use omaha_proto::codes::{AppStatus, Protocol, UpdateCheckStatus};
use omaha_proto::digest::{Digest, HashValue, Sha1Digest, Sha256Digest};
use omaha_proto::json::{JsonVersion, PREFIX};
use omaha_proto::request::{self, Event, Os};
use omaha_proto::response::{Action, App, Codebase, Manifest, Package, UpdateCheck, Url};
use omaha_proto::{DecodeError, Limits, Request, Response};

use crate::roundtrip::{Mutation, apply, request_doc, response_doc};
use crate::{data_dir, read_data};

/// Limits for re-decoding an encoding: it may be longer than the input it came from.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

const APPID: &str = "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}";

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("data dir exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Parses `bytes` (after the prefix, if any) with serde_json: an independent check that
/// the encoder writes valid JSON.
fn parse_independently(bytes: &[u8]) -> serde_json::Value {
    let body = bytes.strip_prefix(PREFIX).unwrap_or(bytes);
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn golden(name: &str, bytes: &[u8]) -> String {
    if name.contains("request") {
        let decoded =
            Request::decode_json(bytes).unwrap_or_else(|e| panic!("{name}: does not decode: {e}"));
        let encoded = decoded.encode_json();
        parse_independently(&encoded);
        let again = Request::decode_json_with_limits(&encoded, &REENCODED)
            .unwrap_or_else(|e| panic!("{name}: re-decoding the encoding failed: {e}"));
        assert_eq!(again, decoded, "{name}: decode(encode(x)) != x");
        format!("{decoded:#?}")
    } else {
        let decoded =
            Response::decode_json(bytes).unwrap_or_else(|e| panic!("{name}: does not decode: {e}"));
        let encoded = decoded.encode_json();
        parse_independently(&encoded);
        let again = Response::decode_json_with_limits(&encoded, &REENCODED)
            .unwrap_or_else(|e| panic!("{name}: re-decoding the encoding failed: {e}"));
        assert_eq!(again, decoded, "{name}: decode(encode(x)) != x");
        format!("{decoded:#?}")
    }
}

#[test]
fn every_json_sample_decodes_round_trips_and_matches_its_snapshot() {
    let dir = data_dir();
    let mut checked = Vec::new();
    for path in json_files(&dir)
        .into_iter()
        .chain(json_files(&dir.join("json")))
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let snapshot = golden(&name, &bytes);
        insta::assert_snapshot!(format!("json-{}", name.trim_end_matches(".json")), snapshot);
        checked.push(name);
    }
    assert_eq!(
        checked,
        [
            // The two JSON samples of the reference (google/omaha-client, protocol 3.0)...
            "omaha-client-json30-request-events.json",
            "omaha-client-json30-response-all-fields.json",
            // ...and 3.1 and 4.0 documents written after Chromium's protocol texts.
            "chromium-3.1-pingback.request.json",
            "chromium-3.1-update-check.request.json",
            "chromium-3.1-update.response.json",
            "chromium-4.0-update-check.request.json",
            "chromium-4.0-update.response.json",
        ]
    );
}

#[test]
fn the_reference_samples_decode_to_what_they_say() {
    let request = Request::decode_json(&read_data("omaha-client-json30-request-events.json"))
        .expect("the request sample decodes");
    assert_eq!(request.protocol, Some(Protocol::V3));
    assert_eq!(request.updater.as_deref(), Some("some_updater"));
    // `"ismachine": true`, Fuchsia's spelling.
    assert_eq!(request.is_machine, Some(1));
    let app = &request.apps[0];
    assert_eq!(app.fp.as_deref(), Some("some_fingerprint"));
    assert_eq!(
        app.update_check.as_ref().unwrap().update_disabled,
        Some(true)
    );
    let ping = app.ping.as_ref().unwrap();
    assert_eq!((ping.ad, ping.rd), (Some(300), Some(45)));
    let events: Vec<(i64, i64, Option<i64>)> = app
        .events
        .iter()
        .map(|e| (e.event_type.code(), e.event_result.code(), e.error_code))
        .collect();
    assert_eq!(events, [(2, 1, Some(0)), (3, 2, None), (54, 1, None)]);
    assert_eq!(app.events[2].previous_version.as_deref(), Some("3.4.5.6"));

    // The response sample has no `)]}'` prefix; with one it decodes the same.
    let bytes = read_data("omaha-client-json30-response-all-fields.json");
    let response = Response::decode_json(&bytes).expect("the response sample decodes");
    let prefixed = [PREFIX, bytes.as_slice()].concat();
    assert_eq!(Response::decode_json(&prefixed), Ok(response.clone()));
    assert_eq!(response.daystart.elapsed_seconds, 54956);
    assert_eq!(response.daystart.elapsed_days, Some(4242));
    assert_eq!(response.apps.len(), 2);
    assert_eq!(
        response.apps[0].data[0].text,
        "{\n  \"distribution\" : {\n    \"some_flag\" : true\n  }\n}\n"
    );
    let check = response.apps[1].update_check.as_ref().unwrap();
    assert_eq!(check.status, Some(UpdateCheckStatus::Ok));
    assert_eq!(
        check
            .urls
            .iter()
            .map(|u| u.codebase.as_str())
            .collect::<Vec<_>>(),
        ["http://url/base/", "https://url/base/"]
    );
    let package = &check.manifests[0].packages[0];
    assert_eq!((package.size, package.required), (2_000_000, true));
    assert_eq!(
        package.hash_sha256.as_ref().and_then(HashValue::digest),
        Some(&Sha256Digest([0xaa; 32]))
    );
    // 32 characters: neither base64 nor hex of a SHA-1, kept verbatim.
    assert_eq!(package.hash, Some(HashValue::Unrecognized("q".repeat(32))));
    assert_eq!(check.manifests[0].actions.len(), 3);
}

#[test]
fn chromium_shapes_map_onto_the_model() {
    let check =
        Request::decode_json(&read_data("json/chromium-3.1-update-check.request.json")).unwrap();
    // `@updater` is the updater; the `updater` list (sibling updaters) is not modelled.
    assert_eq!(check.updater.as_deref(), Some("chromiumupdater"));
    assert_eq!(check.os.as_ref().unwrap().arch.as_deref(), Some("x86_64"));
    assert_eq!(check.apps[0].enabled, None, "-1 is unknown");
    assert_eq!(check.apps[0].install_date.as_deref(), Some("5432"));

    let pingback =
        Request::decode_json(&read_data("json/chromium-3.1-pingback.request.json")).unwrap();
    let download = &pingback.apps[0].events[0];
    assert_eq!(download.downloaded, Some(382_137_917));
    assert_eq!(download.total, Some(382_137_917));

    let v4 =
        Request::decode_json(&read_data("json/chromium-4.0-update-check.request.json")).unwrap();
    assert_eq!(v4.protocol, Some(Protocol::V4));
    assert_eq!(v4.apps[0].fp.as_deref(), Some("1.0c1d2e"));
    assert_eq!(v4.apps[0].events[0].previous_fp.as_deref(), Some(""));
    assert_eq!(
        v4.apps[0].update_check.as_ref().unwrap().rollback_allowed,
        Some(true)
    );

    let answer =
        Response::decode_json(&read_data("json/chromium-3.1-update.response.json")).unwrap();
    assert_eq!(
        answer.apps[2].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::UnsupportedProtocol)
    );

    let v4 = Response::decode_json(&read_data("json/chromium-4.0-update.response.json")).unwrap();
    let check = v4.apps[0].update_check.as_ref().unwrap();
    // Two pipelines, two manifests; the codebases are the first download's URLs.
    assert_eq!(check.manifests.len(), 2);
    assert_eq!(
        check.urls,
        [
            Url::new(Codebase::new("https://dl.example.com/patch/")),
            Url::new(Codebase::new("http://cache.example.com/patch/")),
        ]
    );
    let first = &check.manifests[0];
    assert_eq!(first.version, "1.3.0.0");
    assert_eq!(first.packages.len(), 1, "only downloads are packages");
    assert_eq!(first.packages[0].name, "app_1.3.0.0.puff");
    assert_eq!(first.packages[0].size, 123_456);
    assert_eq!(first.packages[0].fp.as_deref(), Some("1.3b7a"));
    assert_eq!(
        v4.apps[1].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::Inexpressible)
    );
}

/// The JSON file of `equivalent/` and the XML document it transcribes.
fn xml_twin(json_name: &str) -> PathBuf {
    let stem = json_name
        .trim_end_matches(".json")
        .trim_end_matches(".v3.1");
    let dir = data_dir();
    let xml = format!("{stem}.xml");
    [dir.join(&xml), dir.join("vectors").join(&xml)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no XML twin for {json_name}"))
}

#[test]
fn xml_and_json_forms_of_a_document_decode_to_equal_models() {
    let files = json_files(&data_dir().join("json/equivalent"));
    assert_eq!(files.len(), 6);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let json = std::fs::read(&path).unwrap();
        let xml = std::fs::read(xml_twin(&name)).unwrap();
        let v31 = name.contains(".v3.1.");
        if name.contains("request") {
            let mut from_xml = Request::decode(&xml).unwrap();
            let from_json = Request::decode_json(&json).unwrap();
            if v31 {
                from_xml.protocol = Some(Protocol::V3_1);
            }
            assert_eq!(from_json, from_xml, "{name}");
            // And the JSON encoding of the XML document decodes to it as well.
            assert_eq!(Request::decode_json(&from_xml.encode_json()), Ok(from_xml));
        } else {
            let from_xml = Response::decode(&xml).unwrap();
            let from_json = Response::decode_json(&json).unwrap();
            assert_eq!(from_json, from_xml, "{name}");
            assert_eq!(Response::decode_json(&from_xml.encode_json()), Ok(from_xml));
        }
    }
}

// ------------------------------------------------------------- golden encodes

fn sha1() -> Sha1Digest {
    "I6DGNAOrJRUxPbCuLw+AITfiVMo=".parse().unwrap()
}

fn sha256() -> Sha256Digest {
    "stLG3U/o4Ar8TMHFwT/RWB0iNkaWOO6QtLrq6+AHBbA="
        .parse()
        .unwrap()
}

fn update_engine_check() -> Request {
    Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", "3975.2.0_x86_64"),
    )
    .with_app(
        request::App::new(APPID, "3941.1.0")
            .with_track("stable")
            .with_machine_id("8bde4c4d90834d61b41c3253212c0c37")
            .with_update_check(Some("3815.2.0")),
    )
}

/// A floor and the target, with an extra file, as a multi-manifest client gets them.
fn floors_answer() -> Response {
    let floor = Manifest {
        is_floor: Some(true),
        floor_reason: Some("new \"partition\" layout".into()),
        ..Manifest::new("3941.1.0")
    }
    .with_package(
        Package::new("flatcar_production_update.gz", 300, sha1(), true).with_sha256(sha256()),
    )
    .with_action(Action::postinstall(sha256()));
    let mut extra = Package::new("oem-qemu.gz", 2282, sha1(), false).with_sha256(sha256());
    extra.fp = Some("1.8ab6".into());
    let target = Manifest {
        is_target: Some(true),
        ..Manifest::new("3975.2.0")
    }
    .with_package(
        Package::new("flatcar_production_update.gz", 400, sha1(), true).with_sha256(sha256()),
    )
    .with_package(extra)
    .with_action(Action::postinstall(sha256()));
    let mut check = UpdateCheck::update(
        [
            Codebase::new("https://example.com/3941.1.0"),
            Codebase::new("https://example.com/3975.2.0/"),
        ],
        floor,
    );
    check.manifests.push(target);
    let request = update_engine_check();
    Response::new("test").with_app(App::acknowledging(&request.apps[0]).with_update_check(check))
}

#[test]
fn golden_encodes_of_every_version() {
    for v in JsonVersion::ALL {
        let mut request = update_engine_check();
        request.protocol = Some(v.protocol());
        request.apps[0].events.push(Event {
            downloaded: Some(10),
            total: Some(20),
            next_fp: Some("1.ab".into()),
            ..Event::download_finished()
        });
        let bytes = request.encode_json();
        parse_independently(&bytes);
        insta::assert_snapshot!(
            format!("json-encode-request-{}", v.protocol()),
            String::from_utf8(bytes).unwrap()
        );
        let response = floors_answer().with_protocol(v.protocol());
        let bytes = response.encode_json();
        parse_independently(&bytes);
        assert!(bytes.starts_with(PREFIX));
        insta::assert_snapshot!(
            format!("json-encode-response-{}", v.protocol()),
            String::from_utf8(bytes).unwrap()
        );
    }
}

#[test]
fn the_rollback_mark_is_written_and_read_in_every_version_and_in_xml() {
    for v in JsonVersion::ALL {
        let mut response = floors_answer().with_protocol(v.protocol());
        let check = response.apps[0].update_check.take().unwrap();
        response.apps[0].update_check = Some(check.as_rollback());
        let bytes = response.encode_json();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.contains(r#""updatecheck":{"status":"ok","_rollback":true,"#),
            "{v:?}: {text}"
        );
        let decoded = Response::decode_json(&bytes).unwrap();
        assert_eq!(
            decoded.apps[0].update_check.as_ref().unwrap().rollback,
            Some(true),
            "{v:?}"
        );
    }
    let mut response = floors_answer();
    let check = response.apps[0].update_check.take().unwrap();
    response.apps[0].update_check = Some(check.as_rollback());
    let xml = String::from_utf8(response.encode()).unwrap();
    assert!(
        xml.contains(r#"<updatecheck status="ok" _rollback="true">"#),
        "{xml}"
    );
    assert_eq!(Response::decode(xml.as_bytes()).unwrap(), response);
    // Without the mark, nothing is written.
    let plain = String::from_utf8(floors_answer().encode()).unwrap();
    assert!(!plain.contains("_rollback"), "{plain}");
}

#[test]
fn a_noupdate_answer_is_exactly_this() {
    let request = update_engine_check();
    let answer = Response::new("test")
        .with_protocol(Protocol::V3_1)
        .with_app(App::acknowledging(&request.apps[0]).with_update_check(UpdateCheck::no_update()))
        .with_app(App::error("x\"\n", AppStatus::UnknownApplication));
    let expected = concat!(
        ")]}'\n",
        r#"{"response":{"protocol":"3.1","server":"test","daystart":{"elapsed_seconds":0},"#,
        r#""app":[{"appid":"{e96281a6-d1af-4bde-9a0a-97b76e56dc57}","status":"ok","#,
        r#""ping":{"status":"ok"},"updatecheck":{"status":"noupdate"},"event":[{"status":"ok"}]},"#,
        r#"{"appid":"x\"\n","status":"error-unknownApplication"}]}}"#,
    );
    assert_eq!(String::from_utf8(answer.encode_json()).unwrap(), expected);
}

#[test]
fn version_specific_members_are_written_per_version() {
    let mut request = update_engine_check();
    request.updater = Some("u".into());
    request.apps[0].fp = Some("1.ab".into());
    request.apps[0].events[0].downloaded = Some(5);
    let mut member = |v: JsonVersion| {
        request.protocol = Some(v.protocol());
        parse_independently(&request.encode_json())
    };
    let v30 = member(JsonVersion::V3_0);
    assert_eq!(v30["request"]["updater"], "u");
    assert_eq!(v30["request"]["app"][0]["fp"], "1.ab");
    assert_eq!(v30["request"]["app"][0]["event"][0]["downloaded"], 5);
    let v31 = member(JsonVersion::V3_1);
    assert_eq!(v31["request"]["@updater"], "u");
    assert!(v31["request"].get("updater").is_none());
    assert_eq!(v31["request"]["app"][0]["event"][0]["downloaded_bytes"], 5);
    let v40 = member(JsonVersion::V4_0);
    assert_eq!(v40["request"]["app"][0]["fp"]["fingerprint"], "1.ab");
    assert_eq!(v40["request"]["ismachine"], 1);

    let error = Response::new("t").with_app(
        App::ok(APPID)
            .with_update_check(UpdateCheck::error(UpdateCheckStatus::UnsupportedProtocol)),
    );
    for (v, status) in [
        (JsonVersion::V3_0, "error-unsupportedProtocol"),
        (JsonVersion::V3_1, "error-unsupportedprotocol"),
        (JsonVersion::V4_0, "error-unsupportedprotocol"),
    ] {
        let bytes = error.clone().with_protocol(v.protocol()).encode_json();
        let json = parse_independently(&bytes);
        assert_eq!(json["response"]["app"][0]["updatecheck"]["status"], status);
        let back = Response::decode_json(&bytes).unwrap();
        assert_eq!(
            back.apps[0].update_check.as_ref().unwrap().status,
            Some(UpdateCheckStatus::UnsupportedProtocol)
        );
    }
}

#[test]
fn a_4_0_answer_has_pipelines_of_downloads() {
    let answer = floors_answer().with_protocol(Protocol::V4);
    let json = parse_independently(&answer.encode_json());
    let check = &json["response"]["app"][0]["updatecheck"];
    assert!(check.get("urls").is_none() && check.get("manifest").is_none());
    let pipelines = check["pipelines"].as_array().unwrap();
    assert_eq!(pipelines.len(), 2);
    assert_eq!(pipelines[0]["nextversion"], "3941.1.0");
    assert_eq!(pipelines[0]["_is_floor"], true);
    let ops = pipelines[1]["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0]["type"], "download");
    assert_eq!(ops[0]["size"], 400);
    assert_eq!(ops[0]["outhash_sha256"], sha256().to_hex());
    assert_eq!(
        ops[1]["urls"],
        serde_json::json!([
            {"url": "https://example.com/3941.1.0/oem-qemu.gz"},
            {"url": "https://example.com/3975.2.0/oem-qemu.gz"},
        ])
    );
    assert_eq!(ops[1]["_fp"], "1.8ab6");
    assert_eq!(pipelines[1]["_actions"][0]["event"], "postinstall");
    assert_eq!(pipelines[1]["_actions"][0]["sha256"], sha256().to_base64());
    // And it reads back as the same answer.
    assert_eq!(Response::decode_json(&answer.encode_json()), Ok(answer));
}

// ---------------------------------------------------------------- hostile input

fn req(json: &str) -> Result<Request, DecodeError> {
    Request::decode_json(json.as_bytes())
}

#[test]
fn size_depth_and_count_limits_apply() {
    let small = Limits {
        max_document_bytes: 16,
        ..Limits::DEFAULT
    };
    let check = r#"{"request":{"app":[{"appid":"a"}]}}"#;
    assert_eq!(
        Request::decode_json_with_limits(check.as_bytes(), &small),
        Err(DecodeError::DocumentTooLarge {
            size: check.len(),
            limit: 16
        })
    );
    // Depth counts inside skipped members too.
    let deep = format!(
        r#"{{"request":{{"x":{}1{}}}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    assert!(matches!(
        req(&deep),
        Err(DecodeError::TooDeep {
            limit: 32,
            path: "request",
            ..
        })
    ));
    let ok = format!(
        r#"{{"request":{{"x":{}1{}}}}}"#,
        "[".repeat(30),
        "]".repeat(30)
    );
    assert!(req(&ok).is_ok());

    let apps = vec![r#"{"appid":"a"}"#; 65].join(",");
    let err = req(&format!(r#"{{"request":{{"app":[{apps}]}}}}"#)).unwrap_err();
    assert!(
        matches!(err, DecodeError::TooManyApps { limit: 64, .. }),
        "{err}"
    );
    let events = vec![r#"{"eventtype":3}"#; 65].join(",");
    let err = req(&format!(
        r#"{{"request":{{"app":[{{"appid":"a","event":[{events}]}}]}}}}"#
    ))
    .unwrap_err();
    assert!(
        matches!(err, DecodeError::TooManyEvents { limit: 64, .. }),
        "{err}"
    );
    let packages = vec!["{}"; 65].join(",");
    let err = Response::decode_json(
        format!(
            r#"{{"response":{{"app":[{{"updatecheck":{{"manifest":{{"packages":{{"package":[{packages}]}}}}}}}}]}}}}"#
        )
        .as_bytes(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TooManyItems {
                element: "package",
                limit: 64,
                ..
            }
        ),
        "{err}"
    );
    let long = "x".repeat(8 * 1024 + 1);
    let err = req(&format!(
        r#"{{"request":{{"app":[{{"appid":"{long}"}}]}}}}"#
    ))
    .unwrap_err();
    assert!(
        matches!(&err, DecodeError::AttributeTooLong { path: "request/app", attribute, .. } if attribute == "appid"),
        "{err}"
    );
    // The limit is on the unescaped value.
    let escaped = "\\u0041".repeat(8 * 1024);
    assert_eq!(
        req(&format!(
            r#"{{"request":{{"app":[{{"appid":"{escaped}"}}]}}}}"#
        ))
        .unwrap()
        .apps[0]
            .appid,
        "A".repeat(8 * 1024)
    );
}

#[test]
fn malformed_documents_fail_with_a_typed_error_and_an_offset() {
    let cases: &[(&str, &str)] = &[
        ("", "no \"request\" member"),
        (
            "[]",
            "malformed JSON in document at byte 0: expected a JSON object",
        ),
        (
            r#"{"request":{"app":[{"appid":"a"}]}"#,
            "unexpected end of input",
        ),
        (r#"{"request":{}} x"#, "content after the JSON document"),
        (r#"{"request":{"version":1.}}"#, "invalid number"),
        (r#"{"request":{"version":"a\qb"}}"#, "invalid escape"),
        (r#"{"request":{"version":"\ud800"}}"#, "unpaired surrogate"),
        (r#"{"request":{"version":tru}}"#, "invalid literal"),
        (
            r#"{"request":{"version":"1","version":"2"}}"#,
            "duplicate member request/version",
        ),
        (
            r#"{"request":{"os":{},"os":{}}}"#,
            "duplicate member request/os",
        ),
        (
            r#"{"request":{"os":"linux"}}"#,
            "wrong JSON type for request/os",
        ),
        (
            r#"{"request":{"version":{}}}"#,
            "wrong JSON type for request/version",
        ),
        (r#"{"request":{"ismachine":"yes"}}"#, "expected an integer"),
        (
            r#"{"request":{"app":[{"delta_okay":"maybe"}]}}"#,
            "expected a boolean",
        ),
        (
            r#"{"request":{} ,"request":{}}"#,
            "duplicate member document/request",
        ),
        (
            "{\"request\":{\"version\":\"a\u{1}\"}}",
            "control character",
        ),
        (r#"{"response":{}}"#, "no \"request\" member"),
    ];
    for (input, message) in cases {
        let err = req(input).unwrap_err();
        assert!(
            err.to_string().contains(message),
            "{input}: {err} does not say {message:?}"
        );
    }
    assert_eq!(
        req(r#"{"request":{"version":1.}}"#),
        Err(DecodeError::MalformedJson {
            path: "request",
            offset: 24,
            message: "invalid number"
        })
    );
    assert_eq!(
        Request::decode_json(b"{\"request\":{\"version\":\"\xff\"}}"),
        Err(DecodeError::InvalidUtf8 { offset: 23 })
    );
}

#[test]
fn scalars_are_interchangeable_and_unknown_members_are_ignored() {
    let r = req(concat!(
        r#"{"request":{"protocol":"3.1","ismachine":"1","_private":{"a":[1,{"b":null}]},"#,
        r#""app":{"appid":7,"version":1.5,"delta_okay":"True","installage":true,"#,
        r#""multi_manifest_ok":1,"lang":null,"ping":{"active":"1","rd":"-2"},"#,
        r#""event":[{"eventtype":"3","eventresult":2.0e0}]}}}"#
    ));
    let err = r.unwrap_err();
    // 2.0e0 is a number but not an integer.
    assert!(
        matches!(
            err,
            DecodeError::InvalidValue {
                attribute: "eventresult",
                ..
            }
        ),
        "{err}"
    );
    let r = req(concat!(
        r#"{"request":{"protocol":"3.1","ismachine":"1","_private":{"a":[1,{"b":null}]},"#,
        r#""app":{"appid":7,"version":1.5,"delta_okay":"True","installage":true,"#,
        r#""multi_manifest_ok":1,"lang":null,"ping":{"active":"1","rd":"-2"},"#,
        r#""event":[{"eventtype":"3","eventresult":2}]}}}"#
    ))
    .unwrap();
    assert_eq!(r.is_machine, Some(1));
    let app = &r.apps[0];
    assert_eq!(app.appid, "7");
    assert_eq!(app.version.as_deref(), Some("1.5"));
    assert_eq!(app.delta_okay, Some(true));
    assert_eq!(app.install_age, Some(1));
    assert_eq!(app.multi_manifest_ok, Some(true));
    assert_eq!(app.lang, None);
    assert_eq!(app.ping.as_ref().unwrap().rd, Some(-2));
    assert_eq!(app.events[0].event_type.code(), 3);
    assert_eq!(app.events[0].event_result.code(), 2);
}

// ---------------------------------------------------------------- properties

/// What a 4.0 answer can carry (see `omaha_proto::json`): no `codebasediff`, and no
/// codebases unless a manifest has a package to join them to.
fn expressible_in_4_0(mut response: Response) -> Response {
    for app in &mut response.apps {
        if let Some(check) = &mut app.update_check {
            for url in &mut check.urls {
                url.codebase_diff = None;
            }
            if check.manifests.iter().all(|m| m.packages.is_empty()) {
                check.urls.clear();
            }
        }
    }
    response
}

fn json_token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            &b"{"[..],
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"\"",
            b"\\",
            b"\\u",
            b"\\ud800",
            b"null",
            b"true",
            b"-1",
            b"1e999",
            b"18446744073709551616",
            b"\"app\":[{}]",
            b"\"event\":{}",
            b"\"pipelines\":[{\"operations\":[{\"type\":\"download\"}]}]",
            b"\xff",
            b"\xce\xa9",
        ])
        .prop_map(<[u8]>::to_vec),
    ]
}

fn json_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), json_token()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1..16_usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn json_samples() -> Vec<Vec<u8>> {
    let dir = data_dir();
    let mut out: Vec<Vec<u8>> = [dir.clone(), dir.join("json"), dir.join("json/equivalent")]
        .iter()
        .flat_map(|d| json_files(d))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    out
}

/// If `bytes` decodes as either JSON document, its encoding is valid JSON and decodes to
/// the same value.
fn decodes_consistently(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = Request::decode_json(bytes) {
        let encoded = r.encode_json();
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&encoded).is_ok());
        prop_assert_eq!(
            Request::decode_json_with_limits(&encoded, &REENCODED),
            Ok(r)
        );
    }
    if let Ok(r) = Response::decode_json(bytes) {
        let encoded = r.encode_json();
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&encoded[PREFIX.len()..]).is_ok());
        prop_assert_eq!(
            Response::decode_json_with_limits(&encoded, &REENCODED),
            Ok(r)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip_in_every_version(mut req in request_doc(), v in prop::sample::select(JsonVersion::ALL.to_vec())) {
        req.protocol = Some(v.protocol());
        let bytes = req.encode_json();
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
        prop_assert_eq!(Request::decode_json(&bytes), Ok(req));
    }

    #[test]
    fn responses_round_trip_in_3_0_and_3_1(mut resp in response_doc(), v31 in any::<bool>()) {
        resp.protocol = Some(if v31 { Protocol::V3_1 } else { Protocol::V3 });
        let bytes = resp.encode_json();
        prop_assert_eq!(Response::decode_json(&bytes), Ok(resp));
    }

    #[test]
    fn responses_round_trip_in_4_0_as_far_as_expressible(resp in response_doc()) {
        let resp = expressible_in_4_0(resp.with_protocol(Protocol::V4));
        let bytes = resp.encode_json();
        prop_assert_eq!(Response::decode_json(&bytes), Ok(resp));
    }

    #[test]
    fn xml_and_json_agree(req in request_doc(), resp in response_doc()) {
        // Whatever the XML codec reads back, the JSON codec reads back the same.
        if let Ok(from_xml) = Request::decode(&req.encode()) {
            prop_assert_eq!(Request::decode_json(&from_xml.encode_json()), Ok(from_xml));
        }
        if let Ok(mut from_xml) = Response::decode(&resp.encode()) {
            // 4.0 cannot express every answer; the other versions can.
            if JsonVersion::of(from_xml.protocol.as_ref()) == Some(JsonVersion::V4_0) {
                from_xml.protocol = Some(Protocol::V3);
            }
            prop_assert_eq!(Response::decode_json(&from_xml.encode_json()), Ok(from_xml));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decodes_consistently(&bytes)?;
    }

    #[test]
    fn mutated_json_samples_never_panic(
        pick in any::<prop::sample::Index>(),
        mutations in vec(json_mutation(), 1..6),
    ) {
        let samples = json_samples();
        let mut doc = samples[pick.index(samples.len())].clone();
        for m in &mutations {
            apply(&mut doc, m);
        }
        decodes_consistently(&doc)?;
    }
}

#[test]
fn response_protocol_decides_the_shape_and_unknown_versions_are_3_0() {
    let answer = floors_answer().with_protocol(Protocol::Other("5.0".into()));
    let json = parse_independently(&answer.encode_json());
    assert_eq!(json["response"]["protocol"], "5.0");
    assert!(json["response"]["app"][0]["updatecheck"]["manifest"].is_array());
    assert_eq!(
        JsonVersion::of(Some(&Protocol::V4)),
        Some(JsonVersion::V4_0)
    );
    assert_eq!(JsonVersion::of(None), None);
}
