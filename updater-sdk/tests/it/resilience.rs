//! Failures of the update service: down then back, and a misbehaving server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use omaha_proto::response::{App, UpdateCheck};
use updater_sdk::{Error, HttpOptions};

use crate::support::{
    APP, Behaviour, PACKAGE, PayloadServer, TestHooks, TestServer, builder, payload,
};

#[tokio::test]
async fn server_down_then_back_backs_off_then_recovers() {
    let payloads = PayloadServer::start().await;
    let path = format!("/pkg/1.1.0/{PACKAGE}");
    payloads.put(&path, payload());
    // Reserve a port, then leave it closed: the server is down.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hooks = TestHooks::new(&dir.path().join("installed"), Behaviour::default());
    let updater = builder(
        &format!("http://{addr}"),
        &dir.path().join("state"),
        "downup",
        "1.0.0",
    )
    .poll_interval(Duration::from_secs(3600), 0.0)
    .build(hooks.clone())
    .await
    .unwrap();

    // A single pass fails with a transport error, after its retries.
    let error = updater.run_once().await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");
    assert!(error.is_transient());

    // In run(): failures back off; once the server is up the update goes through.
    let installed_dir = dir.path().join("installed/1.1.0");
    let retries = || {
        hooks
            .calls()
            .iter()
            .filter(|c| c.starts_with("retrying"))
            .count()
    };
    let server = async {
        // Wait until the updater has failed (and backed off) a few times.
        while retries() < 6 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let server = TestServer::start_on(listener, &payloads.url(&path), &payload()).await;
        while !installed_dir.exists() || server.events("downup").await.len() < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server
    };
    // The run is cancelled (dropped) as soon as the server saw the whole update.
    let server = tokio::select! {
        () = updater.run(std::future::pending()) => panic!("run() returned without being cancelled"),
        server = server => server,
    };
    assert_eq!(hooks.installed(), ["1.1.0"]);
    assert_eq!(
        server.events("downup").await,
        [
            (3, 2, None),
            (13, 1, None),
            (14, 1, None),
            (3, 1, None),
            (3, 2, None)
        ]
    );
    assert!(retries() >= 6, "{:?}", hooks.calls());
    assert_eq!(updater.current_version(), "1.1.0");
    server.stop().await;
}

#[tokio::test]
async fn run_stops_cleanly_when_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = TestHooks::new(&dir.path().join("installed"), Behaviour::default());
    let updater = builder(
        "http://127.0.0.1:9",
        &dir.path().join("state"),
        "stop",
        "1.0.0",
    )
    .build(hooks.clone())
    .await
    .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopper = async {
        while hooks.calls().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = stop_tx.send(());
    };
    let ((), ()) = tokio::join!(
        updater.run(async {
            let _ = stop_rx.await;
        }),
        stopper
    );
    assert!(hooks.installed().is_empty());
}

/// What the misbehaving update service answers.
#[derive(Clone, Copy)]
enum Misbehaviour {
    Status500,
    Garbage,
    Empty,
    OtherApp,
    Slow,
}

async fn misbehaving_server(how: Misbehaviour) -> (String, Arc<Mutex<u32>>) {
    let hits = Arc::new(Mutex::new(0_u32));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/v1/update/",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                *counter.lock().unwrap() += 1;
                let xml = [("content-type", "text/xml; charset=utf-8")];
                match how {
                    Misbehaviour::Status500 => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response()
                    }
                    Misbehaviour::Garbage => (xml, "<response><app appid=").into_response(),
                    Misbehaviour::Empty => (xml, "").into_response(),
                    Misbehaviour::OtherApp => {
                        let response = omaha_proto::Response::new("evil").with_app(
                            App::ok("{00000000-0000-0000-0000-000000000000}")
                                .with_update_check(UpdateCheck::no_update()),
                        );
                        (xml, response.encode()).into_response()
                    }
                    Misbehaviour::Slow => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        (xml, "").into_response()
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

async fn against(how: Misbehaviour) -> (Error, u32, TestHooks) {
    let (url, hits) = misbehaving_server(how).await;
    let dir = tempfile::tempdir().unwrap();
    let hooks = TestHooks::new(&dir.path().join("installed"), Behaviour::default());
    let updater = builder(&url, &dir.path().join("state"), "victim", "1.0.0")
        .http(
            HttpOptions::default()
                .request_timeout(Duration::from_millis(200))
                .attempts(2),
        )
        .build(hooks.clone())
        .await
        .unwrap();
    let error = updater.run_once().await.unwrap_err();
    assert!(hooks.installed().is_empty());
    assert!(
        !hooks.calls().iter().any(|c| c.starts_with("install")),
        "{:?}",
        hooks.calls()
    );
    let hits = *hits.lock().unwrap();
    (error, hits, hooks)
}

#[tokio::test]
async fn http_500_is_retried_then_a_server_error() {
    let (error, hits, hooks) = against(Misbehaviour::Status500).await;
    assert!(matches!(error, Error::Server { status: 500 }), "{error}");
    assert_eq!(error.to_string(), "the update service answered HTTP 500");
    assert_eq!(hits, 2, "retried once");
    assert_eq!(hooks.calls().len(), 1, "one retry notification");
}

#[tokio::test]
async fn garbage_xml_is_a_protocol_error_and_not_retried() {
    let (error, hits, _) = against(Misbehaviour::Garbage).await;
    assert!(matches!(error, Error::Protocol(_)), "{error}");
    assert_eq!(error.omaha_error_code(), 31);
    assert_eq!(hits, 1);
}

#[tokio::test]
async fn an_empty_body_is_an_empty_response() {
    let (error, _, _) = against(Misbehaviour::Empty).await;
    assert!(matches!(error, Error::EmptyResponse), "{error}");
    assert_eq!(error.omaha_error_code(), 30);
}

#[tokio::test]
async fn a_response_for_another_app_is_refused() {
    let (error, _, _) = against(Misbehaviour::OtherApp).await;
    match &error {
        Error::WrongApp { expected, got } => {
            assert_eq!(expected, APP);
            assert_eq!(got, "{00000000-0000-0000-0000-000000000000}");
        }
        other => panic!("expected WrongApp, got {other}"),
    }
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let (error, hits, _) = against(Misbehaviour::Slow).await;
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    assert!(error.is_transient());
    assert_eq!(hits, 2, "a timeout is retried");
}

#[tokio::test]
async fn an_unknown_app_is_a_clear_rejection_from_the_real_server() {
    let payloads = PayloadServer::start().await;
    let server = TestServer::start(&payloads.url("/x"), &payload()).await;
    let dir = tempfile::tempdir().unwrap();
    let hooks = TestHooks::new(&dir.path().join("installed"), Behaviour::default());
    let updater =
        updater_sdk::Updater::builder(&server.url(), "{11111111-1111-1111-1111-111111111111}")
            .machine_id("stranger")
            .current_version("1.0.0")
            .state_dir(dir.path().join("state"))
            .build(hooks.clone())
            .await
            .unwrap();
    let error = updater.run_once().await.unwrap_err();
    assert!(
        matches!(&error, Error::Rejected { status } if status == "error-unknownApplication"),
        "{error}"
    );
    assert!(hooks.calls().is_empty());
    server.stop().await;
}
