//! The getting-started guide's rate limit (`--update-count=2 --update-interval=60`) on a
//! fleet of 10,000 instances checking every 30 to 60 seconds.

use rollout_core::{Policy, PolicyConfig, RateLimitConfig};

use crate::fleet::{Behaviour, Fleet};

#[test]
fn ten_thousand_instances_converge_at_exactly_two_per_minute() {
    let policy = Policy::new(PolicyConfig {
        rate_limit: Some(RateLimitConfig {
            update_count: 2,
            update_interval_secs: 60,
        }),
        ..PolicyConfig::default()
    })
    .expect("valid policy");
    let behaviour = Behaviour {
        check_every: (30, 60),
        fail_rate: 0.0,
    };
    let mut fleet = Fleet::new(policy, 10_000, behaviour, 1);
    let hour = 3600;
    fleet.run_until(hour);

    // About 10,000 / 45 checks per second: demand far above the limit, so every slot is
    // taken the second it opens. Grants come in pairs exactly 60 s apart from t = 0.
    let times: Vec<i64> = fleet.grants.iter().map(|g| g.at).collect();
    let expected: Vec<i64> = (0..60)
        .flat_map(|minute| [minute * 60, minute * 60])
        .collect();
    assert_eq!(times, expected);
    // Never more than 2 in any 60 s window.
    for w in times.windows(3) {
        assert!(w[2] - w[0] >= 60, "{w:?}");
    }
    // Each grant went to a different instance; each completed or is still installing
    // (an install takes up to about two minutes here).
    let mut who: Vec<usize> = fleet.grants.iter().map(|g| g.instance).collect();
    who.sort_unstable();
    who.dedup();
    assert_eq!(who.len(), 120);
    assert!(
        fleet.state.in_flight() <= 4,
        "in flight: {}",
        fleet.state.in_flight()
    );
    assert_eq!(fleet.updated() + fleet.state.in_flight(), 120);
    assert_eq!(fleet.state.grant_times().len(), 2);
    assert!(fleet.checks > 700_000, "checks: {}", fleet.checks);
}

#[test]
fn a_small_fleet_never_exceeds_the_rate() {
    // The guide's ten fake clients, checking every 30 to 60 s: demand is close to the
    // limit, so grants are spaced by the checks, never closer than the limit allows.
    let policy = Policy::new(PolicyConfig {
        rate_limit: Some(RateLimitConfig {
            update_count: 2,
            update_interval_secs: 60,
        }),
        ..PolicyConfig::default()
    })
    .expect("valid policy");
    let behaviour = Behaviour {
        check_every: (30, 60),
        fail_rate: 0.0,
    };
    let mut fleet = Fleet::new(policy, 10, behaviour, 2);
    fleet.run_until(3600);
    let times: Vec<i64> = fleet.grants.iter().map(|g| g.at).collect();
    assert_eq!(times.len(), 10, "all ten update within the hour: {times:?}");
    for w in times.windows(3) {
        assert!(w[2] - w[0] >= 60, "{w:?}");
    }
    // Five minutes are enough at two per minute, with checks every 30 to 60 s.
    assert!(times[9] < 6 * 60, "{times:?}");
    assert_eq!(fleet.updated(), 10);
}
