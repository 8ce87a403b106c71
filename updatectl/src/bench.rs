//! `instance bench`: the load generator (updateservicectl.md §3, the flatcar fork's
//! command). `--clients-per-app` concurrent workers share one keep-alive HTTP client and
//! send Omaha requests back to back for `--seconds`; every request comes from a new machine
//! id (`deadbeefdeadbeef` and 16 hex digits), so each one is a new instance to the server:
//! an update check, a ping and the 3/1 event in one `<app>`.
//!
//! Machine ids: the first 8 of the 16 hex digits are random per run, the last 8 count, so
//! several bench processes against one fleet (one per replica, say) do not collide.
//!
//! Beyond the fork's report it measures latency percentiles, counts failures (transport
//! errors, HTTP errors, undecodable answers) apart from responses, and counts the
//! update-check statuses; `--json` prints the whole report as one JSON document.
//!
//! `--protocol json` sends the same request as Omaha JSON 3.1 to `/v1/update/json`
//! ([`UpdateProtocol`](update_api::endpoint::UpdateProtocol)).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use omaha_proto::appid::same_app_id;
use omaha_proto::codes::{EventResult, EventType};
use omaha_proto::request::{self, Event, Os};
use omaha_proto::{Request, Response};
use reqwest::Url;

use crate::Error;
use crate::cli::BenchArgs;
use crate::client::Client;

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

/// What a bench run measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Seconds the run lasted (measured).
    pub seconds: f64,
    /// Concurrent workers.
    pub clients: usize,
    /// Answers decoded as Omaha responses (each from a new machine id).
    pub responses: u64,
    /// Requests that got no usable answer.
    pub failures: u64,
    /// `responses / seconds`.
    pub responses_per_second: f64,
    /// Latency of the answered requests.
    pub latency_ms: Latency,
    /// Update-check statuses of the answers (`noupdate`, `ok`, ...), and app statuses other
    /// than `ok` (`error-unknownApplication`, ...).
    pub statuses: BTreeMap<String, u64>,
}

struct Shared {
    http: reqwest::Client,
    url: Url,
    args: BenchArgs,
    prefix: u32,
    next_id: AtomicU64,
    responses: AtomicU64,
    failures: AtomicU64,
    deadline: tokio::time::Instant,
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<String, u64>,
}

