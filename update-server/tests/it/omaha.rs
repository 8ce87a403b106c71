//! The Omaha endpoint over real HTTP on 127.0.0.1: what update_engine and go-omaha clients
//! see.

use crate::support::{self, TestServer};
use omaha_proto::codes::{AppStatus, Protocol, UpdateCheckStatus};
use omaha_proto::json::JsonVersion;
use omaha_proto::request::{App, Event, Os};
use omaha_proto::{Request, Response};
use update_server::policy::GroupPolicy;
use update_server::store::{HistoryKind, InstanceFilter};

const APP: &str = support::APP;

fn ue_request(app: App) -> Request {
    Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", "3975.2.0_x86_64"),
    )
    .with_app(app)
}

fn check(machine: &str, version: &str) -> Request {
    ue_request(
        App::new(&format!("{{{APP}}}"), version)
            .with_track("stable")
            .with_machine_id(machine)
            .with_update_check(Some("")),
    )
}

fn event(machine: &str, version: &str, event: Event) -> Request {
    ue_request(
        App::new(&format!("{{{APP}}}"), version)
            .with_track("stable")
            .with_machine_id(machine)
            .with_event(event),
    )
}

#[tokio::test]
async fn a_full_update_as_update_engine_performs_it() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    let machine = "0123456789abcdef0123456789abcdef";

    // The channel points at the version the instance runs: no update.
    let (status, response) = server.omaha(&check(machine, "1.0.0")).await;
    assert_eq!(status, 200);
    let app = &response.apps[0];
    assert_eq!(
        app.appid,
        format!("{{{APP}}}"),
        "the app id is echoed byte for byte"
    );
    assert_eq!(app.status, Some(AppStatus::Ok));
    assert_eq!(app.events.len(), 1, "the routine 3/2 is acknowledged");
    assert!(app.ping.is_some());
    assert_eq!(
        app.update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::NoUpdate)
    );

    // The channel moves on.
    server.move_channel("1.1.0").await;
    let (_, response) = server.omaha(&check(machine, "1.0.0")).await;
    let update = response.apps[0]
        .update_check
        .clone()
        .expect("an update check answer");
    assert_eq!(update.status, Some(UpdateCheckStatus::Ok));
    assert_eq!(
        update.urls[0].codebase.as_str(),
        "https://pkg.example.test/1.1.0/"
    );
    let manifest = &update.manifests[0];
    assert_eq!(manifest.version, "1.1.0");
    let package = &manifest.packages[0];
    assert_eq!((package.name.as_str(), package.size), ("update.gz", 5));
    let action = &manifest.actions[0];
    assert_eq!(action.disable_payload_backoff, Some(true));
    // Canonical encodings on the wire: base64 SHA-1 `hash`, hex `hash_sha256`, base64 action
    // `sha256` (the payload is "hello").
    let raw = server.post_raw(check(machine, "1.0.0").encode()).await.1;
    assert!(
        raw.contains(r#"hash="qvTGHdzF6KLavt4PO0gs2a6pQ00=""#),
        "{raw}"
    );
    assert!(
        raw.contains(
            r#"hash_sha256="2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824""#
        ),
        "{raw}"
    );
    assert!(
        raw.contains(r#"sha256="LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=""#),
        "{raw}"
    );

    // The repeated checks got the same update without a second grant.
    let history = server.store.history(Some(APP), machine, 100).await.unwrap();
    let grants: Vec<_> = history
        .iter()
        .filter(|h| h.kind == HistoryKind::Grant)
        .collect();
    assert_eq!(grants.len(), 1, "{history:?}");
    assert_eq!(grants[0].target_version.as_deref(), Some("1.1.0"));
    assert_eq!(grants[0].install_source, "scheduler");
    assert_eq!(server.status_of(machine).await, "granted");

    // The update, step by step.
    for (ev, status) in [
        (Event::download_started(), "downloading"),
        (Event::download_finished(), "downloaded"),
        (Event::update_installed(), "installed"),
    ] {
        let (code, response) = server.omaha(&event(machine, "1.0.0", ev)).await;
        assert_eq!(code, 200);
        assert_eq!(response.apps[0].events.len(), 1);
        assert!(response.apps[0].update_check.is_none());
        assert_eq!(server.status_of(machine).await, status);
    }
    // After the reboot: the routine check on the new version completes the update.
    let (_, response) = server.omaha(&check(machine, "1.1.0")).await;
    assert_eq!(
        response.apps[0].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::NoUpdate)
    );
    let instance = server.store.instance(APP, machine).await.unwrap().unwrap();
    assert_eq!(
        (instance.status.as_str(), instance.version.as_str()),
        ("complete", "1.1.0")
    );
    assert_eq!(instance.grant_version, None);

    let history = server.store.history(Some(APP), machine, 100).await.unwrap();
    let events: Vec<(i64, i64)> = history
        .iter()
        .filter_map(|h| Some((h.event_type?, h.event_result?)))
        .collect();
    assert_eq!(
        events,
        vec![(3, 2), (3, 2), (3, 2), (13, 1), (14, 1), (3, 1), (3, 2)],
        "every event is in the history; the first routine 3/2 and the ones while the grant was open"
    );
    server.stop().await;
}

