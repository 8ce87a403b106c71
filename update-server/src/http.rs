//! The HTTP surface: the Omaha endpoint (and, later, the admin API and the control panel).
//!
//! Status codes of the update endpoint: a well-formed request always gets 200 with its
//! error conditions in-band (update_engine and go-omaha treat any non-2xx answer as a
//! transport failure and back off); 400 for an empty or malformed body, 413 for a body over
//! [`MAX_BODY`], 405 for a method other than POST, 500 only when what the client sent could
//! not be stored, and 503 (with `Retry-After`) when the database is failing or did not
//! answer within its timeout (either way the client must retry: nothing of it was
//! acknowledged).
//!
//! A request with `cup2key` gets its answer signed (CUP-ECDSA, [`crate::cup`]), or 400 when
//! its CUP parameters are malformed or name a key version the server has no key for;
//! `GET /v1/cup/keys` lists the key versions and public keys served.

use crate::endpoint::UpdateProtocol;
use crate::metrics::{ErrorKind, Metrics};
use crate::protocol::WireProtocol;
use crate::service::UpdateService;
use crate::writer::WriteError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// Largest request body the update endpoint reads (update_engine sends about 1 KiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The update-check service.
    pub service: UpdateService,
    /// The wire format of the update endpoint (`/v1/update/`: Omaha v3 XML).
    pub protocol: Arc<dyn WireProtocol>,
    /// The wire format of the JSON update endpoint (`/v1/update/json`: Omaha JSON 3.0, 3.1
    /// and 4.0).
    pub json: Arc<dyn WireProtocol>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The CUP signing keys (empty: every request with `cup2key` is refused).
    pub cup: Arc<crate::cup::CupKeys>,
}

/// The header that carries a request's id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every route of the server: a request id on every request (the client's
/// `x-request-id` when it sent one, else a fresh UUID), echoed in the response and recorded in
/// the request's tracing span with the method and path; and the response counter of the
/// metrics.
pub fn observed(router: Router, metrics: Arc<Metrics>) -> Router {
    router
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            count_response,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %request.method(),
                        path = %request.uri().path(),
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn count_response(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    metrics.response(response.status().as_u16());
    response
}

/// The server's routes.
pub fn router(state: AppState) -> Router {
    let cup = crate::cup::CupState {
        keys: state.cup.clone(),
        metrics: state.metrics.clone(),
    };
    Router::new()
        .route("/v1/update", post(update))
        .route(UpdateProtocol::Xml.path(), post(update))
        .route(UpdateProtocol::Json.path(), post(update_json))
        .route("/v1/update/json/", post(update_json))
        // Signs the answers of the update routes above when a request asks (CUP). Inside
        // the body limit below, which it applies to the request body it hashes.
        .route_layer(axum::middleware::from_fn_with_state(cup, crate::cup::sign))
        .route(
            crate::cup::KEYS_PATH,
            get(|State(state): State<AppState>| async move { axum::Json(state.cup.listing()) }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            crate::openapi::PATH,
            get(|| async { axum::Json(crate::openapi::document()) }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn plain(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

async fn update(State(state): State<AppState>, body: Bytes) -> Response {
    let protocol = state.protocol.clone();
    answer(&state, protocol.as_ref(), &body).await
}

async fn update_json(State(state): State<AppState>, body: Bytes) -> Response {
    let protocol = state.json.clone();
    answer(&state, protocol.as_ref(), &body).await
}

/// An update request in `protocol`: decoded, answered by the service, encoded back.
async fn answer(state: &AppState, protocol: &dyn WireProtocol, body: &[u8]) -> Response {
    state.metrics.request();
    if body.iter().all(u8::is_ascii_whitespace) {
        state.metrics.error(ErrorKind::BadRequest);
        return plain(StatusCode::BAD_REQUEST, "empty request body".into());
    }
    let request = match protocol.decode(body) {
        Ok(request) => request,
        Err(err) => {
            state.metrics.error(ErrorKind::BadRequest);
            return plain(StatusCode::BAD_REQUEST, err.to_string());
        }
    };
    match state.service.answer(&request).await {
        Ok(answers) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, protocol.content_type())],
            protocol.encode(&request, &answers),
        )
            .into_response(),
        Err(err @ WriteError::Store(_)) => {
            tracing::error!(error = %err, "update request not stored");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the update service could not store this request; retry later".into(),
            )
        }
        Err(err @ (WriteError::Unavailable(_) | WriteError::Stopped)) => {
            tracing::warn!(error = %err, "update request not stored: the database is unavailable");
            state.metrics.error(ErrorKind::Unavailable);
            let mut response = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the update service's database is unavailable; retry later".into(),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            response
        }
    }
}
