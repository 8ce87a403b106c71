//! Operations: `/metrics`, `/readyz`, request ids.

use crate::support::{APP, TestServer, check_request};
use std::collections::BTreeMap;
use update_server::policy::GroupPolicy;

/// A scrape: every sample by its series (`name{labels}`), as the exposition text wrote it.
pub(crate) fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "series {series} appears twice"
        );
    }
    samples
}

pub(crate) async fn scrape(
    client: &reqwest::Client,
    addr: std::net::SocketAddr,
) -> BTreeMap<String, f64> {
    let response = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    // Every family is declared once, before its samples.
    let mut declared = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(declared.insert(name.to_owned()), "{name} declared twice");
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
                .unwrap_or(name);
            assert!(
                declared.contains(family),
                "{name} sampled before its TYPE line"
            );
        }
    }
    parse_metrics(&text)
}

fn get(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

fn rate_limited(count: u32) -> GroupPolicy {
    GroupPolicy {
        update_pooling: true,
        update_count: count,
        update_interval_secs: 3600,
        ..GroupPolicy::default()
    }
}

#[tokio::test]
async fn metrics_count_checks_decisions_grants_events_and_instances() {
    let server = TestServer::start_sqlite(rate_limited(2)).await;
    let client = reqwest::Client::new();
    let before = scrape(&client, server.addr()).await;
    assert_eq!(get(&before, "update_server_update_requests_total"), 0.0);

    server.move_channel("1.1.0").await;
    // Five instances check: two grants, three rate limited.
    assert_eq!(server.concurrent_checks(5).await, 2);
    // (update_engine checks carry a routine 3/2: a check-in, not a completion, so the three
    // without a grant stay `unknown` on 1.0.0.)
    // One of the granted ones reports its download.
    let download = omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        omaha_proto::request::Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(
        omaha_proto::request::App::new(APP, "1.0.0")
            .with_track("stable")
            .with_machine_id("m0000")
            .with_event(omaha_proto::request::Event::download_started()),
    );
    server.omaha(&download).await;
    // A malformed body is an error.
    assert_eq!(server.post_raw(b"<not xml".to_vec()).await.0, 400);
    server.flush().await;
    // The fleet gauges are cached for a while on the server's clock.
    server.clock.advance_secs(60);

    let after = scrape(&client, server.addr()).await;
    let app = format!("app=\"{APP}\"");
    let expected = [
        ("update_server_update_requests_total".to_owned(), 7.0),
        (
            "update_server_update_checks_total{path=\"writer\"}".to_owned(),
            5.0,
        ),
        (
            "update_server_decisions_total{reason=\"update\"}".to_owned(),
            2.0,
        ),
        (
            "update_server_decisions_total{reason=\"rate_limited\"}".to_owned(),
            3.0,
        ),
        (
            format!("update_server_grants_total{{{app},group=\"stable\"}}"),
            2.0,
        ),
        (
            "update_server_events_total{type=\"13\",result=\"1\"}".to_owned(),
            1.0,
        ),
        (
            "update_server_errors_total{kind=\"bad_request\"}".to_owned(),
            1.0,
        ),
        (
            "update_server_http_responses_total{status=\"400\"}".to_owned(),
            1.0,
        ),
        (
            format!(
                "update_server_instances{{{app},group=\"stable\",version=\"1.0.0\",status=\"granted\"}}"
            ),
            1.0,
        ),
        (
            format!(
                "update_server_instances{{{app},group=\"stable\",version=\"1.0.0\",status=\"downloading\"}}"
            ),
            1.0,
        ),
        (
            format!(
                "update_server_instances{{{app},group=\"stable\",version=\"1.0.0\",status=\"unknown\"}}"
            ),
            3.0,
        ),
        (
            format!(
                "update_server_instances{{{app},group=\"stable\",version=\"1.0.0\",status=\"complete\"}}"
            ),
            0.0,
        ),
        ("update_server_check_ins_total".to_owned(), 5.0),
        (
            "update_server_events_total{type=\"3\",result=\"2\"}".to_owned(),
            0.0,
        ),
        (
            format!(
                "update_server_rollout_target_instances{{{app},group=\"stable\",version=\"1.1.0\"}}"
            ),
            0.0,
        ),
    ];
    for (series, value) in &expected {
        assert_eq!(
            get(&after, series) - get(&before, series),
            *value,
            "{series}"
        );
    }
    assert!(get(&after, "update_server_batch_size_count{batch=\"writer\"}") >= 1.0);
    let jobs = get(&after, "update_server_batch_size_sum{batch=\"writer\"}");
    assert_eq!(
        jobs, 6.0,
        "five checks and one event went through the writer"
    );
    assert!(
        get(
            &after,
            "update_server_store_latency_seconds_count{op=\"write_batch\"}"
        ) >= 1.0
    );
    assert!(
        get(
            &after,
            "update_server_store_latency_seconds_count{op=\"instance_counts\"}"
        ) >= 1.0
    );

    // The instances move to the target: progress follows (after the cache's lifetime).
    for i in 0..4 {
        let done = omaha_proto::Request::update_engine(
            "update_engine-0.4.10",
            "scheduler",
            omaha_proto::request::Os::new("CoreOS", "Chateau", ""),
        )
        .with_app(
            omaha_proto::request::App::new(APP, "1.1.0")
                .with_track("stable")
                .with_machine_id(&format!("m{i:04}"))
                .with_event(omaha_proto::request::Event::update_complete("1.0.0")),
        );
        server.omaha(&done).await;
    }
    let cached = scrape(&client, server.addr()).await;
    assert_eq!(
        get(
            &cached,
            &format!(
                "update_server_rollout_progress_ratio{{{app},group=\"stable\",version=\"1.1.0\"}}"
            )
        ),
        0.0,
        "within the cache's lifetime the gauges do not query the store again"
    );
    server.clock.advance_secs(60);
    let moved = scrape(&client, server.addr()).await;
    assert_eq!(
        get(
            &moved,
            &format!(
                "update_server_rollout_target_instances{{{app},group=\"stable\",version=\"1.1.0\"}}"
            )
        ),
        4.0
    );
    assert_eq!(
        get(
            &moved,
            &format!(
                "update_server_rollout_progress_ratio{{{app},group=\"stable\",version=\"1.1.0\"}}"
            )
        ),
        0.8
    );
    server.stop().await;
}

#[tokio::test]
async fn client_chosen_groups_and_versions_do_not_grow_the_label_set() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    for i in 0..120 {
        let request = omaha_proto::Request::update_engine(
            "update_engine-0.4.10",
            "scheduler",
            omaha_proto::request::Os::new("CoreOS", "Chateau", ""),
        )
        .with_app(
            omaha_proto::request::App::new(APP, &format!("9.9.{i}"))
                .with_track(&format!("no-such-group-{i}"))
                .with_machine_id(&format!("x{i}"))
                .with_update_check(None),
        );
        server.omaha(&request).await;
    }
    server.flush().await;
    let client = reqwest::Client::new();
    let m = scrape(&client, server.addr()).await;
    let series: Vec<&String> = m
        .keys()
        .filter(|k| k.starts_with("update_server_instances{"))
        .collect();
    assert!(
        series.iter().all(|s| s.contains("group=\"\"")),
        "{series:?}"
    );
    assert_eq!(
        series.len(),
        51,
        "50 versions named, the rest as other: {series:?}"
    );
    let total: f64 = series.iter().map(|s| m[*s]).sum();
    assert_eq!(total, 120.0);
    server.stop().await;
}

