//! "Why instances are not updating": each instance of a group that does not run the target
//! is put through `rollout-core`'s decision as if it checked in now, against a copy of the
//! group's current rollout state, and the typed reasons are counted. Nothing is written.

use crate::cache::Route;
use crate::clock::from_millis;
use crate::store::{InstanceFilter, InstanceRecord, Store, StoreError};
use crate::writer::{backoff, decode_state, parse_status};
use jiff::Timestamp;
use rollout_core::{
    Channel, Check, Decision, InstallSource, Instance, InstanceGrant, MachineId, Reason,
    RolloutState, RolloutStateParts, Version,
};

/// At most this many instances are examined (the most recently seen).
pub(crate) const EXAMINED: i64 = 1000;

/// What the group's instances would be told if they checked in now.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Instances examined.
    pub examined: usize,
    /// Of them, on the target version.
    pub on_target: usize,
    /// Holding a grant for the target (the update is under way).
    pub updating: usize,
    /// Would be granted the update at their next check.
    pub next_check: usize,
    /// Whose version the engine cannot order.
    pub unparsable: usize,
    /// The reasons of the others, with how many got each, most frequent first. The text is
    /// the first instance's (reasons of one kind differ at most in detail).
    pub reasons: Vec<(Reason, String, usize)>,
}

/// The group's rollout state as stored, with its outstanding grants. Read in a write
/// transaction (the grants are read under the group's lock) that is rolled back.
pub(crate) async fn group_state(
    store: &dyn Store,
    app_id: &str,
    group_id: &str,
) -> Result<RolloutState, StoreError> {
    let mut tx = store.begin().await?;
    let states = tx
        .lock_groups(&[(app_id.to_owned(), group_id.to_owned())])
        .await?;
    let mut parts = match states.into_iter().next().flatten() {
        Some(record) => decode_state(&record.state)?,
        None => RolloutStateParts::default(),
    };
    parts.grants = tx
        .grants(app_id, group_id)
        .await?
        .into_iter()
        .filter_map(|g| {
            Some(rollout_core::Grant {
                machine_id: MachineId::new(&g.machine_id),
                target: Version::parse(&g.version).ok()?,
                granted_at: from_millis(g.granted_at),
                expires_at: g.expires_at.map(from_millis),
                scheduled: g.scheduled,
            })
        })
        .collect();
    drop(tx);
    Ok(RolloutState::from_parts(parts))
}

/// The instances of a group the report looks at.
pub(crate) async fn instances(
    store: &dyn Store,
    app_id: &str,
    group_id: &str,
) -> Result<Vec<InstanceRecord>, StoreError> {
    let filter = InstanceFilter {
        app_id: Some(app_id.to_owned()),
        group_id: Some(group_id.to_owned()),
        ..InstanceFilter::default()
    };
    store.instances(&filter, EXAMINED, 0).await
}

/// Decides for each instance as if it made a scheduled check at `now`. `step` gives the
/// route of an instance on a version ([`crate::cache::Snapshot::route_step`]: the floor it
/// must take first, or nothing when the target is blacklisted); `route` is the group's,
/// whose target tells who is on it. Instances' architectures are not stored, so floors
/// of one architecture only are not applied here.
pub(crate) fn report(
    route: &Route,
    step: impl Fn(&Version) -> Option<Route>,
    state: &RolloutState,
    instances: &[InstanceRecord],
    now: Timestamp,
) -> Report {
    let none = Channel {
        name: String::new(),
        target: None,
    };
    let target = route
        .channel
        .as_ref()
        .and_then(|c| c.channel.target.as_ref());
    let mut report = Report::default();
    for record in instances {
        report.examined += 1;
        let Ok(version) = Version::parse(&record.version) else {
            report.unparsable += 1;
            continue;
        };
        if target == Some(&version) {
            report.on_target += 1;
            continue;
        }
        let stepped = step(&version);
        let route = stepped.as_ref().unwrap_or(route);
        let check = Check {
            channel: route.channel.as_ref().map_or(&none, |c| &c.channel),
            package: route.package.as_ref().and_then(|p| p.package.as_ref()),
            install_source: InstallSource::Scheduler,
        };
        let policy = &route.group.policy;
        let machine = MachineId::new(&record.machine_id);
        let mut instance = Instance {
            grant: state.grant(&machine).map(|g| InstanceGrant {
                target: g.target.clone(),
                granted_at: g.granted_at,
            }),
            machine_id: machine,
            version,
            oem: record.oem.clone(),
            status: parse_status(&record.status, record.last_error_code),
            backoff: backoff(record),
        };
        let mut probe = state.clone();
        match probe.decide(policy, &mut instance, &check, now).decision {
            Decision::Update { reissued: true, .. } => report.updating += 1,
            Decision::Update { .. } => report.next_check += 1,
            Decision::NoUpdate { reason } => {
                let reason = route.explain(Some(reason)).unwrap_or(reason);
                match report
                    .reasons
                    .iter_mut()
                    .find(|(r, _, _)| r.as_str() == reason.as_str())
                {
                    Some(entry) => entry.2 += 1,
                    None => report.reasons.push((reason, reason.to_string(), 1)),
                }
            }
        }
    }
    report.reasons.sort_by_key(|r| std::cmp::Reverse(r.2));
    report
}