/// The same request in JSON, in protocol version `v`.
fn in_json(mut request: Request, v: JsonVersion) -> Request {
    request.protocol = Some(v.protocol());
    request
}

/// What decides an answer: each app's status, and its update check's status with the
/// version and the payload's URLs, size and SHA-256 offered.
fn decision(response: &Response) -> Vec<String> {
    response
        .apps
        .iter()
        .map(|app| {
            let mut out = format!(
                "{}:{:?}",
                app.appid,
                app.status.as_ref().map(|s| s.as_str())
            );
            if let Some(check) = &app.update_check {
                out.push_str(&format!(" {:?}", check.status.as_ref().map(|s| s.as_str())));
                for m in &check.manifests {
                    for p in &m.packages {
                        let urls: Vec<String> = check
                            .urls
                            .iter()
                            .map(|u| format!("{}{}", u.codebase, p.name))
                            .collect();
                        out.push_str(&format!(
                            " {}={urls:?},{},{:?}",
                            m.version,
                            p.size,
                            p.hash_sha256.as_ref().and_then(|h| h.digest())
                        ));
                    }
                }
            }
            out
        })
        .collect()
}

#[tokio::test]
async fn xml_and_json_give_one_instance_the_same_decisions_sqlite() {
    xml_and_json_give_one_instance_the_same_decisions(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn xml_and_json_give_one_instance_the_same_decisions_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        xml_and_json_give_one_instance_the_same_decisions(s).await;
    }
}

async fn xml_and_json_give_one_instance_the_same_decisions(server: TestServer) {
    let machine = "00112233445566778899aabbccddeeff";

    // Up to date: the same no-update in XML and in every JSON version.
    let (_, xml) = server.omaha(&check(machine, "1.0.0")).await;
    assert_eq!(
        xml.apps[0].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::NoUpdate)
    );
    for v in JsonVersion::ALL {
        let (_, json) = server
            .omaha_json(&in_json(check(machine, "1.0.0"), v))
            .await;
        assert_eq!(
            json.protocol,
            Some(v.protocol()),
            "answered in the request's version"
        );
        assert_eq!(decision(&json), decision(&xml), "{v:?}");
        assert_eq!(
            json.apps[0].events.len(),
            1,
            "the routine 3/2 is acknowledged"
        );
    }

    // The channel moves: XML grants the update; the same instance asking in JSON holds
    // that grant and is offered the same payload, in every version (4.0 as a pipeline).
    server.move_channel("1.1.0").await;
    let (_, xml) = server.omaha(&check(machine, "1.0.0")).await;
    assert_eq!(
        xml.apps[0].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::Ok)
    );
    assert_eq!(server.status_of(machine).await, "granted");
    for v in JsonVersion::ALL {
        let (_, json) = server
            .omaha_json(&in_json(check(machine, "1.0.0"), v))
            .await;
        assert_eq!(decision(&json), decision(&xml), "{v:?}");
    }

    // Progress reported in JSON moves the instance as it does in XML, and the routine
    // check on the new version, in JSON, completes the update.
    for (ev, status) in [
        (Event::download_started(), "downloading"),
        (Event::download_finished(), "downloaded"),
        (Event::update_installed(), "installed"),
    ] {
        let (_, response) = server
            .omaha_json(&in_json(event(machine, "1.0.0", ev), JsonVersion::V3_1))
            .await;
        assert_eq!(response.apps[0].events.len(), 1);
        assert_eq!(server.status_of(machine).await, status);
    }
    let (_, json) = server
        .omaha_json(&in_json(check(machine, "1.1.0"), JsonVersion::V4_0))
        .await;
    assert_eq!(
        json.apps[0].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::NoUpdate)
    );
    let instance = server.store.instance(APP, machine).await.unwrap().unwrap();
    assert_eq!(
        (instance.status.as_str(), instance.version.as_str()),
        ("complete", "1.1.0")
    );
    let (_, xml) = server.omaha(&check(machine, "1.1.0")).await;
    assert_eq!(decision(&xml), decision(&json));

    // A version the server does not speak is refused in band, answered in 3.1.
    let mut unknown = check(machine, "1.1.0");
    unknown.protocol = Some(Protocol::Other("5.0".into()));
    let (_, json) = server.omaha_json(&unknown).await;
    assert_eq!(json.protocol, Some(Protocol::V3_1));
    assert_eq!(
        json.apps[0].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::UnsupportedProtocol)
    );
    server.stop().await;
}

