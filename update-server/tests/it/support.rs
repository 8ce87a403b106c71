//! Test fixtures: fresh stores on both backends.
use update_server::clock::Clock as _;

use std::sync::atomic::{AtomicU32, Ordering};
use update_server::store::{PostgresStore, SqliteStore};

/// A fresh SQLite store in a temporary directory (removed when the guard drops).
pub async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(&dir.path().join("db.sqlite3"))
        .await
        .expect("open sqlite store");
    (dir, store)
}

/// A PostgreSQL schema of its own for one test; dropped by [`PgSchema::drop`].
pub struct PgSchema {
    admin_url: String,
    name: String,
    /// A URL whose connections work in this schema.
    pub url: String,
}

impl PgSchema {
    /// Drops the schema and everything in it.
    pub async fn drop(self) {
        ddl(
            &self.admin_url,
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        )
        .await;
    }
}

async fn ddl(url: &str, statement: String) {
    let pool = sqlx::PgPool::connect(url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&pool)
        .await
        .expect("DDL on the test database");
    pool.close().await;
}

/// A fresh PostgreSQL store in a schema of its own, or `None` when `TEST_DATABASE_URL` is
/// not set (CI always sets it; `.ci/run` fails when PostgreSQL is unreachable there).
pub async fn postgres() -> Option<(PgSchema, PostgresStore)> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL test skipped");
        return None;
    };
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    ddl(&url, format!("CREATE SCHEMA {name}")).await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{name}");
    let store = PostgresStore::connect(&scoped)
        .await
        .expect("connect to TEST_DATABASE_URL");
    Some((
        PgSchema {
            admin_url: url,
            name,
            url: scoped,
        },
        store,
    ))
}

pub const APP: &str = "e96281a6-d1af-4bde-9a0a-97b76e56dc57";

/// The key of user `admin` on every test server.
pub const ADMIN_KEY: &str = "0123456789abcdef0123456789abcdef";

