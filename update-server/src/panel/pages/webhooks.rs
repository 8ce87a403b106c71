//! The webhooks page: the webhooks notifications go to, a form to add one, test and delete
//! buttons, and each webhook's delivery log. Changes go through the admin API's handlers.

use crate::admin::{Actor, ApiError, webhooks as admin_webhooks};
use crate::api;
use crate::notify;
use crate::panel::PanelState;
use crate::panel::html::{self, csrf_field, esc, page, url};
use crate::panel::session::{CSRF_FIELD, Session};
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use std::collections::HashMap;
use std::fmt::Write as _;

type Params = HashMap<String, String>;

/// What the last action did, shown above the list.
struct Flash {
    ok: bool,
    text: String,
}

fn flash_html(flash: Option<&Flash>) -> String {
    flash.map_or_else(String::new, |f| {
        format!(
            r#"<p class="{}" role="{}" id="flash">{}</p>"#,
            if f.ok { "ok" } else { "error" },
            if f.ok { "status" } else { "alert" },
            esc(&f.text)
        )
    })
}

/// `GET /webhooks`.
pub(crate) async fn list(
    State(state): State<PanelState>,
    session: Session,
    Query(query): Query<Params>,
) -> Response {
    let flash = query.get("saved").map(|what| Flash {
        ok: true,
        text: match what.as_str() {
            "deleted" => "The webhook is deleted.".to_owned(),
            "test" => "A test delivery is on its way: see its log.".to_owned(),
            _ => "The webhook is saved.".to_owned(),
        },
    });
    list_page(&state, &session, flash, StatusCode::OK).await
}

async fn list_page(
    state: &PanelState,
    session: &Session,
    flash: Option<Flash>,
    status: StatusCode,
) -> Response {
    let hooks = match admin_webhooks::list_webhooks(
        State(state.admin.clone()),
        Query(HashMap::new()),
    )
    .await
    {
        Ok(Json(list)) => list.items,
        Err(err) => return html::internal_error(Some(session), &err),
    };
    let snapshot = state.admin.cache.snapshot();
    let csrf = csrf_field(session);
    let mut rows = String::new();
    for hook in &hooks {
        let app = if hook.app_id.is_empty() {
            "every application".to_owned()
        } else {
            let label = snapshot
                .app(&hook.app_id)
                .and_then(|e| e.record.as_ref())
                .map_or_else(|| hook.app_id.clone(), |r| r.label.clone());
            format!(
                r#"<a href="/apps/{}">{}</a>"#,
                url(&hook.app_id),
                esc(&label)
            )
        };
        let idq = url(&hook.id);
        let _ = write!(
            rows,
            r#"<tr data-hook="{id}"><th scope="row"><a href="/webhooks/{idq}">{url}</a></th><td>{app}</td><td>{events}</td><td>above {rate} % of {min}+ attempts an hour</td><td>{stalled} s</td><td>{enabled}</td><td><form class="inline" method="post" action="/webhooks/{idq}/test">{csrf}<button type="submit">Send a test</button></form> <form class="inline" method="post" action="/webhooks/{idq}/delete">{csrf}<button type="submit" class="danger">Delete</button></form></td></tr>"#,
            id = esc(&hook.id),
            url = esc(&hook.url),
            events = esc(&hook.events.join(", ")),
            rate = hook.failure_rate_percent,
            min = hook.failure_min_attempts,
            stalled = hook.stalled_after_secs,
            enabled = if hook.enabled { "yes" } else { "no (disabled)" },
        );
    }
    if hooks.is_empty() {
        rows = r#"<tr><td colspan="7" class="muted">No webhooks.</td></tr>"#.to_owned();
    }
    let mut app_options = r#"<option value="">Every application</option>"#.to_owned();
    let mut apps: Vec<_> = snapshot
        .apps
        .values()
        .filter_map(|e| e.record.as_ref())
        .collect();
    apps.sort_by(|a, b| a.label.cmp(&b.label).then_with(|| a.id.cmp(&b.id)));
    for record in apps {
        {
            let _ = write!(
                app_options,
                r#"<option value="{}">{}</option>"#,
                esc(&record.id),
                esc(if record.label.is_empty() {
                    &record.id
                } else {
                    &record.label
                })
            );
        }
    }
    let mut events = String::new();
    for event in notify::EVENTS {
        let _ = write!(
            events,
            r#"<label class="check" for="ev-{event}"><input id="ev-{event}" name="event_{event}" type="checkbox" checked> {event}</label>"#
        );
    }
    let body = format!(
        r#"<h1>Webhooks</h1>
{flash}
<p class="muted">Each event is POSTed as JSON, signed with HMAC-SHA256 under the webhook's secret (headers <code>X-Webhook-Timestamp</code> and <code>X-Webhook-Signature</code>), and retried with exponential backoff up to {attempts} attempts.</p>
<div class="table-wrap"><table id="webhooks">
<thead><tr><th scope="col">URL</th><th scope="col">Application</th><th scope="col">Events</th><th scope="col">Failure rate</th><th scope="col">Stalled after</th><th scope="col">Enabled</th><th scope="col">Actions</th></tr></thead>
<tbody>{rows}</tbody></table></div>
<h2>Add a webhook</h2>
<form class="stack" method="post" action="/webhooks" id="webhook-form">{csrf}
<div class="fields">
<label for="f-url">URL<input id="f-url" name="url" type="url" required placeholder="https://hooks.example.com/update-service"></label>
<label for="f-app">Application<select id="f-app" name="appId">{app_options}</select></label>
<label for="f-rate">Failure rate above (%)<input id="f-rate" name="failureRatePercent" inputmode="decimal" placeholder="20"></label>
<label for="f-min">Of at least (attempts)<input id="f-min" name="failureMinAttempts" inputmode="numeric" placeholder="5"></label>
<label for="f-stalled">Stalled after (seconds)<input id="f-stalled" name="stalledAfterSecs" inputmode="numeric" placeholder="3600"></label>
</div>
<fieldset><legend>Events</legend><div class="fields">{events}</div></fieldset>
<button type="submit">Add the webhook</button>
</form>"#,
        flash = flash_html(flash.as_ref()),
        attempts = notify::MAX_ATTEMPTS,
    );
    page(status, "Webhooks", Some(session), &body)
}