/// Runs the benchmark for `--seconds`. `progress(responses, elapsed)` is called once a
/// second.
///
/// # Errors
/// Never after start-up: failed requests are counted in [`Report::failures`] (the first of
/// each kind is printed to stderr).
pub async fn run(
    client: &Client,
    args: BenchArgs,
    mut progress: impl FnMut(u64, Duration),
) -> Result<Report, Error> {
    let started = Instant::now();
    let shared = Arc::new(Shared {
        http: client.http().clone(),
        url: client.url(args.protocol.path_segments()),
        prefix: fastrand::u32(..),
        next_id: AtomicU64::new(0),
        responses: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        deadline: tokio::time::Instant::now() + Duration::from_secs(args.seconds),
        args,
    });
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..shared.args.clients_per_app {
        workers.spawn(worker(Arc::clone(&shared)));
    }
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if tokio::time::Instant::now() < shared.deadline {
                    progress(shared.responses.load(Ordering::Relaxed), started.elapsed());
                }
            }
            () = tokio::time::sleep_until(shared.deadline) => break,
        }
    }
    let mut latencies = Vec::new();
    let mut statuses = BTreeMap::new();
    while let Some(joined) = workers.join_next().await {
        let Ok(tally) = joined else { continue };
        latencies.extend(tally.latencies_us);
        for (status, n) in tally.statuses {
            *statuses.entry(status).or_insert(0) += n;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let responses = shared.responses.load(Ordering::Relaxed);
    Ok(Report {
        seconds,
        clients: shared.args.clients_per_app,
        responses,
        failures: shared.failures.load(Ordering::Relaxed),
        responses_per_second: if seconds > 0.0 {
            responses as f64 / seconds
        } else {
            0.0
        },
        latency_ms: percentiles(&mut latencies),
        statuses,
    })
}

/// Percentiles (nearest rank) of latencies in microseconds, as milliseconds.
#[must_use]
pub fn percentiles(latencies_us: &mut [u32]) -> Latency {
    if latencies_us.is_empty() {
        return Latency::default();
    }
    latencies_us.sort_unstable();
    // The rank of the `per_mille`-th per-mille: ceil(per_mille * n / 1000), at least 1.
    let rank = |per_mille: usize| {
        let n = latencies_us.len();
        let index = (per_mille * n).div_ceil(1000);
        f64::from(latencies_us[index.clamp(1, n) - 1]) / 1000.0
    };
    Latency {
        p50: rank(500),
        p90: rank(900),
        p99: rank(990),
        p999: rank(999),
        max: rank(1000),
    }
}

/// The machine id of the `n`-th request of a run with `prefix`.
#[must_use]
pub fn machine_id(prefix: u32, n: u64) -> String {
    format!("deadbeefdeadbeef{prefix:08x}{:08x}", n & 0xffff_ffff)
}

fn bench_request(args: &BenchArgs, machine_id: &str) -> Request {
    let install_source = if args.force_update {
        "ondemandupdate"
    } else {
        "scheduler"
    };
    let mut os = Os::new("Chateau", "", "");
    os.arch = Some(std::env::consts::ARCH.to_owned());
    let mut app = request::App::new(&args.app_id, &args.version)
        .with_track(&args.group_id)
        .with_machine_id(machine_id)
        .with_boot_id(&uuid::Uuid::new_v4().to_string())
        .with_ping()
        .with_event(Event::new(EventType::UpdateComplete, EventResult::Success));
    app.update_check = Some(request::UpdateCheck::default());
    app.oem = Some(args.oem.clone());
    Request::update_engine("updatectl-bench", install_source, os).with_app(app)
}

async fn worker(shared: Arc<Shared>) -> Tally {
    let mut tally = Tally::default();
    let mut reported: BTreeMap<&'static str, ()> = BTreeMap::new();
    loop {
        if tokio::time::Instant::now() >= shared.deadline {
            return tally;
        }
        let n = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let id = machine_id(shared.prefix, n);
        let protocol = shared.args.protocol;
        let body = protocol.encode(&mut bench_request(&shared.args, &id));
        if shared.args.verbose {
            println!("request: {}", String::from_utf8_lossy(&body));
        }
        let sent = Instant::now();
        let answer = tokio::select! {
            answer = crate::omaha::post(&shared.http, &shared.url, protocol, body) => answer,
            // An answer that comes after the end is not counted.
            () = tokio::time::sleep_until(shared.deadline) => return tally,
        };
        let elapsed = sent.elapsed();
        let failure = match answer {
            Err(e) => Some(("transport", e.to_string())),
            Ok((status, bytes)) if !status.is_success() => Some((
                "http",
                format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes).trim()),
            )),
            Ok((_, bytes)) => {
                if shared.args.verbose {
                    println!("response: {}", String::from_utf8_lossy(&bytes));
                }
                match protocol.decode_response(&bytes) {
                    Ok(response) => {
                        shared.responses.fetch_add(1, Ordering::Relaxed);
                        tally
                            .latencies_us
                            .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                        let status = status_of(&response, &shared.args.app_id);
                        if status != "noupdate"
                            && status != "ok"
                            && !reported.contains_key("status")
                        {
                            reported.insert("status", ());
                            eprintln!("{id}: status {status}");
                        }
                        *tally.statuses.entry(status).or_insert(0) += 1;
                        None
                    }
                    Err(e) => Some(("decode", format!("undecodable answer: {e}"))),
                }
            }
        };
        if let Some((kind, message)) = failure {
            shared.failures.fetch_add(1, Ordering::Relaxed);
            if reported.insert(kind, ()).is_none() {
                eprintln!("{id}: request failed: {message}");
            }
        }
    }
}

