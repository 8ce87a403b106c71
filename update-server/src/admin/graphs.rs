//! A group's graphs: `apps/{app}/groups/{group}/requests/{kind}/{start}/{end}`, requests,
//! events or instances by version per bucket of a rollup resolution.

use super::groups::group_record;
use super::{AdminState, ApiError, ApiResult};
use crate::api;
use crate::store::{ROLLUP_RESOLUTIONS, RollupKind};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RollupQuery {
    resolution: Option<i64>,
    versions: Option<String>,
}

/// `GET .../requests/{versions|events|instances}/{start}/{end}?resolution=`: the graphs.
/// Start and end are unix seconds; 0/0 (the CLI's defaults) means the last 60 buckets.
/// `instances` (an extension) is the census: instances per version at the end of each
/// bucket; `checkins` (an extension) counts routine 3/2 check-ins per version, which
/// `events` leaves out (its 3/2 counts completed updates only).
pub(super) async fn group_requests(
    State(state): State<AdminState>,
    Path((app, group, kind, start, end)): Path<(String, String, String, i64, i64)>,
    Query(query): Query<RollupQuery>,
) -> ApiResult<api::RequestsRollup> {
    let app = state.app(&app).await?;
    group_record(&state, &app, &group).await?;
    let kind = match kind.as_str() {
        "versions" => RollupKind::Versions,
        "events" => RollupKind::Events,
        "instances" => RollupKind::Instances,
        "checkins" => RollupKind::CheckIns,
        other => return Err(ApiError::NotFound(format!("no {other} rollup"))),
    };
    let resolution = query.resolution.filter(|r| *r != 0).unwrap_or(60);
    if !ROLLUP_RESOLUTIONS.contains(&resolution) {
        return Err(ApiError::Invalid(
            "resolution must be 60, 3600 or 86400".into(),
        ));
    }
    let (start, end) = if start == 0 && end == 0 {
        let now = state.clock.now().as_second();
        (now - 60 * resolution, now)
    } else {
        (start, end)
    };
    let wanted: Option<Vec<&str>> = query
        .versions
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').collect());
    let points = state
        .store
        .rollups(&app.id, &group, kind, resolution, start, end)
        .await?;
    let mut items: Vec<api::RollupItem> = Vec::new();
    for point in points {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.contains(&point.version.as_str()))
        {
            continue;
        }
        let (t, r) = point
            .event
            .map(|(t, r)| (t.to_string(), r.to_string()))
            .unwrap_or_default();
        let value = api::RollupValue {
            timestamp: point.bucket,
            count: point.count,
        };
        match items.last_mut() {
            Some(last)
                if last.version == point.version && last.event_type == t && last.result == r =>
            {
                last.values.push(value);
            }
            _ => items.push(api::RollupItem {
                version: point.version,
                event_type: t,
                result: r,
                values: vec![value],
            }),
        }
    }
    Ok(Json(api::RequestsRollup { items }))
}
