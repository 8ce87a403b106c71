//! Users and API tokens: who may sign in, with which role, over which applications.
//! Every endpoint here needs the `admin` role over every application
//! ([`crate::openapi::OPERATIONS`]); the checks themselves are in [`crate::access`].

use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::access::{self, PrincipalKind, Role};
use crate::api;
use crate::auth::{self, Secret};
use crate::store::{Store, StoreError, TokenRecord, UserRecord};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use std::collections::BTreeSet;

/// The role of a user created without one: `admin`, as every user was before roles, so that
/// `updateservicectl admin-user create` (which sends only a name) keeps making users who
/// can do what they could.
pub const DEFAULT_ROLE: Role = Role::Admin;

/// The most API tokens the service holds.
pub const MAX_TOKENS: usize = 1000;

/// The furthest ahead a token may expire, in days.
pub const MAX_TOKEN_DAYS: i64 = 366;

fn user_json(record: &UserRecord, token: String) -> api::AdminUser {
    api::AdminUser {
        user: record.name.clone(),
        token,
        role: record.role.as_str().to_owned(),
        apps: scope_list(record.apps.as_ref()),
    }
}

fn scope_list(apps: Option<&BTreeSet<String>>) -> Vec<String> {
    apps.map(|a| a.iter().cloned().collect())
        .unwrap_or_default()
}

fn scope_text(apps: Option<&BTreeSet<String>>) -> String {
    apps.map_or_else(
        || "every app".to_owned(),
        |a| a.iter().cloned().collect::<Vec<_>>().join(","),
    )
}

/// The role and scope a request asks for; `default` when it names no role.
fn requested_access(
    role: &str,
    apps: &[String],
    default: Option<Role>,
) -> Result<(Role, Option<BTreeSet<String>>), ApiError> {
    let role = match (role.trim(), default) {
        ("", Some(role)) => role,
        ("", None) => return Err(ApiError::Invalid("role is required".into())),
        (name, _) => Role::parse(name).map_err(|e| ApiError::Invalid(e.to_string()))?,
    };
    let apps = access::scope_from_list(apps).map_err(|e| ApiError::Invalid(e.to_string()))?;
    Ok((role, apps))
}

pub(super) async fn list_users(State(state): State<AdminState>) -> ApiResult<api::AdminUserList> {
    Ok(Json(api::AdminUserList {
        users: state
            .store
            .users()
            .await?
            .iter()
            .map(|u| user_json(u, String::new()))
            .collect(),
    }))
}

pub(super) async fn create_user(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<api::AdminUserRequest>,
) -> ApiResult<api::AdminUser> {
    let name = body.user_name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::Invalid("userName is required".into()));
    }
    // A `:` cannot travel in Basic credentials, and keeps user names apart from the
    // activity log's `token:<name>`.
    if name.contains(':') || name.chars().any(char::is_control) || name.len() > 256 {
        return Err(ApiError::Invalid(
            "userName must be at most 256 characters, without ':' or control characters".into(),
        ));
    }
    let (role, apps) = requested_access(&body.role, &body.apps, Some(DEFAULT_ROLE))?;
    let key = auth::generate_key();
    let record = UserRecord {
        name: name.clone(),
        key_sealed: state.secret.seal(&key),
        created_at: state.now_ms(),
        role,
        apps,
    };
    state.store.create_user(&record).await?;
    let changes = vec![
        crate::changes::field("user", None, Some(&name)),
        crate::changes::field("key", None, Some("")),
        crate::changes::field("role", None, Some(role.as_str())),
        crate::changes::field("apps", None, Some(&scope_text(record.apps.as_ref()))),
    ];
    state
        .log_changes(
            &actor,
            "user.create",
            "",
            "",
            format!("created user {name} ({role})"),
            changes,
        )
        .await;
    Ok(Json(user_json(&record, key)))
}

pub(super) async fn get_user(
    State(state): State<AdminState>,
    Path(user): Path<String>,
) -> ApiResult<api::AdminUser> {
    let record = state
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user} not found")))?;
    Ok(Json(user_json(&record, String::new())))
}

