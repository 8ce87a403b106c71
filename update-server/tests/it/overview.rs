//! The fleet overview (`GET overview`) and the failed attempts (`GET errors`) during a
//! rollout with failures and an automatic pause, on SQLite and, when `TEST_DATABASE_URL` is
//! set, on PostgreSQL.

use crate::support::{APP, TestServer};
use omaha_proto::request::{App, Event, Os};
use serde_json::{Value, json};
use update_server::policy::{AutoPauseDoc, GroupPolicy};

const V1: &str = "/_ah/api/update/v1";

fn pausing_on_two_failures() -> GroupPolicy {
    GroupPolicy {
        auto_pause: Some(AutoPauseDoc {
            failures_count: Some(2),
            failures_percent: None,
            last_attempts: 10,
            count_timeouts: false,
        }),
        retry_delay_secs: 0,
        ..GroupPolicy::default()
    }
}

fn request(
    machine: &str,
    version: &str,
    group: &str,
    app: impl FnOnce(App) -> App,
) -> omaha_proto::Request {
    omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(app(App::new(APP, version)
        .with_track(group)
        .with_machine_id(machine)))
}

async fn send(s: &TestServer, request: omaha_proto::Request) {
    s.omaha(&request).await;
}

fn group<'a>(overview: &'a Value, id: &str) -> &'a Value {
    overview["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["groupId"] == id)
        .unwrap_or_else(|| panic!("group {id} in {overview}"))
}

