//! The upstreams page (`GET /upstreams`): what each upstream follows, its last sync and the
//! channels it keeps here.

use super::{app_label, empty_row};
use crate::panel::PanelState;
use crate::panel::html::{self, esc, page, url};
use crate::panel::session::Session;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write as _;

/// The upstreams: what each follows, its last sync (when, the result, what it did) and
/// the channels it keeps here.
pub(crate) async fn upstreams(State(state): State<PanelState>, session: Session) -> Response {
    let upstreams = match state.admin.store.upstreams().await {
        Ok(upstreams) => upstreams,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let snapshot = state.admin.cache.snapshot();
    let mut rows = String::new();
    for u in &upstreams {
        let omaha = u.kind == crate::store::UPSTREAM_OMAHA;
        let follows = if omaha {
            let app = snapshot
                .app(&u.app_id)
                .map_or_else(|| u.app_id.clone(), app_label);
            format!(
                r#"Omaha: <a href="/apps/{}">{}</a>, tracks {}, {}{}"#,
                url(&u.app_id),
                esc(&app),
                esc(&u.tracks.join(", ")),
                esc(&if u.arches.is_empty() {
                    "amd64".to_owned()
                } else {
                    u.arches.join(", ")
                }),
                if u.download {
                    ", payloads hosted here"
                } else {
                    ""
                }
            )
        } else {
            "published channels (admin API)".to_owned()
        };
        let mut channels: Vec<String> = snapshot
            .apps
            .values()
            .flat_map(|app| app.channels.values())
            .filter(|c| c.record.upstream == u.id)
            .map(|c| {
                format!(
                    r#"<a href="/apps/{}">{}</a> at {}"#,
                    url(&c.record.app_id),
                    esc(&c.record.name),
                    esc(&c.record.version)
                )
            })
            .collect();
        channels.sort();
        let last = if u.last_sync_at > 0 {
            html::time(u.last_sync_at)
        } else {
            "never".to_owned()
        };
        let status = match u.last_status.as_str() {
            "" => String::new(),
            "ok" => r#"<span class="ok">ok</span>"#.to_owned(),
            other => format!(r#"<span class="error">{}</span>"#, esc(other)),
        };
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}<br><code>{}</code></td><td>{follows}</td><td>{}</td><td>{last}</td><td>{status}</td><td>{}</td></tr>",
            esc(&u.id),
            esc(&u.label),
            esc(&u.url),
            if channels.is_empty() {
                "none".to_owned()
            } else {
                channels.join(", ")
            },
            esc(&u.last_detail),
        );
    }
    if upstreams.is_empty() {
        rows = empty_row(7, "No upstreams: updatectl upstream create adds one.");
    }
    let body = format!(
        r#"<h1>Upstreams</h1>
<p>Synced on <code>updatectl upstream sync</code> and every <code>--upstream-sync-interval</code> seconds; each change is in the <a href="/activity">activity log</a>.</p>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Id</th><th scope="col">Upstream</th><th scope="col">Follows</th><th scope="col">Channels kept here</th><th scope="col">Last sync</th><th scope="col">Result</th><th scope="col">What it did</th></tr></thead>
<tbody>{rows}</tbody></table></div>"#
    );
    page(StatusCode::OK, "Upstreams", Some(&session), &body)
}
