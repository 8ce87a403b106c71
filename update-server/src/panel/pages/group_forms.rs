//! The group page's forms: pause and resume, the policy, the timed rollout. Each calls the
//! admin API's own handler (same validation, same activity log), then redirects back to the
//! group page, or shows it again with the error.

use super::groups::group_page;
use super::{Flash, Params, find_app, group_url};
use crate::admin::{Actor, ApiError, groups as admin_groups, rollouts as admin_rollouts};
use crate::api;
use crate::panel::PanelState;
use crate::panel::html::{self};
use crate::panel::session::{CSRF_FIELD, Session};
use crate::policy::GroupPolicy;
use crate::store::canonical_app_id;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};

/// Calls an admin handler's result into a redirect back to the group page, or the group
/// page with the error.
async fn after_change<T>(
    state: &PanelState,
    session: &Session,
    app: &str,
    group: &str,
    result: Result<T, ApiError>,
    saved: &str,
) -> Response {
    match result {
        Ok(_) => Redirect::to(&format!(
            "{}?saved={saved}",
            group_url(&canonical_app_id(app), group)
        ))
        .into_response(),
        Err(ApiError::Invalid(message)) => {
            let flash = Flash {
                ok: false,
                text: message,
            };
            group_page(
                state,
                session,
                app,
                group,
                Some(flash),
                StatusCode::BAD_REQUEST,
                false,
            )
            .await
        }
        Err(ApiError::NotFound(message)) => html::not_found(Some(session), &message),
        Err(ApiError::Conflict(message)) => {
            html::error_page(StatusCode::CONFLICT, Some(session), "Conflict", &message)
        }
        Err(err) => html::internal_error(Some(session), &err),
    }
}

/// `POST .../pause`: pauses or unpauses (field `paused`).
pub(crate) async fn pause(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let paused = form.get("paused").is_some_and(|v| v == "true");
    let snapshot = state.admin.cache.snapshot();
    let Some(route) = find_app(&snapshot, &app).and_then(|(_, e)| snapshot.route(e, &group)) else {
        return html::not_found(Some(&session), &format!("Group {group}"));
    };
    // Unpausing a group that paused itself resumes it (the API lifts the automatic pause).
    let resuming = !paused
        && match crate::writer::auto_paused_at(
            state.admin.store.as_ref(),
            &canonical_app_id(&app),
            &group,
        )
        .await
        {
            Ok(at) => at.is_some(),
            Err(err) => return html::internal_error(Some(&session), &err),
        };
    let record = &route.group.record;
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    // The fields every client sends (absent ones read as zero); the others keep their value.
    let body = serde_json::json!({
        "label": record.label,
        "channelId": record.channel,
        "updatesPaused": paused,
        "oemBlacklist": policy.oem_blacklist.join(","),
    });
    let result = admin_groups::update_group(
        State(state.admin.clone()),
        Extension(Actor(session.principal.clone())),
        Path((canonical_app_id(&app), group.clone())),
        Json(body),
    )
    .await;
    let saved = if paused {
        "paused"
    } else if resuming {
        "resumed"
    } else {
        "unpaused"
    };
    after_change(&state, &session, &app, &group, result, saved).await
}

fn number_field(form: &Params, name: &str, label: &str) -> Result<serde_json::Value, ApiError> {
    let text = form.get(name).map_or("", |v| v.trim());
    if text.is_empty() {
        return Ok(serde_json::json!(0));
    }
    if let Ok(n) = text.parse::<i64>() {
        return Ok(serde_json::json!(n));
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(serde_json::json!(f)),
        _ => Err(ApiError::Invalid(format!(
            "{label} must be a number, not {text:?}"
        ))),
    }
}

fn whole_field(form: &Params, name: &str, label: &str) -> Result<serde_json::Value, ApiError> {
    let value = number_field(form, name, label)?;
    if value.is_i64() {
        Ok(value)
    } else {
        Err(ApiError::Invalid(format!("{label} must be a whole number")))
    }
}