async fn overview_and_errors(s: TestServer) {
    s.move_channel("1.1.0").await;
    let (status, body) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/channels"),
            Some(json!({"label": "beta"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for (id, channel) in [("canary", "stable"), ("idle", "beta"), ("empty", "stable")] {
        let (status, body) = s
            .api(
                "POST",
                &format!("{V1}/apps/{APP}/groups"),
                Some(json!({"id": id, "label": id, "channelId": channel})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    // Canary: one instance updates, one is granted and still on 1.0.0.
    send(
        &s,
        request("c1", "1.0.0", "canary", |a| a.with_update_check(None)),
    )
    .await;
    send(
        &s,
        request("c1", "1.1.0", "canary", |a| {
            a.with_event(Event::update_complete("1.0.0"))
                .with_update_check(None)
        }),
    )
    .await;
    send(
        &s,
        request("c2", "1.0.0", "canary", |a| a.with_update_check(None)),
    )
    .await;
    // Stable: two instances fail their install (one twice) and the group pauses itself.
    for machine in ["s1", "s2"] {
        send(
            &s,
            request(machine, "1.0.0", "stable", |a| a.with_update_check(None)),
        )
        .await;
    }
    send(
        &s,
        request("s1", "1.0.0", "stable", |a| {
            a.with_event(Event::error(2503))
        }),
    )
    .await;
    s.clock.advance_secs(60);
    let code = 0x1000_0000 | 15;
    send(
        &s,
        request("s2", "1.0.0", "stable", |a| {
            a.with_event(Event::error(code))
        }),
    )
    .await;
    s.clock.advance_secs(60);
    send(
        &s,
        request("s2", "1.0.0", "stable", |a| {
            a.with_event(Event::error(code))
        }),
    )
    .await;
    s.flush().await;

    let (status, overview) = s.api("GET", &format!("{V1}/overview"), None).await;
    assert_eq!(status, 200, "{overview}");
    let order: Vec<&str> = overview["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["groupId"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["stable", "canary", "idle", "empty"],
        "what needs attention first"
    );
    let stable = group(&overview, "stable");
    assert_eq!(stable["state"], "auto_paused", "{stable}");
    assert_eq!(stable["stateLabel"], "paused automatically");
    assert_eq!(stable["attention"], json!(["auto_paused", "failing"]));
    assert_eq!(stable["failuresLastHour"], "3");
    assert_eq!(stable["autoPauseFailures"], "2");
    assert_eq!(
        stable["autoPauseThreshold"],
        "2 failures of the last 10 attempts"
    );
    assert!(
        stable["autoPausedAt"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-27T08:01:00"),
        "{stable}"
    );
    assert_eq!(stable["etaText"], "stopped");
    assert_eq!(
        (stable["onTarget"].as_str(), stable["instances"].as_str()),
        (Some("0"), Some("2"))
    );
    let canary = group(&overview, "canary");
    assert_eq!(canary["state"], "updating", "{canary}");
    assert_eq!(canary["attention"], json!([]));
    assert_eq!(
        (canary["onTarget"].as_str(), canary["instances"].as_str()),
        (Some("1"), Some("2"))
    );
    assert_eq!(canary["progressPercent"], 50.0);
    assert_eq!(canary["completionsLastHour"], "1");
    assert_eq!(canary["targetVersion"], "1.1.0");
    assert!(
        !canary["lastGrant"].as_str().unwrap().is_empty(),
        "{canary}"
    );
    // One completed in the last hour, one to go: about an hour.
    assert!(
        canary["etaText"]
            .as_str()
            .unwrap()
            .starts_with("about 2026-11-27 09:02 UTC"),
        "{canary}"
    );
    assert_eq!(group(&overview, "idle")["state"], "no_target");
    // A group with a target and no instance yet is not "finished": it has none.
    let empty = group(&overview, "empty");
    assert_eq!(
        (&empty["state"], &empty["instances"], &empty["etaText"]),
        (
            &json!("no_instances"),
            &json!("0"),
            &json!("none (no instance has checked in)")
        ),
        "{empty}"
    );
    // One app's groups; an unknown app is 404.
    let (status, one) = s
        .api("GET", &format!("{V1}/overview?appId={{{APP}}}"), None)
        .await;
    assert_eq!(
        (status, one["items"].as_array().map(Vec::len)),
        (200, Some(4))
    );
    let (status, _) = s
        .api("GET", &format!("{V1}/overview?appId=nope"), None)
        .await;
    assert_eq!(status, 404);

    // The errors: per instance, version and code, the most recent first.
    let (status, errors) = s.api("GET", &format!("{V1}/errors"), None).await;
    assert_eq!(status, 200, "{errors}");
    assert_eq!(errors["total"], "2");
    let items = errors["items"].as_array().unwrap();
    assert_eq!(items[0]["clientId"], "s2");
    assert_eq!(items[0]["errorCode"], code.to_string());
    assert_eq!(items[0]["errorName"], "new rootfs verification error");
    assert_eq!(items[0]["count"], "2");
    assert_eq!(items[0]["firstSeen"], "2026-11-27T08:01:00Z");
    assert_eq!(items[0]["lastSeen"], "2026-11-27T08:02:00Z");
    assert_eq!(
        (items[1]["clientId"].as_str(), items[1]["count"].as_str()),
        (Some("s1"), Some("1"))
    );
    assert_eq!(items[1]["errorCode"], "2503");
    assert_eq!(items[1]["errorName"], "HTTP 503");
    assert_eq!(items[1]["version"], "1.0.0");
    assert_eq!(items[1]["groupId"], "stable");
    let upper = format!("appId={{{}}}", APP.to_uppercase());
    for (query, total) in [
        ("groupId=canary", "0"),
        ("groupId=stable&version=1.0.0", "2"),
        ("version=9.9.9", "0"),
        ("since=2026-11-27T08:01:30Z", "1"),
        (upper.as_str(), "2"),
        ("since=1800000000", "0"),
    ] {
        let (status, list) = s.api("GET", &format!("{V1}/errors?{query}"), None).await;
        assert_eq!(
            (status, list["total"].as_str()),
            (200, Some(total)),
            "{query}: {list}"
        );
    }
    let (status, page) = s
        .api("GET", &format!("{V1}/errors?limit=1&skip=1"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["clientId"], "s1");
    let (status, _) = s
        .api("GET", &format!("{V1}/errors?since=yesterday"), None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = s.api("GET", &format!("{V1}/errors?limit=many"), None).await;
    assert_eq!(status, 400);

    // Resumed, the group updates again and still says it is failing.
    let (status, _) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/stable"),
            Some(json!({"label": "Stable", "channelId": "stable"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, overview) = s.api("GET", &format!("{V1}/overview"), None).await;
    let stable = group(&overview, "stable");
    assert_eq!(stable["state"], "updating", "{stable}");
    assert_eq!(stable["attention"], json!(["failing"]));
    assert_eq!(stable["autoPausedAt"], "");
    // Two hours on, the failures are out of the last hour, and nothing was granted since
    // the resume: stalled.
    s.clock.advance_secs(2 * 3600 + 60);
    let (_, overview) = s.api("GET", &format!("{V1}/overview"), None).await;
    let stable = group(&overview, "stable");
    assert_eq!(stable["failuresLastHour"], "0");
    assert_eq!(stable["attention"], json!(["stalled"]), "{stable}");
    s.stop().await;
}

#[tokio::test]
async fn overview_and_errors_on_sqlite() {
    overview_and_errors(TestServer::start_sqlite(pausing_on_two_failures()).await).await;
}

#[tokio::test]
async fn overview_and_errors_on_postgres() {
    if let Some(s) = TestServer::start_postgres(pausing_on_two_failures()).await {
        overview_and_errors(s).await;
    }
}
