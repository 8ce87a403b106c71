//! `webhook`: the webhooks notifications go to, test deliveries and the delivery log.

use reqwest::Method;
use update_api::api::{Webhook, WebhookDelivery, WebhookDeliveryList, WebhookList};

use crate::Error;
use crate::cli::{WebhookCommand, WebhookSettings};
use crate::client::Client;
use crate::output::Output;

const NO_BODY: Option<&()> = None;
const HEADER: &str = "Id\tApp\tUrl\tEvents\tFailure rate\tStalled after\tEnabled";
const DELIVERY_HEADER: &str =
    "Id\tEvent\tApp\tGroup\tStatus\tAttempts\tLast status\tLast error\tCreated\tDelivered";

fn row(h: &Webhook) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}% of {}+\t{}s\t{}",
        h.id,
        if h.app_id.is_empty() {
            "(all)"
        } else {
            &h.app_id
        },
        h.url,
        h.events.join(","),
        h.failure_rate_percent,
        h.failure_min_attempts,
        h.stalled_after_secs,
        h.enabled
    )
}

fn delivery_row(d: &WebhookDelivery) -> String {
    let error: String = d
        .last_error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        d.id,
        d.event,
        d.app_id,
        d.group_id,
        d.status,
        d.attempts,
        if d.last_status == 0 {
            String::new()
        } else {
            d.last_status.to_string()
        },
        error,
        d.date_created,
        d.date_delivered
    )
}

/// The JSON body of a create or update: the settings given over `base`.
fn body(base: serde_json::Value, url: Option<String>, s: WebhookSettings) -> serde_json::Value {
    let mut body = base;
    let set = |body: &mut serde_json::Value, key: &str, value: serde_json::Value| {
        if let Some(map) = body.as_object_mut() {
            map.insert(key.to_owned(), value);
        }
    };
    if let Some(url) = url {
        set(&mut body, "url", url.into());
    }
    if let Some(app) = s.app_id {
        set(&mut body, "appId", app.into());
    }
    if let Some(events) = s.events {
        set(&mut body, "events", events.into());
    }
    if let Some(p) = s.failure_rate_percent {
        set(&mut body, "failureRatePercent", p.into());
    }
    if let Some(n) = s.failure_min_attempts {
        set(&mut body, "failureMinAttempts", n.into());
    }
    if let Some(n) = s.stalled_after {
        set(&mut body, "stalledAfterSecs", n.into());
    }
    if s.disable {
        set(&mut body, "enabled", false.into());
    } else if s.enable {
        set(&mut body, "enabled", true.into());
    }
    body
}

/// Runs a `webhook` command.
///
/// # Errors
/// The API's or the transport's.
pub async fn webhook(client: &Client, command: WebhookCommand) -> Result<Output, Error> {
    let one = |h: Webhook| Output::table(HEADER, std::slice::from_ref(&h), row, &h);
    match command {
        WebhookCommand::Create { url, settings } => {
            let body = body(serde_json::json!({}), Some(url), settings);
            // Sent as given: `enabled: false` must not be left out as empty.
            let hook: Webhook = client
                .call_raw(Method::POST, &["webhooks"], &[], Some(&body))
                .await?;
            let mut output = one(hook.clone());
            output.lines.push(String::new());
            output.lines.push(format!(
                "Secret: {} (shown only now: receivers check signatures with it)",
                hook.secret
            ));
            Ok(output)
        }
        WebhookCommand::Update { id, url, settings } => {
            let current: Webhook = client
                .call(Method::GET, &["webhooks", &id], &[], NO_BODY)
                .await?;
            let mut base = serde_json::to_value(&current).unwrap_or_default();
            if let Some(map) = base.as_object_mut() {
                map.remove("secret");
                map.remove("dateCreated");
            }
            let body = body(base, url, settings);
            Ok(one(client
                .call_raw(Method::PUT, &["webhooks", &id], &[], Some(&body))
                .await?))
        }
        WebhookCommand::List { app_id } => {
            let query: Vec<(&str, String)> = app_id.into_iter().map(|a| ("appId", a)).collect();
            let list: WebhookList = client
                .call(Method::GET, &["webhooks"], &query, NO_BODY)
                .await?;
            Ok(Output::table(HEADER, &list.items, row, &list.items))
        }
        WebhookCommand::Delete { id } => Ok(one(client
            .call(Method::DELETE, &["webhooks", &id], &[], NO_BODY)
            .await?)),
        WebhookCommand::Test { id } => {
            let delivery: WebhookDelivery = client
                .call(Method::POST, &["webhooks", &id, "test"], &[], NO_BODY)
                .await?;
            Ok(Output::table(
                DELIVERY_HEADER,
                std::slice::from_ref(&delivery),
                delivery_row,
                &delivery,
            ))
        }
        WebhookCommand::Deliveries { id, limit } => {
            let list: WebhookDeliveryList = client
                .call(
                    Method::GET,
                    &["webhooks", &id, "deliveries"],
                    &[("limit", limit.to_string())],
                    NO_BODY,
                )
                .await?;
            Ok(Output::table(
                DELIVERY_HEADER,
                &list.items,
                delivery_row,
                &list.items,
            ))
        }
    }
}