/// What an operator can do about a reason.
pub(crate) fn advice(reason: &Reason) -> &'static str {
    match reason {
        Reason::UpToDate => "Nothing to do.",
        Reason::AheadOfTarget => {
            "They run a newer version than the channel's; allow downgrades to roll them back."
        }
        Reason::NoTarget => "Point the group's channel at a version.",
        Reason::NoPackage => "Add a package for the channel's version.",
        Reason::PayloadMissing => {
            "Upload the package's payload (updateservicectl package upload, or updatectl package create)."
        }
        Reason::Paused => "Unpause the group.",
        Reason::AutoPaused { .. } => {
            "Failures reached the threshold: resume the group (Resume updates) once their cause is dealt with."
        }
        Reason::Blacklisted => "Their OEM is on the group's blacklist.",
        Reason::TargetBlacklisted => {
            "The channel's version is on the channel's blacklist: point the channel at another \
             version, or take this one off the blacklist."
        }
        Reason::OutsideWindow { .. } => "They update when the next maintenance window opens.",
        Reason::NotInPercent { .. } => "Raise the percentage or let the timed rollout advance.",
        Reason::RateLimited { .. } => "They update as the rate limit frees capacity.",
        Reason::InFlightCap { .. } => {
            "They update as outstanding updates complete or time out; or raise the cap."
        }
        Reason::RetryingAfterFailure { .. } => {
            "Their last update failed: they retry when the group's retry delay has passed. \
             Look at their errors; clearing the retry delay offers the update again at once."
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Snapshot;
    use crate::policy::GroupPolicy;
    use crate::store::{
        AppRecord, BlacklistRecord, ChannelRecord, ConfigSnapshot, FloorRecord, GroupRecord,
        PackageRecord,
    };

    fn route(policy: &GroupPolicy, channel_version: &str) -> Route {
        let snapshot = snapshot(policy, channel_version, Vec::new(), Vec::new());
        let app = snapshot.app("app").unwrap();
        snapshot.route(app, "g").unwrap()
    }

    fn package(version: &str) -> PackageRecord {
        PackageRecord {
            app_id: "app".into(),
            version: version.into(),
            url: format!("https://example.test/{version}/update.gz"),
            size: 1,
            sha1: String::new(),
            sha256: String::new(),
            metadata_size: String::new(),
            metadata_signature_rsa: String::new(),
            signature: String::new(),
            release_notes: String::new(),
            required: false,
            created_at: 0,
        }
    }

    fn snapshot(
        policy: &GroupPolicy,
        channel_version: &str,
        floors: Vec<FloorRecord>,
        blacklist: Vec<BlacklistRecord>,
    ) -> Snapshot {
        Snapshot::build(ConfigSnapshot {
            generation: 1,
            apps: vec![AppRecord {
                id: "app".into(),
                label: "App".into(),
                description: String::new(),
                hash_sha256: "hex".into(),
                created_at: 0,
            }],
            channels: vec![ChannelRecord {
                app_id: "app".into(),
                name: "stable".into(),
                version: channel_version.into(),
                publish: false,
                upstream: String::new(),
                created_at: 0,
            }],
            groups: vec![GroupRecord {
                app_id: "app".into(),
                id: "g".into(),
                label: "G".into(),
                channel: "stable".into(),
                policy: policy.to_json(),
                created_at: 0,
            }],
            packages: vec![package("1.0.5"), package("1.1.0")],
            arch_packages: Vec::new(),
            package_files: Vec::new(),
            floors,
            blacklist,
        })
    }

    fn instance(id: &str, version: &str) -> InstanceRecord {
        InstanceRecord {
            app_id: "app".into(),
            machine_id: id.into(),
            group_id: "g".into(),
            version: version.into(),
            oem: String::new(),
            status: "complete".into(),
            last_event_type: None,
            last_event_result: None,
            last_error_code: None,
            grant_version: None,
            granted_at: None,
            first_seen: 0,
            last_seen: 0,
            report_seq: 0,
            failures: 0,
            retry_until: None,
            retry_version: None,
        }
    }

    fn fleet() -> Vec<InstanceRecord> {
        vec![
            instance("a", "1.0.0"),
            instance("b", "1.0.0"),
            instance("c", "1.1.0"),
            instance("d", "not a version"),
        ]
    }

    #[test]
    fn reasons_come_from_the_engine() {
        let now: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let cases: Vec<(GroupPolicy, &str, &str)> = vec![
            (
                GroupPolicy {
                    paused: true,
                    ..GroupPolicy::default()
                },
                "1.1.0",
                "paused",
            ),
            (
                GroupPolicy {
                    update_percent: 0.0,
                    ..GroupPolicy::default()
                },
                "1.1.0",
                "not_in_percent",
            ),
            (GroupPolicy::default(), "", "no_target"),
            (GroupPolicy::default(), "1.2.0", "no_package"),
        ];
        for (policy, target, label) in cases {
            let route = route(&policy, target);
            let report = report(&route, |_| None, &RolloutState::new(), &fleet(), now);
            assert_eq!(report.examined, 4);
            assert_eq!(report.unparsable, 1);
            let reasons: Vec<_> = report.reasons.iter().map(|r| (r.0.as_str(), r.2)).collect();
            let behind = if target == "1.1.0" { 2 } else { 3 };
            assert_eq!(reasons, vec![(label, behind)], "{label}");
        }
    }

    #[test]
    fn a_used_up_rate_limit_says_until_when() {
        let now: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let policy = GroupPolicy {
            update_pooling: true,
            update_count: 1,
            update_interval_secs: 60,
            ..GroupPolicy::default()
        };
        let route = route(&policy, "1.1.0");
        let mut state = RolloutState::new();
        let report_before = report(&route, |_| None, &state, &fleet(), now);
        assert_eq!(
            report_before.next_check, 2,
            "capacity for one each, separately"
        );
        // Instance a takes the one slot.
        let mut a = Instance::new("a", Version::parse("1.0.0").unwrap(), "");
        let check = Check {
            channel: &route.channel.as_ref().unwrap().channel,
            package: route.package.as_ref().unwrap().package.as_ref(),
            install_source: InstallSource::Scheduler,
        };
        assert!(
            state
                .decide(&route.group.policy, &mut a, &check, now)
                .decision
                .is_update()
        );
        let after = report(&route, |_| None, &state, &fleet(), now);
        assert_eq!(after.updating, 1, "a holds its grant");
        assert_eq!(after.on_target, 1);
        let (reason, text, count) = &after.reasons[0];
        assert_eq!((reason.as_str(), *count), ("rate_limited", 1));
        assert_eq!(text, "rate limited until 2026-11-27T08:01:00Z");
        assert!(!advice(reason).is_empty());
    }

    #[test]
    fn floors_and_a_blacklisted_target_are_the_reasons_instances_see() {
        let now: Timestamp = "2026-11-27T08:00:00Z".parse().unwrap();
        let policy = GroupPolicy {
            update_pooling: true,
            update_count: 1,
            update_interval_secs: 3600,
            ..GroupPolicy::default()
        };
        let floor = FloorRecord {
            app_id: "app".into(),
            channel: "stable".into(),
            arch: String::new(),
            version: "1.0.5".into(),
            reason: "new disk format".into(),
            created_at: 0,
        };
        let floored = snapshot(&policy, "1.1.0", vec![floor], Vec::new());
        let app = floored.app("app").unwrap();
        let group = floored.route(app, "g").unwrap();
        let step = |v: &Version| floored.route_step(app, "g", None, Some(v), false);
        // a and b, on 1.0.0, are below the floor: the floor is what they would be offered;
        // with one update an hour, one of them next, the other rate limited.
        let mut state = RolloutState::new();
        let report_now = report(&group, step, &state, &fleet(), now);
        assert_eq!((report_now.on_target, report_now.next_check), (1, 2));
        let floor_route = step(&Version::parse("1.0.0").unwrap()).unwrap();
        let mut a = Instance::new("a", Version::parse("1.0.0").unwrap(), "");
        let check = Check {
            channel: &floor_route.channel.as_ref().unwrap().channel,
            package: floor_route.package.as_ref().unwrap().package.as_ref(),
            install_source: InstallSource::Scheduler,
        };
        let granted = state.decide(&floor_route.group.policy, &mut a, &check, now);
        match granted.decision {
            Decision::Update { target, .. } => assert_eq!(target.to_string(), "1.0.5"),
            other => panic!("the floor first, got {other:?}"),
        }
        let after = report(&group, step, &state, &fleet(), now);
        assert_eq!(after.updating, 1, "a holds its grant for the floor");
        assert_eq!(after.reasons[0].0.as_str(), "rate_limited");

        // The channel's version blacklisted: every instance behind it is told so, not "no
        // target", and the advice says what to do.
        let entry = BlacklistRecord {
            app_id: "app".into(),
            channel: "stable".into(),
            version: "1.1.0".into(),
            created_at: 0,
        };
        let blacklisted = snapshot(&GroupPolicy::default(), "1.1.0", Vec::new(), vec![entry]);
        let app = blacklisted.app("app").unwrap();
        let group = blacklisted.route(app, "g").unwrap();
        let step = |v: &Version| blacklisted.route_step(app, "g", None, Some(v), false);
        let report = report(&group, step, &RolloutState::new(), &fleet(), now);
        let reasons: Vec<_> = report.reasons.iter().map(|r| (r.0.as_str(), r.2)).collect();
        assert_eq!(reasons, vec![("target_blacklisted", 2)]);
        assert!(advice(&report.reasons[0].0).contains("blacklist"));
    }
}
