//! The web control panel: server-rendered HTML pages at `/`, compiled into the binary, with
//! no build step and nothing fetched from elsewhere (the stylesheet and the one small script
//! are served by the server itself).
//!
//! - Log in with a user and its API key ([`session`]): a stateless session cookie signed with
//!   a key derived from the server secret, so replicas sharing the secret share sessions. The
//!   user must still exist on every request. Every form carries a CSRF token bound to the
//!   session (the login form: to a pre-session cookie); a POST without it is refused with 403.
//! - Or, when configured, sign in through an OpenID Connect provider (`sso.rs`, the protocol
//!   in [`crate::sso`]): the session's principal is the SSO subject with the role its
//!   claims map to, carried in the signed cookie.
//! - Pages (`pages/`, one module per page or page family; what they share in
//!   `pages/mod.rs`): the overview (`overview.rs`, home: every group's state, progress,
//!   rate, estimated end and what needs attention first, from [`crate::overview`]); failed
//!   attempts (`errors.rs`) with filters; applications and one application (`apps.rs`);
//!   one group (`groups.rs`) with its state (a Resume button when it paused itself),
//!   progress and estimated end, policy forms (handled in `group_forms.rs`), live counts
//!   and why its instances are not updating (`why`, computed by `rollout-core`), its live
//!   part refreshed in place; the group's graphs (`graphs.rs`, drawn by [`chart`],
//!   server-side SVG from the rollups, with markers from the activity log); instances with
//!   search and pagination, and one instance's history (`instances.rs`); the activity log
//!   (`activity.rs`); upstreams (`upstreams.rs`); webhooks (`webhooks.rs`); API tokens
//!   (`tokens.rs`, for administrators); logging in and out (`login.rs`).
//!
//! Changes go through the admin API's own handlers, so the panel and the API validate and
//! log alike. What each page and form requires (role, scope) is declared in [`ACTIONS`] and
//! checked by the session extractor (`guard`) with [`crate::access::authorize`], as the
//! admin API checks its operations. `session` signs and opens cookies and CSRF tokens and
//! knows no HTML; `html` renders (escaping, the layout with the session's user and CSRF
//! field, error pages); the extractor (`guard`) uses both.

pub mod chart;
mod guard;
mod html;
mod pages;
pub mod session;
mod sso;
mod why;

use crate::access::{Access, AppIn, Permission};
use crate::admin::AdminState;
use crate::openapi::{Operation, needs};
use axum::Router;
use axum::routing::{get, post};

/// An entry of [`ACTIONS`]: the same kind as the API's operations, so that one matching and
/// one decision serve both.
const fn action(method: &'static str, path: &'static str, access: Option<Access>) -> Operation {
    Operation {
        method,
        path,
        summary: "",
        request: None,
        response: None,
        access,
    }
}

const READ_LISTING: Option<Access> = Some(needs(Permission::Read, AppIn::Listing));
const READ_QUERY: Option<Access> = Some(needs(Permission::Read, AppIn::Query("app")));
const READ_APP: Option<Access> = Some(needs(Permission::Read, AppIn::Path("app")));
const OPERATE_APP: Option<Access> = Some(needs(Permission::Operate, AppIn::Path("app")));
const READ_GLOBAL: Option<Access> = Some(needs(Permission::Read, AppIn::Global));
const ADMIN_GLOBAL: Option<Access> = Some(needs(Permission::Admin, AppIn::Global));

