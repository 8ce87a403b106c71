//! Groups: `apps/{app}/groups` and `.../groups/{group}` (list, create, read, update, set the
//! percentage, delete). A group body is applied over the stored policy by the rules of the
//! admin API's fields (an absent field of one client generation keeps its value); a group's
//! API JSON carries its state at the clock's time (a timed rollout that has ended is recorded
//! first, see [`crate::lifecycle`]).

use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::changes::diff;
use crate::policy::{AutoPauseDoc, GroupPolicy, MaintenanceDoc, WindowDoc};
use crate::store::{AppRecord, GroupRecord};
use axum::extract::{Path, State};
use axum::{Extension, Json};

fn group_json(state: &AdminState, record: &GroupRecord) -> api::Group {
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    let now = state.clock.now();
    let effective = policy.percent_at(now);
    let (count, percent, window, timeouts) = policy.auto_pause.map_or((0, 0.0, 0, false), |a| {
        (
            i64::from(a.failures_count.unwrap_or(0)),
            a.failures_percent.unwrap_or(0.0),
            i64::from(a.last_attempts),
            a.count_timeouts,
        )
    });
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    api::Group {
        app_id: record.app_id.clone(),
        id: record.id.clone(),
        label: record.label.clone(),
        channel_id: record.channel.clone(),
        updates_paused: policy.paused,
        update_percent: effective,
        rollout_active: policy.rollout_phase(now).is_running(),
        oem_blacklist: policy.oem_blacklist.join(","),
        update_count: i64::from(policy.update_count),
        update_interval: to_i64(policy.update_interval_secs),
        update_pooling: policy.update_pooling,
        max_in_flight: policy.max_in_flight.map_or(0, i64::from),
        update_timeout: policy.update_timeout_secs.map_or(0, to_i64),
        failure_threshold_count: count,
        failure_threshold_percent: percent,
        failure_window: window,
        failure_count_timeouts: timeouts,
        maintenance_time_zone: policy
            .maintenance
            .as_ref()
            .map(|m| m.time_zone.clone())
            .unwrap_or_default(),
        maintenance_windows: policy
            .maintenance
            .as_ref()
            .map(|m| format_windows(&m.windows))
            .unwrap_or_default(),
        allow_downgrade: policy.allow_downgrade,
        retry_delay: to_i64(policy.retry_delay_secs),
        retry_delay_max: to_i64(policy.retry_delay_max_secs),
        auto_paused_at: String::new(),
    }
}

