//! The admin API: CoreUpdate's `update/v1` endpoints under `/_ah/api/update/v1/`, as the
//! real `updateservicectl` (v1.4 and v2.1) calls them, plus this server's extensions in the
//! same conventions. Every endpoint requires Hawk, Basic or Bearer authentication, except the
//! public lists (`public/packages`, `public/channels`) and `/admin/v1/init`, and a role
//! and scope that allow it ([`crate::access`], checked in `authenticate` against the
//! operation's entry in [`crate::openapi::OPERATIONS`] before any handler runs).
//!
//! Fields and absence (updateservicectl.md §4.1, §11): clients omit `false`, `0` and `""`.
//! For the fields every client knows (label, channel, paused, OEM blacklist) an absent field
//! is its zero value: a PATCH is a full replace, which is how `group unpause` works. Fields
//! that only one generation of the CLI knows (v2.1's `updatePercent` and `rolloutActive`,
//! v1.4's `updateCount`, `updateInterval` and `updatePooling`) and this server's extensions
//! keep their value when absent, so a v1.4 or v2.1 client's GET-then-PATCH never clears
//! what it cannot see.
//!
//! Timed rollouts (see [`crate::lifecycle`]): while a rollout runs, a group PATCH does not
//! store the `updatePercent` it carries (clients send back the percentage they read, so a
//! pause or unpause would overwrite the group's own); `rolloutActive: false` stops the
//! rollout at the percentage in force, and `rolloutActive: true` never starts one (that is
//! `POST .../rollout/active`). `group percent` stops a running rollout and answers
//! `rolloutStopped: true`.
//!
//! One module per concern: `apps`, `channels`, `floors` (a channel's floors and blacklist),
//! `packages` (with architectures' packages), `package_files`, `groups`, `rollouts`,
//! `graphs`, `instances` (with an instance's history), `activity`, `overview` (with the
//! errors), `upstreams`, `users` (with API tokens), `webhooks`. This module holds what they
//! share: the state, the errors, the actor, the router and the `authenticate` middleware.

mod activity;
pub(crate) mod apps;
pub(crate) mod channels;
pub(crate) mod floors;
mod graphs;
pub(crate) mod groups;
mod instances;
pub(crate) mod overview;
pub(crate) mod package_files;
pub(crate) mod packages;
pub(crate) mod rollouts;
mod upstreams;
pub(crate) mod users;
pub(crate) mod webhooks;

pub use users::{ensure_admin, reset_admin_key};

use crate::access::{self, Denied, Principal, PrincipalKind};
use crate::api;
use crate::auth::{self, AuthError, Credentials, HawkRequest, Secret};
use crate::cache::ConfigCache;
use crate::clock::{Clock, millis};
use crate::store::{ActivityRecord, AppRecord, Store, StoreError, canonical_app_id};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use std::sync::Arc;

/// The API's URL prefix.
pub const API_PREFIX: &str = "/_ah/api/update/v1";

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The configuration cache, refreshed after every write.
    pub cache: Arc<ConfigCache>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Seals API keys.
    pub secret: Secret,
    /// Counts failed logins per client address and per user.
    pub throttle: Arc<crate::throttle::LoginThrottle>,
    /// Where payloads are hosted, when this server hosts them (it has a data directory):
    /// Omaha upstreams download into it.
    pub hosting: Option<Arc<crate::hosting::HostingOptions>>,
}

/// Who made a request, as the authentication resolved it (a user or a token, with its role
/// and scope); the activity log records it ([`Principal::actor`]).
#[derive(Debug, Clone)]
pub struct Actor(pub Principal);

