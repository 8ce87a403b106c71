//! The session extractor: the one check of every page and form. A request's session cookie
//! is opened ([`super::session`]) and its principal checked against the page's or form's
//! entry in [`super::ACTIONS`] with [`crate::access::authorize`] before the handler runs; a
//! form's CSRF token is checked by [`Session::csrf_refusal`]. Refusals are pages
//! ([`super::html`]): a GET without a session goes to the login page, anything else is
//! answered 403.

use super::PanelState;
use super::html;
use super::session::{
    SESSION_COOKIE, SSO_PREFIX, Session, claimed_user, cookie, csrf_ok, csrf_token, open, open_sso,
};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

impl Session {
    /// The 403 answer when `offered` is not this session's CSRF token; `None` when it is.
    pub(crate) fn csrf_refusal(
        &self,
        key: &[u8; 32],
        offered: Option<&String>,
    ) -> Option<Response> {
        if offered.is_some_and(|o| csrf_ok(key, &self.cookie, o)) {
            None
        } else {
            Some(html::error_page(
                StatusCode::FORBIDDEN,
                Some(self),
                "Forbidden",
                "The form did not carry this session's security token, so the change was \
                 refused. Reload the page and try again.",
            ))
        }
    }
}

impl FromRequestParts<PanelState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &PanelState,
    ) -> Result<Self, Self::Rejection> {
        let refuse = |parts: &Parts| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                Redirect::to("/login").into_response()
            } else {
                html::error_page(
                    StatusCode::FORBIDDEN,
                    None,
                    "Forbidden",
                    "You are not logged in, or your session has ended. Log in and try again.",
                )
            }
        };
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(refuse(parts));
        };
        if value.starts_with(SSO_PREFIX) {
            let now = state.admin.clock.now().as_second();
            let principal = state
                .sso
                .as_ref()
                .and_then(|_| open_sso(&state.key, value, now));
            let Some(principal) = principal else {
                return Err(refuse(parts));
            };
            let session = Self {
                csrf: csrf_token(&state.key, value),
                cookie: value.to_owned(),
                user: principal.name.clone(),
                principal,
            };
            return session.authorized(parts);
        }
        let Some(claimed) = claimed_user(value) else {
            return Err(refuse(parts));
        };
        let record = match state.admin.store.user(&claimed).await {
            Ok(record) => record,
            Err(err) => return Err(html::internal_error(None, &err)),
        };
        // The signature is checked whether or not the user exists (against no key when it
        // does not), so that the answer does not tell.
        let binding = record.as_ref().map_or(&[][..], |r| r.key_sealed.as_slice());
        let now = state.admin.clock.now().as_second();
        let (Some(user), Some(record)) = (open(&state.key, value, now, binding), record) else {
            return Err(refuse(parts));
        };
        let session = Self {
            csrf: csrf_token(&state.key, value),
            cookie: value.to_owned(),
            principal: crate::access::Principal {
                kind: crate::access::PrincipalKind::User,
                name: user.clone(),
                role: record.role,
                apps: record.apps,
            },
            user,
        };
        session.authorized(parts)
    }
}

impl Session {
    /// This session if its principal may make the request (the panel's one check), else
    /// the 403 page.
    #[allow(clippy::result_large_err)] // The extractor's own rejection type, passed on.
    fn authorized(self, parts: &Parts) -> Result<Self, Response> {
        let session = self;
        // The one check of the panel: this page or action against its entry in
        // `ACTIONS`, before the handler runs (a route without an entry is refused).
        let path = parts.uri.path();
        let decision = match crate::openapi::find(super::ACTIONS, parts.method.as_str(), path) {
            Some(action) => action.access.map_or(Ok(()), |access| {
                crate::access::authorize(
                    &session.principal,
                    access,
                    action.app_named(path, parts.uri.query()).as_deref(),
                )
            }),
            None => Err(crate::access::Denied::Undeclared),
        };
        if let Err(denied) = decision {
            return Err(html::error_page(
                StatusCode::FORBIDDEN,
                Some(&session),
                "Forbidden",
                &denied.to_string(),
            ));
        }
        Ok(session)
    }
}
