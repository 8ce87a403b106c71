//! HTML building blocks: escaping, the page layout, error pages, and the stylesheet and
//! script the pages load (compiled in).

use super::session::{CSRF_FIELD, Session};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a path segment or query value.
pub(crate) fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A time (unix ms) as `2026-11-27 08:00:00 UTC`.
pub(crate) fn time(ms: i64) -> String {
    crate::clock::from_millis(ms)
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// The hidden CSRF field of a session's forms.
pub(crate) fn csrf_field(session: &Session) -> String {
    format!(
        r#"<input type="hidden" name="{CSRF_FIELD}" value="{}">"#,
        esc(&session.csrf)
    )
}

/// A whole page: header with navigation (and the log-out button when logged in), the
/// content, and the security headers.
pub(crate) fn page(
    status: StatusCode,
    title: &str,
    session: Option<&Session>,
    body: &str,
) -> Response {
    let nav = match session {
        Some(s) => format!(
            r#"<nav aria-label="Main"><ul>
<li><a href="/">Overview</a></li>
<li><a href="/apps">Applications</a></li>
<li><a href="/errors">Errors</a></li>
<li><a href="/instances">Instances</a></li>
<li><a href="/activity">Activity</a></li>
<li><a href="/upstreams">Upstreams</a></li>
<li><a href="/webhooks">Webhooks</a></li>{}
</ul></nav>
<form class="logout" method="post" action="/logout">{}<span class="user">{}</span> <span class="role" data-role="{}">{}</span> <button type="submit">Log out</button></form>"#,
            if s.principal.role == crate::access::Role::Admin && s.principal.apps.is_none() {
                "\n<li><a href=\"/tokens\">Tokens</a></li>"
            } else {
                ""
            },
            csrf_field(s),
            esc(&s.user),
            s.principal.role,
            esc(&match &s.principal.apps {
                None => s.principal.role.to_string(),
                Some(apps) => format!(
                    "{} of {}",
                    s.principal.role,
                    apps.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            }),
        ),
        None => String::new(),
    };
    let html = format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Update service</title>
<link rel="stylesheet" href="/panel.css">
<script src="/panel.js" defer></script>
</head>
<body>
<a class="skip" href="#content">Skip to content</a>
<header><a class="brand" href="/">Update service</a>{nav}</header>
<main id="content" tabindex="-1">
{body}
</main>
</body>
</html>
"##,
        title = esc(title),
    );
    with_headers((status, html).into_response())
}

/// A part of a page (the live part a page's script swaps in), with the page's headers.
pub(crate) fn fragment(html: String) -> Response {
    with_headers((StatusCode::OK, html).into_response())
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// An error page.
pub(crate) fn error_page(
    status: StatusCode,
    session: Option<&Session>,
    title: &str,
    message: &str,
) -> Response {
    let body = format!(
        r#"<h1>{}</h1><p class="error" role="alert">{}</p><p><a href="/">Back to the overview</a></p>"#,
        esc(title),
        esc(message)
    );
    page(status, title, session, &body)
}

/// The 404 page of an unknown id.
pub(crate) fn not_found(session: Option<&Session>, what: &str) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        session,
        "Not found",
        &format!("{what} not found."),
    )
}

/// A 500 page; the cause is logged, not shown.
pub(crate) fn internal_error(session: Option<&Session>, err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "control panel request failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        session,
        "Something went wrong",
        "The server could not complete this request. It was logged; try again later.",
    )
}

/// `GET /panel.css`.
pub(crate) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

/// `GET /panel.js`.
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

const STYLESHEET: &str = r#"
:root { --fg: #1d2330; --muted: #5a6475; --line: #d5dae3; --bg: #ffffff; --panel: #f4f6f9;
  --accent: #1f5fbf; --bad: #b3261e; --good: #2e7d32; font-family: system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
* { box-sizing: border-box; }
body { margin: 0; line-height: 1.45; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible,
summary:focus-visible, main:focus-visible { outline: 3px solid #f2a900; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5rem; }
.skip:focus { left: .5rem; z-index: 10; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center;
  padding: .6rem 1rem; background: #16324f; color: #fff; }
header a { color: #fff; }
.brand { font-weight: 700; text-decoration: none; }
nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0; padding: 0; }
.logout { margin-left: auto; display: flex; gap: .5rem; align-items: center; }
main { padding: 1rem; max-width: 1400px; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
.muted { color: var(--muted); }
.error { color: var(--bad); font-weight: 600; }
.ok { color: var(--good); font-weight: 600; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--panel); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 22rem), 1fr));
  gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; background: var(--bg); }
.card h2 { margin-top: 0; }
form.stack { display: grid; gap: .6rem; }
.fields { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 14rem), 1fr));
  gap: .6rem 1rem; }
