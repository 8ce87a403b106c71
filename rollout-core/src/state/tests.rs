//! Table tests of `decide` and `record_event`, all through one `check` helper.
//!
//! A case is a policy, a history of steps run against a fresh state, and a probe whose
//! decision is rendered to a short string. Step and probe syntax (space separated):
//!
//! ```text
//! MACHINE@SECONDS [v=VERSION] [oem=OEM] [ondemand] [target=VERSION|none] [nopackage|nopayload]
//! MACHINE@SECONDS event=TYPE/RESULT [v=VERSION] [code=N] [prev=VERSION]
//! resume@SECONDS
//! ```
//!
//! Seconds count from Friday 2026-11-27T00:00:00Z. Instances start on 1.0.0; the channel
//! points at 1.1.0. Decisions render as `update 1.1.0 [rollback] [reissued]` or
//! `REASON [detail]`, with times as seconds from the same base.

use std::collections::BTreeMap;

use jiff::civil::Weekday;
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::{
    AutoPauseConfig, Channel, FailureThreshold, Frame, MaintenanceConfig, Package, PolicyConfig,
    RateLimitConfig, RolloutConfig, WindowConfig,
};

fn base() -> Timestamp {
    "2026-11-27T00:00:00Z".parse().expect("valid base time")
}

fn at(secs: i64) -> Timestamp {
    base()
        .checked_add(SignedDuration::from_secs(secs))
        .expect("in range")
}

fn secs(t: Timestamp) -> i64 {
    t.duration_since(base()).as_secs()
}

fn v(s: &str) -> Version {
    Version::parse(s).expect("test version parses")
}

struct World {
    policy: Policy,
    state: RolloutState,
    instances: BTreeMap<String, Instance>,
    log: Vec<String>,
}

