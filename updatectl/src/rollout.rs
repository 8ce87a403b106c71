//! `rollout` (show, `create linear`, `activate`, `deactivate`) and the graph data of
//! `group versions` and `group events`.

use reqwest::Method;
use update_api::api::{Frame, RequestsRollup, Rollout, RolloutActive};

use crate::Error;
use crate::cli::{GroupRef, RolloutChange, RolloutCommand, RolloutCreate, RollupArgs};
use crate::client::Client;
use crate::output::Output;

const NO_BODY: Option<&()> = None;

fn rollout_path(app_id: &str, group_id: &str) -> [String; 5] {
    [
        "apps".to_owned(),
        app_id.to_owned(),
        "groups".to_owned(),
        group_id.to_owned(),
        "rollout".to_owned(),
    ]
}

/// The frames as updateservicectl prints them: `rollout:`, then per frame
/// `Frame <i>:\tPercent:\t<%f>` and `\tDuration:\t<seconds>` (through the tabwriter).
#[must_use]
pub fn frame_lines(frames: &[Frame]) -> Vec<String> {
    let mut lines = vec!["rollout:".to_owned()];
    for (i, frame) in frames.iter().enumerate() {
        lines.push(format!("Frame {i}:\tPercent:\t{:.6}", frame.percent));
        lines.push(format!("\tDuration:\t{}", frame.duration));
    }
    lines
}

/// Runs a `rollout` command.
///
/// # Errors
/// The API's or the transport's; [`Error::Invalid`] for a linear rollout the engine
/// refuses (too long, too many frames).
pub async fn rollout(client: &Client, command: RolloutCommand) -> Result<Output, Error> {
    match command.change {
        None => {
            let app = command.app_id.unwrap_or_default();
            let group = command.group_id.unwrap_or_default();
            let path = rollout_path(&app, &group);
            let segments: Vec<&str> = path.iter().map(String::as_str).collect();
            let rollout: Rollout = client.call(Method::GET, &segments, &[], NO_BODY).await?;
            Ok(Output::lines(frame_lines(&rollout.rollout), &rollout))
        }
        Some(RolloutChange::Create(RolloutCreate::Linear {
            group,
            frame_size,
            duration,
        })) => {
            let frames = rollout_core::linear_frames(frame_size, duration)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let body = Rollout {
                app_id: group.app_id.clone(),
                group_id: group.group_id.clone(),
                rollout: frames
                    .iter()
                    .map(|f| Frame {
                        duration: i64::try_from(f.duration_secs).unwrap_or(i64::MAX),
                        percent: f.percent,
                    })
                    .collect(),
            };
            let path = rollout_path(&group.app_id, &group.group_id);
            let segments: Vec<&str> = path.iter().map(String::as_str).collect();
            // The last frame is 100 % for 0 seconds: sent as is, not omitted.
            let value = serde_json::to_value(&body).map_err(|source| Error::Json {
                url: client.api_url(&segments, &[]).to_string(),
                source,
            })?;
            let set: Rollout = client
                .call_raw(Method::POST, &segments, &[], Some(&value))
                .await?;
            Ok(Output::lines(vec!["rollout set".to_owned()], &set))
        }
        Some(RolloutChange::Activate(group)) => set_active(client, &group, true).await,
        Some(RolloutChange::Deactivate(group)) => set_active(client, &group, false).await,
    }
}

async fn set_active(client: &Client, group: &GroupRef, active: bool) -> Result<Output, Error> {
    let body = RolloutActive {
        app_id: group.app_id.clone(),
        group_id: group.group_id.clone(),
        active,
    };
    let mut path = rollout_path(&group.app_id, &group.group_id).to_vec();
    path.push("active".to_owned());
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    let answer: RolloutActive = client
        .call(Method::POST, &segments, &[], Some(&body))
        .await?;
    // Chosen from the answer, as updateservicectl does: what the server did.
    let line = if answer.active {
        "rollout activated"
    } else {
        "rollout deactivated"
    };
    Ok(Output::lines(vec![line.to_owned()], &answer))
}

async fn rollup(client: &Client, kind: &str, args: &RollupArgs) -> Result<RequestsRollup, Error> {
    let start = args.start.to_string();
    let end = args.end.to_string();
    let segments = [
        "apps",
        args.group.app_id.as_str(),
        "groups",
        args.group.group_id.as_str(),
        "requests",
        kind,
        start.as_str(),
        end.as_str(),
    ];
    Ok(client
        .call(
            Method::GET,
            &segments,
            &[("resolution", args.resolution.to_string())],
            NO_BODY,
        )
        .await?)
}

/// One row per version and bucket of the `kind` rollup, its count under `column`.
async fn per_version(
    client: &Client,
    kind: &str,
    column: &str,
    args: &RollupArgs,
) -> Result<Output, Error> {
    let rollup = rollup(client, kind, args).await?;
    let mut lines = vec![format!("Version\tTimestamp\t{column}")];
    for item in &rollup.items {
        for value in &item.values {
            lines.push(format!(
                "{}\t{}\t{}",
                item.version, value.timestamp, value.count
            ));
        }
    }
    Ok(Output::lines(lines, &rollup.items))
}

/// Runs `group versions`: one row per version and bucket.
///
/// # Errors
/// The API's or the transport's.
pub async fn versions(client: &Client, args: &RollupArgs) -> Result<Output, Error> {
    per_version(client, "versions", "Count", args).await
}

/// Runs `group instances`: one row per version and bucket, the instances the server
/// counted in that bucket (the last count taken in it).
///
/// # Errors
/// The API's or the transport's.
pub async fn instances(client: &Client, args: &RollupArgs) -> Result<Output, Error> {
    per_version(client, "instances", "Instances", args).await
}

/// Runs `group check-ins`: one row per version and bucket, the routine 3/2 check-ins
/// (reports that complete nothing), which `group events` leaves out.
///
/// # Errors
/// The API's or the transport's.
pub async fn check_ins(client: &Client, args: &RollupArgs) -> Result<Output, Error> {
    per_version(client, "checkins", "CheckIns", args).await
}

/// Runs `group events`: one row per version, event type, result and bucket (3/2: completed
/// updates only).
///
/// # Errors
/// The API's or the transport's.
pub async fn events(client: &Client, args: &RollupArgs) -> Result<Output, Error> {
    let rollup = rollup(client, "events", args).await?;
    // Event names and RFC 3339 times; `--json` keeps the codes and the Unix times.
    let mut lines = vec!["Version\tEvent\tTime\tCount".to_owned()];
    for item in &rollup.items {
        let event = update_api::api::event_label(&item.event_type, &item.result);
        for value in &item.values {
            lines.push(format!(
                "{}\t{event}\t{}\t{}",
                item.version,
                crate::output::rfc3339(value.timestamp),
                value.count
            ));
        }
    }
    Ok(Output::lines(lines, &rollup.items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_print_as_updateservicectl_prints_them() {
        let frames = [
            Frame {
                duration: 60,
                percent: 50.0,
            },
            Frame {
                duration: 0,
                percent: 100.0,
            },
        ];
        let text = crate::tabwriter::format(&frame_lines(&frames));
        assert_eq!(
            text,
            "rollout:\nFrame 0:\tPercent:\t50.000000\n\t\tDuration:\t60\n\
             Frame 1:\tPercent:\t100.000000\n\t\tDuration:\t0\n"
        );
    }
}
