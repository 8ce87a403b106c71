//! Property tests: the rollout invariants hold for arbitrary policies and arbitrary
//! sequences of checks and events.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use rollout_core::{
    Attempt, AutoPauseConfig, Channel, Check, Decision, Event, FailureThreshold, InstallSource,
    Instance, MachineId, Package, Percent, Policy, PolicyConfig, RateLimitConfig, Reason,
    RolloutState, Version, position,
};

const VERSIONS: [&str; 4] = ["0.9.0", "1.0.0", "1.1.0", "1.2.0"];
const TARGETS: [&str; 2] = ["1.1.0", "1.3.0.1"];

fn v(s: &str) -> Version {
    Version::parse(s).expect("test version parses")
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("in range")
}

#[derive(Debug, Clone)]
struct Params {
    count: u32,
    interval: u64,
    percent: f64,
    max_in_flight: Option<u32>,
    timeout: Option<u64>,
    paused: bool,
    allow_downgrade: bool,
    auto_pause: Option<(u32, u32, bool)>,
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
            auto_pause: self
                .auto_pause
                .map(|(k, n, count_timeouts)| AutoPauseConfig {
                    threshold: FailureThreshold::Count(k),
                    last_attempts: n,
                    count_timeouts,
                }),
            ..PolicyConfig::default()
        })
        .expect("generated policy is valid")
    }
}

