//! Notifications end to end, on SQLite and PostgreSQL: a webhook receiver on 127.0.0.1
//! port 0 gets each event of a rollout (automatic pause, failure rate, rollout finished)
//! exactly once, signed; it fails the first two attempts of every delivery and gets each
//! on the third, after the backoff on the virtual clock; the delivery log says so. On
//! PostgreSQL a second replica detecting and delivering at the same time changes nothing.

use crate::support::{APP, TestServer};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use omaha_proto::Request;
use omaha_proto::codes::UpdateCheckStatus;
use omaha_proto::request::{App, Event, Os};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use update_server::clock::Clock as _;
use update_server::policy::{AutoPauseDoc, GroupPolicy};

const V1: &str = "/_ah/api/update/v1";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    event: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
    answered: u16,
}

/// A webhook receiver that answers 500 to the first two attempts of each delivery (by
/// `X-Webhook-Id`) and 204 to the next.
#[derive(Clone, Default)]
struct Receiver {
    log: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let log = self.log.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let id = header("x-webhook-id");
                    let mut log = log.lock().unwrap();
                    let tries = log.iter().filter(|r| r.id == id).count();
                    let answered = if tries < 2 { 500 } else { 204 };
                    log.push(Received {
                        id,
                        event: header("x-webhook-event"),
                        timestamp: header("x-webhook-timestamp").parse().unwrap_or(0),
                        signature: header("x-webhook-signature"),
                        body: body.to_vec(),
                        answered,
                    });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The bodies accepted (answered 2xx), by event.
    fn accepted(&self) -> HashMap<String, Vec<Value>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for r in self.received().iter().filter(|r| r.answered < 300) {
            out.entry(r.event.clone())
                .or_default()
                .push(serde_json::from_slice(&r.body).unwrap());
        }
        out
    }
}

