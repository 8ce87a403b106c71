//! `admin-user`, `upstream`, `database init` and the activity log.

use reqwest::Method;
use update_api::api::{
    ActivityChange, ActivityList, AdminUser, AdminUserList, AdminUserRequest, ApiToken,
    ApiTokenList, ApiTokenRequest, InstanceErrorList, Overview, Upstream, UpstreamList,
    UpstreamSync,
};

use crate::Error;
use crate::cli::{AdminUserCommand, OmahaUpstreamArgs, TokenCommand, UpstreamCommand};
use crate::client::Client;
use crate::output::Output;

const NO_BODY: Option<&()> = None;
const UPSTREAM_HEADER: &str = "Id\tUrl\tLabel";
const UPSTREAM_STATUS_HEADER: &str = "Id\tKind\tFollows\tLast Sync\tStatus\tDetail";

/// Runs an `admin-user` command: `create` prints the new user's key on a line of its own,
/// `list` one user name per line (with `--long`, a table of names, roles and
/// applications), `delete` `User <name> deleted`, `set-role` the user's row.
///
/// # Errors
/// The API's or the transport's.
pub async fn admin_user(client: &Client, command: AdminUserCommand) -> Result<Output, Error> {
    match command {
        AdminUserCommand::Create {
            username,
            role,
            apps,
        } => {
            let body = AdminUserRequest {
                user_name: username,
                role: role.unwrap_or_default(),
                apps: trimmed(apps),
            };
            let user: AdminUser = client
                .call(Method::POST, &["admin", "user"], &[], Some(&body))
                .await?;
            Ok(Output::lines(vec![user.token.clone()], &user))
        }
        AdminUserCommand::List { long } => {
            let list: AdminUserList = client
                .call(Method::GET, &["admin", "user"], &[], NO_BODY)
                .await?;
            if long {
                return Ok(Output::table(
                    USER_HEADER,
                    &list.users,
                    user_row,
                    &list.users,
                ));
            }
            let names: Vec<String> = list.users.iter().map(|u| u.user.clone()).collect();
            Ok(Output::lines(names, &list.users))
        }
        AdminUserCommand::Delete { username } => {
            let user: AdminUser = client
                .call(Method::DELETE, &["admin", "user", &username], &[], NO_BODY)
                .await?;
            Ok(Output::lines(
                vec![format!("User {} deleted", user.user)],
                &user,
            ))
        }
        AdminUserCommand::SetRole {
            username,
            role,
            apps,
        } => {
            let body = AdminUserRequest {
                user_name: String::new(),
                role,
                apps: trimmed(apps),
            };
            let user: AdminUser = client
                .call(
                    Method::PATCH,
                    &["admin", "user", &username],
                    &[],
                    Some(&body),
                )
                .await?;
            Ok(Output::table(
                USER_HEADER,
                std::slice::from_ref(&user),
                user_row,
                &user,
            ))
        }
    }
}

const USER_HEADER: &str = "User\tRole\tApps";
const TOKEN_HEADER: &str = "Name\tRole\tApps\tExpires\tLast Used\tCreated By";

fn trimmed(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn apps_cell(apps: &[String]) -> String {
    if apps.is_empty() {
        "*".to_owned()
    } else {
        apps.join(",")
    }
}

fn user_row(u: &AdminUser) -> String {
    format!("{}\t{}\t{}", u.user, u.role, apps_cell(&u.apps))
}

fn token_row(t: &ApiToken) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        t.name,
        t.role,
        apps_cell(&t.apps),
        t.expires_at,
        if t.last_used_at.is_empty() {
            "never"
        } else {
            &t.last_used_at
        },
        t.created_by
    )
}

/// An expiry from the command line: an RFC 3339 time as is, or a duration from now
/// (`<n>d`, `<n>h`, `<n>m`) as an RFC 3339 time.
///
/// # Errors
/// [`Error::Invalid`] for anything else.
pub fn expiry(text: &str, now: jiff::Timestamp) -> Result<String, Error> {
    let text = text.trim();
    if text.parse::<jiff::Timestamp>().is_ok() {
        return Ok(text.to_owned());
    }
    let bad = || {
        Error::Invalid(format!(
            "--expires takes an RFC 3339 time or a duration such as 90d, 12h or 30m, not {text:?}"
        ))
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "d" => number.checked_mul(86_400),
        "h" => number.checked_mul(3_600),
        "m" => number.checked_mul(60),
        _ => None,
    }
    .filter(|s| *s > 0)
    .ok_or_else(bad)?;
    let at = now
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .map_err(|_| bad())?;
    Ok(at.to_string())
}

