//! Instance status as update_engine means it, through HTTP on both backends: a routine 3/2
//! is a check-in (it moves nothing and is counted apart from completions), an error stays
//! until the next attempt or a completion, failed instances wait for their retry delay, and
//! what an instance reports is applied in the order the requests arrived.

use crate::ops::scrape;
use crate::support::{APP, TestServer};
use omaha_proto::Request;
use omaha_proto::codes::UpdateCheckStatus;
use omaha_proto::request::{App, Event, Os};
use serde_json::{Value, json};
use update_server::policy::GroupPolicy;

const V1: &str = "/_ah/api/update/v1";

/// update_engine's request for one app of instance `machine` on `version` in `group`.
fn ue(machine: &str, version: &str, group: &str, f: impl FnOnce(App) -> App) -> Request {
    Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", &format!("{version}_x86_64")),
    )
    .with_app(f(App::new(&format!("{{{APP}}}"), version)
        .with_track(group)
        .with_machine_id(machine)))
}

/// A routine check: ping, update check and 3/2 with `previousversion=""`.
fn check(machine: &str, version: &str) -> Request {
    ue(machine, version, "stable", |a| {
        a.with_ping().with_update_check(None)
    })
}

/// An event report of its own (update_engine sends progress and failures so).
fn report(machine: &str, version: &str, event: Event) -> Request {
    ue(machine, version, "stable", |a| a.with_event(event))
}

/// The first check after an update: 3/2 naming the version it came from.
fn completed(machine: &str, version: &str, from: &str) -> Request {
    ue(machine, version, "stable", |a| {
        a.with_ping().with_update_check(Some(from))
    })
}

async fn offered(server: &TestServer, request: &Request) -> bool {
    let (_, response) = server.omaha(request).await;
    response.apps[0]
        .update_check
        .as_ref()
        .and_then(|u| u.status.clone())
        == Some(UpdateCheckStatus::Ok)
}

