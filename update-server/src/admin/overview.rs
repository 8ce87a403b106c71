//! The fleet overview and the failed attempts: `GET overview` and `GET errors`, and the
//! functions the panel's overview, errors and group pages share with them.
//!
//! The overview gathers, per group, the facts [`crate::overview::classify`] needs: the
//! instance counts (one grouped query for the fleet), the last hour's completions and
//! failures (from the one-minute rollups, one query), the automatic pause in force, the
//! latest grant (a partial index of the history) and the latest change in the activity log.

use super::{AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::cache::{Route, Snapshot};
use crate::clock::{from_millis, millis};
use crate::overview::{AutoPauseFacts, Classification, Eta, GroupFacts, classify};
use crate::policy::{AutoPauseDoc, GroupPolicy};
use crate::store::{FailureFilter, InstanceFilter, StoreError, bucket_of, canonical_app_id};
use axum::Json;
use axum::extract::{Query, State};
use jiff::Timestamp;
use std::collections::HashMap;

/// Failures are listed from this long ago unless the request says otherwise.
pub const DEFAULT_ERRORS_SINCE_SECS: i64 = 86_400;
/// The most rows one page of failures holds.
pub const MAX_ERRORS_LIMIT: i64 = 1000;
/// Activity entries of an app looked through for a group's latest change.
const CHANGES_LOOKED_AT: i64 = 50;

/// One group of the overview, with what it was classified from.
#[derive(Debug, Clone)]
pub(crate) struct GroupOverview {
    pub app_id: String,
    pub app_label: String,
    pub group_id: String,
    pub group_label: String,
    pub channel: String,
    pub target: String,
    pub policy: GroupPolicy,
    pub facts: GroupFacts,
    pub class: Classification,
}

/// Whether a route has something to offer: a channel version, not blacklisted on the
/// channel, with a package whose payload is there.
pub(crate) fn has_target(route: &Route) -> bool {
    route.channel.as_ref().is_some_and(|c| {
        !c.record.version.is_empty()
            && !rollout_core::Version::parse(&c.record.version)
                .is_ok_and(|v| c.blacklist.contains(&v))
    }) && route
        .package
        .as_ref()
        .is_some_and(|p| !p.record.url.is_empty())
}

/// The label of an app of the snapshot (its id when it has none).
fn app_label(snapshot: &Snapshot, app_id: &str) -> String {
    snapshot
        .app(app_id)
        .and_then(|e| e.record.as_ref())
        .map(|r| r.label.clone())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| app_id.to_owned())
}

/// An automatic pause's threshold in words.
pub(crate) fn threshold_text(doc: Option<&AutoPauseDoc>) -> String {
    match doc {
        Some(a) => match (a.failures_count, a.failures_percent) {
            (Some(n), _) => format!("{n} failures of the last {} attempts", a.last_attempts),
            (None, Some(p)) => format!("{p} % failures of the last {} attempts", a.last_attempts),
            (None, None) => String::new(),
        },
        None => String::new(),
    }
}

/// The overview of every group (of one app when `app` is given), what needs attention
/// first.
pub(crate) async fn gather(
    state: &AdminState,
    app: Option<&str>,
) -> Result<Vec<GroupOverview>, StoreError> {
    let snapshot = state.cache.snapshot();
    let now = state.clock.now();
    let store = state.store.as_ref();
    let app = app.map(canonical_app_id);
    let counts = store
        .version_counts(&InstanceFilter {
            app_id: app.clone(),
            ..InstanceFilter::default()
        })
        .await?;
    let last = bucket_of(millis(now), 60);
    let totals = store.event_totals(60, last - 59 * 60, last).await?;
    let mut out = Vec::new();
    let mut apps: Vec<_> = snapshot
        .apps
        .iter()
        .filter(|(id, _)| app.as_ref().is_none_or(|a| a == *id))
        .collect();
    apps.sort_by(|a, b| a.0.cmp(b.0));
    for (app_id, entry) in apps {
        let changes = store.activity(Some(app_id), CHANGES_LOOKED_AT, 0).await?;
        let mut groups: Vec<_> = entry.groups.keys().collect();
        groups.sort();
        for group_id in groups {
            let Some(route) = snapshot.route(entry, group_id) else {
                continue;
            };
            let record = &route.group.record;
            let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
            let target = route
                .channel
                .as_ref()
                .map(|c| c.record.version.clone())
                .unwrap_or_default();
            let mine = counts
                .iter()
                .filter(|c| c.app_id == *app_id && c.group_id == *group_id);
            let (mut instances, mut on_target) = (0u64, 0u64);
            for c in mine {
                let n = u64::try_from(c.count).unwrap_or(0);
                instances += n;
                if !target.is_empty() && c.version == target {
                    on_target += n;
                }
            }
            let total = |event: (i64, i64)| {
                totals
                    .iter()
                    .filter(|t| t.app_id == *app_id && t.group_id == *group_id && t.event == event)
                    .map(|t| u64::try_from(t.count).unwrap_or(0))
                    .sum::<u64>()
            };
            let pause = crate::writer::auto_pause(store, app_id, group_id).await?;
            let facts = GroupFacts {
                // An unusable policy is treated as paused by the engine: say so.
                has_target: has_target(&route),
                auto_pause: pause.map(|p| AutoPauseFacts {
                    at: p.at,
                    failures: p.failures,
                    attempts: p.attempts,
                }),
                instances,
                on_target,
                failures_last_hour: total((3, 0)),
                completions_last_hour: total((3, 2)),
                last_grant: store.last_grant(app_id, group_id).await?.map(from_millis),
                last_change: changes
                    .iter()
                    .find(|c| c.group_id.is_empty() || c.group_id == *group_id)
                    .map(|c| from_millis(c.at)),
            };
            let mut effective = policy.clone();
            if route.group.policy_error.is_some() {
                effective.paused = true;
            }
            let class = classify(&effective, &facts, now);
            out.push(GroupOverview {
                app_id: app_id.clone(),
                app_label: app_label(&snapshot, app_id),
                group_id: group_id.clone(),
                group_label: if record.label.is_empty() {
                    record.id.clone()
                } else {
                    record.label.clone()
                },
                channel: record.channel.clone(),
                target,
                policy: effective,
                facts,
                class,
            });
        }
    }
    out.sort_by(|a, b| {
        a.class
            .rank()
            .cmp(&b.class.rank())
            .then_with(|| a.app_label.to_lowercase().cmp(&b.app_label.to_lowercase()))
            .then_with(|| {
                a.group_label
                    .to_lowercase()
                    .cmp(&b.group_label.to_lowercase())
            })
            .then_with(|| a.group_id.cmp(&b.group_id))
    });
    Ok(out)
}

