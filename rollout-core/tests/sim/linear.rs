//! `rollout create linear --frame-size=60 --duration=3600` on 10,000 instances: every
//! instance is reached within the hour, and none before its frame.

use rollout_core::{Percent, Policy, PolicyConfig, RolloutConfig, linear_frames, position};

use crate::fleet::{Behaviour, Fleet, at};

#[test]
fn linear_rollout_over_one_hour_reaches_everyone_on_time() {
    let frames = linear_frames(60, 3600).expect("valid");
    let policy = Policy::new(PolicyConfig {
        update_percent: 0.0,
        rollout: Some(RolloutConfig {
            frames: frames.clone(),
            active_since: Some(at(0)),
        }),
        ..PolicyConfig::default()
    })
    .expect("valid policy");
    let behaviour = Behaviour {
        check_every: (30, 60),
        fail_rate: 0.0,
    };
    let mut fleet = Fleet::new(policy, 10_000, behaviour, 5);
    fleet.run_until(3600);

    assert_eq!(
        fleet.grants.len(),
        10_000,
        "everyone granted within the hour"
    );
    let target = rollout_core::Version::parse("1.1.0").expect("valid");
    for g in &fleet.grants {
        let pos = position(fleet.instances[g.instance].machine_id.as_str(), &target);
        // The start of the first frame whose percentage admits this instance.
        let mut start = 0;
        let mut earliest = None;
        for f in &frames {
            let p = Percent::new(f.percent.min(100.0)).expect("valid frame");
            if p.admits(pos) {
                earliest = Some(start);
                break;
            }
            start += f.duration_secs as i64;
        }
        let earliest = earliest.expect("the last frames admit everyone");
        assert!(
            g.at >= earliest,
            "granted at {} before its frame at {earliest}",
            g.at
        );
        // It gets the update at its first check in its frame: within one check interval.
        assert!(
            g.at < earliest + 61,
            "granted at {}, eligible from {earliest}",
            g.at
        );
        assert!(g.at < 3600);
    }
    // Coverage follows the line: after k minutes about k/60 of the fleet was granted.
    for minute in [10, 20, 30, 45] {
        let granted = fleet.grants.iter().filter(|g| g.at < minute * 60).count() as f64;
        let share = granted / 10_000.0;
        let line = minute as f64 / 60.0;
        assert!(
            (share - line).abs() < 0.03,
            "minute {minute}: {share} vs {line}"
        );
    }
}
