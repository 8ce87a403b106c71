//! The errors page (`GET /errors`): failed attempts per instance, version and error code,
//! filtered by app, group, version and period, in pages of 50.

use super::{PAGE_SIZE, Params, app_label, empty_row, group_url, num, page_number, pager};
use crate::admin::overview::{self as admin_overview};
use crate::cache::AppEntry;
use crate::clock::millis;
use crate::panel::PanelState;
use crate::panel::html::{self, esc, page, url};
use crate::panel::session::Session;
use crate::store::canonical_app_id;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// The periods the errors page offers.
const PERIODS: [(&str, &str, i64); 4] = [
    ("1h", "the last hour", 3600),
    ("1d", "the last day", 86_400),
    ("7d", "the last 7 days", 7 * 86_400),
    ("30d", "the last 30 days", 30 * 86_400),
];

/// `GET /errors?app=&group=&version=&period=1h|1d|7d|30d&page=`: failed attempts per
/// instance, version and error code, the most recent first.
#[allow(clippy::too_many_lines)]
pub(crate) async fn errors(
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
    let period = get("period").unwrap_or_else(|| "1d".to_owned());
    let Some(&(period, period_label, secs)) = PERIODS.iter().find(|p| p.0 == period) else {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            Some(&session),
            "Unknown period",
            "The period must be 1h, 1d, 7d or 30d.",
        );
    };
    let now = state.admin.clock.now();
    let filter = crate::store::FailureFilter {
        app_id: get("app").map(|a| canonical_app_id(&a)),
        group_id: get("group"),
        version: get("version"),
        since: millis(now) - secs * 1000,
    };
    let page_no = page_number(&query);
    let store = state.admin.store.as_ref();
    let loaded = async {
        let total = store.count_failures(&filter).await?;
        let rows = store
            .failures(&filter, PAGE_SIZE, (page_no - 1) * PAGE_SIZE)
            .await?;
        Ok::<_, crate::store::StoreError>((total, rows))
    };
    let (total, rows) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let snapshot = state.admin.cache.snapshot();
    let mut table = String::new();
    for r in &rows {
        let app = snapshot
            .app(&r.app_id)
            .map_or_else(|| r.app_id.clone(), app_label);
        let error = match r.error_code {
            Some(code) => {
                let name = admin_overview::error_name(Some(code));
                if name.is_empty() {
                    format!("code {code}")
                } else {
                    format!("{} (code {code})", esc(&name))
                }
            }
            None => "no code sent".to_owned(),
        };
        let _ = write!(
            table,
            r#"<tr data-machine="{id}" data-code="{code}" data-count="{count}"><th scope="row"><a href="/apps/{appq}/instances/{idq}"><code>{id}</code></a></th><td>{error}</td><td>{version}</td><td><a href="{group_href}">{group}</a> <span class="muted">{app}</span></td>{times}<td>{first}</td><td>{last}</td></tr>"#,
            appq = url(&r.app_id),
            idq = url(&r.machine_id),
            id = esc(&r.machine_id),
            code = r.error_code.map(|c| c.to_string()).unwrap_or_default(),
            count = r.count,
            version = esc(&r.version),
            group_href = group_url(&r.app_id, &r.group_id),
            group = esc(&r.group_id),
            app = esc(&app),
            times = num(r.count),
            first = html::time(r.first_at),
            last = html::time(r.last_at),
        );
    }
    if rows.is_empty() {
        table = empty_row(7, &format!("No failed update in {period_label}."));
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
    let mut period_options = String::new();
    for (name, label, _) in PERIODS {
        let _ = write!(
            period_options,
            r#"<option value="{name}"{}>{label}</option>"#,
            if name == period { " selected" } else { "" },
        );
    }
    let value = |k: &str| esc(&get(k).unwrap_or_default());
    let mut base = format!("/errors?period={period}");
    for k in ["app", "group", "version"] {
        if let Some(v) = get(k) {
            let _ = write!(base, "&amp;{k}={}", url(&v));
        }
    }
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let body = format!(
        r#"<h1>Errors</h1>
<p class="muted">Failed updates (event 3/0) in {period_label}, one row per instance, version and error code, the most recent first. The count is how many times the instance failed so.</p>
<form method="get" action="/errors" class="stack card" role="search">
<div class="fields">
<label for="app">Application<select id="app" name="app">{app_options}</select></label>
<label for="group">Group id<input id="group" name="group" value="{group}"></label>
<label for="version">Version<input id="version" name="version" value="{version}"></label>
<label for="period">Since<select id="period" name="period">{period_options}</select></label>
</div>
<div><button type="submit">Filter</button> <a href="/errors">Clear</a></div>
</form>
<p id="errors-total">{total} rows.</p>
<div class="table-wrap"><table id="errors">
<thead><tr><th scope="col">Instance</th><th scope="col">Error</th><th scope="col">Version</th><th scope="col">Group</th><th scope="col" class="num">Times</th><th scope="col">First</th><th scope="col">Last</th></tr></thead>
<tbody>{table}</tbody></table></div>
{pager}"#,
        group = value("group"),
        version = value("version"),
        pager = pager(&base, page_no, pages),
    );
    page(StatusCode::OK, "Errors", Some(&session), &body)
}
