//! A group's graphs (`GET /apps/{app}/groups/{group}/graphs`): instances by version (from the
//! census), requests, events and routine check-ins over a period, drawn by
//! [`crate::panel::chart`] from the rollups, with markers from the activity log (promotions,
//! pauses, resumes) and the policy (timed rollout frames).

use super::{Params, app_label, by_version_desc, find_app, group_url};
use crate::api;
use crate::clock::millis;
use crate::panel::PanelState;
use crate::panel::chart::{self, LineChart, Marker, Series};
use crate::panel::html::{self, esc, page, url};
use crate::panel::session::Session;
use crate::policy::GroupPolicy;
use crate::store::{InstanceFilter, ROLLUP_RESOLUTIONS, RollupKind, bucket_of};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A period of the graphs: its name, its bucket length and how many buckets.
const RANGES: [(&str, &str, i64, i64); 4] = [
    ("1h", "1 hour", 60, 60),
    ("1d", "1 day", 3600, 24),
    ("7d", "7 days", 3600, 168),
    ("30d", "30 days", 86_400, 30),
];

pub(super) fn event_label(event: (i64, i64)) -> String {
    api::event_label(&event.0.to_string(), &event.1.to_string())
}

/// The instances-by-version series of a graph of `len` buckets: each bucket's census
/// ([`RollupKind::Instances`]), a bucket without one repeating the bucket before it (no
/// server counted then; the fleet did not vanish), and the last bucket the live counts.
fn census_series(
    points: &[crate::store::RollupPoint],
    live: &[(String, i64)],
    len: usize,
    index: impl Fn(i64) -> Option<usize>,
) -> BTreeMap<String, Vec<i64>> {
    let mut counted = vec![false; len];
    let mut by_version: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for p in points {
        if let Some(i) = index(p.bucket).filter(|i| *i < len) {
            counted[i] = true;
            by_version
                .entry(p.version.clone())
                .or_insert_with(|| vec![0; len])[i] = p.count;
        }
    }
    if let Some(last) = len.checked_sub(1) {
        counted[last] = true;
        for values in by_version.values_mut() {
            values[last] = 0;
        }
        for (version, count) in live {
            by_version
                .entry(version.clone())
                .or_insert_with(|| vec![0; len])[last] = *count;
        }
    }
    for i in 1..len {
        if !counted[i] {
            for values in by_version.values_mut() {
                values[i] = values[i - 1];
            }
        }
    }
    by_version.retain(|_, values| values.iter().any(|v| *v > 0));
    by_version
}

