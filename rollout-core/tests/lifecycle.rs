//! Property tests of the timed-rollout lifecycle: a rollout runs until the end of its last
//! frame, then is finished at the last frame's percentage for good, and ending a rollout
//! (finishing or deactivating) never changes the percentage in force.

use jiff::Timestamp;
use proptest::prelude::*;
use rollout_core::{Frame, Percent, Policy, PolicyConfig, RolloutConfig, RolloutPhase};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("in range")
}

fn frames() -> impl Strategy<Value = Vec<Frame>> {
    prop::collection::vec(
        (0.0f64..=100.0, 0u64..600).prop_map(|(percent, duration_secs)| Frame {
            percent,
            duration_secs,
        }),
        1..12,
    )
}

fn policy(update_percent: f64, frames: Vec<Frame>, active_since: Option<Timestamp>) -> Policy {
    Policy::new(PolicyConfig {
        update_percent,
        rollout: Some(RolloutConfig {
            frames,
            active_since,
        }),
        ..PolicyConfig::default()
    })
    .expect("generated policy is valid")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Running exactly until the frames' total duration has passed, finished from then on
    /// at the last frame's percentage; the phase's percentage is the one decisions use.
    #[test]
    fn a_rollout_ends_after_its_last_frame(
        frames in frames(),
        stored in 0.0f64..=100.0,
        offset in -100i64..8_000,
    ) {
        let total: i64 = frames.iter().map(|f| f.duration_secs as i64).sum();
        let last = frames.last().expect("at least one frame").percent;
        let p = policy(stored, frames.clone(), Some(at(0)));
        let now = at(offset);
        let phase = p.rollout_phase(now);
        if offset < total {
            let RolloutPhase::Running { percent, ends_at } = phase else {
                return Err(TestCaseError::fail(format!("not running at {offset} of {total}: {phase:?}")));
            };
            prop_assert_eq!(ends_at, at(total));
            prop_assert!(
                (offset < 0 && percent == Percent::ZERO)
                    || frames.iter().any(|f| f.percent == percent.get()),
                "{percent:?} is a frame's percentage"
            );
            prop_assert_eq!(p.percent_at(now), percent);
        } else {
            prop_assert_eq!(phase, RolloutPhase::Finished {
                percent: Percent::new(last).expect("valid"),
                ended_at: at(total),
            });
            prop_assert_eq!(p.percent_at(now).get(), last);
            // Finished for good.
            prop_assert!(!p.rollout_phase(at(offset + 86_400)).is_running());
        }
        // The group's stored percentage plays no part while the rollout is active.
        prop_assert_eq!(policy(100.0 - stored, frames, Some(at(0))).percent_at(now), p.percent_at(now));
    }

    /// Ending the rollout at any moment, the way the server does (the stored percentage
    /// becomes the one in force, the rollout inactive), leaves the percentage unchanged,
    /// then and later.
    #[test]
    fn ending_a_rollout_keeps_the_percent_in_force(
        frames in frames(),
        stored in 0.0f64..=100.0,
        offset in 0i64..8_000,
        later in 0i64..100_000,
    ) {
        let p = policy(stored, frames.clone(), Some(at(0)));
        let now = at(offset);
        let in_force = p.percent_at(now);
        let ended = policy(in_force.get(), frames, None);
        prop_assert_eq!(ended.rollout_phase(now), RolloutPhase::Inactive);
        prop_assert_eq!(ended.percent_at(now), in_force);
        prop_assert_eq!(ended.percent_at(at(offset + later)), in_force);
        if !p.rollout_phase(now).is_running() {
            // After the end, the live rollout and the ended one agree at every later time.
            prop_assert_eq!(p.percent_at(at(offset + later)), in_force);
        }
    }
}
