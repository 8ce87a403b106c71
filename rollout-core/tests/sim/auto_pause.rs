//! A rollout where 5 % of installs fail, with automatic pause at 10 % of the last 50
//! attempts (5 failures): the group pauses itself, exactly at the threshold.

use rollout_core::{
    Attempt, AutoPauseConfig, Decision, FailureThreshold, Policy, PolicyConfig, Reason,
};

use crate::fleet::{Behaviour, Fleet};

#[test]
fn five_percent_failures_pause_the_group_at_ten_percent_of_fifty() {
    let policy = Policy::new(PolicyConfig {
        max_in_flight: Some(50),
        update_timeout_secs: Some(3600),
        auto_pause: Some(AutoPauseConfig {
            threshold: FailureThreshold::Percent(10.0),
            last_attempts: 50,
            count_timeouts: true,
        }),
        ..PolicyConfig::default()
    })
    .expect("valid policy");
    assert_eq!(policy.auto_pause().map(|r| r.failures), Some(5));
    let behaviour = Behaviour {
        check_every: (30, 60),
        fail_rate: 0.05,
    };
    let mut fleet = Fleet::new(policy, 10_000, behaviour, 3);
    // Run until the pause fires (at most six hours), then half an hour more.
    while fleet.auto_pause.is_none() && fleet.now < 6 * 3600 {
        fleet.run_until(fleet.now + 600);
    }
    fleet.run_until(fleet.now + 1800);

    let (pause, range) = fleet.auto_pause.clone().expect("the group paused itself");
    // Recompute the ring independently: the first attempt at which 5 of the last 50
    // failed must be in the call that fired the pause, and nowhere earlier.
    let failed = |a: &Attempt| *a != Attempt::Succeeded;
    let first_at_threshold = (0..fleet.attempts.len())
        .find(|&j| {
            let from = j.saturating_sub(49);
            fleet.attempts[from..=j]
                .iter()
                .filter(|a| failed(a))
                .count()
                >= 5
        })
        .expect("the threshold was reached");
    assert!(
        range.contains(&first_at_threshold),
        "{range:?} vs {first_at_threshold}"
    );
    assert_eq!(pause.failures, 5);
    let from = first_at_threshold.saturating_sub(49);
    assert_eq!(pause.attempts as usize, first_at_threshold - from + 1);
    // It paused on a sample, long before the fleet was done.
    assert!(
        fleet.attempts.len() < 2_000,
        "attempts: {}",
        fleet.attempts.len()
    );
    let fail_share =
        fleet.attempts.iter().filter(|a| failed(a)).count() as f64 / fleet.attempts.len() as f64;
    assert!(fail_share < 0.2, "failure share {fail_share}");
    // After the pause every check was refused as auto-paused (or up to date), and no
    // grant came after it.
    assert!(!fleet.decisions_after_pause.is_empty());
    for d in &fleet.decisions_after_pause {
        assert!(
            matches!(
                d,
                Decision::NoUpdate {
                    reason: Reason::AutoPaused { .. } | Reason::UpToDate
                }
            ),
            "{d:?}"
        );
    }
    let paused_at = crate::fleet::secs(pause.at);
    assert!(fleet.grants.iter().all(|g| g.at <= paused_at));
    // Outstanding installs finished or failed; the in-flight set drained.
    assert_eq!(fleet.state.in_flight(), 0);
}

#[test]
fn without_failures_the_group_never_pauses() {
    let policy = Policy::new(PolicyConfig {
        max_in_flight: Some(50),
        auto_pause: Some(AutoPauseConfig {
            threshold: FailureThreshold::Percent(10.0),
            last_attempts: 50,
            count_timeouts: true,
        }),
        ..PolicyConfig::default()
    })
    .expect("valid policy");
    let behaviour = Behaviour {
        check_every: (30, 60),
        fail_rate: 0.0,
    };
    let mut fleet = Fleet::new(policy, 2_000, behaviour, 4);
    fleet.run_until(2 * 3600);
    assert!(fleet.auto_pause.is_none());
    assert_eq!(fleet.updated(), 2_000);
}
