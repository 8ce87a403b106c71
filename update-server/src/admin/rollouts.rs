//! Timed rollouts: `apps/{app}/groups/{group}/rollout` (the frames) and `.../rollout/active`
//! (start, stop). Starting never restarts a running rollout; stopping keeps the percentage in
//! force.

use super::groups::{group_changes, group_record, settled_group_record};
use super::{Actor, AdminState, ApiError, ApiResult};
use crate::api;
use crate::policy::{FrameDoc, GroupPolicy};
use axum::extract::{Path, State};
use axum::{Extension, Json};

pub(super) async fn get_rollout(
    State(state): State<AdminState>,
    Path((app, group)): Path<(String, String)>,
) -> ApiResult<api::Rollout> {
    let app = state.app(&app).await?;
    let record = group_record(&state, &app, &group).await?;
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    Ok(Json(api::Rollout {
        app_id: app.id,
        group_id: group,
        rollout: policy
            .rollout_frames
            .iter()
            .map(|f| api::Frame {
                duration: i64::try_from(f.duration_secs).unwrap_or(i64::MAX),
                percent: f.percent,
            })
            .collect(),
    }))
}

/// `POST .../rollout`: "Set (and start) a new rollout strategy": the frames replace the old
/// ones and the rollout starts now.
pub(crate) async fn set_rollout(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Json(body): Json<api::Rollout>,
) -> ApiResult<api::Rollout> {
    let app = state.app(&app).await?;
    let mut record = settled_group_record(&state, &app, &group).await?;
    let old_record = record.clone();
    let mut policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    // A rollout replaced while it runs hands over at the percentage in force, so new frames
    // without any (or an invalid set) never make the group jump.
    policy.stop_rollout(state.clock.now());
    policy.rollout_frames = body
        .rollout
        .iter()
        .map(|f| {
            Ok(FrameDoc {
                percent: f.percent,
                duration_secs: u64::try_from(f.duration)
                    .map_err(|_| ApiError::Invalid("frame durations must be 0 or more".into()))?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    policy.rollout_active_since = (!policy.rollout_frames.is_empty()).then(|| state.now_ms());
    policy
        .to_policy()
        .map_err(|e| ApiError::Invalid(format!("rollout: {e}")))?;
    record.policy = policy.to_json();
    state.store.update_group(&record).await?;
    state.refreshed().await;
    let detail = match policy
        .to_policy()
        .ok()
        .and_then(|p| p.rollout().and_then(|r| r.ends_at()))
    {
        Some(ends_at) => format!(
            "{} frames, started; ends at {ends_at}",
            policy.rollout_frames.len()
        ),
        None => format!("{} frames, not started", policy.rollout_frames.len()),
    };
    let changes = group_changes(&state, Some(&old_record), Some(&record));
    state
        .log_changes(&actor, "rollout.set", &app.id, &group, detail, changes)
        .await;
    Ok(Json(api::Rollout {
        app_id: app.id,
        group_id: group,
        rollout: body.rollout,
    }))
}

pub(super) async fn get_rollout_active(
    State(state): State<AdminState>,
    Path((app, group)): Path<(String, String)>,
) -> ApiResult<api::RolloutActive> {
    let app = state.app(&app).await?;
    let record = group_record(&state, &app, &group).await?;
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    Ok(Json(api::RolloutActive {
        app_id: app.id,
        group_id: group,
        active: policy.rollout_phase(state.clock.now()).is_running(),
    }))
}

pub(crate) async fn set_rollout_active(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Json(body): Json<api::RolloutActive>,
) -> ApiResult<api::RolloutActive> {
    let app = state.app(&app).await?;
    let mut record = settled_group_record(&state, &app, &group).await?;
    let old_record = record.clone();
    let mut policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    if body.active && policy.rollout_frames.is_empty() {
        return Err(ApiError::Invalid(
            "the group has no rollout frames to activate".into(),
        ));
    }
    let now = state.clock.now();
    let running = policy.rollout_phase(now).is_running();
    // Activating a running rollout changes nothing; activating one that is not running
    // (never started, deactivated or finished) walks its frames from the start.
    // Deactivating keeps the percentage in force at this moment.
    let (action, detail) = match (body.active, running) {
        (true, true) => ("rollout.activate", "already running".to_owned()),
        (true, false) => {
            policy.rollout_active_since = Some(state.now_ms());
            let ends = policy
                .to_policy()
                .ok()
                .and_then(|p| p.rollout().and_then(|r| r.ends_at()));
            let detail = ends.map_or_else(String::new, |at| format!("started; ends at {at}"));
            ("rollout.activate", detail)
        }
        (false, true) => {
            let percent = policy.stop_rollout(now).unwrap_or(policy.update_percent);
            (
                "rollout.deactivate",
                format!("stopped; the group stays at {percent} %"),
            )
        }
        (false, false) => {
            policy.rollout_active_since = None;
            ("rollout.deactivate", "was not running".to_owned())
        }
    };
    record.policy = policy.to_json();
    state.store.update_group(&record).await?;
    state.refreshed().await;
    let changes = group_changes(&state, Some(&old_record), Some(&record));
    state
        .log_changes(&actor, action, &app.id, &group, detail, changes)
        .await;
    Ok(Json(api::RolloutActive {
        app_id: app.id,
        group_id: group,
        active: policy.rollout_phase(now).is_running(),
    }))
}
