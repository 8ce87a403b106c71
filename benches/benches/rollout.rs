//! Decisions per second of the rollout engine for groups whose state reflects 1,000 to
//! 1,000,000 instances, to show that a decision's cost does not grow with the fleet.
//!
//! Each group state holds one outstanding grant per instance (so the in-flight set, its
//! expiry index and the machine-id lookups are fleet-sized), a full rate window and a full
//! attempt ring. Benchmarks per size:
//!
//! - `reissue`: an instance holding a grant checks again (lookup, no capacity used);
//! - `refused`: a new instance is refused by the rate limit (the full decision path);
//! - `up_to_date`: an instance on the target checks (the common case);
//! - `grant_then_complete`: a new instance is granted and then reports 3/2, leaving the
//!   state as it was (insert into and remove from the in-flight set and the expiry index:
//!   two engine calls per iteration).
//!
//! Run with `cargo bench -p benches --bench rollout`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use rollout_core::{
    Attempt, AutoPauseConfig, Channel, Check, Event, FailureThreshold, Grant, InstallSource,
    Instance, MachineId, Package, Policy, PolicyConfig, RateLimitConfig, RolloutState,
    RolloutStateParts, Version,
};

const SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

fn machine(i: usize) -> String {
    format!(
        "{:032x}",
        (i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
    )
}

fn policy(rate_limited: bool) -> Policy {
    Policy::new(PolicyConfig {
        rate_limit: rate_limited.then_some(RateLimitConfig {
            update_count: 100,
            update_interval_secs: 60,
        }),
        update_percent: 100.0,
        oem_blacklist: vec!["ami".into(), "azure".into()],
        max_in_flight: Some(2_000_000),
        update_timeout_secs: Some(86_400),
        auto_pause: Some(AutoPauseConfig {
            threshold: FailureThreshold::Percent(10.0),
            last_attempts: 50,
            count_timeouts: true,
        }),
        ..PolicyConfig::default()
    })
    .expect("valid benchmark policy")
}

/// A group state reflecting `n` instances: `n` outstanding grants with staggered expiry,
/// a full rate window at `now` and a full ring of successful attempts.
fn state(n: usize, target: &Version, now: Timestamp) -> RolloutState {
    let grants = (0..n)
        .map(|i| {
            let granted_at = now - SignedDuration::from_secs((i % 3600) as i64);
            Grant {
                machine_id: MachineId::from(machine(i)),
                target: target.clone(),
                granted_at,
                expires_at: Some(granted_at + SignedDuration::from_secs(86_400)),
                scheduled: true,
            }
        })
        .collect();
    RolloutState::from_parts(RolloutStateParts {
        grant_times: vec![now; 100],
        grants,
        attempts: vec![Attempt::Succeeded; 50],
        auto_pause: None,
        high_water: Some(now),
    })
}

fn bench(c: &mut Criterion) {
    let now: Timestamp = "2026-11-27T09:00:00Z".parse().expect("valid");
    let target = Version::parse("1.1.0").expect("valid");
    let old = Version::parse("1.0.0").expect("valid");
    let channel = Channel {
        name: "stable".into(),
        target: Some(target.clone()),
    };
    let package = Package {
        version: target.clone(),
        url: "https://updates.example.com/1.1.0/".into(),
        size: 1 << 20,
        sha256: [0; 32],
    };
    let check = Check {
        channel: &channel,
        package: Some(&package),
        install_source: InstallSource::Scheduler,
    };
    let limited = policy(true);
    let open = policy(false);
    let done = Event {
        event_type: 3,
        event_result: 2,
        error_code: None,
        version: target.clone(),
        previous_version: None,
    };

    let mut group = c.benchmark_group("rollout");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    for n in SIZES {
        let mut st = state(n, &target, now);
        let mut holder = Instance::new(machine(n / 2).as_str(), old.clone(), "");
        let mut fresh = Instance::new("not-yet-granted", old.clone(), "");
        let mut current = Instance::new("up-to-date", target.clone(), "");
        let mut newcomer = Instance::new("newcomer", old.clone(), "");

        group.bench_with_input(BenchmarkId::new("reissue", n), &n, |b, _| {
            b.iter(|| black_box(st.decide(&limited, &mut holder, &check, now).decision));
        });
        group.bench_with_input(BenchmarkId::new("refused", n), &n, |b, _| {
            b.iter(|| black_box(st.decide(&limited, &mut fresh, &check, now).decision));
        });
        group.bench_with_input(BenchmarkId::new("up_to_date", n), &n, |b, _| {
            b.iter(|| black_box(st.decide(&limited, &mut current, &check, now).decision));
        });
        group.bench_with_input(BenchmarkId::new("grant_then_complete", n), &n, |b, _| {
            b.iter(|| {
                newcomer.version = old.clone();
                let granted = st.decide(&open, &mut newcomer, &check, now);
                let completed = st.record_event(&open, &mut newcomer, &done, now);
                black_box((granted.decision, completed.transition))
            });
        });
        assert_eq!(
            st.in_flight(),
            n,
            "the benchmarks leave the state as they found it"
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
