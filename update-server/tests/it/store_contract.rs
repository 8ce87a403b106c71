//! The store contract: one suite of behaviours every `Store` backend must show, run against
//! SQLite and PostgreSQL alike.

use std::sync::Arc;
use update_server::store::{
    AppRecord, ChannelRecord, FailureFilter, GrantRecord, GroupRecord, HistoryKind, HistoryRecord,
    InstanceFilter, InstanceRecord, PackageRecord, RollupDelta, RollupKey, RollupKind, RollupPoint,
    Sighting, Store, StoreError, VersionCount,
};

/// Instantiates each contract check for both backends.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let (_dir, store) = crate::support::sqlite().await;
                    super::$name(Arc::new(store)).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let Some((schema, store)) = crate::support::postgres().await else {
                        return;
                    };
                    super::$name(Arc::new(store)).await;
                    schema.drop().await;
                }
            )*
        }
    };
}

mod contract {
    use super::*;
    contract!(
        apps_round_trip_and_bump_the_generation,
        duplicate_and_missing_records_are_typed_errors,
        channels_groups_and_packages_are_replaced_by_key,
        deleting_an_app_removes_what_belongs_to_it,
        sightings_create_and_refresh_instances,
        a_sighting_batch_mixes_refreshes_changes_and_new_instances,
        write_transactions_commit_or_roll_back,
        instances_are_read_and_written_by_the_batch,
        group_state_read_modify_write_is_atomic,
        grants_are_kept_per_group_and_go_with_it,
        history_is_ordered_and_limited,
        rollups_count_per_bucket_and_resolution,
        the_census_keeps_the_last_count_of_each_bucket,
        instance_queries_filter_count_and_page,
        pruning_deletes_only_older_rows_a_batch_at_a_time,
        failures_totals_and_last_grants_come_from_history_and_rollups,
        activity_changes_round_trip,
        the_webhook_outbox_enqueues_once_and_leases,
    );
}

const APP: &str = "e96281a6-d1af-4bde-9a0a-97b76e56dc57";

fn app(id: &str) -> AppRecord {
    AppRecord {
        id: id.into(),
        label: "Flatcar".into(),
        description: "the OS".into(),
        hash_sha256: "hex".into(),
        created_at: 1_000,
    }
}

fn channel(name: &str, version: &str) -> ChannelRecord {
    ChannelRecord {
        app_id: APP.into(),
        name: name.into(),
        version: version.into(),
        publish: true,
        upstream: String::new(),
        created_at: 2_000,
    }
}

fn group(id: &str, channel: &str) -> GroupRecord {
    GroupRecord {
        app_id: APP.into(),
        id: id.into(),
        label: id.to_uppercase(),
        channel: channel.into(),
        policy: r#"{"paused":false}"#.into(),
        created_at: 3_000,
    }
}

fn package(version: &str) -> PackageRecord {
    PackageRecord {
        app_id: APP.into(),
        version: version.into(),
        url: format!("https://example.test/{version}/update.gz"),
        size: 5_000_000_000,
        sha1: "qvTGHdzF6KLavt4PO0gs2a6pQ00=".into(),
        sha256: "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=".into(),
        metadata_size: "1024".into(),
        metadata_signature_rsa: "c2ln".into(),
        signature: String::new(),
        release_notes: "notes".into(),
        required: false,
        created_at: 4_000,
    }
}

fn sighting(machine: &str, version: &str, at: i64) -> Sighting {
    Sighting {
        app_id: APP.into(),
        machine_id: machine.into(),
        group_id: "stable".into(),
        version: version.into(),
        oem: "ami".into(),
        at,
        seq: at,
    }
}

fn event(machine: &str, at: i64, t: i64, r: i64) -> HistoryRecord {
    HistoryRecord {
        app_id: APP.into(),
        machine_id: machine.into(),
        at,
        group_id: "stable".into(),
        version: "1.0.0".into(),
        kind: HistoryKind::Event,
        event_type: Some(t),
        event_result: Some(r),
        error_code: (r == 0).then_some(2000),
        target_version: None,
        install_source: "scheduler".into(),
        previous_version: None,
    }
}

async fn apps_round_trip_and_bump_the_generation(store: Arc<dyn Store>) {
    let g0 = store.config_generation().await.unwrap();
    store.create_app(&app(APP)).await.unwrap();
    let g1 = store.config_generation().await.unwrap();
    assert!(g1 > g0, "creating an app bumps the generation");

    let mut changed = app(APP);
    changed.label = "renamed".into();
    store.update_app(&changed).await.unwrap();
    let config = store.load_config().await.unwrap();
    assert_eq!(config.apps, vec![changed]);
    assert!(config.generation > g1);
}

