//! The applications (`GET /apps`) and one application (`GET /apps/{app}`: channels, groups
//! with their policy and versions, packages), and the channel form that points a channel at a
//! version (`POST /apps/{app}/channels/{channel}`).

use super::overview::{attention_badges, progress_bar, state_badge};
use super::{Flash, Params, app_label, by_version_desc, empty_row, find_app, group_url, num};
use crate::admin::overview::{self as admin_overview};
use crate::admin::{Actor, ApiError, channels as admin_channels};
use crate::api;
use crate::cache::AppEntry;
use crate::panel::PanelState;
use crate::panel::html::{self, csrf_field, esc, page, url};
use crate::panel::session::{CSRF_FIELD, Session};
use crate::policy::GroupPolicy;
use crate::store::{InstanceFilter, canonical_app_id};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use std::collections::HashMap;
use std::fmt::Write as _;

/// `GET /apps`: the applications with their instance counts.
pub(crate) async fn apps(State(state): State<PanelState>, session: Session) -> Response {
    let snapshot = state.admin.cache.snapshot();
    let counts = match state
        .admin
        .store
        .version_counts(&InstanceFilter::default())
        .await
    {
        Ok(counts) => counts,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let mut per_app: HashMap<&str, i64> = HashMap::new();
    for c in &counts {
        *per_app.entry(c.app_id.as_str()).or_default() += c.count;
    }
    let mut apps: Vec<(&String, &AppEntry)> = snapshot
        .apps
        .iter()
        .filter(|(id, _)| session.principal.may_see_app(id))
        .collect();
    apps.sort_by_key(|(id, entry)| (app_label(entry).to_lowercase(), (*id).clone()));
    let mut rows = String::new();
    for (id, entry) in &apps {
        let _ = write!(
            rows,
            r#"<tr><th scope="row"><a href="/apps/{}">{}</a></th><td><code>{}</code></td>{}{}{}</tr>"#,
            url(id),
            esc(&app_label(entry)),
            esc(id),
            num(i64::try_from(entry.groups.len()).unwrap_or(0)),
            num(i64::try_from(entry.channels.len()).unwrap_or(0)),
            num(per_app.get(id.as_str()).copied().unwrap_or(0)),
        );
    }
    if apps.is_empty() {
        rows = empty_row(
            5,
            "No applications yet. Create one with `updatectl app create` or the admin API.",
        );
    }
    let body = format!(
        r#"<h1>Applications</h1>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Application</th><th scope="col">Id</th><th scope="col" class="num">Groups</th><th scope="col" class="num">Channels</th><th scope="col" class="num">Instances</th></tr></thead>
<tbody>{rows}</tbody></table></div>"#
    );
    page(StatusCode::OK, "Applications", Some(&session), &body)
}

/// A policy in a few words, at `now`; `auto_paused` when the group paused itself.
pub(super) fn policy_summary(
    policy: &GroupPolicy,
    now: jiff::Timestamp,
    auto_paused: bool,
) -> String {
    let mut parts = Vec::new();
    parts.push(
        if policy.paused {
            "paused"
        } else if auto_paused {
            "paused automatically"
        } else {
            "updating"
        }
        .to_owned(),
    );
    if policy.update_pooling && policy.update_count > 0 && policy.update_interval_secs > 0 {
        parts.push(format!(
            "at most {} per {} s",
            policy.update_count, policy.update_interval_secs
        ));
    }
    if policy.update_percent < 100.0 {
        parts.push(format!("{}%", policy.update_percent));
    }
    if !policy.rollout_frames.is_empty() {
        parts.push(format!(
            "timed rollout of {} frames ({})",
            policy.rollout_frames.len(),
            if policy.rollout_phase(now).is_running() {
                "active"
            } else {
                "inactive"
            }
        ));
    }
    if let Some(n) = policy.max_in_flight {
        parts.push(format!("at most {n} in flight"));
    }
    if let Some(t) = policy.update_timeout_secs {
        parts.push(format!("timeout {t} s"));
    }
    if policy.auto_pause.is_some() {
        parts.push("pauses on failures".into());
    }
    if let Some(m) = &policy.maintenance {
        parts.push(format!("maintenance windows ({})", m.time_zone));
    }
    if !policy.oem_blacklist.is_empty() {
        parts.push(format!("OEM blacklist {}", policy.oem_blacklist.join(", ")));
    }
    if policy.allow_downgrade {
        parts.push("downgrades allowed".into());
    }
    parts.join("; ")
}

/// `GET /apps/{app}`: channels, groups with their policy and versions, packages.
pub(crate) async fn app(
    State(state): State<PanelState>,
    session: Session,
    Path(app): Path<String>,
    Query(query): Query<Params>,
) -> Response {
    let flash = query.get("saved").map(|channel| Flash {
        ok: true,
        text: format!("Channel {channel} is saved."),
    });
    app_page(&state, &session, &app, flash, StatusCode::OK).await
}

/// `POST /apps/{app}/channels/{channel}`: points a channel at a version (promotion) and sets
/// whether it is published.
pub(crate) async fn channel(
    State(state): State<PanelState>,
    session: Session,
    Path((app, channel)): Path<(String, String)>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let app_id = canonical_app_id(&app);
    let result = admin_channels::update_channel(
        State(state.admin.clone()),
        Extension(Actor(session.principal.clone())),
        Path((app_id.clone(), channel.clone())),
        Json(api::ChannelRequest {
            app_id: app_id.clone(),
            label: channel.clone(),
            version: form
                .get("version")
                .map_or(String::new(), |v| v.trim().to_owned()),
            publish: form.contains_key("publish"),
        }),
    )
    .await;
    match result {
        Ok(_) => {
            Redirect::to(&format!("/apps/{}?saved={}", url(&app_id), url(&channel))).into_response()
        }
        Err(ApiError::Invalid(message)) => {
            let flash = Flash {
                ok: false,
                text: message,
            };
            app_page(&state, &session, &app, Some(flash), StatusCode::BAD_REQUEST).await
        }
        Err(ApiError::NotFound(message)) => html::not_found(Some(&session), &message),
        Err(err) => html::internal_error(Some(&session), &err),
    }
}

#[allow(clippy::too_many_lines)]
async fn app_page(
    state: &PanelState,
    session: &Session,
    app: &str,
    flash: Option<Flash>,
    status: StatusCode,
) -> Response {
    let snapshot = state.admin.cache.snapshot();
    let Some((app_id, entry)) = find_app(&snapshot, app) else {
        return html::not_found(Some(session), &format!("Application {app}"));
    };
    let filter = InstanceFilter {
        app_id: Some(app_id.clone()),
        ..InstanceFilter::default()
    };
    let counts = match state.admin.store.version_counts(&filter).await {
        Ok(counts) => counts,
        Err(err) => return html::internal_error(Some(session), &err),
    };
    let mut channels: Vec<_> = entry.channels.values().collect();
    channels.sort_by(|a, b| a.record.name.cmp(&b.record.name));
    let mut versions: Vec<&String> = entry.packages.keys().collect();
    versions.sort_by(|a, b| by_version_desc(a, b));
    let csrf = csrf_field(session);
    let mut channel_rows = String::new();
    for (n, c) in channels.iter().enumerate() {
        let mut options = String::new();
        if !c.record.version.is_empty() && !entry.packages.contains_key(&c.record.version) {
            let _ = write!(
                options,
                r#"<option value="{v}" selected>{v} (no package)</option>"#,
                v = esc(&c.record.version)
            );
        }
        for v in &versions {
            let _ = write!(
                options,
                r#"<option value="{v}"{sel}>{v}</option>"#,
                v = esc(v),
                sel = if **v == c.record.version {
                    " selected"
                } else {
                    ""
                },
            );
        }
        let _ = write!(
            channel_rows,
            r#"<tr><th scope="row">{name}</th><td>{version}</td><td>{publish}</td><td>{source}</td><td><form class="inline" method="post" action="/apps/{appq}/channels/{nameq}">{csrf}<label for="ch-{n}">Version <select id="ch-{n}" name="version">{options}</select></label> <label class="check" for="pub-{n}"><input id="pub-{n}" type="checkbox" name="publish"{checked}> published</label> <button type="submit">Save {name}</button></form></td></tr>"#,
            name = esc(&c.record.name),
            nameq = url(&c.record.name),
            appq = url(&app_id),
            version = if c.record.version.is_empty() {
                r#"<span class="muted">none</span>"#.to_owned()
            } else {
                esc(&c.record.version)
            },
            publish = if c.record.publish { "yes" } else { "no" },
            source = if c.record.upstream.is_empty() {
                "local".to_owned()
            } else {
                format!("upstream {}", esc(&c.record.upstream))
            },
            checked = if c.record.publish { " checked" } else { "" },
        );
        if !c.floors.is_empty() || !c.blacklist.is_empty() {
            let mut floors: Vec<_> = c.floors.iter().collect();
            floors.sort_by(|a, b| a.1.version.cmp(&b.1.version).then(a.0.cmp(&b.0)));
            let floors = floors
                .iter()
                .map(|(arch, f)| {
                    format!(
                        "{}{}{}",
                        esc(&f.version.to_string()),
                        if arch.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", esc(arch))
                        },
                        if f.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", esc(&f.reason))
                        }
                    )
                })
                .collect::<Vec<_>>();
            let mut blacklist = c.blacklist.clone();
            blacklist.sort();
            let blacklist: Vec<String> = blacklist.iter().map(|v| esc(&v.to_string())).collect();
            let _ = write!(
                channel_rows,
                r#"<tr class="sub"><td></td><td colspan="4"><span class="muted">Floors (installed on the way, never skipped):</span> {floors} · <span class="muted">Never offered:</span> {blacklist}</td></tr>"#,
                floors = if floors.is_empty() {
                    "none".to_owned()
                } else {
                    floors.join("; ")
                },
                blacklist = if blacklist.is_empty() {
                    "none".to_owned()
                } else {
                    blacklist.join(", ")
                },
            );
        }
    }
    if channels.is_empty() {
        channel_rows = empty_row(5, "No channels.");
    }
    let flash = flash.map_or_else(String::new, |f| {
        format!(
            r#"<p class="{}" role="{}" id="flash">{}</p>"#,
            if f.ok { "ok" } else { "error" },
            if f.ok { "status" } else { "alert" },
            esc(&f.text)
        )
    });
    let mut groups: Vec<_> = entry.groups.values().collect();
    groups.sort_by(|a, b| {
        a.record
            .label
            .cmp(&b.record.label)
            .then(a.record.id.cmp(&b.record.id))
    });
    let mut group_rows = String::new();
    let now = state.admin.clock.now();
    let overviews = match admin_overview::gather(&state.admin, Some(&app_id)).await {
        Ok(overviews) => overviews,
        Err(err) => return html::internal_error(Some(session), &err),
    };
    for g in &groups {
        let policy = GroupPolicy::from_json(&g.record.policy).unwrap_or_default();
        let overview = overviews.iter().find(|o| o.group_id == g.record.id);
        let auto_paused = overview.is_some_and(|o| o.facts.auto_pause.is_some());
        let state_cell = overview.map_or_else(String::new, |o| {
            format!(
                "{} {}<br>{}<br><span class=\"muted\">estimated end: {}</span>",
                state_badge(o.class.state),
                attention_badges(o),
                progress_bar(o.class.on_target, o.class.instances),
                esc(&admin_overview::eta_text(o.class.eta, now)),
            )
        });
        let mut versions: Vec<_> = counts
            .iter()
            .filter(|c| c.group_id == g.record.id)
            .collect();
        versions.sort_by(|a, b| by_version_desc(&a.version, &b.version));
        let total: i64 = versions.iter().map(|c| c.count).sum();
        let breakdown = if versions.is_empty() {
            r#"<span class="muted">no instances</span>"#.to_owned()
        } else {
            versions
                .iter()
                .map(|c| format!("{}: {}", esc(&c.version), c.count))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            group_rows,
            r#"<tr data-group="{id}"><th scope="row"><a href="{href}">{label}</a> <span class="muted">({id})</span></th><td>{state_cell}</td><td>{channel}</td><td>{policy}{error}</td>{total}<td>{breakdown}</td></tr>"#,
            href = group_url(&app_id, &g.record.id),
            label = esc(if g.record.label.is_empty() {
                &g.record.id
            } else {
                &g.record.label
            }),
            id = esc(&g.record.id),
            channel = esc(&g.record.channel),
            policy = esc(&policy_summary(&policy, now, auto_paused)),
            error = g
                .policy_error
                .as_ref()
                .map_or_else(String::new, |e| format!(
                    r#"<br><span class="error">unusable policy, treated as paused: {}</span>"#,
                    esc(e)
                )),
            total = num(total),
        );
    }
    if groups.is_empty() {
        group_rows = empty_row(6, "No groups.");
    }
    let mut packages: Vec<_> = entry.packages.values().collect();
    packages.sort_by(|a, b| by_version_desc(&a.record.version, &b.record.version));
    let mut package_rows = String::new();
    for p in &packages {
        let _ = write!(
            package_rows,
            "<tr><th scope=\"row\">{}</th>{}<td>{}</td><td>{}</td></tr>",
            esc(&p.record.version),
            num(i64::try_from(p.record.size).unwrap_or(i64::MAX)),
            if p.record.url.is_empty() {
                r#"<span class="error">payload missing: upload it</span>"#.to_owned()
            } else {
                format!("<code>{}</code>", esc(&p.record.url))
            },
            html::time(p.record.created_at),
        );
        // The version's packages for named architectures and every package's extra files.
        let mut extras: Vec<String> = Vec::new();
        let files = |offer: &crate::protocol::UpdateOffer| {
            offer
                .extra_files
                .iter()
                .map(|f| format!("<code>{}</code> ({} bytes)", esc(&f.name), f.size))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !p.offer.extra_files.is_empty() {
            extras.push(format!("files: {}", files(&p.offer)));
        }
        let mut arches: Vec<_> = entry
            .arch_packages
            .iter()
            .filter(|((version, _), _)| *version == p.record.version)
            .collect();
        arches.sort_by(|a, b| a.0.1.cmp(&b.0.1));
        for ((_, arch), package) in arches {
            extras.push(format!(
                "{}: <code>{}</code>{}",
                esc(arch),
                esc(&package.record.url),
                if package.offer.extra_files.is_empty() {
                    String::new()
                } else {
                    format!(", files: {}", files(&package.offer))
                }
            ));
        }
        if !extras.is_empty() {
            let _ = write!(
                package_rows,
                r#"<tr class="sub"><td></td><td colspan="3">{}</td></tr>"#,
                extras.join("<br>")
            );
        }
    }
    if packages.is_empty() {
        package_rows = empty_row(4, "No packages.");
    }
    let label = app_label(entry);
    let body = format!(
        r#"<h1>{label} <span class="muted">application</span></h1>
<p class="muted">Id <code>{id}</code>{description} · <a href="/instances?app={idq}">Instances</a> · <a href="/errors?app={idq}">Errors</a> · <a href="/activity?app={idq}">Activity</a></p>
{flash}
<h2>Groups</h2>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Group</th><th scope="col">State</th><th scope="col">Channel</th><th scope="col">Policy</th><th scope="col" class="num">Instances</th><th scope="col">Versions</th></tr></thead>
<tbody>{group_rows}</tbody></table></div>
<h2>Channels</h2>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Channel</th><th scope="col">Version</th><th scope="col">Published</th><th scope="col">Source</th><th scope="col">Promote</th></tr></thead>
<tbody>{channel_rows}</tbody></table></div>
<h2>Packages</h2>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Version</th><th scope="col" class="num">Size (bytes)</th><th scope="col">URL</th><th scope="col">Added</th></tr></thead>
<tbody>{package_rows}</tbody></table></div>"#,
        label = esc(&label),
        id = esc(&app_id),
        idq = url(&app_id),
        description = entry
            .record
            .as_ref()
            .filter(|r| !r.description.is_empty())
            .map_or_else(String::new, |r| format!(" · {}", esc(&r.description))),
    );
    page(status, &label, Some(session), &body)
}