/// An API failure, answered with CoreUpdate's error body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 400.
    #[error("{0}")]
    Invalid(String),
    /// 403: allowed to nobody, whoever asks (such as a user deleting itself).
    #[error("{0}")]
    Forbidden(String),
    /// 401, with the `WWW-Authenticate` value to send.
    #[error("{message}")]
    Unauthorized {
        /// Says what, never whether the user exists.
        message: String,
        /// The challenge.
        challenge: String,
    },
    /// 500; the cause is logged, not sent.
    #[error("internal error")]
    Internal(String),
    /// 503: the database is failing or did not answer in time; the cause is logged, not
    /// sent. The client may retry.
    #[error("the database is unavailable; retry later")]
    Unavailable(String),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { what } => Self::NotFound(format!("{what} not found")),
            StoreError::Conflict { what } => Self::Conflict(format!("{what} already exists")),
            StoreError::MissingReference { what } => Self::NotFound(what),
            other if other.is_unavailable() => Self::Unavailable(other.detail()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, reason) = match &self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "notFound"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "admin API request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "backendError")
            }
            Self::Unavailable(cause) => {
                tracing::warn!(error = %cause, "admin API request failed: database unavailable");
                (StatusCode::SERVICE_UNAVAILABLE, "backendUnavailable")
            }
        };
        let message = self.to_string();
        let body = api::ErrorBody {
            error: api::ErrorDetail {
                code: status.as_u16(),
                message: message.clone(),
                errors: vec![api::ErrorItem {
                    reason: reason.into(),
                    message,
                }],
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::Unauthorized { challenge, .. } = &self
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// A handler's result.
pub(crate) type ApiResult<T> = Result<Json<T>, ApiError>;

/// The admin API's routes (mount at the root; paths include [`API_PREFIX`]).
pub fn router(state: AdminState) -> Router {
    use activity::*;
    use apps::*;
    use channels::*;
    use floors::*;
    use graphs::*;
    use groups::*;
    use instances::*;
    use package_files::*;
    use packages::*;
    use rollouts::*;
    use upstreams::*;
    use users::*;
    let authenticated = Router::new()
        .route("/apps", get(list_apps).post(create_app))
        .route(
            "/apps/{app}",
            get(get_app).patch(update_app).delete(delete_app),
        )
        .route("/apps/{app}/packages", get(list_packages))
        .route(
            "/apps/{app}/packages/{version}",
            post(create_package)
                .patch(update_package)
                .delete(delete_package),
        )
        .route(
            "/apps/{app}/packages/{version}/files",
            get(list_package_files),
        )
        .route(
            "/apps/{app}/packages/{version}/files/{name}",
            put(put_package_file).delete(delete_package_file),
        )
        .route(
            "/apps/{app}/packages/{version}/arches",
            get(list_arch_packages),
        )
        .route(
            "/apps/{app}/packages/{version}/arches/{arch}",
            put(put_arch_package).delete(delete_arch_package),
        )
        .route(
            "/apps/{app}/channels",
            get(list_channels).post(create_channel),
        )
        .route(
            "/apps/{app}/channels/{label}",
            patch(update_channel).delete(delete_channel),
        )
        .route("/apps/{app}/channels/{label}/floors", get(list_floors))
        .route(
            "/apps/{app}/channels/{label}/floors/{version}",
            put(put_floor).delete(delete_floor),
        )
        .route(
            "/apps/{app}/channels/{label}/blacklist",
            get(list_blacklist),
        )
        .route(
            "/apps/{app}/channels/{label}/blacklist/{version}",
            put(put_blacklisted).delete(delete_blacklisted),
        )
        .route("/apps/{app}/groups", get(list_groups).post(create_group))
        .route(
            "/apps/{app}/groups/{group}",
            get(get_group)
                .patch(update_group)
                .post(set_group_percent)
                .delete(delete_group),
        )
        .route(
            "/apps/{app}/groups/{group}/requests/{kind}/{start}/{end}",
            get(group_requests),
        )
        .route(
            "/apps/{app}/groups/{group}/retry",
            axum::routing::delete(clear_retry_delay),
        )
        .route(
            "/apps/{app}/groups/{group}/rollout",
            get(get_rollout).post(set_rollout),
        )
        .route(
            "/apps/{app}/groups/{group}/rollout/active",
            get(get_rollout_active).post(set_rollout_active),
        )
        .route("/appversions", get(app_versions))
        .route("/clientupdates", get(client_updates))
        .route("/clientupdatecount", get(client_update_count))
        .route("/client/history", get(client_history))
        .route("/instances", get(client_updates))
        .route("/activity", get(list_activity))
        .route("/overview", get(overview::get_overview))
        .route("/errors", get(overview::list_errors))
        .route("/upstream", get(list_upstreams).post(create_upstream))
        .route(
            "/upstream/{id}",
            put(update_upstream).delete(delete_upstream),
        )
        .route(
            "/webhooks",
            get(webhooks::list_webhooks).post(webhooks::create_webhook),
        )
        .route(
            "/webhooks/{id}",
            get(webhooks::get_webhook)
                .put(webhooks::update_webhook)
                .delete(webhooks::delete_webhook),
        )
        .route("/webhooks/{id}/test", post(webhooks::test_webhook))
        .route("/webhooks/{id}/deliveries", get(webhooks::list_deliveries))
        .route("/util/uuid", get(generate_uuid))
        .route("/admin/user", get(list_users).post(create_user))
        .route(
            "/admin/user/{user}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/admin/tokens", get(list_tokens).post(create_token))
        .route("/admin/tokens/{name}", axum::routing::delete(delete_token))
        .route("/admin/user/{user}/token/new", put(regenerate_key))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ));
    let public = Router::new()
        .route("/public/packages", get(public_packages))
        .route("/public/channels", get(public_channels));
    Router::new()
        .nest(API_PREFIX, authenticated.merge(public))
        .route("/admin/v1/init", get(init))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            read_deadline,
        ))
        .with_state(state)
}

