//! A fleet simulation on a virtual clock, through HTTP against a real server on both
//! backends: 100 instances speaking update_engine's request shapes (a routine 3/2 with
//! `previousversion=""` on every check), a rate-limited rollout, 10 % of the installs
//! failing. The status counts, the events graph and the check-ins graph show exactly the
//! injected failures and completions; failed instances retry only after their delay; the
//! automatic pause fires at its threshold.

use crate::support::{APP, TestServer};
use omaha_proto::Request;
use omaha_proto::codes::UpdateCheckStatus;
use omaha_proto::request::{App, Event, Os};
use std::collections::BTreeMap;
use update_server::policy::{AutoPauseDoc, GroupPolicy};

const V1: &str = "/_ah/api/update/v1";
const FLEET: usize = 100;
/// A minute between checks; the rate limit grants 20 a minute.
const TICK: i64 = 60;
const RETRY: i64 = 600;
/// update_engine's "new rootfs verification error" (15) with flag bit 28, as a
/// self-hosted server receives it.
const INSTALL_ERROR: i64 = 0x1000_0000 | 15;

fn policy() -> GroupPolicy {
    GroupPolicy {
        update_pooling: true,
        update_count: 20,
        update_interval_secs: 60,
        auto_pause: Some(AutoPauseDoc {
            failures_count: Some(15),
            failures_percent: None,
            last_attempts: 200,
            count_timeouts: false,
        }),
        retry_delay_secs: RETRY as u64,
        retry_delay_max_secs: 3600,
        ..GroupPolicy::default()
    }
}

fn request(machine: &str, version: &str, app: impl FnOnce(App) -> App) -> Request {
    Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", &format!("{version}_x86_64")),
    )
    .with_app(app(App::new(&format!("{{{APP}}}"), version)
        .with_track("stable")
        .with_machine_id(machine)))
}

/// One simulated machine.
struct Machine {
    id: String,
    version: &'static str,
    /// Installs that will still fail.
    failures_left: u32,
    /// Installed, reboots into the new version before its next check.
    rebooting: bool,
    failed_at: Vec<i64>,
    granted_at: Vec<i64>,
}

#[derive(Default, Debug, PartialEq)]
struct Injected {
    checks: i64,
    completions: i64,
    failures: i64,
    installs: i64,
}

