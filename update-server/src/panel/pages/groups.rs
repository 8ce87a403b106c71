//! One group's page (`GET /apps/{app}/groups/{group}`): its state (a Resume button when it
//! paused itself), progress and estimated end, the policy and rollout forms, live counts per
//! version and status, and why its instances are not updating ([`crate::panel::why`]). Its
//! live part alone (`?live=1`) is what `/panel.js` swaps in while the rollout runs.

use super::apps::policy_summary;
use super::overview::{attention_badges, errors_url, progress_bar, rate_text, state_badge};
use super::{Flash, Params, app_label, by_version_desc, empty_row, find_app, group_url, num};
use crate::admin::groups as admin_groups;
use crate::admin::overview::{self as admin_overview};
use crate::overview::GroupState;
use crate::panel::PanelState;
use crate::panel::html::{self, csrf_field, esc, page, url};
use crate::panel::session::Session;
use crate::panel::why;
use crate::policy::GroupPolicy;
use crate::store::{InstanceFilter, VersionCount};
use crate::writer::status_name;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use rollout_core::{InstanceStatus, Version};
use std::fmt::Write as _;

/// `GET /apps/{app}/groups/{group}`.
pub(crate) async fn group(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Query(query): Query<Params>,
) -> Response {
    let flash = query.get("saved").map(|what| Flash {
        ok: true,
        text: match what.as_str() {
            "paused" => "Updates are paused.".to_owned(),
            "unpaused" => "Updates are unpaused.".to_owned(),
            "resumed" => "Updates are resumed: the automatic pause is lifted.".to_owned(),
            "rollout" => "The timed rollout is saved.".to_owned(),
            _ => "The policy is saved.".to_owned(),
        },
    });
    let live_only = query.contains_key("live");
    group_page(
        &state,
        &session,
        &app,
        &group,
        flash,
        StatusCode::OK,
        live_only,
    )
    .await
}