fn params() -> impl Strategy<Value = Params> {
    (
        1u32..4,
        1u64..120,
        prop_oneof![Just(100.0), Just(0.0), 0.0f64..=100.0],
        proptest::option::of(1u32..5),
        proptest::option::of(10u64..300),
        prop::bool::weighted(0.15),
        any::<bool>(),
        proptest::option::of((1u32..4, any::<bool>())),
    )
        .prop_map(
            |(count, interval, percent, max_in_flight, timeout, paused, allow_downgrade, ap)| {
                Params {
                    count,
                    interval,
                    percent,
                    max_in_flight,
                    timeout,
                    paused,
                    allow_downgrade,
                    auto_pause: ap.map(|(k, count_timeouts)| (k, k + 2, count_timeouts)),
                }
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Check {
        machine: usize,
        dt: i64,
        on_demand: bool,
        version: usize,
        target: usize,
    },
    Event {
        machine: usize,
        dt: i64,
        kind: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..8, 0i64..40, prop::bool::weighted(0.2), 0usize..4, prop::bool::weighted(0.1))
            .prop_map(|(machine, dt, on_demand, version, moved)| Op::Check {
                machine,
                dt,
                on_demand,
                version,
                target: usize::from(moved),
            }),
        2 => (0usize..8, 0i64..40, 0usize..6).prop_map(|(machine, dt, kind)| Op::Event { machine, dt, kind }),
    ]
}

/// Everything a run observed, for the invariants to inspect.
#[derive(Debug, Default, PartialEq)]
struct Trace {
    decisions: Vec<Decision>,
    scheduled_grants: Vec<Timestamp>,
}

/// Runs `ops` and asserts the step invariants along the way.
fn run(p: &Params, ops: &[Op]) -> Result<Trace, TestCaseError> {
    let policy = p.policy();
    let mut state = RolloutState::new();
    let mut instances: Vec<Instance> = (0..8)
        .map(|i| Instance::new(format!("machine-{i}"), v("1.0.0"), ""))
        .collect();
    let mut trace = Trace::default();
    let mut now = 0i64;
    // The model of the automatic-pause ring.
    let mut ring: std::collections::VecDeque<Attempt> = Default::default();
    let mut model_paused = false;
    let check_attempts = |fx: &rollout_core::Effects,
                          ring: &mut std::collections::VecDeque<Attempt>,
                          model_paused: &mut bool|
     -> Result<(), TestCaseError> {
        let mut fired = None;
        if let Some((k, n, count_timeouts)) = p.auto_pause {
            for &a in &fx.attempts {
                ring.push_back(a);
                while ring.len() > n as usize {
                    ring.pop_front();
                }
                let failures = ring
                    .iter()
                    .filter(|&&x| {
                        x == Attempt::Failed || (count_timeouts && x == Attempt::TimedOut)
                    })
                    .count() as u32;
                if !*model_paused && failures >= k {
                    *model_paused = true;
                    fired = Some(failures);
                    // The engine fires exactly when the threshold is reached.
                    prop_assert_eq!(failures, k);
                }
            }
        } else {
            prop_assert!(fx.attempts.is_empty());
        }
        prop_assert_eq!(fx.auto_pause.map(|a| a.failures), fired);
        Ok(())
    };
    for op in ops {
        match *op {
            Op::Check {
                machine,
                dt,
                on_demand,
                version,
                target,
            } => {
                now += dt;
                let instance = &mut instances[machine];
                instance.version = v(VERSIONS[version]);
                let target = v(TARGETS[target]);
                let channel = Channel {
                    name: "c".into(),
                    target: Some(target.clone()),
                };
                let package = Package {
                    version: target.clone(),
                    url: "https://example.com/".into(),
                    size: 0,
                    sha256: [0; 32],
                };
                let check = Check {
                    channel: &channel,
                    package: Some(&package),
                    install_source: if on_demand {
                        InstallSource::OnDemand
                    } else {
                        InstallSource::Scheduler
                    },
                };
                let out = state.decide(&policy, instance, &check, at(now));
                check_attempts(&out.effects, &mut ring, &mut model_paused)?;
                if let Some(g) = &out.effects.granted
                    && g.scheduled
                {
                    trace.scheduled_grants.push(g.granted_at);
                }
                if let Decision::Update {
                    target: t,
                    rollback,
                    reissued,
                } = &out.decision
                {
                    // Paused (by the operator or automatically) means no update, on-demand
                    // checks included.
                    prop_assert!(!p.paused, "update while paused: {:?}", out.decision);
                    prop_assert!(!model_paused, "update while auto-paused");
                    // No downgrade unless allowed.
                    prop_assert_eq!(*rollback, *t < instance.version);
                    prop_assert!(!*rollback || p.allow_downgrade);
                    prop_assert!(*reissued || out.effects.granted.is_some());
                    // A repeated check never consumes capacity.
                    let window_before: Vec<_> = state.grant_times().collect();
                    let in_flight_before = state.in_flight();
                    let again = state.decide(&policy, instance, &check, at(now));
                    prop_assert_eq!(
                        &again.decision,
                        &Decision::Update {
                            target: t.clone(),
                            rollback: *rollback,
                            reissued: true
                        }
                    );
                    prop_assert!(again.effects.is_empty());
                    prop_assert_eq!(state.grant_times().collect::<Vec<_>>(), window_before);
                    prop_assert_eq!(state.in_flight(), in_flight_before);
                }
                if let Decision::NoUpdate {
                    reason: Reason::NotInPercent { .. },
                } = out.decision
                {
                    prop_assert!(!on_demand, "on-demand checks bypass the percentage");
                }
                if let Decision::NoUpdate {
                    reason: Reason::RateLimited { until },
                } = out.decision
                {
                    prop_assert!(!on_demand, "on-demand checks bypass the rate limit");
                    prop_assert!(until > at(now));
                }
                trace.decisions.push(out.decision);
            }
            Op::Event { machine, dt, kind } => {
                now += dt;
                let instance = &mut instances[machine];
                let (event_type, event_result, version) = match kind {
                    0 => (13, 1, instance.version.clone()),
                    1 => (14, 1, instance.version.clone()),
                    2 => (3, 1, instance.version.clone()),
                    3 => (3, 0, instance.version.clone()),
                    4 => (
                        3,
                        2,
                        instance
                            .grant
                            .as_ref()
                            .map_or(instance.version.clone(), |g| g.target.clone()),
                    ),
                    _ => (3, 9, instance.version.clone()),
                };
                let event = Event {
                    event_type,
                    event_result,
                    error_code: None,
                    version,
                    previous_version: None,
                };
                let out = state.record_event(&policy, instance, &event, at(now));
                check_attempts(&out.effects, &mut ring, &mut model_paused)?;
            }
        }
        // In flight never above the cap.
        if let Some(cap) = p.max_in_flight {
            prop_assert!(state.in_flight() <= cap as usize);
        }
        // Expired grants have freed their slots.
        let high = state.high_water().expect("time has been seen");
        for g in state.grants() {
            prop_assert!(
                g.expires_at.is_none_or(|e| e > high),
                "expired grant kept: {g:?}"
            );
        }
        // The rate window is bounded by the count.
        prop_assert!(state.grant_times().len() <= p.count as usize);
        prop_assert_eq!(state.auto_pause().is_some(), model_paused);
    }
    Ok(trace)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rollout_invariants(p in params(), ops in prop::collection::vec(op(), 1..200)) {
        let trace = run(&p, &ops)?;
        // Never more than update_count scheduled grants in any window of update_interval.
        let mut times = trace.scheduled_grants.clone();
        times.sort();
        let interval = SignedDuration::from_secs(p.interval as i64);
        for w in times.windows(p.count as usize + 1) {
            prop_assert!(
                w[0].duration_until(w[p.count as usize]) >= interval,
                "{} grants within {}s: {:?}", p.count + 1, p.interval, w
            );
        }
        // Deterministic: the same inputs give the same decisions.
        prop_assert_eq!(run(&p, &ops)?, trace);
    }

    #[test]
    fn percent_is_monotone(machine in ".{0,40}", version in 0usize..4, a in 0.0f64..=100.0, b in 0.0f64..=100.0) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let pos = position(&machine, &v(VERSIONS[version]));
        let lo = Percent::new(lo).expect("in range");
        let hi = Percent::new(hi).expect("in range");
        prop_assert!(!lo.admits(pos) || hi.admits(pos));
        prop_assert!(Percent::FULL.admits(pos));
        prop_assert!(!Percent::ZERO.admits(pos));
    }

    #[test]
    fn percent_through_decide_is_monotone(machine in "[a-f0-9]{32}", a in 0.0f64..=100.0, b in 0.0f64..=100.0) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let target = v("1.1.0");
        let channel = Channel { name: "c".into(), target: Some(target.clone()) };
        let package = Package { version: target, url: "https://example.com/".into(), size: 1, sha256: [0; 32] };
        let check = Check { channel: &channel, package: Some(&package), install_source: InstallSource::Scheduler };
        let decide = |p: f64| {
            let policy = Policy::new(PolicyConfig { update_percent: p, ..PolicyConfig::default() })
                .expect("valid");
            let mut instance = Instance::new(machine.as_str(), v("1.0.0"), "");
            RolloutState::new().decide(&policy, &mut instance, &check, at(0)).decision.is_update()
        };
        prop_assert!(!decide(lo) || decide(hi));
    }

    #[test]
    fn expired_grants_free_their_slot(timeout in 1u64..10_000, start in 0i64..1_000_000) {
        let policy = Policy::new(PolicyConfig {
            max_in_flight: Some(1),
            update_timeout_secs: Some(timeout),
            ..PolicyConfig::default()
        }).expect("valid");
        let target = v("1.1.0");
        let channel = Channel { name: "c".into(), target: Some(target.clone()) };
        let package = Package { version: target, url: "https://example.com/".into(), size: 1, sha256: [0; 32] };
        let check = Check { channel: &channel, package: Some(&package), install_source: InstallSource::Scheduler };
        let mut state = RolloutState::new();
        let mut a = Instance::new("a", v("1.0.0"), "");
        let mut b = Instance::new("b", v("1.0.0"), "");
        prop_assert!(state.decide(&policy, &mut a, &check, at(start)).decision.is_update());
        let t = timeout as i64;
        prop_assert_eq!(
            state.decide(&policy, &mut b, &check, at(start + t - 1)).decision,
            Decision::NoUpdate { reason: Reason::InFlightCap { limit: 1 } }
        );
        let out = state.decide(&policy, &mut b, &check, at(start + t));
        prop_assert!(out.decision.is_update());
        prop_assert_eq!(out.effects.released.len(), 1);
        prop_assert!(state.grant(&MachineId::new("a")).is_none());
        prop_assert!(a.grant.is_some(), "a's mirror is only updated when a is seen");
        state.decide(&policy, &mut a, &check, at(start + t));
        prop_assert!(a.grant.is_none());
    }
}

