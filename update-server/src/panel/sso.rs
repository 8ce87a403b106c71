//! The panel's single sign-on routes: `/login/oidc` sends the browser to the identity
//! provider, `/login/oidc/callback` takes it back and opens a session whose principal is
//! the SSO subject ([`crate::sso`] does the protocol).

use super::PanelState;
use super::html;
use super::session::{self, SESSION_COOKIE, SESSION_SECS, cookie, secure, set_cookie};
use crate::sso::{FLOW_SECS, FlowCookie, SsoError};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

/// The cookie holding the flow's state, nonce and PKCE verifier between the two routes.
pub const FLOW_COOKIE: &str = "us_oidc";

/// The flow cookie: `SameSite=Lax`, since the provider's redirect back is a cross-site
/// navigation that a `Strict` cookie would not come with; only sent to the callback.
fn flow_cookie(value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{FLOW_COOKIE}={value}; Path=/login/oidc; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

fn append(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The page of a failed sign-in: what went wrong and a way to try again.
fn failure(err: &SsoError) -> Response {
    let (status, title) = match err {
        SsoError::Provider(_) | SsoError::Config(_) => {
            (StatusCode::BAD_GATEWAY, "Single sign-on is unavailable")
        }
        SsoError::Refused(_) => (StatusCode::FORBIDDEN, "Sign-in refused"),
        SsoError::NoRole { .. } => (StatusCode::FORBIDDEN, "No role on this server"),
    };
    tracing::warn!(error = %err, "single sign-on failed");
    let body = format!(
        r#"<h1>{title}</h1><p class="error" role="alert" id="sso-error">{}</p>
<p><a href="/login/oidc">Try single sign-on again</a> or <a href="/login">log in with a key</a>.</p>"#,
        html::esc(&err.to_string()),
    );
    html::page(status, title, None, &body)
}

/// `GET /login/oidc`: a fresh flow (state, nonce, PKCE verifier) in a signed cookie, and a
/// redirect to the provider's authorization endpoint.
pub(crate) async fn start(State(state): State<PanelState>, headers: HeaderMap) -> Response {
    let Some(provider) = &state.sso else {
        return html::not_found(None, "Single sign-on is not configured on this server: it");
    };
    let now = state.admin.clock.now().as_second();
    let result = async {
        let flow = FlowCookie::new(now)?;
        let url = provider.authorization_url(&flow, now).await?;
        Ok::<_, SsoError>((flow, url))
    }
    .await;
    match result {
        Ok((flow, url)) => {
            let mut response = Redirect::to(&url).into_response();
            append(
                &mut response,
                &flow_cookie(&flow.seal(&state.key), FLOW_SECS, secure(&state, &headers)),
            );
            response
        }
        Err(err) => failure(&err),
    }
}

/// `GET /login/oidc/callback?code=..&state=..`: checks the state against the flow cookie,
/// exchanges the code, verifies the ID token, maps the role; on success opens the session.
pub(crate) async fn callback(
    State(state): State<PanelState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Some(provider) = &state.sso else {
        return html::not_found(None, "Single sign-on is not configured on this server: it");
    };
    let secure = secure(&state, &headers);
    let now = state.admin.clock.now().as_second();
    let mut response = match finish(&state, provider, &headers, &params, now).await {
        Ok(principal) => {
            tracing::info!(
                name = %principal.name,
                role = %principal.role,
                "signed in by single sign-on"
            );
            let value = session::issue_sso(&state.key, &principal, now + SESSION_SECS);
            // A page rather than a redirect: the browser came here from the provider's
            // site, and a redirect from this navigation would not carry the new
            // `SameSite=Strict` session cookie.
            let body = r#"<h1>Signed in</h1>
<p><a href="/" id="continue">Continue to the overview</a></p>
<meta http-equiv="refresh" content="0; url=/">"#;
            let mut response = html::page(StatusCode::OK, "Signed in", None, body);
            append(
                &mut response,
                &set_cookie(SESSION_COOKIE, &value, SESSION_SECS, secure),
            );
            response
        }
        Err(err) => failure(&err),
    };
    append(&mut response, &flow_cookie("", 0, secure));
    response
}

async fn finish(
    state: &PanelState,
    provider: &crate::sso::Provider,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    now: i64,
) -> Result<crate::access::Principal, SsoError> {
    if let Some(error) = params.get("error") {
        let description = params
            .get("error_description")
            .map(|d| format!(": {}", d.chars().take(200).collect::<String>()))
            .unwrap_or_default();
        return Err(SsoError::Refused(format!(
            "the identity provider answered `{}`{description}",
            error.chars().take(100).collect::<String>()
        )));
    }
    let flow = cookie(headers, FLOW_COOKIE)
        .and_then(|value| FlowCookie::open(&state.key, value, now))
        .ok_or_else(|| {
            SsoError::Refused(
                "this sign-in was not started here, or took longer than ten minutes; start \
                 again"
                    .into(),
            )
        })?;
    if params.get("state") != Some(&flow.state) {
        return Err(SsoError::Refused(
            "the answer's state is not this sign-in's; start again".into(),
        ));
    }
    let code = params
        .get("code")
        .filter(|c| !c.is_empty() && c.len() <= 4096)
        .ok_or_else(|| SsoError::Refused("the answer carries no code".into()))?;
    provider.finish(code, &flow, now).await
}