fn number(form: &Params, name: &str) -> Result<serde_json::Value, ApiError> {
    let text = form.get(name).map_or("", |v| v.trim());
    if text.is_empty() {
        return Ok(serde_json::json!(0));
    }
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 => {
            Ok(serde_json::json!(n as i64))
        }
        Ok(n) if n.is_finite() => Ok(serde_json::json!(n)),
        _ => Err(ApiError::Invalid(format!(
            "{name} must be a number, not {text:?}"
        ))),
    }
}

/// `POST /webhooks`: adds a webhook; the page shows its secret once.
pub(crate) async fn create(
    State(state): State<PanelState>,
    session: Session,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let events: Vec<&str> = notify::EVENTS
        .into_iter()
        .filter(|e| form.contains_key(&format!("event_{e}")))
        .collect();
    let body = (|| -> Result<serde_json::Value, ApiError> {
        if events.is_empty() {
            return Err(ApiError::Invalid("choose at least one event".into()));
        }
        Ok(serde_json::json!({
            "url": form.get("url").map_or("", |v| v.trim()),
            "appId": form.get("appId").map_or("", |v| v.trim()),
            "events": events,
            "failureRatePercent": number(&form, "failureRatePercent")?,
            "failureMinAttempts": number(&form, "failureMinAttempts")?,
            "stalledAfterSecs": number(&form, "stalledAfterSecs")?,
        }))
    })();
    let result = match body {
        Ok(body) => admin_webhooks::create_webhook(
            State(state.admin.clone()),
            Extension(Actor(session.principal.clone())),
            Json(body),
        )
        .await
        .map(|Json(hook)| hook),
        Err(err) => Err(err),
    };
    match result {
        Ok(hook) => {
            let flash = Flash {
                ok: true,
                text: format!(
                    "The webhook is saved. Its signing secret, shown only now: {}",
                    hook.secret
                ),
            };
            list_page(&state, &session, Some(flash), StatusCode::OK).await
        }
        Err(err) => failure(&state, &session, err).await,
    }
}

async fn failure(state: &PanelState, session: &Session, err: ApiError) -> Response {
    match err {
        ApiError::Invalid(text) | ApiError::Conflict(text) => {
            let flash = Flash { ok: false, text };
            list_page(state, session, Some(flash), StatusCode::BAD_REQUEST).await
        }
        ApiError::NotFound(text) => html::not_found(Some(session), &text),
        err => html::internal_error(Some(session), &err),
    }
}

/// `POST /webhooks/{id}/delete`.
pub(crate) async fn delete(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    match admin_webhooks::delete_webhook(
        State(state.admin.clone()),
        Extension(Actor(session.principal.clone())),
        Path(id),
    )
    .await
    {
        Ok(_) => Redirect::to("/webhooks?saved=deleted").into_response(),
        Err(err) => failure(&state, &session, err).await,
    }
}

/// `POST /webhooks/{id}/test`: enqueues a test delivery, then shows the delivery log.
pub(crate) async fn test(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    match admin_webhooks::test_webhook(State(state.admin.clone()), Path(id.clone())).await {
        Ok(_) => Redirect::to(&format!("/webhooks/{}?saved=test", url(&id))).into_response(),
        Err(err) => failure(&state, &session, err).await,
    }
}

