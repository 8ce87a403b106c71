//! Webhook endpoints (an extension): the webhooks notifications go to, a test delivery, and
//! the delivery log (docs/notifications.md).

use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::changes::diff;
use crate::notify;
use crate::store::{DeliveryRecord, WebhookRecord, canonical_app_id};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use std::collections::HashMap;

/// The longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// `failureRatePercent` when 0 or absent.
pub const DEFAULT_FAILURE_RATE_PERCENT: f64 = 20.0;
/// `failureMinAttempts` when 0 or absent.
pub const DEFAULT_FAILURE_MIN_ATTEMPTS: i64 = 5;
/// `stalledAfterSecs` when 0 or absent.
pub const DEFAULT_STALLED_AFTER_SECS: i64 = rollout_core::stall::DEFAULT_THRESHOLD.as_secs();

fn webhook_json(record: &WebhookRecord) -> api::Webhook {
    api::Webhook {
        id: record.id.clone(),
        app_id: record.app_id.clone(),
        url: record.url.clone(),
        events: notify::event_names(&record.events)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        failure_rate_percent: record.failure_rate_percent,
        failure_min_attempts: record.failure_min_attempts,
        stalled_after_secs: record.stalled_after_secs,
        enabled: record.enabled,
        secret: String::new(),
        date_created: rfc3339(record.created_at),
    }
}

pub(crate) fn delivery_json(d: DeliveryRecord) -> api::WebhookDelivery {
    api::WebhookDelivery {
        id: d.id,
        hook_id: d.hook_id,
        event: d.event,
        app_id: d.app_id,
        group_id: d.group_id,
        next_attempt: if d.status == "pending" {
            rfc3339(d.next_attempt_at)
        } else {
            String::new()
        },
        status: d.status,
        attempts: d.attempts,
        last_status: d.last_status.unwrap_or(0),
        last_error: d.last_error,
        date_created: rfc3339(d.created_at),
        date_delivered: d.delivered_at.map(rfc3339).unwrap_or_default(),
        body: d.body,
    }
}

/// Checks a webhook body and fills in the defaults, over `record` (the stored webhook, or a
/// new one).
async fn apply(
    state: &AdminState,
    body: &serde_json::Value,
    mut record: WebhookRecord,
) -> Result<WebhookRecord, ApiError> {
    let hook: api::Webhook = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::Invalid(format!("invalid webhook: {e}")))?;
    let url = hook.url.trim();
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| ApiError::Invalid(format!("url {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::Invalid(format!(
            "url {url:?} must be an http:// or https:// URL with a host"
        )));
    }
    if url.len() > MAX_URL_LEN {
        return Err(ApiError::Invalid(format!(
            "url is longer than {MAX_URL_LEN} bytes"
        )));
    }
    let mut events: Vec<&str> = Vec::new();
    for event in &hook.events {
        let event = event.trim();
        if !notify::EVENTS.contains(&event) {
            return Err(ApiError::Invalid(format!(
                "unknown event {event:?}: the events are {}",
                notify::EVENTS.join(", ")
            )));
        }
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        events = notify::EVENTS.to_vec();
    }
    if !(0.0..=100.0).contains(&hook.failure_rate_percent) {
        return Err(ApiError::Invalid(
            "failureRatePercent must be between 0 and 100".into(),
        ));
    }
    if hook.failure_min_attempts < 0 || hook.stalled_after_secs < 0 {
        return Err(ApiError::Invalid(
            "failureMinAttempts and stalledAfterSecs must be 0 (the default) or more".into(),
        ));
    }
    if hook.stalled_after_secs != 0 && hook.stalled_after_secs < 60 {
        return Err(ApiError::Invalid(
            "stalledAfterSecs must be at least 60".into(),
        ));
    }
    let app_id = if hook.app_id.trim().is_empty() {
        String::new()
    } else {
        state.app(&hook.app_id).await?.id
    };
    record.app_id = app_id;
    record.url = url.to_owned();
    record.events = events.join(",");
    record.failure_rate_percent = if hook.failure_rate_percent == 0.0 {
        DEFAULT_FAILURE_RATE_PERCENT
    } else {
        hook.failure_rate_percent
    };
    record.failure_min_attempts = if hook.failure_min_attempts == 0 {
        DEFAULT_FAILURE_MIN_ATTEMPTS
    } else {
        hook.failure_min_attempts
    };
    record.stalled_after_secs = if hook.stalled_after_secs == 0 {
        DEFAULT_STALLED_AFTER_SECS
    } else {
        hook.stalled_after_secs
    };
    if body.get("enabled").is_some() {
        record.enabled = hook.enabled;
    }
    Ok(record)
}