/// The status an answer gives the app: the update check's (`noupdate`, `ok`, ...) or, when
/// the app itself was refused, the app's.
fn status_of(response: &Response, app_id: &str) -> String {
    let Some(app) = response.apps.iter().find(|a| same_app_id(&a.appid, app_id)) else {
        return "no-app".to_owned();
    };
    if let Some(status) = &app.status
        && status.as_str() != "ok"
    {
        return status.as_str().to_owned();
    }
    match app.update_check.as_ref().and_then(|c| c.status.as_ref()) {
        Some(status) => status.as_str().to_owned(),
        None => "no-updatecheck".to_owned(),
    }
}

/// The report as the fork prints it, then the latency and failure lines.
#[must_use]
pub fn render(report: &Report) -> String {
    let l = &report.latency_ms;
    let mut text = format!(
        "Ran {:.0} seconds with {} concurrent requests\n\
         Total responses to unique new clients: {}\n\
         Responses per second : {:.1}\n\
         Latency (ms): p50 {:.2}, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}\n\
         Failed requests: {}\n",
        report.seconds,
        report.clients,
        report.responses,
        report.responses_per_second,
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.max,
        report.failures,
    );
    for (status, n) in &report.statuses {
        text.push_str(&format!("Status {status}: {n}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use update_api::endpoint::UpdateProtocol;

    #[test]
    fn machine_ids_are_32_hex_digits_and_count() {
        let first = machine_id(0xabcdef01, 0);
        assert_eq!(first, "deadbeefdeadbeefabcdef0100000000");
        assert_eq!(machine_id(1, 0x1f), "deadbeefdeadbeef000000010000001f");
        assert_eq!(first.len(), 32);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut us: Vec<u32> = (1..=1000).map(|i| i * 1000).collect();
        let l = percentiles(&mut us);
        assert_eq!(l.p50, 500.0);
        assert_eq!(l.p90, 900.0);
        assert_eq!(l.p99, 990.0);
        assert_eq!(l.p999, 999.0);
        assert_eq!(l.max, 1000.0);
        assert_eq!(percentiles(&mut []), Latency::default());
        assert_eq!(percentiles(&mut [7000]).p50, 7.0);
    }

    #[test]
    fn the_request_checks_pings_and_reports_3_1_in_either_protocol() {
        for protocol in [UpdateProtocol::Xml, UpdateProtocol::Json] {
            let args = BenchArgs {
                app_id: "app".to_owned(),
                group_id: "g".to_owned(),
                clients_per_app: 1,
                oem: "fakeclient".to_owned(),
                version: "1.0.0".to_owned(),
                force_update: true,
                verbose: false,
                seconds: 1,
                protocol,
            };
            let body = protocol.encode(&mut bench_request(
                &args,
                "deadbeefdeadbeef0000000000000001",
            ));
            let decoded = match protocol {
                UpdateProtocol::Xml => Request::decode(&body),
                UpdateProtocol::Json => Request::decode_json(&body),
            }
            .unwrap();
            assert_eq!(decoded.protocol, Some(protocol.version()));
            let app = &decoded.apps[0];
            assert_eq!(app.track.as_deref(), Some("g"));
            assert_eq!(app.version.as_deref(), Some("1.0.0"));
            assert_eq!(app.oem.as_deref(), Some("fakeclient"));
            assert!(app.update_check.is_some());
            assert!(app.ping.is_some());
            assert_eq!(app.events.len(), 1);
            assert_eq!(app.events[0].event_type, EventType::UpdateComplete);
            assert_eq!(app.events[0].event_result, EventResult::Success);
            assert_eq!(decoded.install_source.as_deref(), Some("ondemandupdate"));
        }
    }
}