/// A read (`GET`, `HEAD`) that the database does not answer within its timeouts (a silent
/// network partition: PostgreSQL's own statement timeout never reaches the server) is
/// answered 503 instead of waiting. Only reads are cut short: a change runs to its end, its
/// statements bounded by the statement timeout on the database's side.
pub(crate) async fn read_deadline(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    if !matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        return next.run(request).await;
    }
    let timeouts = state.store.timeouts();
    let deadline = timeouts.statement + timeouts.acquire;
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!(
            "no answer from the database within {} ms",
            deadline.as_millis()
        ))
        .into_response(),
    }
}

/// Checks the request's credentials, then whether their principal may make the request
/// ([`access::authorize`] against the operation's entry in [`crate::openapi::OPERATIONS`]:
/// a request no entry declares is refused); on success the principal rides along as an
/// [`Actor`]. A middleware (`axum::middleware::from_fn_with_state`) for every authenticated
/// route: the admin API, the payload upload and `/db/backup`.
pub(crate) async fn authenticate(
    State(state): State<AdminState>,
    mut request: Request,
    next: Next,
) -> Response {
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |o| o.0.clone());
    let resource = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let target = Target {
        method: request.method().as_str().to_owned(),
        resource,
        headers: request.headers().clone(),
    };
    let peer = peer_address(&request);
    let claimed = claimed_user(&target.headers);
    if let Some(user) = &claimed
        && let Err(wait) = state.throttle.check(user, peer, state.now_ms())
    {
        return too_many_attempts(wait);
    }
    match check_credentials(&state, &target).await {
        Ok(principal) => {
            if let Some(user) = &claimed {
                state.throttle.succeeded(user, peer, state.now_ms());
            }
            if let Err(denied) = authorize_request(&principal, request.method().as_str(), &uri) {
                return ApiError::Forbidden(denied.to_string()).into_response();
            }
            if let Some(expected) = hawk_payload_hash(&target.headers) {
                request = match check_payload_hash(request, expected).await {
                    Ok(request) => request,
                    Err(response) => return response,
                };
            }
            request.extensions_mut().insert(Actor(principal));
            next.run(request).await
        }
        Err(CheckError::Store(err)) => ApiError::from(err).into_response(),
        Err(CheckError::Auth(err)) => {
            if let (AuthError::Invalid, Some(user)) = (&err, &claimed) {
                state.throttle.failed(user, peer, state.now_ms());
            }
            auth_failure(err).into_response()
        }
    }
}