/// `POST /webhooks/{id}/enabled`: turns a webhook on or off (field `enabled`).
pub(crate) async fn enabled(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<Params>,
) -> Response {
    if let Some(refused) = session.csrf_refusal(&state.key, form.get(CSRF_FIELD)) {
        return refused;
    }
    let current =
        match admin_webhooks::get_webhook(State(state.admin.clone()), Path(id.clone())).await {
            Ok(Json(hook)) => hook,
            Err(err) => return failure(&state, &session, err).await,
        };
    let body = serde_json::json!({
        "url": current.url,
        "appId": current.app_id,
        "events": current.events,
        "failureRatePercent": current.failure_rate_percent,
        "failureMinAttempts": current.failure_min_attempts,
        "stalledAfterSecs": current.stalled_after_secs,
        "enabled": form.get("enabled").is_some_and(|v| v == "true"),
    });
    match admin_webhooks::update_webhook(
        State(state.admin.clone()),
        Extension(Actor(session.principal.clone())),
        Path(id.clone()),
        Json(body),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/webhooks/{}?saved=webhook", url(&id))).into_response(),
        Err(err) => failure(&state, &session, err).await,
    }
}

/// `GET /webhooks/{id}`: a webhook and its delivery log, newest first.
pub(crate) async fn deliveries(
    State(state): State<PanelState>,
    session: Session,
    Path(id): Path<String>,
    Query(query): Query<Params>,
) -> Response {
    let hook = match admin_webhooks::get_webhook(State(state.admin.clone()), Path(id.clone())).await
    {
        Ok(Json(hook)) => hook,
        Err(ApiError::NotFound(text)) => return html::not_found(Some(&session), &text),
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let items: Vec<api::WebhookDelivery> = match admin_webhooks::list_deliveries(
        State(state.admin.clone()),
        Path(id.clone()),
        Query(HashMap::from([("limit".to_owned(), "200".to_owned())])),
    )
    .await
    {
        Ok(Json(list)) => list.items,
        Err(err) => return html::internal_error(Some(&session), &err),
    };
    let flash = query.get("saved").map(|what| Flash {
        ok: true,
        text: if what == "test" {
            "A test delivery is on its way (reload to see how it went).".to_owned()
        } else {
            "The webhook is saved.".to_owned()
        },
    });
    let mut rows = String::new();
    for d in &items {
        let _ = write!(
            rows,
            r#"<tr data-delivery="{id}" data-status="{status}"><td class="num">{id}</td><td><code>{event}</code></td><td>{group}</td><td><strong class="{class}">{status}</strong></td><td class="num">{attempts}</td><td>{last_status}</td><td>{error}</td><td>{created}</td><td>{when}</td></tr>"#,
            id = d.id,
            event = esc(&d.event),
            group = esc(&d.group_id),
            class = match d.status.as_str() {
                "delivered" => "ok",
                "failed" => "error",
                _ => "muted",
            },
            status = esc(&d.status),
            attempts = d.attempts,
            last_status = if d.last_status == 0 {
                String::new()
            } else {
                d.last_status.to_string()
            },
            error = esc(&d.last_error),
            created = esc(&d.date_created),
            when = esc(if d.status == "pending" {
                &d.next_attempt
            } else {
                &d.date_delivered
            }),
        );
    }
    if items.is_empty() {
        rows = r#"<tr><td colspan="9" class="muted">Nothing sent yet.</td></tr>"#.to_owned();
    }
    let csrf = csrf_field(&session);
    let idq = url(&hook.id);
    let toggle = format!(
        r#"<form class="inline" method="post" action="/webhooks/{idq}/enabled">{csrf}<input type="hidden" name="enabled" value="{value}"><button type="submit">{label}</button></form> <form class="inline" method="post" action="/webhooks/{idq}/test">{csrf}<button type="submit">Send a test</button></form>"#,
        value = !hook.enabled,
        label = if hook.enabled { "Disable" } else { "Enable" },
    );
    let body = format!(
        r#"<p><a href="/webhooks">Webhooks</a></p>
<h1>Webhook {url}</h1>
{flash}
<p>Events: {events}. {state}. {toggle}</p>
<h2>Deliveries</h2>
<div class="table-wrap"><table id="deliveries">
<thead><tr><th scope="col">Id</th><th scope="col">Event</th><th scope="col">Group</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last HTTP status</th><th scope="col">Last error</th><th scope="col">Enqueued</th><th scope="col">Delivered, or next attempt</th></tr></thead>
<tbody>{rows}</tbody></table></div>"#,
        url = esc(&hook.url),
        flash = flash_html(flash.as_ref()),
        events = esc(&hook.events.join(", ")),
        state = if hook.enabled {
            "Enabled"
        } else {
            "Disabled: no new events are sent"
        },
    );
    page(StatusCode::OK, "Webhook", Some(&session), &body)
}