/// The estimated end in words.
pub(crate) fn eta_text(eta: Eta, now: Timestamp) -> String {
    match eta {
        Eta::Done => "done".to_owned(),
        Eta::At(at) => {
            let secs = at.duration_since(now).as_secs().max(0);
            let within = if secs < 3600 {
                format!("{} min", (secs + 59) / 60)
            } else if secs < 2 * 86_400 {
                format!("{:.1} h", secs as f64 / 3600.0)
            } else {
                format!("{:.1} days", secs as f64 / 86_400.0)
            };
            format!("about {} (in {within})", at.strftime("%Y-%m-%d %H:%M UTC"))
        }
        Eta::HeldAtPercent(p) => format!("held at {p} %"),
        Eta::Stopped => "stopped".to_owned(),
        Eta::Unknown => "unknown (nothing completed in the last hour, no rate limit)".to_owned(),
        Eta::NoInstances => "none (no instance has checked in)".to_owned(),
    }
}

impl GroupOverview {
    /// The API's form.
    pub(crate) fn to_api(&self, now: Timestamp) -> api::OverviewGroup {
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let pause = self.facts.auto_pause;
        api::OverviewGroup {
            app_id: self.app_id.clone(),
            app_label: self.app_label.clone(),
            group_id: self.group_id.clone(),
            group_label: self.group_label.clone(),
            channel: self.channel.clone(),
            target_version: self.target.clone(),
            state: self.class.state.as_str().to_owned(),
            state_label: self.class.state.label().to_owned(),
            attention: self
                .class
                .attention
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            instances: int(self.class.instances),
            on_target: int(self.class.on_target),
            progress_percent: self.class.progress_percent(),
            goal: int(self.class.goal),
            percent: self.policy.percent_at(now),
            rate_limit_per_hour: self.class.rate_limit_per_hour.unwrap_or(0.0),
            rate_per_hour: self.class.rate_per_hour.unwrap_or(0.0),
            completions_last_hour: int(self.facts.completions_last_hour),
            failures_last_hour: int(self.facts.failures_last_hour),
            eta: match self.class.eta {
                Eta::At(at) => at.to_string(),
                _ => String::new(),
            },
            eta_text: eta_text(self.class.eta, now),
            last_grant: self
                .facts
                .last_grant
                .map(|t| rfc3339(millis(t)))
                .unwrap_or_default(),
            auto_paused_at: pause.map(|p| rfc3339(millis(p.at))).unwrap_or_default(),
            auto_pause_failures: pause.map_or(0, |p| i64::from(p.failures)),
            auto_pause_attempts: pause.map_or(0, |p| i64::from(p.attempts)),
            auto_pause_threshold: threshold_text(self.policy.auto_pause.as_ref()),
        }
    }
}

