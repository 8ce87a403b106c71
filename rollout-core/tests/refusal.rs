//! Refusals without the lock (`RefusalFacts`): whatever the policy and the history of
//! checks and events,
//!
//! - on the state the facts were taken of, the facts refuse exactly what the locked
//!   decision refuses, with the same reason (for an instance holding no grant); grants
//!   that expire before `now` are the only difference, and only a liftable refusal is
//!   lifted by them;
//! - a refusal the facts call not liftable still holds after any further decisions and
//!   events of other instances, at any later time before the `until` it names.

use jiff::Timestamp;
use proptest::prelude::*;
use rollout_core::{
    Applicant, AutoPauseConfig, Backoff, Channel, Check, Decision, Event, FailureThreshold,
    InstallSource, Instance, MaintenanceConfig, Package, Policy, PolicyConfig, RateLimitConfig,
    Reason, RetryDelayConfig, RolloutState, Version, WindowConfig,
};

fn v(s: &str) -> Version {
    Version::parse(s).expect("test version parses")
}

fn at(secs: i64) -> Timestamp {
    // A Monday, 00:00 UTC.
    Timestamp::from_second(1_795_996_800 + secs).expect("in range")
}

const VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "1.2.0"];
const TARGET: &str = "1.1.0";

#[derive(Debug, Clone)]
struct Params {
    count: u32,
    interval: u64,
    percent: f64,
    max_in_flight: Option<u32>,
    timeout: Option<u64>,
    paused: bool,
    allow_downgrade: bool,
    auto_pause: Option<u32>,
    blacklist: bool,
    window: Option<(u8, u8)>,
    retry: bool,
}

impl Params {
    fn policy(&self) -> Policy {
        Policy::new(PolicyConfig {
            paused: self.paused,
            rate_limit: Some(RateLimitConfig {
                update_count: self.count,
                update_interval_secs: self.interval,
            }),
            update_percent: self.percent,
            max_in_flight: self.max_in_flight,
            update_timeout_secs: self.timeout,
            allow_downgrade: self.allow_downgrade,
            auto_pause: self.auto_pause.map(|k| AutoPauseConfig {
                threshold: FailureThreshold::Count(k),
                last_attempts: k + 2,
                count_timeouts: true,
            }),
            oem_blacklist: if self.blacklist {
                vec!["bad".into()]
            } else {
                Vec::new()
            },
            maintenance: self.window.map(|(start, end)| MaintenanceConfig {
                time_zone: "UTC".into(),
                windows: vec![WindowConfig {
                    weekdays: vec![jiff::civil::Weekday::Monday, jiff::civil::Weekday::Tuesday],
                    start_hour: start,
                    end_hour: end,
                }],
            }),
            retry_delay: self.retry.then_some(RetryDelayConfig {
                initial_secs: 30,
                max_secs: 120,
            }),
            ..PolicyConfig::default()
        })
        .expect("generated policy is valid")
    }
}

fn params() -> impl Strategy<Value = Params> {
    (
        (1u32..4, 1u64..200),
        prop_oneof![Just(100.0), Just(0.0), 0.0f64..=100.0],
        proptest::option::of(1u32..4),
        proptest::option::of(10u64..300),
        prop::bool::weighted(0.1),
        any::<bool>(),
        proptest::option::of(1u32..3),
        any::<bool>(),
        proptest::option::of((0u8..24, 0u8..24).prop_filter("a window", |(s, e)| s != e)),
        any::<bool>(),
    )
        .prop_map(
            |(
                (count, interval),
                percent,
                max_in_flight,
                timeout,
                paused,
                allow_downgrade,
                auto_pause,
                blacklist,
                window,
                retry,
            )| Params {
                count,
                interval,
                percent,
                max_in_flight,
                timeout,
                paused,
                allow_downgrade,
                auto_pause,
                blacklist,
                window,
                retry,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Check {
        machine: usize,
        dt: i64,
        on_demand: bool,
    },
    Event {
        machine: usize,
        dt: i64,
        kind: usize,
    },
}

fn op(machines: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..machines, 0i64..3000, prop::bool::weighted(0.1))
            .prop_map(|(machine, dt, on_demand)| Op::Check { machine, dt, on_demand }),
        2 => (0..machines, 0i64..3000, 0usize..5)
            .prop_map(|(machine, dt, kind)| Op::Event { machine, dt, kind }),
    ]
}

