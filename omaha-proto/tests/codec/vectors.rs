//! The request shapes update_engine sends (omaha-protocol.md §8.2): each vector file
//! decodes to exactly what the constructors build, and the fields a server acts on read
//! as expected.

use omaha_proto::Request;
use omaha_proto::codes::{EventResult, EventType, Protocol, error_code};
use omaha_proto::request::{App, Event, Os};

use crate::read_data;

/// The request envelope and app every vector shares, built with the constructors.
fn flatcar_app() -> App {
    App {
        boot_id: Some("{7d52a1cc-7066-40f0-91c7-7cb6a871bfde}".into()),
        oem: Some("qemu".into()),
        oem_version: Some("0.1.0-r1".into()),
        aleph_version: Some("3510.2.0".into()),
        machine_id: Some("8bde4c4d90834d61b41c3253212c0c37".into()),
        machine_alias: Some(String::new()),
        lang: Some("en-US".into()),
        board: Some("amd64-usr".into()),
        hardware_class: Some(String::new()),
        delta_okay: Some(false),
        ..App::new("{e96281a6-d1af-4bde-9a0a-97b76e56dc57}", "3975.2.0").with_track("stable")
    }
}

fn envelope(app: App) -> Request {
    Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", "3975.2.0_x86_64"),
    )
    .with_app(app)
}

fn decode_vector(name: &str) -> Request {
    let bytes = read_data(&format!("vectors/{name}.request.xml"));
    Request::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[track_caller]
fn check(name: &str, expected: &Request) -> Request {
    let decoded = decode_vector(name);
    assert_eq!(&decoded, expected, "{name}");
    // The constructor's encoding decodes back to the same value.
    assert_eq!(&Request::decode(&expected.encode()).unwrap(), expected);
    decoded
}

#[test]
fn update_check_with_ping_and_event_3_2_previousversion() {
    let r = check(
        "ue-update-check-previousversion",
        &envelope(flatcar_app().with_update_check(Some("3941.1.0"))),
    );
    assert_eq!(r.protocol, Some(Protocol::V3));
    assert_eq!(r.install_source.as_deref(), Some("scheduler"));
    let app = &r.apps[0];
    assert_eq!(app.ping.as_ref().and_then(|p| p.active), Some(1));
    assert!(app.update_check.is_some());
    let e = &app.events[0];
    assert_eq!((e.event_type.code(), e.event_result.code()), (3, 2));
    assert_eq!(e.previous_version.as_deref(), Some("3941.1.0"));
    assert_eq!(e.error_code, None);
}

#[test]
fn update_check_on_first_contact_reports_0_0_0_0() {
    let r = check(
        "ue-update-check-first-contact",
        &envelope(flatcar_app().with_update_check(Some("0.0.0.0"))),
    );
    assert_eq!(
        r.apps[0].events[0].previous_version.as_deref(),
        Some("0.0.0.0")
    );
}

#[test]
fn update_check_after_rollback_carries_3_0_with_code_44() {
    let mut app = flatcar_app().with_ping();
    app.update_check = Some(Default::default());
    let app = app.with_event(Event::error(error_code::FLAG_TEST_OMAHA_URL | 44));
    let r = check("ue-update-check-rollback-44", &envelope(app));
    let e = &r.apps[0].events[0];
    assert_eq!(e.event_type, EventType::UpdateComplete);
    assert_eq!(e.event_result, EventResult::Error);
    assert_eq!(
        e.error_code.map(error_code::without_flags),
        Some(error_code::ROLLBACK_DETECTED)
    );
}

#[test]
fn ping_only() {
    let r = check("ue-ping-only", &envelope(flatcar_app().with_ping()));
    let app = &r.apps[0];
    assert!(app.ping.is_some());
    assert!(app.update_check.is_none());
    assert!(app.events.is_empty());
}

#[test]
fn progress_events_13_1_14_1_3_1_800_1() {
    for (name, event, codes) in [
        (
            "ue-event-13-1-download-started",
            Event::download_started(),
            (13, 1),
        ),
        (
            "ue-event-14-1-download-finished",
            Event::download_finished(),
            (14, 1),
        ),
        ("ue-event-3-1-installed", Event::update_installed(), (3, 1)),
        (
            "ue-event-800-1-completion-held",
            Event::installed_completion_held(),
            (800, 1),
        ),
    ] {
        let r = check(name, &envelope(flatcar_app().with_event(event)));
        let app = &r.apps[0];
        assert!(app.ping.is_none() && app.update_check.is_none(), "{name}");
        assert_eq!(app.events.len(), 1, "{name}");
        let e = &app.events[0];
        assert_eq!(
            (e.event_type.code(), e.event_result.code()),
            codes,
            "{name}"
        );
        assert!(
            !matches!(e.event_type, EventType::Other(_)),
            "{name}: named variant"
        );
    }
}

#[test]
fn error_event_3_0_with_flag_bit_28() {
    let r = check(
        "ue-event-3-0-error-flag28",
        &envelope(flatcar_app().with_event(Event::error(
            error_code::FLAG_TEST_OMAHA_URL | error_code::PAYLOAD_HASH_MISMATCH,
        ))),
    );
    let code = r.apps[0].events[0].error_code.unwrap();
    assert_eq!(code, 268_435_466);
    assert_ne!(code & error_code::FLAG_TEST_OMAHA_URL, 0);
    assert_eq!(error_code::without_flags(code), 10);
}

#[test]
fn encoded_update_check_is_what_update_engine_sends_modulo_layout() {
    // Our encoding of the constructor value, with update_engine's whitespace removed from
    // the vector, is byte-identical apart from update_engine's space before `>`.
    let built = envelope(flatcar_app().with_update_check(Some("3941.1.0")));
    let ours = String::from_utf8(built.encode()).unwrap();
    let theirs = String::from_utf8(read_data(
        "vectors/ue-update-check-previousversion.request.xml",
    ))
    .unwrap()
    .lines()
    .map(str::trim)
    .collect::<Vec<_>>()
    .join("")
    .replace("\" >", "\">")
    .replacen("?>", "?>\n", 1);
    // update_engine writes <os> attributes as version, platform, sp; we write go-omaha's
    // order platform, version, sp.
    let theirs = theirs.replace(
        r#"<os version="Chateau" platform="CoreOS""#,
        r#"<os platform="CoreOS" version="Chateau""#,
    );
    assert_eq!(ours, theirs);
}
