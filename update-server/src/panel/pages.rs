//! The pages and the form handlers.

use super::PanelState;
use super::chart::{self, LineChart, Marker, Series};
use super::html::{self, csrf_field, esc, page, url};
use super::session::{
    self, CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECS, Session, cookie, csrf_ok,
    csrf_token, secure, set_cookie,
};
use super::why;
use crate::admin::overview::{self as admin_overview, GroupOverview};
use crate::admin::{
    Actor, ApiError, channels as admin_channels, groups as admin_groups,
    rollouts as admin_rollouts,
};
use crate::api;
use crate::auth;
use crate::cache::{AppEntry, Snapshot};
use crate::clock::millis;
use crate::overview::{Attention, Eta, GroupState};
use crate::policy::GroupPolicy;
use crate::store::{
    HistoryKind, InstanceFilter, ROLLUP_RESOLUTIONS, RollupKind, VersionCount, bucket_of,
    canonical_app_id,
};
use crate::writer::status_name;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use rollout_core::{InstanceStatus, Version};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

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

// ----- login -----

fn login_page(
    status: StatusCode,
    token: &str,
    error: Option<&str>,
    user: &str,
    sso: bool,
) -> Response {
    let error = error.map_or_else(String::new, |e| {
        format!(
            r#"<p class="error" role="alert" id="login-error">{}</p>"#,
            esc(e)
        )
    });
    let body = format!(
        r#"<h1>Log in</h1>
{error}
<form class="stack card" method="post" action="/login">
<input type="hidden" name="{CSRF_FIELD}" value="{token}">
<label for="user">User <input id="user" name="user" autocomplete="username" required value="{user}"></label>
<label for="key">API key <span class="hint">The key printed when the user was created (for <code>admin</code>: at the first start).</span>
<input id="key" name="key" type="password" autocomplete="current-password" required></label>
<div><button type="submit">Log in</button></div>
</form>{sso}"#,
        sso = if sso {
            r#"
<p class="card"><a href="/login/oidc" id="sso-login">Log in with single sign-on</a></p>"#
        } else {
            ""
        },
        token = esc(token),
        user = esc(user),
    );
    page(status, "Log in", None, &body)
}

/// `GET /login`: the form, with a fresh pre-session cookie its CSRF token is bound to.
pub(crate) async fn login_form(State(state): State<PanelState>, headers: HeaderMap) -> Response {
    let nonce = auth::generate_key();
    let mut response = login_page(
        StatusCode::OK,
        &csrf_token(&state.key, &nonce),
        None,
        "",
        state.sso.is_some(),
    );
    set(
        &mut response,
        &set_cookie(LOGIN_COOKIE, &nonce, 3600, secure(&state, &headers)),
    );
    response
}

fn set(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `POST /login`: checks the user's key against the store; on success sets the session
/// cookie and goes to the applications.
pub(crate) async fn login(
    State(state): State<PanelState>,
    peer: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<Params>,
) -> Response {
    let peer = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.0.ip());
    let nonce = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    let offered = form.get(CSRF_FIELD).map_or("", String::as_str);
    if nonce.is_empty() || !csrf_ok(&state.key, nonce, offered) {
        return html::error_page(
            StatusCode::FORBIDDEN,
            None,
            "Forbidden",
            "The login form's security token is missing or stale. Open the login page again.",
        );
    }
    let user = form.get("user").map_or("", |u| u.trim());
    let key = form.get("key").map_or("", String::as_str);
    if let Err(wait) = state.admin.throttle.check(user, peer, state.admin.now_ms()) {
        let mut response = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            offered,
            Some(&format!(
                "Too many failed logins: try again in {wait} seconds."
            )),
            user,
            state.sso.is_some(),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return response;
    }
    let stored = match state.admin.store.user(user).await {
        Ok(stored) => stored,
        Err(err) => return html::internal_error(None, &err),
    };
    // As the API does: an unknown user is checked against a fresh key nobody has.
    let exists = stored.is_some();
    let expected = match &stored {
        Some(record) => match state.admin.secret.open(&record.key_sealed) {
            Ok(key) => key,
            Err(err) => return html::internal_error(None, &err),
        },
        None => auth::generate_key(),
    };
    if !exists || user.is_empty() || auth::verify_basic(&expected, key).is_err() {
        state
            .admin
            .throttle
            .failed(user, peer, state.admin.now_ms());
        return login_page(
            StatusCode::UNAUTHORIZED,
            offered,
            Some("Wrong user or key."),
            user,
            state.sso.is_some(),
        );
    }
    state
        .admin
        .throttle
        .succeeded(user, peer, state.admin.now_ms());
    let now = state.admin.clock.now().as_second();
    let binding = stored.as_ref().map_or(&[][..], |r| r.key_sealed.as_slice());
    let value = session::issue(&state.key, user, now + SESSION_SECS, binding);
    let secure = secure(&state, &headers);
    let mut response = Redirect::to("/").into_response();
    set(
        &mut response,
        &set_cookie(SESSION_COOKIE, &value, SESSION_SECS, secure),
    );
    set(&mut response, &set_cookie(LOGIN_COOKIE, "", 0, secure));
    response
}