/// Whether `principal` may make a `method` request of `uri`: the one decision of the admin
/// API, the payload upload and `/db/backup`, made from the request alone (nothing is read,
/// so a refusal never depends on whether what the request names exists).
fn authorize_request(
    principal: &Principal,
    method: &str,
    uri: &axum::http::Uri,
) -> Result<(), Denied> {
    let path = uri.path();
    let operation = crate::openapi::operation(method, path).ok_or(Denied::Undeclared)?;
    let access = operation.access.ok_or(Denied::Undeclared)?;
    access::authorize(
        principal,
        access,
        operation.app_named(path, uri.query()).as_deref(),
    )
}

/// The largest body whose Hawk payload hash is checked before the handler runs (the admin
/// API's JSON limit); a payload upload is checked as it streams.
const HASHED_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The payload hash of a Hawk `Authorization` header, if it carries one.
fn hawk_payload_hash(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    match auth::parse_authorization(value).ok()? {
        Credentials::Hawk(h) if !h.hash.is_empty() => Some(h.hash),
        _ => None,
    }
}

fn payload_mismatch() -> Response {
    ApiError::Unauthorized {
        message: "the body does not match the Hawk payload hash".into(),
        challenge: "Hawk".into(),
    }
    .into_response()
}

/// Checks a request's body against the Hawk payload hash it was signed with. A body of the
/// admin API is read (up to [`HASHED_BODY_LIMIT`]) and checked before the handler runs; a
/// payload upload is hashed as it streams, and its end is an error when the hash differs,
/// so the upload fails and nothing is kept.
async fn check_payload_hash(request: Request, expected: String) -> Result<Request, Response> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut hash = auth::PayloadHash::new(&content_type);
    let (parts, body) = request.into_parts();
    if parts.uri.path() == crate::hosting::UPLOAD_PATH {
        use futures_util::StreamExt as _;
        let stream = futures_util::stream::unfold(
            (body.into_data_stream(), Some(hash), expected),
            |(mut stream, hash, expected)| async move {
                let mut hash = hash?;
                match stream.next().await {
                    Some(Ok(chunk)) => {
                        hash.update(&chunk);
                        Some((Ok(chunk), (stream, Some(hash), expected)))
                    }
                    Some(Err(err)) => Some((
                        Err(std::io::Error::other(err.to_string())),
                        (stream, None, expected),
                    )),
                    None if hash.finish() == expected => None,
                    None => Some((
                        Err(std::io::Error::other(
                            "the body does not match the Hawk payload hash",
                        )),
                        (stream, None, expected),
                    )),
                }
            },
        );
        return Ok(Request::from_parts(
            parts,
            axum::body::Body::from_stream(stream),
        ));
    }
    let Ok(bytes) = axum::body::to_bytes(body, HASHED_BODY_LIMIT).await else {
        return Err(ApiError::Invalid(format!(
            "the body could not be read, or is larger than {HASHED_BODY_LIMIT} bytes"
        ))
        .into_response());
    };
    hash.update(&bytes);
    if hash.finish() != expected {
        return Err(payload_mismatch());
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// The client's address, from the connection (unspecified when the request came from no
/// connection, as in a test calling the router directly).
pub(crate) fn peer_address(request: &Request) -> std::net::IpAddr {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// The user (or token) an `Authorization` header names, if it is readable: what failed
/// logins are counted against.
fn claimed_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    match auth::parse_authorization(value).ok()? {
        Credentials::Hawk(h) => Some(h.id),
        Credentials::Basic { user, .. } => Some(user),
        Credentials::Bearer(token) => Some(auth::split_token(&token).map_or_else(
            || access::TOKEN_ACTOR_PREFIX.to_owned(),
            |(id, _)| format!("{}{id}", access::TOKEN_ACTOR_PREFIX),
        )),
    }
}

/// 429 with `Retry-After`: too many failed logins from this address or for this user.
pub(crate) fn too_many_attempts(wait_secs: u64) -> Response {
    let mut response = crate::hosting::error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "rateLimitExceeded",
        format!("too many failed logins; try again in {wait_secs} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
    response
}

fn auth_failure(err: AuthError) -> ApiError {
    let message = match err {
        AuthError::Stale { challenge, .. } => {
            return ApiError::Unauthorized {
                message: "stale timestamp".into(),
                challenge,
            };
        }
        AuthError::Unseal | AuthError::Secret { .. } => {
            return ApiError::Internal(format!("authentication: {err}"));
        }
        AuthError::Missing => "authentication required".to_owned(),
        AuthError::Malformed(what) => format!("malformed Authorization header: {what}"),
        AuthError::Replayed => "replayed request".to_owned(),
        AuthError::Invalid => "invalid credentials".to_owned(),
        AuthError::Expired => "this token has expired".to_owned(),
    };
    ApiError::Unauthorized {
        message,
        challenge: "Hawk".into(),
    }
}

/// What authentication looks at in a request (owned, so the check can await).
struct Target {
    method: String,
    resource: String,
    headers: HeaderMap,
}

/// Why a credential check did not pass: the credentials, or the store they are checked
/// against.
enum CheckError {
    Auth(AuthError),
    Store(StoreError),
}

impl From<AuthError> for CheckError {
    fn from(err: AuthError) -> Self {
        Self::Auth(err)
    }
}

impl From<StoreError> for CheckError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

async fn check_credentials(state: &AdminState, request: &Target) -> Result<Principal, CheckError> {
    let value = request
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed("not ASCII"))?;
    let credentials = auth::parse_authorization(value)?;
    let user = match &credentials {
        Credentials::Bearer(token) => return check_token(state, None, token).await,
        Credentials::Basic { user, key } if key.starts_with(auth::TOKEN_PREFIX) => {
            return check_token(state, Some(user), key).await;
        }
        Credentials::Hawk(h) => h.id.clone(),
        Credentials::Basic { user, .. } => user.clone(),
    };
    let stored = state.store.user(&user).await?;
    // An unknown user is checked against a fresh key nobody has, so that neither the answer
    // nor its timing tells whether the user exists.
    let key = match &stored {
        Some(record) => state.secret.open(&record.key_sealed)?,
        None => auth::generate_key(),
    };
    match credentials {
        Credentials::Basic { key: offered, .. } => auth::verify_basic(&key, &offered)?,
        Credentials::Hawk(hawk) => {
            let (host, port) = host_and_port(&request.headers);
            let now = state.clock.now().as_second();
            let target = HawkRequest {
                method: &request.method,
                resource: &request.resource,
                host: &host,
                port,
            };
            auth::verify_hawk(&key, &hawk, &target, now)?;
            let now_ms = now * 1000;
            let window = 2 * auth::CLOCK_SKEW_SECS * 1000;
            let fresh = state
                .store
                .use_nonce(&user, &hawk.nonce, now_ms, now_ms - window)
                .await?;
            if !fresh {
                return Err(AuthError::Replayed.into());
            }
        }
        Credentials::Bearer(_) => return Err(AuthError::Invalid.into()),
    }
    let record = stored.ok_or(AuthError::Invalid)?;
    Ok(Principal {
        kind: PrincipalKind::User,
        name: record.name,
        role: record.role,
        apps: record.apps,
    })
}

/// How often a token's last use is written at most: a token used on every request costs
/// one write a minute, not one a request.
pub const TOKEN_USE_RESOLUTION_MS: i64 = 60_000;

/// Checks an API token (Bearer, or a Basic password whose user part must be the token's
/// name). An unknown id is checked against a fresh secret, as an unknown user is.
async fn check_token(
    state: &AdminState,
    name: Option<&str>,
    token: &str,
) -> Result<Principal, CheckError> {
    let (id, offered) = auth::split_token(token).ok_or(AuthError::Invalid)?;
    let stored = state.store.token(id).await?;
    let secret = match &stored {
        Some(record) => state.secret.open(&record.secret_sealed)?,
        None => auth::generate_key(),
    };
    auth::verify_basic(&secret, offered)?;
    let record = stored.ok_or(AuthError::Invalid)?;
    if name.is_some_and(|name| name != record.name) {
        return Err(AuthError::Invalid.into());
    }
    let now = state.now_ms();
    if record.expires_at <= now {
        return Err(AuthError::Expired.into());
    }
    let since = now - TOKEN_USE_RESOLUTION_MS;
    if record.last_used_at.is_none_or(|at| at < since) {
        // Written behind the request: the answer does not wait for it, and a failure only
        // loses a last-use time.
        let store = state.store.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            if let Err(err) = store.touch_token(&id, now, since).await {
                tracing::warn!(error = %err, "recording an API token's last use failed");
            }
        });
    }
    Ok(Principal {
        kind: PrincipalKind::Token,
        name: record.name,
        role: record.role,
        apps: record.apps,
    })
}