async fn duplicate_and_missing_records_are_typed_errors(store: Arc<dyn Store>) {
    store.create_app(&app(APP)).await.unwrap();
    assert!(matches!(
        store.create_app(&app(APP)).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store.update_app(&app("nope")).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.delete_channel(APP, "nope").await,
        Err(StoreError::NotFound { .. })
    ));
    let mut orphan = channel("stable", "1.0.0");
    orphan.app_id = "no-such-app".into();
    assert!(matches!(
        store.put_channel(&orphan).await,
        Err(StoreError::MissingReference { .. })
    ));
    store
        .create_group(&group("stable", "stable"))
        .await
        .unwrap();
    assert!(matches!(
        store.create_group(&group("stable", "beta")).await,
        Err(StoreError::Conflict { .. })
    ));
    let generation = store.config_generation().await.unwrap();
    assert!(store.delete_group(APP, "nope").await.is_err());
    assert_eq!(
        store.config_generation().await.unwrap(),
        generation,
        "a failed write does not bump the generation"
    );
}

async fn channels_groups_and_packages_are_replaced_by_key(store: Arc<dyn Store>) {
    store.create_app(&app(APP)).await.unwrap();
    store.put_package(&package("1.0.0")).await.unwrap();
    store.put_package(&package("1.1.0")).await.unwrap();
    store
        .put_channel(&channel("stable", "1.0.0"))
        .await
        .unwrap();
    store
        .put_channel(&channel("stable", "1.1.0"))
        .await
        .unwrap();
    store.create_group(&group("prod", "stable")).await.unwrap();
    let mut moved = group("prod", "beta");
    moved.policy = r#"{"paused":true}"#.into();
    store.update_group(&moved).await.unwrap();

    let config = store.load_config().await.unwrap();
    assert_eq!(config.channels.len(), 1);
    assert_eq!(config.channels[0].version, "1.1.0");
    assert_eq!(config.channels[0].created_at, 2_000);
    assert_eq!(config.groups, vec![moved]);
    assert_eq!(config.packages, vec![package("1.0.0"), package("1.1.0")]);
    assert_eq!(
        config.packages[0].size, 5_000_000_000,
        "sizes above 4 GiB survive"
    );

    store.delete_package(APP, "1.0.0").await.unwrap();
    assert_eq!(store.load_config().await.unwrap().packages.len(), 1);
}

async fn deleting_an_app_removes_what_belongs_to_it(store: Arc<dyn Store>) {
    store.create_app(&app(APP)).await.unwrap();
    store.create_app(&app("other")).await.unwrap();
    store.put_package(&package("1.0.0")).await.unwrap();
    store
        .put_channel(&channel("stable", "1.0.0"))
        .await
        .unwrap();
    store
        .create_group(&group("stable", "stable"))
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.lock_groups(&[(APP.into(), "stable".into())])
        .await
        .unwrap();
    tx.put_group_state(APP, "stable", b"state").await.unwrap();
    tx.commit().await.unwrap();

    store.delete_app(APP).await.unwrap();
    let config = store.load_config().await.unwrap();
    assert_eq!(config.apps, vec![app("other")]);
    assert!(config.channels.is_empty() && config.groups.is_empty());
    assert!(config.packages.is_empty());
    let mut tx = store.begin().await.unwrap();
    let states = tx
        .lock_groups(&[(APP.into(), "stable".into())])
        .await
        .unwrap();
    assert_eq!(states, vec![None], "the group's rollout state went with it");
}

async fn sightings_create_and_refresh_instances(store: Arc<dyn Store>) {
    store
        .record_sightings(
            &[
                sighting("m1", "1.0.0", 10_000),
                sighting("m2", "1.0.0", 11_000),
                // The same instance twice in one batch: the later one wins.
                sighting("m1", "1.0.1", 12_000),
            ],
            &[],
        )
        .await
        .unwrap();
    let m1 = store.instance(APP, "m1").await.unwrap().expect("m1 exists");
    assert_eq!(
        (m1.version.as_str(), m1.status.as_str()),
        ("1.0.1", "unknown")
    );
    assert_eq!((m1.first_seen, m1.last_seen), (12_000, 12_000));

    // A later batch refreshes; an older sighting arriving late does not roll back.
    store
        .record_sightings(&[sighting("m1", "1.1.0", 20_000)], &[])
        .await
        .unwrap();
    store
        .record_sightings(&[sighting("m1", "0.9.0", 15_000)], &[])
        .await
        .unwrap();
    let m1 = store.instance(APP, "m1").await.unwrap().unwrap();
    assert_eq!((m1.version.as_str(), m1.last_seen), ("1.1.0", 20_000));
    assert_eq!(m1.first_seen, 12_000);
    assert!(store.instance(APP, "m3").await.unwrap().is_none());
}

