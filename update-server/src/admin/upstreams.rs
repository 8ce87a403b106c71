//! Upstreams: `upstream` and `upstream/{id}` (list, create, update, delete), each checked
//! (an `omaha` upstream names an existing app, tracks, architectures, and downloads only when
//! this server hosts payloads). The sync itself is [`crate::upstream`].

use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::store::{UPSTREAM_ADMIN, UPSTREAM_OMAHA, UpstreamRecord};
use axum::extract::{Path, State};
use axum::{Extension, Json};

fn upstream_json(u: &UpstreamRecord) -> api::Upstream {
    api::Upstream {
        id: u.id.clone(),
        url: u.url.clone(),
        label: u.label.clone(),
        kind: if u.kind == UPSTREAM_ADMIN {
            String::new()
        } else {
            u.kind.clone()
        },
        app_id: u.app_id.clone(),
        upstream_app_id: u.upstream_app_id.clone(),
        tracks: u.tracks.clone(),
        arches: u.arches.clone(),
        download: u.download,
        last_sync: if u.last_sync_at > 0 {
            rfc3339(u.last_sync_at)
        } else {
            String::new()
        },
        last_status: u.last_status.clone(),
        last_detail: u.last_detail.clone(),
    }
}

fn check_url(url: &str) -> Result<(), ApiError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(ApiError::Invalid(format!(
            "url {url:?} must be http:// or https://"
        )))
    }
}

/// The most tracks one Omaha upstream follows.
pub const MAX_UPSTREAM_TRACKS: usize = 16;

/// The upstream a create or update body describes, checked: an `omaha` upstream names an
/// existing app, at least one track (a channel name), valid architectures, and downloads
/// only when this server hosts payloads.
async fn upstream_record(
    state: &AdminState,
    id: String,
    body: api::Upstream,
) -> Result<UpstreamRecord, ApiError> {
    check_url(&body.url)?;
    let kind = match body.kind.trim() {
        "" | UPSTREAM_ADMIN => UPSTREAM_ADMIN,
        UPSTREAM_OMAHA => UPSTREAM_OMAHA,
        other => {
            return Err(ApiError::Invalid(format!(
                "kind {other:?} is not an upstream kind: use \"admin\" or \"omaha\""
            )));
        }
    };
    let mut record = UpstreamRecord {
        id,
        url: body.url,
        label: body.label,
        kind: kind.to_owned(),
        ..UpstreamRecord::default()
    };
    if kind == UPSTREAM_ADMIN {
        if !body.app_id.is_empty()
            || !body.upstream_app_id.is_empty()
            || !body.tracks.is_empty()
            || !body.arches.is_empty()
            || body.download
        {
            return Err(ApiError::Invalid(
                "appId, upstreamAppId, tracks, arches and download are for upstreams of kind \"omaha\""
                    .into(),
            ));
        }
        return Ok(record);
    }
    record.app_id = state.app(&body.app_id).await?.id;
    let upstream_app_id = body.upstream_app_id.trim();
    record.upstream_app_id = if upstream_app_id.is_empty() {
        record.app_id.clone()
    } else if upstream_app_id.len() > 128
        || upstream_app_id
            .chars()
            .any(|c| c.is_control() || c == ',' || c.is_whitespace())
    {
        return Err(ApiError::Invalid(format!(
            "upstreamAppId {upstream_app_id:?} is not an app id"
        )));
    } else {
        upstream_app_id.to_owned()
    };
    for track in &body.tracks {
        let track = track.trim();
        if track.is_empty()
            || track.len() > 64
            || track
                .chars()
                .any(|c| c.is_control() || c == ',' || c == '/' || c.is_whitespace())
        {
            return Err(ApiError::Invalid(format!(
                "track {track:?} must be a channel name: 1 to 64 bytes, no spaces, commas or slashes"
            )));
        }
        if !record.tracks.iter().any(|t| t == track) {
            record.tracks.push(track.to_owned());
        }
    }
    if record.tracks.is_empty() || record.tracks.len() > MAX_UPSTREAM_TRACKS {
        return Err(ApiError::Invalid(format!(
            "an upstream of kind \"omaha\" follows 1 to {MAX_UPSTREAM_TRACKS} tracks"
        )));
    }
    for arch in &body.arches {
        let arch = rollout_core::Arch::parse(arch)
            .map_err(|e| ApiError::Invalid(format!("architecture: {e}")))?;
        if !record.arches.iter().any(|a| a == arch.as_str()) {
            record.arches.push(arch.as_str().to_owned());
        }
    }
    if record.arches.is_empty() {
        record.arches.push("amd64".into());
    }
    if record.arches.len() > 8 {
        return Err(ApiError::Invalid(
            "an upstream of kind \"omaha\" asks for at most 8 architectures".into(),
        ));
    }
    if body.download && state.hosting.is_none() {
        return Err(ApiError::Invalid(
            "download needs payload hosting: start the server with a data directory".into(),
        ));
    }
    record.download = body.download;
    Ok(record)
}

