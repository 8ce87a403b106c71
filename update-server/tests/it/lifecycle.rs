//! The timed-rollout lifecycle over HTTP, on SQLite and PostgreSQL: a rollout ends after its
//! last frame at that frame's percentage, deactivating keeps the percentage in force, pause
//! and unpause leave the stored percentage alone, an explicit percentage stops a running
//! rollout, and each transition is in the activity log (the end once, whoever records it).

use crate::support::{APP, TestServer, concurrent_checks};
use serde_json::{Value, json};
use update_server::clock::Clock as _;
use update_server::policy::GroupPolicy;

const V1: &str = "/_ah/api/update/v1";

fn group_path() -> String {
    format!("{V1}/apps/{APP}/groups/stable")
}

/// The frames `rollout create linear --frame-size=30 --duration=100` sends: 25, 50, 75
/// and 100 %, then 100 % for 0 s; the rollout ends 100 s after it starts.
fn linear_100s() -> Value {
    json!({"appId": APP, "groupId": "stable",
        "rollout": [{"duration": "30", "percent": 25}, {"duration": "30", "percent": 50},
                    {"duration": "30", "percent": 75}, {"duration": "10", "percent": 100},
                    {"percent": 100}]})
}

async fn group(s: &TestServer) -> Value {
    let (status, group) = s.api("GET", &group_path(), None).await;
    assert_eq!(status, 200, "{group}");
    group
}

async fn stored_percent(s: &TestServer) -> f64 {
    let config = s.store.load_config().await.unwrap();
    let record = config
        .groups
        .iter()
        .find(|g| g.app_id == APP && g.id == "stable")
        .expect("group stable");
    GroupPolicy::from_json(&record.policy)
        .unwrap()
        .update_percent
}

async fn actions(s: &TestServer) -> Vec<(String, String, String)> {
    let mut entries = s.store.activity(Some(APP), 1000, 0).await.unwrap();
    entries.sort_by_key(|e| e.id);
    entries
        .into_iter()
        .filter(|e| e.action.starts_with("rollout.") || e.action == "group.percent")
        .map(|e| (e.actor, e.action, e.detail))
        .collect()
}