/// The host and port the client addressed, from `Host` (and `X-Forwarded-Proto` for the
/// default port behind a TLS-terminating proxy).
fn host_and_port(headers: &HeaderMap) -> (String, u16) {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let default = if https { 443 } else { 80 };
    // An IPv6 literal keeps its brackets in Hawk's host.
    match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => match port.parse() {
            Ok(port) => (name.to_owned(), port),
            Err(_) => (host.to_owned(), default),
        },
        _ => (host.to_owned(), default),
    }
}

/// `GET /admin/v1/init`: CoreUpdate's first-run initialisation. This server initialises its
/// database and its `admin` user at start, so this only confirms it.
async fn init() -> &'static str {
    "ok"
}

/// `GET util/uuid`: a fresh random UUID.
async fn generate_uuid() -> Json<api::GeneratedUuid> {
    Json(api::GeneratedUuid {
        uuid: uuid::Uuid::new_v4().to_string(),
    })
}

pub(crate) use crate::clock::rfc3339;

impl AdminState {
    pub(crate) fn now_ms(&self) -> i64 {
        millis(self.clock.now())
    }

    /// Appends to the activity log an entry that changes no field (an action); a failure
    /// is logged, not returned (the change is made).
    pub(crate) async fn log(
        &self,
        actor: &Actor,
        action: &str,
        app_id: &str,
        group_id: &str,
        detail: String,
    ) {
        self.log_changes(actor, action, app_id, group_id, detail, Vec::new())
            .await;
    }

