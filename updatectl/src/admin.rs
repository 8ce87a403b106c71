//! `admin-user`, `upstream`, `database init` and the activity log.

use reqwest::Method;
use update_server::api::{
    ActivityList, AdminUser, AdminUserList, AdminUserRequest, Upstream, UpstreamList, UpstreamSync,
};

use crate::Error;
use crate::cli::{AdminUserCommand, UpstreamCommand};
use crate::client::Client;
use crate::commands::Output;

const NO_BODY: Option<&()> = None;
const UPSTREAM_HEADER: &str = "Id\tUrl\tLabel";

/// Runs an `admin-user` command: `create` prints the new user's key on a line of its own,
/// `list` one user name per line, `delete` `User <name> deleted`.
///
/// # Errors
/// The API's or the transport's.
pub async fn admin_user(client: &Client, command: AdminUserCommand) -> Result<Output, Error> {
    match command {
        AdminUserCommand::Create { username } => {
            let body = AdminUserRequest {
                user_name: username,
            };
            let user: AdminUser = client
                .call(Method::POST, &["admin", "user"], &[], Some(&body))
                .await?;
            Ok(Output::lines(vec![user.token.clone()], &user))
        }
        AdminUserCommand::List => {
            let list: AdminUserList = client
                .call(Method::GET, &["admin", "user"], &[], NO_BODY)
                .await?;
            let names: Vec<String> = list.users.iter().map(|u| u.user.clone()).collect();
            Ok(Output::lines(names.clone(), &names))
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
    }
}

fn upstream_row(u: &Upstream) -> String {
    format!("{}\t{}\t{}", u.id, u.url, u.label)
}

/// Runs an `upstream` command.
///
/// # Errors
/// The API's or the transport's.
pub async fn upstream(client: &Client, command: UpstreamCommand) -> Result<Output, Error> {
    let one =
        |u: Upstream| Output::table(UPSTREAM_HEADER, std::slice::from_ref(&u), upstream_row, &u);
    match command {
        UpstreamCommand::Create { url, label } => {
            let body = Upstream {
                id: String::new(),
                url,
                label,
            };
            Ok(one(client
                .call(Method::POST, &["upstream"], &[], Some(&body))
                .await?))
        }
        UpstreamCommand::Update { id, url, label } => {
            let body = Upstream {
                id: id.clone(),
                url,
                label,
            };
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
        "Time\tActor\tAction\tApp\tGroup\tDetail",
        &list.items,
        |a| {
            format!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                a.date_time, a.actor, a.action, a.app_id, a.group_id, a.detail
            )
        },
        &list.items,
    ))
}