fn policy_body(form: &Params, paused: bool) -> Result<serde_json::Value, ApiError> {
    let text = |name: &str| {
        form.get(name)
            .map_or(String::new(), |v| v.trim().to_owned())
    };
    let on = |name: &str| form.contains_key(name);
    Ok(serde_json::json!({
        "label": text("label"),
        "channelId": text("channelId"),
        "updatesPaused": paused,
        "oemBlacklist": text("oemBlacklist"),
        "updatePercent": if text("updatePercent").is_empty() {
            return Err(ApiError::Invalid("Percent is required (0 to 100)".into()));
        } else {
            number_field(form, "updatePercent", "Percent")?
        },
        "updatePooling": on("updatePooling"),
        "updateCount": whole_field(form, "updateCount", "Updates per interval")?,
        "updateInterval": whole_field(form, "updateInterval", "Interval")?,
        "maxInFlight": whole_field(form, "maxInFlight", "Most updates in flight")?,
        "updateTimeout": whole_field(form, "updateTimeout", "Update timeout")?,
        "failureThresholdCount": whole_field(form, "failureThresholdCount", "Failures (count)")?,
        "failureThresholdPercent": number_field(form, "failureThresholdPercent", "Failures (percent)")?,
        "failureWindow": whole_field(form, "failureWindow", "Of the last attempts")?,
        "failureCountTimeouts": on("failureCountTimeouts"),
        "maintenanceTimeZone": text("maintenanceTimeZone"),
        "maintenanceWindows": text("maintenanceWindows"),
        "allowDowngrade": on("allowDowngrade"),
    }))
}

/// `POST .../policy`: the policy form.
pub(crate) async fn policy(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let snapshot = state.admin.cache.snapshot();
    let Some(route) = find_app(&snapshot, &app).and_then(|(_, e)| snapshot.route(e, &group)) else {
        return html::not_found(Some(&session), &format!("Group {group}"));
    };
    let paused = GroupPolicy::from_json(&route.group.record.policy)
        .unwrap_or_default()
        .paused;
    let result = match policy_body(&form, paused) {
        Ok(body) => {
            admin_groups::update_group(
                State(state.admin.clone()),
                Extension(Actor(session.principal.clone())),
                Path((canonical_app_id(&app), group.clone())),
                Json(body),
            )
            .await
        }
        Err(err) => Err(err),
    };
    after_change(&state, &session, &app, &group, result, "policy").await
}

fn parse_frames(text: &str) -> Result<Vec<api::Frame>, ApiError> {
    text.split([',', '\n', ';'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|frame| {
            let bad = || {
                ApiError::Invalid(format!(
                    "frame {frame:?}: expected percent:seconds, e.g. 50:3600"
                ))
            };
            let (percent, duration) = frame.split_once(':').ok_or_else(bad)?;
            Ok(api::Frame {
                percent: percent.trim().parse().map_err(|_| bad())?,
                duration: duration.trim().parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// `POST .../rollout`: starts a timed rollout with the frames given, or stops it.
pub(crate) async fn rollout(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let app_id = canonical_app_id(&app);
    let actor = Extension(Actor(session.principal.clone()));
    let path = Path((app_id.clone(), group.clone()));
    let result = if form.get("action").is_some_and(|a| a == "stop") {
        admin_rollouts::set_rollout_active(
            State(state.admin.clone()),
            actor,
            path,
            Json(api::RolloutActive {
                app_id,
                group_id: group.clone(),
                active: false,
            }),
        )
        .await
        .map(|_| ())
    } else {
        match parse_frames(form.get("frames").map_or("", String::as_str)) {
            Ok(frames) => admin_rollouts::set_rollout(
                State(state.admin.clone()),
                actor,
                path,
                Json(api::Rollout {
                    app_id,
                    group_id: group.clone(),
                    rollout: frames,
                }),
            )
            .await
            .map(|_| ()),
            Err(err) => Err(err),
        }
    };
    after_change(&state, &session, &app, &group, result, "rollout").await
}
