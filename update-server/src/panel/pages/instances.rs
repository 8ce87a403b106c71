//! The instances (`GET /instances`: search by machine id prefix, filters, pages) and one
//! instance with its history (`GET /apps/{app}/instances/{machine}`).

use super::graphs::event_label;
use super::{PAGE_SIZE, Params, app_label, empty_row, error_text, group_url, page_number, pager};
use crate::cache::AppEntry;
use crate::panel::PanelState;
use crate::panel::html::{self, esc, page, url};
use crate::panel::session::Session;
use crate::store::{HistoryKind, InstanceFilter, canonical_app_id};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// `GET /instances?q=&app=&group=&version=&status=&page=`.
pub(crate) async fn instances(
    State(state): State<PanelState>,
    session: Session,
    Query(query): Query<Params>,
) -> Response {
    let get = |k: &str| {
        query
            .get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let filter = InstanceFilter {
        app_id: get("app").map(|a| canonical_app_id(&a)),
        group_id: get("group"),
        version: get("version"),
        status: get("status"),
        machine_id_prefix: get("q"),
        ..InstanceFilter::default()
    };
    let page_no = page_number(&query);
    let store = state.admin.store.as_ref();
    let loaded = async {
        let total = store.count_instances(&filter).await?;
        let rows = store
            .instances(&filter, PAGE_SIZE, (page_no - 1) * PAGE_SIZE)
            .await?;
        Ok::<_, crate::store::StoreError>((total, rows))
    };
    let (total, rows) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let snapshot = state.admin.cache.snapshot();
    let mut table = String::new();
    for i in &rows {
        let app = snapshot
            .app(&i.app_id)
            .map_or_else(|| i.app_id.clone(), app_label);
        let _ = write!(
            table,
            r#"<tr><th scope="row"><a href="/apps/{appq}/instances/{idq}"><code>{id}</code></a></th><td>{app}</td><td><a href="{group_href}">{group}</a></td><td>{version}</td><td>{status}</td><td>{seen}</td></tr>"#,
            appq = url(&i.app_id),
            idq = url(&i.machine_id),
            id = esc(&i.machine_id),
            app = esc(&app),
            group_href = group_url(&i.app_id, &i.group_id),
            group = esc(&i.group_id),
            version = esc(&i.version),
            status = esc(&i.status.replace('_', " ")),
            seen = html::time(i.last_seen),
        );
    }
    if rows.is_empty() {
        table = empty_row(6, "No instance matches.");
    }
    // The filter offers the apps the principal may see, and no others.
    let mut apps: Vec<(&String, &AppEntry)> = snapshot
        .apps
        .iter()
        .filter(|(id, _)| session.principal.may_see_app(id))
        .collect();
    apps.sort_by_key(|(_, e)| app_label(e).to_lowercase());
    let chosen_app = filter.app_id.clone().unwrap_or_default();
    let mut app_options = String::from(r#"<option value="">All</option>"#);
    for (id, entry) in apps {
        let _ = write!(
            app_options,
            r#"<option value="{}"{}>{}</option>"#,
            esc(id),
            if **id == chosen_app { " selected" } else { "" },
            esc(&app_label(entry))
        );
    }
    let mut status_options = String::from(r#"<option value="">Any</option>"#);
    for name in [
        "unknown",
        "granted",
        "downloading",
        "downloaded",
        "installed",
        "installed_held",
        "complete",
        "error",
    ] {
        let _ = write!(
            status_options,
            r#"<option value="{name}"{}>{}</option>"#,
            if filter.status.as_deref() == Some(name) {
                " selected"
            } else {
                ""
            },
            name.replace('_', " ")
        );
    }
    let value = |k: &str| esc(&get(k).unwrap_or_default());
    let mut base = String::from("/instances?");
    for k in ["q", "app", "group", "version", "status"] {
        if let Some(v) = get(k) {
            let _ = write!(base, "{k}={}&amp;", url(&v));
        }
    }
    let base = base
        .trim_end_matches("&amp;")
        .trim_end_matches('?')
        .to_owned();
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let body = format!(
        r#"<h1>Instances</h1>
<form method="get" action="/instances" class="stack card" role="search">
<div class="fields">
<label for="q">Instance id starts with<input id="q" name="q" value="{q}" type="search"></label>
<label for="app">Application<select id="app" name="app">{app_options}</select></label>
<label for="group">Group id<input id="group" name="group" value="{group}"></label>
<label for="version">Version<input id="version" name="version" value="{version}"></label>
<label for="status">Status<select id="status" name="status">{status_options}</select></label>
</div>
<div><button type="submit">Search</button> <a href="/instances">Clear</a></div>
</form>
<p>{total} instances.</p>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Instance</th><th scope="col">Application</th><th scope="col">Group</th><th scope="col">Version</th><th scope="col">Status</th><th scope="col">Last seen</th></tr></thead>
<tbody>{table}</tbody></table></div>
{pager}"#,
        q = value("q"),
        group = value("group"),
        version = value("version"),
        pager = pager(&base, page_no, pages),
    );
    page(StatusCode::OK, "Instances", Some(&session), &body)
}

/// `GET /apps/{app}/instances/{machine}`: one instance and its history.
pub(crate) async fn instance(
    State(state): State<PanelState>,
    session: Session,
    Path((app, machine)): Path<(String, String)>,
) -> Response {
    let app_id = canonical_app_id(&app);
    let store = state.admin.store.as_ref();
    let record = match store.instance(&app_id, &machine).await {
        Ok(Some(record)) => record,
        Ok(None) => return html::not_found(Some(&session), &format!("Instance {machine}")),
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let history = match store.history(Some(&app_id), &machine, 500).await {
        Ok(history) => history,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let mut rows = String::new();
    for h in history.iter().rev() {
        let what = match h.kind {
            HistoryKind::Grant => format!(
                "granted update to {}",
                esc(h.target_version.as_deref().unwrap_or(""))
            ),
            HistoryKind::Event => {
                let event = (h.event_type.unwrap_or(0), h.event_result.unwrap_or(0));
                let mut text = esc(&event_label(event));
                if let Some(c) = h.error_code {
                    let _ = write!(text, ", {}", esc(&error_text(c)));
                }
                if let Some(previous) = h.previous_version.as_deref().filter(|p| !p.is_empty()) {
                    let _ = write!(text, ", from {}", esc(previous));
                }
                text
            }
        };
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{what}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html::time(h.at),
            esc(&h.version),
            esc(&h.group_id),
            esc(&h.install_source),
        );
    }
    if history.is_empty() {
        rows = empty_row(5, "No history.");
    }
    let snapshot = state.admin.cache.snapshot();
    let app_name = snapshot
        .app(&app_id)
        .map_or_else(|| app_id.clone(), app_label);
    let body = format!(
        r#"<p class="muted"><a href="/instances?app={appq}">Instances</a> › instance</p>
<h1>Instance <code>{id}</code></h1>
<dl class="facts">
<dt>Application</dt><dd><a href="/apps/{appq}">{app}</a></dd>
<dt>Group</dt><dd><a href="{group_href}">{group}</a></dd>
<dt>Version</dt><dd>{version}</dd>
<dt>Status</dt><dd>{status}</dd>
<dt>Last event</dt><dd>{event} {error}</dd>
<dt>Outstanding grant</dt><dd>{grant}</dd>
<dt>Retry delay</dt><dd>{retry}</dd>
<dt>OEM</dt><dd>{oem}</dd>
<dt>First seen</dt><dd>{first}</dd>
<dt>Last seen</dt><dd>{last}</dd>
</dl>
<h2>History <span class="muted">(newest first)</span></h2>
<div class="table-wrap"><table>
<thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Version</th><th scope="col">Group</th><th scope="col">Install source</th></tr></thead>
<tbody>{rows}</tbody></table></div>"#,
        appq = url(&app_id),
        id = esc(&record.machine_id),
        app = esc(&app_name),
        group_href = group_url(&app_id, &record.group_id),
        group = esc(&record.group_id),
        version = esc(&record.version),
        status = esc(&record.status.replace('_', " ")),
        event = match (record.last_event_type, record.last_event_result) {
            (Some(t), Some(r)) => esc(&event_label((t, r))),
            _ => "none".to_owned(),
        },
        error = record
            .last_error_code
            .map_or_else(String::new, |c| format!("({})", esc(&error_text(c)))),
        retry = match record.retry_until {
            Some(until) => format!(
                "not offered {} again before {} ({} consecutive failures)",
                esc(record.retry_version.as_deref().unwrap_or("the update")),
                html::time(until),
                record.failures
            ),
            None => "none".to_owned(),
        },
        grant = record.grant_version.as_deref().map_or_else(
            || "none".to_owned(),
            |v| format!(
                "{} since {}",
                esc(v),
                record.granted_at.map(html::time).unwrap_or_default()
            )
        ),
        oem = esc(&record.oem),
        first = html::time(record.first_seen),
        last = html::time(record.last_seen),
    );
    page(
        StatusCode::OK,
        &format!("Instance {machine}"),
        Some(&session),
        &body,
    )
}
