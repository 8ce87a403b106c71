//! Refusals without the lock, on both backends: a check the group's refusal facts refuse
//! is answered on the fast path (no store round trip, no group lock), its "last seen"
//! still reaches the store, and the checks that may be granted still go to the writer:
//! once the rate window frees, and at once when a completion frees an in-flight slot.

use crate::ops::scrape;
use crate::support::{APP, TestServer, check_request};
use update_server::policy::GroupPolicy;

fn waiting_policy() -> GroupPolicy {
    GroupPolicy {
        update_pooling: true,
        update_count: 1,
        update_interval_secs: 3600,
        ..GroupPolicy::default()
    }
}

fn in_flight_policy() -> GroupPolicy {
    GroupPolicy {
        max_in_flight: Some(1),
        ..GroupPolicy::default()
    }
}

/// The counters a check moves: writer round trips, group locks, fast and writer checks.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counts {
    trips: f64,
    locks: f64,
    fast: f64,
    writer: f64,
}

async fn counts(server: &TestServer) -> Counts {
    let m = scrape(&reqwest::Client::new(), server.addr()).await;
    let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
    Counts {
        trips: get("update_server_store_round_trips_total{path=\"writer\"}"),
        locks: get("update_server_group_locks_total"),
        fast: get("update_server_update_checks_total{path=\"fast\"}"),
        writer: get("update_server_update_checks_total{path=\"writer\"}"),
    }
}

async fn offered(server: &TestServer, machine: &str, version: &str) -> bool {
    let (_, response) = server.omaha(&check_request(machine, version)).await;
    response.apps[0].update_check.as_ref().unwrap().status
        == Some(omaha_proto::codes::UpdateCheckStatus::Ok)
}

async fn a_full_window_is_refused_without_the_lock(server: TestServer) {
    server.move_channel("1.1.0").await;
    // First checks: unknown instances, decided by the writer; m0 takes the hour's grant.
    assert!(offered(&server, "m0", "1.0.0").await);
    for m in ["m1", "m2", "m3"] {
        assert!(!offered(&server, m, "1.0.0").await);
    }
    server.clock.advance_secs(60);
    let before = counts(&server).await;
    for _ in 0..5 {
        for m in ["m1", "m2", "m3"] {
            assert!(!offered(&server, m, "1.0.0").await);
        }
    }
    let after = counts(&server).await;
    assert_eq!(after.trips, before.trips, "no writer round trip");
    assert_eq!(after.locks, before.locks, "no group lock");
    assert_eq!(after.writer, before.writer);
    assert_eq!(after.fast - before.fast, 15.0);
    let m = scrape(&reqwest::Client::new(), server.addr()).await;
    assert!(m["update_server_decisions_total{reason=\"rate_limited\"}"] >= 18.0);
    // Last seen still reaches the store, written behind.
    server.flush().await;
    let record = server.store.instance(APP, "m2").await.unwrap().unwrap();
    assert_eq!(
        record.last_seen,
        update_server::clock::millis(update_server::clock::Clock::now(server.clock.as_ref()))
    );

    // The hour is over: the next check may be granted, so it goes to the writer.
    server.clock.advance_secs(3600);
    let before = counts(&server).await;
    assert!(offered(&server, "m1", "1.0.0").await);
    let after = counts(&server).await;
    assert_eq!(after.writer - before.writer, 1.0);
    assert!(after.locks > before.locks);
    // And the window is full again: refused on the fast path.
    assert!(!offered(&server, "m2", "1.0.0").await);
    let last = counts(&server).await;
    assert_eq!(last.locks, after.locks);
    assert_eq!(last.fast - after.fast, 1.0);

    // A new rate limit is a new policy: the old facts say nothing about the window.
    let (status, _) = server
        .api(
            "PATCH",
            &format!("/_ah/api/update/v1/apps/{APP}/groups/stable"),
            Some(
                serde_json::json!({"appId": APP, "id": "stable", "label": "Stable",
                "channelId": "stable", "updatePooling": true, "updateCount": 5,
                "updateInterval": 3600}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    server.refresh_config().await;
    assert!(offered(&server, "m2", "1.0.0").await);
    server.stop().await;
}

async fn an_in_flight_refusal_lasts_at_most_a_second(server: TestServer) {
    server.move_channel("1.1.0").await;
    assert!(offered(&server, "a", "1.0.0").await);
    assert!(!offered(&server, "b", "1.0.0").await);
    // Fresh facts: refused without the lock.
    let before = counts(&server).await;
    assert!(!offered(&server, "b", "1.0.0").await);
    let after = counts(&server).await;
    assert_eq!(after.locks, before.locks);
    assert_eq!(after.fast - before.fast, 1.0);
    // Facts older than a second: a completion elsewhere may have freed the slot, so the
    // check goes to the writer (still refused: nothing completed).
    server.clock.advance_secs(2);
    assert!(!offered(&server, "b", "1.0.0").await);
    let later = counts(&server).await;
    assert_eq!(later.writer - after.writer, 1.0);
    // `a` completes (through the writer, which posts the freed slot): `b` is granted at
    // once.
    let done = omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        omaha_proto::request::Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(
        omaha_proto::request::App::new(APP, "1.1.0")
            .with_track("stable")
            .with_machine_id("a")
            .with_event(omaha_proto::request::Event::update_complete("1.0.0")),
    );
    server.omaha(&done).await;
    assert!(offered(&server, "b", "1.0.0").await);
    server.stop().await;
}

#[tokio::test]
async fn full_window_sqlite() {
    a_full_window_is_refused_without_the_lock(TestServer::start_sqlite(waiting_policy()).await)
        .await;
}

#[tokio::test]
async fn full_window_postgres() {
    if let Some(server) = TestServer::start_postgres(waiting_policy()).await {
        a_full_window_is_refused_without_the_lock(server).await;
    }
}

#[tokio::test]
async fn in_flight_sqlite() {
    an_in_flight_refusal_lasts_at_most_a_second(TestServer::start_sqlite(in_flight_policy()).await)
        .await;
}

#[tokio::test]
async fn in_flight_postgres() {
    if let Some(server) = TestServer::start_postgres(in_flight_policy()).await {
        an_in_flight_refusal_lasts_at_most_a_second(server).await;
    }
}