/// Runs a `token` command: `create` prints the token on a line of its own (shown only
/// then), `list` a table, `revoke` `Token <name> revoked`.
///
/// # Errors
/// The API's or the transport's; [`Error::Invalid`] for a malformed `--expires`.
pub async fn token(client: &Client, command: TokenCommand) -> Result<Output, Error> {
    match command {
        TokenCommand::Create {
            name,
            role,
            apps,
            expires,
        } => {
            let body = ApiTokenRequest {
                name,
                role,
                apps: trimmed(apps),
                expires_at: expiry(&expires, jiff::Timestamp::now())?,
            };
            let token: ApiToken = client
                .call(Method::POST, &["admin", "tokens"], &[], Some(&body))
                .await?;
            Ok(Output::lines(vec![token.token.clone()], &token))
        }
        TokenCommand::List => {
            let list: ApiTokenList = client
                .call(Method::GET, &["admin", "tokens"], &[], NO_BODY)
                .await?;
            Ok(Output::table(
                TOKEN_HEADER,
                &list.tokens,
                token_row,
                &list.tokens,
            ))
        }
        TokenCommand::Revoke { name } => {
            let token: ApiToken = client
                .call(Method::DELETE, &["admin", "tokens", &name], &[], NO_BODY)
                .await?;
            Ok(Output::lines(
                vec![format!("Token {} revoked", token.name)],
                &token,
            ))
        }
    }
}

fn upstream_row(u: &Upstream) -> String {
    format!("{}\t{}\t{}", u.id, u.url, u.label)
}

fn upstream_body(id: String, url: String, label: String, omaha: OmahaUpstreamArgs) -> Upstream {
    let list = |items: Vec<String>| -> Vec<String> {
        items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    Upstream {
        id,
        url,
        label,
        kind: omaha.kind,
        app_id: omaha.app_id,
        upstream_app_id: omaha.upstream_app_id,
        tracks: list(omaha.tracks),
        arches: list(omaha.arches),
        download: omaha.download,
        ..Upstream::default()
    }
}

/// One line of `upstream status`: what the upstream follows and how its last sync went.
fn upstream_status_row(u: &Upstream) -> String {
    let follows = if u.kind == "omaha" {
        format!(
            "app {} tracks {} ({}){}",
            u.app_id,
            u.tracks.join(","),
            if u.arches.is_empty() {
                "amd64".to_owned()
            } else {
                u.arches.join(",")
            },
            if u.download { ", downloads" } else { "" }
        )
    } else {
        "published channels".to_owned()
    };
    let or_never = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.replace(['\t', '\n'], " ")
        }
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        u.id,
        if u.kind.is_empty() { "admin" } else { &u.kind },
        follows,
        or_never(&u.last_sync),
        or_never(&u.last_status),
        or_never(&u.last_detail)
    )
}

/// Runs an `upstream` command.
///
/// # Errors
/// The API's or the transport's.
pub async fn upstream(client: &Client, command: UpstreamCommand) -> Result<Output, Error> {
    let one =
        |u: Upstream| Output::table(UPSTREAM_HEADER, std::slice::from_ref(&u), upstream_row, &u);
    match command {
        UpstreamCommand::Create { url, label, omaha } => {
            let body = upstream_body(String::new(), url, label, omaha);
            Ok(one(client
                .call(Method::POST, &["upstream"], &[], Some(&body))
                .await?))
        }
        UpstreamCommand::Update {
            id,
            url,
            label,
            omaha,
        } => {
            let body = upstream_body(id.clone(), url, label, omaha);
            Ok(one(client
                .call(Method::PUT, &["upstream", &id], &[], Some(&body))
                .await?))
        }
        UpstreamCommand::List => {
            let list: UpstreamList = client
                .call(Method::GET, &["upstream"], &[], NO_BODY)
                .await?;
            Ok(Output::table(
                UPSTREAM_HEADER,
                &list.items,
                upstream_row,
                &list.items,
            ))
        }
        UpstreamCommand::Delete { id } => Ok(one(client
            .call(Method::DELETE, &["upstream", &id], &[], NO_BODY)
            .await?)),
        UpstreamCommand::Status => {
            let list: UpstreamList = client
                .call(Method::GET, &["upstream"], &[], NO_BODY)
                .await?;
            Ok(Output::table(
                UPSTREAM_STATUS_HEADER,
                &list.items,
                upstream_status_row,
                &list.items,
            ))
        }
        UpstreamCommand::Sync => {
            let sync: UpstreamSync = client
                .call(Method::POST, &["upstream", "sync"], &[], NO_BODY)
                .await?;
            let mut lines = vec![format!("Status: {}", sync.status)];
            if !sync.detail.is_empty() {
                lines.push(format!("Detail: {}", sync.detail));
            }
            Ok(Output::lines(lines, &sync))
        }
    }
}

/// What `database init` got: the body, and whether it was exactly `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// The response body.
    pub body: String,
    /// The body is `ok` (a trailing newline aside).
    pub ok: bool,
}

