//! The fleet simulator: instances that check in on a virtual clock, install what they are
//! granted and report events, against one group's policy and rollout state.
//!
//! Time is whole seconds from a fixed base; a binary heap orders the pending actions by
//! (time, sequence), so runs are deterministic. Nothing sleeps or reads a clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use jiff::Timestamp;
use rollout_core::{
    Attempt, AutoPause, Channel, Check, Decision, Event, InstallSource, Instance, Package, Policy,
    Reason, RolloutState, Version,
};

/// A deterministic pseudo-random generator (SplitMix64), so the simulator needs no `rand`.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo + 1) as u64;
        lo + (self.next_u64() % span) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / ((1u64 << 53) as f64)) < p
    }
}

/// The virtual clock's epoch: second 0 of every simulation.
pub fn base() -> Timestamp {
    "2026-11-27T00:00:00Z".parse().expect("valid base")
}

pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(base().as_second() + secs).expect("in range")
}

pub fn secs(t: Timestamp) -> i64 {
    t.as_second() - base().as_second()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    Check,
    DownloadStarted,
    DownloadFinished,
    Installed,
    Rebooted,
    Failed,
}

/// How instances behave.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Seconds between two checks, inclusive range.
    pub check_every: (i64, i64),
    /// Probability that an install fails (reported as 3/0).
    pub fail_rate: f64,
}

/// One grant the simulation observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantSeen {
    pub at: i64,
    pub instance: usize,
}

pub struct Fleet {
    pub policy: Policy,
    pub state: RolloutState,
    pub instances: Vec<Instance>,
    channel: Channel,
    package: Package,
    behaviour: Behaviour,
    rng: SplitMix64,
    queue: BinaryHeap<Reverse<(i64, u64, usize, Action)>>,
    seq: u64,
    pub now: i64,
    /// New grants (reissues excluded), in order.
    pub grants: Vec<GrantSeen>,
    /// Attempt outcomes in the order the engine recorded them.
    pub attempts: Vec<Attempt>,
    /// The automatic pause, when it fired, and the indices in `attempts` of the attempts
    /// recorded by the call that fired it.
    pub auto_pause: Option<(AutoPause, std::ops::Range<usize>)>,
    /// Decisions after the automatic pause fired.
    pub decisions_after_pause: Vec<Decision>,
    pub checks: u64,
}

impl Fleet {
    pub fn new(policy: Policy, size: usize, behaviour: Behaviour, seed: u64) -> Self {
        let target = Version::parse("1.1.0").expect("valid");
        let mut fleet = Self {
            policy,
            state: RolloutState::new(),
            instances: (0..size)
                .map(|i| {
                    Instance::new(
                        format!("{:032x}", i as u128 * 0x9E37_79B9_7F4A_7C15_u128),
                        Version::parse("1.0.0").expect("valid"),
                        "",
                    )
                })
                .collect(),
            channel: Channel {
                name: "stable".into(),
                target: Some(target.clone()),
            },
            package: Package {
                version: target,
                url: "https://updates.example.com/1.1.0/".into(),
                size: 1 << 20,
                sha256: [7; 32],
            },
            behaviour,
            rng: SplitMix64::new(seed),
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0,
            grants: Vec::new(),
            attempts: Vec::new(),
            auto_pause: None,
            decisions_after_pause: Vec::new(),
            checks: 0,
        };
        // First checks spread over one check interval.
        let (lo, hi) = fleet.behaviour.check_every;
        for i in 0..size {
            let t = fleet.rng.range(0, hi - lo.min(hi));
            fleet.schedule(t, i, Action::Check);
        }
        fleet
    }

    fn schedule(&mut self, t: i64, instance: usize, action: Action) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, instance, action)));
    }

    fn next_check(&mut self, instance: usize) {
        let (lo, hi) = self.behaviour.check_every;
        let t = self.now + self.rng.range(lo, hi);
        self.schedule(t, instance, Action::Check);
    }

    fn note(&mut self, effects: &rollout_core::Effects) {
        let first = self.attempts.len();
        self.attempts.extend_from_slice(&effects.attempts);
        if let Some(p) = effects.auto_pause {
            self.auto_pause = Some((p, first..self.attempts.len()));
        }
    }

    fn event(&mut self, i: usize, event_type: u32, event_result: u32, version: Version) {
        let event = Event {
            event_type,
            event_result,
            error_code: (event_result == 0).then_some(268_437_959),
            version,
            previous_version: None,
        };
        let out =
            self.state
                .record_event(&self.policy, &mut self.instances[i], &event, at(self.now));
        let effects = out.effects;
        self.note(&effects);
    }

    /// Runs every action scheduled before `end` (exclusive).
    pub fn run_until(&mut self, end: i64) {
        while let Some(&Reverse((t, _, i, action))) = self.queue.peek() {
            if t >= end {
                break;
            }
            self.queue.pop();
            self.now = t;
            match action {
                Action::Check => self.check(i),
                Action::DownloadStarted => {
                    let v = self.instances[i].version.clone();
                    self.event(i, 13, 1, v);
                    let d = self.rng.range(5, 30);
                    self.schedule(t + d, i, Action::DownloadFinished);
                }
                Action::DownloadFinished => {
                    let v = self.instances[i].version.clone();
                    self.event(i, 14, 1, v);
                    let d = self.rng.range(5, 30);
                    if self.rng.chance(self.behaviour.fail_rate) {
                        self.schedule(t + d, i, Action::Failed);
                    } else {
                        self.schedule(t + d, i, Action::Installed);
                    }
                }
                Action::Installed => {
                    let v = self.instances[i].version.clone();
                    self.event(i, 3, 1, v);
                    let d = self.rng.range(10, 60);
                    self.schedule(t + d, i, Action::Rebooted);
                }
                Action::Rebooted => {
                    let v = self.package.version.clone();
                    self.event(i, 3, 2, v);
                    self.next_check(i);
                }
                Action::Failed => {
                    let v = self.instances[i].version.clone();
                    self.event(i, 3, 0, v);
                    self.next_check(i);
                }
            }
        }
        self.now = end;
    }

    fn check(&mut self, i: usize) {
        self.checks += 1;
        let check = Check {
            channel: &self.channel,
            package: Some(&self.package),
            install_source: InstallSource::Scheduler,
        };
        let out = self
            .state
            .decide(&self.policy, &mut self.instances[i], &check, at(self.now));
        self.note(&out.effects);
        if self.auto_pause.is_some() {
            self.decisions_after_pause.push(out.decision.clone());
        }
        match out.decision {
            Decision::Update {
                reissued: false, ..
            } => {
                self.grants.push(GrantSeen {
                    at: self.now,
                    instance: i,
                });
                let d = self.rng.range(1, 5);
                self.schedule(self.now + d, i, Action::DownloadStarted);
            }
            Decision::Update { reissued: true, .. } => {
                unreachable!("instances do not check while installing")
            }
            Decision::NoUpdate {
                reason: Reason::UpToDate,
            } => {
                // Updated instances keep checking, as update_engine does.
                self.next_check(i);
            }
            Decision::NoUpdate { .. } => self.next_check(i),
        }
    }

    /// The number of instances that run the target.
    pub fn updated(&self) -> usize {
        let target = &self.package.version;
        self.instances
            .iter()
            .filter(|i| &i.version == target)
            .count()
    }
}