#[tokio::test]
async fn the_json_endpoint_refuses_what_is_not_json() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    let (status, text) = server.post_json_raw(check("m", "1.0.0").encode()).await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("malformed request: malformed JSON"),
        "{text}"
    );
    let (status, text) = server.post_json_raw(b"{}".to_vec()).await;
    assert_eq!(status, 400);
    assert!(text.contains("no \"request\" member"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn a_failed_update_is_recorded_with_its_error_code() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    server.move_channel("1.1.0").await;
    let machine = "m-fail";
    let (_, response) = server.omaha(&check(machine, "1.0.0")).await;
    assert_eq!(
        response.apps[0].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::Ok)
    );
    let code = (1 << 28) | 10;
    server
        .omaha(&event(machine, "1.0.0", Event::error(code)))
        .await;
    let instance = server.store.instance(APP, machine).await.unwrap().unwrap();
    assert_eq!(instance.status, "error");
    assert_eq!(instance.last_error_code, Some(code), "flag bits are kept");
    assert_eq!(instance.grant_version, None, "the failed grant is released");
    server.stop().await;
}

#[tokio::test]
async fn unknown_apps_and_groups() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    // Unknown app: in-band error, app id echoed as sent.
    let request = ue_request(
        App::new("{00000000-0000-0000-0000-000000000000}", "1.0.0")
            .with_machine_id("m1")
            .with_update_check(None),
    );
    let (status, response) = server.omaha(&request).await;
    assert_eq!(status, 200);
    assert_eq!(
        response.apps[0].appid,
        "{00000000-0000-0000-0000-000000000000}"
    );
    assert_eq!(response.apps[0].status, Some(AppStatus::UnknownApplication));

    // The app id matches without braces and in upper case.
    let upper = ue_request(
        App::new(&APP.to_uppercase(), "1.0.0")
            .with_track("stable")
            .with_machine_id("m2")
            .with_update_check(None),
    );
    let (_, response) = server.omaha(&upper).await;
    assert_eq!(response.apps[0].appid, APP.to_uppercase());
    assert_eq!(response.apps[0].status, Some(AppStatus::Ok));

    // An unknown group: no update, but the instance is listed under the group it named.
    server.move_channel("1.1.0").await;
    let lost = ue_request(
        App::new(APP, "1.0.0")
            .with_track("no-such-group")
            .with_machine_id("m3")
            .with_update_check(None),
    );
    let (_, response) = server.omaha(&lost).await;
    assert_eq!(
        response.apps[0].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::NoUpdate)
    );
    server.flush().await;
    let listed = server
        .store
        .instances(
            &InstanceFilter {
                group_id: Some("no-such-group".into()),
                ..InstanceFilter::default()
            },
            10,
            0,
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].machine_id, "m3");
    server.stop().await;
}