/// Extension: `GET overview[?appId=]`: every group's state, progress, rate, estimated end
/// and what needs attention, what needs attention first.
pub(super) async fn get_overview(
    State(state): State<AdminState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<api::Overview> {
    let app = query
        .get("appId")
        .map(|a| a.trim())
        .filter(|a| !a.is_empty());
    if let Some(app) = app {
        state.app(app).await?;
    }
    let groups = gather(&state, app).await?;
    let now = state.clock.now();
    Ok(Json(api::Overview {
        generated_at: now.to_string(),
        items: groups.iter().map(|g| g.to_api(now)).collect(),
    }))
}

/// Reads `since`: RFC 3339, or unix seconds; empty means [`DEFAULT_ERRORS_SINCE_SECS`] ago.
pub(crate) fn parse_since(text: Option<&str>, now: Timestamp) -> Result<i64, ApiError> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Ok(millis(now) - DEFAULT_ERRORS_SINCE_SECS * 1000);
    }
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs.saturating_mul(1000));
    }
    text.parse::<Timestamp>().map(millis).map_err(|_| {
        ApiError::Invalid(format!(
            "since must be an RFC 3339 time or unix seconds, not {text:?}"
        ))
    })
}

/// The filter and page of an errors request.
pub(crate) fn errors_request(
    query: &HashMap<String, String>,
    now: Timestamp,
) -> Result<(FailureFilter, i64, i64), ApiError> {
    let get = |k: &str| {
        query
            .get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let number = |k: &str, default: i64| -> Result<i64, ApiError> {
        get(k).map_or(Ok(default), |v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::Invalid(format!("{k} must be a number, not {v:?}")))
        })
    };
    let filter = FailureFilter {
        app_id: get("appId").map(|a| canonical_app_id(&a)),
        group_id: get("groupId"),
        version: get("version"),
        since: parse_since(get("since").as_deref(), now)?,
    };
    let limit = number("limit", 100)?.clamp(1, MAX_ERRORS_LIMIT);
    let skip = number("skip", 0)?.max(0);
    Ok((filter, limit, skip))
}

/// update_engine's name of an error code, empty when none.
pub(crate) fn error_name(code: Option<i64>) -> String {
    code.and_then(omaha_proto::codes::error_code_name)
        .map(|n| n.into_owned())
        .unwrap_or_default()
}

/// Extension: `GET errors[?appId=&groupId=&version=&since=&limit=&skip=]`: failed attempts
/// (3/0) per instance, version and error code, the most recent first, with how many times
/// and when first and last.
pub(super) async fn list_errors(
    State(state): State<AdminState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<api::InstanceErrorList> {
    let (filter, limit, skip) = errors_request(&query, state.clock.now())?;
    let store = state.store.as_ref();
    let total = store.count_failures(&filter).await?;
    let rows = store.failures(&filter, limit, skip).await?;
    Ok(Json(api::InstanceErrorList {
        since: rfc3339(filter.since),
        total,
        items: rows
            .into_iter()
            .map(|r| api::InstanceError {
                client_id: r.machine_id,
                app_id: r.app_id,
                group_id: r.group_id,
                version: r.version,
                error_code: r.error_code.map(|c| c.to_string()).unwrap_or_default(),
                error_name: error_name(r.error_code),
                count: r.count,
                first_seen: rfc3339(r.first_at),
                last_seen: rfc3339(r.last_at),
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_rfc3339_and_unix_seconds() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_since(None, now).unwrap(),
            millis("2026-11-26T12:00:00Z".parse().unwrap())
        );
        assert_eq!(parse_since(Some("1000"), now).unwrap(), 1_000_000);
        assert_eq!(
            parse_since(Some("2026-11-27T11:00:00Z"), now).unwrap(),
            millis("2026-11-27T11:00:00Z".parse().unwrap())
        );
        assert!(matches!(
            parse_since(Some("yesterday"), now),
            Err(ApiError::Invalid(_))
        ));
    }

    #[test]
    fn the_page_is_bounded() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>()
        };
        let (_, limit, skip) = errors_request(&q(&[("limit", "1000000")]), now).unwrap();
        assert_eq!((limit, skip), (MAX_ERRORS_LIMIT, 0));
        let (_, limit, skip) = errors_request(&q(&[("limit", "0"), ("skip", "-5")]), now).unwrap();
        assert_eq!((limit, skip), (1, 0));
        assert!(errors_request(&q(&[("limit", "x")]), now).is_err());
        let (filter, _, _) =
            errors_request(&q(&[("appId", "{ABC}"), ("groupId", " g ")]), now).unwrap();
        assert_eq!(filter.app_id.as_deref(), Some("abc"));
        assert_eq!(filter.group_id.as_deref(), Some("g"));
    }

    #[test]
    fn eta_in_words() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        assert_eq!(
            eta_text(Eta::At("2026-11-27T12:30:00Z".parse().unwrap()), now),
            "about 2026-11-27 12:30 UTC (in 30 min)"
        );
        assert_eq!(
            eta_text(Eta::At("2026-11-27T15:00:00Z".parse().unwrap()), now),
            "about 2026-11-27 15:00 UTC (in 3.0 h)"
        );
        assert_eq!(eta_text(Eta::HeldAtPercent(50.0), now), "held at 50 %");
        assert_eq!(eta_text(Eta::Done, now), "done");
    }
}