async fn instance(server: &TestServer, machine: &str) -> Value {
    let (status, list) = server
        .api(
            "GET",
            &format!("{V1}/instances?appId={APP}&idPrefix={machine}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["clientId"] == machine)
        .cloned()
        .unwrap_or_else(|| panic!("{machine} listed: {list}"))
}

async fn count(server: &TestServer, status: &str) -> i64 {
    let (_, n) = server
        .api(
            "GET",
            &format!("{V1}/clientupdatecount?appId={APP}&status={status}"),
            None,
        )
        .await;
    n["count"].as_i64().unwrap()
}

/// Sum of a graph's counts per (type, result) of the events series, or per version of the
/// others.
async fn graph(server: &TestServer, kind: &str) -> std::collections::BTreeMap<String, i64> {
    let (status, graph) = server
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/requests/{kind}/0/0?resolution=86400"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{graph}");
    let mut sums = std::collections::BTreeMap::new();
    for item in graph["items"].as_array().unwrap() {
        let key = if kind == "events" {
            format!(
                "{}/{}",
                item["type"].as_str().unwrap(),
                item["result"].as_str().unwrap()
            )
        } else {
            item["version"].as_str().unwrap().to_owned()
        };
        let n: i64 = item["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["count"].as_str().unwrap().parse::<i64>().unwrap())
            .sum();
        *sums.entry(key).or_default() += n;
    }
    sums
}

async fn metric(server: &TestServer, series: &str) -> f64 {
    let samples = scrape(&reqwest::Client::new(), server.addr()).await;
    parse_metrics_of(&samples, series)
}

fn parse_metrics_of(m: &std::collections::BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

// ----- check-ins, errors and completions -----

async fn check_ins_move_nothing_and_errors_stay(server: TestServer) {
    let metrics_before = scrape(&reqwest::Client::new(), server.addr()).await;
    // Three instances check in on the channel's version: check-ins, nothing completed.
    for m in ["a", "b", "c"] {
        assert!(!offered(&server, &check(m, "1.0.0")).await);
        assert!(!offered(&server, &check(m, "1.0.0")).await);
    }
    server.flush().await;
    assert_eq!(
        count(&server, "complete").await,
        0,
        "check-ins complete nothing"
    );
    assert_eq!(count(&server, "unknown").await, 3);

    // The channel moves on; `a` and `b` are granted the update.
    server.move_channel("1.1.0").await;
    assert!(offered(&server, &check("a", "1.0.0")).await);
    assert!(offered(&server, &check("b", "1.0.0")).await);
    // `a` fails with HTTP 503 as update_engine reports it (flag bit 28 set); `b` with the
    // rollback code.
    server
        .omaha(&report("a", "1.0.0", Event::error(268_437_959)))
        .await;
    server.omaha(&report("b", "1.0.0", Event::error(44))).await;
    // Their routine checks afterwards (3/2, previousversion="") leave them in error.
    for _ in 0..3 {
        assert!(!offered(&server, &check("a", "1.0.0")).await, "retry delay");
        assert!(!offered(&server, &check("b", "1.0.0")).await, "retry delay");
    }
    server.flush().await;
    assert_eq!(count(&server, "error").await, 2);
    let a = instance(&server, "a").await;
    assert_eq!(a["status"], "error", "{a}");
    assert_eq!(a["errorCode"], "268437959");
    assert_eq!(a["errorName"], "HTTP 503");
    assert_eq!(
        instance(&server, "b").await["errorName"],
        "rollback detected"
    );

    // An instance in error on the channel's version keeps its error through routine checks
    // answered on the fast path.
    server.move_channel("1.0.0").await;
    let fast_before = metric(&server, "update_server_update_checks_total{path=\"fast\"}").await;
    for _ in 0..3 {
        assert!(!offered(&server, &check("a", "1.0.0")).await);
    }
    server.flush().await;
    let fast_after = metric(&server, "update_server_update_checks_total{path=\"fast\"}").await;
    assert_eq!(
        fast_after - fast_before,
        3.0,
        "routine checks stay on the fast path"
    );
    assert_eq!(instance(&server, "a").await["status"], "error");

    // The next attempt ends the error (a new grant), a completion completes.
    server.move_channel("1.1.0").await;
    server.clock.advance_secs(3600);
    assert!(offered(&server, &check("a", "1.0.0")).await);
    assert_eq!(instance(&server, "a").await["status"], "granted");
    assert!(!offered(&server, &completed("a", "1.1.0", "1.0.0")).await);
    server.flush().await;
    let a = instance(&server, "a").await;
    assert_eq!(
        (a["status"].as_str(), a["version"].as_str()),
        (Some("complete"), Some("1.1.0"))
    );
    assert_eq!(count(&server, "complete").await, 1);
    // And its routine check-ins afterwards keep it complete, counted as check-ins.
    assert!(!offered(&server, &check("a", "1.1.0")).await);

    // The history keeps previousversion.
    let (_, history) = server
        .api("GET", &format!("{V1}/client/history?clientId=a"), None)
        .await;
    let items = history["items"].as_array().unwrap();
    let completion = items
        .iter()
        .find(|h| {
            h["eventType"] == "3" && h["eventResult"] == "2" && h["previousVersion"] == "1.0.0"
        })
        .unwrap_or_else(|| panic!("the completion with its previousversion: {history}"));
    assert_eq!(completion["version"], "1.1.0");
    let failure = items
        .iter()
        .find(|h| h["eventResult"] == "0")
        .expect("the failure");
    assert_eq!(failure["errorName"], "HTTP 503");

    // Graphs and metrics: exactly the two failures and the one completion; the check-ins
    // apart.
    server.flush().await;
    let events = graph(&server, "events").await;
    assert_eq!(events.get("3/0"), Some(&2), "{events:?}");
    assert_eq!(events.get("3/2"), Some(&1), "{events:?}");
    let check_ins = graph(&server, "checkins").await;
    // 6 + 2 + 6 + 3 + 1 (the new grant of `a`) on 1.0.0, 1 on 1.1.0; the completion is
    // not one.
    assert_eq!(check_ins.get("1.0.0"), Some(&18), "{check_ins:?}");
    assert_eq!(check_ins.get("1.1.0"), Some(&1), "{check_ins:?}");
    let after = scrape(&reqwest::Client::new(), server.addr()).await;
    let delta = |s: &str| parse_metrics_of(&after, s) - parse_metrics_of(&metrics_before, s);
    assert_eq!(
        delta("update_server_events_total{type=\"3\",result=\"2\"}"),
        1.0
    );
    assert_eq!(
        delta("update_server_events_total{type=\"3\",result=\"0\"}"),
        2.0
    );
    assert_eq!(delta("update_server_check_ins_total"), 19.0);
    assert_eq!(
        delta("update_server_decisions_total{reason=\"retrying_after_failure\"}"),
        6.0
    );
    server.stop().await;
}

#[tokio::test]
async fn check_ins_move_nothing_and_errors_stay_on_sqlite() {
    check_ins_move_nothing_and_errors_stay(TestServer::start_sqlite(GroupPolicy::default()).await)
        .await;
}

#[tokio::test]
async fn check_ins_move_nothing_and_errors_stay_on_postgres() {
    if let Some(server) = TestServer::start_postgres(GroupPolicy::default()).await {
        check_ins_move_nothing_and_errors_stay(server).await;
    }
}

// ----- the retry delay -----

async fn failed_instances_wait_for_their_retry_delay(server: TestServer) {
    server.move_channel("1.1.0").await;
    let (_, group) = server
        .api("GET", &format!("{V1}/apps/{APP}/groups/stable"), None)
        .await;
    assert_eq!(
        (
            group["retryDelay"].as_i64(),
            group["retryDelayMax"].as_i64()
        ),
        (Some(3600), Some(86_400))
    );

    assert!(offered(&server, &check("m", "1.0.0")).await);
    // The failure and the next check in one exchange: not offered again.
    let fail_and_check = ue("m", "1.0.0", "stable", |a| {
        a.with_event(Event::error(0x1000_0000 | 44))
            .with_update_check(None)
    });
    assert!(!offered(&server, &fail_and_check).await);
    let m = instance(&server, "m").await;
    assert_eq!(m["failures"], "1");
    assert_eq!(m["retryUntil"], "2026-11-27T09:00:00Z", "{m}");
    server.clock.advance_secs(3599);
    assert!(!offered(&server, &check("m", "1.0.0")).await);
    server.clock.advance_secs(1);
    assert!(
        offered(&server, &check("m", "1.0.0")).await,
        "after one hour"
    );
    // The second consecutive failure waits two hours.
    server.omaha(&report("m", "1.0.0", Event::error(10))).await;
    server.clock.advance_secs(7199);
    assert!(!offered(&server, &check("m", "1.0.0")).await);
    server.clock.advance_secs(1);
    assert!(
        offered(&server, &check("m", "1.0.0")).await,
        "after two hours"
    );

    // The operator clears it for one instance...
    server.omaha(&report("m", "1.0.0", Event::error(10))).await;
    assert!(!offered(&server, &check("m", "1.0.0")).await);
    let (status, cleared) = server
        .api(
            "DELETE",
            &format!("{V1}/apps/{APP}/groups/stable/retry?clientId=m"),
            None,
        )
        .await;
    assert_eq!((status, &cleared), (200, &json!({"cleared": "1"})));
    assert!(offered(&server, &check("m", "1.0.0")).await, "cleared");
    assert_eq!(instance(&server, "m").await["failures"], "0");
    // ...or for the whole group.
    assert!(offered(&server, &check("n", "1.0.0")).await);
    server.omaha(&report("m", "1.0.0", Event::error(10))).await;
    server.omaha(&report("n", "1.0.0", Event::error(10))).await;
    let (status, cleared) = server
        .api(
            "DELETE",
            &format!("{V1}/apps/{APP}/groups/stable/retry"),
            None,
        )
        .await;
    assert_eq!((status, &cleared), (200, &json!({"cleared": "2"})));
    assert!(offered(&server, &check("m", "1.0.0")).await);
    assert!(offered(&server, &check("n", "1.0.0")).await);
    let (_, activity) = server
        .api("GET", &format!("{V1}/activity?appId={APP}"), None)
        .await;
    let clears = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "group.retry.clear")
        .count();
    assert_eq!(clears, 2, "{activity}");
    // Unknown instances and groups are 404.
    let (status, _) = server
        .api(
            "DELETE",
            &format!("{V1}/apps/{APP}/groups/stable/retry?clientId=nobody"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = server
        .api(
            "DELETE",
            &format!("{V1}/apps/{APP}/groups/nope/retry"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The delay is the group's: off, a failed instance is offered the update again at once.
    let mut body = group.clone();
    body["retryDelay"] = json!(0);
    let (status, updated) = server
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/stable"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["retryDelay"], 0);
    server.omaha(&report("m", "1.0.0", Event::error(10))).await;
    assert!(offered(&server, &check("m", "1.0.0")).await, "no delay");
    // A maximum below the first delay is refused.
    body["retryDelay"] = json!(600);
    body["retryDelayMax"] = json!(60);
    let (status, _) = server
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/stable"),
            Some(body),
        )
        .await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn failed_instances_wait_for_their_retry_delay_on_sqlite() {
    failed_instances_wait_for_their_retry_delay(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn failed_instances_wait_for_their_retry_delay_on_postgres() {
    if let Some(server) = TestServer::start_postgres(GroupPolicy::default()).await {
        failed_instances_wait_for_their_retry_delay(server).await;
    }
}

// ----- newest wins -----

async fn the_newest_report_wins(server: TestServer) {
    // Known to the server (so its ping is answered on the fast path and written behind).
    assert!(!offered(&server, &check("m", "1.0.0")).await);
    server.flush().await;
    // A ping on 1.0.0, then, in the same millisecond (the clock does not move), a check on
    // 1.1.0 that the writer stores; then the write-behind flush.
    server
        .omaha(&ue("m", "1.0.0", "stable", App::with_ping))
        .await;
    assert!(!offered(&server, &check("m", "1.1.0")).await);
    server.flush().await;
    assert_eq!(instance(&server, "m").await["version"], "1.1.0");
    let (_, search) = server
        .api(
            "GET",
            &format!("{V1}/instances?appId={APP}&version=1.1.0"),
            None,
        )
        .await;
    assert_eq!(search["items"].as_array().unwrap().len(), 1, "{search}");

    // A check that names no group has a reason of its own, not `paused`.
    let before = scrape(&reqwest::Client::new(), server.addr()).await;
    for m in ["x", "x", "y"] {
        let request = ue(m, "1.0.0", "no-such-group", |a| {
            a.with_ping().with_update_check(None)
        });
        assert!(!offered(&server, &request).await);
    }
    let after = scrape(&reqwest::Client::new(), server.addr()).await;
    let delta = |s: &str| parse_metrics_of(&after, s) - parse_metrics_of(&before, s);
    assert_eq!(
        delta("update_server_decisions_total{reason=\"no_group\"}"),
        3.0
    );
    assert_eq!(
        delta("update_server_decisions_total{reason=\"paused\"}"),
        0.0
    );
    server.stop().await;
}

#[tokio::test]
async fn the_newest_report_wins_on_sqlite() {
    the_newest_report_wins(TestServer::start_sqlite(GroupPolicy::default()).await).await;
}

#[tokio::test]
async fn the_newest_report_wins_on_postgres() {
    if let Some(server) = TestServer::start_postgres(GroupPolicy::default()).await {
        the_newest_report_wins(server).await;
    }
}

// ----- the store: order keys and retry delays -----

fn record(machine: &str, version: &str, seq: i64) -> update_server::store::InstanceRecord {
    update_server::store::InstanceRecord {
        app_id: APP.into(),
        machine_id: machine.into(),
        group_id: "stable".into(),
        version: version.into(),
        oem: String::new(),
        status: "error".into(),
        last_event_type: Some(3),
        last_event_result: Some(0),
        last_error_code: Some(10),
        grant_version: None,
        granted_at: None,
        first_seen: 1,
        last_seen: seq,
        report_seq: seq,
        failures: 2,
        retry_until: Some(5_000),
        retry_version: Some("1.1.0".into()),
    }
}

fn sighting(machine: &str, version: &str, seq: i64) -> update_server::store::Sighting {
    update_server::store::Sighting {
        app_id: APP.into(),
        machine_id: machine.into(),
        group_id: "stable".into(),
        version: version.into(),
        oem: String::new(),
        at: seq,
        seq,
    }
}

async fn older_reports_never_overwrite_newer_ones(store: &dyn update_server::store::Store) {
    // The writer stores a report; a sighting of a later request lands; then a writer batch
    // holding an earlier request's report (read before the sighting landed) writes: the
    // report stays the later one, the writer's status and retry delay are written.
    let mut tx = store.begin().await.unwrap();
    tx.put_instances(&[record("m", "1.0.0", 100)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store
        .record_sightings(&[sighting("m", "1.2.0", 300)], &[])
        .await
        .unwrap();
    let mut older = record("m", "1.1.0", 200);
    older.status = "granted".into();
    let mut tx = store.begin().await.unwrap();
    tx.put_instances(&[older]).await.unwrap();
    tx.commit().await.unwrap();
    let m = store.instance(APP, "m").await.unwrap().unwrap();
    assert_eq!(
        (
            m.version.as_str(),
            m.report_seq,
            m.last_seen,
            m.status.as_str()
        ),
        ("1.2.0", 300, 300, "granted")
    );
    // A sighting of an earlier request is not applied; one of the same request neither
    // (keys are unique per request).
    store
        .record_sightings(
            &[sighting("m", "0.9.0", 250), sighting("n", "1.0.0", 1)],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        store.instance(APP, "m").await.unwrap().unwrap().version,
        "1.2.0"
    );

    // Retry delays are cleared per instance or per group, and counted.
    let mut tx = store.begin().await.unwrap();
    tx.put_instances(&[record("r1", "1.0.0", 1), record("r2", "1.0.0", 1)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .clear_retry_delay(APP, "stable", Some("r1"))
            .await
            .unwrap(),
        1
    );
    let r1 = store.instance(APP, "r1").await.unwrap().unwrap();
    assert_eq!(
        (r1.failures, r1.retry_until, r1.retry_version),
        (0, None, None)
    );
    assert_eq!(r1.status, "error", "the status is the instance's own");
    assert_eq!(
        store.clear_retry_delay(APP, "other", None).await.unwrap(),
        0
    );
    // `m` (failures 2) and `r2`; `n` has none.
    assert_eq!(
        store.clear_retry_delay(APP, "stable", None).await.unwrap(),
        2
    );
    assert_eq!(
        store.clear_retry_delay(APP, "stable", None).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn older_reports_never_overwrite_newer_ones_on_sqlite() {
    let (_dir, store) = crate::support::sqlite().await;
    older_reports_never_overwrite_newer_ones(&store).await;
}

#[tokio::test]
async fn older_reports_never_overwrite_newer_ones_on_postgres() {
    if let Some((schema, store)) = crate::support::postgres().await {
        older_reports_never_overwrite_newer_ones(&store).await;
        schema.drop().await;
    }
}
