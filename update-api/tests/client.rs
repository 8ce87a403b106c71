//! The client against a stand-in server on loopback: what goes out on the wire (the
//! `Authorization` header, the path, the body with omitempty) and how answers come back
//! (typed, or the API's error body as `Error::Api`).

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use update_api::api::App;
use update_api::auth::{Credentials, parse_authorization};
use update_api::hawk::{HawkRequest, mac_matches};
use update_api::{Auth, Client, Error};

const KEY: &str = "d3b07384d113edec49eaa6238ad5ff00";

/// A request as the stand-in server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    authorization: Option<String>,
    body: String,
}

/// Serves canned answers on a free port: `GET .../apps` lists one app, `POST .../apps`
/// echoes the body, anything else is a 404 with the API's error body. Returns the base URL
/// and what it saw.
async fn stand_in() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut bytes = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the client closed before its request ended");
                    bytes.extend_from_slice(&buf[..n]);
                    if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8(bytes[..head_end].to_vec()).unwrap();
                let header = |name: &str| {
                    head.lines().find_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        key.eq_ignore_ascii_case(name)
                            .then(|| value.trim().to_owned())
                    })
                };
                let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
                while bytes.len() < head_end + length {
                    let n = socket.read(&mut buf).await.unwrap();
                    bytes.extend_from_slice(&buf[..n]);
                }
                let body = String::from_utf8(bytes[head_end..head_end + length].to_vec()).unwrap();
                let mut request_line = head.lines().next().unwrap().split(' ');
                let method = request_line.next().unwrap().to_owned();
                let target = request_line.next().unwrap().to_owned();
                let (status, answer) = match (method.as_str(), target.as_str()) {
                    ("GET", "/_ah/api/update/v1/apps") => (
                        "200 OK",
                        r#"{"items":[{"id":"e96281a6","label":"Flatcar","description":"the OS"}]}"#
                            .to_owned(),
                    ),
                    ("POST", "/_ah/api/update/v1/apps") => ("200 OK", body.clone()),
                    _ => (
                        "404 Not Found",
                        r#"{"error":{"code":404,"message":"app nope not found","errors":[{"reason":"notFound","message":"app nope not found"}]}}"#
                            .to_owned(),
                    ),
                };
                log.lock().unwrap().push(Seen {
                    method,
                    target,
                    authorization: header("authorization"),
                    body,
                });
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn listing_apps_is_hawk_signed_and_typed() {
    let (url, seen) = stand_in().await;
    let client = Client::new(&url, Auth::hawk("admin", KEY)).unwrap();
    let apps = client.apps().await.unwrap();
    assert_eq!(apps.items.len(), 1);
    assert_eq!(apps.items[0].label, "Flatcar");

    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "GET");
    let Ok(Credentials::Hawk(header)) = parse_authorization(&seen.authorization.unwrap()) else {
        panic!("not Hawk");
    };
    assert_eq!(header.id, "admin");
    let port = url.rsplit(':').next().unwrap().parse().unwrap();
    let request = HawkRequest {
        method: "GET",
        resource: &seen.target,
        host: "127.0.0.1",
        port,
    };
    assert!(
        mac_matches(KEY, &header, &request),
        "the server's check passes"
    );
    assert!(!mac_matches("another key", &header, &request));
}

#[tokio::test]
async fn error_answers_are_the_apis_errors() {
    let (url, _) = stand_in().await;
    let client = Client::new(&url, Auth::hawk("admin", KEY)).unwrap();
    match client.app("nope").await {
        Err(Error::Api {
            code,
            message,
            reason,
        }) => {
            assert_eq!((code, reason.as_str()), (404, "notFound"));
            assert_eq!(message, "app nope not found");
        }
        other => panic!("expected the API's error, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_go_as_bearer_and_bodies_omit_empty_fields() {
    let (url, seen) = stand_in().await;
    let token = "ust_0123456789abcdef_0123456789abcdef0123456789abcdef";
    let client = Client::new(&url, Auth::user_key("ci", token)).unwrap();
    let created = client
        .create_app(&App {
            id: "a1".into(),
            label: "L".into(),
            ..App::default()
        })
        .await
        .unwrap();
    assert_eq!(created.label, "L");
    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(
        seen.authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"id": "a1", "label": "L"}),
        "no empty description"
    );
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new(&url, Auth::None).unwrap();
    let error = client.apps().await.unwrap_err();
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
    assert_eq!(error.status(), None);
}
