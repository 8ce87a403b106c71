//! The activity log: `GET activity`, newest first.

use super::instances::number;
use super::{AdminState, ApiResult, rfc3339};
use crate::api;
use crate::store::canonical_app_id;
use axum::Json;
use axum::extract::{Query, State};
use std::collections::HashMap;

/// Extension: `GET activity[?appId=&limit=&skip=]`, newest first.
pub(super) async fn list_activity(
    State(state): State<AdminState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<api::ActivityList> {
    let app = query
        .get("appId")
        .filter(|a| !a.is_empty())
        .map(|a| canonical_app_id(a));
    let limit = number(&query, "limit", 100).clamp(1, 10_000);
    let entries = state
        .store
        .activity(app.as_deref(), limit, number(&query, "skip", 0))
        .await?;
    Ok(Json(api::ActivityList {
        items: entries
            .into_iter()
            .map(|e| api::Activity {
                id: e.id,
                date_time: rfc3339(e.at),
                actor: e.actor,
                action: e.action,
                app_id: e.app_id,
                group_id: e.group_id,
                detail: e.detail,
                changes: e
                    .changes
                    .into_iter()
                    .map(|c| api::ActivityChange {
                        field: c.field,
                        old: c.old,
                        new: c.new,
                    })
                    .collect(),
            })
            .collect(),
    }))
}