/// `POST /logout`: clears the session cookie.
pub(crate) async fn logout(
    State(state): State<PanelState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let mut response = Redirect::to("/login").into_response();
    set(
        &mut response,
        &set_cookie(SESSION_COOKIE, "", 0, secure(&state, &headers)),
    );
    response
}

// ----- overview -----

/// Instances on the target of all, as a bar and in numbers.
fn progress_bar(on_target: u64, instances: u64) -> String {
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
fn state_badge(state: GroupState) -> String {
    format!(
        r#"<span class="badge state-{name}" data-state="{name}">{label}</span>"#,
        name = state.as_str(),
        label = state.label()
    )
}

/// What needs attention, in words (not colour alone).
fn attention_badges(g: &GroupOverview) -> String {
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
fn rate_text(g: &GroupOverview) -> String {
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
fn errors_url(app_id: &str, group: &str, period: &str) -> String {
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

// ----- errors -----

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

// ----- applications -----

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
fn policy_summary(policy: &GroupPolicy, now: jiff::Timestamp, auto_paused: bool) -> String {
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

// ----- one group -----

/// A message shown above a group's forms.
struct Flash {
    ok: bool,
    text: String,
}

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
async fn group_page(
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

/// Calls an admin handler's result into a redirect back to the group page, or the group
/// page with the error.
async fn after_change<T>(
    state: &PanelState,
    session: &Session,
    app: &str,
    group: &str,
    result: Result<T, ApiError>,
    saved: &str,
) -> Response {
    match result {
        Ok(_) => Redirect::to(&format!(
            "{}?saved={saved}",
            group_url(&canonical_app_id(app), group)
        ))
        .into_response(),
        Err(ApiError::Invalid(message)) => {
            let flash = Flash {
                ok: false,
                text: message,
            };
            group_page(
                state,
                session,
                app,
                group,
                Some(flash),
                StatusCode::BAD_REQUEST,
                false,
            )
            .await
        }
        Err(ApiError::NotFound(message)) => html::not_found(Some(session), &message),
        Err(ApiError::Conflict(message)) => {
            html::error_page(StatusCode::CONFLICT, Some(session), "Conflict", &message)
        }
        Err(err) => html::internal_error(Some(session), &err),
    }
}

/// `POST .../pause`: pauses or unpauses (field `paused`).
pub(crate) async fn pause(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let paused = form.get("paused").is_some_and(|v| v == "true");
    let snapshot = state.admin.cache.snapshot();
    let Some(route) = find_app(&snapshot, &app).and_then(|(_, e)| snapshot.route(e, &group)) else {
        return html::not_found(Some(&session), &format!("Group {group}"));
    };
    // Unpausing a group that paused itself resumes it (the API lifts the automatic pause).
    let resuming = !paused
        && match crate::writer::auto_paused_at(
            state.admin.store.as_ref(),
            &canonical_app_id(&app),
            &group,
        )
        .await
        {
            Ok(at) => at.is_some(),
            Err(err) => return html::internal_error(Some(&session), &err),
        };
    let record = &route.group.record;
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    // The fields every client sends (absent ones read as zero); the others keep their value.
    let body = serde_json::json!({
        "label": record.label,
        "channelId": record.channel,
        "updatesPaused": paused,
        "oemBlacklist": policy.oem_blacklist.join(","),
    });
    let result = admin_groups::update_group(
        State(state.admin.clone()),
        Extension(Actor(session.principal.clone())),
        Path((canonical_app_id(&app), group.clone())),
        Json(body),
    )
    .await;
    let saved = if paused {
        "paused"
    } else if resuming {
        "resumed"
    } else {
        "unpaused"
    };
    after_change(&state, &session, &app, &group, result, saved).await
}

fn number_field(form: &Params, name: &str, label: &str) -> Result<serde_json::Value, ApiError> {
    let text = form.get(name).map_or("", |v| v.trim());
    if text.is_empty() {
        return Ok(serde_json::json!(0));
    }
    if let Ok(n) = text.parse::<i64>() {
        return Ok(serde_json::json!(n));
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(serde_json::json!(f)),
        _ => Err(ApiError::Invalid(format!(
            "{label} must be a number, not {text:?}"
        ))),
    }
}

fn whole_field(form: &Params, name: &str, label: &str) -> Result<serde_json::Value, ApiError> {
    let value = number_field(form, name, label)?;
    if value.is_i64() {
        Ok(value)
    } else {
        Err(ApiError::Invalid(format!("{label} must be a whole number")))
    }
}

fn policy_body(form: &Params, paused: bool) -> Result<serde_json::Value, ApiError> {
    let text = |name: &str| {
        form.get(name)
            .map_or(String::new(), |v| v.trim().to_owned())
    };
    let on = |name: &str| form.contains_key(name);
    Ok(serde_json::json!({
        "label": text("label"),
        "channelId": text("channelId"),
        "updatesPaused": paused,
        "oemBlacklist": text("oemBlacklist"),
        "updatePercent": if text("updatePercent").is_empty() {
            return Err(ApiError::Invalid("Percent is required (0 to 100)".into()));
        } else {
            number_field(form, "updatePercent", "Percent")?
        },
        "updatePooling": on("updatePooling"),
        "updateCount": whole_field(form, "updateCount", "Updates per interval")?,
        "updateInterval": whole_field(form, "updateInterval", "Interval")?,
        "maxInFlight": whole_field(form, "maxInFlight", "Most updates in flight")?,
        "updateTimeout": whole_field(form, "updateTimeout", "Update timeout")?,
        "failureThresholdCount": whole_field(form, "failureThresholdCount", "Failures (count)")?,
        "failureThresholdPercent": number_field(form, "failureThresholdPercent", "Failures (percent)")?,
        "failureWindow": whole_field(form, "failureWindow", "Of the last attempts")?,
        "failureCountTimeouts": on("failureCountTimeouts"),
        "maintenanceTimeZone": text("maintenanceTimeZone"),
        "maintenanceWindows": text("maintenanceWindows"),
        "allowDowngrade": on("allowDowngrade"),
    }))
}

/// `POST .../policy`: the policy form.
pub(crate) async fn policy(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let snapshot = state.admin.cache.snapshot();
    let Some(route) = find_app(&snapshot, &app).and_then(|(_, e)| snapshot.route(e, &group)) else {
        return html::not_found(Some(&session), &format!("Group {group}"));
    };
    let paused = GroupPolicy::from_json(&route.group.record.policy)
        .unwrap_or_default()
        .paused;
    let result = match policy_body(&form, paused) {
        Ok(body) => {
            admin_groups::update_group(
                State(state.admin.clone()),
                Extension(Actor(session.principal.clone())),
                Path((canonical_app_id(&app), group.clone())),
                Json(body),
            )
            .await
        }
        Err(err) => Err(err),
    };
    after_change(&state, &session, &app, &group, result, "policy").await
}

fn parse_frames(text: &str) -> Result<Vec<api::Frame>, ApiError> {
    text.split([',', '\n', ';'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|frame| {
            let bad = || {
                ApiError::Invalid(format!(
                    "frame {frame:?}: expected percent:seconds, e.g. 50:3600"
                ))
            };
            let (percent, duration) = frame.split_once(':').ok_or_else(bad)?;
            Ok(api::Frame {
                percent: percent.trim().parse().map_err(|_| bad())?,
                duration: duration.trim().parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// `POST .../rollout`: starts a timed rollout with the frames given, or stops it.
pub(crate) async fn rollout(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let app_id = canonical_app_id(&app);
    let actor = Extension(Actor(session.principal.clone()));
    let path = Path((app_id.clone(), group.clone()));
    let result = if form.get("action").is_some_and(|a| a == "stop") {
        admin_rollouts::set_rollout_active(
            State(state.admin.clone()),
            actor,
            path,
            Json(api::RolloutActive {
                app_id,
                group_id: group.clone(),
                active: false,
            }),
        )
        .await
        .map(|_| ())
    } else {
        match parse_frames(form.get("frames").map_or("", String::as_str)) {
            Ok(frames) => admin_rollouts::set_rollout(
                State(state.admin.clone()),
                actor,
                path,
                Json(api::Rollout {
                    app_id,
                    group_id: group.clone(),
                    rollout: frames,
                }),
            )
            .await
            .map(|_| ()),
            Err(err) => Err(err),
        }
    };
    after_change(&state, &session, &app, &group, result, "rollout").await
}

// ----- graphs -----

/// A period of the graphs: its name, its bucket length and how many buckets.
const RANGES: [(&str, &str, i64, i64); 4] = [
    ("1h", "1 hour", 60, 60),
    ("1d", "1 day", 3600, 24),
    ("7d", "7 days", 3600, 168),
    ("30d", "30 days", 86_400, 30),
];

fn event_label(event: (i64, i64)) -> String {
    api::event_label(&event.0.to_string(), &event.1.to_string())
}

/// The instances-by-version series of a graph of `len` buckets: each bucket's census
/// ([`RollupKind::Instances`]), a bucket without one repeating the bucket before it (no
/// server counted then; the fleet did not vanish), and the last bucket the live counts.
fn census_series(
    points: &[crate::store::RollupPoint],
    live: &[(String, i64)],
    len: usize,
    index: impl Fn(i64) -> Option<usize>,
) -> BTreeMap<String, Vec<i64>> {
    let mut counted = vec![false; len];
    let mut by_version: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for p in points {
        if let Some(i) = index(p.bucket).filter(|i| *i < len) {
            counted[i] = true;
            by_version
                .entry(p.version.clone())
                .or_insert_with(|| vec![0; len])[i] = p.count;
        }
    }
    if let Some(last) = len.checked_sub(1) {
        counted[last] = true;
        for values in by_version.values_mut() {
            values[last] = 0;
        }
        for (version, count) in live {
            by_version
                .entry(version.clone())
                .or_insert_with(|| vec![0; len])[last] = *count;
        }
    }
    for i in 1..len {
        if !counted[i] {
            for values in by_version.values_mut() {
                values[i] = values[i - 1];
            }
        }
    }
    by_version.retain(|_, values| values.iter().any(|v| *v > 0));
    by_version
}

/// `GET .../graphs?range=1h|1d|7d|30d`: instances by version and events over time.
pub(crate) async fn graphs(
    State(state): State<PanelState>,
    session: Session,
    Path((app, group)): Path<(String, String)>,
    Query(query): Query<Params>,
) -> Response {
    let snapshot = state.admin.cache.snapshot();
    let Some((app_id, entry)) = find_app(&snapshot, &app) else {
        return html::not_found(Some(&session), &format!("Application {app}"));
    };
    let Some(route) = snapshot.route(entry, &group) else {
        return html::not_found(Some(&session), &format!("Group {group}"));
    };
    let wanted = query.get("range").map_or("1h", String::as_str);
    let Some(&(range, range_label, resolution, n)) = RANGES.iter().find(|r| r.0 == wanted) else {
        return html::error_page(
            StatusCode::BAD_REQUEST,
            Some(&session),
            "Unknown period",
            "The period must be 1h, 1d, 7d or 30d.",
        );
    };
    debug_assert!(ROLLUP_RESOLUTIONS.contains(&resolution));
    let now = state.admin.clock.now();
    let last = bucket_of(millis(now), resolution);
    let first = last - (n - 1) * resolution;
    let buckets: Vec<i64> = (0..n).map(|i| first + i * resolution).collect();
    let index = |bucket: i64| usize::try_from((bucket - first) / resolution).ok();
    let store = state.admin.store.as_ref();
    let loaded = async {
        let versions = store
            .rollups(
                &app_id,
                &group,
                RollupKind::Instances,
                resolution,
                first,
                last,
            )
            .await?;
        let events = store
            .rollups(&app_id, &group, RollupKind::Events, resolution, first, last)
            .await?;
        let check_ins = store
            .rollups(
                &app_id,
                &group,
                RollupKind::CheckIns,
                resolution,
                first,
                last,
            )
            .await?;
        let counts = store
            .version_counts(&InstanceFilter {
                app_id: Some(app_id.clone()),
                group_id: Some(group.clone()),
                ..InstanceFilter::default()
            })
            .await?;
        let activity = store.activity(Some(&app_id), MARKER_ENTRIES, 0).await?;
        Ok::<_, crate::store::StoreError>((versions, events, check_ins, counts, activity))
    };
    let (version_points, event_points, check_in_points, counts, activity) = match loaded.await {
        Ok(loaded) => loaded,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let len = usize::try_from(n).unwrap_or(0);
    let live: Vec<(String, i64)> = counts
        .iter()
        .map(|c| (c.version.clone(), c.count))
        .collect();
    let policy = GroupPolicy::from_json(&route.group.record.policy).unwrap_or_default();
    let target = route
        .channel
        .as_ref()
        .map(|c| c.record.version.clone())
        .unwrap_or_default();
    // Versions: the target green and solid; the others in the palette's order.
    let mut version_series: Vec<Series> = census_series(&version_points, &live, len, index)
        .into_iter()
        .map(|(label, values)| Series {
            style: (label == target).then_some(chart::Style {
                colour: chart::GREEN,
                dash: "",
            }),
            label,
            values,
        })
        .collect();
    version_series.sort_by(|a, b| by_version_desc(&a.label, &b.label));
    let mut by_event: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for p in event_points {
        if let (Some(event), Some(i)) = (p.event, index(p.bucket).filter(|i| *i < len)) {
            by_event.entry(event).or_insert_with(|| vec![0; len])[i] += p.count;
        }
    }
    // Events in a fixed order (completions and errors first), each in its own colour.
    let mut events: Vec<((i64, i64), Vec<i64>)> = by_event.into_iter().collect();
    events.sort_by_key(|(event, _)| (event_order(*event), *event));
    let event_series: Vec<Series> = events
        .into_iter()
        .map(|(event, values)| Series {
            label: event_label(event),
            values,
            style: chart::event_style(event),
        })
        .collect();
    // Routine check-ins apart: they would drown every other line.
    let mut check_in_values = vec![0; len];
    for p in check_in_points {
        if let Some(i) = index(p.bucket).filter(|i| *i < len) {
            check_in_values[i] += p.count;
        }
    }
    let check_in_series: Vec<Series> = if check_in_values.iter().any(|v| *v > 0) {
        vec![Series {
            label: event_label(crate::store::CHECK_IN),
            values: check_in_values,
            style: chart::event_style(crate::store::CHECK_IN),
        }]
    } else {
        Vec::new()
    };
    // The time axis starts where the data does.
    let start = chart::first_with_data(&[&version_series, &event_series, &check_in_series])
        .min(len.saturating_sub(1));
    let buckets: Vec<i64> = buckets.get(start..).unwrap_or_default().to_vec();
    let trim = |series: Vec<Series>| -> Vec<Series> {
        series
            .into_iter()
            .map(|mut s| {
                s.values = s.values.get(start..).unwrap_or_default().to_vec();
                s
            })
            .collect()
    };
    let (version_series, event_series, check_in_series) = (
        trim(version_series),
        trim(event_series),
        trim(check_in_series),
    );
    let markers = graph_markers(&activity, &group, &route.group.record.channel, &policy);
    let running = !target.is_empty()
        && !policy.paused
        && counts.iter().any(|c| c.version != target && c.count > 0);
    let unit = match resolution {
        60 => "minute",
        3600 => "hour",
        _ => "day",
    };
    let versions_title = format!("Instances by version, per {unit} ({range_label})");
    let events_title = format!("Update events per {unit} ({range_label})");
    let check_ins_title = format!("Routine check-ins per {unit} ({range_label})");
    let versions_chart = LineChart {
        id: "versions",
        title: &versions_title,
        buckets: &buckets,
        resolution,
        series: &version_series,
        markers: &markers,
    };
    let events_chart = LineChart {
        id: "events",
        title: &events_title,
        buckets: &buckets,
        resolution,
        series: &event_series,
        markers: &markers,
    };
    let check_ins_chart = LineChart {
        id: "check-ins",
        title: &check_ins_title,
        buckets: &buckets,
        resolution,
        series: &check_in_series,
        markers: &[],
    };
    let base = group_url(&app_id, &group);
    let mut tabs = String::new();
    for (name, label, _, _) in RANGES {
        let _ = write!(
            tabs,
            r#"<li><a href="{base}/graphs?range={name}"{current}>{label}</a></li>"#,
            current = if name == range {
                r#" aria-current="page""#
            } else {
                ""
            },
        );
    }
    let label = if route.group.record.label.is_empty() {
        &route.group.record.id
    } else {
        &route.group.record.label
    };
    let figure = |chart: &LineChart<'_>, title: &str| {
        format!(
            r#"<figure aria-labelledby="{id}-caption"><figcaption id="{id}-caption">{title}</figcaption><div class="chart-wrap" tabindex="0" role="region" aria-label="{title} (the plot scrolls sideways on narrow screens; its y axis stays)">{svg}</div>{legend}{table}</figure>"#,
            id = chart.id,
            title = esc(title),
            svg = chart.svg(),
            legend = chart.legend(),
            table = chart.table(),
        )
    };
    let body = format!(
        r#"<p class="muted"><a href="/apps/{appq}">{app_label}</a> › <a href="{base}">{label}</a> › graphs</p>
<h1>Graphs of {label}</h1>
<nav aria-label="Period"><ul class="tabs">{tabs}</ul></nav>
<div id="charts"{refresh}>
<p class="muted">Target version: {target}. Counted at {now}{refreshing}. Instances are counted every few seconds: each past {unit} shows the count at its end, the last one the count now; where no count was taken (no server running), the {unit} before is repeated. The charts start with the first count of this period. Marks: V promotion, P pause, R resume or unpause, A automatic pause, F timed rollout frame.</p>
{versions}
{events}
{check_ins}
</div>"#,
        appq = url(&app_id),
        app_label = esc(&app_label(entry)),
        label = esc(label),
        refresh = if running { r#" data-refresh="15""# } else { "" },
        target = if target.is_empty() {
            "none".to_owned()
        } else {
            esc(&target)
        },
        now = esc(&now.strftime("%Y-%m-%d %H:%M UTC").to_string()),
        refreshing = if running {
            "; refreshing while the rollout runs"
        } else {
            ""
        },
        versions = figure(&versions_chart, &versions_title),
        events = figure(&events_chart, &events_title),
        check_ins = figure(&check_ins_chart, &check_ins_title),
    );
    page(
        StatusCode::OK,
        &format!("Graphs of {label}"),
        Some(&session),
        &body,
    )
}

/// Activity entries of the app looked through for a graph's markers.
const MARKER_ENTRIES: i64 = 500;

/// The order events are listed in: completions, errors, then the steps of an update.
fn event_order(event: (i64, i64)) -> u8 {
    match event {
        (3, 2) => 0,
        (3, 0) => 1,
        (13, 1) => 2,
        (14, 1) => 3,
        (3, 1) => 4,
        (800, 1) => 5,
        _ => 6,
    }
}

/// A graph's markers: from the activity log, the group's pauses, unpauses, automatic
/// pauses and resumes and the promotions of its channel; from its policy, the starts of
/// the frames of its timed rollout.
fn graph_markers(
    activity: &[crate::store::ActivityRecord],
    group: &str,
    channel: &str,
    policy: &GroupPolicy,
) -> Vec<Marker> {
    let mut markers = Vec::new();
    // The log comes newest first; oldest first, entries of the same time keep their order.
    for e in activity.iter().rev() {
        let at = e.at.div_euclid(1000);
        let this_group = e.group_id == group;
        let kind = match e.action.as_str() {
            "group.autopause" if this_group => Some(("autopause", e.detail.clone())),
            "group.resume" if this_group => {
                Some(("resume", "resumed after an automatic pause".to_owned()))
            }
            "group.update" if this_group && e.detail.starts_with("paused group") => {
                Some(("pause", format!("paused by {}", e.actor)))
            }
            "group.update" if this_group && e.detail.starts_with("unpaused group") => {
                Some(("unpause", format!("unpaused by {}", e.actor)))
            }
            "channel.update" | "channel.create"
                if !channel.is_empty()
                    && e.detail
                        .starts_with(&format!("channel {channel} at version ")) =>
            {
                let version = e
                    .detail
                    .trim_start_matches(&format!("channel {channel} at version "));
                Some((
                    "promotion",
                    format!("channel {channel} promoted to {version}"),
                ))
            }
            _ => None,
        };
        if let Some((kind, label)) = kind {
            markers.push(Marker { at, kind, label });
        }
    }
    if let Some(since) = policy.rollout_active_since {
        let mut at = since.div_euclid(1000);
        for (i, frame) in policy.rollout_frames.iter().enumerate() {
            markers.push(Marker {
                at,
                kind: "frame",
                label: format!("frame {}: {} %", i + 1, frame.percent),
            });
            at = at.saturating_add(i64::try_from(frame.duration_secs).unwrap_or(i64::MAX));
            if frame.duration_secs == 0 {
                break;
            }
        }
    }
    markers.sort_by_key(|m| m.at);
    markers
}

// ----- instances -----

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

// ----- activity -----

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

/// An error code with update_engine's name for it: `error code 268437959 (HTTP 503)`.
fn error_text(code: i64) -> String {
    match omaha_proto::codes::error_code_name(code) {
        Some(name) => format!("error code {code} ({name})"),
        None => format!("error code {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RollupPoint;

    fn point(version: &str, bucket: i64, count: i64) -> RollupPoint {
        RollupPoint {
            version: version.to_owned(),
            event: None,
            bucket,
            count,
        }
    }

    #[test]
    fn the_census_series_fills_gaps_and_ends_with_the_live_counts() {
        // Five one-minute buckets from 600; no census in the third.
        let points = [
            point("1.0.0", 600, 10),
            point("1.0.0", 660, 8),
            point("1.1.0", 660, 2),
            point("1.0.0", 780, 4),
            point("1.1.0", 780, 6),
            point("0.9.0", 600, 1),
        ];
        let live = [("1.1.0".to_owned(), 10)];
        let index = |bucket: i64| usize::try_from((bucket - 600) / 60).ok();
        let series = census_series(&points, &live, 5, index);
        assert_eq!(series["1.0.0"], [10, 8, 8, 4, 0]);
        assert_eq!(series["1.1.0"], [0, 2, 2, 6, 10]);
        assert_eq!(series["0.9.0"], [1, 0, 0, 0, 0]);
        // A version with no instance anywhere in the range has no line.
        let series = census_series(&[point("0.1.0", 600, 0)], &[], 3, index);
        assert!(series.is_empty());
        assert!(census_series(&points, &live, 0, index).is_empty());
    }

    fn entry(
        at_secs: i64,
        action: &str,
        group: &str,
        detail: &str,
    ) -> crate::store::ActivityRecord {
        crate::store::ActivityRecord {
            id: 0,
            at: at_secs * 1000,
            actor: "admin".into(),
            action: action.into(),
            app_id: "app".into(),
            group_id: group.into(),
            detail: detail.into(),
            changes: Vec::new(),
        }
    }

    #[test]
    fn markers_come_from_the_groups_activity_and_its_rollout_frames() {
        // The log, newest first, as the store gives it.
        let log = [
            entry(500, "group.update", "prod", "updated group prod"),
            entry(400, "group.resume", "prod", "lifted the automatic pause"),
            entry(
                300,
                "group.autopause",
                "prod",
                "paused automatically: 2 of the last 2 attempts failed",
            ),
            entry(300, "group.update", "other", "paused group other"),
            entry(250, "group.update", "prod", "unpaused group prod"),
            entry(200, "group.update", "prod", "paused group prod"),
            entry(150, "channel.update", "", "channel beta at version 9.9.9"),
            entry(100, "channel.update", "", "channel stable at version 1.1.0"),
        ];
        let policy = GroupPolicy {
            rollout_frames: vec![
                crate::policy::FrameDoc {
                    percent: 10.0,
                    duration_secs: 60,
                },
                crate::policy::FrameDoc {
                    percent: 100.0,
                    duration_secs: 0,
                },
            ],
            rollout_active_since: Some(120_000),
            ..GroupPolicy::default()
        };
        let markers = graph_markers(&log, "prod", "stable", &policy);
        let seen: Vec<(i64, &str, &str)> = markers
            .iter()
            .map(|m| (m.at, m.kind, m.label.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (100, "promotion", "channel stable promoted to 1.1.0"),
                (120, "frame", "frame 1: 10 %"),
                (180, "frame", "frame 2: 100 %"),
                (200, "pause", "paused by admin"),
                (250, "unpause", "unpaused by admin"),
                (
                    300,
                    "autopause",
                    "paused automatically: 2 of the last 2 attempts failed"
                ),
                (400, "resume", "resumed after an automatic pause"),
            ]
        );
    }
}