#[tokio::test]
async fn readyz_answers_when_the_store_does_and_the_schema_is_current() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    let client = reqwest::Client::new();
    let readyz = || async {
        let r = client
            .get(format!("http://{}/readyz", server.addr()))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(readyz().await, (200, "ready\n".to_owned()));

    // A database whose schema is behind this build (an older migration table) is not ready.
    let db = server.data_db().await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&db)
            .await
            .unwrap();
    let (latest, before) = (versions[versions.len() - 1], versions[versions.len() - 2]);
    sqlx::query("UPDATE _sqlx_migrations SET success = FALSE WHERE version = $1")
        .bind(latest)
        .execute(&db)
        .await
        .unwrap();
    let (status, text) = readyz().await;
    assert_eq!(status, 503);
    assert!(
        text.contains(&format!(
            "schema is at migration {before}, this server needs {latest}"
        )),
        "{text}"
    );

    // A database that does not answer the probe is not ready either.
    sqlx::query("DROP TABLE _sqlx_migrations")
        .execute(&db)
        .await
        .unwrap();
    let (status, text) = readyz().await;
    assert_eq!(status, 503);
    assert!(text.contains("the database does not answer"), "{text}");
    // The process is up all the same.
    let health = client
        .get(format!("http://{}/healthz", server.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn metrics_answer_when_the_store_fails() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    let client = reqwest::Client::new();
    server.omaha(&check_request("m1", "1.0.0")).await;
    let first = scrape(&client, server.addr()).await;
    let series = format!(
        "update_server_instances{{app=\"{APP}\",group=\"stable\",version=\"1.0.0\",status=\"unknown\"}}"
    );
    assert_eq!(get(&first, &series), 1.0);

    // The instance counts cannot be read any more: the scrape still answers, with the
    // counters, the last fleet gauges it had, and the error counted.
    let db = server.data_db().await;
    sqlx::query("DROP TABLE instance_counts")
        .execute(&db)
        .await
        .unwrap();
    server.clock.advance_secs(60);
    let second = scrape(&client, server.addr()).await;
    assert_eq!(
        get(
            &second,
            "update_server_errors_total{kind=\"instance_counts\"}"
        ),
        1.0
    );
    assert_eq!(get(&second, &series), 1.0, "the last gauges are kept");
    assert_eq!(get(&second, "update_server_update_requests_total"), 1.0);
    server.stop().await;
}

#[tokio::test]
async fn readyz_on_postgres() {
    let Some(server) = TestServer::start_postgres(GroupPolicy::default()).await else {
        return;
    };
    let response = reqwest::get(format!("http://{}/readyz", server.addr()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/update/", server.addr());
    let fresh = client
        .post(&url)
        .body(check_request("m1", "1.0.0").encode())
        .send()
        .await
        .unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid_like(&id), "a generated id is a UUID: {id}");
    let other = client
        .get(format!("http://{}/healthz", server.addr()))
        .send()
        .await
        .unwrap();
    let id2 = other.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid_like(id2) && id2 != id, "each request gets its own id");

    let given = client
        .post(&url)
        .header("x-request-id", "lb-7f3a-0001")
        .body(check_request("m1", "1.0.0").encode())
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "lb-7f3a-0001");
    // Errors carry it too.
    let missing = client
        .get(format!("http://{}/no/such/path", server.addr()))
        .header("x-request-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-request-id"], "abc");
    server.stop().await;
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}
