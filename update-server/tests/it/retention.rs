//! Retention on a virtual clock: what is older than its setting goes, the rest stays.

use std::sync::Arc;
use update_server::clock::{Clock as _, ManualClock, millis};
use update_server::metrics::Metrics;
use update_server::retention::{Pruned, Retention, prune};
use update_server::store::{
    ActivityRecord, HistoryKind, HistoryRecord, RollupDelta, RollupKey, RollupKind, Store,
};

const APP: &str = crate::support::APP;
const DAY: i64 = 86_400_000;

fn entry(at: i64) -> HistoryRecord {
    HistoryRecord {
        app_id: APP.into(),
        machine_id: "m1".into(),
        at,
        group_id: "stable".into(),
        version: "1.0.0".into(),
        kind: HistoryKind::Event,
        event_type: Some(3),
        event_result: Some(2),
        error_code: None,
        target_version: None,
        install_source: "scheduler".into(),
        previous_version: None,
    }
}

/// Ages in days of the records the test writes.
const AGES: [i64; 7] = [0, 1, 3, 30, 100, 400, 800];

async fn fill(store: &dyn Store, now: i64) {
    let mut tx = store.begin().await.unwrap();
    tx.append_history(&AGES.map(|d| entry(now - d * DAY - 1)))
        .await
        .unwrap();
    tx.add_rollups(&AGES.map(|d| RollupDelta {
        key: RollupKey {
            app_id: APP.into(),
            group_id: "stable".into(),
            version: "1.0.0".into(),
            event: None,
        },
        at: now - d * DAY - 1,
        count: 1,
    }))
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for d in AGES {
        store
            .append_activity(&ActivityRecord {
                id: 0,
                at: now - d * DAY - 1,
                actor: "admin".into(),
                action: "group.update".into(),
                app_id: APP.into(),
                group_id: "stable".into(),
                detail: String::new(),
                changes: Vec::new(),
            })
            .await
            .unwrap();
    }
}

/// The ages (in whole days before `now`) of what is left of each kind: history oldest
/// first, rollups youngest first, the activity log newest first.
async fn left(store: &dyn Store, now: i64) -> [Vec<i64>; 5] {
    let age = |at: i64| (now - at) / DAY;
    let history = store
        .history(Some(APP), "m1", 100)
        .await
        .unwrap()
        .iter()
        .map(|h| age(h.at))
        .collect();
    let mut rollups = Vec::new();
    for resolution in [60, 3600, 86_400] {
        let mut ages: Vec<i64> = store
            .rollups(APP, "stable", RollupKind::Versions, resolution, 0, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|p| age(p.bucket * 1000 + 1))
            .collect();
        ages.sort_unstable();
        rollups.push(ages);
    }
    let activity = store
        .activity(None, 100, 0)
        .await
        .unwrap()
        .iter()
        .map(|a| age(a.at))
        .collect();
    let [minute, hour, day] = rollups.try_into().unwrap();
    [history, minute, hour, day, activity]
}

async fn check(store: Arc<dyn Store>) {
    let clock = ManualClock::new("2026-11-27T12:00:00Z".parse().unwrap());
    let now = millis(clock.now());
    fill(store.as_ref(), now).await;
    let metrics = Metrics::default();

    // Nothing is old enough yet for "keep forever"...
    let pruned = prune(
        store.as_ref(),
        &Retention::forever(),
        clock.now(),
        2,
        &metrics,
    )
    .await
    .unwrap();
    assert_eq!(pruned, Pruned::default());

    // ...and the defaults: history 90 days, minutes 2, hours 90, days 730, activity 365.
    let pruned = prune(
        store.as_ref(),
        &Retention::default(),
        clock.now(),
        2,
        &metrics,
    )
    .await
    .unwrap();
    assert_eq!(
        pruned,
        Pruned {
            history: 3,
            rollups: [5, 3, 1],
            activity: 2,
        }
    );
    let [history, minute, hour, day, activity] = left(store.as_ref(), now).await;
    assert_eq!(history, vec![30, 3, 1, 0]);
    assert_eq!(minute, vec![0, 1]);
    assert_eq!(hour, vec![0, 1, 3, 30]);
    assert_eq!(day, vec![0, 1, 3, 30, 100, 400]);
    assert_eq!(activity, vec![0, 1, 3, 30, 100]);

    // A month later on the virtual clock, the next pass takes what aged past its setting.
    clock.advance_secs(31 * 86_400);
    let pruned = prune(
        store.as_ref(),
        &Retention::default(),
        clock.now(),
        2,
        &metrics,
    )
    .await
    .unwrap();
    assert_eq!(
        pruned,
        Pruned {
            history: 0,
            rollups: [2, 0, 0],
            activity: 0,
        }
    );
    clock.advance_secs(30 * 86_400);
    let pruned = prune(
        store.as_ref(),
        &Retention::default(),
        clock.now(),
        2,
        &metrics,
    )
    .await
    .unwrap();
    assert_eq!(pruned.history, 1, "the 30-day-old entry is 91 days old now");
    assert_eq!(pruned.rollups[1], 1);
}

#[tokio::test]
async fn old_records_are_pruned_and_recent_ones_kept_on_sqlite() {
    let (_dir, store) = crate::support::sqlite().await;
    check(Arc::new(store)).await;
}

#[tokio::test]
async fn old_records_are_pruned_and_recent_ones_kept_on_postgres() {
    let Some((schema, store)) = crate::support::postgres().await else {
        return;
    };
    check(Arc::new(store)).await;
    schema.drop().await;
}

#[tokio::test]
async fn the_server_prunes_in_the_background_and_counts_it() {
    let (_dir, store) = crate::support::sqlite().await;
    let store: Arc<dyn Store> = Arc::new(store);
    let clock = Arc::new(ManualClock::new("2026-11-27T12:00:00Z".parse().unwrap()));
    let now = millis(clock.now());
    fill(store.as_ref(), now).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secret = update_server::auth::Secret::from_hex(&"5e".repeat(32)).unwrap();
    let running = update_server::Running::start_with(
        listener,
        store.clone(),
        clock.clone(),
        update_server::ServerOptions {
            retention: Retention {
                first_pass_after: std::time::Duration::ZERO,
                ..Retention::default()
            },
            ..update_server::ServerOptions::new("test", secret)
        },
    )
    .await
    .unwrap();
    // The activity log is pruned last in a pass: once it is, the pass is done (bounded wait).
    let started = std::time::Instant::now();
    while store.activity(None, 100, 0).await.unwrap().len() != 5 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no retention pass within 10 s of the start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let [history, minute, hour, day, activity] = left(store.as_ref(), now).await;
    assert_eq!(
        (
            history.len(),
            minute.len(),
            hour.len(),
            day.len(),
            activity.len()
        ),
        (4, 2, 4, 6, 5)
    );
    let metrics = crate::ops::scrape(&reqwest::Client::new(), running.addr()).await;
    for (table, rows) in [
        ("history", 3.0),
        ("rollups_60", 5.0),
        ("rollups_3600", 3.0),
        ("rollups_86400", 1.0),
        ("activity", 2.0),
    ] {
        let series = format!("update_server_retention_pruned_rows_total{{table=\"{table}\"}}");
        assert_eq!(metrics.get(&series), Some(&rows), "{series}");
    }
    running.stop().await.unwrap();
}