/// One batch holding instances that report what their row holds (only "last seen" is
/// written), instances that moved group, version or OEM, a new instance, and a late
/// sighting: each row ends as its newest report says, and the kept counts follow.
async fn a_sighting_batch_mixes_refreshes_changes_and_new_instances(store: Arc<dyn Store>) {
    let first: Vec<Sighting> = (0..4)
        .map(|i| sighting(&format!("m{i}"), "1.0.0", 1_000 + i))
        .collect();
    store.record_sightings(&first, &[]).await.unwrap();

    let mut moved_group = sighting("m1", "1.0.0", 2_001);
    moved_group.group_id = "beta".into();
    let mut moved_oem = sighting("m2", "1.0.0", 2_002);
    moved_oem.oem = "azure".into();
    let batch = vec![
        sighting("m0", "1.0.0", 2_000),
        moved_group,
        moved_oem,
        sighting("m3", "1.1.0", 2_003),
        sighting("m4", "1.0.0", 2_004),
    ];
    store.record_sightings(&batch, &[]).await.unwrap();
    // A sighting of an earlier request, arriving after: it reports what the row holds,
    // and still must not move "last seen" back.
    store
        .record_sightings(&[sighting("m0", "1.0.0", 1_500)], &[])
        .await
        .unwrap();

    let mut rows = Vec::new();
    for i in 0..5 {
        let m = store
            .instance(APP, &format!("m{i}"))
            .await
            .unwrap()
            .expect("stored");
        rows.push((
            m.machine_id,
            m.group_id,
            m.version,
            m.oem,
            m.first_seen,
            m.last_seen,
        ));
    }
    let row = |m: &str, g: &str, v: &str, o: &str, first: i64, last: i64| {
        (
            m.to_string(),
            g.to_string(),
            v.to_string(),
            o.to_string(),
            first,
            last,
        )
    };
    assert_eq!(
        rows,
        vec![
            row("m0", "stable", "1.0.0", "ami", 1_000, 2_000),
            row("m1", "beta", "1.0.0", "ami", 1_001, 2_001),
            row("m2", "stable", "1.0.0", "azure", 1_002, 2_002),
            row("m3", "stable", "1.1.0", "ami", 1_003, 2_003),
            row("m4", "stable", "1.0.0", "ami", 2_004, 2_004),
        ]
    );
    let all = InstanceFilter {
        app_id: Some(APP.into()),
        ..Default::default()
    };
    let counts: Vec<(String, String, i64)> = store
        .version_counts(&all)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.group_id, c.version, c.count))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("beta".into(), "1.0.0".into(), 1),
            ("stable".into(), "1.0.0".into(), 3),
            ("stable".into(), "1.1.0".into(), 1),
        ]
    );
}

async fn instances_are_read_and_written_by_the_batch(store: Arc<dyn Store>) {
    let record = |machine: &str, status: &str, seen: i64| InstanceRecord {
        app_id: APP.into(),
        machine_id: machine.into(),
        group_id: "stable".into(),
        version: "1.0.0".into(),
        oem: "oem".into(),
        status: status.into(),
        last_event_type: Some(3),
        last_event_result: Some(2),
        last_error_code: None,
        grant_version: None,
        granted_at: None,
        first_seen: 1,
        last_seen: seen,
        report_seq: seen,
        failures: 0,
        retry_until: None,
        retry_version: None,
    };
    // More than one statement's worth, so the chunking is exercised.
    let many: Vec<InstanceRecord> = (0..700)
        .map(|i| record(&format!("m{i:03}"), "unknown", 10))
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.put_instances(&many).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    // One replaced in the same transaction before it is read back.
    tx.put_instances(&[record("m001", "complete", 20)])
        .await
        .unwrap();
    let mut keys: Vec<(String, String)> = (0..700)
        .step_by(7)
        .map(|i| (APP.to_owned(), format!("m{i:03}")))
        .collect();
    keys.push((APP.to_owned(), "m001".to_owned()));
    keys.push((APP.to_owned(), "nobody".to_owned()));
    keys.push(("other-app".to_owned(), "m000".to_owned()));
    let mut found = tx.instances_by_key(&keys).await.unwrap();
    tx.commit().await.unwrap();
    found.sort_by(|a, b| a.machine_id.cmp(&b.machine_id));
    assert_eq!(
        found.len(),
        101,
        "100 of every 7th, m001, none missing or foreign"
    );
    assert_eq!(found[0], record("m000", "unknown", 10));
    assert_eq!(found[1], record("m001", "complete", 20));
    assert_eq!(
        store
            .count_instances(&InstanceFilter::default())
            .await
            .unwrap(),
        700
    );
}