fn upstream_detail(record: &UpstreamRecord) -> String {
    if record.kind == UPSTREAM_OMAHA {
        format!(
            "upstream {} at {} (Omaha: app {} as {}, tracks {}, architectures {}{})",
            record.id,
            record.url,
            record.app_id,
            record.upstream_app_id,
            record.tracks.join(", "),
            record.arches.join(", "),
            if record.download {
                ", payloads downloaded"
            } else {
                ""
            }
        )
    } else {
        format!("upstream {} at {}", record.id, record.url)
    }
}

pub(super) async fn list_upstreams(
    State(state): State<AdminState>,
) -> ApiResult<api::UpstreamList> {
    Ok(Json(api::UpstreamList {
        items: state
            .store
            .upstreams()
            .await?
            .iter()
            .map(upstream_json)
            .collect(),
    }))
}

pub(super) async fn create_upstream(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<api::Upstream>,
) -> ApiResult<api::Upstream> {
    let next = state
        .store
        .upstreams()
        .await?
        .iter()
        .filter_map(|u| u.id.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let record = upstream_record(&state, next.to_string(), body).await?;
    state.store.put_upstream(&record).await?;
    let detail = upstream_detail(&record);
    let changes = crate::changes::diff(None, Some(&upstream_json(&record)));
    state
        .log_changes(&actor, "upstream.create", "", "", detail, changes)
        .await;
    Ok(Json(upstream_json(&record)))
}

pub(super) async fn update_upstream(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Json(body): Json<api::Upstream>,
) -> ApiResult<api::Upstream> {
    let Some(existing) = state
        .store
        .upstreams()
        .await?
        .into_iter()
        .find(|u| u.id == id)
    else {
        return Err(ApiError::NotFound(format!("upstream {id} not found")));
    };
    let mut record = upstream_record(&state, id, body).await?;
    state.store.put_upstream(&record).await?;
    record.last_sync_at = existing.last_sync_at;
    record.last_status = existing.last_status.clone();
    record.last_detail = existing.last_detail.clone();
    let detail = upstream_detail(&record);
    let changes = crate::changes::diff(
        Some(&upstream_json(&existing)),
        Some(&upstream_json(&record)),
    );
    state
        .log_changes(&actor, "upstream.update", "", "", detail, changes)
        .await;
    Ok(Json(upstream_json(&record)))
}

pub(super) async fn delete_upstream(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> ApiResult<api::Upstream> {
    let record = state
        .store
        .upstreams()
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("upstream {id} not found")))?;
    state.store.delete_upstream(&id).await?;
    let changes = crate::changes::diff(Some(&upstream_json(&record)), None);
    state
        .log_changes(
            &actor,
            "upstream.delete",
            "",
            "",
            format!("upstream {id}"),
            changes,
        )
        .await;
    Ok(Json(upstream_json(&record)))
}