async fn simulate(server: TestServer) {
    server.move_channel("1.1.0").await;
    // Every tenth machine fails its first two installs.
    let mut fleet: Vec<Machine> = (0..FLEET)
        .map(|i| Machine {
            id: format!("fleet-{i:03}"),
            version: "1.0.0",
            failures_left: if i % 10 == 3 { 2 } else { 0 },
            rebooting: false,
            failed_at: Vec::new(),
            granted_at: Vec::new(),
        })
        .collect();
    let mut injected = Injected::default();
    let start = server.clock.now_secs();
    let mut paused_at = None;
    for tick in 0..15 {
        let now = start + tick * TICK;
        for m in &mut fleet {
            // A machine that installed reboots into the new version: its first check names
            // the version it came from; every other check is update_engine's routine one.
            let previous = if m.rebooting {
                m.rebooting = false;
                m.version = "1.1.0";
                injected.completions += 1;
                Some("1.0.0")
            } else {
                None
            };
            injected.checks += 1;
            let check = request(&m.id, m.version, |a| {
                a.with_ping().with_update_check(previous)
            });
            let (_, response) = server.omaha(&check).await;
            let granted = response.apps[0]
                .update_check
                .as_ref()
                .and_then(|u| u.status.clone())
                == Some(UpdateCheckStatus::Ok);
            if !granted {
                continue;
            }
            assert!(
                paused_at.is_none(),
                "{} granted after the automatic pause",
                m.id
            );
            if let Some(failed) = m.failed_at.last() {
                assert!(
                    now - failed >= RETRY,
                    "{} re-offered {}s after its failure",
                    m.id,
                    now - failed
                );
            }
            m.granted_at.push(now);
            for event in [
                Event::download_started(),
                Event::download_finished(),
                Event::update_installed(),
            ] {
                server
                    .omaha(&request(&m.id, m.version, |a| a.with_event(event)))
                    .await;
            }
            injected.installs += 1;
            if m.failures_left > 0 {
                // The post-install check fails: update_engine reports 3/0 and stays.
                m.failures_left -= 1;
                m.failed_at.push(now);
                injected.failures += 1;
                server
                    .omaha(&request(&m.id, m.version, |a| {
                        a.with_event(Event::error(INSTALL_ERROR))
                    }))
                    .await;
                if injected.failures == 15 {
                    paused_at = Some(now);
                }
            } else {
                m.rebooting = true;
            }
        }
        server.clock.advance_secs(TICK);
    }
    server.flush().await;

    // What was injected, as planned: every machine installed once, five failing machines
    // twice (their retries came after the delay), the pause at the fifteenth failure.
    assert_eq!(
        injected,
        Injected {
            checks: 15 * FLEET as i64,
            completions: 90,
            failures: 15,
            installs: 105,
        }
    );
    assert_eq!(paused_at, Some(start + 12 * TICK));
    let regranted: Vec<&str> = fleet
        .iter()
        .filter(|m| m.granted_at.len() == 2)
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(
        regranted,
        [
            "fleet-003",
            "fleet-013",
            "fleet-023",
            "fleet-033",
            "fleet-043"
        ]
    );

    // The status counts.
    let count = |status: &'static str| {
        let server = &server;
        async move {
            let (_, n) = server
                .api(
                    "GET",
                    &format!("{V1}/clientupdatecount?appId={APP}&groupId=stable&status={status}"),
                    None,
                )
                .await;
            n["count"].as_i64().unwrap()
        }
    };
    assert_eq!(count("complete").await, 90);
    assert_eq!(count("error").await, 10);
    assert_eq!(count("granted").await, 0);

    // The events graph (what `group events` prints) and the check-ins graph.
    let (_, events) = server
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/requests/events/0/0?resolution=86400"),
            None,
        )
        .await;
    let mut per_event: BTreeMap<String, i64> = BTreeMap::new();
    for item in events["items"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            item["type"].as_str().unwrap(),
            item["result"].as_str().unwrap()
        );
        for v in item["values"].as_array().unwrap() {
            *per_event.entry(key.clone()).or_default() +=
                v["count"].as_str().unwrap().parse::<i64>().unwrap();
        }
    }
    let expected: BTreeMap<String, i64> = [
        ("13/1", injected.installs),
        ("14/1", injected.installs),
        ("3/0", injected.failures),
        ("3/1", injected.installs),
        ("3/2", injected.completions),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(per_event, expected);
    let (_, check_ins) = server
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/requests/checkins/0/0?resolution=86400"),
            None,
        )
        .await;
    let total: i64 = check_ins["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["values"].as_array().unwrap().iter())
        .map(|v| v["count"].as_str().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, injected.checks - injected.completions);

    // The automatic pause: once, at its threshold.
    let (_, group) = server
        .api("GET", &format!("{V1}/apps/{APP}/groups/stable"), None)
        .await;
    let at = jiff::Timestamp::from_second(paused_at.unwrap()).unwrap();
    assert_eq!(group["autoPausedAt"], at.to_string(), "{group}");
    let (_, activity) = server
        .api("GET", &format!("{V1}/activity?appId={APP}"), None)
        .await;
    let pauses: Vec<&serde_json::Value> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "group.autopause")
        .collect();
    assert_eq!(pauses.len(), 1, "{activity}");
    assert!(
        pauses[0]["detail"]
            .as_str()
            .unwrap()
            .contains("15 of the last 105"),
        "{activity}"
    );
    server.stop().await;
}

trait NowSecs {
    fn now_secs(&self) -> i64;
}

impl NowSecs for update_server::clock::ManualClock {
    fn now_secs(&self) -> i64 {
        use update_server::clock::Clock as _;
        self.now().as_second()
    }
}

#[tokio::test]
async fn a_fleet_of_update_engines_on_sqlite() {
    simulate(TestServer::start_sqlite(policy()).await).await;
}

#[tokio::test]
async fn a_fleet_of_update_engines_on_postgres() {
    if let Some(server) = TestServer::start_postgres(policy()).await {
        simulate(server).await;
    }
}