/// `GET .../graphs?range=1h|1d|7d|30d`: instances by version and events over time.
pub(crate) async fn graphs(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Query(query): Query<Params>,
) -> Response {
    let snapshot = state.admin.cache.snapshot();
    let Some((app_id, entry)) = find_app(&snapshot, &app) else {
        return html::not_found(Some(&session), &format!("Application {app}"));
    };
    let Some(route) = snapshot.route(entry, &group) else {
        return html::not_found(Some(&session), &format!("Group {group}"));
    };
    let wanted = query.get("range").map_or("1h", String::as_str);
    let Some(&(range, range_label, resolution, n)) = RANGES.iter().find(|r| r.0 == wanted) else {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            Some(&session),
            "Unknown period",
            "The period must be 1h, 1d, 7d or 30d.",
        );
    };
    debug_assert!(ROLLUP_RESOLUTIONS.contains(&resolution));
    let now = state.admin.clock.now();
    let last = bucket_of(millis(now), resolution);
    let first = last - (n - 1) * resolution;
    let buckets: Vec<i64> = (0..n).map(|i| first + i * resolution).collect();
    let index = |bucket: i64| usize::try_from((bucket - first) / resolution).ok();
    let store = state.admin.store.as_ref();
    let loaded = async {
        let versions = store
            .rollups(
                &app_id,
                &group,
                RollupKind::Instances,
                resolution,
                first,
                last,
            )
            .await?;
        let events = store
            .rollups(&app_id, &group, RollupKind::Events, resolution, first, last)
            .await?;
        let check_ins = store
            .rollups(
                &app_id,
                &group,
                RollupKind::CheckIns,
                resolution,
                first,
                last,
            )
            .await?;
        let counts = store
            .version_counts(&InstanceFilter {
                app_id: Some(app_id.clone()),
                group_id: Some(group.clone()),
                ..InstanceFilter::default()
            })
            .await?;
        let activity = store.activity(Some(&app_id), MARKER_ENTRIES, 0).await?;
        Ok::<_, crate::store::StoreError>((versions, events, check_ins, counts, activity))
    };
    let (version_points, event_points, check_in_points, counts, activity) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let len = usize::try_from(n).unwrap_or(0);
    let live: Vec<(String, i64)> = counts
        .iter()
        .map(|c| (c.version.clone(), c.count))
        .collect();
    let policy = GroupPolicy::from_json(&route.group.record.policy).unwrap_or_default();
    let target = route
        .channel
        .as_ref()
        .map(|c| c.record.version.clone())
        .unwrap_or_default();
    // Versions: the target green and solid; the others in the palette's order.
    let mut version_series: Vec<Series> = census_series(&version_points, &live, len, index)
        .into_iter()
        .map(|(label, values)| Series {
            style: (label == target).then_some(chart::Style {
                colour: chart::GREEN,
                dash: "",
            }),
            label,
            values,
        })
        .collect();
    version_series.sort_by(|a, b| by_version_desc(&a.label, &b.label));
    let mut by_event: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for p in event_points {
        if let (Some(event), Some(i)) = (p.event, index(p.bucket).filter(|i| *i < len)) {
            by_event.entry(event).or_insert_with(|| vec![0; len])[i] += p.count;
        }
    }
    // Events in a fixed order (completions and errors first), each in its own colour.
    let mut events: Vec<((i64, i64), Vec<i64>)> = by_event.into_iter().collect();
    events.sort_by_key(|(event, _)| (event_order(*event), *event));
    let event_series: Vec<Series> = events
        .into_iter()
        .map(|(event, values)| Series {
            label: event_label(event),
            values,
            style: chart::event_style(event),
        })
        .collect();
    // Routine check-ins apart: they would drown every other line.
    let mut check_in_values = vec![0; len];
    for p in check_in_points {
        if let Some(i) = index(p.bucket).filter(|i| *i < len) {
            check_in_values[i] += p.count;
        }
    }
    let check_in_series: Vec<Series> = if check_in_values.iter().any(|v| *v > 0) {
        vec![Series {
            label: event_label(crate::store::CHECK_IN),
            values: check_in_values,
            style: chart::event_style(crate::store::CHECK_IN),
        }]
    } else {
        Vec::new()
    };
    // The time axis starts where the data does.
    let start = chart::first_with_data(&[&version_series, &event_series, &check_in_series])
        .min(len.saturating_sub(1));
    let buckets: Vec<i64> = buckets.get(start..).unwrap_or_default().to_vec();
    let trim = |series: Vec<Series>| -> Vec<Series> {
        series
            .into_iter()
            .map(|mut s| {
                s.values = s.values.get(start..).unwrap_or_default().to_vec();
                s
            })
            .collect()
    };
    let (version_series, event_series, check_in_series) = (
        trim(version_series),
        trim(event_series),
        trim(check_in_series),
    );
    let markers = graph_markers(&activity, &group, &route.group.record.channel, &policy);
    let running = !target.is_empty()
        && !policy.paused
        && counts.iter().any(|c| c.version != target && c.count > 0);
    let unit = match resolution {
        60 => "minute",
        3600 => "hour",
        _ => "day",
    };
    let versions_title = format!("Instances by version, per {unit} ({range_label})");
    let events_title = format!("Update events per {unit} ({range_label})");
    let check_ins_title = format!("Routine check-ins per {unit} ({range_label})");
    let versions_chart = LineChart {
        id: "versions",
        title: &versions_title,
        buckets: &buckets,
        resolution,
        series: &version_series,
        markers: &markers,
    };
    let events_chart = LineChart {
        id: "events",
        title: &events_title,
        buckets: &buckets,
        resolution,
        series: &event_series,
        markers: &markers,
    };
    let check_ins_chart = LineChart {
        id: "check-ins",
        title: &check_ins_title,
        buckets: &buckets,
        resolution,
        series: &check_in_series,
        markers: &[],
    };
    let base = group_url(&app_id, &group);
    let mut tabs = String::new();
    for (name, label, _, _) in RANGES {
        let _ = write!(
            tabs,
            r#"<li><a href="{base}/graphs?range={name}"{current}>{label}</a></li>"#,
            current = if name == range {
                r#" aria-current="page""#
            } else {
                ""
            },
        );
    }
    let label = if route.group.record.label.is_empty() {
        &route.group.record.id
    } else {
        &route.group.record.label
    };
    let figure = |chart: &LineChart<'_>, title: &str| {
        format!(
            r#"<figure aria-labelledby="{id}-caption"><figcaption id="{id}-caption">{title}</figcaption><div class="chart-wrap" tabindex="0" role="region" aria-label="{title} (the plot scrolls sideways on narrow screens; its y axis stays)">{svg}</div>{legend}{table}</figure>"#,
            id = chart.id,
            title = esc(title),
            svg = chart.svg(),
            legend = chart.legend(),
            table = chart.table(),
        )
    };
    let body = format!(
        r#"<p class="muted"><a href="/apps/{appq}">{app_label}</a> › <a href="{base}">{label}</a> › graphs</p>
<h1>Graphs of {label}</h1>
<nav aria-label="Period"><ul class="tabs">{tabs}</ul></nav>
<div id="charts"{refresh}>
<p class="muted">Target version: {target}. Counted at {now}{refreshing}. Instances are counted every few seconds: each past {unit} shows the count at its end, the last one the count now; where no count was taken (no server running), the {unit} before is repeated. The charts start with the first count of this period. Marks: V promotion, P pause, R resume or unpause, A automatic pause, F timed rollout frame.</p>
{versions}
{events}
{check_ins}
</div>"#,
        appq = url(&app_id),
        app_label = esc(&app_label(entry)),
        label = esc(label),
        refresh = if running { r#" data-refresh="15""# } else { "" },
        target = if target.is_empty() {
            "none".to_owned()
        } else {
            esc(&target)
        },
        now = esc(&now.strftime("%Y-%m-%d %H:%M UTC").to_string()),
        refreshing = if running {
            "; refreshing while the rollout runs"
        } else {
            ""
        },
        versions = figure(&versions_chart, &versions_title),
        events = figure(&events_chart, &events_title),
        check_ins = figure(&check_ins_chart, &check_ins_title),
    );
    page(
        StatusCode::OK,
        &format!("Graphs of {label}"),
        Some(&session),
        &body,
    )
}

