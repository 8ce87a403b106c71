//! Instances and their history: `clientupdates` (and the extension `instances`, with
//! `idPrefix` and `status`), `clientupdatecount`, `appversions`, `client/history`, and the
//! extension that clears a group's retry delay (`DELETE .../groups/{group}/retry`).

use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::store::{HistoryKind, InstanceFilter, InstanceRecord, canonical_app_id};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct InstanceQuery {
    app_id: Option<String>,
    client_id: Option<String>,
    group_id: Option<String>,
    version: Option<String>,
    oem: Option<String>,
    event_type: Option<String>,
    event_result: Option<String>,
    date_start: Option<i64>,
    date_end: Option<i64>,
    limit: Option<i64>,
    skip: Option<i64>,
    id_prefix: Option<String>,
    status: Option<String>,
}

fn nonempty(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl InstanceQuery {
    fn filter(&self) -> Result<InstanceFilter, ApiError> {
        let code = |v: Option<&String>, what: &str| {
            nonempty(v)
                .map(|s| {
                    s.parse::<i64>()
                        .map_err(|_| ApiError::Invalid(format!("{what} must be a number")))
                })
                .transpose()
        };
        Ok(InstanceFilter {
            app_id: nonempty(self.app_id.as_ref()).map(|a| canonical_app_id(&a)),
            machine_id: nonempty(self.client_id.as_ref()),
            machine_id_prefix: nonempty(self.id_prefix.as_ref()),
            status: nonempty(self.status.as_ref()),
            group_id: nonempty(self.group_id.as_ref()),
            version: nonempty(self.version.as_ref()),
            oem: nonempty(self.oem.as_ref()),
            event_type: code(self.event_type.as_ref(), "eventType")?,
            event_result: code(self.event_result.as_ref(), "eventResult")?,
            // Dates are unix seconds; 0 means no bound.
            // Saturating: a date past the year 292,277,026 is "no bound" in that direction,
            // not a wrapped negative time.
            seen_after: self
                .date_start
                .filter(|d| *d > 0)
                .map(|d| d.saturating_mul(1000)),
            seen_before: self
                .date_end
                .filter(|d| *d > 0)
                .map(|d| d.saturating_mul(1000).saturating_add(999)),
        })
    }

    fn page(&self) -> (i64, i64) {
        (
            self.limit.filter(|l| *l > 0).unwrap_or(100).min(10_000),
            self.skip.unwrap_or(0).max(0),
        )
    }
}

fn code_text(v: Option<i64>) -> String {
    v.map(|c| c.to_string()).unwrap_or_default()
}

fn client_update_json(i: &InstanceRecord) -> api::ClientUpdate {
    api::ClientUpdate {
        client_id: i.machine_id.clone(),
        app_id: i.app_id.clone(),
        group_id: i.group_id.clone(),
        version: i.version.clone(),
        oem: i.oem.clone(),
        event_type: code_text(i.last_event_type),
        event_result: code_text(i.last_event_result),
        error_code: code_text(i.last_error_code),
        last_seen: rfc3339(i.last_seen),
        status: i.status.clone(),
        error_name: error_name(i.last_error_code),
        failures: i.failures,
        retry_until: i.retry_until.map(rfc3339).unwrap_or_default(),
    }
}

/// update_engine's name of an error code, empty when none.
fn error_name(code: Option<i64>) -> String {
    code.and_then(omaha_proto::codes::error_code_name)
        .map(|n| n.into_owned())
        .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RetryQuery {
    client_id: Option<String>,
}

/// Extension: `DELETE /apps/{app}/groups/{group}/retry[?clientId=]`: clears the retry delay
/// after failures of the group's instances, or of one of them, so they are offered the
/// update again at their next check. Logged in the activity log.
pub(super) async fn clear_retry_delay(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Query(query): Query<RetryQuery>,
) -> ApiResult<api::RetryCleared> {
    let app = state.app(&app).await?;
    super::groups::group_record(&state, &app, &group).await?;
    let client = query.client_id.filter(|c| !c.is_empty());
    if let Some(client) = &client {
        let known = state.store.instance(&app.id, client).await?;
        if known.is_none_or(|i| i.group_id != group) {
            return Err(ApiError::NotFound(format!(
                "instance {client} not found in group {group}"
            )));
        }
    }
    let cleared = state
        .store
        .clear_retry_delay(&app.id, &group, client.as_deref())
        .await?;
    let detail = match &client {
        Some(client) => format!("cleared the retry delay of instance {client} ({cleared} cleared)"),
        None => format!("cleared the retry delays of group {group} ({cleared} instances)"),
    };
    state
        .log(&actor, "group.retry.clear", &app.id, &group, detail)
        .await;
    Ok(Json(api::RetryCleared {
        cleared: i64::try_from(cleared).unwrap_or(i64::MAX),
    }))
}

/// `GET clientupdates` (and the extension `GET instances`, which adds `idPrefix` and
/// `status`): the latest state per instance, most recently seen first, paginated.
pub(super) async fn client_updates(
    State(state): State<AdminState>,
    Query(query): Query<InstanceQuery>,
) -> ApiResult<api::ClientUpdateList> {
    let (limit, skip) = query.page();
    let rows = state.store.instances(&query.filter()?, limit, skip).await?;
    Ok(Json(api::ClientUpdateList {
        items: rows.iter().map(client_update_json).collect(),
    }))
}

pub(super) async fn client_update_count(
    State(state): State<AdminState>,
    Query(query): Query<InstanceQuery>,
) -> ApiResult<api::ClientCount> {
    Ok(Json(api::ClientCount {
        count: state.store.count_instances(&query.filter()?).await?,
    }))
}

pub(super) async fn app_versions(
    State(state): State<AdminState>,
    Query(query): Query<InstanceQuery>,
) -> ApiResult<api::AppVersionList> {
    let counts = state.store.version_counts(&query.filter()?).await?;
    Ok(Json(api::AppVersionList {
        items: counts
            .into_iter()
            .map(|c| api::AppVersionItem {
                app_id: c.app_id,
                group_id: c.group_id,
                version: c.version,
                count: c.count,
            })
            .collect(),
    }))
}

pub(super) fn number(query: &HashMap<String, String>, key: &str, default: i64) -> i64 {
    query
        .get(key)
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(default)
}

/// `GET client/history?clientId=`: an instance's events and grants, oldest first.
pub(super) async fn client_history(
    State(state): State<AdminState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<api::ClientHistory> {
    let client = query
        .get("clientId")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::Invalid("clientId is required".into()))?;
    let app = query
        .get("appId")
        .filter(|a| !a.is_empty())
        .map(|a| canonical_app_id(a));
    let limit = number(&query, "limit", 1000).clamp(1, 100_000);
    let history = state.store.history(app.as_deref(), client, limit).await?;
    Ok(Json(api::ClientHistory {
        items: history
            .into_iter()
            .map(|h| api::ClientHistoryItem {
                date_time: h.at.div_euclid(1000),
                group_id: h.group_id,
                version: h.version,
                event_type: code_text(h.event_type),
                event_result: code_text(h.event_result),
                error_code: code_text(h.error_code),
                install_source: h.install_source,
                kind: match h.kind {
                    HistoryKind::Event => "event".into(),
                    HistoryKind::Grant => "grant".into(),
                },
                target_version: h.target_version.unwrap_or_default(),
                previous_version: h.previous_version.unwrap_or_default(),
                error_name: error_name(h.error_code),
            })
            .collect(),
    }))
}
