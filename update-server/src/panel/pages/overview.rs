//! The home page (`GET /`): the overview, every group's state, progress, rate, estimated end
//! and what needs attention, first what needs it; its table is the page's live part.

use super::{Params, empty_row, group_url};
use crate::admin::overview::{self as admin_overview, GroupOverview};
use crate::overview::{Attention, Eta, GroupState};
use crate::panel::PanelState;
use crate::panel::html::{self, esc, page, url};
use crate::panel::session::Session;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// Instances on the target of all, as a bar and in numbers.
pub(super) fn progress_bar(on_target: u64, instances: u64) -> String {
    if instances == 0 {
        // Not "100 %": an empty group has nothing on the target either.
        return r#"<span class="progress" data-on-target="0" data-instances="0">no instances</span>"#
            .to_owned();
    }
    let percent = (on_target as f64) * 100.0 / (instances as f64);
    format!(
        r#"<span class="progress" data-on-target="{on_target}" data-instances="{instances}"><progress class="bar" max="{max}" value="{on_target}" aria-label="Instances on the target">{percent:.0} %</progress> {on_target} / {instances} on target ({percent:.0} %)</span>"#,
        max = instances.max(1),
    )
}

/// A group's state as a badge: its words, and its name for scripts and tests.
pub(super) fn state_badge(state: GroupState) -> String {
    format!(
        r#"<span class="badge state-{name}" data-state="{name}">{label}</span>"#,
        name = state.as_str(),
        label = state.label()
    )
}

/// What needs attention, in words (not colour alone).
pub(super) fn attention_badges(g: &GroupOverview) -> String {
    g.class
        .attention
        .iter()
        // The state already says it paused itself.
        .filter(|a| !(**a == Attention::AutoPaused && g.class.state == GroupState::AutoPaused))
        .map(|a| {
            format!(
                r#"<span class="badge attention" data-attention="{}">needs attention: {}</span>"#,
                a.as_str(),
                a.label()
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rate: the limit, and what completed in the last hour.
pub(super) fn rate_text(g: &GroupOverview) -> String {
    let limit = g.class.rate_limit_per_hour.map_or_else(
        || "no rate limit".to_owned(),
        |l| {
            format!(
                "at most {} per {} s",
                g.policy.update_count, g.policy.update_interval_secs
            ) + &if (l - l.round()).abs() < 1e-9 {
                format!(" ({l:.0}/h)")
            } else {
                format!(" ({l:.1}/h)")
            }
        },
    );
    format!(
        "{limit}; {} completed in the last hour",
        g.facts.completions_last_hour
    )
}

/// The errors page's address for a group, over the last `period`.
pub(super) fn errors_url(app_id: &str, group: &str, period: &str) -> String {
    format!(
        "/errors?app={}&amp;group={}&amp;period={period}",
        url(app_id),
        url(group)
    )
}

fn failures_cell(g: &GroupOverview) -> String {
    let n = g.facts.failures_last_hour;
    if n == 0 {
        r#"<td class="num" data-failures="0">0</td>"#.to_owned()
    } else {
        format!(
            r#"<td class="num" data-failures="{n}"><a href="{}">{n}: look at the errors</a></td>"#,
            errors_url(&g.app_id, &g.group_id, "1h")
        )
    }
}

/// The overview's live part: a row per group, what needs attention first.
fn overview_live(groups: &[GroupOverview], now: jiff::Timestamp) -> String {
    let mut rows = String::new();
    for g in groups {
        let attention: Vec<&str> = g.class.attention.iter().map(|a| a.as_str()).collect();
        let _ = write!(
            rows,
            r#"<tr data-app="{app}" data-group="{group}" data-state="{state}" data-attention="{attn}"{class}><th scope="row"><a href="{href}">{glabel}</a> <span class="muted">of <a href="/apps/{appq}">{app_label}</a></span></th><td>{badge} {badges}</td><td>{progress}<br><span class="muted">target {target}</span></td><td>{rate}</td><td data-eta="{eta}">{eta_text}</td>{failures}</tr>"#,
            app = esc(&g.app_id),
            appq = url(&g.app_id),
            group = esc(&g.group_id),
            state = g.class.state.as_str(),
            attn = attention.join(" "),
            class = if attention.is_empty() {
                ""
            } else {
                r#" class="needs-attention""#
            },
            href = group_url(&g.app_id, &g.group_id),
            glabel = esc(&g.group_label),
            app_label = esc(&g.app_label),
            badge = state_badge(g.class.state),
            badges = attention_badges(g),
            progress = progress_bar(g.class.on_target, g.class.instances),
            target = if g.target.is_empty() {
                "none".to_owned()
            } else {
                esc(&g.target)
            },
            rate = esc(&rate_text(g)),
            eta = match g.class.eta {
                Eta::At(at) => at.to_string(),
                _ => String::new(),
            },
            eta_text = esc(&admin_overview::eta_text(g.class.eta, now)),
            failures = failures_cell(g),
        );
    }
    if groups.is_empty() {
        rows = empty_row(
            6,
            "No groups yet. Create an application and a group with `updatectl` or the admin API.",
        );
    }
    let needing = groups
        .iter()
        .filter(|g| !g.class.attention.is_empty())
        .count();
    format!(
        r#"<div id="overview-live" data-refresh="10" data-src="/?live=1">
<p id="overview-summary" class="{summary_class}">{summary} <span class="muted">As of {now}; this part refreshes by itself.</span></p>
<div class="table-wrap"><table id="overview">
<thead><tr><th scope="col">Group</th><th scope="col">State</th><th scope="col">Progress toward the target</th><th scope="col">Rate</th><th scope="col">Estimated end</th><th scope="col" class="num">Failures in the last hour</th></tr></thead>
<tbody>{rows}</tbody></table></div>
</div>"#,
        summary_class = if needing > 0 { "error" } else { "ok" },
        summary = match needing {
            0 => "Nothing needs attention.".to_owned(),
            1 => "1 group needs attention (listed first).".to_owned(),
            n => format!("{n} groups need attention (listed first)."),
        },
        now = esc(&now.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()),
    )
}

/// `GET /[?live=1]`: the overview (home): every group's state, progress, rate, estimated
/// end and failures, what needs attention first; `live=1` answers the live part alone.
pub(crate) async fn overview(
    State(state): State<PanelState>,
    session: Session,
    Query(query): Query<Params>,
) -> Response {
    let mut groups = match admin_overview::gather(&state.admin, None).await {
        Ok(groups) => groups,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    // A principal limited to some applications sees their groups only.
    groups.retain(|g| session.principal.may_see_app(&g.app_id));
    let now = state.admin.clock.now();
    let live = overview_live(&groups, now);
    if query.contains_key("live") {
        return html::fragment(live);
    }
    let body = format!(
        r#"<h1>Overview</h1>
{live}
<p><a href="/apps">All applications</a> · <a href="/errors">Errors of the last day</a> · <a href="/activity">Activity</a></p>"#
    );
    page(StatusCode::OK, "Overview", Some(&session), &body)
}
