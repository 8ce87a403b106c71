//! Notifications: webhooks told about automatic pauses, finished rollouts, failure rates
//! above a threshold and stalled rollouts (docs/notifications.md).
//!
//! Two passes run on every replica. **Detection** (every [`DETECT_INTERVAL`]) reads the
//! fleet's state from the store, turns it into events with [`detect`] and enqueues one
//! delivery per (webhook, event) in the store's outbox; each event has a key (its group,
//! and the pause's time, the target version, the hour or the stall's start), unique per
//! webhook, so an event that several replicas detect, or one replica detects on every
//! pass, is enqueued once.
//! **Delivery** (every [`DISPATCH_INTERVAL`]) claims due deliveries with a lease
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`), POSTs each signed body, and records the outcome:
//! delivered, retried after an exponential backoff, or failed after [`MAX_ATTEMPTS`].
//! Nothing is queued in memory: a replica that dies mid-delivery leaves a lease that runs
//! out, and another replica retries.

use crate::auth::Secret;
use crate::clock::rfc3339;
use crate::clock::{Clock, from_millis, millis};
use crate::policy::GroupPolicy;
use crate::store::{
    AttemptOutcome, DeliveryRecord, Enqueued, InstanceFilter, RollupKind, Store, StoreError,
    WebhookRecord,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// The events a webhook may receive.
pub const EVENTS: [&str; 4] = [AUTO_PAUSED, ROLLOUT_FINISHED, FAILURE_RATE, STALLED];
/// A group paused itself: its failures reached its threshold.
pub const AUTO_PAUSED: &str = "auto_paused";
/// Every instance of a group runs its channel's version.
pub const ROLLOUT_FINISHED: &str = "rollout_finished";
/// More than the webhook's percentage of a group's attempts failed in the last hour.
pub const FAILURE_RATE: &str = "failure_rate";
/// A group's rollout is stalled ([`rollout_core::stall`]): instances its policy would grant
/// still wait, and nothing happened for longer than the webhook's threshold and the policy
/// explain.
pub const STALLED: &str = "stalled";
/// A test delivery an operator asked for.
pub const TEST: &str = "test";

/// How often each replica looks for events.
pub const DETECT_INTERVAL: Duration = Duration::from_secs(10);
/// How often each replica looks for due deliveries.
pub const DISPATCH_INTERVAL: Duration = Duration::from_secs(1);
/// The most pending deliveries one webhook holds; events beyond it are dropped (logged).
pub const MAX_PENDING_PER_HOOK: i64 = 1000;
/// The most webhooks the service keeps.
pub const MAX_WEBHOOKS: usize = 100;
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// The first retry comes this long after a failed attempt; each next one twice as long.
pub const RETRY_BASE_MS: i64 = 5_000;
/// The longest wait between two attempts.
pub const RETRY_MAX_MS: i64 = 3_600_000;
/// The longest one attempt takes (connecting, sending, reading the status).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of an error answer's body is kept as the delivery's last error.
pub const ERROR_BODY_LIMIT: usize = 512;
/// Deliveries one replica claims at once (attempted concurrently).
const CLAIM_BATCH: i64 = 16;
/// How long a claim holds a delivery: longer than an attempt can take.
const LEASE_MS: i64 = 60_000;
/// Events older than this are not detected any more (and deliveries are kept longer, so
/// that their keys keep an event from being sent twice).
const LOOKBACK_MS: i64 = 24 * 3_600_000;
/// Delivered and failed deliveries are deleted after this long.
pub const KEEP_DELIVERIES_MS: i64 = 30 * 24 * 3_600_000;

/// The header carrying the attempt's unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "x-webhook-timestamp";
/// The header carrying `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>`.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";
/// The header carrying the delivery's id (the same on every attempt).
pub const ID_HEADER: &str = "x-webhook-id";
/// The header carrying the event's name.
pub const EVENT_HEADER: &str = "x-webhook-event";

/// What went wrong in a notification pass.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("cannot create the webhook HTTP client: {0}")]
    Client(String),
}

/// The signature of a delivery: the hex HMAC-SHA256, under the webhook's secret, of the
/// timestamp (unix seconds, decimal), a `.`, and the body.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How long after its `attempts`-th failed attempt a delivery is tried again.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    RETRY_BASE_MS
        .saturating_mul(1_i64 << doublings)
        .min(RETRY_MAX_MS)
}

/// The events a webhook's `events` text names (comma-separated).
pub fn event_names(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// What the detection knows about a group at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupFacts {
    /// The app's id.
    pub app_id: String,
    /// The group's id.
    pub group_id: String,
    /// The version its channel points at; `None` without one.
    pub target: Option<String>,
    /// Instances in the group.
    pub instances: i64,
    /// Of them, those running the target.
    pub on_target: i64,
    /// The group's policy (pause, percentage, timed rollout, rate limit, maintenance
    /// windows: what the stall rule reads).
    pub policy: GroupPolicy,
    /// Paused automatically.
    pub auto_paused: bool,
    /// Failed attempts (3/0) in the last hour.
    pub failures: i64,
    /// Completed attempts (3/2) in the last hour.
    pub completions: i64,
    /// Whether an attempt completed in the last day.
    pub completed_recently: bool,
    /// The newest grant, unix ms.
    pub last_grant_at: Option<i64>,
    /// The newest change of the group's configuration (or its creation), unix ms.
    pub changed_at: i64,
}

/// A webhook's thresholds, as [`detect`] needs them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// `failure_rate` above this percentage ...
    pub failure_rate_percent: f64,
    /// ... of at least this many attempts.
    pub failure_min_attempts: i64,
    /// `stalled` after this many seconds without progress (the stall rule's threshold).
    pub stalled_after_secs: i64,
}

/// An event detected for a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    /// Its name.
    pub event: &'static str,
    /// Its key: the same event has the same key on every pass and every replica.
    pub key: String,
    /// When it happened, unix ms.
    pub at: i64,
    /// What the receiver is told about it.
    pub details: serde_json::Value,
}

/// The `rollout_finished`, `failure_rate` and `stalled` events of a group at `now` (unix
/// ms) under a webhook's thresholds. Pure: the same facts give the same events. Every key
/// names the group, and:
///
/// - `rollout_finished`: every instance runs the target and an attempt completed within
///   the last day; keyed by the target, so once per version.
/// - `failure_rate`: at least `failure_min_attempts` attempts ended in the last hour and
///   more than `failure_rate_percent` % of them failed; keyed by the hour, so at most once
///   an hour while it lasts.
/// - `stalled`: the group's rollout is stalled by the rule of [`rollout_core::stall`], the
///   one the fleet overview applies, with `stalled_after_secs` as its threshold (progress is
///   the newest grant or configuration change); keyed by that progress, so once per stall,
///   and dated when it became one (a stall that began over a day ago is not reported any
///   more).
pub fn detect(facts: &GroupFacts, thresholds: &Thresholds, now: i64) -> Vec<Detected> {
    let mut events = Vec::new();
    let Some(target) = facts.target.as_deref() else {
        return events;
    };
    // Keys are unique per webhook: they name the group.
    let group = group_key(&facts.app_id, &facts.group_id);
    if facts.instances > 0 && facts.on_target == facts.instances && facts.completed_recently {
        events.push(Detected {
            event: ROLLOUT_FINISHED,
            key: format!("{ROLLOUT_FINISHED}:{group}:{target}"),
            at: now,
            details: serde_json::json!({
                "version": target,
                "instances": facts.instances,
            }),
        });
    }
    let attempts = facts.failures + facts.completions;
    if attempts > 0
        && attempts >= thresholds.failure_min_attempts
        && facts.failures as f64 * 100.0 > thresholds.failure_rate_percent * attempts as f64
    {
        let hour = now.div_euclid(3_600_000) * 3_600_000;
        events.push(Detected {
            event: FAILURE_RATE,
            key: format!("{FAILURE_RATE}:{group}:{hour}"),
            at: now,
            details: serde_json::json!({
                "failures": facts.failures,
                "attempts": attempts,
                "failureRatePercent": facts.failures as f64 * 100.0 / attempts as f64,
                "thresholdPercent": thresholds.failure_rate_percent,
                "windowSeconds": 3600,
            }),
        });
    }
    if let Some((since, stalled_at, allowed)) = stall(facts, thresholds, now)
        && now - stalled_at <= LOOKBACK_MS
    {
        events.push(Detected {
            event: STALLED,
            key: format!("{STALLED}:{group}:{since}"),
            at: stalled_at,
            details: serde_json::json!({
                "version": target,
                "behind": facts.instances - facts.on_target,
                "instances": facts.instances,
                "lastGrant": facts.last_grant_at.map(rfc3339),
                "expectedSeconds": allowed,
            }),
        });
    }
    events
}

/// The stall of a group with a target, by [`rollout_core::stalled_since`]: the progress it
/// is measured from, the moment it became a stall (both unix ms) and the allowance in
/// seconds; `None` when the group is not stalled (or its policy is unusable: it grants
/// nothing).
fn stall(facts: &GroupFacts, thresholds: &Thresholds, now: i64) -> Option<(i64, i64, i64)> {
    let policy = facts.policy.to_policy().ok()?;
    let since = facts.last_grant_at.unwrap_or(0).max(facts.changed_at);
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let stall = rollout_core::StallFacts {
        has_target: facts.target.is_some(),
        auto_paused: facts.auto_paused,
        instances: count(facts.instances),
        on_target: count(facts.on_target),
        last_progress: Some(from_millis(since)),
    };
    let threshold = jiff::SignedDuration::from_secs(thresholds.stalled_after_secs.max(0));
    let at = rollout_core::stalled_since(&policy, &stall, threshold, from_millis(now))?;
    let allowed = rollout_core::stall::allowance(&policy, threshold).as_secs();
    Some((since, millis(at), allowed))
}

/// A group's part of an event key: its app and id, each length-prefixed so that no two
/// groups share one whatever their ids hold.
fn group_key(app_id: &str, group_id: &str) -> String {
    format!("{}:{app_id}:{}:{group_id}", app_id.len(), group_id.len())
}

/// The JSON body of a delivery.
pub fn body(
    event: &str,
    app: (&str, &str),
    group: (&str, &str),
    at: i64,
    details: &serde_json::Value,
) -> String {
    serde_json::json!({
        "event": event,
        "appId": app.0,
        "appLabel": app.1,
        "groupId": group.0,
        "groupLabel": group.1,
        "time": rfc3339(at),
        "details": details,
    })
    .to_string()
}

/// The webhooks that receive `event` of `app_id`, enabled, created at or before `at`.
fn receivers<'a>(
    hooks: &'a [WebhookRecord],
    app_id: &'a str,
    event: &'a str,
    at: i64,
) -> impl Iterator<Item = &'a WebhookRecord> + 'a {
    hooks.iter().filter(move |h| {
        h.enabled
            && (h.app_id.is_empty() || h.app_id == app_id)
            && event_names(&h.events).contains(&event)
            && h.created_at <= at
    })
}

/// Enqueues a delivery of an event to a webhook; logs a full queue.
async fn enqueue(
    store: &dyn Store,
    hook: &WebhookRecord,
    event: &str,
    key: &str,
    (app_id, group_id): (&str, &str),
    body: String,
    now: i64,
) -> Result<bool, StoreError> {
    let delivery = DeliveryRecord {
        id: 0,
        hook_id: hook.id.clone(),
        event_key: key.to_owned(),
        event: event.to_owned(),
        app_id: app_id.to_owned(),
        group_id: group_id.to_owned(),
        body,
        created_at: now,
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: now,
        lease_until: None,
        last_status: None,
        last_error: String::new(),
        delivered_at: None,
    };
    match store
        .enqueue_delivery(&delivery, MAX_PENDING_PER_HOOK)
        .await?
    {
        Enqueued::New => Ok(true),
        Enqueued::Duplicate => Ok(false),
        Enqueued::QueueFull => {
            tracing::warn!(
                hook = %hook.id, event, key,
                "webhook queue full ({MAX_PENDING_PER_HOOK} pending): event dropped"
            );
            Ok(false)
        }
    }
}

/// Enqueues a test delivery to a webhook now; returns it.
pub async fn enqueue_test(
    store: &dyn Store,
    hook: &WebhookRecord,
    now: i64,
) -> Result<Option<DeliveryRecord>, StoreError> {
    let key = format!("{TEST}:{}", uuid::Uuid::new_v4());
    let details = serde_json::json!({ "message": "a test delivery" });
    let body = body(TEST, (&hook.app_id, ""), ("", ""), now, &details);
    let delivery = DeliveryRecord {
        id: 0,
        hook_id: hook.id.clone(),
        event_key: key.clone(),
        event: TEST.into(),
        app_id: hook.app_id.clone(),
        group_id: String::new(),
        body,
        created_at: now,
        status: "pending".into(),
        attempts: 0,
        next_attempt_at: now,
        lease_until: None,
        last_status: None,
        last_error: String::new(),
        delivered_at: None,
    };
    match store
        .enqueue_delivery(&delivery, MAX_PENDING_PER_HOOK)
        .await?
    {
        Enqueued::New => Ok(store
            .deliveries(Some(&hook.id), 50)
            .await?
            .into_iter()
            .find(|d| d.event_key == key)),
        Enqueued::Duplicate | Enqueued::QueueFull => Ok(None),
    }
}

/// One detection pass at the clock's `now`: enqueues the events of every group for the
/// webhooks that receive them. Returns how many deliveries it enqueued (0 when another
/// pass, here or on another replica, enqueued them first).
pub async fn detect_pass(store: &dyn Store, clock: &dyn Clock) -> Result<usize, NotifyError> {
    let hooks: Vec<WebhookRecord> = store
        .webhooks()
        .await?
        .into_iter()
        .filter(|h| h.enabled)
        .collect();
    if hooks.is_empty() {
        return Ok(0);
    }
    let now = millis(clock.now());
    let config = store.load_config().await?;
    let label_of = |app_id: &str| {
        config
            .apps
            .iter()
            .find(|a| a.id == app_id)
            .map(|a| a.label.clone())
            .unwrap_or_default()
    };
    let mut enqueued = 0;

    // Automatic pauses: the activity entries the writer logged with them.
    for entry in store
        .activity_by_action("group.autopause", now - LOOKBACK_MS, 1000)
        .await?
    {
        let label = config
            .groups
            .iter()
            .find(|g| g.app_id == entry.app_id && g.id == entry.group_id)
            .map(|g| g.label.clone())
            .unwrap_or_default();
        let group = group_key(&entry.app_id, &entry.group_id);
        let key = format!("{AUTO_PAUSED}:{group}:{}", entry.at);
        let details = serde_json::json!({ "reason": entry.detail });
        for hook in receivers(&hooks, &entry.app_id, AUTO_PAUSED, entry.at) {
            let body = body(
                AUTO_PAUSED,
                (&entry.app_id, &label_of(&entry.app_id)),
                (&entry.group_id, &label),
                entry.at,
                &details,
            );
            let ids = (entry.app_id.as_str(), entry.group_id.as_str());
            if enqueue(store, hook, AUTO_PAUSED, &key, ids, body, now).await? {
                enqueued += 1;
            }
        }
    }

    // The other events, from each watched group's facts.
    let watched = |app_id: &str| {
        hooks.iter().any(|h| {
            (h.app_id.is_empty() || h.app_id == app_id)
                && event_names(&h.events)
                    .iter()
                    .any(|e| [ROLLOUT_FINISHED, FAILURE_RATE, STALLED].contains(e))
        })
    };
    let groups: Vec<_> = config
        .groups
        .iter()
        .filter(|g| watched(&g.app_id))
        .collect();
    if groups.is_empty() {
        return Ok(enqueued);
    }
    let counts = store.version_counts(&InstanceFilter::default()).await?;
    let now_secs = now.div_euclid(1000);
    for group in groups {
        let Ok(policy) = GroupPolicy::from_json(&group.policy) else {
            continue;
        };
        let target = config
            .channels
            .iter()
            .find(|c| c.app_id == group.app_id && c.name == group.channel)
            .map(|c| c.version.clone())
            .filter(|v| !v.is_empty());
        let mine = counts
            .iter()
            .filter(|c| c.app_id == group.app_id && c.group_id == group.id);
        let (mut instances, mut on_target) = (0, 0);
        for count in mine {
            instances += count.count;
            if Some(&count.version) == target.as_ref() {
                on_target += count.count;
            }
        }
        let auto_paused = match store.group_state(&group.app_id, &group.id).await? {
            Some(state) => crate::writer::decode_state(&state.state)?
                .auto_pause
                .is_some(),
            None => false,
        };
        let (mut failures, mut completions) = (0, 0);
        for point in store
            .rollups(
                &group.app_id,
                &group.id,
                RollupKind::Events,
                60,
                now_secs - 3600,
                now_secs,
            )
            .await?
        {
            match point.event {
                Some((3, 0)) => failures += point.count,
                Some((3, 2)) => completions += point.count,
                _ => {}
            }
        }
        let completed_recently = completions > 0
            || store
                .rollups(
                    &group.app_id,
                    &group.id,
                    RollupKind::Events,
                    3600,
                    now_secs - LOOKBACK_MS / 1000,
                    now_secs,
                )
                .await?
                .iter()
                .any(|p| p.event == Some((3, 2)) && p.count > 0);
        let last_change = store
            .activity(Some(&group.app_id), 1, 0)
            .await?
            .first()
            .map_or(0, |e| e.at);
        let facts = GroupFacts {
            app_id: group.app_id.clone(),
            group_id: group.id.clone(),
            target,
            instances,
            on_target,
            policy,
            auto_paused,
            failures,
            completions,
            completed_recently,
            last_grant_at: store.last_grant(&group.app_id, &group.id).await?,
            changed_at: group.created_at.max(last_change),
        };
        let app_label = label_of(&group.app_id);
        for hook in &hooks {
            if !(hook.app_id.is_empty() || hook.app_id == group.app_id) {
                continue;
            }
            let thresholds = Thresholds {
                failure_rate_percent: hook.failure_rate_percent,
                failure_min_attempts: hook.failure_min_attempts,
                stalled_after_secs: hook.stalled_after_secs,
            };
            for event in detect(&facts, &thresholds, now) {
                if !event_names(&hook.events).contains(&event.event) || hook.created_at > event.at {
                    continue;
                }
                let body = body(
                    event.event,
                    (&group.app_id, &app_label),
                    (&group.id, &group.label),
                    event.at,
                    &event.details,
                );
                let ids = (group.app_id.as_str(), group.id.as_str());
                if enqueue(store, hook, event.event, &event.key, ids, body, now).await? {
                    enqueued += 1;
                }
            }
        }
    }
    Ok(enqueued)
}

/// Sends deliveries: an HTTP client with the bounds of one attempt, and the secret that
/// opens the webhooks' sealed secrets.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    secret: Secret,
    client: reqwest::Client,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher over the store. Redirects are followed only to the same scheme, host
    /// and port (at most 3); every attempt ends within [`ATTEMPT_TIMEOUT`].
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        secret: Secret,
    ) -> Result<Self, NotifyError> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().cloned();
            let same = first.as_ref().is_some_and(|first| {
                first.scheme() == attempt.url().scheme()
                    && first.host_str() == attempt.url().host_str()
                    && first.port_or_known_default() == attempt.url().port_or_known_default()
            });
            if attempt.previous().len() > 3 {
                attempt.error("more than 3 redirects")
            } else if same {
                attempt.follow()
            } else {
                attempt.error("redirect to another host refused")
            }
        });
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .redirect(redirects)
            .user_agent(concat!("update-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client(e.to_string()))?;
        Ok(Self {
            store,
            clock,
            secret,
            client,
        })
    }

    /// One delivery pass: claims the deliveries due now and attempts them concurrently.
    /// Returns how many were delivered.
    pub async fn dispatch(&self) -> Result<usize, NotifyError> {
        let now = millis(self.clock.now());
        if !self.store.has_due_delivery(now).await? {
            return Ok(0);
        }
        let lease_until = now + LEASE_MS;
        let claimed = self
            .store
            .claim_deliveries(now, lease_until, CLAIM_BATCH)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let hooks = self.store.webhooks().await?;
        let attempts = claimed.into_iter().map(|delivery| {
            let hook = hooks.iter().find(|h| h.id == delivery.hook_id).cloned();
            async move {
                let outcome = self.attempt(&delivery, hook.as_ref()).await;
                let delivered = outcome.status == "delivered";
                match self
                    .store
                    .finish_attempt(delivery.id, lease_until, &outcome)
                    .await
                {
                    Ok(true) => Ok(delivered),
                    Ok(false) => {
                        tracing::warn!(
                            delivery = delivery.id,
                            "webhook delivery lease ran out before its outcome was recorded"
                        );
                        Ok(false)
                    }
                    Err(err) => Err(err),
                }
            }
        });
        let mut delivered = 0;
        for result in futures_util::future::join_all(attempts).await {
            if result? {
                delivered += 1;
            }
        }
        Ok(delivered)
    }

    /// Makes one attempt and says what to record.
    async fn attempt(
        &self,
        delivery: &DeliveryRecord,
        hook: Option<&WebhookRecord>,
    ) -> AttemptOutcome {
        let attempts = delivery.attempts + 1;
        let result = match hook {
            None => Err((None, "the webhook no longer exists".to_owned())),
            Some(hook) => self.send(delivery, hook).await,
        };
        let now = millis(self.clock.now());
        match result {
            Ok(status) => AttemptOutcome {
                status: "delivered".into(),
                attempts,
                next_attempt_at: now,
                last_status: Some(status),
                last_error: String::new(),
                delivered_at: Some(now),
            },
            Err((status, error)) => {
                let give_up = attempts >= MAX_ATTEMPTS || hook.is_none();
                tracing::warn!(
                    delivery = delivery.id, hook = %delivery.hook_id, attempts, error,
                    "webhook delivery failed{}", if give_up { "; giving up" } else { "" }
                );
                AttemptOutcome {
                    status: if give_up { "failed" } else { "pending" }.into(),
                    attempts,
                    next_attempt_at: now + retry_delay_ms(attempts),
                    last_status: status,
                    last_error: error,
                    delivered_at: None,
                }
            }
        }
    }

    /// POSTs the delivery's body, signed; the receiver's status on a 2xx answer, else the
    /// status (if any) and why.
    async fn send(
        &self,
        delivery: &DeliveryRecord,
        hook: &WebhookRecord,
    ) -> Result<i64, (Option<i64>, String)> {
        let secret = self
            .secret
            .open(&hook.secret_sealed)
            .map_err(|e| (None, format!("cannot open the webhook's secret: {e}")))?;
        let timestamp = self.clock.now().as_second();
        let signature = signature(secret.as_bytes(), timestamp, delivery.body.as_bytes());
        let response = self
            .client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, format!("sha256={signature}"))
            .header(ID_HEADER, delivery.id.to_string())
            .header(EVENT_HEADER, &delivery.event)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| (None, error_chain(&e)))?;
        let status = i64::from(response.status().as_u16());
        if response.status().is_success() {
            return Ok(status);
        }
        // Read a little of the answer for the log: never more than the limit.
        let mut response = response;
        let mut text = Vec::new();
        while text.len() < ERROR_BODY_LIMIT {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, response.chunk()).await {
                Ok(Ok(Some(chunk))) => text.extend_from_slice(&chunk),
                _ => break,
            }
        }
        text.truncate(ERROR_BODY_LIMIT);
        let text = String::from_utf8_lossy(&text);
        let text: String = text.chars().filter(|c| !c.is_control()).collect();
        let text = text.trim();
        if text.is_empty() {
            Err((Some(status), format!("HTTP {status}")))
        } else {
            Err((Some(status), format!("HTTP {status}: {text}")))
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        text.push_str(": ");
        text.push_str(&err.to_string());
        cause = err.source();
    }
    text
}

/// Runs detection every `detect_every`, delivery every `dispatch_every`, and prunes old
/// deliveries hourly, until `stop` fires; failures are logged and the next tick tries
/// again.
pub fn spawn(
    dispatcher: Dispatcher,
    detect_every: Duration,
    dispatch_every: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut detect_tick = tokio::time::interval(detect_every);
        detect_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dispatch_tick = tokio::time::interval(dispatch_every);
        dispatch_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune_tick = tokio::time::interval(Duration::from_secs(3600));
        prune_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = detect_tick.tick() => {
                    let store = dispatcher.store.as_ref();
                    if let Err(err) = detect_pass(store, dispatcher.clock.as_ref()).await {
                        tracing::warn!(error = %err, "notification detection failed; will retry");
                    }
                }
                _ = dispatch_tick.tick() => {
                    if let Err(err) = dispatcher.dispatch().await {
                        tracing::warn!(error = %err, "webhook delivery pass failed; will retry");
                    }
                }
                _ = prune_tick.tick() => {
                    let before = millis(dispatcher.clock.now()) - KEEP_DELIVERIES_MS;
                    if let Err(err) = dispatcher.store.prune_deliveries(before, 1000).await {
                        tracing::warn!(error = %err, "pruning webhook deliveries failed");
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn thresholds() -> Thresholds {
        Thresholds {
            failure_rate_percent: 20.0,
            failure_min_attempts: 5,
            stalled_after_secs: 3600,
        }
    }

    fn rolling() -> GroupFacts {
        GroupFacts {
            app_id: "app".into(),
            group_id: "prod".into(),
            target: Some("2.0.0".into()),
            instances: 10,
            on_target: 4,
            completions: 4,
            completed_recently: true,
            last_grant_at: Some(10 * HOUR),
            changed_at: HOUR,
            ..GroupFacts::default()
        }
    }

    fn names(events: &[Detected]) -> Vec<&str> {
        events.iter().map(|e| e.event).collect()
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The framing: the MAC of "<timestamp>.<body>", computed apart from `signature`.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(signature(b"Jefe", 1_700_000_000, b"{\"a\":1}"), expected);
        assert_ne!(signature(b"Jefe", 1_700_000_001, b"{\"a\":1}"), expected);
        assert_ne!(signature(b"jefe", 1_700_000_000, b"{\"a\":1}"), expected);
        // RFC 4231 test case 2, to pin the primitive itself.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        assert_eq!(retry_delay_ms(1), 5_000);
        assert_eq!(retry_delay_ms(2), 10_000);
        assert_eq!(retry_delay_ms(3), 20_000);
        assert_eq!(retry_delay_ms(20), RETRY_MAX_MS);
        assert_eq!(retry_delay_ms(i64::MAX), RETRY_MAX_MS);
        assert_eq!(retry_delay_ms(0), RETRY_BASE_MS);
    }

    #[test]
    fn a_rolling_group_raises_nothing() {
        assert!(detect(&rolling(), &thresholds(), 10 * HOUR + 60_000).is_empty());
    }

    #[test]
    fn a_finished_rollout_is_keyed_by_its_version() {
        let facts = GroupFacts {
            on_target: 10,
            ..rolling()
        };
        let events = detect(&facts, &thresholds(), 11 * HOUR);
        assert_eq!(names(&events), [ROLLOUT_FINISHED]);
        assert_eq!(events[0].key, "rollout_finished:3:app:4:prod:2.0.0");
        // Another group's finish is another event.
        let other = GroupFacts {
            group_id: "beta".into(),
            ..facts.clone()
        };
        assert_ne!(
            detect(&other, &thresholds(), 11 * HOUR)[0].key,
            events[0].key
        );
        // Without a recent completion (the fleet was there all along): nothing.
        let idle = GroupFacts {
            completed_recently: false,
            ..facts
        };
        assert!(detect(&idle, &thresholds(), 11 * HOUR).is_empty());
    }

    #[test]
    fn the_failure_rate_fires_above_the_threshold_once_an_hour() {
        let facts = GroupFacts {
            failures: 2,
            completions: 8,
            ..rolling()
        };
        // 20 % is not above 20 %.
        assert!(detect(&facts, &thresholds(), 10 * HOUR + 1).is_empty());
        let facts = GroupFacts {
            failures: 3,
            completions: 7,
            ..rolling()
        };
        let a = detect(&facts, &thresholds(), 10 * HOUR + 1);
        let b = detect(&facts, &thresholds(), 10 * HOUR + 59 * 60_000);
        let c = detect(&facts, &thresholds(), 11 * HOUR + 1);
        assert_eq!(names(&a), [FAILURE_RATE]);
        assert_eq!(a[0].key, b[0].key, "the same hour, the same event");
        assert_ne!(a[0].key, c[0].key, "the next hour, another one");
        // Too few attempts to judge.
        let few = GroupFacts {
            failures: 2,
            completions: 0,
            ..rolling()
        };
        assert!(detect(&few, &thresholds(), 10 * HOUR + 1).is_empty());
    }

    #[test]
    fn a_stall_is_reported_once_after_the_expected_time() {
        let facts = rolling();
        let last_grant = 10 * HOUR;
        assert!(detect(&facts, &thresholds(), last_grant + HOUR).is_empty());
        let events = detect(&facts, &thresholds(), last_grant + HOUR + 1);
        assert_eq!(names(&events), [STALLED]);
        assert_eq!(events[0].key, format!("stalled:3:app:4:prod:{last_grant}"));
        assert_eq!(events[0].at, last_grant + HOUR);
        let later = detect(&facts, &thresholds(), last_grant + 5 * HOUR);
        assert_eq!(later[0].key, events[0].key, "the same stall");
        // Over a day old: no longer reported.
        assert!(detect(&facts, &thresholds(), last_grant + 26 * HOUR).is_empty());
        // A rate limit of one grant per 2 hours expects longer.
        // A rate limit of one grant per 2 hours: a check interval and the rate limit's
        // interval, 3 hours.
        let slow = GroupFacts {
            policy: GroupPolicy {
                update_pooling: true,
                update_count: 1,
                update_interval_secs: 7200,
                ..GroupPolicy::default()
            },
            ..rolling()
        };
        assert!(detect(&slow, &thresholds(), last_grant + 3 * HOUR).is_empty());
        assert_eq!(
            detect(&slow, &thresholds(), last_grant + 3 * HOUR + 1)[0].at,
            last_grant + 3 * HOUR
        );
        assert_eq!(
            names(&detect(&slow, &thresholds(), last_grant + 4 * HOUR + 1)),
            [STALLED]
        );
    }

    #[test]
    fn a_group_waiting_as_configured_does_not_stall() {
        let now = 20 * HOUR;
        let policy = |p: GroupPolicy| GroupFacts {
            policy: p,
            ..rolling()
        };
        // Maintenance windows on Thursdays from 02:00 to 04:00 UTC (the epoch was a
        // Thursday): the last grant at 10:00 on day 0, the windows closed since.
        let thursdays = GroupPolicy {
            maintenance: Some(crate::policy::MaintenanceDoc {
                time_zone: "UTC".into(),
                windows: vec![crate::policy::WindowDoc {
                    weekdays: vec!["thu".into()],
                    start_hour: 2,
                    end_hour: 4,
                }],
            }),
            ..GroupPolicy::default()
        };
        for facts in [
            policy(GroupPolicy {
                paused: true,
                ..GroupPolicy::default()
            }),
            GroupFacts {
                auto_paused: true,
                ..rolling()
            },
            // 50 % of 10 admits 5, all on the target: the rest wait for more.
            GroupFacts {
                on_target: 5,
                ..policy(GroupPolicy {
                    update_percent: 50.0,
                    ..GroupPolicy::default()
                })
            },
            policy(thursdays.clone()),
            GroupFacts {
                target: None,
                ..rolling()
            },
        ] {
            assert!(detect(&facts, &thresholds(), now).is_empty(), "{facts:?}");
        }
        // A configuration change restarts the wait.
        let changed = GroupFacts {
            changed_at: 19 * HOUR + 30 * 60_000,
            ..rolling()
        };
        assert!(detect(&changed, &thresholds(), now).is_empty());
        // The same rule as the overview: below 100 %, instances the percentage admits that
        // wait are a stall (this used to be ignored below 100 %) ...
        let half = policy(GroupPolicy {
            update_percent: 50.0,
            ..GroupPolicy::default()
        });
        assert_eq!(names(&detect(&half, &thresholds(), now)), [STALLED]);
        // ... and so are windows that opened and passed without a grant: next Thursday's
        // window (day 7, 02:00) counts its first hour, and the stall begins at 03:00.
        let day7 = 7 * 24 * HOUR;
        let events = detect(&policy(thursdays), &thresholds(), day7 + 5 * HOUR);
        assert_eq!(names(&events), [STALLED]);
        assert_eq!(events[0].at, day7 + 3 * HOUR);
        assert_eq!(events[0].key, format!("stalled:3:app:4:prod:{}", 10 * HOUR));
    }
}
