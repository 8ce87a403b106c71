//! The activity log (`GET /activity`), newest first, each entry with what it changed.

use super::{PAGE_SIZE, Params, app_label, empty_row, group_url, page_number, pager};
use crate::panel::PanelState;
use crate::panel::html::{self, esc, page, url};
use crate::panel::session::Session;
use crate::store::canonical_app_id;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// `GET /activity?app=&page=`: the activity log, newest first.
pub(crate) async fn activity(
    State(state): State<PanelState>,
    session: Session,
    Query(query): Query<Params>,
) -> Response {
    let app = query
        .get("app")
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(canonical_app_id);
    let page_no = page_number(&query);
    let mut entries = match state
        .admin
        .store
        .activity(app.as_deref(), PAGE_SIZE + 1, (page_no - 1) * PAGE_SIZE)
        .await
    {
        Ok(entries) => entries,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let more = i64::try_from(entries.len()).unwrap_or(0) > PAGE_SIZE;
    entries.truncate(usize::try_from(PAGE_SIZE).unwrap_or(50));
    let snapshot = state.admin.cache.snapshot();
    let mut rows = String::new();
    for e in &entries {
        let app_cell = if e.app_id.is_empty() {
            String::new()
        } else {
            let name = snapshot
                .app(&e.app_id)
                .map_or_else(|| e.app_id.clone(), app_label);
            format!(r#"<a href="/apps/{}">{}</a>"#, url(&e.app_id), esc(&name))
        };
        let group_cell = if e.group_id.is_empty() || e.app_id.is_empty() {
            esc(&e.group_id)
        } else {
            format!(
                r#"<a href="{}">{}</a>"#,
                group_url(&e.app_id, &e.group_id),
                esc(&e.group_id)
            )
        };
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{app_cell}</td><td>{group_cell}</td><td>{}</td><td>{}</td></tr>",
            html::time(e.at),
            esc(&e.actor),
            esc(&e.action),
            esc(&e.detail),
            changes_list(&e.changes),
        );
    }
    if entries.is_empty() {
        rows = empty_row(7, "Nothing logged.");
    }
    let base = app.as_ref().map_or_else(
        || "/activity".to_owned(),
        |a| format!("/activity?app={}", url(a)),
    );
    let pages = if more { page_no + 1 } else { page_no };
    let body = format!(
        r#"<h1>Activity</h1>
<div class="table-wrap"><table>
<thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Application</th><th scope="col">Group</th><th scope="col">Detail</th><th scope="col">Changes</th></tr></thead>
<tbody>{rows}</tbody></table></div>
{pager}"#,
        pager = pager(&base, page_no, pages),
    );
    page(StatusCode::OK, "Activity", Some(&session), &body)
}

/// What an activity entry changed: a list of `field: old → new` (a field that did not
/// exist before, or no longer does, reads "none"); empty for an entry without changes.
fn changes_list(changes: &[crate::store::ActivityChange]) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let side = |v: &Option<String>| {
        v.as_ref().map_or_else(
            || r#"<span class="muted">none</span>"#.to_owned(),
            |v| format!("<code>{}</code>", esc(v)),
        )
    };
    let mut list = r#"<ul class="changes">"#.to_owned();
    for c in changes {
        let _ = write!(
            list,
            r#"<li data-field="{field}"><strong>{field}</strong>: {old} → {new}</li>"#,
            field = esc(&c.field),
            old = side(&c.old),
            new = side(&c.new),
        );
    }
    list.push_str("</ul>");
    list
}