impl World {
    fn new(config: PolicyConfig) -> Self {
        Self {
            policy: Policy::new(config).expect("test policy is valid"),
            state: RolloutState::new(),
            instances: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// Runs one step; returns the rendered decision or event outcome.
    fn step(&mut self, spec: &str) -> String {
        let mut words = spec.split_whitespace();
        let head = words.next().expect("a step names a machine");
        let (machine, t) = head.split_once('@').expect("MACHINE@SECONDS");
        let now = at(t.parse().expect("seconds"));
        if machine == "resume" {
            return format!("resumed={}", self.state.resume());
        }
        let mut version = None;
        let mut oem = None;
        let mut source = InstallSource::Scheduler;
        let mut target = Some(v("1.1.0"));
        let mut package = true;
        let mut payload = true;
        let mut event = None;
        let mut code = None;
        let mut previous = None;
        for word in words {
            match word.split_once('=') {
                Some(("v", x)) => version = Some(v(x)),
                Some(("oem", x)) => oem = Some(x.to_owned()),
                Some(("target", "none")) => target = None,
                Some(("target", x)) => target = Some(v(x)),
                Some(("event", x)) => {
                    let (t, r) = x.split_once('/').expect("TYPE/RESULT");
                    event = Some((t.parse().expect("type"), r.parse().expect("result")));
                }
                Some(("code", x)) => code = Some(x.parse().expect("code")),
                Some(("prev", x)) => previous = Some(v(x)),
                None if word == "ondemand" => source = InstallSource::OnDemand,
                None if word == "nopackage" => package = false,
                None if word == "nopayload" => payload = false,
                _ => panic!("unknown word {word:?} in {spec:?}"),
            }
        }
        let instance = self
            .instances
            .entry(machine.to_owned())
            .or_insert_with(|| Instance::new(machine, v("1.0.0"), ""));
        if let Some(oem) = oem {
            instance.oem = oem;
        }
        if let Some((event_type, event_result)) = event {
            let event = Event {
                event_type,
                event_result,
                error_code: code,
                version: version.unwrap_or_else(|| instance.version.clone()),
                previous_version: previous,
            };
            let outcome = self.state.record_event(&self.policy, instance, &event, now);
            let mut out = format!("{:?}", outcome.transition);
            if outcome.check_in {
                out.push_str(" check_in");
            }
            if let Some(p) = outcome.effects.auto_pause {
                out.push_str(&format!(
                    " auto_pause@{} {}/{}",
                    secs(p.at),
                    p.failures,
                    p.attempts
                ));
            }
            self.log.push(out.clone());
            return out;
        }
        if let Some(version) = version {
            instance.version = version;
        }
        let package = target.clone().filter(|_| package).map(|version| Package {
            version,
            url: if payload {
                "https://example.com/".into()
            } else {
                String::new()
            },
            size: 1,
            sha256: [0; 32],
        });
        let channel = Channel {
            name: "stable".into(),
            target,
        };
        let check = Check {
            channel: &channel,
            package: package.as_ref(),
            install_source: source,
        };
        let outcome = self.state.decide(&self.policy, instance, &check, now);
        let out = render(&outcome.decision);
        self.log.push(out.clone());
        out
    }
}

fn render(d: &Decision) -> String {
    match d {
        Decision::Update {
            target,
            rollback,
            reissued,
        } => {
            let mut s = format!("update {target}");
            if *rollback {
                s.push_str(" rollback");
            }
            if *reissued {
                s.push_str(" reissued");
            }
            s
        }
        Decision::NoUpdate { reason } => match reason {
            Reason::RateLimited { until } => format!("rate_limited until={}", secs(*until)),
            Reason::NotInPercent { percent } => format!("not_in_percent {}", percent.get()),
            Reason::InFlightCap { limit } => format!("in_flight_cap {limit}"),
            Reason::OutsideWindow { opens_at } => {
                format!("outside_window opens={:?}", opens_at.map(secs))
            }
            Reason::AutoPaused { since } => format!("auto_paused since={}", secs(*since)),
            Reason::RetryingAfterFailure { until } => {
                format!("retrying_after_failure until={}", secs(*until))
            }
            other => other.as_str().to_owned(),
        },
    }
}

/// Runs `history` against a fresh state under `config`, then `probe`, and compares the
/// probe's rendered outcome with `expect`.
#[track_caller]
fn check(config: PolicyConfig, history: &[&str], probe: &str, expect: &str) -> World {
    let mut world = World::new(config);
    for step in history {
        world.step(step);
    }
    let got = world.step(probe);
    assert_eq!(
        got, expect,
        "probe {probe:?} after {history:?} (log {:?})",
        world.log
    );
    world
}

fn rate(count: u32, interval: u64) -> PolicyConfig {
    PolicyConfig {
        rate_limit: Some(RateLimitConfig {
            update_count: count,
            update_interval_secs: interval,
        }),
        ..PolicyConfig::default()
    }
}

#[test]
fn channel_and_version_rules() {
    let open = PolicyConfig::default;
    check(open(), &[], "a@0", "update 1.1.0");
    check(open(), &[], "a@0 v=1.1.0", "up_to_date");
    check(open(), &[], "a@0 v=1.2.0", "ahead_of_target");
    check(open(), &[], "a@0 target=none", "no_target");
    check(open(), &[], "a@0 nopackage", "no_package");
    check(open(), &[], "a@0 nopayload", "payload_missing");
    check(open(), &[], "a@0 v=1.1.0 nopayload", "up_to_date");
    // Up to date wins over a missing package and over pause.
    check(
        PolicyConfig {
            paused: true,
            ..open()
        },
        &[],
        "a@0 v=1.1.0 nopackage",
        "up_to_date",
    );
    // Dotted numeric versions.
    check(
        open(),
        &[],
        "a@0 v=1235.4.0 target=1235.10.0",
        "update 1235.10.0",
    );
    check(open(), &[], "a@0 v=1.2.3.4 target=1.2.3", "ahead_of_target");
}

#[test]
fn rollback_only_when_allowed() {
    let allow = PolicyConfig {
        allow_downgrade: true,
        ..PolicyConfig::default()
    };
    check(allow.clone(), &[], "a@0 v=1.2.0", "update 1.1.0 rollback");
    check(
        allow,
        &["a@0 v=1.2.0"],
        "a@5",
        "update 1.1.0 rollback reissued",
    );
}

#[test]
fn pause_holds_for_on_demand_checks() {
    let paused = PolicyConfig {
        paused: true,
        ..PolicyConfig::default()
    };
    check(paused.clone(), &[], "a@0", "paused");
    check(paused, &[], "a@0 ondemand", "paused");
}

#[test]
fn oem_blacklist() {
    let cfg = PolicyConfig {
        oem_blacklist: vec!["ami".into()],
        ..PolicyConfig::default()
    };
    check(cfg.clone(), &[], "a@0 oem=AMI", "blacklisted");
    check(cfg.clone(), &[], "a@0 oem=ami ondemand", "blacklisted");
    check(cfg, &[], "a@0 oem=gce", "update 1.1.0");
}

#[test]
fn rate_limit_two_per_minute() {
    let h = ["a@0", "b@10"];
    check(rate(2, 60), &h, "c@20", "rate_limited until=60");
    check(rate(2, 60), &h, "c@59", "rate_limited until=60");
    check(rate(2, 60), &h, "c@60", "update 1.1.0");
    check(
        rate(2, 60),
        &["a@0", "b@10", "c@60"],
        "d@69",
        "rate_limited until=70",
    );
    check(
        rate(2, 60),
        &["a@0", "b@10", "c@60"],
        "d@70",
        "update 1.1.0",
    );
    // A refused check consumes nothing.
    check(
        rate(2, 60),
        &["a@0", "b@10", "c@20", "c@30"],
        "c@60",
        "update 1.1.0",
    );
}

#[test]
fn on_demand_bypasses_rate_percent_and_window_but_not_the_cap() {
    check(rate(1, 60), &["a@0"], "b@1 ondemand", "update 1.1.0");
    // An on-demand grant does not use rate capacity.
    check(rate(1, 60), &["a@0 ondemand"], "b@1", "update 1.1.0");
    let zero = PolicyConfig {
        update_percent: 0.0,
        ..PolicyConfig::default()
    };
    check(zero.clone(), &[], "a@0", "not_in_percent 0");
    check(zero, &[], "a@0 ondemand", "update 1.1.0");
    let capped = PolicyConfig {
        max_in_flight: Some(1),
        ..PolicyConfig::default()
    };
    check(capped, &["a@0"], "b@1 ondemand", "in_flight_cap 1");
}

#[test]
fn repeated_checks_are_idempotent() {
    let w = check(rate(1, 60), &["a@0"], "a@5", "update 1.1.0 reissued");
    assert_eq!(w.state.grant_times().count(), 1);
    assert_eq!(w.state.in_flight(), 1);
    // Still reissued while rate limited, and it leaves capacity alone.
    check(
        rate(1, 60),
        &["a@0", "a@5"],
        "b@10",
        "rate_limited until=60",
    );
}

#[test]
fn stale_grant_is_replaced_when_the_channel_moves() {
    let cfg = PolicyConfig {
        max_in_flight: Some(1),
        ..PolicyConfig::default()
    };
    // a holds a grant for 1.1.0; the channel moves to 1.2.0: a's old grant is replaced
    // and a gets a fresh grant for 1.2.0, using the freed slot.
    let w = check(cfg.clone(), &["a@0"], "a@5 target=1.2.0", "update 1.2.0");
    let grant = w
        .state
        .grant(&MachineId::new("a"))
        .expect("a holds a grant");
    assert_eq!(grant.target, v("1.2.0"));
    assert_eq!(grant.granted_at, at(5));
    // Until a checks again (or its grant expires), its stale grant keeps the slot.
    check(
        cfg,
        &["a@0", "b@1 target=1.2.0"],
        "b@2 target=1.2.0",
        "in_flight_cap 1",
    );
}

#[test]
fn in_flight_cap_and_completion_free_slots() {
    let cfg = PolicyConfig {
        max_in_flight: Some(2),
        ..PolicyConfig::default()
    };
    check(cfg.clone(), &["a@0", "b@0"], "c@1", "in_flight_cap 2");
    check(
        cfg.clone(),
        &["a@0", "b@0", "a@10 event=3/2 v=1.1.0"],
        "c@11",
        "update 1.1.0",
    );
    check(
        cfg.clone(),
        &["a@0", "b@0", "a@10 event=3/0 code=2503"],
        "c@11",
        "update 1.1.0",
    );
    // A check reporting the target completes the grant too.
    check(cfg, &["a@0", "b@0", "a@10 v=1.1.0"], "c@11", "update 1.1.0");
}

#[test]
fn update_timeout_frees_the_slot() {
    let cfg = PolicyConfig {
        max_in_flight: Some(1),
        update_timeout_secs: Some(300),
        ..PolicyConfig::default()
    };
    check(cfg.clone(), &["a@0"], "b@299", "in_flight_cap 1");
    let w = check(cfg.clone(), &["a@0"], "b@300", "update 1.1.0");
    assert!(w.state.grant(&MachineId::new("a")).is_none());
    // An expired grant is not reissued: the instance competes again.
    check(cfg, &["a@0", "b@300"], "a@301", "in_flight_cap 1");
}

#[test]
fn percent_is_stable_and_monotone() {
    let pct = |p| PolicyConfig {
        update_percent: p,
        ..PolicyConfig::default()
    };
    // fake-client-000's position for 1.1.0 is 0x839b... ≈ 51.4 %.
    check(pct(51.0), &[], "fake-client-000@0", "not_in_percent 51");
    check(pct(52.0), &[], "fake-client-000@0", "update 1.1.0");
    check(pct(100.0), &[], "fake-client-000@0", "update 1.1.0");
}

#[test]
fn timed_rollout_sets_the_percent() {
    let cfg = PolicyConfig {
        update_percent: 0.0,
        rollout: Some(RolloutConfig {
            frames: vec![
                Frame {
                    percent: 50.0,
                    duration_secs: 60,
                },
                Frame {
                    percent: 100.0,
                    duration_secs: 0,
                },
            ],
            active_since: Some(at(100)),
        }),
        ..PolicyConfig::default()
    };
    check(cfg.clone(), &[], "fake-client-000@99", "not_in_percent 0");
    check(cfg.clone(), &[], "fake-client-000@100", "not_in_percent 50");
    check(cfg, &[], "fake-client-000@160", "update 1.1.0");
}

#[test]
fn maintenance_window() {
    let cfg = PolicyConfig {
        maintenance: Some(MaintenanceConfig {
            time_zone: "Europe/Berlin".into(),
            windows: vec![WindowConfig {
                weekdays: vec![Weekday::Friday],
                start_hour: 2,
                end_hour: 4,
            }],
        }),
        ..PolicyConfig::default()
    };
    // Friday 02:00 Berlin is 01:00 UTC, 3600 s after the base.
    check(
        cfg.clone(),
        &[],
        "a@3599",
        "outside_window opens=Some(3600)",
    );
    check(cfg.clone(), &[], "a@3600", "update 1.1.0");
    check(
        cfg.clone(),
        &[],
        "a@10800",
        "outside_window opens=Some(608400)",
    );
    check(cfg, &[], "a@10800 ondemand", "update 1.1.0");
}

fn auto_pause(failures: u32, of: u32) -> PolicyConfig {
    PolicyConfig {
        auto_pause: Some(AutoPauseConfig {
            threshold: FailureThreshold::Count(failures),
            last_attempts: of,
            count_timeouts: true,
        }),
        update_timeout_secs: Some(600),
        ..PolicyConfig::default()
    }
}

#[test]
fn automatic_pause_fires_at_the_threshold() {
    let history = [
        "a@0",
        "b@0",
        "c@0",
        "a@10 event=3/0 code=10",
        "b@10 event=3/2 v=1.1.0",
    ];
    let w = check(
        auto_pause(2, 3),
        &history,
        "c@20 event=3/0",
        "Changed { from: Granted, to: Error(ErrorCode(0)) } auto_pause@20 2/3",
    );
    assert_eq!(w.state.auto_pause().map(|p| p.failures), Some(2));
    let mut history = history.to_vec();
    history.push("c@20 event=3/0");
    check(auto_pause(2, 3), &history, "d@30", "auto_paused since=20");
    check(
        auto_pause(2, 3),
        &history,
        "d@30 ondemand",
        "auto_paused since=20",
    );
    history.push("resume@40");
    check(auto_pause(2, 3), &history, "d@41", "update 1.1.0");
}

#[test]
fn automatic_pause_counts_timeouts_when_asked() {
    // Two grants time out at 600; with count_timeouts the second one pauses the group.
    check(
        auto_pause(2, 5),
        &["a@0", "b@0"],
        "c@600",
        "auto_paused since=600",
    );
    let mut cfg = auto_pause(2, 5);
    if let Some(ap) = cfg.auto_pause.as_mut() {
        ap.count_timeouts = false;
    }
    check(cfg, &["a@0", "b@0"], "c@600", "update 1.1.0");
}

#[test]
fn failures_outside_the_ring_do_not_count() {
    // 2 of the last 3: fail, ok, ok, fail does not pause (only one failure in the ring).
    let history = [
        "a@0",
        "b@0",
        "c@0",
        "d@0",
        "a@1 event=3/0",
        "b@2 event=3/2 v=1.1.0",
        "c@3 event=3/2 v=1.1.0",
        "d@4 event=3/0",
    ];
    check(auto_pause(2, 3), &history, "e@5", "update 1.1.0");
}

#[test]
fn event_transitions() {
    let open = PolicyConfig::default;
    check(
        open(),
        &["a@0"],
        "a@1 event=13/1",
        "Changed { from: Granted, to: Downloading }",
    );
    check(
        open(),
        &["a@0", "a@1 event=13/1"],
        "a@2 event=14/1",
        "Changed { from: Downloading, to: Downloaded }",
    );
    check(
        open(),
        &["a@0"],
        "a@1 event=3/1",
        "Changed { from: Granted, to: Installed }",
    );
    check(
        open(),
        &["a@0"],
        "a@1 event=800/1",
        "Changed { from: Granted, to: InstalledHeld }",
    );
    check(open(), &["a@0"], "a@1 event=3/9 code=36", "Unrecognized");
    // The routine 3/2 of an instance still on its old version leaves the status alone.
    check(
        open(),
        &["a@0", "a@1 event=13/1"],
        "a@2 event=3/2 v=1.0.0",
        "Unchanged check_in",
    );
}

/// update_engine's 3/2 on every check: completion or check-in, by (history, probe).
#[test]
fn completions_and_check_ins() {
    let open = PolicyConfig::default;
    let cases: &[(&[&str], &str, &str)] = &[
        // A routine 3/2 (previousversion="", same version, no grant) moves nothing.
        (&[], "a@0 event=3/2 v=1.0.0", "Unchanged check_in"),
        (
            &[],
            "a@0 event=3/2 v=1.0.0 prev=1.0.0",
            "Unchanged check_in",
        ),
        (
            &["a@0 event=3/2 v=1.0.0"],
            "a@1 event=3/2 v=1.0.0",
            "Unchanged check_in",
        ),
        // It completes the grant it reports.
        (
            &["a@0"],
            "a@1 event=3/2 v=1.1.0",
            "Changed { from: Granted, to: Complete }",
        ),
        // Without a grant: a newer version than the stored one, or previousversion older.
        (
            &[],
            "a@0 event=3/2 v=1.2.0",
            "Changed { from: Unknown, to: Complete }",
        ),
        (
            &[],
            "a@0 event=3/2 v=1.0.0 prev=0.9.0",
            "Changed { from: Unknown, to: Complete }",
        ),
        // A previousversion above the reported one is no completion (a rollback report).
        (
            &[],
            "a@0 event=3/2 v=1.0.0 prev=1.1.0",
            "Unchanged check_in",
        ),
        // An error stays through routine check-ins...
        (
            &["a@0", "a@1 event=3/0 code=7"],
            "a@2 event=3/2 v=1.0.0",
            "Unchanged check_in",
        ),
        // ...until a completion arrives.
        (
            &["a@0", "a@1 event=3/0 code=7"],
            "a@2 event=3/2 v=1.1.0 prev=1.0.0",
            "Changed { from: Error(ErrorCode(7)), to: Complete }",
        ),
    ];
    for (history, probe, expect) in cases {
        check(open(), history, probe, expect);
    }
    // The error also ends when the next attempt starts (a new grant, after the delay).
    let w = check(
        open(),
        &["a@0", "a@1 event=3/0 code=7", "a@2 event=3/2 v=1.0.0"],
        "a@3601",
        "update 1.1.0",
    );
    assert_eq!(w.instances["a"].status, InstanceStatus::Granted);
}

fn retry(initial_secs: u64, max_secs: u64) -> PolicyConfig {
    PolicyConfig {
        retry_delay: Some(crate::RetryDelayConfig {
            initial_secs,
            max_secs,
        }),
        ..PolicyConfig::default()
    }
}

#[test]
fn failed_instances_back_off_per_consecutive_failure() {
    let policy = retry(100, 250);
    // A failure (rollback code 44 included) is not re-offered in the same exchange.
    check(
        policy.clone(),
        &["a@0", "a@10 event=3/0 code=44"],
        "a@10",
        "retrying_after_failure until=110",
    );
    check(
        policy.clone(),
        &["a@0", "a@10 event=3/0 code=44"],
        "a@109",
        "retrying_after_failure until=110",
    );
    check(
        policy.clone(),
        &["a@0", "a@10 event=3/0 code=44"],
        "a@110",
        "update 1.1.0",
    );
    // The delay doubles per consecutive failure, up to its maximum.
    let two = ["a@0", "a@10 event=3/0", "a@110", "a@120 event=3/0"];
    check(
        policy.clone(),
        &two,
        "a@319",
        "retrying_after_failure until=320",
    );
    let mut three = two.to_vec();
    three.extend(["a@320", "a@330 event=3/0"]);
    check(
        policy.clone(),
        &three,
        "a@579",
        "retrying_after_failure until=580",
    );
    // Another version is not held back; on-demand checks are not either.
    check(
        policy.clone(),
        &["a@0", "a@10 event=3/0"],
        "a@20 target=1.2.0",
        "update 1.2.0",
    );
    check(
        policy.clone(),
        &["a@0", "a@10 event=3/0"],
        "a@20 ondemand",
        "update 1.1.0",
    );
    // A completion clears it: the next failure starts from the first delay again.
    let w = check(
        policy.clone(),
        &["a@0", "a@10 event=3/0", "a@110", "a@120 event=3/2 v=1.1.0"],
        "b@130",
        "update 1.1.0",
    );
    assert_eq!(w.instances["a"].backoff, None);
    // Turned off, a failed instance is offered the update again at once.
    let off = PolicyConfig {
        retry_delay: None,
        ..PolicyConfig::default()
    };
    check(off, &["a@0", "a@10 event=3/0"], "a@10", "update 1.1.0");
}

#[test]
fn backoff_is_reported_as_an_instance_change() {
    let mut w = World::new(retry(60, 60));
    w.step("a@0");
    w.step("a@1 event=3/0 code=2000");
    let a = &w.instances["a"];
    assert_eq!(
        a.backoff,
        Some(Backoff {
            failures: 1,
            until: at(61),
            version: Some(v("1.1.0")),
        })
    );
}

#[test]
fn event_outcomes_update_instance_and_state() {
    let mut w = World::new(PolicyConfig::default());
    w.step("a@0");
    let a = w.instances.get("a").expect("a exists");
    assert_eq!(a.status, InstanceStatus::Granted);
    assert_eq!(
        a.grant,
        Some(InstanceGrant {
            target: v("1.1.0"),
            granted_at: at(0)
        })
    );
    w.step("a@5 event=3/0 code=268437959");
    let a = w.instances.get("a").expect("a exists");
    assert_eq!(a.status, InstanceStatus::Error(ErrorCode(268_437_959)));
    assert!(a.grant.is_none());
    assert_eq!(w.state.in_flight(), 0);
    w.step("a@6");
    w.step("a@9 event=3/2 v=1.1.0");
    let a = w.instances.get("a").expect("a exists");
    assert_eq!(a.status, InstanceStatus::Complete);
    assert_eq!(a.version, v("1.1.0"));
}

#[test]
fn effects_report_what_to_persist() {
    let policy = Policy::new(PolicyConfig {
        update_timeout_secs: Some(60),
        ..rate(1, 60)
    })
    .expect("valid");
    let mut state = RolloutState::new();
    let channel = Channel {
        name: "s".into(),
        target: Some(v("1.1.0")),
    };
    let package = Package {
        version: v("1.1.0"),
        url: "https://example.com/".into(),
        size: 0,
        sha256: [0; 32],
    };
    let check = Check {
        channel: &channel,
        package: Some(&package),
        install_source: InstallSource::Scheduler,
    };
    let mut a = Instance::new("a", v("1.0.0"), "");
    let first = state.decide(&policy, &mut a, &check, at(0));
    let granted = first.effects.granted.clone().expect("granted");
    assert_eq!(granted.expires_at, Some(at(60)));
    assert!(granted.scheduled);
    assert!(first.instance_changed);
    let again = state.decide(&policy, &mut a, &check, at(1));
    assert!(again.effects.is_empty());
    assert!(!again.instance_changed);
    let mut b = Instance::new("b", v("1.0.0"), "");
    let later = state.decide(&policy, &mut b, &check, at(60));
    assert_eq!(later.effects.released.len(), 1);
    assert_eq!(later.effects.released[0].reason, ReleaseReason::Expired);
    assert!(later.effects.granted.is_some());
    // The state survives a round trip through its parts.
    let restored = RolloutState::from_parts(state.to_parts());
    assert_eq!(restored, state);
}

#[test]
fn clock_skew_never_reopens_the_rate_window() {
    // A replica with a slow clock asks at 30 after a grant at 100: time is read as 100.
    check(rate(1, 60), &["a@100"], "b@30", "rate_limited until=160");
}