/// `PATCH admin/user/{user}`: a new role and scope (absent apps: every app).
pub(super) async fn update_user(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(user): Path<String>,
    Json(body): Json<api::AdminUserRequest>,
) -> ApiResult<api::AdminUser> {
    let (role, apps) = requested_access(&body.role, &body.apps, None)?;
    let before = state
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user} not found")))?;
    if !state
        .store
        .set_user_access(&user, role, apps.as_ref())
        .await?
    {
        return Err(ApiError::Conflict(format!(
            "user {user} is the last administrator of every app and must stay one"
        )));
    }
    let changes = vec![
        crate::changes::field("role", Some(before.role.as_str()), Some(role.as_str())),
        crate::changes::field(
            "apps",
            Some(&scope_text(before.apps.as_ref())),
            Some(&scope_text(apps.as_ref())),
        ),
    ]
    .into_iter()
    .filter(|c| c.old != c.new)
    .collect();
    state
        .log_changes(
            &actor,
            "user.role",
            "",
            "",
            format!("user {user} is now {role} of {}", scope_text(apps.as_ref())),
            changes,
        )
        .await;
    Ok(Json(user_json(
        &UserRecord {
            role,
            apps,
            ..before
        },
        String::new(),
    )))
}

pub(super) async fn delete_user(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(user): Path<String>,
) -> ApiResult<api::AdminUser> {
    if actor.0.kind == PrincipalKind::User && user == actor.0.name {
        return Err(ApiError::Forbidden(format!(
            "user {user} cannot delete itself: sign in as another user to delete it"
        )));
    }
    let record = state
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user} not found")))?;
    if !state.store.delete_user_unless_last(&user).await? {
        return Err(ApiError::Conflict(format!(
            "user {user} is the last administrator of every app and cannot be deleted"
        )));
    }
    let changes = vec![
        crate::changes::field("user", Some(&user), None),
        crate::changes::field("key", Some(""), None),
    ];
    state
        .log_changes(
            &actor,
            "user.delete",
            "",
            "",
            format!("deleted user {user}"),
            changes,
        )
        .await;
    Ok(Json(user_json(&record, String::new())))
}

pub(super) async fn regenerate_key(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(user): Path<String>,
) -> ApiResult<api::AdminUser> {
    let key = auth::generate_key();
    state
        .store
        .set_user_key(&user, &state.secret.seal(&key))
        .await?;
    let record = state
        .store
        .user(&user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user} not found")))?;
    let changes = vec![crate::changes::field("key", Some(""), Some(""))];
    state
        .log_changes(
            &actor,
            "user.key",
            "",
            "",
            format!("new key for user {user}"),
            changes,
        )
        .await;
    Ok(Json(user_json(&record, key)))
}

// ----- API tokens -----

pub(crate) fn token_json(record: &TokenRecord, token: String) -> api::ApiToken {
    api::ApiToken {
        name: record.name.clone(),
        role: record.role.as_str().to_owned(),
        apps: scope_list(record.apps.as_ref()),
        expires_at: rfc3339(record.expires_at),
        created_at: rfc3339(record.created_at),
        created_by: record.created_by.clone(),
        last_used_at: record.last_used_at.map(rfc3339).unwrap_or_default(),
        token,
    }
}

pub(crate) async fn list_tokens(State(state): State<AdminState>) -> ApiResult<api::ApiTokenList> {
    Ok(Json(api::ApiTokenList {
        tokens: state
            .store
            .tokens()
            .await?
            .iter()
            .map(|t| token_json(t, String::new()))
            .collect(),
    }))
}