#[tokio::test]
async fn the_rate_limit_holds_under_concurrent_checks() {
    let policy = GroupPolicy {
        update_pooling: true,
        update_count: 5,
        update_interval_secs: 60,
        ..GroupPolicy::default()
    };
    let server = TestServer::start_sqlite(policy).await;
    server.move_channel("1.1.0").await;
    let granted = server.concurrent_checks(300).await;
    assert_eq!(granted, 5, "exactly update_count grants");
    // A minute later (virtual time) five more.
    server.clock.advance_secs(60);
    let granted = server.concurrent_checks(300).await;
    assert_eq!(
        granted, 10,
        "five new grants plus the five outstanding ones re-issued"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_rate_limit_holds_on_postgres() {
    let Some(server) = TestServer::start_postgres(GroupPolicy {
        update_pooling: true,
        update_count: 5,
        update_interval_secs: 60,
        ..GroupPolicy::default()
    })
    .await
    else {
        return;
    };
    server.move_channel("1.1.0").await;
    assert_eq!(server.concurrent_checks(300).await, 5);
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_status_and_the_server_keeps_serving() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("empty body", Vec::new(), 400, "empty request body"),
        (
            "malformed XML",
            b"<request protocol=\"3.0\"><app".to_vec(),
            400,
            "malformed",
        ),
        (
            "a DOCTYPE",
            br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><request protocol="3.0"/>"#
                .to_vec(),
            400,
            "malformed",
        ),
        (
            "invalid UTF-8",
            b"<request protocol=\"3.0\" version=\"\xff\xfe\"/>".to_vec(),
            400,
            "malformed",
        ),
        ("not XML at all", b"hello".to_vec(), 400, "malformed"),
        ("oversized body", vec![b' '; 2 * 1024 * 1024], 413, ""),
        (
            "10,000 apps",
            {
                let mut body = String::from(r#"<request protocol="3.0">"#);
                for i in 0..10_000 {
                    body.push_str(&format!(
                        r#"<app appid="{APP}" version="1.0.0" machineid="m{i}"/>"#
                    ));
                }
                body.push_str("</request>");
                body.into_bytes()
            },
            400,
            "malformed",
        ),
    ];
    for (what, body, expected, message) in cases {
        let (status, text) = server.post_raw(body).await;
        assert_eq!(status, expected, "{what}: {text}");
        assert!(text.contains(message), "{what}: {text}");
        // ...and the next request is served.
        let (status, _) = server.omaha(&check("still-alive", "1.0.0")).await;
        assert_eq!(status, 200, "after {what}");
    }

    // A wrong protocol version: in-band error.
    let mut old = check("m-old", "1.0.0");
    old.protocol = Some(Protocol::Other("2.0".into()));
    let (status, response) = server.omaha(&old).await;
    assert_eq!(status, 200);
    assert_eq!(
        response.apps[0].update_check.as_ref().unwrap().status,
        Some(UpdateCheckStatus::UnsupportedProtocol)
    );

    // A GET.
    let status = reqwest::get(format!("http://{}/v1/update/", server.addr()))
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 405);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_writes_what_was_buffered() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    let ping = ue_request(
        App::new(APP, "1.0.0")
            .with_track("stable")
            .with_machine_id("pinger")
            .with_ping(),
    );
    let (status, _) = server.omaha(&ping).await;
    assert_eq!(status, 200);
    let store = server.store.clone();
    let _data = server.stop().await;
    let instance = store.instance(APP, "pinger").await.unwrap();
    assert!(
        instance.is_some(),
        "the last-seen buffer is flushed at shutdown"
    );
}

/// Decoding a response the server wrote always works.
#[tokio::test]
async fn responses_decode_with_omaha_proto() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    server.move_channel("1.1.0").await;
    let (_, raw) = server.post_raw(check("m", "1.0.0").encode()).await;
    let response = Response::decode(raw.as_bytes()).expect("decodes");
    assert_eq!(response.apps.len(), 1);
    server.stop().await;
}