/// `database init`: `GET {server}/admin/v1/init` without authentication.
///
/// # Errors
/// The transport's.
pub async fn database_init(client: &Client) -> Result<Init, Error> {
    let response = client
        .http()
        .get(client.url(&["admin", "v1", "init"]))
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    let ok = status.is_success() && body.trim_end_matches(['\r', '\n']) == "ok";
    Ok(Init { body, ok })
}

/// Runs `activity`: the newest entries of the activity log.
///
/// # Errors
/// The API's or the transport's.
pub async fn activity(
    client: &Client,
    app_id: Option<String>,
    limit: u32,
    skip: u32,
) -> Result<Output, Error> {
    let mut query = vec![("limit", limit.to_string()), ("skip", skip.to_string())];
    if let Some(app) = app_id {
        query.push(("appId", app));
    }
    let list: ActivityList = client
        .call(Method::GET, &["activity"], &query, NO_BODY)
        .await?;
    Ok(Output::table(
        "Time\tActor\tAction\tApp\tGroup\tDetail\tChanges",
        &list.items,
        |a| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                a.date_time,
                a.actor,
                a.action,
                a.app_id,
                a.group_id,
                cell(&a.detail),
                changes_text(&a.changes)
            )
        },
        &list.items,
    ))
}

/// Which failures `errors` lists.
#[derive(Debug, Clone, Default)]
pub struct ErrorsFilter {
    /// Only this application.
    pub app_id: Option<String>,
    /// Only this group.
    pub group_id: Option<String>,
    /// Only failures on this version.
    pub version: Option<String>,
    /// From this time on (RFC 3339 or unix seconds).
    pub since: Option<String>,
}

/// Lists failed updates: one row per instance, version and error code, the most recent
/// first; `--json` prints the API's list (with its total and `since`).
///
/// # Errors
/// The API's or the transport's.
pub async fn errors(
    client: &Client,
    filter: ErrorsFilter,
    limit: u32,
    skip: u32,
) -> Result<Output, Error> {
    let mut query = vec![("limit", limit.to_string()), ("skip", skip.to_string())];
    for (key, value) in [
        ("appId", filter.app_id),
        ("groupId", filter.group_id),
        ("version", filter.version),
        ("since", filter.since),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            query.push((key, value));
        }
    }
    let list: InstanceErrorList = client
        .call(Method::GET, &["errors"], &query, NO_BODY)
        .await?;
    Ok(Output::table(
        "Instance\tGroup\tVersion\tError\tTimes\tFirst\tLast",
        &list.items,
        |e| {
            let error = match (e.error_code.as_str(), e.error_name.as_str()) {
                ("", _) => "(no code)".to_owned(),
                (code, "") => code.to_owned(),
                (code, name) => format!("{name} ({code})"),
            };
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.client_id, e.group_id, e.version, error, e.count, e.first_seen, e.last_seen
            )
        },
        &list,
    ))
}

/// Prints every group's rollout state, progress, rate, estimated end and what needs
/// attention, what needs attention first; `--json` prints the API's overview.
///
/// # Errors
/// The API's or the transport's.
pub async fn overview(client: &Client, app_id: Option<String>) -> Result<Output, Error> {
    let mut query = Vec::new();
    if let Some(app) = app_id.filter(|a| !a.is_empty()) {
        query.push(("appId", app));
    }
    let overview: Overview = client
        .call(Method::GET, &["overview"], &query, NO_BODY)
        .await?;
    Ok(Output::table(
        "App\tGroup\tState\tAttention\tOn target\tTarget\tFailures (1 h)\tEstimated end",
        &overview.items,
        |g| {
            format!(
                "{}\t{}\t{}\t{}\t{}/{} ({:.0}%)\t{}\t{}\t{}",
                g.app_label,
                g.group_id,
                g.state_label,
                if g.attention.is_empty() {
                    "-".to_owned()
                } else {
                    g.attention.join(",")
                },
                g.on_target,
                g.instances,
                g.progress_percent,
                if g.target_version.is_empty() {
                    "-"
                } else {
                    &g.target_version
                },
                g.failures_last_hour,
                g.eta_text
            )
        },
        &overview,
    ))
}

/// A value fit for one table cell: control characters (tabs, line breaks) become spaces.
fn cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An entry's changes on one line: `field: old -> new`, `;`-separated; a field that did
/// not exist before (or no longer does) reads `(none)`.
#[must_use]
pub fn changes_text(changes: &[ActivityChange]) -> String {
    changes
        .iter()
        .map(|c| {
            let side = |v: &Option<String>| v.as_deref().map_or_else(|| "(none)".into(), cell);
            format!("{}: {} -> {}", cell(&c.field), side(&c.old), side(&c.new))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