async fn write_transactions_commit_or_roll_back(store: Arc<dyn Store>) {
    let instance = InstanceRecord {
        app_id: APP.into(),
        machine_id: "m1".into(),
        group_id: "stable".into(),
        version: "1.0.0".into(),
        oem: String::new(),
        status: "downloading".into(),
        last_event_type: Some(13),
        last_event_result: Some(1),
        last_error_code: None,
        grant_version: Some("1.1.0".into()),
        granted_at: Some(1),
        first_seen: 1,
        last_seen: 2,
        report_seq: 2,
        failures: 0,
        retry_until: None,
        retry_version: None,
    };
    {
        let mut tx = store.begin().await.unwrap();
        tx.put_instance(&instance).await.unwrap();
        tx.append_history(&[event("m1", 2, 13, 1)]).await.unwrap();
        assert_eq!(
            tx.instance(APP, "m1").await.unwrap().as_ref(),
            Some(&instance)
        );
        // Dropped without commit.
    }
    assert!(store.instance(APP, "m1").await.unwrap().is_none());
    assert!(store.history(Some(APP), "m1", 10).await.unwrap().is_empty());

    let mut tx = store.begin().await.unwrap();
    tx.put_instance(&instance).await.unwrap();
    tx.append_history(&[event("m1", 2, 13, 1)]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.instance(APP, "m1").await.unwrap(),
        Some(instance.clone())
    );

    // The mirror of a grant is cleared only while it names the released version.
    let mut tx = store.begin().await.unwrap();
    tx.clear_instance_grant(APP, "m1", "9.9.9").await.unwrap();
    assert_eq!(
        tx.instance(APP, "m1")
            .await
            .unwrap()
            .unwrap()
            .grant_version
            .as_deref(),
        Some("1.1.0")
    );
    tx.clear_instance_grant(APP, "m1", "1.1.0").await.unwrap();
    let cleared = tx.instance(APP, "m1").await.unwrap().unwrap();
    assert_eq!((cleared.grant_version, cleared.granted_at), (None, None));
    tx.commit().await.unwrap();

    let mut failed = instance.clone();
    failed.status = "error".into();
    failed.last_event_type = Some(3);
    failed.last_event_result = Some(0);
    failed.last_error_code = Some(0x1000_0000 | 2000);
    failed.grant_version = None;
    failed.granted_at = None;
    let mut tx = store.begin().await.unwrap();
    tx.put_instance(&failed).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.instance(APP, "m1").await.unwrap(), Some(failed));
}

async fn group_state_read_modify_write_is_atomic(store: Arc<dyn Store>) {
    let key = (APP.to_string(), "stable".to_string());
    let other = (APP.to_string(), "beta".to_string());
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.lock_groups(&[key.clone(), other.clone()]).await.unwrap(),
        vec![None, None]
    );
    tx.commit().await.unwrap();

    // Eight tasks each increment a counter kept in the state, ten times, each time in its
    // own transaction: without the lock, increments would be lost.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let key = key.clone();
            let other = other.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    let mut tx = store.begin().await.unwrap();
                    // Both orders of the same two groups: the store must not deadlock.
                    let states = tx.lock_groups(&[other.clone(), key.clone()]).await.unwrap();
                    let current = states[1]
                        .as_ref()
                        .map(|s| u64::from_le_bytes(s.state[..8].try_into().unwrap()))
                        .unwrap_or(0);
                    tokio::task::yield_now().await;
                    tx.put_group_state(&key.0, &key.1, &(current + 1).to_le_bytes())
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut tx = store.begin().await.unwrap();
    let states = tx.lock_groups(std::slice::from_ref(&key)).await.unwrap();
    let state = states[0].as_ref().expect("state written");
    assert_eq!(u64::from_le_bytes(state.state[..8].try_into().unwrap()), 80);
    assert_eq!(state.revision, 80);
}

async fn grants_are_kept_per_group_and_go_with_it(store: Arc<dyn Store>) {
    let grant = |group: &str, machine: &str, expires_at: Option<i64>| GrantRecord {
        app_id: APP.into(),
        group_id: group.into(),
        machine_id: machine.into(),
        version: "1.1.0".into(),
        granted_at: 10,
        expires_at,
        scheduled: expires_at.is_some(),
    };
    store.create_app(&app(APP)).await.unwrap();
    store
        .create_group(&group("stable", "stable"))
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.lock_groups(&[(APP.into(), "stable".into())])
        .await
        .unwrap();
    tx.put_grant(&grant("stable", "m2", Some(100)))
        .await
        .unwrap();
    tx.put_grant(&grant("stable", "m1", None)).await.unwrap();
    tx.put_grant(&grant("beta", "m3", None)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.grants(APP, "stable").await.unwrap(),
        vec![
            grant("stable", "m1", None),
            grant("stable", "m2", Some(100))
        ]
    );
    // Replacing by key, deleting, and deleting what is not there.
    let mut renewed = grant("stable", "m1", Some(500));
    renewed.version = "1.2.0".into();
    tx.put_grant(&renewed).await.unwrap();
    tx.delete_grant(APP, "stable", "m2").await.unwrap();
    tx.delete_grant(APP, "stable", "m9").await.unwrap();
    assert_eq!(tx.grants(APP, "stable").await.unwrap(), vec![renewed]);
    tx.commit().await.unwrap();

    store.delete_group(APP, "stable").await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.grants(APP, "stable").await.unwrap().is_empty());
    assert_eq!(tx.grants(APP, "beta").await.unwrap().len(), 1);
}

async fn history_is_ordered_and_limited(store: Arc<dyn Store>) {
    let mut tx = store.begin().await.unwrap();
    let mut grant = event("m1", 100, 0, 0);
    grant.kind = HistoryKind::Grant;
    grant.event_type = None;
    grant.event_result = None;
    grant.error_code = None;
    grant.target_version = Some("1.1.0".into());
    grant.install_source = "ondemandupdate".into();
    tx.append_history(&[
        grant.clone(),
        event("m1", 200, 13, 1),
        event("m1", 300, 14, 1),
        event("m1", 400, 3, 0),
        event("m2", 150, 13, 1),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let all = store.history(Some(APP), "m1", 100).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], grant);
    assert_eq!(all[3].error_code, Some(2000));
    let newest_two = store.history(None, "m1", 2).await.unwrap();
    let times: Vec<i64> = newest_two.iter().map(|h| h.at).collect();
    assert_eq!(times, vec![300, 400], "the newest entries, oldest first");
}