/// A request of `apps` apps with `events` events each (a 64 x 64 request is about 220 KB).
fn amplified_request(prefix: &str, apps: usize, events: usize) -> Vec<u8> {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><request protocol="3.0">"#);
    for a in 0..apps {
        xml.push_str(&format!(
            r#"<app appid="{{{APP}}}" version="1.0.0" track="stable" machineid="{prefix}-{a:02}">"#
        ));
        for _ in 0..events {
            xml.push_str(r#"<event eventtype="3" eventresult="0" errorcode="1234"/>"#);
        }
        xml.push_str("</app>");
    }
    xml.push_str("</request>");
    xml.into_bytes()
}

/// The work one unauthenticated request causes is bounded: 64 apps of 64 events (4096
/// history rows before) are refused in-band with nothing stored, an app over the events
/// limit is refused while its neighbours are served, and the metrics count the refusals.
async fn requests_over_the_work_limits_are_refused_in_band(s: TestServer) {
    use update_server::service::{MAX_APPS_PER_REQUEST, MAX_EVENTS_PER_APP};
    let body = amplified_request("amp", 64, 64);
    assert!(body.len() > 200_000, "{}", body.len());
    let (status, text) = s.post_raw(body).await;
    assert_eq!(status, 200, "{text}");
    let response = Response::decode(text.as_bytes()).unwrap();
    assert_eq!(response.apps.len(), 64);
    assert!(
        response
            .apps
            .iter()
            .all(|a| a.status == Some(AppStatus::Restricted)),
        "{text}"
    );
    s.flush().await;
    for a in [0, 63] {
        assert!(
            s.store
                .instance(APP, &format!("amp-{a:02}"))
                .await
                .unwrap()
                .is_none(),
            "nothing stored"
        );
    }

    // At the limits, everything is processed; one app over the events limit is refused alone.
    let (status, text) = s
        .post_raw(amplified_request(
            "ok",
            MAX_APPS_PER_REQUEST,
            MAX_EVENTS_PER_APP,
        ))
        .await;
    assert_eq!(status, 200, "{text}");
    let response = Response::decode(text.as_bytes()).unwrap();
    assert!(
        response
            .apps
            .iter()
            .all(|a| a.status == Some(AppStatus::Ok))
    );
    s.flush().await;
    assert!(s.store.instance(APP, "ok-00").await.unwrap().is_some());
    let mut mixed = String::from_utf8(amplified_request("mix", 1, MAX_EVENTS_PER_APP + 1)).unwrap();
    let second = String::from_utf8(amplified_request("mixok", 1, 1)).unwrap();
    let app = &second[second.find("<app ").unwrap()..second.find("</request>").unwrap()];
    mixed.insert_str(mixed.find("</request>").unwrap(), app);
    let (status, text) = s.post_raw(mixed.into_bytes()).await;
    assert_eq!(status, 200, "{text}");
    let response = Response::decode(text.as_bytes()).unwrap();
    assert_eq!(response.apps[0].status, Some(AppStatus::Restricted));
    assert_eq!(response.apps[1].status, Some(AppStatus::Ok));
    s.flush().await;
    assert!(s.store.instance(APP, "mix-00").await.unwrap().is_none());
    assert!(s.store.instance(APP, "mixok-00").await.unwrap().is_some());

    // One instance reporting event after event: at most MAX_HISTORY_PER_MINUTE of its
    // events are stored per minute; its neighbour is not affected; the next minute it is
    // served again.
    use update_server::budget::MAX_HISTORY_PER_MINUTE;
    let per_request = MAX_EVENTS_PER_APP;
    let within = MAX_HISTORY_PER_MINUTE as usize / per_request;
    for round in 0..=within {
        let (status, text) = s.post_raw(amplified_request("hist", 1, per_request)).await;
        assert_eq!(status, 200, "{text}");
        let response = Response::decode(text.as_bytes()).unwrap();
        let expected = if round < within {
            AppStatus::Ok
        } else {
            AppStatus::Restricted
        };
        assert_eq!(
            response.apps[0].status,
            Some(expected),
            "round {round}: {text}"
        );
    }
    let (_, text) = s.post_raw(amplified_request("hist-neighbour", 1, 1)).await;
    assert!(text.contains(r#"status="ok""#), "{text}");
    let stored = s.store.history(Some(APP), "hist-00", 1000).await.unwrap();
    assert_eq!(stored.len(), within * per_request, "history rows stored");
    s.clock.advance_secs(60);
    let (_, text) = s.post_raw(amplified_request("hist", 1, per_request)).await;
    assert!(text.contains(r#"status="ok""#), "a new minute: {text}");

    let metrics = crate::ops::scrape(&reqwest::Client::new(), s.addr()).await;
    for (limit, count) in [
        ("history_per_minute", 1.0),
        ("apps_per_request", 64.0),
        ("events_per_app", 1.0),
    ] {
        assert_eq!(
            metrics[&format!("update_server_update_apps_over_limit_total{{limit=\"{limit}\"}}")],
            count,
            "{limit}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn requests_over_the_work_limits_are_refused_in_band_sqlite() {
    requests_over_the_work_limits_are_refused_in_band(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn requests_over_the_work_limits_are_refused_in_band_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        requests_over_the_work_limits_are_refused_in_band(s).await;
    }
}

#[tokio::test]
async fn an_allowed_downgrade_is_marked_a_rollback_in_both_codecs_sqlite() {
    let policy = GroupPolicy {
        allow_downgrade: true,
        ..GroupPolicy::default()
    };
    an_allowed_downgrade_is_marked_a_rollback_in_both_codecs(
        TestServer::start_sqlite(GroupPolicy::default()).await,
        TestServer::start_sqlite(policy).await,
    )
    .await;
}

#[tokio::test]
async fn an_allowed_downgrade_is_marked_a_rollback_in_both_codecs_postgres() {
    let policy = GroupPolicy {
        allow_downgrade: true,
        ..GroupPolicy::default()
    };
    let (Some(plain), Some(downgrades)) = (
        TestServer::start_postgres(GroupPolicy::default()).await,
        TestServer::start_postgres(policy).await,
    ) else {
        return;
    };
    an_allowed_downgrade_is_marked_a_rollback_in_both_codecs(plain, downgrades).await;
}

/// The channel is at 1.0.0. An instance on 1.1.0 gets nothing from a group without
/// downgrades, and 1.0.0 marked `_rollback` from one with them, in XML and every JSON
/// version; an ordinary update (from 0.9.0) carries no mark.
async fn an_allowed_downgrade_is_marked_a_rollback_in_both_codecs(
    plain: TestServer,
    downgrades: TestServer,
) {
    let check_of = |response: &Response| response.apps[0].update_check.clone().unwrap();
    let (_, xml) = plain.omaha(&check("aa", "1.1.0")).await;
    assert_eq!(check_of(&xml).status, Some(UpdateCheckStatus::NoUpdate));
    assert_eq!(check_of(&xml).rollback, None);

    let (_, xml) = downgrades.omaha(&check("bb", "1.1.0")).await;
    let update = check_of(&xml);
    assert_eq!(update.status, Some(UpdateCheckStatus::Ok));
    assert_eq!(update.manifests[0].version, "1.0.0");
    assert_eq!(update.rollback, Some(true));
    for v in JsonVersion::ALL {
        let (_, json) = downgrades
            .omaha_json(&in_json(check("bb", "1.1.0"), v))
            .await;
        assert_eq!(decision(&json), decision(&xml), "{v:?}");
        assert_eq!(check_of(&json).rollback, Some(true), "{v:?}");
    }

    let (_, xml) = downgrades.omaha(&check("cc", "0.9.0")).await;
    assert_eq!(check_of(&xml).status, Some(UpdateCheckStatus::Ok));
    assert_eq!(check_of(&xml).rollback, None);
    let (_, json) = downgrades
        .omaha_json(&in_json(check("cc", "0.9.0"), JsonVersion::V3_1))
        .await;
    assert_eq!(check_of(&json).rollback, None);
    plain.stop().await;
    downgrades.stop().await;
}
