//! The panel's pages and form handlers, one module per page or page family, and what they
//! share: looking an app up in the configuration snapshot, version order, links, table cells,
//! the pager and error code names.
//!
//! - [`overview`]: `/`, the home page (every group's state, progress, rate, estimated end and
//!   what needs attention).
//! - [`errors`]: `/errors`, the failed attempts with filters.
//! - [`apps`]: `/apps` and `/apps/{app}` (channels, groups, packages), and the channel form.
//! - [`groups`]: `/apps/{app}/groups/{group}`, one group: state, progress, policy and rollout
//!   forms, live counts, why instances are not updating; its live part alone with `?live=1`.
//! - [`group_forms`]: the group page's forms (pause, policy, timed rollout).
//! - [`graphs`]: `/apps/{app}/groups/{group}/graphs`, the group's charts and their markers.
//! - [`instances`]: `/instances` (search, pages) and `/apps/{app}/instances/{machine}` (one
//!   instance and its history).
//! - [`activity`]: `/activity`, the activity log with each entry's changes.
//! - [`upstreams`]: `/upstreams`, the upstreams and their last sync.
//! - [`webhooks`]: `/webhooks` and each webhook's delivery log.
//! - [`tokens`]: `/tokens`, the API tokens (administrators).
//! - [`login`]: `/login` and `/logout`.
//!
//! What each page and form requires is declared in [`crate::panel::ACTIONS`].

use crate::cache::{AppEntry, Snapshot};
use crate::panel::html::{esc, url};
use crate::store::canonical_app_id;
use rollout_core::Version;
use std::cmp::Ordering;
use std::collections::HashMap;

pub(super) mod activity;
pub(super) mod apps;
pub(super) mod errors;
pub(super) mod graphs;
pub(super) mod group_forms;
pub(super) mod groups;
pub(super) mod instances;
pub(super) mod login;
pub(super) mod overview;
pub(super) mod tokens;
pub(super) mod upstreams;
pub(super) mod webhooks;

type Params = HashMap<String, String>;

const PAGE_SIZE: i64 = 50;

fn by_version_desc(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Ok(va), Ok(vb)) => vb.cmp(&va),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        _ => a.cmp(b),
    }
}

fn app_label(entry: &AppEntry) -> String {
    entry
        .record
        .as_ref()
        .map(|r| {
            if r.label.is_empty() {
                r.id.clone()
            } else {
                r.label.clone()
            }
        })
        .unwrap_or_default()
}

/// The app an id names in the snapshot (braces and case do not matter).
fn find_app<'a>(snapshot: &'a Snapshot, app: &str) -> Option<(String, &'a AppEntry)> {
    let id = canonical_app_id(app);
    snapshot.app(&id).map(|entry| (id, entry))
}

fn group_url(app: &str, group: &str) -> String {
    format!("/apps/{}/groups/{}", url(app), url(group))
}

fn num(value: i64) -> String {
    format!(r#"<td class="num">{value}</td>"#)
}

fn empty_row(columns: usize, text: &str) -> String {
    format!(
        r#"<tr><td colspan="{columns}" class="muted">{}</td></tr>"#,
        esc(text)
    )
}

fn pager(base: &str, page_no: i64, pages: i64) -> String {
    let sep = if base.contains('?') { "&amp;" } else { "?" };
    let prev = if page_no > 1 {
        format!(
            r#"<a href="{base}{sep}page={}" rel="prev">Previous</a>"#,
            page_no - 1
        )
    } else {
        String::new()
    };
    let next = if page_no < pages {
        format!(
            r#"<a href="{base}{sep}page={}" rel="next">Next</a>"#,
            page_no + 1
        )
    } else {
        String::new()
    };
    format!(
        r#"<nav class="pager" aria-label="Pages">{prev}<span>Page {page_no} of {pages}</span>{next}</nav>"#
    )
}

fn page_number(query: &Params) -> i64 {
    query
        .get("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000)
}

/// An error code with update_engine's name for it: `error code 268437959 (HTTP 503)`.
fn error_text(code: i64) -> String {
    match omaha_proto::codes::error_code_name(code) {
        Some(name) => format!("error code {code} ({name})"),
        None => format!("error code {code}"),
    }
}

/// A message shown above a group's forms.
struct Flash {
    ok: bool,
    text: String,
}
