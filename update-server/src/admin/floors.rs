//! A channel's floors and blacklist (`apps/{app}/channels/{label}/floors/{version}` and
//! `.../blacklist/{version}`): the versions an instance must stop at on its way to the
//! channel's target (at most [`MAX_FLOORS_PER_CHANNEL`], each with a reason of at most
//! [`MAX_FLOOR_REASON`] bytes), and the versions never offered.

use super::package_files::ArchQuery;
use super::packages::arch_of_path;
use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::changes::diff;
use crate::store::{AppRecord, ChannelRecord};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};

/// The most floors one channel has (a multi-manifest answer lists every floor on the way).
pub const MAX_FLOORS_PER_CHANNEL: usize = 100;

/// The longest floor reason accepted, in bytes.
pub const MAX_FLOOR_REASON: usize = 512;

fn same_version(a: &str, b: &str) -> bool {
    match (
        rollout_core::Version::parse(a),
        rollout_core::Version::parse(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Whether `version` is blacklisted on channel `channel` of app `app_id`.
pub(super) fn blacklisted(
    config: &crate::store::ConfigSnapshot,
    app_id: &str,
    channel: &str,
    version: &str,
) -> bool {
    !version.is_empty()
        && config.blacklist.iter().any(|b| {
            b.app_id == app_id && b.channel == channel && same_version(&b.version, version)
        })
}

/// The channel `label` of `app` (404 when it does not exist) and the version in the path,
/// checked.
fn channel_and_version<'a>(
    config: &'a crate::store::ConfigSnapshot,
    app: &AppRecord,
    label: &str,
    version: &str,
) -> Result<&'a ChannelRecord, ApiError> {
    rollout_core::Version::parse(version)
        .map_err(|e| ApiError::Invalid(format!("version {version:?}: {e}")))?;
    config
        .channels
        .iter()
        .find(|c| c.app_id == app.id && c.name == label)
        .ok_or_else(|| ApiError::NotFound(format!("channel {label} not found")))
}

fn floor_json(record: &crate::store::FloorRecord) -> api::ChannelFloor {
    api::ChannelFloor {
        app_id: record.app_id.clone(),
        channel: record.channel.clone(),
        arch: record.arch.clone(),
        version: record.version.clone(),
        reason: record.reason.clone(),
        date_created: rfc3339(record.created_at),
    }
}

fn blacklisted_json(record: &crate::store::BlacklistRecord) -> api::BlacklistedVersion {
    api::BlacklistedVersion {
        app_id: record.app_id.clone(),
        channel: record.channel.clone(),
        version: record.version.clone(),
        date_created: rfc3339(record.created_at),
    }
}

fn by_version(a: &str, b: &str) -> std::cmp::Ordering {
    match (
        rollout_core::Version::parse(a),
        rollout_core::Version::parse(b),
    ) {
        (Ok(va), Ok(vb)) => va.cmp(&vb),
        _ => a.cmp(b),
    }
}

/// `GET apps/{app}/channels/{label}/floors`: the channel's floors, lowest first.
pub(super) async fn list_floors(
    State(state): State<AdminState>,
    Path((app, label)): Path<(String, String)>,
) -> ApiResult<api::ChannelFloorList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    if !config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == label)
    {
        return Err(ApiError::NotFound(format!("channel {label} not found")));
    }
    let mut floors: Vec<&crate::store::FloorRecord> = config
        .floors
        .iter()
        .filter(|f| f.app_id == app.id && f.channel == label)
        .collect();
    floors.sort_by(|a, b| by_version(&a.version, &b.version).then(a.arch.cmp(&b.arch)));
    Ok(Json(api::ChannelFloorList {
        total: i64::try_from(floors.len()).unwrap_or(i64::MAX),
        items: floors.into_iter().map(floor_json).collect(),
    }))
}

/// `PUT apps/{app}/channels/{label}/floors/{version}?arch=`: makes `version` a floor of the
/// channel (for every architecture, or for `arch`), with the body's reason. A blacklisted
/// version cannot be a floor. A floor without a package holds its instances back (they
/// are never offered a later version) until the package exists.
pub(super) async fn put_floor(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label, version)): Path<(String, String, String)>,
    Query(query): Query<ArchQuery>,
    Json(body): Json<api::ChannelFloor>,
) -> ApiResult<api::ChannelFloor> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    channel_and_version(&config, &app, &label, &version)?;
    let arch = if query.arch.trim().is_empty() {
        String::new()
    } else {
        arch_of_path(&query.arch)?.as_str().to_owned()
    };
    let reason = body.reason.trim().to_owned();
    if reason.len() > MAX_FLOOR_REASON || reason.chars().any(char::is_control) {
        return Err(ApiError::Invalid(format!(
            "the reason must be at most {MAX_FLOOR_REASON} bytes without control characters"
        )));
    }
    if blacklisted(&config, &app.id, &label, &version) {
        return Err(ApiError::Conflict(format!(
            "version {version} is blacklisted on channel {label}: a floor cannot be blacklisted"
        )));
    }
    let on_channel: Vec<&crate::store::FloorRecord> = config
        .floors
        .iter()
        .filter(|f| f.app_id == app.id && f.channel == label)
        .collect();
    let existing = on_channel
        .iter()
        .find(|f| f.arch == arch && f.version == version);
    if existing.is_none() && on_channel.len() >= MAX_FLOORS_PER_CHANNEL {
        return Err(ApiError::Conflict(format!(
            "channel {label} has {MAX_FLOORS_PER_CHANNEL} floors already, the most one channel has"
        )));
    }
    let record = crate::store::FloorRecord {
        app_id: app.id.clone(),
        channel: label.clone(),
        arch,
        version,
        reason,
        created_at: existing.map_or_else(|| state.now_ms(), |f| f.created_at),
    };
    state.store.put_floor(&record).await?;
    state.refreshed().await;
    let detail = format!(
        "floor {}{} of channel {label}: {}",
        record.version,
        if record.arch.is_empty() {
            String::new()
        } else {
            format!(" ({})", record.arch)
        },
        record.reason
    );
    let changes = diff(
        existing.map(|f| floor_json(f)).as_ref(),
        Some(&floor_json(&record)),
    );
    state
        .log_changes(&actor, "channel.floor.put", &app.id, "", detail, changes)
        .await;
    Ok(Json(floor_json(&record)))
}

