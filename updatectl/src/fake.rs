//! `instance fake`: simulated instances (updateservicectl.md §5), one tokio task each,
//! sharing one HTTP client. Requests are built and answers read with the updater SDK's
//! sans-IO core.
//!
//! Each instance loops: sleep a random time in `[min-sleep, max-sleep)`, poll (update
//! check with the routine 3/2 event); on an offered update send 13/1, 14/1 and 3/1 one
//! step delay apart (each step fails with `--errorrate` percent chance: 3/0 errorcode 2000
//! is sent instead and the attempt is abandoned), then the `--ping-only` pings, then print
//! `{id}: updated from OLD to NEW` and report 3/2 from the new version.
//!
//! `--protocol json` sends the same requests as Omaha JSON 3.1 to `/v1/update/json`
//! ([`UpdateProtocol`](update_api::endpoint::UpdateProtocol)): the same checks, events
//! and output, so the server sees the same instances either way.
//!
//! Test aids (hidden from `--help`): `--step-delay MS` shortens the one-second pause
//! between update steps, `--exit-after-updates N` exits once N updates completed over all
//! instances, `--duration SECS` exits after that time. Without them the command runs until
//! SIGINT. `--min-sleep`/`--max-sleep` accept fractions of a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use omaha_proto::request::Event;
use omaha_proto::{Request, Response};
use reqwest::Url;
use tokio::sync::Notify;
use updater_sdk::core::Identity;

use crate::Error;
use crate::cli::FakeArgs;
use crate::client::Client;
use crate::omaha::{self, Direction, read_answer};

/// The instance id of the `index`-th fake instance: the prefix and the number, at least
/// three digits (`fake-client-1a2b3c4d-000`, ...).
#[must_use]
pub fn instance_id(prefix: &str, index: usize) -> String {
    format!("{prefix}{index:03}")
}