struct World {
    policy: Policy,
    state: RolloutState,
    instances: Vec<Instance>,
    channel: Channel,
    package: Package,
    now: i64,
}

impl World {
    fn new(p: &Params, machines: usize) -> Self {
        let target = v(TARGET);
        Self {
            policy: p.policy(),
            state: RolloutState::new(),
            instances: (0..machines)
                .map(|i| {
                    let oem = if i % 3 == 2 { "bad" } else { "" };
                    Instance::new(format!("machine-{i}"), v("1.0.0"), oem)
                })
                .collect(),
            channel: Channel {
                name: "c".into(),
                target: Some(target.clone()),
            },
            package: Package {
                version: target,
                url: "https://example.com/".into(),
                size: 1,
                sha256: [0; 32],
            },
            now: 0,
        }
    }

    fn check(&self, on_demand: bool) -> Check<'_> {
        Check {
            channel: &self.channel,
            package: Some(&self.package),
            install_source: if on_demand {
                InstallSource::OnDemand
            } else {
                InstallSource::Scheduler
            },
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Check {
                machine,
                dt,
                on_demand,
            } => {
                self.now += dt;
                let check = Check {
                    channel: &self.channel,
                    package: Some(&self.package),
                    install_source: if on_demand {
                        InstallSource::OnDemand
                    } else {
                        InstallSource::Scheduler
                    },
                };
                self.state.decide(
                    &self.policy,
                    &mut self.instances[machine],
                    &check,
                    at(self.now),
                );
            }
            Op::Event { machine, dt, kind } => {
                self.now += dt;
                let instance = &mut self.instances[machine];
                let (event_type, event_result, version) = match kind {
                    0 => (13, 1, instance.version.clone()),
                    1 => (3, 1, instance.version.clone()),
                    2 => (3, 0, instance.version.clone()),
                    3 => (
                        3,
                        2,
                        instance
                            .grant
                            .as_ref()
                            .map_or(instance.version.clone(), |g| g.target.clone()),
                    ),
                    _ => (14, 1, instance.version.clone()),
                };
                let event = Event {
                    event_type,
                    event_result,
                    error_code: None,
                    version: version.clone(),
                    previous_version: None,
                };
                self.state
                    .record_event(&self.policy, instance, &event, at(self.now));
                instance.version = version;
            }
        }
    }
}

/// The applicant's view of an instance, as a replica knows it without the lock.
fn applicant(instance: &Instance) -> Applicant<'_> {
    Applicant {
        machine_id: instance.machine_id.as_str(),
        version: &instance.version,
        oem: &instance.oem,
        backoff: instance.backoff.as_ref(),
    }
}

fn refused(decision: &Decision) -> Option<&Reason> {
    match decision {
        Decision::NoUpdate { reason } => Some(reason),
        Decision::Update { .. } => None,
    }
}

