//! The login form (`GET /login`), logging in with a user and its API key (`POST /login`) and
//! logging out (`POST /logout`).

use super::Params;
use crate::auth;
use crate::panel::PanelState;
use crate::panel::html::{self, esc, page};
use crate::panel::session::{
    self, CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECS, Session, cookie, csrf_ok,
    csrf_token, secure, set_cookie,
};
use axum::Extension;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

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