/// What a change of a group changed: the fields of its JSON, and its rollout frames
/// (`rollout`, `percent% for seconds` each) and when the rollout was activated
/// (`rolloutActiveSince`), which the JSON leaves out.
pub(crate) fn group_changes(
    state: &AdminState,
    before: Option<&GroupRecord>,
    after: Option<&GroupRecord>,
) -> Vec<crate::store::ActivityChange> {
    let json = |r: Option<&GroupRecord>| r.map(|r| group_json(state, r));
    let mut changes = diff(json(before).as_ref(), json(after).as_ref());
    let policy =
        |r: Option<&GroupRecord>| r.map(|r| GroupPolicy::from_json(&r.policy).unwrap_or_default());
    let (old, new) = (policy(before), policy(after));
    let frames = |p: &Option<GroupPolicy>| {
        p.as_ref()
            .filter(|p| !p.rollout_frames.is_empty())
            .map(|p| {
                p.rollout_frames
                    .iter()
                    .map(|f| format!("{}% for {}s", f.percent, f.duration_secs))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
    };
    let (old_frames, new_frames) = (frames(&old), frames(&new));
    if old_frames != new_frames {
        changes.push(crate::changes::field(
            "rollout",
            old_frames.as_deref(),
            new_frames.as_deref(),
        ));
    }
    let since =
        |p: &Option<GroupPolicy>| p.as_ref().and_then(|p| p.rollout_active_since).map(rfc3339);
    let (old_since, new_since) = (since(&old), since(&new));
    if old_since != new_since {
        changes.push(crate::changes::field(
            "rolloutActiveSince",
            old_since.as_deref(),
            new_since.as_deref(),
        ));
    }
    changes
}

/// [`group_json`] with `autoPausedAt` filled in from the group's rollout state.
async fn group_json_with_state(
    state: &AdminState,
    record: &GroupRecord,
) -> Result<api::Group, ApiError> {
    let mut json = group_json(state, record);
    json.auto_paused_at =
        crate::writer::auto_paused_at(state.store.as_ref(), &record.app_id, &record.id)
            .await?
            .map(rfc3339)
            .unwrap_or_default();
    Ok(json)
}

/// `mon,tue 02-05; sat 00-24`.
pub(crate) fn format_windows(windows: &[WindowDoc]) -> String {
    windows
        .iter()
        .map(|w| {
            format!(
                "{} {:02}-{:02}",
                w.weekdays.join(","),
                w.start_hour,
                w.end_hour
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_windows(text: &str) -> Result<Vec<WindowDoc>, ApiError> {
    let bad = || {
        ApiError::Invalid(format!(
            "maintenanceWindows {text:?}: expected `mon,tue 02-05; sat 00-24`"
        ))
    };
    text.split(';')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            let (days, hours) = w.split_once(' ').ok_or_else(bad)?;
            let (start, end) = hours.trim().split_once('-').ok_or_else(bad)?;
            Ok(WindowDoc {
                weekdays: days.split(',').map(|d| d.trim().to_owned()).collect(),
                start_hour: start.trim().parse().map_err(|_| bad())?,
                end_hour: end.trim().parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// A group body and the keys it carries (to tell an absent field from a zero one).
fn group_from_body(body: &serde_json::Value) -> Result<(api::Group, Vec<String>), ApiError> {
    let group: api::Group = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::Invalid(format!("group: {e}")))?;
    let keys = body
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    Ok((group, keys))
}

/// The policy after a create or update: common fields from the body, generation-specific
/// and extension fields from the body when present, else kept (see the module docs).
fn apply_group(
    now_ms: i64,
    mut policy: GroupPolicy,
    body: &api::Group,
    present: &[String],
) -> Result<GroupPolicy, ApiError> {
    let has = |key: &str| present.iter().any(|k| k == key);
    let count = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| ApiError::Invalid(format!("{what} must be 0 or more")))
    };
    let secs = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| ApiError::Invalid(format!("{what} must be 0 or more")))
    };
    policy.paused = body.updates_paused;
    policy.oem_blacklist = body
        .oem_blacklist
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // While a timed rollout runs its frames set the percentage: the percentage a client
    // sends back with a pause, an unpause or a label change (what it read) is not stored.
    // `rolloutActive: false` stops the rollout at the percentage in force, and only then
    // (or without a running rollout) does `updatePercent` apply. Starting a rollout is
    // `POST .../rollout/active`: `rolloutActive: true` keeps a running one and starts none,
    // so a client echoing what it read just before the end does not restart it.
    let now = crate::clock::from_millis(now_ms);
    let mut running = policy.rollout_phase(now).is_running();
    if running && has("rolloutActive") && !body.rollout_active {
        policy.stop_rollout(now);
        running = false;
    }
    if has("updatePercent") && !running {
        policy.update_percent = body.update_percent;
    }
    if has("updateCount") {
        policy.update_count = count(body.update_count, "updateCount")?;
    }
    if has("updateInterval") {
        policy.update_interval_secs = secs(body.update_interval, "updateInterval")?;
    }
    if has("updatePooling") {
        policy.update_pooling = body.update_pooling;
    }
    if has("maxInFlight") {
        policy.max_in_flight = Some(count(body.max_in_flight, "maxInFlight")?).filter(|n| *n > 0);
    }
    if has("updateTimeout") {
        policy.update_timeout_secs =
            Some(secs(body.update_timeout, "updateTimeout")?).filter(|n| *n > 0);
    }
    if has("failureThresholdCount") || has("failureThresholdPercent") || has("failureWindow") {
        let threshold = count(body.failure_threshold_count, "failureThresholdCount")?;
        policy.auto_pause = if threshold == 0 && body.failure_threshold_percent <= 0.0 {
            None
        } else {
            Some(AutoPauseDoc {
                failures_count: (threshold > 0).then_some(threshold),
                failures_percent: (threshold == 0).then_some(body.failure_threshold_percent),
                last_attempts: count(body.failure_window, "failureWindow")?,
                count_timeouts: body.failure_count_timeouts,
            })
        };
    }
    if has("maintenanceTimeZone") || has("maintenanceWindows") {
        policy.maintenance = if body.maintenance_time_zone.trim().is_empty() {
            None
        } else {
            Some(MaintenanceDoc {
                time_zone: body.maintenance_time_zone.trim().to_owned(),
                windows: parse_windows(&body.maintenance_windows)?,
            })
        };
    }
    if has("allowDowngrade") {
        policy.allow_downgrade = body.allow_downgrade;
    }
    if has("retryDelay") {
        policy.retry_delay_secs = secs(body.retry_delay, "retryDelay")?;
    }
    if has("retryDelayMax") {
        policy.retry_delay_max_secs = secs(body.retry_delay_max, "retryDelayMax")?;
    } else if has("retryDelay") && policy.retry_delay_max_secs < policy.retry_delay_secs {
        // A longer first delay than the stored maximum raises the maximum with it.
        policy.retry_delay_max_secs = policy.retry_delay_secs;
    }
    policy
        .to_policy()
        .map_err(|e| ApiError::Invalid(format!("group policy: {e}")))?;
    Ok(policy)
}

/// The group as stored, after recording the end of its rollout if that has finished, so a
/// change applies to what is really in force (see [`crate::lifecycle`]).
pub(super) async fn settled_group_record(
    state: &AdminState,
    app: &AppRecord,
    group: &str,
) -> Result<GroupRecord, ApiError> {
    let record = group_record(state, app, group).await?;
    match crate::lifecycle::finish_rollout(state.store.as_ref(), &record, state.clock.now()).await?
    {
        Some(finished) => {
            state.refreshed().await;
            Ok(finished)
        }
        None if record_finished(&record, state.clock.now()) => {
            // Another request or replica wrote the group first: read what it wrote.
            group_record(state, app, group).await
        }
        None => Ok(record),
    }
}

fn record_finished(record: &GroupRecord, now: jiff::Timestamp) -> bool {
    GroupPolicy::from_json(&record.policy).is_ok_and(|p| {
        matches!(
            p.rollout_phase(now),
            rollout_core::RolloutPhase::Finished { .. }
        )
    })
}

pub(super) async fn group_record(
    state: &AdminState,
    app: &AppRecord,
    group: &str,
) -> Result<GroupRecord, ApiError> {
    state
        .store
        .load_config()
        .await?
        .groups
        .into_iter()
        .find(|g| g.app_id == app.id && g.id == group)
        .ok_or_else(|| ApiError::NotFound(format!("group {group} not found")))
}

/// A group needs a channel of its app that exists.
async fn require_channel(
    state: &AdminState,
    app: &AppRecord,
    channel: &str,
) -> Result<(), ApiError> {
    if channel.trim().is_empty() {
        return Err(ApiError::Invalid(format!(
            "channelId is required: a group follows one of app {}'s channels",
            app.id
        )));
    }
    let config = state.store.load_config().await?;
    if config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == channel)
    {
        Ok(())
    } else {
        Err(ApiError::Invalid(format!(
            "channel {channel} does not exist in app {}: create it first",
            app.id
        )))
    }
}

pub(super) async fn list_groups(
    State(state): State<AdminState>,
    Path(app): Path<String>,
) -> ApiResult<api::GroupList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let mut items = Vec::new();
    for record in config.groups.iter().filter(|g| g.app_id == app.id) {
        // An automatic pause shows wherever the operator's does.
        items.push(group_json_with_state(&state, record).await?);
    }
    Ok(Json(api::GroupList { items }))
}

pub(super) async fn create_group(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<api::Group> {
    let app = state.app(&app).await?;
    let (group, present) = group_from_body(&body)?;
    let id = if group.id.trim().is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        group.id.trim().to_owned()
    };
    require_channel(&state, &app, &group.channel_id).await?;
    let policy = apply_group(state.now_ms(), GroupPolicy::default(), &group, &present)?;
    let record = GroupRecord {
        app_id: app.id.clone(),
        id,
        label: group.label,
        channel: group.channel_id,
        policy: policy.to_json(),
        created_at: state.now_ms(),
    };
    state.store.create_group(&record).await?;
    state.refreshed().await;
    let detail = format!("group {} on channel {}", record.id, record.channel);
    let changes = group_changes(&state, None, Some(&record));
    state
        .log_changes(&actor, "group.create", &app.id, &record.id, detail, changes)
        .await;
    Ok(Json(group_json(&state, &record)))
}

pub(super) async fn get_group(
    State(state): State<AdminState>,
    Path((app, group)): Path<(String, String)>,
) -> ApiResult<api::Group> {
    let app = state.app(&app).await?;
    let record = group_record(&state, &app, &group).await?;
    Ok(Json(group_json_with_state(&state, &record).await?))
}

pub(crate) async fn update_group(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<api::Group> {
    let app = state.app(&app).await?;
    let mut record = settled_group_record(&state, &app, &group).await?;
    let old_record = record.clone();
    let (update, present) = group_from_body(&body)?;
    require_channel(&state, &app, &update.channel_id).await?;
    let before = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    let policy = apply_group(state.now_ms(), before.clone(), &update, &present)?;
    record.label = update.label;
    record.channel = update.channel_id;
    record.policy = policy.to_json();
    state.store.update_group(&record).await?;
    // An unpaused group also leaves an automatic pause.
    if !policy.paused && crate::writer::resume_group(state.store.as_ref(), &app.id, &group).await? {
        let detail = "lifted the automatic pause".to_owned();
        let changes = vec![crate::changes::field(
            "autoPaused",
            Some("true"),
            Some("false"),
        )];
        state
            .log_changes(&actor, "group.resume", &app.id, &group, detail, changes)
            .await;
    }
    state.refreshed().await;
    let detail = match (before.paused, policy.paused) {
        (false, true) => format!("paused group {group}"),
        (true, false) => format!("unpaused group {group}"),
        _ => format!("updated group {group}"),
    };
    let changes = group_changes(&state, Some(&old_record), Some(&record));
    state
        .log_changes(&actor, "group.update", &app.id, &group, detail, changes)
        .await;
    let now = state.clock.now();
    if before.rollout_phase(now).is_running() && !policy.rollout_phase(now).is_running() {
        let detail = format!(
            "timed rollout stopped; the group stays at {} %",
            policy.update_percent
        );
        state
            .log(&actor, "rollout.deactivate", &app.id, &group, detail)
            .await;
    }
    Ok(Json(group_json_with_state(&state, &record).await?))
}

pub(super) async fn set_group_percent(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Json(body): Json<api::GroupPercent>,
) -> ApiResult<api::GroupPercent> {
    if !(0.0..=100.0).contains(&body.update_percent) {
        return Err(ApiError::Invalid(
            "updatePercent must be between 0 and 100".into(),
        ));
    }
    let app = state.app(&app).await?;
    let mut record = settled_group_record(&state, &app, &group).await?;
    let old_record = record.clone();
    let mut policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    // An explicit percentage ends a running rollout: otherwise its frames would go on
    // setting the percentage and this one would never apply.
    let stopped_at = policy.stop_rollout(state.clock.now());
    policy.update_percent = body.update_percent;
    record.policy = policy.to_json();
    state.store.update_group(&record).await?;
    state.refreshed().await;
    let detail = match stopped_at {
        Some(was) => format!(
            "percent set to {}; this stopped the timed rollout (it was at {was} %)",
            body.update_percent
        ),
        None => format!("percent set to {}", body.update_percent),
    };
    let changes = group_changes(&state, Some(&old_record), Some(&record));
    state
        .log_changes(&actor, "group.percent", &app.id, &group, detail, changes)
        .await;
    Ok(Json(api::GroupPercent {
        app_id: app.id,
        id: group,
        update_percent: body.update_percent,
        rollout_stopped: stopped_at.is_some(),
    }))
}

pub(super) async fn delete_group(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
) -> ApiResult<api::Group> {
    let app = state.app(&app).await?;
    let record = group_record(&state, &app, &group).await?;
    state.store.delete_group(&app.id, &group).await?;
    state.refreshed().await;
    let detail = format!("deleted group {group}");
    let changes = group_changes(&state, Some(&record), None);
    state
        .log_changes(&actor, "group.delete", &app.id, &group, detail, changes)
        .await;
    Ok(Json(group_json(&state, &record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_round_trip_through_their_text_form() {
        let windows = parse_windows("mon,tue 02-05; sat 00-24").unwrap();
        assert_eq!(windows.len(), 2);
        assert_eq!(format_windows(&windows), "mon,tue 02-05; sat 00-24");
        assert!(parse_windows("mon 2").is_err());
        assert!(parse_windows("").unwrap().is_empty());
    }

    #[test]
    fn absent_generation_specific_fields_keep_their_value() {
        let before = GroupPolicy {
            update_percent: 40.0,
            update_count: 2,
            update_interval_secs: 60,
            max_in_flight: Some(3),
            paused: true,
            ..GroupPolicy::default()
        };
        // A v2.1 unpause: updatesPaused omitted (false), no v1.4 keys, percent omitted.
        let body = serde_json::json!({"appId": "a", "id": "g", "label": "G", "channelId": "c"});
        let (group, present) = group_from_body(&body).unwrap();
        let after = apply_group(0, before.clone(), &group, &present).unwrap();
        assert!(!after.paused, "a common field reads as zero when absent");
        assert_eq!(after.update_percent, 40.0);
        assert_eq!((after.update_count, after.update_interval_secs), (2, 60));
        assert_eq!(after.max_in_flight, Some(3));
        // Present keys are applied, zero included.
        let body = serde_json::json!({"updatePercent": 0, "updateCount": 5, "maxInFlight": 0});
        let (group, present) = group_from_body(&body).unwrap();
        let after = apply_group(0, before, &group, &present).unwrap();
        assert_eq!(after.update_percent, 0.0);
        assert_eq!(after.update_count, 5);
        assert_eq!(after.max_in_flight, None);
    }

    #[test]
    fn invalid_group_fields_are_rejected() {
        let body = serde_json::json!({"updateCount": -1});
        let (group, present) = group_from_body(&body).unwrap();
        assert!(apply_group(0, GroupPolicy::default(), &group, &present).is_err());
        let body = serde_json::json!({"maintenanceTimeZone": "Nowhere/City", "maintenanceWindows": "mon 01-02"});
        let (group, present) = group_from_body(&body).unwrap();
        assert!(apply_group(0, GroupPolicy::default(), &group, &present).is_err());
    }
}
