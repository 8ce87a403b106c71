//! Property tests of update_engine's 3/2: a routine report (no grant, the stored version,
//! `previousversion` absent or not older) moves nothing, whatever the instance's status; a
//! report that completes an attempt completes.

use jiff::Timestamp;
use proptest::prelude::*;
use rollout_core::{
    ErrorCode, Event, Instance, InstanceStatus, Policy, RolloutState, Transition, Version,
};

const VERSIONS: [&str; 4] = ["0.9.0", "1.0.0", "1.1.0", "1.2.0"];

fn v(s: &str) -> Version {
    Version::parse(s).expect("test version parses")
}

fn status() -> impl Strategy<Value = InstanceStatus> {
    prop_oneof![
        Just(InstanceStatus::Unknown),
        Just(InstanceStatus::Downloading),
        Just(InstanceStatus::Downloaded),
        Just(InstanceStatus::Installed),
        Just(InstanceStatus::InstalledHeld),
        Just(InstanceStatus::Complete),
        any::<i64>().prop_map(|c| InstanceStatus::Error(ErrorCode(c))),
    ]
}

proptest! {
    #[test]
    fn routine_reports_move_nothing(
        status in status(),
        version in 0usize..4,
        previous in proptest::option::of(0usize..4),
        secs in 0i64..1_000_000,
    ) {
        let version = v(VERSIONS[version]);
        let previous = previous.map(|p| v(VERSIONS[p]));
        let mut instance = Instance::new("m", version.clone(), "");
        instance.status = status;
        let before = instance.clone();
        let mut state = RolloutState::new();
        let event = Event {
            event_type: 3,
            event_result: 2,
            error_code: None,
            version: version.clone(),
            previous_version: previous.clone(),
        };
        let now = Timestamp::from_second(1_800_000_000 + secs).expect("in range");
        let outcome = state.record_event(&Policy::default(), &mut instance, &event, now);
        let completes = previous.as_ref().is_some_and(|p| *p < version);
        if completes {
            prop_assert_eq!(instance.status, InstanceStatus::Complete);
            prop_assert!(!outcome.check_in);
        } else {
            prop_assert_eq!(&instance, &before);
            prop_assert!(outcome.check_in);
            prop_assert_eq!(outcome.transition, Transition::Unchanged);
            prop_assert!(!outcome.instance_changed);
            prop_assert!(outcome.effects.is_empty());
        }
    }

    #[test]
    fn reports_of_a_newer_version_complete(
        status in status(),
        stored in 0usize..3,
        newer in 1usize..4,
    ) {
        prop_assume!(newer > stored);
        let mut instance = Instance::new("m", v(VERSIONS[stored]), "");
        instance.status = status;
        let mut state = RolloutState::new();
        let event = Event {
            event_type: 3,
            event_result: 2,
            error_code: None,
            version: v(VERSIONS[newer]),
            previous_version: None,
        };
        let now = Timestamp::from_second(1_800_000_000).expect("in range");
        let outcome = state.record_event(&Policy::default(), &mut instance, &event, now);
        prop_assert_eq!(instance.status, InstanceStatus::Complete);
        prop_assert_eq!(instance.version, v(VERSIONS[newer]));
        prop_assert!(!outcome.check_in);
    }
}