/// `DELETE apps/{app}/channels/{label}/floors/{version}?arch=`.
pub(super) async fn delete_floor(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label, version)): Path<(String, String, String)>,
    Query(query): Query<ArchQuery>,
) -> ApiResult<api::ChannelFloor> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    channel_and_version(&config, &app, &label, &version)?;
    let arch = if query.arch.trim().is_empty() {
        String::new()
    } else {
        arch_of_path(&query.arch)?.as_str().to_owned()
    };
    let record = config
        .floors
        .iter()
        .find(|f| {
            f.app_id == app.id && f.channel == label && f.arch == arch && f.version == version
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!("floor {version} of channel {label} not found"))
        })?;
    state
        .store
        .delete_floor(&app.id, &label, &arch, &version)
        .await?;
    state.refreshed().await;
    let detail = format!("floor {version} of channel {label}");
    let changes = diff(Some(&floor_json(record)), None);
    state
        .log_changes(&actor, "channel.floor.delete", &app.id, "", detail, changes)
        .await;
    Ok(Json(floor_json(record)))
}

/// `GET apps/{app}/channels/{label}/blacklist`: the versions never offered on the channel.
pub(super) async fn list_blacklist(
    State(state): State<AdminState>,
    Path((app, label)): Path<(String, String)>,
) -> ApiResult<api::BlacklistList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    if !config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == label)
    {
        return Err(ApiError::NotFound(format!("channel {label} not found")));
    }
    let mut items: Vec<&crate::store::BlacklistRecord> = config
        .blacklist
        .iter()
        .filter(|b| b.app_id == app.id && b.channel == label)
        .collect();
    items.sort_by(|a, b| by_version(&a.version, &b.version));
    Ok(Json(api::BlacklistList {
        total: i64::try_from(items.len()).unwrap_or(i64::MAX),
        items: items.into_iter().map(blacklisted_json).collect(),
    }))
}

/// `PUT apps/{app}/channels/{label}/blacklist/{version}`: `version` is never offered on the
/// channel. Refused while the channel points at it or it is one of the channel's floors.
pub(super) async fn put_blacklisted(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label, version)): Path<(String, String, String)>,
) -> ApiResult<api::BlacklistedVersion> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let channel = channel_and_version(&config, &app, &label, &version)?;
    if same_version(&channel.version, &version) {
        return Err(ApiError::Conflict(format!(
            "channel {label} points at {version}: point it at another version first"
        )));
    }
    if config
        .floors
        .iter()
        .any(|f| f.app_id == app.id && f.channel == label && same_version(&f.version, &version))
    {
        return Err(ApiError::Conflict(format!(
            "{version} is a floor of channel {label}: a floor cannot be blacklisted"
        )));
    }
    let existing = config
        .blacklist
        .iter()
        .find(|b| b.app_id == app.id && b.channel == label && b.version == version);
    if config
        .blacklist
        .iter()
        .filter(|b| b.app_id == app.id && b.channel == label)
        .count()
        >= MAX_FLOORS_PER_CHANNEL
        && existing.is_none()
    {
        return Err(ApiError::Conflict(format!(
            "channel {label} has {MAX_FLOORS_PER_CHANNEL} blacklisted versions already"
        )));
    }
    let record = crate::store::BlacklistRecord {
        app_id: app.id.clone(),
        channel: label.clone(),
        version,
        created_at: existing.map_or_else(|| state.now_ms(), |b| b.created_at),
    };
    state.store.put_blacklisted(&record).await?;
    state.refreshed().await;
    let detail = format!("version {} blacklisted on channel {label}", record.version);
    let changes = diff(
        existing.map(blacklisted_json).as_ref(),
        Some(&blacklisted_json(&record)),
    );
    state
        .log_changes(
            &actor,
            "channel.blacklist.put",
            &app.id,
            "",
            detail,
            changes,
        )
        .await;
    Ok(Json(blacklisted_json(&record)))
}

/// `DELETE apps/{app}/channels/{label}/blacklist/{version}`.
pub(super) async fn delete_blacklisted(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label, version)): Path<(String, String, String)>,
) -> ApiResult<api::BlacklistedVersion> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    channel_and_version(&config, &app, &label, &version)?;
    let record = config
        .blacklist
        .iter()
        .find(|b| b.app_id == app.id && b.channel == label && b.version == version)
        .ok_or_else(|| {
            ApiError::NotFound(format!("{version} is not blacklisted on channel {label}"))
        })?;
    state
        .store
        .delete_blacklisted(&app.id, &label, &version)
        .await?;
    state.refreshed().await;
    let detail = format!("version {version} off the blacklist of channel {label}");
    let changes = diff(Some(&blacklisted_json(record)), None);
    state
        .log_changes(
            &actor,
            "channel.blacklist.delete",
            &app.id,
            "",
            detail,
            changes,
        )
        .await;
    Ok(Json(blacklisted_json(record)))
}
