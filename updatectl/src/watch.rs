//! `watch`: polls the Omaha endpoint as an instance of the group and runs a command each
//! time a new version is offered (updateservicectl.md §2.10).
//!
//! The command gets the parent's environment plus `UPDATE_SERVICE_VERSION` (the offered
//! version), `UPDATE_SERVICE_OLD_VERSION` (the version before it, when not empty),
//! `UPDATE_SERVICE_APP_ID`, and `UPDATE_SERVICE_URL` (the payload URL: the first codebase
//! and the package name). Its stdout and stderr are relayed.
//!
//! Where updateservicectl was wrong this differs on purpose (§11.6): the first run gets the
//! offered version, not the starting one. And the watcher reports back as an updater does:
//! after the command exits 0 it sends the completion report (3/2 from the new version) and
//! takes the new version as its own; after a failure it reports the error (3/0, error code
//! = the command's exit status) and stays on the old version, so the server's rollout sees
//! what happened and the next check offers the update again.

use std::process::Stdio;
use std::time::Duration;

use omaha_proto::request::Event;
use omaha_proto::{Request, Response};
use updater_sdk::core::Identity;

use crate::Error;
use crate::cli::WatchArgs;
use crate::client::Client;
use crate::omaha::{self, Direction, Offer, read_answer};
use update_api::endpoint::UpdateProtocol;

/// Runs the watch loop until SIGINT (or `--checks` checks, a test aid).
///
/// # Errors
/// [`Error::Io`] when the command cannot be started at all; failed checks are reported on
/// stderr and retried at the next tick.
pub async fn run(client: &Client, args: WatchArgs, debug: bool) -> Result<(), Error> {
    let client_id = if args.client_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        args.client_id.clone()
    };
    let identity = Identity {
        app_id: format!("{{{}}}", args.app_id.trim_matches(['{', '}'])),
        group: args.group_id.clone(),
        machine_id: client_id,
        install_source: "scheduler".to_owned(),
        multi_manifest_ok: false,
    };
    let url = client.url(&["v1", "update"]);
    let mut version = args.version.clone();
    let mut ticks = tokio::time::interval(Duration::from_secs(args.interval));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut checks = 0u64;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            result = tokio::signal::ctrl_c() => {
                result.map_err(|e| Error::Omaha(format!("cannot wait for SIGINT: {e}")))?;
                return Ok(());
            }
        }
        if args.checks.is_some_and(|n| checks >= n) {
            return Ok(());
        }
        checks += 1;
        let answer = match exchange(client, &url, identity.check_request(&version), debug).await {
            Ok(response) => read_answer(&response, &identity.app_id),
            Err(e) => Err(e.to_string()),
        };
        let offer = match answer {
            Ok(Some(offer)) if offer.version != version => offer,
            Ok(_) => continue,
            Err(e) => {
                eprintln!("warning: update check failed ({e})");
                continue;
            }
        };
        let status = run_command(&args, &identity.app_id, &version, &offer).await?;
        let report = if status == 0 {
            let previous = std::mem::replace(&mut version, offer.version.clone());
            identity.completion_request(&version, &previous)
        } else {
            eprintln!(
                "warning: {:?} exited with status {status}; staying on {version}",
                args.command[0]
            );
            identity.event_request(&version, Event::error(i64::from(status)))
        };
        if let Err(e) = exchange(client, &url, report, debug).await {
            eprintln!("warning: cannot report the result ({e})");
        }
    }
}

/// Runs the command for an offer; its exit status (-1 when killed by a signal).
async fn run_command(
    args: &WatchArgs,
    app_id: &str,
    current: &str,
    offer: &Offer,
) -> Result<i32, Error> {
    let mut command = tokio::process::Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .env("UPDATE_SERVICE_VERSION", &offer.version)
        .env("UPDATE_SERVICE_APP_ID", app_id.trim_matches(['{', '}']))
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    if !current.is_empty() {
        command.env("UPDATE_SERVICE_OLD_VERSION", current);
    }
    if !offer.url.is_empty() {
        command.env("UPDATE_SERVICE_URL", &offer.url);
    }
    let status = command.status().await.map_err(|source| Error::Io {
        path: args.command[0].clone(),
        source,
    })?;
    Ok(status.code().unwrap_or(-1))
}

async fn exchange(
    client: &Client,
    url: &reqwest::Url,
    request: Request,
    debug: bool,
) -> Result<Response, Error> {
    omaha::exchange(
        client.http(),
        url,
        UpdateProtocol::Xml,
        request,
        |direction, body| {
            if debug {
                let label = match direction {
                    Direction::Request => "Request",
                    Direction::Response => "Response",
                };
                eprintln!("{label}: {}", String::from_utf8_lossy(body));
            }
        },
    )
    .await
}