const MACHINES: usize = 6;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// On the state the facts were taken of, the facts refuse exactly what the locked
    /// decision refuses, with the same reason, for an instance holding no grant.
    #[test]
    fn facts_agree_with_the_locked_decision(
        p in params(),
        ops in prop::collection::vec(op(MACHINES), 0..60),
        who in 0..MACHINES,
        version in 0..VERSIONS.len(),
        on_demand in prop::bool::weighted(0.1),
        later in 0i64..400,
    ) {
        let mut world = World::new(&p, MACHINES);
        for op in &ops {
            world.apply(op);
        }
        prop_assume!(world.instances[who].grant.is_none());
        prop_assume!(world.state.grant(&world.instances[who].machine_id).is_none());
        world.instances[who].version = v(VERSIONS[version]);
        // Facts are taken right after the last locked call: expiry is up to date.
        let facts = world.state.refusal_facts(&world.policy);
        let now = at(world.now + later);
        let check = world.check(on_demand);
        let fast = facts.refuse(&world.policy, &applicant(&world.instances[who]), &check, now);
        let mut locked_state = world.state.clone();
        let mut instance = world.instances[who].clone();
        let locked = locked_state.decide(&world.policy, &mut instance, &check, now);
        // Grants that expire between the facts and `now` are released by the locked call
        // first (and may pause the group): the only way the two may differ.
        let expired = !locked.effects.released.is_empty() || locked.effects.auto_pause.is_some();
        match (&fast, refused(&locked.decision)) {
            (Some(refusal), Some(reason)) => {
                if !expired {
                    prop_assert_eq!(&refusal.reason, reason);
                }
            }
            (Some(refusal), None) => {
                // Only a liftable refusal may be lifted, by grants that expired.
                prop_assert!(refusal.liftable && expired, "facts refused {refusal:?}, lock granted");
            }
            (None, Some(reason)) => {
                // The check goes to the lock, which refuses: only after an expiry.
                prop_assert!(expired, "lock refused {reason:?}, facts did not");
            }
            (None, None) => {}
        }
    }

    /// A refusal the facts call not liftable holds after any further decisions and events
    /// of other instances, at any later time.
    #[test]
    fn fixed_refusals_hold_whatever_happens_next(
        p in params(),
        before in prop::collection::vec(op(MACHINES), 0..40),
        after in prop::collection::vec(op(MACHINES - 1), 0..40),
        version in 0..VERSIONS.len(),
        on_demand in prop::bool::weighted(0.1),
        later in 0i64..3000,
    ) {
        // The applicant is the last machine; `after` touches only the others.
        let who = MACHINES - 1;
        let mut world = World::new(&p, MACHINES);
        for op in &before {
            world.apply(op);
        }
        prop_assume!(world.instances[who].grant.is_none());
        prop_assume!(world.state.grant(&world.instances[who].machine_id).is_none());
        world.instances[who].version = v(VERSIONS[version]);
        let facts = world.state.refusal_facts(&world.policy);
        for op in &after {
            world.apply(op);
        }
        let now = at(world.now + later);
        let check = world.check(on_demand);
        let applicant_instance = world.instances[who].clone();
        let Some(refusal) = facts.refuse(&world.policy, &applicant(&applicant_instance), &check, now) else {
            return Ok(());
        };
        prop_assume!(!refusal.liftable);
        let mut instance = applicant_instance;
        let mut state = world.state.clone();
        let locked = state.decide(&world.policy, &mut instance, &check, now);
        // Refused still (an earlier rule, an automatic pause say, may now give another
        // reason).
        prop_assert!(
            refused(&locked.decision).is_some(),
            "facts refused {refusal:?}, the lock decided {:?}", locked.decision
        );
    }
}

/// The waiting scenario: one grant per hour taken, every other check refused until the
/// hour is over, then granted again.
#[test]
fn a_full_rate_window_refuses_until_it_frees() {
    let policy = Policy::new(PolicyConfig {
        rate_limit: Some(RateLimitConfig {
            update_count: 1,
            update_interval_secs: 3600,
        }),
        ..PolicyConfig::default()
    })
    .unwrap();
    let target = v(TARGET);
    let channel = Channel {
        name: "c".into(),
        target: Some(target.clone()),
    };
    let package = Package {
        version: target,
        url: "https://example.com/".into(),
        size: 1,
        sha256: [0; 32],
    };
    let check = Check {
        channel: &channel,
        package: Some(&package),
        install_source: InstallSource::Scheduler,
    };
    let mut state = RolloutState::new();
    let mut first = Instance::new("first", v("1.0.0"), "");
    assert!(
        state
            .decide(&policy, &mut first, &check, at(0))
            .decision
            .is_update()
    );
    let facts = state.refusal_facts(&policy);
    let waiting = Instance::new("waiting", v("1.0.0"), "");
    let until = at(3600);
    for t in [0, 1, 3599] {
        let refusal = facts
            .refuse(&policy, &applicant(&waiting), &check, at(t))
            .expect("refused while the window is full");
        assert_eq!(refusal.reason, Reason::RateLimited { until });
        assert!(!refusal.liftable);
    }
    assert_eq!(
        facts.refuse(&policy, &applicant(&waiting), &check, at(3600)),
        None
    );
    // Another rate limit: the facts no longer say anything about the window.
    let faster = Policy::new(PolicyConfig {
        rate_limit: Some(RateLimitConfig {
            update_count: 2,
            update_interval_secs: 3600,
        }),
        ..PolicyConfig::default()
    })
    .unwrap();
    assert_eq!(
        facts.refuse(&faster, &applicant(&waiting), &check, at(1)),
        None
    );
    // A retry delay on record is the instance's own refusal.
    let backoff = Backoff {
        failures: 1,
        until: at(10),
        version: None,
    };
    let failed = Applicant {
        backoff: Some(&backoff),
        ..applicant(&waiting)
    };
    assert_eq!(
        facts
            .refuse(&policy, &failed, &check, at(1))
            .map(|r| r.reason),
        Some(Reason::RetryingAfterFailure { until: at(10) })
    );
}
