//! Channels: `apps/{app}/channels` and `.../channels/{label}` (list, create, point at a
//! version, delete), the public list `public/channels`, and a channel's API JSON.

use super::floors::blacklisted;
use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::changes::diff;
use crate::store::{AppRecord, ChannelRecord, PackageRecord};
use axum::extract::{Path, State};
use axum::{Extension, Json};

/// Whether a channel points at a version that has no package with a payload.
fn package_missing(c: &ChannelRecord, packages: &[PackageRecord]) -> bool {
    !c.version.is_empty()
        && !packages
            .iter()
            .any(|p| p.app_id == c.app_id && p.version == c.version && !p.url.is_empty())
}

pub(crate) fn channel_json(c: &ChannelRecord, packages: &[PackageRecord]) -> api::AppChannel {
    api::AppChannel {
        package_missing: package_missing(c, packages),
        app_id: c.app_id.clone(),
        label: c.name.clone(),
        version: c.version.clone(),
        publish: c.publish,
        upstream: c.upstream.clone(),
        date_created: rfc3339(c.created_at),
    }
}

/// `GET public/channels`: the published channels.
pub(super) async fn public_channels(
    State(state): State<AdminState>,
) -> ApiResult<api::ChannelList> {
    let config = state.store.load_config().await?;
    Ok(Json(api::ChannelList {
        items: config
            .channels
            .iter()
            .filter(|c| c.publish)
            .map(|c| channel_json(c, &config.packages))
            .collect(),
    }))
}

pub(super) async fn list_channels(
    State(state): State<AdminState>,
    Path(app): Path<String>,
) -> ApiResult<api::ChannelList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    Ok(Json(api::ChannelList {
        items: config
            .channels
            .iter()
            .filter(|c| c.app_id == app.id)
            .map(|c| channel_json(c, &config.packages))
            .collect(),
    }))
}

pub(super) async fn create_channel(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    Json(body): Json<api::ChannelRequest>,
) -> ApiResult<api::AppChannel> {
    // updateservicectl's `channel create` puts the channel's label where the app id belongs
    // (updateservicectl.md §11.1): when the path names no app, the body's appId does.
    let app = match state.app(&app).await {
        Ok(app) => app,
        Err(ApiError::NotFound(_)) if !body.app_id.is_empty() => state.app(&body.app_id).await?,
        Err(err) => return Err(err),
    };
    if body.label.is_empty() {
        return Err(ApiError::Invalid("label is required".into()));
    }
    let label = body.label.clone();
    let config = state.store.load_config().await?;
    if config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == label)
    {
        return Err(ApiError::Conflict(format!(
            "channel {label} already exists"
        )));
    }
    put_channel(&state, &actor, &app, &label, body, "channel.create").await
}

async fn put_channel(
    state: &AdminState,
    actor: &Actor,
    app: &AppRecord,
    label: &str,
    body: api::ChannelRequest,
    action: &str,
) -> ApiResult<api::AppChannel> {
    if !body.version.is_empty() {
        rollout_core::Version::parse(&body.version)
            .map_err(|e| ApiError::Invalid(format!("version {:?}: {e}", body.version)))?;
    }
    let config = state.store.load_config().await?;
    if blacklisted(&config, &app.id, label, &body.version) {
        return Err(ApiError::Conflict(format!(
            "version {} is blacklisted on channel {label}: take it off the blacklist first",
            body.version
        )));
    }
    let existing = config
        .channels
        .iter()
        .find(|c| c.app_id == app.id && c.name == label);
    let record = ChannelRecord {
        app_id: app.id.clone(),
        name: label.to_owned(),
        version: body.version,
        publish: body.publish,
        upstream: existing.map(|c| c.upstream.clone()).unwrap_or_default(),
        created_at: existing.map_or_else(|| state.now_ms(), |c| c.created_at),
    };
    state.store.put_channel(&record).await?;
    state.refreshed().await;
    let detail = format!("channel {label} at version {}", record.version);
    let changes = diff(
        existing.map(|c| channel_json(c, &config.packages)).as_ref(),
        Some(&channel_json(&record, &config.packages)),
    );
    state
        .log_changes(actor, action, &app.id, "", detail, changes)
        .await;
    Ok(Json(channel_json(&record, &config.packages)))
}

pub(crate) async fn update_channel(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label)): Path<(String, String)>,
    Json(body): Json<api::ChannelRequest>,
) -> ApiResult<api::AppChannel> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    if !config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == label)
    {
        return Err(ApiError::NotFound(format!("channel {label} not found")));
    }
    put_channel(&state, &actor, &app, &label, body, "channel.update").await
}

pub(super) async fn delete_channel(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label)): Path<(String, String)>,
) -> ApiResult<api::ChannelRequest> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let record = config
        .channels
        .into_iter()
        .find(|c| c.app_id == app.id && c.name == label)
        .ok_or_else(|| ApiError::NotFound(format!("channel {label} not found")))?;
    let users: Vec<&str> = config
        .groups
        .iter()
        .filter(|g| g.app_id == app.id && g.channel == label)
        .map(|g| g.id.as_str())
        .collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "channel {label} is in use by group(s) {}: move them to another channel first",
            users.join(", ")
        )));
    }
    state.store.delete_channel(&app.id, &label).await?;
    state.refreshed().await;
    let changes = diff(Some(&channel_json(&record, &config.packages)), None);
    state
        .log_changes(
            &actor,
            "channel.delete",
            &app.id,
            "",
            format!("channel {label}"),
            changes,
        )
        .await;
    Ok(Json(api::ChannelRequest {
        app_id: record.app_id,
        label: record.name,
        version: record.version,
        publish: record.publish,
    }))
}