    /// Appends to the activity log, with what the change changed field by field
    /// ([`crate::changes::diff`]); a failure is logged, not returned (the change is made).
    pub(crate) async fn log_changes(
        &self,
        actor: &Actor,
        action: &str,
        app_id: &str,
        group_id: &str,
        detail: String,
        changes: Vec<crate::store::ActivityChange>,
    ) {
        let entry = ActivityRecord {
            id: 0,
            at: self.now_ms(),
            actor: actor.0.actor(),
            action: action.to_owned(),
            app_id: app_id.to_owned(),
            group_id: group_id.to_owned(),
            detail,
            changes,
        };
        if let Err(err) = self.store.append_activity(&entry).await {
            tracing::error!(error = %err, action, "activity log write failed");
        }
    }

    /// Makes this replica see a configuration write at once.
    pub(crate) async fn refreshed(&self) {
        if let Err(err) = self.cache.refresh().await {
            tracing::warn!(error = %err, "configuration refresh after a write failed");
        }
    }

    /// The app an id names (braces and case do not matter).
    pub(crate) async fn app(&self, app: &str) -> Result<AppRecord, ApiError> {
        let id = canonical_app_id(app);
        let config = self.store.load_config().await?;
        config
            .apps
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| ApiError::NotFound(format!("app {app} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_come_from_the_host_header() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("example.test:8000"));
        assert_eq!(host_and_port(&headers), ("example.test".into(), 8000));
        headers.insert(header::HOST, HeaderValue::from_static("example.test"));
        assert_eq!(host_and_port(&headers), ("example.test".into(), 80));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(host_and_port(&headers), ("example.test".into(), 443));
        headers.insert(header::HOST, HeaderValue::from_static("[::1]:9000"));
        assert_eq!(host_and_port(&headers), ("[::1]".into(), 9000));
    }
}
