//! Test fixtures: a real update-server on 127.0.0.1 over a fresh SQLite store, a small
//! Range-capable payload server, recording hooks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use update_server::store::{
    AppRecord, ChannelRecord, FloorRecord, GroupRecord, HistoryKind, PackageRecord, SqliteStore,
    Store,
};
use updater_sdk::{
    CupPublicKey, HookError, Hooks, HttpOptions, InstallOutcome, Notification, UpdateInfo, Updater,
    UpdaterBuilder,
};

pub const APP: &str = "e96281a6-d1af-4bde-9a0a-97b76e56dc57";
pub const PACKAGE: &str = "update.gz";

/// The payload of version 1.1.0 in most tests: 200 KiB of varied bytes.
pub fn payload() -> Vec<u8> {
    (0..200 * 1024_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

pub fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

fn sha1_b64(bytes: &[u8]) -> String {
    // The server wants a SHA-1 too; the SDK never reads it, any well-formed digest does.
    let digest = sha2::Sha256::digest(bytes);
    base64::engine::general_purpose::STANDARD.encode(&digest[..20])
}

/// What a payload server does with a path.
#[derive(Clone)]
pub struct Served {
    pub bytes: Vec<u8>,
    /// The first full (non-Range) GET sends only this many bytes, then drops the
    /// connection.
    pub cut_first_at: Option<usize>,
}

/// One request the payload server saw: path and `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
}

/// A minimal HTTP/1.1 file server with `Range: bytes=N-` support, one request per
/// connection, that can cut a body halfway (which a framework would not let us do).
pub struct PayloadServer {
    addr: SocketAddr,
    files: Arc<Mutex<HashMap<String, Served>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PayloadServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let files: Arc<Mutex<HashMap<String, Served>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (f, s) = (files.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_file(stream, f.clone(), s.clone()));
            }
        });
        Self {
            addr,
            files,
            seen,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn put(&self, path: &str, bytes: Vec<u8>) {
        self.put_served(
            path,
            Served {
                bytes,
                cut_first_at: None,
            },
        );
    }

    pub fn put_served(&self, path: &str, served: Served) {
        self.files.lock().unwrap().insert(path.to_owned(), served);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for PayloadServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_file(
    mut stream: tokio::net::TcpStream,
    files: Arc<Mutex<HashMap<String, Served>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_owned());
    seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    let served = {
        let mut files = files.lock().unwrap();
        let entry = files.get_mut(&path).cloned();
        if let (Some(e), None) = (files.get_mut(&path), &range) {
            e.cut_first_at = None;
        }
        entry
    };
    let Some(served) = served else {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    };
    let len = served.bytes.len();
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let response = match start {
        Some(start) if start >= len => {
            let head = format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\ncontent-range: bytes */{len}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes()).await;
            return;
        }
        Some(start) => (
            format!(
                "HTTP/1.1 206 Partial Content\r\ncontent-range: bytes {start}-{}/{len}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                len - 1,
                len - start
            ),
            &served.bytes[start..],
        ),
        None => (
            format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"),
            &served.bytes[..],
        ),
    };
    let (head, body) = response;
    let body = match (start, served.cut_first_at) {
        (None, Some(cut)) => &body[..cut.min(body.len())],
        _ => body,
    };
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// A real update-server over a fresh SQLite store: app [`APP`], packages 1.0.0 and 1.1.0
/// (1.1.0's URL on `payload_url`, with the given size and SHA-256), channel `stable` at
/// 1.1.0 and group `stable` following it with the default policy.
pub struct TestServer {
    pub store: Arc<dyn Store>,
    running: Option<update_server::Running>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(payload_url: &str, payload: &[u8]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, payload_url, payload).await
    }

    pub async fn start_on(
        listener: tokio::net::TcpListener,
        payload_url: &str,
        payload: &[u8],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3"))
            .await
            .unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        populate(store.as_ref(), payload_url, payload).await;
        // CUP signing keys as a server keeps them: version 1 created in the data
        // directory's `cup-keys/` on first start.
        let cup_keys =
            update_server::cup::CupKeys::load_or_create(&dir.path().join("cup-keys")).unwrap();
        let secret = update_server::auth::Secret::from_hex(&"5e".repeat(32)).unwrap();
        let running = update_server::Running::start_with(
            listener,
            store.clone(),
            Arc::new(update_server::clock::SystemClock),
            update_server::ServerOptions {
                cup_keys: Arc::new(cup_keys),
                ..update_server::ServerOptions::new("test", secret)
            },
        )
        .await
        .unwrap();
        Self {
            store,
            running: Some(running),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.as_ref().unwrap().addr()
    }

    /// The events the server recorded for `machine`, oldest first: (type, result, code).
    pub async fn events(&self, machine: &str) -> Vec<(i64, i64, Option<i64>)> {
        self.running.as_ref().unwrap().flush().await.unwrap();
        self.store
            .history(Some(APP), machine, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|h| h.kind == HistoryKind::Event)
            .map(|h| (h.event_type.unwrap(), h.event_result.unwrap(), h.error_code))
            .collect()
    }

    /// The instance's status and version as the server has them.
    pub async fn instance(&self, machine: &str) -> (String, String) {
        let record = self
            .store
            .instance(APP, machine)
            .await
            .unwrap()
            .expect("instance stored");
        (record.status, record.version)
    }

    /// The CUP public keys the server serves, read from `GET /v1/cup/keys` as an app team
    /// would to pin them: (key version, key), lowest version first.
    pub async fn cup_keys(&self) -> Vec<(u32, CupPublicKey)> {
        let body = reqwest::get(format!("{}/v1/cup/keys", self.url()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let listing: serde_json::Value = serde_json::from_slice(&body).unwrap();
        listing["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                let version = u32::try_from(k["keyVersion"].as_u64().unwrap()).unwrap();
                let pem = k["publicKeyPem"].as_str().unwrap();
                (version, CupPublicKey::from_pem(pem).unwrap())
            })
            .collect()
    }

    /// Sets group `stable`'s policy to allow downgrades (explicit rollbacks) or not.
    pub async fn allow_downgrade(&self, allow: bool) {
        let policy = update_server::policy::GroupPolicy {
            allow_downgrade: allow,
            ..update_server::policy::GroupPolicy::default()
        };
        self.store
            .update_group(&GroupRecord {
                app_id: APP.into(),
                id: "stable".into(),
                label: "Stable".into(),
                channel: "stable".into(),
                policy: policy.to_json(),
                created_at: 0,
            })
            .await
            .unwrap();
        self.refresh().await;
    }

    /// Registers package `version` with its payload at `url`, as the server will offer it.
    pub async fn add_package(&self, version: &str, url: &str, bytes: &[u8]) {
        self.store
            .put_package(&package_record(version, url, bytes))
            .await
            .unwrap();
        self.refresh().await;
    }

    /// Makes `version` a floor of channel `stable`.
    pub async fn add_floor(&self, version: &str, reason: &str) {
        self.store
            .put_floor(&FloorRecord {
                app_id: APP.into(),
                channel: "stable".into(),
                arch: String::new(),
                version: version.into(),
                reason: reason.into(),
                created_at: 0,
            })
            .await
            .unwrap();
        self.refresh().await;
    }

    /// Points channel `stable` at `version`.
    pub async fn move_channel(&self, version: &str) {
        self.store
            .put_channel(&stable_channel(version))
            .await
            .unwrap();
        self.refresh().await;
    }

    async fn refresh(&self) {
        self.running
            .as_ref()
            .unwrap()
            .refresh_config()
            .await
            .unwrap();
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
    }
}

async fn populate(store: &dyn Store, payload_url: &str, payload: &[u8]) {
    store
        .create_app(&AppRecord {
            id: APP.into(),
            label: "Test app".into(),
            description: String::new(),
            hash_sha256: "hex".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    let old = b"old".to_vec();
    for (version, url, bytes) in [
        ("1.0.0", "http://127.0.0.1:9/1.0.0/update.gz", &old[..]),
        ("1.1.0", payload_url, payload),
    ] {
        store
            .put_package(&package_record(version, url, bytes))
            .await
            .unwrap();
    }
    store.put_channel(&stable_channel("1.1.0")).await.unwrap();
    store
        .create_group(&GroupRecord {
            app_id: APP.into(),
            id: "stable".into(),
            label: "Stable".into(),
            channel: "stable".into(),
            policy: update_server::policy::GroupPolicy::default().to_json(),
            created_at: 0,
        })
        .await
        .unwrap();
}

fn package_record(version: &str, url: &str, bytes: &[u8]) -> PackageRecord {
    PackageRecord {
        app_id: APP.into(),
        version: version.into(),
        url: url.into(),
        size: bytes.len() as u64,
        sha1: sha1_b64(bytes),
        sha256: sha256_b64(bytes),
        metadata_size: String::new(),
        metadata_signature_rsa: String::new(),
        signature: String::new(),
        release_notes: String::new(),
        required: false,
        created_at: 0,
    }
}

fn stable_channel(version: &str) -> ChannelRecord {
    ChannelRecord {
        app_id: APP.into(),
        name: "stable".into(),
        version: version.into(),
        publish: false,
        upstream: String::new(),
        created_at: 0,
    }
}

/// The hooks' behaviour in a test.
#[derive(Clone)]
pub struct Behaviour {
    pub outcome: InstallOutcome,
    pub install_fails: bool,
    pub healthy: bool,
    /// When set, the health check signals this and then never returns (a crash there).
    pub hang_in_health_check: Option<Arc<tokio::sync::Notify>>,
    /// When set, the install hook signals this and then never returns.
    pub hang_in_install: Option<Arc<tokio::sync::Notify>>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            outcome: InstallOutcome::Complete,
            install_fails: false,
            healthy: true,
            hang_in_health_check: None,
            hang_in_install: None,
        }
    }
}

/// Hooks that install by copying the payload to `<install dir>/<version>` and record
/// every call.
#[derive(Clone)]
pub struct TestHooks {
    pub install_dir: PathBuf,
    pub behaviour: Behaviour,
    pub calls: Arc<Mutex<Vec<String>>>,
}

impl TestHooks {
    pub fn new(install_dir: &Path, behaviour: Behaviour) -> Self {
        Self {
            install_dir: install_dir.to_owned(),
            behaviour,
            calls: Arc::default(),
        }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// The installed versions (file names in the install dir).
    pub fn installed(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.install_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait::async_trait]
impl Hooks for TestHooks {
    async fn install(
        &self,
        payload: &Path,
        update: &UpdateInfo,
    ) -> Result<InstallOutcome, HookError> {
        self.record(format!("install {}", update.version));
        if let Some(entered) = &self.behaviour.hang_in_install {
            entered.notify_one();
            std::future::pending::<()>().await;
        }
        if self.behaviour.install_fails {
            return Err(HookError::msg("disk full"));
        }
        tokio::fs::create_dir_all(&self.install_dir).await?;
        tokio::fs::copy(payload, self.install_dir.join(&update.version)).await?;
        Ok(self.behaviour.outcome)
    }

    async fn health_check(&self, version: &str) -> Result<(), HookError> {
        self.record(format!("health {version}"));
        if let Some(entered) = &self.behaviour.hang_in_health_check {
            entered.notify_one();
            std::future::pending::<()>().await;
        }
        if self.behaviour.healthy {
            Ok(())
        } else {
            Err(HookError::msg("the new version does not answer"))
        }
    }

    async fn rollback(&self, failed: &str, previous: &str) -> Result<(), HookError> {
        self.record(format!("rollback {failed} -> {previous}"));
        let _ = tokio::fs::remove_file(self.install_dir.join(failed)).await;
        Ok(())
    }

    fn notify(&self, notification: &Notification<'_>) {
        match notification {
            Notification::Retrying { error, .. } => self.record(format!("retrying: {error}")),
            Notification::DownloadResumed { offset } => {
                self.record(format!("resumed at {offset}"));
            }
            Notification::Steps(plan) => {
                let versions: Vec<&str> = plan.steps().iter().map(|s| s.version.as_str()).collect();
                self.record(format!("steps {}", versions.join(" ")));
            }
            _ => {}
        }
    }
}

/// Test HTTP options: short timeouts, tiny backoff.
pub fn builder(server_url: &str, state_dir: &Path, machine: &str, version: &str) -> UpdaterBuilder {
    Updater::builder(server_url, APP)
        .group("stable")
        .machine_id(machine)
        .current_version(version)
        .state_dir(state_dir)
        .http(
            HttpOptions::default()
                .request_timeout(Duration::from_secs(5))
                .download_read_timeout(Duration::from_secs(5))
                .attempts(3),
        )
        .backoff(Duration::from_millis(5), Duration::from_millis(50))
}

/// The test CA (valid until 2126) that signed [`TlsProxy`]'s certificate for 127.0.0.1;
/// its key is not kept.
pub const TEST_CA_PEM: &[u8] = include_bytes!("../data/tls/ca.pem");

/// A TLS terminator on 127.0.0.1 in front of a plain HTTP server, with a certificate
/// from [`TEST_CA_PEM`]: an update service behind a private CA.
pub struct TlsProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        use tokio_rustls::rustls::pki_types::pem::PemObject as _;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(include_bytes!("../data/tls/server.pem"))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(include_bytes!("../data/tls/server.key")).unwrap();
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Self { addr, task }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What [`MitmProxy`] does to the answers of the update endpoint it relays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attack {
    /// Relays requests and answers unchanged (and records the last answer).
    Honest,
    /// Replaces every `from` in the answer body by `to`, headers kept.
    Rewrite { from: String, to: String },
    /// Answers with the last update answer recorded (status, headers, body), without
    /// asking the server.
    Replay,
    /// Holds the answer this long before sending it.
    Delay(Duration),
    /// Removes the proof headers (`X-Cup-Server-Proof`, `ETag`).
    StripSignature,
}

#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Relay {
    upstream: String,
    client: reqwest::Client,
    attack: Mutex<Attack>,
    recorded: Mutex<Option<Answer>>,
    /// Requests of the update endpoint that reached the server.
    forwarded: Mutex<usize>,
}

/// A man in the middle on 127.0.0.1: an HTTP proxy between an updater and the update
/// service that relays every request and does [`Attack`] to the update endpoint's
/// answers.
pub struct MitmProxy {
    addr: SocketAddr,
    relay: Arc<Relay>,
    task: tokio::task::JoinHandle<()>,
}

impl MitmProxy {
    pub async fn start(upstream: &str) -> Self {
        let relay = Arc::new(Relay {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            attack: Mutex::new(Attack::Honest),
            recorded: Mutex::new(None),
            forwarded: Mutex::new(0),
        });
        let app = axum::Router::new()
            .fallback(relay_request)
            .with_state(relay.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, relay, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn attack(&self, attack: Attack) {
        *self.relay.attack.lock().unwrap() = attack;
    }

    /// Whether an update answer is recorded (for [`Attack::Replay`]).
    pub fn has_recorded(&self) -> bool {
        self.relay.recorded.lock().unwrap().is_some()
    }

    /// Update requests that reached the server so far.
    pub fn forwarded(&self) -> usize {
        *self.relay.forwarded.lock().unwrap()
    }
}

impl Drop for MitmProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const RELAYED_HEADERS: [&str; 3] = ["content-type", "x-cup-server-proof", "etag"];

async fn relay_request(
    axum::extract::State(relay): axum::extract::State<Arc<Relay>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let update = request.uri().path().starts_with("/v1/update");
    let attack = relay.attack.lock().unwrap().clone();
    let answer = match attack {
        Attack::Replay if update => relay.recorded.lock().unwrap().clone(),
        _ => None,
    };
    let mut answer = match answer {
        Some(recorded) => recorded,
        None => {
            let target = format!(
                "{}{}",
                relay.upstream,
                request
                    .uri()
                    .path_and_query()
                    .map_or("/", axum::http::uri::PathAndQuery::as_str)
            );
            let method = request.method().clone();
            let content_type = request.headers().get("content-type").cloned();
            let body = axum::body::to_bytes(request.into_body(), 4 << 20)
                .await
                .unwrap();
            let mut forward = relay.client.request(method, target).body(body);
            if let Some(ct) = content_type {
                forward = forward.header("content-type", ct);
            }
            let response = forward.send().await.unwrap();
            let headers = RELAYED_HEADERS
                .iter()
                .filter_map(|name| {
                    let value = response.headers().get(*name)?.to_str().ok()?;
                    Some(((*name).to_owned(), value.to_owned()))
                })
                .collect();
            let answer = Answer {
                status: response.status().as_u16(),
                headers,
                body: response.bytes().await.unwrap().to_vec(),
            };
            if update {
                *relay.forwarded.lock().unwrap() += 1;
                *relay.recorded.lock().unwrap() = Some(answer.clone());
            }
            answer
        }
    };
    if update {
        match &attack {
            Attack::Rewrite { from, to } => {
                let text = String::from_utf8_lossy(&answer.body).replace(from, to);
                answer.body = text.into_bytes();
            }
            Attack::Delay(delay) => tokio::time::sleep(*delay).await,
            Attack::StripSignature => answer
                .headers
                .retain(|(name, _)| name != "x-cup-server-proof" && name != "etag"),
            Attack::Honest | Attack::Replay => {}
        }
    }
    let mut response = axum::response::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    response.body(axum::body::Body::from(answer.body)).unwrap()
}