fn version_string() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(0u64..2000, 1..6),
        prop::option::of(prop::collection::vec(
            prop_oneof![
                "[0-9]{1,3}".prop_filter("no leading zero", |s| s == "0" || !s.starts_with('0')),
                "[a-z][a-z0-9-]{0,5}"
            ],
            1..4,
        )),
        prop::option::of("[a-z0-9]{1,6}"),
    )
        .prop_map(|(release, pre, build)| {
            let mut s = release
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".");
            if let Some(pre) = pre {
                s.push('-');
                s.push_str(&pre.join("."));
            }
            if let Some(build) = build {
                s.push('+');
                s.push_str(&build);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn version_parse_never_panics(s in "\\PC{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Version::parse(&s);
        let _ = Version::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn versions_round_trip_and_order_totally(a in version_string(), b in version_string(), c in version_string()) {
        let (va, vb, vc) = (v(&a), v(&b), v(&c));
        prop_assert_eq!(v(&va.to_string()), va.clone());
        prop_assert_eq!(va.to_string(), a);
        // Antisymmetric and consistent with equality.
        prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
        prop_assert_eq!(va == vb, va.cmp(&vb) == std::cmp::Ordering::Equal);
        // Transitive.
        if va <= vb && vb <= vc {
            prop_assert!(va <= vc);
        }
    }
}
