//! Apps: `apps` and `apps/{app}` (list, create, read, update, delete), and an app's API
//! JSON, which the activity log and upstream sync record too.

use super::{Actor, AdminState, ApiError, ApiResult};
use crate::api;
use crate::changes::diff;
use crate::store::{AppRecord, canonical_app_id};
use axum::extract::{Path, State};
use axum::{Extension, Json};

pub(crate) fn app_json(record: &AppRecord) -> api::App {
    api::App {
        id: record.id.clone(),
        label: record.label.clone(),
        description: record.description.clone(),
        hash_sha256: if record.hash_sha256 == HASH_BASE64 {
            HASH_BASE64.to_owned()
        } else {
            String::new()
        },
    }
}

const HASH_HEX: &str = "hex";
const HASH_BASE64: &str = "base64";

/// The `hashSha256` of an app body: `hex` or `base64`; empty gives `current`.
fn hash_sha256_of(body: &str, current: &str) -> Result<String, ApiError> {
    match body.trim() {
        "" => Ok(current.to_owned()),
        HASH_HEX => Ok(HASH_HEX.to_owned()),
        HASH_BASE64 => Ok(HASH_BASE64.to_owned()),
        other => Err(ApiError::Invalid(format!(
            "hashSha256 {other:?} must be \"hex\" or \"base64\""
        ))),
    }
}

/// `GET apps`: the apps the principal may see (every app, or those of its scope).
pub(super) async fn list_apps(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
) -> ApiResult<api::AppList> {
    let config = state.store.load_config().await?;
    Ok(Json(api::AppList {
        items: config
            .apps
            .iter()
            .filter(|a| actor.0.may_see_app(&a.id))
            .map(app_json)
            .collect(),
    }))
}

pub(super) async fn create_app(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<api::App>,
) -> ApiResult<api::App> {
    let id = if body.id.trim().is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        canonical_app_id(&body.id)
    };
    let record = AppRecord {
        id,
        hash_sha256: hash_sha256_of(&body.hash_sha256, HASH_HEX)?,
        label: body.label,
        description: body.description,
        created_at: state.now_ms(),
    };
    state.store.create_app(&record).await?;
    state.refreshed().await;
    let detail = format!("created app {}", record.label);
    let changes = diff(None, Some(&app_json(&record)));
    state
        .log_changes(&actor, "app.create", &record.id, "", detail, changes)
        .await;
    Ok(Json(app_json(&record)))
}

pub(super) async fn get_app(
    State(state): State<AdminState>,
    Path(app): Path<String>,
) -> ApiResult<api::App> {
    Ok(Json(app_json(&state.app(&app).await?)))
}

pub(super) async fn update_app(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    Json(body): Json<api::App>,
) -> ApiResult<api::App> {
    let mut record = state.app(&app).await?;
    let before = app_json(&record);
    record.hash_sha256 = hash_sha256_of(&body.hash_sha256, &record.hash_sha256)?;
    record.label = body.label;
    record.description = body.description;
    state.store.update_app(&record).await?;
    state.refreshed().await;
    let detail = format!("updated app {}", record.label);
    let changes = diff(Some(&before), Some(&app_json(&record)));
    state
        .log_changes(&actor, "app.update", &record.id, "", detail, changes)
        .await;
    Ok(Json(app_json(&record)))
}

pub(super) async fn delete_app(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
) -> ApiResult<api::App> {
    let record = state.app(&app).await?;
    state.store.delete_app(&record.id).await?;
    state.refreshed().await;
    let detail = format!("deleted app {}", record.label);
    let changes = diff(Some(&app_json(&record)), None);
    state
        .log_changes(&actor, "app.delete", &record.id, "", detail, changes)
        .await;
    Ok(Json(app_json(&record)))
}