fn field(name: &str, label: &str, value: &str, kind: &str, hint: &str) -> String {
    let hint = if hint.is_empty() {
        String::new()
    } else {
        format!(
            r#" <span class="hint" id="{name}-hint">{}</span>"#,
            esc(hint)
        )
    };
    let described = if hint.is_empty() {
        String::new()
    } else {
        format!(r#" aria-describedby="{name}-hint""#)
    };
    let extra = if kind == "number" {
        r#" inputmode="decimal" step="any" min="0""#
    } else {
        ""
    };
    format!(
        r#"<label for="f-{name}">{label}{hint}<input id="f-{name}" name="{name}" type="{kind}" value="{value}"{extra}{described}></label>"#,
        label = esc(label),
        value = esc(value),
    )
}

fn checkbox(name: &str, label: &str, checked: bool) -> String {
    format!(
        r#"<label class="check" for="f-{name}"><input id="f-{name}" name="{name}" type="checkbox"{}> {}</label>"#,
        if checked { " checked" } else { "" },
        esc(label)
    )
}

#[allow(clippy::too_many_lines)]
pub(super) async fn group_page(
    state: &PanelState,
    session: &Session,
    app: &str,
    group: &str,
    flash: Option<Flash>,
    status: StatusCode,
    live_only: bool,
) -> Response {
    let snapshot = state.admin.cache.snapshot();
    let Some((app_id, entry)) = find_app(&snapshot, app) else {
        return html::not_found(Some(session), &format!("Application {app}"));
    };
    let Some(route) = snapshot.route(entry, group) else {
        return html::not_found(Some(session), &format!("Group {group}"));
    };
    let store = state.admin.store.as_ref();
    let record = &route.group.record;
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    let filter = InstanceFilter {
        app_id: Some(app_id.clone()),
        group_id: Some(group.to_owned()),
        ..InstanceFilter::default()
    };
    let loaded = async {
        // One read of the group's instance counts gives both breakdowns.
        let by_status = store.instance_status_counts(&filter).await?;
        let mut counts: Vec<VersionCount> = Vec::new();
        for c in &by_status {
            match counts.iter_mut().find(|v| v.version == c.version) {
                Some(v) => v.count += c.count,
                None => counts.push(VersionCount {
                    app_id: c.app_id.clone(),
                    group_id: c.group_id.clone(),
                    version: c.version.clone(),
                    count: c.count,
                }),
            }
        }
        counts.sort_by(|a, b| by_version_desc(&a.version, &b.version));
        let statuses: Vec<(&str, i64)> = [
            InstanceStatus::Unknown,
            InstanceStatus::Granted,
            InstanceStatus::Downloading,
            InstanceStatus::Downloaded,
            InstanceStatus::Installed,
            InstanceStatus::InstalledHeld,
            InstanceStatus::Complete,
            InstanceStatus::Error(rollout_core::ErrorCode(0)),
        ]
        .into_iter()
        .map(|status| {
            let name = status_name(status);
            let n = by_status
                .iter()
                .filter(|c| c.status == name)
                .map(|c| c.count)
                .sum();
            (name, n)
        })
        .collect();
        let rollout_state = why::group_state(store, &app_id, group).await?;
        let instances = why::instances(store, &app_id, group).await?;
        let overview = admin_overview::gather(&state.admin, Some(&app_id))
            .await?
            .into_iter()
            .find(|o| o.group_id == group);
        Ok::<_, crate::store::StoreError>((counts, statuses, rollout_state, instances, overview))
    };
    let (counts, statuses, rollout_state, instances, overview) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => return html::internal_error(Some(session), &err),
    };
    let now = state.admin.clock.now();
    let step = |version: &Version| snapshot.route_step(entry, group, None, Some(version), false);
    let report = why::report(&route, step, &rollout_state, &instances, now);
    let target = route
        .channel
        .as_ref()
        .map(|c| c.record.version.clone())
        .unwrap_or_default();
    let auto_paused = rollout_state.auto_pause();
    let total: i64 = counts.iter().map(|c| c.count).sum();
    let base = group_url(&app_id, group);
    let csrf = csrf_field(session);

    let flash = flash.map_or_else(String::new, |f| {
        format!(
            r#"<p class="{}" role="{}" id="flash">{}</p>"#,
            if f.ok { "ok" } else { "error" },
            if f.ok { "status" } else { "alert" },
            esc(&f.text)
        )
    });
    let errors_link = format!(
        r#"<a href="{}" id="errors-link">Look at the errors</a>"#,
        errors_url(&app_id, group, "1d")
    );
    let group_state = overview
        .as_ref()
        .map_or(GroupState::NoTarget, |o| o.class.state);
    let state_line = match (group_state, auto_paused) {
        (GroupState::AutoPaused, Some(pause)) => format!(
            r#"{badge} at {at}: {failures} of the last {attempts} attempts failed{threshold}. {errors_link}, then resume."#,
            badge = state_badge(group_state),
            at = esc(&pause.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()),
            failures = pause.failures,
            attempts = pause.attempts,
            threshold = match admin_overview::threshold_text(policy.auto_pause.as_ref()) {
                t if t.is_empty() => String::new(),
                t => format!(" (threshold: {})", esc(&t)),
            },
        ),
        (GroupState::Paused, _) => format!("{} by an operator.", state_badge(group_state)),
        (GroupState::Finished, _) => format!(
            "{} Every instance runs the target.",
            state_badge(group_state)
        ),
        (GroupState::NoInstances, _) => format!(
            "{} No instance has checked in to this group yet.",
            state_badge(group_state)
        ),
        (GroupState::NoTarget, _) => format!(
            "{} Instances get no update: the channel has no version, or its version is blacklisted or has no package or payload.",
            state_badge(group_state)
        ),
        _ => state_badge(group_state),
    };
    let progress_line = overview.as_ref().map_or_else(String::new, |o| {
        format!(
            r#"<p id="progress">{bar} · {rate} · estimated end: <span id="eta">{eta}</span> · {failures}</p>"#,
            bar = progress_bar(o.class.on_target, o.class.instances),
            rate = esc(&rate_text(o)),
            eta = esc(&admin_overview::eta_text(o.class.eta, now)),
            failures = match o.facts.failures_last_hour {
                0 => "no failure in the last hour".to_owned(),
                n => format!(
                    r#"<a href="{}">{n} failures in the last hour</a>"#,
                    errors_url(&app_id, group, "1h")
                ),
            },
        )
    });
    let attention = overview.as_ref().map_or_else(String::new, attention_badges);
    let channel_line = match &route.channel {
        Some(c) if !c.record.version.is_empty() => format!(
            "channel <strong>{}</strong> at version <strong>{}</strong>{}",
            esc(&c.record.name),
            esc(&c.record.version),
            match &route.package {
                Some(p) if p.record.url.is_empty() => {
                    r#" <span class="error">(its package has no payload yet: instances get no update until it is uploaded)</span>"#
                }
                Some(_) => "",
                None => {
                    r#" <span class="error">(no package for it: instances get no update until one exists)</span>"#
                }
            }
        ),
        Some(c) => format!(
            "channel <strong>{}</strong>, which has no version",
            esc(&c.record.name)
        ),
        None if record.channel.is_empty() => "no channel".to_owned(),
        None => format!(
            r#"channel <strong>{}</strong> <span class="error">(does not exist)</span>"#,
            esc(&record.channel)
        ),
    };

    // Live counts.
    let mut version_rows = String::new();
    for c in &counts {
        let _ = write!(
            version_rows,
            r#"<tr><th scope="row"><a href="/instances?app={}&amp;group={}&amp;version={}">{}</a>{}</th>{}</tr>"#,
            url(&app_id),
            url(group),
            url(&c.version),
            esc(&c.version),
            if c.version == target { " (target)" } else { "" },
            num(c.count)
        );
    }
    if counts.is_empty() {
        version_rows = empty_row(2, "No instance has checked in.");
    }
    let mut status_rows = String::new();
    for (name, n) in &statuses {
        if *n > 0 {
            let _ = write!(
                status_rows,
                r#"<tr><th scope="row"><a href="/instances?app={}&amp;group={}&amp;status={}">{}</a></th>{}</tr>"#,
                url(&app_id),
                url(group),
                url(name),
                esc(&name.replace('_', " ")),
                num(*n)
            );
        }
    }
    if status_rows.is_empty() {
        status_rows = empty_row(2, "No instance has checked in.");
    }

    // Why not updating.
    let mut why_items = String::new();
    if report.examined == 0 {
        why_items.push_str("<li>No instance of this group has checked in yet.</li>");
    }
    if report.on_target > 0 {
        let _ = write!(
            why_items,
            "<li><strong>{}</strong> run the target version.</li>",
            report.on_target
        );
    }
    if report.updating > 0 {
        let _ = write!(
            why_items,
            "<li><strong>{}</strong> are updating (they hold a grant for the target).</li>",
            report.updating
        );
    }
    if report.next_check > 0 {
        let _ = write!(
            why_items,
            "<li><strong>{}</strong> will be offered the update at their next check.</li>",
            report.next_check
        );
    }
    for (reason, text, n) in &report.reasons {
        let _ = write!(
            why_items,
            r#"<li data-reason="{}"><strong>{n}</strong>: {}. <span class="muted">{}</span>{}</li>"#,
            reason.as_str(),
            esc(text),
            esc(why::advice(reason)),
            if matches!(
                reason,
                rollout_core::Reason::AutoPaused { .. }
                    | rollout_core::Reason::RetryingAfterFailure { .. }
            ) {
                format!(" {errors_link}.")
            } else {
                String::new()
            }
        );
    }
    if report.unparsable > 0 {
        let _ = write!(
            why_items,
            "<li><strong>{}</strong> report a version the server cannot order, so they get no update.</li>",
            report.unparsable
        );
    }
    let examined_note = if i64::try_from(report.examined).unwrap_or(0) >= why::EXAMINED {
        format!(
            r#"<p class="muted">Computed for the {} most recently seen instances.</p>"#,
            why::EXAMINED
        )
    } else {
        String::new()
    };

    // Forms. The pause buttons say what they do: pause, unpause (the operator paused), or
    // resume (the group paused itself).
    let pause_buttons = if policy.paused {
        r#"<button type="submit" name="paused" value="false" id="pause-button">Unpause updates</button>"#
    } else if auto_paused.is_some() {
        r#"<button type="submit" name="paused" value="false" id="resume-button">Resume updates</button> <button type="submit" name="paused" value="true" id="pause-button" class="danger">Pause updates</button>"#
    } else {
        r#"<button type="submit" name="paused" value="true" id="pause-button" class="danger">Pause updates</button>"#
    };
    let pause_form = format!(
        r#"<form method="post" action="{base}/pause" id="pause-form">{csrf}{pause_buttons}</form>"#
    );
    let mut channel_options = String::from(r#"<option value="">(none)</option>"#);
    let mut names: Vec<&String> = entry.channels.keys().collect();
    names.sort();
    for name in names {
        let _ = write!(
            channel_options,
            r#"<option value="{v}"{sel}>{v}</option>"#,
            v = esc(name),
            sel = if *name == record.channel {
                " selected"
            } else {
                ""
            },
        );
    }
    let (fail_count, fail_percent, fail_window, fail_timeouts) =
        policy
            .auto_pause
            .map_or((String::new(), String::new(), String::new(), false), |a| {
                (
                    a.failures_count.map(|c| c.to_string()).unwrap_or_default(),
                    a.failures_percent
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    a.last_attempts.to_string(),
                    a.count_timeouts,
                )
            });
    let opt = |v: Option<String>| v.unwrap_or_default();
    let policy_form = format!(
        r#"<form class="stack" method="post" action="{base}/policy" id="policy-form">{csrf}
<div class="fields">
{label}
<label for="f-channelId">Channel<select id="f-channelId" name="channelId">{channel_options}</select></label>
{percent}
</div>
<fieldset><legend>Rate limit</legend><div class="fields">
{pooling}
{count}
{interval}
</div></fieldset>
<fieldset><legend>Limits</legend><div class="fields">
{max_in_flight}
{timeout}
{blacklist}
{downgrade}
</div></fieldset>
<fieldset><legend>Automatic pause on failures</legend><div class="fields">
{fail_count}
{fail_percent}
{fail_window}
{fail_timeouts}
</div></fieldset>
<fieldset><legend>Maintenance windows</legend><div class="fields">
{tz}
{windows}
</div></fieldset>
<div><button type="submit">Save policy</button></div>
</form>"#,
        label = field("label", "Name", &record.label, "text", ""),
        percent = field(
            "updatePercent",
            "Percent",
            &policy.update_percent.to_string(),
            "number",
            "0 to 100; timed rollout frames override it while active"
        ),
        pooling = checkbox(
            "updatePooling",
            "Limit the update rate",
            policy.update_pooling
        ),
        count = field(
            "updateCount",
            "Updates per interval",
            &policy.update_count.to_string(),
            "number",
            ""
        ),
        interval = field(
            "updateInterval",
            "Interval (seconds)",
            &policy.update_interval_secs.to_string(),
            "number",
            ""
        ),
        max_in_flight = field(
            "maxInFlight",
            "Most updates in flight",
            &opt(policy.max_in_flight.map(|n| n.to_string())),
            "number",
            "empty or 0: no cap"
        ),
        timeout = field(
            "updateTimeout",
            "Update timeout (seconds)",
            &opt(policy.update_timeout_secs.map(|n| n.to_string())),
            "number",
            "empty or 0: grants never expire"
        ),
        blacklist = field(
            "oemBlacklist",
            "OEM blacklist",
            &policy.oem_blacklist.join(","),
            "text",
            "comma-separated"
        ),
        downgrade = checkbox(
            "allowDowngrade",
            "Allow downgrades (rollback)",
            policy.allow_downgrade
        ),
        fail_count = field(
            "failureThresholdCount",
            "Failures (count)",
            &fail_count,
            "number",
            "or a percentage"
        ),
        fail_percent = field(
            "failureThresholdPercent",
            "Failures (percent)",
            &fail_percent,
            "number",
            ""
        ),
        fail_window = field(
            "failureWindow",
            "Of the last attempts",
            &fail_window,
            "number",
            ""
        ),
        fail_timeouts = checkbox(
            "failureCountTimeouts",
            "Count timeouts as failures",
            fail_timeouts
        ),
        tz = field(
            "maintenanceTimeZone",
            "Time zone",
            &policy
                .maintenance
                .as_ref()
                .map(|m| m.time_zone.clone())
                .unwrap_or_default(),
            "text",
            "IANA name, e.g. Europe/Berlin; empty: no windows"
        ),
        windows = field(
            "maintenanceWindows",
            "Windows",
            &policy
                .maintenance
                .as_ref()
                .map(|m| admin_groups::format_windows(&m.windows))
                .unwrap_or_default(),
            "text",
            "e.g. mon,tue 02-05; sat 00-24"
        ),
    );
    let frames_text = policy
        .rollout_frames
        .iter()
        .map(|f| format!("{}:{}", f.percent, f.duration_secs))
        .collect::<Vec<_>>()
        .join(", ");
    let phase = policy.rollout_phase(now);
    let rollout_state_text = match (phase, policy.rollout_active_since) {
        (rollout_core::RolloutPhase::Running { ends_at, .. }, Some(since)) => format!(
            "Active since {}; the percentage now is {}; it ends at {}.",
            html::time(since),
            route.group.policy.percent_at(now),
            esc(&ends_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        ),
        (rollout_core::RolloutPhase::Finished { percent, ended_at }, _) => format!(
            "Finished at {}; the group stays at {}.",
            esc(&ended_at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()),
            percent
        ),
        _ if policy.rollout_frames.is_empty() => "No timed rollout.".to_owned(),
        _ => "Not active.".to_owned(),
    };
    let stop = if phase.is_running() {
        r#" <button type="submit" name="action" value="stop" class="danger">Stop rollout</button>"#
    } else {
        ""
    };
    let rollout_form = format!(
        r#"<p>{rollout_state_text}</p><form class="stack" method="post" action="{base}/rollout" id="rollout-form">{csrf}
{frames}
<div><button type="submit" name="action" value="start">Start rollout</button>{stop}</div>
</form>"#,
        frames = field(
            "frames",
            "Frames",
            &frames_text,
            "text",
            "percent:seconds, comma-separated, e.g. 10:3600, 50:3600, 100:0"
        ),
    );

    let label = if record.label.is_empty() {
        &record.id
    } else {
        &record.label
    };
    let refreshing = matches!(group_state, GroupState::Updating | GroupState::AutoPaused);
    let live = format!(
        r#"<div id="live"{refresh} data-state="{state_name}">
<p id="state-line">{state_line} {attention}</p>
{progress_line}
{pause_form}
<div class="cards">
<section class="card" aria-labelledby="h-versions"><h2 id="h-versions">Instances by version</h2>
<div class="table-wrap"><table><thead><tr><th scope="col">Version</th><th scope="col" class="num">Instances</th></tr></thead><tbody>{version_rows}</tbody></table></div></section>
<section class="card" aria-labelledby="h-status"><h2 id="h-status">Instances by status</h2>
<div class="table-wrap"><table><thead><tr><th scope="col">Status</th><th scope="col" class="num">Instances</th></tr></thead><tbody>{status_rows}</tbody></table></div></section>
<section class="card" aria-labelledby="h-why"><h2 id="h-why">Why instances are not updating</h2>
<p class="muted">As if each checked in now ({now}).</p>
<ul id="why">{why_items}</ul>{examined_note}</section>
</div>
<p class="muted">Follows {channel_line} · {total} instances · counted at {now}{refreshing_note}.</p>
</div>"#,
        refresh = if refreshing {
            format!(r#" data-refresh="5" data-src="{base}?live=1""#)
        } else {
            String::new()
        },
        state_name = group_state.as_str(),
        now = esc(&now.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()),
        refreshing_note = if refreshing {
            "; refreshes by itself"
        } else {
            ""
        },
    );
    if live_only {
        return html::fragment(live);
    }
    let body = format!(
        r#"<p class="muted"><a href="/apps/{appq}">{app_label}</a> › group</p>
<h1>{label} <span class="muted">({id})</span></h1>
{flash}{policy_error}
<p><a href="{base}/graphs" id="graphs-link">View all graphs</a> · <a href="/instances?app={appq}&amp;group={groupq}">Instances of this group</a> · <a href="{errors_href}">Errors</a> · <a href="/activity?app={appq}">Activity</a></p>
{live}
<h2>Policy</h2>
<p class="muted">{summary}</p>
{policy_form}
<h2>Timed rollout</h2>
{rollout_form}"#,
        appq = url(&app_id),
        groupq = url(group),
        app_label = esc(&app_label(entry)),
        label = esc(label),
        id = esc(&record.id),
        errors_href = errors_url(&app_id, group, "1d"),
        summary = esc(&policy_summary(&policy, now, auto_paused.is_some())),
        policy_error = route.group.policy_error.as_ref().map_or_else(String::new, |e| format!(
            r#"<p class="error" role="alert">The stored policy is unusable, so the group is treated as paused: {}. Saving the policy below replaces it.</p>"#,
            esc(e)
        )),
    );
    page(status, label, Some(session), &body)
}