/// The ids' prefix of a run: `--client-prefix` when given, else `fake-client-<run>-` with
/// 8 random hex digits, so two runs (for two groups of one app, say) never share
/// instances.
#[must_use]
pub fn run_prefix(client_prefix: Option<&str>) -> String {
    match client_prefix {
        Some(prefix) => prefix.to_owned(),
        None => format!("fake-client-{:08x}-", fastrand::u32(..)),
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT.
    Interrupted,
    /// `--duration` elapsed.
    Duration,
    /// `--exit-after-updates` updates completed.
    Updates,
}

struct Shared {
    http: reqwest::Client,
    url: Url,
    prefix: String,
    args: FakeArgs,
    debug: bool,
    updates: AtomicUsize,
    done: Notify,
}

/// Runs the fake instances until SIGINT or a test-aid limit.
///
/// # Errors
/// Never after start-up: exchange failures are reported on stderr and the instance goes
/// on polling. Fails only when the SIGINT handler cannot be installed.
pub async fn run(client: &Client, args: FakeArgs, debug: bool) -> Result<Stop, Error> {
    let shared = Arc::new(Shared {
        http: client.http().clone(),
        url: client.url(args.protocol.path_segments()),
        prefix: run_prefix(args.client_prefix.as_deref()),
        args,
        debug,
        updates: AtomicUsize::new(0),
        done: Notify::new(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..shared.args.clients_per_app {
        tasks.spawn(instance(Arc::clone(&shared), index));
    }
    let duration = shared.args.duration;
    let stop = tokio::select! {
        result = tokio::signal::ctrl_c() => {
            result.map_err(|e| Error::Omaha(format!("cannot wait for SIGINT: {e}")))?;
            Stop::Interrupted
        }
        () = async {
            match duration {
                Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await,
                None => std::future::pending().await,
            }
        } => Stop::Duration,
        () = shared.done.notified() => Stop::Updates,
    };
    tasks.abort_all();
    Ok(stop)
}

fn seconds(secs: f64) -> Duration {
    Duration::from_secs_f64(if secs.is_finite() { secs.max(0.0) } else { 0.0 })
}

/// A random wait in `[min, max)`, or exactly `max` when `max <= min`.
fn poll_wait(args: &FakeArgs) -> Duration {
    if args.max_sleep > args.min_sleep {
        seconds(args.min_sleep + fastrand::f64() * (args.max_sleep - args.min_sleep))
    } else {
        seconds(args.max_sleep)
    }
}

async fn instance(shared: Arc<Shared>, index: usize) {
    let args = &shared.args;
    let id = instance_id(&shared.prefix, index);
    let identity = Identity {
        app_id: args.app_id.clone(),
        group: args.group_id.clone(),
        machine_id: id.clone(),
        install_source: if args.force_update {
            "ondemandupdate".to_owned()
        } else {
            "scheduler".to_owned()
        },
        multi_manifest_ok: false,
    };
    let mut version = args.version.clone();
    let mut boot_id = uuid::Uuid::new_v4().to_string();
    let mut pings_left = args.ping_only;
    let step = Duration::from_millis(args.step_delay);
    loop {
        tokio::time::sleep(poll_wait(args)).await;
        let answer = match exchange(&shared, &id, &boot_id, identity.check_request(&version)).await
        {
            Ok(answer) => answer,
            Err(e) => {
                eprintln!("{{{id}}}: update check failed: {e}");
                continue;
            }
        };
        let offered = match read_answer(&answer, &args.app_id) {
            Ok(Some(offer)) => offer.version,
            Ok(None) => {
                println!("{{{id}}}: noupdate");
                continue;
            }
            Err(status) => {
                println!("{{{id}}}: {status}");
                continue;
            }
        };
        let steps = [
            Event::download_started(),
            Event::download_finished(),
            Event::update_installed(),
        ];
        let mut failed = false;
        for event in steps {
            tokio::time::sleep(step).await;
            let (kind, result) = (event.event_type.to_string(), event.event_result.to_string());
            if args.errorrate > 0 && fastrand::u32(0..100) < args.errorrate {
                eprintln!(
                    "{{{id}}}: failed to update in eventType: {kind}, eventResult: {result}. Abandoning this update."
                );
                let request = identity.event_request(&version, Event::error(2000));
                if let Err(e) = exchange(&shared, &id, &boot_id, request).await {
                    eprintln!("{{{id}}}: error report failed: {e}");
                }
                failed = true;
                break;
            }
            let request = identity.event_request(&version, event);
            if let Err(e) = exchange(&shared, &id, &boot_id, request).await {
                eprintln!("{{{id}}}: event {kind}/{result} failed: {e}");
                failed = true;
                break;
            }
        }
        if failed {
            continue;
        }
        while pings_left > 0 {
            tokio::time::sleep(step).await;
            pings_left -= 1;
            if let Err(e) = exchange(&shared, &id, &boot_id, identity.ping_request(&version)).await
            {
                eprintln!("{{{id}}}: ping failed: {e}");
            }
        }
        println!("{{{id}}}: updated from {version} to {offered}");
        let previous = std::mem::replace(&mut version, offered);
        boot_id = uuid::Uuid::new_v4().to_string();
        let request = identity.completion_request(&version, &previous);
        if let Err(e) = exchange(&shared, &id, &boot_id, request).await {
            eprintln!("{{{id}}}: completion report failed: {e}");
        }
        let total = shared.updates.fetch_add(1, Ordering::SeqCst) + 1;
        if args.exit_after_updates == Some(total) {
            shared.done.notify_one();
        }
    }
}

async fn exchange(
    shared: &Shared,
    id: &str,
    boot_id: &str,
    mut request: Request,
) -> Result<Response, Error> {
    for app in &mut request.apps {
        app.oem = Some(shared.args.oem.clone());
        app.boot_id = Some(boot_id.to_owned());
    }
    omaha::exchange(
        &shared.http,
        &shared.url,
        shared.args.protocol,
        request,
        |direction, body| {
            let (label, debug_label) = match direction {
                Direction::Request => ("request", "Request"),
                Direction::Response => ("response", "Response"),
            };
            if shared.args.verbose {
                println!("{{{id}}}: {label}: {}", String::from_utf8_lossy(body));
            }
            if shared.debug {
                eprintln!("{debug_label}: {}", String::from_utf8_lossy(body));
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbered_from_zero() {
        assert_eq!(instance_id("fake-client-", 0), "fake-client-000");
        assert_eq!(instance_id("fake-client-", 12), "fake-client-012");
        assert_eq!(instance_id("x-", 10_000), "x-10000");
    }

    #[test]
    fn each_run_has_ids_of_its_own_unless_pinned() {
        let runs: std::collections::HashSet<String> = (0..50).map(|_| run_prefix(None)).collect();
        assert_eq!(runs.len(), 50, "random run tags");
        for prefix in &runs {
            let tag = prefix
                .strip_prefix("fake-client-")
                .and_then(|t| t.strip_suffix('-'))
                .unwrap_or_default();
            assert!(
                tag.len() == 8 && tag.chars().all(|c| c.is_ascii_hexdigit()),
                "{prefix}"
            );
        }
        assert_eq!(run_prefix(Some("fake-client-")), "fake-client-");
    }
}