/// Every page and action of the panel with what it requires (`None`: open to anyone, or to
/// any session). The session extractor checks a request against its entry with
/// [`crate::access::authorize`], as the admin API checks its operations; a route without an
/// entry is refused (and a test checks the table against the router).
pub const ACTIONS: &[Operation] = &[
    action("get", "/", READ_LISTING),
    action("get", "/apps", READ_LISTING),
    action("get", "/errors", READ_QUERY),
    action("get", "/panel.css", None),
    action("get", "/panel.js", None),
    action("get", "/login", None),
    action("post", "/login", None),
    action("post", "/logout", None),
    action("get", "/login/oidc", None),
    action("get", "/login/oidc/callback", None),
    action("get", "/apps/{app}", READ_APP),
    action("post", "/apps/{app}/channels/{channel}", OPERATE_APP),
    action("get", "/apps/{app}/groups/{group}", READ_APP),
    action("get", "/apps/{app}/groups/{group}/graphs", READ_APP),
    action("post", "/apps/{app}/groups/{group}/pause", OPERATE_APP),
    action("post", "/apps/{app}/groups/{group}/policy", OPERATE_APP),
    action("post", "/apps/{app}/groups/{group}/rollout", OPERATE_APP),
    action("get", "/apps/{app}/instances/{machine}", READ_APP),
    action("get", "/instances", READ_QUERY),
    action("get", "/activity", READ_QUERY),
    action("get", "/upstreams", READ_GLOBAL),
    action("get", "/webhooks", READ_GLOBAL),
    action("post", "/webhooks", ADMIN_GLOBAL),
    action("get", "/webhooks/{id}", READ_GLOBAL),
    action("post", "/webhooks/{id}/test", ADMIN_GLOBAL),
    action("post", "/webhooks/{id}/delete", ADMIN_GLOBAL),
    action("post", "/webhooks/{id}/enabled", ADMIN_GLOBAL),
    action("get", "/tokens", ADMIN_GLOBAL),
    action("post", "/tokens", ADMIN_GLOBAL),
    action("post", "/tokens/{name}/revoke", ADMIN_GLOBAL),
];

/// What the panel's handlers share.
#[derive(Clone)]
pub(crate) struct PanelState {
    /// The admin API's state (store, cache, clock, secret).
    pub admin: AdminState,
    /// Signs session cookies and CSRF tokens (derived from the server secret).
    pub key: [u8; 32],
    /// The server is reached over https (TLS here, or an https base URL): cookies are
    /// `Secure`.
    pub https: bool,
    /// Single sign-on, when configured.
    pub sso: Option<std::sync::Arc<crate::sso::Provider>>,
}

/// The panel's routes, mounted at the root. The session cookie is `Secure` when the server
/// serves TLS itself (`tls`), when `base_url` (`--base-url`, the URL the server is reached at)
/// is https, or when a TLS-terminating proxy sends `X-Forwarded-Proto: https`. With `sso`,
/// the login page offers single sign-on.
pub fn router(
    admin: AdminState,
    base_url: Option<&str>,
    tls: bool,
    sso: Option<std::sync::Arc<crate::sso::Provider>>,
) -> Router {
    let key = admin.secret.derive_key("update-server panel session v1");
    let https = tls
        || base_url.is_some_and(|u| {
            u.get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        });
    let state = PanelState {
        admin,
        key,
        https,
        sso,
    };
    Router::new()
        .route("/", get(pages::overview::overview))
        .route("/apps", get(pages::apps::apps))
        .route("/errors", get(pages::errors::errors))
        .route("/panel.css", get(html::stylesheet))
        .route("/panel.js", get(html::script))
        .route(
            "/login",
            get(pages::login::login_form).post(pages::login::login),
        )
        .route("/logout", post(pages::login::logout))
        .route("/login/oidc", get(sso::start))
        .route("/login/oidc/callback", get(sso::callback))
        .route("/apps/{app}", get(pages::apps::app))
        .route("/apps/{app}/channels/{channel}", post(pages::apps::channel))
        .route("/apps/{app}/groups/{group}", get(pages::groups::group))
        .route(
            "/apps/{app}/groups/{group}/graphs",
            get(pages::graphs::graphs),
        )
        .route(
            "/apps/{app}/groups/{group}/pause",
            post(pages::group_forms::pause),
        )
        .route(
            "/apps/{app}/groups/{group}/policy",
            post(pages::group_forms::policy),
        )
        .route(
            "/apps/{app}/groups/{group}/rollout",
            post(pages::group_forms::rollout),
        )
        .route(
            "/apps/{app}/instances/{machine}",
            get(pages::instances::instance),
        )
        .route("/instances", get(pages::instances::instances))
        .route("/activity", get(pages::activity::activity))
        .route("/upstreams", get(pages::upstreams::upstreams))
        .route(
            "/webhooks",
            get(pages::webhooks::list).post(pages::webhooks::create),
        )
        .route("/webhooks/{id}", get(pages::webhooks::deliveries))
        .route("/webhooks/{id}/test", post(pages::webhooks::test))
        .route("/webhooks/{id}/delete", post(pages::webhooks::delete))
        .route("/webhooks/{id}/enabled", post(pages::webhooks::enabled))
        .route(
            "/tokens",
            get(pages::tokens::list).post(pages::tokens::create),
        )
        .route("/tokens/{name}/revoke", post(pages::tokens::revoke))
        .with_state(state)
}