async fn rollups_count_per_bucket_and_resolution(store: Arc<dyn Store>) {
    let key = |version: &str, event: Option<(i64, i64)>| RollupKey {
        app_id: APP.into(),
        group_id: "stable".into(),
        version: version.into(),
        event,
    };
    // 10:00:30, 10:00:45 and 10:01:10 on day 0.
    let t = |secs: i64| (36_000 + secs) * 1000;
    store
        .record_sightings(
            &[],
            &[
                RollupDelta {
                    key: key("1.0.0", None),
                    at: t(30),
                    count: 1,
                },
                RollupDelta {
                    key: key("1.0.0", None),
                    at: t(45),
                    count: 2,
                },
                RollupDelta {
                    key: key("1.1.0", None),
                    at: t(70),
                    count: 1,
                },
                RollupDelta {
                    key: key("1.0.0", Some((3, 2))),
                    at: t(30),
                    count: 1,
                },
            ],
        )
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.add_rollups(&[RollupDelta {
        key: key("1.0.0", None),
        at: t(50),
        count: 4,
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let minutes = store
        .rollups(APP, "stable", RollupKind::Versions, 60, 0, i64::MAX)
        .await
        .unwrap();
    let series: Vec<(&str, i64, i64)> = minutes
        .iter()
        .map(|p| (p.version.as_str(), p.bucket, p.count))
        .collect();
    assert_eq!(series, vec![("1.0.0", 36_000, 7), ("1.1.0", 36_060, 1)]);

    let hours = store
        .rollups(APP, "stable", RollupKind::Versions, 3600, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(hours.iter().map(|p| p.count).sum::<i64>(), 8);
    assert!(hours.iter().all(|p| p.bucket == 36_000));

    let events = store
        .rollups(APP, "stable", RollupKind::Events, 86_400, 0, 0)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, Some((3, 2)));
    assert_eq!((events[0].bucket, events[0].count), (0, 1));

    let outside = store
        .rollups(APP, "stable", RollupKind::Versions, 60, 36_061, i64::MAX)
        .await
        .unwrap();
    assert!(outside.is_empty(), "the range bounds bucket starts");
}

async fn the_census_keeps_the_last_count_of_each_bucket(store: Arc<dyn Store>) {
    let count = |version: &str, n: i64| VersionCount {
        app_id: APP.into(),
        group_id: "stable".into(),
        version: version.into(),
        count: n,
    };
    // Request counters of the same group must not mix with the census.
    store
        .record_sightings(
            &[],
            &[RollupDelta {
                key: RollupKey {
                    app_id: APP.into(),
                    group_id: "stable".into(),
                    version: "1.0.0".into(),
                    event: None,
                },
                at: 36_010_000,
                count: 99,
            }],
        )
        .await
        .unwrap();
    // Two censuses in the minute starting at 36_000, one in the next.
    store
        .record_census(36_010, &[count("1.0.0", 10)])
        .await
        .unwrap();
    store
        .record_census(36_050, &[count("1.0.0", 8), count("1.1.0", 2)])
        .await
        .unwrap();
    store
        .record_census(36_070, &[count("1.1.0", 10)])
        .await
        .unwrap();
    let series = |points: Vec<RollupPoint>| -> Vec<(String, i64, i64)> {
        points
            .into_iter()
            .map(|p| (p.version, p.bucket, p.count))
            .collect()
    };
    let minutes = store
        .rollups(APP, "stable", RollupKind::Instances, 60, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(
        series(minutes),
        vec![
            ("1.0.0".to_owned(), 36_000, 8),
            ("1.1.0".to_owned(), 36_000, 2),
            ("1.1.0".to_owned(), 36_060, 10),
        ],
        "the last census of a bucket replaces the earlier one, and a version gone drops out"
    );
    let hours = store
        .rollups(APP, "stable", RollupKind::Instances, 3600, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(series(hours), vec![("1.1.0".to_owned(), 36_000, 10)]);
    let requests = store
        .rollups(APP, "stable", RollupKind::Versions, 60, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(series(requests), vec![("1.0.0".to_owned(), 36_000, 99)]);
    // The census is pruned with the rollups of its resolution.
    assert!(store.prune_rollups(60, 36_060, 100).await.unwrap() >= 2);
    let left = store
        .rollups(APP, "stable", RollupKind::Instances, 60, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(series(left), vec![("1.1.0".to_owned(), 36_060, 10)]);
}

async fn instance_queries_filter_count_and_page(store: Arc<dyn Store>) {
    let mut sightings = Vec::new();
    for i in 0..25 {
        let version = if i % 5 == 0 { "1.1.0" } else { "1.0.0" };
        let mut s = sighting(&format!("m{i:02}"), version, 1_000 + i);
        if i >= 20 {
            s.group_id = "beta".into();
        }
        sightings.push(s);
    }
    store.record_sightings(&sightings, &[]).await.unwrap();

    let all = InstanceFilter {
        app_id: Some(APP.into()),
        ..Default::default()
    };
    assert_eq!(store.count_instances(&all).await.unwrap(), 25);
    let page = store.instances(&all, 10, 0).await.unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(page[0].machine_id, "m24", "most recently seen first");
    let last = store.instances(&all, 10, 20).await.unwrap();
    assert_eq!(last.len(), 5);

    let new_version = InstanceFilter {
        version: Some("1.1.0".into()),
        group_id: Some("stable".into()),
        ..all.clone()
    };
    assert_eq!(store.count_instances(&new_version).await.unwrap(), 4);
    let recent = InstanceFilter {
        seen_after: Some(1_020),
        ..all.clone()
    };
    assert_eq!(store.count_instances(&recent).await.unwrap(), 5);

    let counts = store.version_counts(&all).await.unwrap();
    let flat: Vec<(&str, &str, i64)> = counts
        .iter()
        .map(|c| (c.group_id.as_str(), c.version.as_str(), c.count))
        .collect();
    assert_eq!(
        flat,
        vec![
            ("beta", "1.0.0", 4),
            ("beta", "1.1.0", 1),
            ("stable", "1.0.0", 16),
            ("stable", "1.1.0", 4)
        ]
    );
    // The same breakdown by status, filtered to one group: every sighting is `unknown`.
    let beta = InstanceFilter {
        group_id: Some("beta".into()),
        ..all.clone()
    };
    let mut by_status: Vec<(String, String, i64)> = store
        .instance_status_counts(&beta)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.version, c.status, c.count))
        .collect();
    by_status.sort();
    assert_eq!(
        by_status,
        vec![
            ("1.0.0".to_owned(), "unknown".to_owned(), 4),
            ("1.1.0".to_owned(), "unknown".to_owned(), 1)
        ]
    );
    let everyone = store
        .instance_status_counts(&InstanceFilter::default())
        .await
        .unwrap();
    assert_eq!(everyone.iter().map(|c| c.count).sum::<i64>(), 25);
}

async fn pruning_deletes_only_older_rows_a_batch_at_a_time(store: Arc<dyn Store>) {
    // History at 100..=500 ms for two machines.
    let mut tx = store.begin().await.unwrap();
    let entries: Vec<HistoryRecord> = (1..=5)
        .flat_map(|i| [event("a", i * 100, 3, 2), event("b", i * 100, 3, 2)])
        .collect();
    tx.append_history(&entries).await.unwrap();
    tx.commit().await.unwrap();
    // Three rows deleted at most per call, only entries before 300 ms (four of them).
    assert_eq!(store.prune_history(300, 3).await.unwrap(), 3);
    assert_eq!(store.prune_history(300, 3).await.unwrap(), 1);
    assert_eq!(store.prune_history(300, 3).await.unwrap(), 0);
    for machine in ["a", "b"] {
        let times: Vec<i64> = store
            .history(Some(APP), machine, 10)
            .await
            .unwrap()
            .iter()
            .map(|h| h.at)
            .collect();
        assert_eq!(times, vec![300, 400, 500], "{machine}");
    }

    // Rollups: one resolution at a time, by bucket start.
    let key = |version: &str| RollupKey {
        app_id: APP.into(),
        group_id: "stable".into(),
        version: version.into(),
        event: None,
    };
    let deltas: Vec<RollupDelta> = [0_i64, 60, 120, 86_400]
        .iter()
        .flat_map(|secs| {
            ["1.0.0", "1.1.0"].map(|v| RollupDelta {
                key: key(v),
                at: secs * 1000,
                count: 1,
            })
        })
        .collect();
    store.record_sightings(&[], &deltas).await.unwrap();
    let count = |resolution: i64| {
        let store = store.clone();
        async move {
            store
                .rollups(APP, "stable", RollupKind::Versions, resolution, 0, i64::MAX)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        (count(60).await, count(3600).await, count(86_400).await),
        (8, 4, 4)
    );
    // Minute buckets before 120 s: 0 and 60, two versions each.
    assert_eq!(store.prune_rollups(60, 120, 3).await.unwrap(), 3);
    assert_eq!(store.prune_rollups(60, 120, 3).await.unwrap(), 1);
    assert_eq!(store.prune_rollups(60, 120, 3).await.unwrap(), 0);
    let mut left: Vec<i64> = store
        .rollups(APP, "stable", RollupKind::Versions, 60, 0, i64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|p| p.bucket)
        .collect();
    left.sort_unstable();
    assert_eq!(left, vec![120, 120, 86_400, 86_400]);
    assert_eq!(
        (count(3600).await, count(86_400).await),
        (4, 4),
        "other resolutions are untouched"
    );

    // The activity log.
    for at in [10, 20, 30] {
        store
            .append_activity(&update_server::store::ActivityRecord {
                id: 0,
                at,
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
    assert_eq!(store.prune_activity(25, 100).await.unwrap(), 2);
    let kept: Vec<i64> = store
        .activity(None, 10, 0)
        .await
        .unwrap()
        .iter()
        .map(|a| a.at)
        .collect();
    assert_eq!(kept, vec![30]);
}

async fn failures_totals_and_last_grants_come_from_history_and_rollups(store: Arc<dyn Store>) {
    let mut grant = event("m1", 100, 0, 0);
    grant.kind = HistoryKind::Grant;
    grant.event_type = None;
    grant.event_result = None;
    grant.error_code = None;
    grant.target_version = Some("1.1.0".into());
    let mut later_grant = grant.clone();
    later_grant.at = 250;
    later_grant.machine_id = "m2".into();
    let mut other_code = event("m1", 400, 3, 0);
    other_code.error_code = Some(2503);
    let mut no_code = event("m3", 450, 3, 0);
    no_code.error_code = None;
    let mut elsewhere = event("m4", 500, 3, 0);
    elsewhere.group_id = "beta".into();
    let mut tx = store.begin().await.unwrap();
    tx.append_history(&[
        grant,
        later_grant,
        event("m1", 200, 3, 0),
        event("m1", 300, 3, 0),
        other_code,
        no_code,
        elsewhere,
        event("m2", 350, 3, 2),
    ])
    .await
    .unwrap();
    let key = |group: &str, event: (i64, i64)| RollupKey {
        app_id: APP.into(),
        group_id: group.into(),
        version: "1.0.0".into(),
        event: Some(event),
    };
    tx.add_rollups(&[
        RollupDelta {
            key: key("stable", (3, 0)),
            at: 60_000,
            count: 2,
        },
        RollupDelta {
            key: key("stable", (3, 0)),
            at: 120_000,
            count: 1,
        },
        RollupDelta {
            key: key("stable", (3, 2)),
            at: 120_000,
            count: 4,
        },
        RollupDelta {
            key: key("beta", (3, 0)),
            at: 600_000,
            count: 9,
        },
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let all = FailureFilter {
        since: 0,
        ..FailureFilter::default()
    };
    let rows = store.failures(&all, 100, 0).await.unwrap();
    type Row<'a> = (&'a str, &'a str, Option<i64>, i64, i64, i64);
    let seen: Vec<Row<'_>> = rows
        .iter()
        .map(|r| {
            (
                r.machine_id.as_str(),
                r.group_id.as_str(),
                r.error_code,
                r.count,
                r.first_at,
                r.last_at,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("m4", "beta", Some(2000), 1, 500, 500),
            ("m3", "stable", None, 1, 450, 450),
            ("m1", "stable", Some(2503), 1, 400, 400),
            ("m1", "stable", Some(2000), 2, 200, 300),
        ],
        "per instance, version and code, the most recent first"
    );
    assert_eq!(store.count_failures(&all).await.unwrap(), 4);
    let stable_since = FailureFilter {
        app_id: Some(APP.into()),
        group_id: Some("stable".into()),
        version: Some("1.0.0".into()),
        since: 300,
    };
    let rows = store.failures(&stable_since, 100, 0).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[2].count, rows[2].first_at),
        (1, 300),
        "counted from `since`"
    );
    assert_eq!(store.count_failures(&stable_since).await.unwrap(), 3);
    let page = store.failures(&all, 2, 1).await.unwrap();
    assert_eq!(
        page.iter()
            .map(|r| r.machine_id.as_str())
            .collect::<Vec<_>>(),
        ["m3", "m1"]
    );
    let other = FailureFilter {
        version: Some("9.9.9".into()),
        ..all.clone()
    };
    assert_eq!(store.count_failures(&other).await.unwrap(), 0);

    assert_eq!(store.last_grant(APP, "stable").await.unwrap(), Some(250));
    assert_eq!(store.last_grant(APP, "beta").await.unwrap(), None);

    let totals = store.event_totals(60, 60, 120).await.unwrap();
    let seen: Vec<(&str, (i64, i64), i64)> = totals
        .iter()
        .map(|t| (t.group_id.as_str(), t.event, t.count))
        .collect();
    assert_eq!(seen, vec![("stable", (3, 0), 3), ("stable", (3, 2), 4)]);
}

async fn activity_changes_round_trip(store: Arc<dyn Store>) {
    use update_server::store::{ActivityChange, ActivityRecord};
    let changes = vec![
        ActivityChange {
            field: "updatePercent".into(),
            old: Some("10".into()),
            new: Some("50".into()),
        },
        ActivityChange {
            field: "label".into(),
            old: None,
            new: Some("prod \"eu\"\t".into()),
        },
    ];
    for (at, changes) in [(1, Vec::new()), (2, changes.clone())] {
        store
            .append_activity(&ActivityRecord {
                id: 0,
                at,
                actor: "admin".into(),
                action: "group.update".into(),
                app_id: APP.into(),
                group_id: "stable".into(),
                detail: String::new(),
                changes,
            })
            .await
            .unwrap();
    }
    let entries = store.activity(Some(APP), 10, 0).await.unwrap();
    assert_eq!(entries[0].changes, changes);
    assert!(entries[1].changes.is_empty());
    let since = store
        .activity_by_action("group.update", 2, 10)
        .await
        .unwrap();
    assert_eq!(since.len(), 1);
    assert!(
        store
            .activity_by_action("group.autopause", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_webhook_outbox_enqueues_once_and_leases(store: Arc<dyn Store>) {
    use update_server::store::{AttemptOutcome, DeliveryRecord, Enqueued, WebhookRecord};
    let hook = WebhookRecord {
        id: "h1".into(),
        app_id: String::new(),
        url: "http://127.0.0.1:9/hook".into(),
        events: "auto_paused,stalled".into(),
        secret_sealed: vec![1, 2, 3],
        failure_rate_percent: 20.0,
        failure_min_attempts: 5,
        stalled_after_secs: 3600,
        enabled: true,
        created_at: 5,
    };
    store.put_webhook(&hook).await.unwrap();
    store
        .put_webhook(&WebhookRecord {
            enabled: false,
            ..hook.clone()
        })
        .await
        .unwrap();
    let hooks = store.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert!(!hooks[0].enabled);
    assert_eq!(hooks[0].secret_sealed, vec![1, 2, 3]);
    let delivery = |key: &str| DeliveryRecord {
        id: 0,
        hook_id: "h1".into(),
        event_key: key.into(),
        event: "auto_paused".into(),
        app_id: APP.into(),
        group_id: "stable".into(),
        body: "{}".into(),
        created_at: 100,
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: 100,
        lease_until: None,
        last_status: None,
        last_error: String::new(),
        delivered_at: None,
    };
    // Once per key; at most `max_pending` pending.
    assert_eq!(
        store.enqueue_delivery(&delivery("a"), 2).await.unwrap(),
        Enqueued::New
    );
    assert_eq!(
        store.enqueue_delivery(&delivery("a"), 2).await.unwrap(),
        Enqueued::Duplicate
    );
    assert_eq!(
        store.enqueue_delivery(&delivery("b"), 2).await.unwrap(),
        Enqueued::New
    );
    assert_eq!(
        store.enqueue_delivery(&delivery("c"), 2).await.unwrap(),
        Enqueued::QueueFull
    );
    // Not due yet: nothing claimed. Due: claimed once; a second claim gets nothing
    // until the lease runs out.
    assert!(!store.has_due_delivery(99).await.unwrap());
    assert!(store.has_due_delivery(100).await.unwrap());
    assert!(
        store
            .claim_deliveries(99, 1000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_deliveries(100, 1000, 1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event_key, "a");
    assert_eq!(claimed[0].lease_until, Some(1000));
    let other = store.claim_deliveries(100, 1001, 10).await.unwrap();
    assert_eq!(other.len(), 1, "only b is free");
    assert_eq!(other[0].event_key, "b");
    assert!(
        store
            .claim_deliveries(500, 2000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The lease of a ran out: another replica takes it, and the first one's outcome is
    // refused.
    let retaken = store.claim_deliveries(1001, 3000, 1).await.unwrap();
    assert_eq!(retaken[0].event_key, "a");
    let failed = AttemptOutcome {
        status: "pending".into(),
        attempts: 1,
        next_attempt_at: 1500,
        last_status: Some(500),
        last_error: "HTTP 500".into(),
        delivered_at: None,
    };
    assert!(
        !store
            .finish_attempt(retaken[0].id, 1000, &failed)
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_attempt(retaken[0].id, 3000, &failed)
            .await
            .unwrap()
    );
    let delivered = AttemptOutcome {
        status: "delivered".into(),
        attempts: 1,
        next_attempt_at: 1001,
        last_status: Some(204),
        last_error: String::new(),
        delivered_at: Some(1001),
    };
    assert!(
        store
            .finish_attempt(other[0].id, 1001, &delivered)
            .await
            .unwrap()
    );
    let log = store.deliveries(Some("h1"), 10).await.unwrap();
    assert_eq!(log.len(), 2);
    let a = log.iter().find(|d| d.event_key == "a").unwrap();
    assert_eq!(
        (
            a.status.as_str(),
            a.attempts,
            a.next_attempt_at,
            a.lease_until
        ),
        ("pending", 1, 1500, None)
    );
    assert_eq!(a.last_error, "HTTP 500");
    let b = log.iter().find(|d| d.event_key == "b").unwrap();
    assert_eq!(
        (b.status.as_str(), b.delivered_at),
        ("delivered", Some(1001))
    );
    // Pruning keeps what is pending; delete takes the deliveries along.
    assert_eq!(store.prune_deliveries(200, 10).await.unwrap(), 1);
    assert_eq!(store.deliveries(None, 10).await.unwrap().len(), 1);
    store.delete_webhook("h1").await.unwrap();
    assert!(store.deliveries(None, 10).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_webhook("h1").await,
        Err(StoreError::NotFound { .. })
    ));
    // The newest grant of a group, from the history.
    assert_eq!(store.last_grant(APP, "stable").await.unwrap(), None);
}