async fn webhook(state: &AdminState, id: &str) -> Result<WebhookRecord, ApiError> {
    state
        .store
        .webhooks()
        .await?
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("webhook {id} not found")))
}

/// `GET webhooks[?appId=]`: the webhooks (of one app and the global ones), oldest first.
pub(crate) async fn list_webhooks(
    State(state): State<AdminState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<api::WebhookList> {
    let app = query
        .get("appId")
        .filter(|a| !a.is_empty())
        .map(|a| canonical_app_id(a));
    Ok(Json(api::WebhookList {
        items: state
            .store
            .webhooks()
            .await?
            .iter()
            .filter(|h| {
                app.as_ref()
                    .is_none_or(|a| h.app_id.is_empty() || &h.app_id == a)
            })
            .map(webhook_json)
            .collect(),
    }))
}

/// `POST webhooks`: a new webhook. The answer carries its signing secret, the only time it
/// is shown.
pub(crate) async fn create_webhook(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<api::Webhook> {
    if state.store.webhooks().await?.len() >= notify::MAX_WEBHOOKS {
        return Err(ApiError::Conflict(format!(
            "there are {} webhooks already, the most the service keeps",
            notify::MAX_WEBHOOKS
        )));
    }
    let secret = format!(
        "{}{}",
        crate::auth::generate_key(),
        crate::auth::generate_key()
    );
    let blank = WebhookRecord {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: String::new(),
        url: String::new(),
        events: String::new(),
        secret_sealed: state.secret.seal(&secret),
        failure_rate_percent: 0.0,
        failure_min_attempts: 0,
        stalled_after_secs: 0,
        enabled: true,
        created_at: state.now_ms(),
    };
    let record = apply(&state, &body, blank).await?;
    state.store.put_webhook(&record).await?;
    let detail = format!("webhook {} to {}", record.id, record.url);
    // The JSON's empty `secret` records that a secret was set, as `(secret)`.
    let changes = diff(None, Some(&webhook_json(&record)));
    state
        .log_changes(
            &actor,
            "webhook.create",
            &record.app_id,
            "",
            detail,
            changes,
        )
        .await;
    Ok(Json(api::Webhook {
        secret,
        ..webhook_json(&record)
    }))
}

/// `GET webhooks/{id}` (without its secret).
pub(crate) async fn get_webhook(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<api::Webhook> {
    Ok(Json(webhook_json(&webhook(&state, &id).await?)))
}

/// `PUT webhooks/{id}`: replaces a webhook's settings (its secret and creation time stay;
/// `enabled` absent keeps its value).
pub(crate) async fn update_webhook(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<api::Webhook> {
    let before = webhook(&state, &id).await?;
    let record = apply(&state, &body, before.clone()).await?;
    state.store.put_webhook(&record).await?;
    let detail = format!("webhook {} to {}", record.id, record.url);
    let changes = diff(Some(&webhook_json(&before)), Some(&webhook_json(&record)));
    state
        .log_changes(
            &actor,
            "webhook.update",
            &record.app_id,
            "",
            detail,
            changes,
        )
        .await;
    Ok(Json(webhook_json(&record)))
}

/// `DELETE webhooks/{id}`, with its deliveries.
pub(crate) async fn delete_webhook(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> ApiResult<api::Webhook> {
    let record = webhook(&state, &id).await?;
    state.store.delete_webhook(&id).await?;
    let detail = format!("webhook {} to {}", record.id, record.url);
    let changes = diff(Some(&webhook_json(&record)), None);
    state
        .log_changes(
            &actor,
            "webhook.delete",
            &record.app_id,
            "",
            detail,
            changes,
        )
        .await;
    Ok(Json(webhook_json(&record)))
}

/// `POST webhooks/{id}/test`: enqueues a `test` delivery (sent within a second, retried
/// like any other); answers it as enqueued.
pub(crate) async fn test_webhook(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<api::WebhookDelivery> {
    let record = webhook(&state, &id).await?;
    match notify::enqueue_test(state.store.as_ref(), &record, state.now_ms()).await? {
        Some(delivery) => Ok(Json(delivery_json(delivery))),
        None => Err(ApiError::Conflict(format!(
            "webhook {id} has {} deliveries pending already",
            notify::MAX_PENDING_PER_HOOK
        ))),
    }
}

/// `GET webhooks/{id}/deliveries[?limit=]`: its deliveries, newest first (at most 1000).
pub(crate) async fn list_deliveries(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<api::WebhookDeliveryList> {
    webhook(&state, &id).await?;
    let limit = query
        .get("limit")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    Ok(Json(api::WebhookDeliveryList {
        items: state
            .store
            .deliveries(Some(&id), limit)
            .await?
            .into_iter()
            .map(delivery_json)
            .collect(),
    }))
}