fn valid_token_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub(crate) async fn create_token(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<api::ApiTokenRequest>,
) -> ApiResult<api::ApiToken> {
    let name = body.name.trim().to_owned();
    if !valid_token_name(&name) {
        return Err(ApiError::Invalid(
            "name must be 1 to 64 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    let (role, apps) = requested_access(&body.role, &body.apps, None)?;
    let now = state.now_ms();
    let expires_at = body
        .expires_at
        .trim()
        .parse::<jiff::Timestamp>()
        .map_err(|_| {
            ApiError::Invalid(format!(
                "expiresAt must be an RFC 3339 time, not {:?}",
                body.expires_at
            ))
        })?
        .as_millisecond();
    if expires_at <= now || expires_at > now + MAX_TOKEN_DAYS * 86_400_000 {
        return Err(ApiError::Invalid(format!(
            "expiresAt must be in the future and at most {MAX_TOKEN_DAYS} days ahead"
        )));
    }
    if state.store.tokens().await?.len() >= MAX_TOKENS {
        return Err(ApiError::Conflict(format!(
            "the service holds {MAX_TOKENS} tokens already; revoke some first"
        )));
    }
    let (id, secret, token) = auth::generate_token();
    let record = TokenRecord {
        id,
        name: name.clone(),
        role,
        apps,
        secret_sealed: state.secret.seal(&secret),
        created_by: actor.0.actor(),
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    state.store.create_token(&record).await?;
    let changes = vec![
        crate::changes::field("token", None, Some(&name)),
        crate::changes::field("role", None, Some(role.as_str())),
        crate::changes::field("apps", None, Some(&scope_text(record.apps.as_ref()))),
        crate::changes::field("expiresAt", None, Some(&rfc3339(expires_at))),
    ];
    state
        .log_changes(
            &actor,
            "token.create",
            "",
            "",
            format!("created token {name} ({role})"),
            changes,
        )
        .await;
    Ok(Json(token_json(&record, token)))
}

pub(crate) async fn delete_token(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> ApiResult<api::ApiToken> {
    let record = state.store.delete_token(&name).await?;
    state
        .log_changes(
            &actor,
            "token.revoke",
            "",
            "",
            format!("revoked token {name}"),
            vec![crate::changes::field("token", Some(&name), None)],
        )
        .await;
    Ok(Json(token_json(&record, String::new())))
}

/// Gives user `admin` a new random key, sealed with `secret` (creating the user when it
/// does not exist), makes it an administrator of every app again, records it in the
/// activity log, and returns the key. Used offline by `update-server reset-admin-key`.
///
/// # Errors
/// The store's.
pub async fn reset_admin_key(
    store: &dyn Store,
    secret: &Secret,
    now_ms: i64,
) -> Result<String, StoreError> {
    let key = auth::generate_key();
    let sealed = secret.seal(&key);
    let mut existed = true;
    let detail = match store.set_user_key("admin", &sealed).await {
        Ok(()) => {
            store.set_user_access("admin", Role::Admin, None).await?;
            "new key for user admin (update-server reset-admin-key)"
        }
        Err(StoreError::NotFound { .. }) => {
            store
                .create_user(&UserRecord {
                    name: "admin".into(),
                    key_sealed: sealed,
                    created_at: now_ms,
                    role: Role::Admin,
                    apps: None,
                })
                .await?;
            existed = false;
            "created user admin (update-server reset-admin-key)"
        }
        Err(err) => return Err(err),
    };
    store
        .append_activity(&crate::store::ActivityRecord {
            id: 0,
            at: now_ms,
            actor: access::SYSTEM_ACTOR.to_owned(),
            action: "user.key".to_owned(),
            app_id: String::new(),
            group_id: String::new(),
            detail: detail.to_owned(),
            changes: vec![crate::changes::field(
                "key",
                existed.then_some(""),
                Some(""),
            )],
        })
        .await?;
    Ok(key)
}

/// Creates user `admin` (an administrator of every app) when there is no user yet: with
/// `key` when given, else a random one. Returns the key when it created the user (to be
/// shown once), `None` otherwise.
pub async fn ensure_admin(
    store: &dyn Store,
    secret: &Secret,
    key: Option<&str>,
    now_ms: i64,
) -> Result<Option<String>, StoreError> {
    if !store.users().await?.is_empty() {
        return Ok(None);
    }
    let key = key.map_or_else(auth::generate_key, str::to_owned);
    match store
        .create_user(&UserRecord {
            name: "admin".into(),
            key_sealed: secret.seal(&key),
            created_at: now_ms,
            role: Role::Admin,
            apps: None,
        })
        .await
    {
        Ok(()) => Ok(Some(key)),
        // Another replica created it at the same moment.
        Err(StoreError::Conflict { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}