/// Fills a store with app [`APP`], packages 1.0.0 and 1.1.0 (payload "hello"), channel
/// `stable` at 1.0.0 and group `stable` following it under `policy`.
pub async fn populate(
    store: &dyn update_server::store::Store,
    policy: &update_server::policy::GroupPolicy,
) {
    use update_server::store::{AppRecord, ChannelRecord, GroupRecord, PackageRecord};

    store
        .create_app(&AppRecord {
            id: APP.into(),
            label: "Flatcar".into(),
            description: String::new(),
            hash_sha256: "hex".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    for version in ["1.0.0", "1.1.0"] {
        store
            .put_package(&PackageRecord {
                app_id: APP.into(),
                version: version.into(),
                url: format!("https://pkg.example.test/{version}/update.gz"),
                size: 5,
                sha1: "qvTGHdzF6KLavt4PO0gs2a6pQ00=".into(),
                sha256: "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=".into(),
                metadata_size: String::new(),
                metadata_signature_rsa: String::new(),
                signature: String::new(),
                release_notes: String::new(),
                required: false,
                created_at: 0,
            })
            .await
            .unwrap();
    }
    store
        .put_channel(&ChannelRecord {
            app_id: APP.into(),
            name: "stable".into(),
            version: "1.0.0".into(),
            publish: false,
            upstream: String::new(),
            created_at: 0,
        })
        .await
        .unwrap();
    store
        .create_group(&GroupRecord {
            app_id: APP.into(),
            id: "stable".into(),
            label: "Stable".into(),
            channel: "stable".into(),
            policy: policy.to_json(),
            created_at: 0,
        })
        .await
        .unwrap();
}

enum Guard {
    Dir(tempfile::TempDir),
    Schema(PgSchema),
}

/// Makes the SSO provider of a server from its address.
type SsoMaker =
    Box<dyn FnOnce(std::net::SocketAddr) -> std::sync::Arc<update_server::sso::Provider>>;

/// A server on 127.0.0.1 port 0 with a manual clock, over a store holding app [`APP`] with
/// packages 1.0.0 and 1.1.0 (payload "hello"), channel `stable` at 1.0.0 and group
/// `stable` following it.
pub struct TestServer {
    pub store: std::sync::Arc<dyn update_server::store::Store>,
    pub clock: std::sync::Arc<update_server::clock::ManualClock>,
    running: update_server::Running,
    guard: Guard,
    /// The data directory (hosted payloads under `packages/`).
    pub data: tempfile::TempDir,
    client: reqwest::Client,
}

impl TestServer {
    pub async fn start_sqlite(policy: update_server::policy::GroupPolicy) -> Self {
        let (dir, store) = sqlite().await;
        Self::start(std::sync::Arc::new(store), policy, Guard::Dir(dir)).await
    }

    pub async fn start_postgres(policy: update_server::policy::GroupPolicy) -> Option<Self> {
        let (schema, store) = postgres().await?;
        Some(Self::start(std::sync::Arc::new(store), policy, Guard::Schema(schema)).await)
    }

    /// As [`TestServer::start_sqlite`] or (with `postgres`) [`TestServer::start_postgres`],
    /// signing with these CUP keys.
    pub async fn start_with_cup_keys(
        postgres: bool,
        policy: update_server::policy::GroupPolicy,
        keys: update_server::cup::CupKeys,
    ) -> Option<Self> {
        let keys = std::sync::Arc::new(keys);
        if postgres {
            let (schema, store) = self::postgres().await?;
            let store = std::sync::Arc::new(store);
            Some(Self::start_keyed(store, policy, Guard::Schema(schema), keys).await)
        } else {
            let (dir, store) = sqlite().await;
            let store = std::sync::Arc::new(store);
            Some(Self::start_keyed(store, policy, Guard::Dir(dir), keys).await)
        }
    }

    /// As [`TestServer::start_sqlite`] or (with `postgres`) [`TestServer::start_postgres`],
    /// with single sign-on through the provider `sso` makes for the server's address (which
    /// its redirect URL names).
    pub async fn start_with_sso(
        postgres: bool,
        policy: update_server::policy::GroupPolicy,
        sso: impl FnOnce(std::net::SocketAddr) -> std::sync::Arc<update_server::sso::Provider> + 'static,
    ) -> Option<Self> {
        let (store, guard): (std::sync::Arc<dyn update_server::store::Store>, _) = if postgres {
            let (schema, store) = self::postgres().await?;
            (std::sync::Arc::new(store), Guard::Schema(schema))
        } else {
            let (dir, store) = sqlite().await;
            (std::sync::Arc::new(store), Guard::Dir(dir))
        };
        let sso: SsoMaker = Box::new(sso);
        Some(Self::start_full(store, policy, guard, std::sync::Arc::default(), Some(sso)).await)
    }

    async fn start(
        store: std::sync::Arc<dyn update_server::store::Store>,
        policy: update_server::policy::GroupPolicy,
        guard: Guard,
    ) -> Self {
        Self::start_keyed(store, policy, guard, std::sync::Arc::default()).await
    }

    async fn start_keyed(
        store: std::sync::Arc<dyn update_server::store::Store>,
        policy: update_server::policy::GroupPolicy,
        guard: Guard,
        cup_keys: std::sync::Arc<update_server::cup::CupKeys>,
    ) -> Self {
        Self::start_full(store, policy, guard, cup_keys, None).await
    }

    async fn start_full(
        store: std::sync::Arc<dyn update_server::store::Store>,
        policy: update_server::policy::GroupPolicy,
        guard: Guard,
        cup_keys: std::sync::Arc<update_server::cup::CupKeys>,
        sso: Option<SsoMaker>,
    ) -> Self {
        populate(store.as_ref(), &policy).await;
        let clock = std::sync::Arc::new(update_server::clock::ManualClock::new(
            "2026-11-27T08:00:00Z".parse().unwrap(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sso = sso.map(|make| make(addr));
        let secret = update_server::auth::Secret::from_hex(&"5e".repeat(32)).unwrap();
        update_server::admin::ensure_admin(store.as_ref(), &secret, Some(ADMIN_KEY), 0)
            .await
            .unwrap();
        let data = tempfile::tempdir().expect("a temporary directory");
        let running = update_server::Running::start_with(
            listener,
            store.clone(),
            clock.clone(),
            update_server::ServerOptions {
                data_dir: Some(data.path().to_owned()),
                max_upload_size: 1024 * 1024,
                cup_keys,
                sso,
                ..update_server::ServerOptions::new("test", secret)
            },
        )
        .await
        .unwrap();
        Self {
            store,
            clock,
            running,
            guard,
            data,
            client: reqwest::Client::new(),
        }
    }
    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.addr()
    }

    /// A connection pool of its own to the SQLite database of a server started with
    /// [`TestServer::start_sqlite`].
    pub async fn data_db(&self) -> sqlx::SqlitePool {
        let Guard::Dir(dir) = &self.guard else {
            panic!("not a SQLite test server");
        };
        sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("db.sqlite3")),
        )
        .await
        .unwrap()
    }

    /// Runs one SQL statement on the server's database, behind the store's back.
    pub async fn execute_sql(&self, statement: &str) {
        match &self.guard {
            Guard::Dir(_) => {
                let pool = self.data_db().await;
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Guard::Schema(schema) => {
                let pool = sqlx::PgPool::connect(&schema.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }
    }

    /// Points channel `stable` at `version` and makes the server see it now.
    pub async fn move_channel(&self, version: &str) {
        self.store
            .put_channel(&update_server::store::ChannelRecord {
                app_id: APP.into(),
                name: "stable".into(),
                version: version.into(),
                publish: false,
                upstream: String::new(),
                created_at: 0,
            })
            .await
            .unwrap();
        self.running.refresh_config().await.unwrap();
    }

    pub async fn flush(&self) {
        self.running.flush().await.unwrap();
    }

    /// Makes the server see configuration written to the store directly.
    pub async fn refresh_config(&self) {
        self.running.refresh_config().await.unwrap();
    }

    /// Records the timed rollouts finished at the clock's time, as the background task
    /// does every second; returns how many this call recorded.
    pub async fn finish_rollouts(&self) -> usize {
        self.running.finish_rollouts().await.unwrap()
    }

    /// Looks for notification events and delivers what is due at the clock's time, as the
    /// background task does; returns how many deliveries it enqueued and delivered.
    pub async fn notify(&self) -> (usize, usize) {
        self.running.notify().await.unwrap()
    }

    /// POSTs a body to `/v1/update/`: status and body text.
    pub async fn post_raw(&self, body: Vec<u8>) -> (u16, String) {
        let response = self
            .client
            .post(format!("http://{}/v1/update/", self.addr()))
            .header("content-type", "text/xml")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// POSTs an Omaha request and decodes the response.
    pub async fn omaha(&self, request: &omaha_proto::Request) -> (u16, omaha_proto::Response) {
        let (status, text) = self.post_raw(request.encode()).await;
        assert_eq!(status, 200, "{text}");
        let response = omaha_proto::Response::decode(text.as_bytes()).expect("a valid response");
        (status, response)
    }

    /// POSTs `body` to the JSON update endpoint; returns the status and the body.
    pub async fn post_json_raw(&self, body: Vec<u8>) -> (u16, String) {
        let response = self
            .client
            .post(format!("http://{}/v1/update/json", self.addr()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// POSTs an Omaha request as JSON (in the request's `protocol`) to the JSON endpoint
    /// and decodes the response, checking its content type and `)]}'` prefix.
    pub async fn omaha_json(&self, request: &omaha_proto::Request) -> (u16, omaha_proto::Response) {
        let response = self
            .client
            .post(format!("http://{}/v1/update/json", self.addr()))
            .header("content-type", "application/json")
            .body(request.encode_json())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.bytes().await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(content_type, "application/json; charset=utf-8");
        assert!(
            body.starts_with(omaha_proto::json::PREFIX),
            "the safe-JSON prefix"
        );
        let decoded = omaha_proto::Response::decode_json(&body).expect("a valid JSON response");
        (status, decoded)
    }

    pub async fn status_of(&self, machine: &str) -> String {
        self.store
            .instance(APP, machine)
            .await
            .unwrap()
            .expect("instance stored")
            .status
    }

    /// `n` instances on 1.0.0 check at once; returns how many were offered an update.
    pub async fn concurrent_checks(&self, n: usize) -> usize {
        let url = format!("http://{}/v1/update/", self.addr());
        concurrent_checks(&self.client, &[url], 0..n).await
    }

    /// Calls the admin API as `user` with `key`, signed with Hawk at the server's (manual)
    /// time with a fresh nonce. Returns the status and the JSON body (`null` when empty).
    pub async fn api_as(
        &self,
        user: &str,
        key: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nonce = format!("n{:07}", NONCE.fetch_add(1, Ordering::Relaxed));
        let header = self.hawk_header(
            user,
            key,
            method,
            path,
            &nonce,
            self.clock.now().as_second(),
        );
        self.api_with_header(method, path, body, Some(header)).await
    }

    /// A Hawk `Authorization` value as updateservicectl builds it.
    pub fn hawk_header(
        &self,
        user: &str,
        key: &str,
        method: &str,
        path: &str,
        nonce: &str,
        ts: i64,
    ) -> String {
        use update_server::auth::{HawkHeader, HawkRequest, hawk_mac};
        let mut header = HawkHeader {
            id: user.into(),
            ts,
            nonce: nonce.into(),
            ..HawkHeader::default()
        };
        let addr = self.addr();
        header.mac = hawk_mac(
            key,
            &header,
            &HawkRequest {
                method,
                resource: path,
                host: &addr.ip().to_string(),
                port: addr.port(),
            },
        );
        format!(
            r#"Hawk id="{}", mac="{}", ts="{}", nonce="{}""#,
            header.id, header.mac, header.ts, header.nonce
        )
    }

    /// Sends an admin API request with the given `Authorization` value (or none).
    pub async fn api_with_header(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        authorization: Option<String>,
    ) -> (u16, serde_json::Value) {
        let url = format!("http://{}{path}", self.addr());
        let mut request = self.client.request(method.parse().unwrap(), url);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    /// The admin API as `admin`.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.api_as("admin", ADMIN_KEY, method, path, body).await
    }

    /// Stops the server. A PostgreSQL schema is dropped at once; a SQLite directory lives
    /// as long as the value returned, so a test can still read the store after the stop
    /// (a pool may need to open a new connection to the file).
    pub async fn stop(self) -> Option<tempfile::TempDir> {
        self.running.stop().await.unwrap();
        match self.guard {
            Guard::Schema(schema) => {
                schema.drop().await;
                None
            }
            Guard::Dir(dir) => Some(dir),
        }
    }
}

/// An update_engine update check of instance `machine` on `version` in group `stable`.
pub fn check_request(machine: &str, version: &str) -> omaha_proto::Request {
    omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        omaha_proto::request::Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(
        omaha_proto::request::App::new(APP, version)
            .with_track("stable")
            .with_machine_id(machine)
            .with_update_check(None),
    )
}

/// Instances `m{i}` for each `i` in `ids`, on 1.0.0, check at once, spread over `urls`
/// round robin; returns how many were offered an update.
pub async fn concurrent_checks(
    client: &reqwest::Client,
    urls: &[String],
    ids: std::ops::Range<usize>,
) -> usize {
    let tasks: Vec<_> = ids
        .map(|i| {
            let body = check_request(&format!("m{i:04}"), "1.0.0").encode();
            let client = client.clone();
            let url = urls[i % urls.len()].clone();
            tokio::spawn(async move {
                let text = client
                    .post(url)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let response = omaha_proto::Response::decode(text.as_bytes()).unwrap();
                response.apps[0].update_check.as_ref().unwrap().status
                    == Some(omaha_proto::codes::UpdateCheckStatus::Ok)
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap() {
            granted += 1;
        }
    }
    granted
}