/// Verifies a request's signature as a receiver does: HMAC-SHA256 under the secret of
/// `<timestamp>.<body>`, hex, in `sha256=...`.
fn verify(secret: &str, r: &Received) -> bool {
    let Some(hex) = r.signature.strip_prefix("sha256=") else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.", r.timestamp).as_bytes());
    mac.update(&r.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == hex
}

fn policy() -> GroupPolicy {
    GroupPolicy {
        // One failure among the last two attempts pauses the group.
        auto_pause: Some(AutoPauseDoc {
            failures_count: Some(1),
            failures_percent: None,
            last_attempts: 2,
            count_timeouts: false,
        }),
        retry_delay_secs: 0,
        ..GroupPolicy::default()
    }
}

fn request(machine: &str, version: &str, app: impl FnOnce(App) -> App) -> Request {
    Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(app(App::new(APP, version)
        .with_track("stable")
        .with_machine_id(machine)))
}

/// `machine` on 1.0.0 is granted 1.1.0 and installs it.
async fn install(server: &TestServer, machine: &str) {
    let (_, response) = server
        .omaha(&request(machine, "1.0.0", |a| a.with_update_check(None)))
        .await;
    let status = response.apps[0]
        .update_check
        .as_ref()
        .and_then(|u| u.status.clone());
    assert_eq!(status, Some(UpdateCheckStatus::Ok), "{machine} granted");
    for event in [
        Event::download_started(),
        Event::download_finished(),
        Event::update_installed(),
    ] {
        server
            .omaha(&request(machine, "1.0.0", |a| a.with_event(event)))
            .await;
    }
}

/// `machine` reboots into 1.1.0: its check names the version it came from (a 3/2).
async fn complete(server: &TestServer, machine: &str) {
    server
        .omaha(&request(machine, "1.1.0", |a| {
            a.with_update_check(Some("1.0.0"))
        }))
        .await;
}

/// `machine`'s install failed (3/0).
async fn fail(server: &TestServer, machine: &str) {
    server
        .omaha(&request(machine, "1.0.0", |a| {
            a.with_event(Event::error(0x1000_0000 | 15))
        }))
        .await;
}

/// Runs detection and delivery `times` times, moving the virtual clock `step` seconds
/// before each; on PostgreSQL a second replica (its own detector and dispatcher over the
/// same database) runs each pass at the same moment.
async fn passes(
    server: &TestServer,
    replica: Option<&update_server::notify::Dispatcher>,
    times: usize,
    step: i64,
) {
    for _ in 0..times {
        server.clock.advance_secs(step);
        match replica {
            None => {
                server.notify().await;
            }
            Some(replica) => {
                let (_, second) = tokio::join!(server.notify(), async {
                    update_server::notify::detect_pass(
                        server.store.as_ref(),
                        server.clock.as_ref(),
                    )
                    .await
                    .unwrap();
                    replica.dispatch().await.unwrap()
                });
                let _ = second;
            }
        }
    }
}

async fn deliveries(server: &TestServer, hook: &str) -> Vec<Value> {
    let (status, list) = server
        .api("GET", &format!("{V1}/webhooks/{hook}/deliveries"), None)
        .await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn events_arrive_once_signed_on_the_third_try(server: TestServer, two_replicas: bool) {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let (status, hook) = server
        .api(
            "POST",
            &format!("{V1}/webhooks"),
            Some(json!({"url": url, "appId": APP, "failureMinAttempts": 2})),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64, "{hook}");
    let id = hook["id"].as_str().unwrap().to_owned();
    assert_eq!(
        hook["events"],
        json!(["auto_paused", "rollout_finished", "failure_rate", "stalled"])
    );
    // The secret is never shown again.
    let (_, listed) = server.api("GET", &format!("{V1}/webhooks"), None).await;
    assert_eq!(listed["items"][0]["secret"], "", "{listed}");
    let replica = two_replicas.then(|| {
        update_server::notify::Dispatcher::new(
            server.store.clone(),
            server.clock.clone(),
            update_server::auth::Secret::from_hex(&"5e".repeat(32)).unwrap(),
        )
        .unwrap()
    });

    // A rollout: a completes, b fails and the group pauses itself.
    server.move_channel("1.1.0").await;
    install(&server, "a").await;
    complete(&server, "a").await;
    install(&server, "b").await;
    fail(&server, "b").await;
    server.flush().await;
    // First attempts (both fail), then the retries 5 s and 10 s later; more passes find
    // nothing new.
    passes(&server, replica.as_ref(), 1, 1).await;
    passes(&server, replica.as_ref(), 1, 5).await;
    passes(&server, replica.as_ref(), 3, 10).await;
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    let pause = &accepted["auto_paused"];
    assert_eq!(pause.len(), 1, "{accepted:?}");
    assert_eq!(pause[0]["appId"], APP);
    assert_eq!(pause[0]["appLabel"], "Flatcar");
    assert_eq!(pause[0]["groupId"], "stable");
    assert!(
        pause[0]["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("1 of the last 2 attempts failed"),
        "{pause:?}"
    );
    let rate = &accepted["failure_rate"];
    assert_eq!(rate.len(), 1, "{accepted:?}");
    assert_eq!(rate[0]["details"]["failures"], 1);
    assert_eq!(rate[0]["details"]["attempts"], 2);

    // The operator resumes; b retries and completes: the rollout is finished.
    let (status, _) = server
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/stable"),
            Some(json!({"label": "Stable", "channelId": "stable", "updatesPaused": false})),
        )
        .await;
    assert_eq!(status, 200);
    install(&server, "b").await;
    complete(&server, "b").await;
    server.flush().await;
    passes(&server, replica.as_ref(), 1, 1).await;
    passes(&server, replica.as_ref(), 1, 5).await;
    passes(&server, replica.as_ref(), 3, 10).await;
    let accepted = receiver.accepted();
    let finished = &accepted["rollout_finished"];
    assert_eq!(finished.len(), 1, "{accepted:?}");
    assert_eq!(finished[0]["details"]["version"], "1.1.0");
    assert_eq!(finished[0]["details"]["instances"], 2);
    assert_eq!(accepted["auto_paused"].len(), 1);
    assert_eq!(accepted["failure_rate"].len(), 1);

    // Every request signed; every delivery tried three times, accepted on the third.
    let received = receiver.received();
    assert_eq!(received.len(), 9, "{received:?}");
    for r in &received {
        assert!(verify(&secret, r), "bad signature: {r:?}");
        assert!(!verify("another secret", r));
    }
    let log = deliveries(&server, &id).await;
    assert_eq!(log.len(), 3, "{log:?}");
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 3, "{d}");
        assert_eq!(d["lastStatus"], 204, "{d}");
        assert_eq!(d["lastError"], "", "{d}");
        let tries: Vec<&Received> = received
            .iter()
            .filter(|r| r.id == d["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            tries.iter().map(|r| r.answered).collect::<Vec<_>>(),
            [500, 500, 204]
        );
        // Backed off: 5 s after the first, 10 s after the second.
        assert!(tries[1].timestamp - tries[0].timestamp >= 5, "{tries:?}");
        assert!(tries[2].timestamp - tries[1].timestamp >= 10, "{tries:?}");
    }

    // A test delivery; a failing one shows its error.
    let (status, test) = server
        .api("POST", &format!("{V1}/webhooks/{id}/test"), None)
        .await;
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["event"], "test");
    assert_eq!(test["status"], "pending");
    passes(&server, replica.as_ref(), 1, 1).await;
    let log = deliveries(&server, &id).await;
    assert_eq!(log[0]["event"], "test");
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["lastStatus"], 500);
    assert_eq!(log[0]["lastError"], "HTTP 500");
    let stored = server.store.webhooks().await.unwrap();
    assert_eq!(stored.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn events_arrive_once_signed_on_sqlite() {
    let server = TestServer::start_sqlite(policy()).await;
    events_arrive_once_signed_on_the_third_try(server, false).await;
}

#[tokio::test]
async fn events_arrive_once_signed_on_postgres_with_two_replicas() {
    let Some(server) = TestServer::start_postgres(policy()).await else {
        return;
    };
    events_arrive_once_signed_on_the_third_try(server, true).await;
}

#[tokio::test]
async fn webhooks_are_validated_and_their_changes_logged() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    for (body, message) in [
        (json!({"url": "ftp://x.test/"}), "http:// or https://"),
        (json!({"url": "not a url"}), "is not a URL"),
        (
            json!({"url": "http://x.test/", "events": ["nope"]}),
            "unknown event \"nope\"",
        ),
        (
            json!({"url": "http://x.test/", "failureRatePercent": 150}),
            "between 0 and 100",
        ),
        (
            json!({"url": "http://x.test/", "stalledAfterSecs": 5}),
            "at least 60",
        ),
        (
            json!({"url": "http://x.test/", "appId": "nope"}),
            "app nope not found",
        ),
    ] {
        let (status, error) = server
            .api("POST", &format!("{V1}/webhooks"), Some(body.clone()))
            .await;
        assert!(status == 400 || status == 404, "{body} {status} {error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{body}: {error}"
        );
    }
    let (status, hook) = server
        .api(
            "POST",
            &format!("{V1}/webhooks"),
            Some(json!({"url": "http://x.test/hook", "events": ["stalled"]})),
        )
        .await;
    assert_eq!(status, 200, "{hook}");
    let id = hook["id"].as_str().unwrap();
    assert_eq!(hook["failureRatePercent"], 20.0);
    assert_eq!(hook["stalledAfterSecs"], 3600);
    assert_eq!(hook["enabled"], true);
    let (status, updated) = server
        .api(
            "PUT",
            &format!("{V1}/webhooks/{id}"),
            Some(json!({"url": "http://x.test/hook", "events": ["stalled"], "stalledAfterSecs": 600, "enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["enabled"], false);
    let (_, activity) = server.api("GET", &format!("{V1}/activity"), None).await;
    let update = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "webhook.update")
        .unwrap()
        .clone();
    assert_eq!(
        update["changes"],
        json!([
            {"field": "enabled", "old": "true", "new": "false"},
            {"field": "stalledAfterSecs", "old": "3600", "new": "600"},
        ]),
        "{update}"
    );
    let create = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "webhook.create")
        .unwrap()
        .clone();
    let secret = create["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "secret")
        .unwrap();
    assert_eq!(secret["new"], "(secret)", "{create}");
    assert!(
        !activity
            .to_string()
            .contains(hook["secret"].as_str().unwrap())
    );
    let (status, _) = server
        .api("DELETE", &format!("{V1}/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = server
        .api("GET", &format!("{V1}/webhooks/{id}/deliveries"), None)
        .await;
    assert_eq!(status, 404);
    let now = server.clock.now();
    assert!(now.as_second() > 0);
    server.stop().await;
}