/// Activity entries of the app looked through for a graph's markers.
const MARKER_ENTRIES: i64 = 500;

/// The order events are listed in: completions, errors, then the steps of an update.
fn event_order(event: (i64, i64)) -> u8 {
    match event {
        (3, 2) => 0,
        (3, 0) => 1,
        (13, 1) => 2,
        (14, 1) => 3,
        (3, 1) => 4,
        (800, 1) => 5,
        _ => 6,
    }
}

/// A graph's markers: from the activity log, the group's pauses, unpauses, automatic
/// pauses and resumes and the promotions of its channel; from its policy, the starts of
/// the frames of its timed rollout.
fn graph_markers(
    activity: &[crate::store::ActivityRecord],
    group: &str,
    channel: &str,
    policy: &GroupPolicy,
) -> Vec<Marker> {
    let mut markers = Vec::new();
    // The log comes newest first; oldest first, entries of the same time keep their order.
    for e in activity.iter().rev() {
        let at = e.at.div_euclid(1000);
        let this_group = e.group_id == group;
        let kind = match e.action.as_str() {
            "group.autopause" if this_group => Some(("autopause", e.detail.clone())),
            "group.resume" if this_group => {
                Some(("resume", "resumed after an automatic pause".to_owned()))
            }
            "group.update" if this_group && e.detail.starts_with("paused group") => {
                Some(("pause", format!("paused by {}", e.actor)))
            }
            "group.update" if this_group && e.detail.starts_with("unpaused group") => {
                Some(("unpause", format!("unpaused by {}", e.actor)))
            }
            "channel.update" | "channel.create"
                if !channel.is_empty()
                    && e.detail
                        .starts_with(&format!("channel {channel} at version ")) =>
            {
                let version = e
                    .detail
                    .trim_start_matches(&format!("channel {channel} at version "));
                Some((
                    "promotion",
                    format!("channel {channel} promoted to {version}"),
                ))
            }
            _ => None,
        };
        if let Some((kind, label)) = kind {
            markers.push(Marker { at, kind, label });
        }
    }
    if let Some(since) = policy.rollout_active_since {
        let mut at = since.div_euclid(1000);
        for (i, frame) in policy.rollout_frames.iter().enumerate() {
            markers.push(Marker {
                at,
                kind: "frame",
                label: format!("frame {}: {} %", i + 1, frame.percent),
            });
            at = at.saturating_add(i64::try_from(frame.duration_secs).unwrap_or(i64::MAX));
            if frame.duration_secs == 0 {
                break;
            }
        }
    }
    markers.sort_by_key(|m| m.at);
    markers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RollupPoint;

    fn point(version: &str, bucket: i64, count: i64) -> RollupPoint {
        RollupPoint {
            version: version.to_owned(),
            event: None,
            bucket,
            count,
        }
    }

    #[test]
    fn the_census_series_fills_gaps_and_ends_with_the_live_counts() {
        // Five one-minute buckets from 600; no census in the third.
        let points = [
            point("1.0.0", 600, 10),
            point("1.0.0", 660, 8),
            point("1.1.0", 660, 2),
            point("1.0.0", 780, 4),
            point("1.1.0", 780, 6),
            point("0.9.0", 600, 1),
        ];
        let live = [("1.1.0".to_owned(), 10)];
        let index = |bucket: i64| usize::try_from((bucket - 600) / 60).ok();
        let series = census_series(&points, &live, 5, index);
        assert_eq!(series["1.0.0"], [10, 8, 8, 4, 0]);
        assert_eq!(series["1.1.0"], [0, 2, 2, 6, 10]);
        assert_eq!(series["0.9.0"], [1, 0, 0, 0, 0]);
        // A version with no instance anywhere in the range has no line.
        let series = census_series(&[point("0.1.0", 600, 0)], &[], 3, index);
        assert!(series.is_empty());
        assert!(census_series(&points, &live, 0, index).is_empty());
    }

    fn entry(
        at_secs: i64,
        action: &str,
        group: &str,
        detail: &str,
    ) -> crate::store::ActivityRecord {
        crate::store::ActivityRecord {
            id: 0,
            at: at_secs * 1000,
            actor: "admin".into(),
            action: action.into(),
            app_id: "app".into(),
            group_id: group.into(),
            detail: detail.into(),
            changes: Vec::new(),
        }
    }

    #[test]
    fn markers_come_from_the_groups_activity_and_its_rollout_frames() {
        // The log, newest first, as the store gives it.
        let log = [
            entry(500, "group.update", "prod", "updated group prod"),
            entry(400, "group.resume", "prod", "lifted the automatic pause"),
            entry(
                300,
                "group.autopause",
                "prod",
                "paused automatically: 2 of the last 2 attempts failed",
            ),
            entry(300, "group.update", "other", "paused group other"),
            entry(250, "group.update", "prod", "unpaused group prod"),
            entry(200, "group.update", "prod", "paused group prod"),
            entry(150, "channel.update", "", "channel beta at version 9.9.9"),
            entry(100, "channel.update", "", "channel stable at version 1.1.0"),
        ];
        let policy = GroupPolicy {
            rollout_frames: vec![
                crate::policy::FrameDoc {
                    percent: 10.0,
                    duration_secs: 60,
                },
                crate::policy::FrameDoc {
                    percent: 100.0,
                    duration_secs: 0,
                },
            ],
            rollout_active_since: Some(120_000),
            ..GroupPolicy::default()
        };
        let markers = graph_markers(&log, "prod", "stable", &policy);
        let seen: Vec<(i64, &str, &str)> = markers
            .iter()
            .map(|m| (m.at, m.kind, m.label.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (100, "promotion", "channel stable promoted to 1.1.0"),
                (120, "frame", "frame 1: 10 %"),
                (180, "frame", "frame 2: 100 %"),
                (200, "pause", "paused by admin"),
                (250, "unpause", "unpaused by admin"),
                (
                    300,
                    "autopause",
                    "paused automatically: 2 of the last 2 attempts failed"
                ),
                (400, "resume", "resumed after an automatic pause"),
            ]
        );
    }
}
