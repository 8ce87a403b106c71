//! The API tokens page: every token with its role, applications, expiry and last use, a
//! form to create one (its value shown once) and a revoke button. Administrators of every
//! app only ([`crate::panel::ACTIONS`]); changes go through the admin API's handlers.

use crate::admin::{Actor, ApiError, users as admin_users};
use crate::api;
use crate::panel::PanelState;
use crate::panel::html::{self, csrf_field, esc, page, url};
use crate::panel::session::{CSRF_FIELD, Session};
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use std::collections::HashMap;
use std::fmt::Write as _;

type Params = HashMap<String, String>;

/// `GET /tokens`.
pub(crate) async fn list(State(state): State<PanelState>, session: Session) -> Response {
    list_page(&state, &session, None, StatusCode::OK).await
}

async fn list_page(
    state: &PanelState,
    session: &Session,
    flash: Option<(bool, String)>,
    status: StatusCode,
) -> Response {
    let tokens = match admin_users::list_tokens(State(state.admin.clone())).await {
        Ok(Json(list)) => list.tokens,
        Err(err) => return html::internal_error(Some(session), &err),
    };
    let csrf = csrf_field(session);
    let now = state.admin.clock.now();
    let mut rows = String::new();
    for token in &tokens {
        let expired = token
            .expires_at
            .parse::<jiff::Timestamp>()
            .is_ok_and(|at| at <= now);
        let _ = write!(
            rows,
            r#"<tr data-token="{name}"><th scope="row">{name}</th><td data-field="role">{role}</td><td>{apps}</td><td>{expires}{expired}</td><td>{last}</td><td>{by}</td><td><form class="inline" method="post" action="/tokens/{nameq}/revoke">{csrf}<button type="submit" class="danger">Revoke</button></form></td></tr>"#,
            name = esc(&token.name),
            nameq = url(&token.name),
            role = esc(&token.role),
            apps = if token.apps.is_empty() {
                "every application".to_owned()
            } else {
                esc(&token.apps.join(", "))
            },
            expires = esc(&token.expires_at),
            expired = if expired { " (expired)" } else { "" },
            last = if token.last_used_at.is_empty() {
                "never".to_owned()
            } else {
                esc(&token.last_used_at)
            },
            by = esc(&token.created_by),
        );
    }
    if tokens.is_empty() {
        rows = r#"<tr><td colspan="7" class="muted">No tokens.</td></tr>"#.to_owned();
    }
    let flash = flash.map_or_else(String::new, |(ok, text)| {
        format!(
            r#"<p class="{}" role="{}" id="flash">{}</p>"#,
            if ok { "ok" } else { "error" },
            if ok { "status" } else { "alert" },
            esc(&text)
        )
    });
    let default_expiry = (now + jiff::SignedDuration::from_hours(24 * 90))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let body = format!(
        r#"<h1>API tokens</h1>
{flash}
<p>Tokens let automation call the admin API with a role and, optionally, a set of applications: <code>Authorization: Bearer &lt;token&gt;</code>, or Basic with the token's name as the user and the token as the password.</p>
<table>
<thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Applications</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">Created by</th><th scope="col">Actions</th></tr></thead>
<tbody>{rows}</tbody>
</table>
<h2>New token</h2>
<form method="post" action="/tokens">{csrf}
<p><label>Name <input name="name" required maxlength="64" pattern="[A-Za-z0-9._-]+"></label></p>
<p><label>Role <select name="role"><option value="viewer">viewer</option><option value="operator">operator</option><option value="admin">admin</option></select></label></p>
<p><label>Applications (ids, comma-separated; empty: every application) <input name="apps"></label></p>
<p><label>Expires (RFC 3339) <input name="expiresAt" required value="{default_expiry}"></label></p>
<p><button type="submit">Create</button></p>
</form>"#
    );
    page(status, "API tokens", Some(session), &body)
}

/// `POST /tokens`: creates a token; the page shows its value once.
pub(crate) async fn create(
    State(state): State<PanelState>,
    session: Session,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let field = |k: &str| form.get(k).map_or("", |v| v.trim()).to_owned();
    let body = api::ApiTokenRequest {
        name: field("name"),
        role: field("role"),
        apps: field("apps")
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
        expires_at: field("expiresAt"),
    };
    match admin_users::create_token(
        State(state.admin.clone()),
        Extension(Actor(session.principal.clone())),
        Json(body),
    )
    .await
    {
        Ok(Json(token)) => {
            let text = format!(
                "Token {} created. Its value, shown only now: {}",
                token.name, token.token
            );
            list_page(&state, &session, Some((true, text)), StatusCode::OK).await
        }
        Err(err) => failure(&state, &session, err).await,
    }
}

/// `POST /tokens/{name}/revoke`.
pub(crate) async fn revoke(
    State(state): State<PanelState>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    match admin_users::delete_token(
        State(state.admin.clone()),
        Extension(Actor(session.principal.clone())),
        Path(name),
    )
    .await
    {
        Ok(_) => Redirect::to("/tokens").into_response(),
        Err(err) => failure(&state, &session, err).await,
    }
}

async fn failure(state: &PanelState, session: &Session, err: ApiError) -> Response {
    match err {
        ApiError::Invalid(text) | ApiError::Conflict(text) => {
            list_page(state, session, Some((false, text)), StatusCode::BAD_REQUEST).await
        }
        ApiError::NotFound(text) => html::not_found(Some(session), &text),
        err => html::internal_error(Some(session), &err),
    }
}