label { display: grid; gap: .15rem; font-weight: 600; font-size: .9rem; }
label.check { display: flex; gap: .4rem; align-items: center; }
.hint { font-weight: 400; color: var(--muted); font-size: .85rem; }
input, select, button { font: inherit; padding: .35rem .5rem; border: 1px solid #9aa4b5;
  border-radius: 4px; max-width: 100%; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.danger { background: var(--bad); border-color: var(--bad); }
header button { background: transparent; border-color: #fff; }
.inline { display: inline; }
.tabs { display: flex; flex-wrap: wrap; gap: .5rem; list-style: none; padding: 0; }
.tabs a { display: inline-block; padding: .3rem .8rem; border: 1px solid var(--line);
  border-radius: 999px; text-decoration: none; }
.tabs a[aria-current="page"] { background: var(--accent); color: #fff; border-color: var(--accent); }
figure { margin: 0 0 1.5rem; }
figcaption { font-weight: 600; margin-bottom: .4rem; }
svg.chart { height: 100%; width: auto; aspect-ratio: 744 / 300; flex: 1 1 auto;
  display: block; }
svg.chart text { font-size: 12px; fill: #3b4454; font-family: system-ui, sans-serif; }
ul.legend { display: flex; flex-wrap: wrap; gap: .3rem 1rem; list-style: none; padding: 0; margin: .5rem 0; }
ul.legend svg { vertical-align: middle; }
.pager { display: flex; gap: 1rem; align-items: center; margin: .75rem 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; }
.chart-wrap { overflow-x: auto; }
.chart-scroll { display: flex; width: 100%; min-width: 640px; aspect-ratio: 800 / 300;
  border: 1px solid var(--line); border-radius: 4px; background: var(--bg); }
svg.chart-y { position: sticky; left: 0; z-index: 1; height: 100%; width: auto;
  aspect-ratio: 56 / 300; flex: none; background: var(--bg); border-right: 1px solid var(--line); }
svg.chart-y text { font-size: 12px; fill: #3b4454; font-family: system-ui, sans-serif; }
ul.legend.markers { font-size: .9rem; }
ul.legend .tag { font-weight: 700; }
progress.bar { width: 8rem; height: 1rem; vertical-align: middle; accent-color: var(--good); }
.progress { white-space: nowrap; }
.badge { display: inline-block; padding: 0 .5rem; border: 1px solid currentColor;
  border-radius: 999px; font-size: .85rem; font-weight: 600; white-space: nowrap; }
.state-updating { color: var(--accent); }
.state-finished { color: var(--good); }
.state-paused { color: #8a5a00; }
.state-auto_paused, .attention { color: var(--bad); }
.state-no_target, .state-no_instances { color: var(--muted); }
tr.needs-attention th { box-shadow: inset 4px 0 0 var(--bad); }
.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; }
@media (max-width: 40rem) {
  main { padding: .6rem; }
  .logout { margin-left: 0; }
  th, td { padding: .3rem .4rem; }
}
"#;

/// Refreshes the parts of a page marked `data-refresh="<seconds>"` (the overview, a group's
/// live state and the graphs while a rollout runs): fetches `data-src` (the part alone; the
/// page itself without one) and swaps in the element of the same id, unless the keyboard
/// focus is in it, so nothing else (forms, their input, the focus) is touched and the page
/// is never reloaded. Each swap bumps the element's `data-refreshed` count. Scrolls charts
/// wider than the screen to their latest end.
const SCRIPT: &str = r#"(function () {
  "use strict";
  // Charts wider than a phone scroll sideways: show their latest end first.
  function latest(root) {
    root.querySelectorAll(".chart-wrap").forEach(function (w) { w.scrollLeft = w.scrollWidth; });
  }
  latest(document);
  function start(el) {
    var secs = parseInt(el.getAttribute("data-refresh"), 10) || 15;
    var count = 0;
    function tick() {
      var src = el.getAttribute("data-src") || window.location.href;
      fetch(src, { credentials: "same-origin", redirect: "error" })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
        .then(function (text) {
          // Keep the keyboard focus where it is: swap only while it is elsewhere.
          if (el.contains(document.activeElement)) {
            window.setTimeout(tick, secs * 1000);
            return;
          }
          var doc = new DOMParser().parseFromString(text, "text/html");
          var fresh = doc.getElementById(el.id);
          if (fresh) {
            count += 1;
            fresh.setAttribute("data-refreshed", String(count));
            el.replaceWith(fresh);
            el = fresh;
            latest(el);
          }
          if (el.hasAttribute("data-refresh")) { window.setTimeout(tick, secs * 1000); }
        })
        .catch(function () { window.setTimeout(tick, secs * 2000); });
    }
    window.setTimeout(tick, secs * 1000);
  }
  document.querySelectorAll("[data-refresh][id]").forEach(start);
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url("a b/{c}"), "a%20b%2F%7Bc%7D");
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
    }
}