async fn start_rollout(s: &TestServer) {
    let (status, body) = s
        .api(
            "POST",
            &format!("{}/rollout", group_path()),
            Some(linear_100s()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// How many of the fresh instances `m{ids}` on 1.0.0 are offered the update.
async fn offered(s: &TestServer, ids: std::ops::Range<usize>) -> usize {
    let url = format!("http://{}/v1/update/", s.addr());
    concurrent_checks(&reqwest::Client::new(), &[url], ids).await
}

async fn a_finished_rollout_stays_at_its_last_percent(s: TestServer) {
    s.move_channel("1.1.0").await;
    start_rollout(&s).await;
    s.clock.advance_secs(99);
    let g = group(&s).await;
    assert_eq!(
        (g["rolloutActive"].clone(), g["updatePercent"].as_f64()),
        (json!(true), Some(100.0))
    );
    // The last frame ended: every replica reports the end from the clock alone.
    s.clock.advance_secs(1);
    let g = group(&s).await;
    assert_eq!(
        g["rolloutActive"], false,
        "the rollout ended after its last frame"
    );
    assert_eq!(g["updatePercent"], 100.0, "at the last frame's percentage");
    let (_, active) = s
        .api("GET", &format!("{}/rollout/active", group_path()), None)
        .await;
    assert_eq!(active["active"], false);
    // Recorded once: by this pass or the background one (every second), whichever comes
    // first; a second pass finds nothing to do.
    assert!(s.finish_rollouts().await <= 1);
    assert_eq!(s.finish_rollouts().await, 0);
    assert_eq!(stored_percent(&s).await, 100.0);
    assert_eq!(offered(&s, 0..5).await, 5);

    // `group percent --update-percent=0` after the end holds: new instances get nothing.
    // (It was printed as a success while the finished rollout went on granting 100 %.)
    let (status, set) = s
        .api(
            "POST",
            &group_path(),
            Some(json!({"appId": APP, "id": "stable"})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["updatePercent"], 0.0);
    assert_eq!(set.get("rolloutStopped"), None, "no rollout was running");
    assert_eq!(offered(&s, 100..120).await, 0, "0 % means no update");
    let g = group(&s).await;
    assert_eq!(
        (g["rolloutActive"].clone(), g["updatePercent"].as_f64()),
        (json!(false), Some(0.0))
    );

    let log = actions(&s).await;
    let finished: Vec<_> = log.iter().filter(|e| e.1 == "rollout.finish").collect();
    assert_eq!(finished.len(), 1, "{log:?}");
    assert_eq!(finished[0].0, "system");
    assert!(
        finished[0].2.contains("stays at 100 %"),
        "{}",
        finished[0].2
    );
    assert_eq!(
        log.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        ["rollout.set", "rollout.finish", "group.percent"]
    );
    s.stop().await;
}

#[tokio::test]
async fn a_finished_rollout_stays_at_its_last_percent_on_sqlite() {
    a_finished_rollout_stays_at_its_last_percent(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn a_finished_rollout_stays_at_its_last_percent_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        a_finished_rollout_stays_at_its_last_percent(s).await;
    }
}

async fn the_end_is_recorded_once_by_competing_replicas(s: TestServer) {
    start_rollout(&s).await;
    let config = s.store.load_config().await.unwrap();
    let record = config
        .groups
        .into_iter()
        .find(|g| g.id == "stable")
        .unwrap();
    // Two replicas noticing the end at once (at a later time than the server's clock, so
    // its own background pass does not see the end yet).
    let now = s.clock.now() + jiff::SignedDuration::from_secs(500);
    let (a, b) = tokio::join!(
        update_server::lifecycle::finish_rollout(s.store.as_ref(), &record, now),
        update_server::lifecycle::finish_rollout(s.store.as_ref(), &record, now),
    );
    assert_eq!(
        usize::from(a.unwrap().is_some()) + usize::from(b.unwrap().is_some()),
        1,
        "exactly one replica records the end"
    );
    s.clock.advance_secs(500);
    s.refresh_config().await;
    let (status, _) = s
        .api(
            "POST",
            &format!("{}/rollout/active", group_path()),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.finish_rollouts().await, 0);
    assert_eq!(group(&s).await["updatePercent"], 100.0);
    let log = actions(&s).await;
    assert_eq!(
        log.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        ["rollout.set", "rollout.finish", "rollout.deactivate"],
        "{log:?}"
    );
    assert_eq!(log[2].2, "was not running");
    s.stop().await;
}

#[tokio::test]
async fn the_end_is_recorded_once_by_competing_replicas_on_sqlite() {
    the_end_is_recorded_once_by_competing_replicas(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn the_end_is_recorded_once_by_competing_replicas_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        the_end_is_recorded_once_by_competing_replicas(s).await;
    }
}

/// The real v2.1 client's `group pause` / `group unpause`: GET the group, then PATCH the
/// whole object back with `updatesPaused` changed (false and 0 omitted).
async fn client_pause(s: &TestServer, paused: bool) -> Value {
    let mut g = group(s).await;
    let body = json!({
        "appId": g["appId"], "channelId": g["channelId"], "id": g["id"], "label": g["label"],
        "updatePercent": g["updatePercent"], "rolloutActive": g["rolloutActive"],
    });
    let mut body = body.as_object().unwrap().clone();
    if paused {
        body.insert("updatesPaused".into(), json!(true));
    }
    body.retain(|_, v| v != &json!(false) && v != &json!(0.0) && v != &json!(""));
    let (status, answer) = s
        .api("PATCH", &group_path(), Some(Value::Object(body)))
        .await;
    assert_eq!(status, 200, "{answer}");
    g = answer;
    g
}

async fn deactivating_and_pausing_keep_the_percent(s: TestServer) {
    // The group's own percentage before the rollout: 10.
    let (status, _) = s
        .api(
            "POST",
            &group_path(),
            Some(json!({"appId": APP, "id": "stable", "updatePercent": 10})),
        )
        .await;
    assert_eq!(status, 200);
    start_rollout(&s).await;
    // A pause and an unpause at 25 % send 25 back: the stored 10 stays (was overwritten).
    let paused = client_pause(&s, true).await;
    assert_eq!(
        (
            paused["updatesPaused"].clone(),
            paused["updatePercent"].as_f64(),
            paused["rolloutActive"].clone()
        ),
        (json!(true), Some(25.0), json!(true))
    );
    assert_eq!(
        stored_percent(&s).await,
        10.0,
        "a pause leaves the stored percent"
    );
    s.clock.advance_secs(45);
    let unpaused = client_pause(&s, false).await;
    assert_eq!(
        (
            unpaused["updatesPaused"].clone(),
            unpaused["updatePercent"].as_f64(),
            unpaused["rolloutActive"].clone()
        ),
        (json!(false), Some(50.0), json!(true))
    );
    assert_eq!(
        stored_percent(&s).await,
        10.0,
        "an unpause leaves the stored percent"
    );

    // Deactivating at 50 % keeps 50 % (it jumped to the stored percent: 25 to 100, 25 to
    // 10, 100 to 0 were seen).
    let (status, active) = s
        .api(
            "POST",
            &format!("{}/rollout/active", group_path()),
            Some(json!({})),
        )
        .await;
    assert_eq!((status, active["active"].clone()), (200, json!(false)));
    let g = group(&s).await;
    assert_eq!(
        (g["rolloutActive"].clone(), g["updatePercent"].as_f64()),
        (json!(false), Some(50.0))
    );
    assert_eq!(stored_percent(&s).await, 50.0);
    // Nothing moves afterwards.
    s.clock.advance_secs(1000);
    assert_eq!(group(&s).await["updatePercent"], 50.0);
    assert_eq!(s.finish_rollouts().await, 0);

    // Activating again walks the frames from the start.
    let (_, active) = s
        .api(
            "POST",
            &format!("{}/rollout/active", group_path()),
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(active["active"], true);
    assert_eq!(group(&s).await["updatePercent"], 25.0);

    // An explicit percentage during a running rollout stops it, and says so.
    s.clock.advance_secs(65);
    let (status, set) = s
        .api(
            "POST",
            &group_path(),
            Some(json!({"appId": APP, "id": "stable", "updatePercent": 5})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        (set["updatePercent"].as_f64(), set["rolloutStopped"].clone()),
        (Some(5.0), json!(true))
    );
    let g = group(&s).await;
    assert_eq!(
        (g["rolloutActive"].clone(), g["updatePercent"].as_f64()),
        (json!(false), Some(5.0))
    );
    s.clock.advance_secs(1000);
    assert_eq!(
        group(&s).await["updatePercent"],
        5.0,
        "the frames no longer move it"
    );

    let log = actions(&s).await;
    let details: Vec<(&str, &str)> = log.iter().map(|e| (e.1.as_str(), e.2.as_str())).collect();
    assert_eq!(details[0], ("group.percent", "percent set to 10"));
    assert!(
        details[1].0 == "rollout.set" && details[1].1.starts_with("5 frames, started; ends at "),
        "{details:?}"
    );
    assert_eq!(
        details[2],
        ("rollout.deactivate", "stopped; the group stays at 50 %")
    );
    assert!(
        details[3].0 == "rollout.activate" && details[3].1.starts_with("started; ends at "),
        "{details:?}"
    );
    assert_eq!(
        details[4],
        (
            "group.percent",
            "percent set to 5; this stopped the timed rollout (it was at 75 %)"
        )
    );
    assert_eq!(details.len(), 5, "{details:?}");
    s.stop().await;
}

#[tokio::test]
async fn deactivating_and_pausing_keep_the_percent_on_sqlite() {
    deactivating_and_pausing_keep_the_percent(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn deactivating_and_pausing_keep_the_percent_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        deactivating_and_pausing_keep_the_percent(s).await;
    }
}
