//! Assembling and running the service: store, caches, background tasks, routes, and an
//! orderly shutdown.

use crate::admin::{self, AdminState};
use crate::auth::{AuthError, Secret};
use crate::cache::ConfigCache;
use crate::census;
use crate::clock::Clock;
use crate::config::Config;
use crate::conn::{self, ConnectionLimits};
use crate::counts;
use crate::hosting::{self, HostingOptions, PACKAGES_DIR};
use crate::http::{AppState, observed, router};
use crate::lifecycle;
use crate::metrics::{self, Metrics, OpsState};
use crate::notify;
use crate::protocol::{OmahaJson, OmahaV3};
use crate::retention::{self, Retention};
use crate::service::UpdateService;
use crate::sightings::Sightings;
use crate::store::{PostgresStore, SqliteStore, Store, StoreError, StoreTimeouts};
use crate::tls::TlsListener;
use crate::writer::{InstanceCache, Writer};
use crate::{backup, panel, upstream};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened or failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `--database-url` names no supported database.
    #[error("unsupported database URL {0:?}: use a postgres:// URL, or none for SQLite")]
    DatabaseUrl(String),
    /// Serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    /// The server secret is unusable.
    #[error(transparent)]
    Secret(#[from] AuthError),
    /// The serving task ended abnormally.
    #[error("the server task failed: {0}")]
    Task(String),
    /// A notification pass failed.
    #[error(transparent)]
    Notify(#[from] notify::NotifyError),
}

/// Opens the store the configuration names: PostgreSQL for a `postgres://` URL, otherwise
/// SQLite in the data directory (created if missing). Migrations run on open.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServerError> {
    let timeouts = StoreTimeouts {
        acquire: Duration::from_secs(config.database_acquire_timeout.max(1)),
        statement: Duration::from_secs(config.database_timeout.max(1)),
    };
    match &config.database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PostgresStore::connect_with(url, timeouts).await?))
        }
        Some(url) => Err(ServerError::DatabaseUrl(url.clone())),
        None => {
            prepare_data_dir(&config.data_dir)?;
            let path = config.data_dir.join("update-server.sqlite3");
            private_file(&path, true)?;
            let store = SqliteStore::open_with(&path, timeouts).await?;
            // SQLite gives its -wal and -shm files the database's mode; these exist only
            // now, and an earlier version may have left them readable.
            for suffix in ["-wal", "-shm"] {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                private_file(Path::new(&name), false)?;
            }
            Ok(Arc::new(store))
        }
    }
}

/// Creates the data directory (and its parents) if missing, and makes it private to the
/// server's user (mode 0700): it holds the database, the server secret and the payloads.
pub fn prepare_data_dir(dir: &Path) -> Result<(), ServerError> {
    let err = |source| ServerError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        builder.mode(0o700);
        builder.create(dir).map_err(err)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    #[cfg(not(unix))]
    builder.create(dir).map_err(err)?;
    Ok(())
}

/// Makes a file of the data directory readable and writable by the server's user alone
/// (mode 0600); with `create`, creates it empty first when missing (an empty file is an
/// empty SQLite database). A missing file without `create` is left missing.
fn private_file(path: &Path, create: bool) -> Result<(), ServerError> {
    let err = |source| ServerError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        if create {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(false).mode(0o600);
            options.open(path).map_err(err)?;
        }
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => {}
            other => other.map_err(err)?,
        }
    }
    #[cfg(not(unix))]
    let _ = (path, create, err);
    Ok(())
}

/// The server secret the configuration names: `--secret`, else `secret.key` in the data
/// directory (created on first use).
pub fn load_secret(config: &Config) -> Result<Secret, ServerError> {
    match &config.secret {
        Some(text) => Ok(Secret::from_hex(text)?),
        None => {
            prepare_data_dir(&config.data_dir)?;
            let path = config.data_dir.join("secret.key");
            let secret = Secret::load_or_create(&path)?;
            private_file(&path, false)?;
            Ok(secret)
        }
    }
}

/// Everything but the store, the clock and the socket.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The `server` attribute of Omaha responses.
    pub server_name: String,
    /// Seals API keys.
    pub secret: Secret,
    /// The data directory: payloads are hosted from its `packages/` and backups are
    /// assembled in it. Without it no payloads are hosted.
    pub data_dir: Option<PathBuf>,
    /// The URL the server is reached at (`--base-url`); default `http://<listen address>`.
    pub base_url: Option<String>,
    /// Whether `POST /package-upload` accepts payloads.
    pub package_uploads: bool,
    /// The largest payload accepted, in bytes.
    pub max_upload_size: u64,
    /// How often to sync from the upstreams; `None` only on demand.
    pub upstream_sync_interval: Option<Duration>,
    /// Serve HTTPS with this configuration ([`crate::tls::server_config`]).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How long history, rollups and the activity log are kept.
    pub retention: Retention,
    /// The connection limits and timeouts ([`crate::conn`]).
    pub connections: ConnectionLimits,
    /// How often notifications are looked for and delivered ([`crate::notify`]).
    pub notify_intervals: (Duration, Duration),
    /// The CUP signing keys ([`crate::cup`]); none: requests with `cup2key` are refused.
    pub cup_keys: Arc<crate::cup::CupKeys>,
    /// Single sign-on for the panel ([`crate::sso`]); none: key login only.
    pub sso: Option<Arc<crate::sso::Provider>>,
}

impl ServerOptions {
    /// Options with a name and a secret, no data directory (no hosted payloads), uploads on
    /// (once a data directory is set) up to 8 GiB, no periodic upstream sync, plain HTTP,
    /// the default retention, no CUP keys and no single sign-on.
    pub fn new(server_name: &str, secret: Secret) -> Self {
        Self {
            server_name: server_name.to_owned(),
            secret,
            data_dir: None,
            base_url: None,
            package_uploads: true,
            max_upload_size: 8 * 1024 * 1024 * 1024,
            upstream_sync_interval: None,
            tls: None,
            retention: Retention::default(),
            connections: ConnectionLimits::default(),
            notify_intervals: (notify::DETECT_INTERVAL, notify::DISPATCH_INTERVAL),
            cup_keys: Arc::default(),
            sso: None,
        }
    }
}

/// A server running in the background (see [`Running::start`]).
pub struct Running {
    addr: SocketAddr,
    secret: Secret,
    clock: Arc<dyn Clock>,
    cache: Arc<ConfigCache>,
    sightings: Arc<Sightings>,
    store: Arc<dyn Store>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl Running {
    /// Starts serving on `listener` in a background task, with a random server secret.
    pub async fn start(
        listener: TcpListener,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        server_name: &str,
    ) -> Result<Self, ServerError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            ServerError::Io(std::io::Error::other(format!("no random numbers: {e}")))
        })?;
        let secret =
            Secret::from_hex(&bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())?;
        let options = ServerOptions::new(server_name, secret);
        Self::start_with(listener, store, clock, options).await
    }

    /// Starts serving on `listener` in a background task.
    pub async fn start_with(
        listener: TcpListener,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        options: ServerOptions,
    ) -> Result<Self, ServerError> {
        let addr = listener.local_addr()?;
        let cache = Arc::new(ConfigCache::load(store.clone()).await?);
        let sightings = Arc::new(Sightings::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let secret = options.secret.clone();
        let task = tokio::spawn(serve_with(
            listener,
            store.clone(),
            clock.clone(),
            cache.clone(),
            sightings.clone(),
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self {
            addr,
            secret,
            clock,
            cache,
            sightings,
            store,
            stop: Some(stop),
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reloads the configuration now if it changed (replicas also notice within a second
    /// on their own).
    pub async fn refresh_config(&self) -> Result<(), ServerError> {
        self.cache.refresh().await?;
        Ok(())
    }

    /// Writes the write-behind buffer now (it is written every second on its own), then
    /// takes a census of the instances (taken every [`census::INTERVAL`] on its own).
    pub async fn flush(&self) -> Result<(), ServerError> {
        self.sightings.flush(self.store.as_ref()).await?;
        census::take(self.store.as_ref(), self.clock.as_ref()).await?;
        Ok(())
    }

    /// Records now the timed rollouts that have finished at the clock's time (done every
    /// [`lifecycle::INTERVAL`] on its own); returns how many this call recorded.
    pub async fn finish_rollouts(&self) -> Result<usize, ServerError> {
        Ok(
            lifecycle::finish_rollouts(self.store.as_ref(), &self.cache, self.clock.as_ref())
                .await?,
        )
    }

    /// Looks for notification events now and delivers what is due at the clock's time
    /// (done every [`notify::DETECT_INTERVAL`] and [`notify::DISPATCH_INTERVAL`] on its
    /// own); returns how many deliveries it enqueued and how many it delivered.
    pub async fn notify(&self) -> Result<(usize, usize), ServerError> {
        let enqueued = notify::detect_pass(self.store.as_ref(), self.clock.as_ref()).await?;
        let dispatcher =
            notify::Dispatcher::new(self.store.clone(), self.clock.clone(), self.secret.clone())?;
        Ok((enqueued, dispatcher.dispatch().await?))
    }

    /// Shuts down as on SIGTERM and waits until everything is written.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(err) => Err(ServerError::Task(err.to_string())),
        }
    }
}

/// Serves on `listener` until `shutdown` completes, then stops accepting, finishes the
/// requests in flight, commits the queued writes, flushes the write-behind buffer and
/// returns.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let cache = Arc::new(ConfigCache::load(store.clone()).await?);
    let sightings = Arc::new(Sightings::default());
    serve_with(listener, store, clock, cache, sightings, options, shutdown).await
}

async fn serve_with(
    listener: TcpListener,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cache: Arc<ConfigCache>,
    sightings: Arc<Sightings>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let metrics = Arc::new(Metrics::default());
    let poller = cache.spawn_poller();
    let (stop_flusher, flusher_stopped) = oneshot::channel();
    let flusher = sightings.spawn_flusher(store.clone(), metrics.clone(), flusher_stopped);
    let instances = Arc::new(InstanceCache::default());
    let (writer, writer_task) = Writer::spawn(store.clone(), instances.clone(), metrics.clone());
    let throttle = Arc::new(crate::throttle::LoginThrottle::default());
    let hosting = match &options.data_dir {
        Some(dir) => {
            let base_url = match &options.base_url {
                Some(url) => url.trim_end_matches('/').to_owned(),
                None => {
                    let addr = listener.local_addr()?;
                    if addr.ip().is_unspecified() {
                        tracing::warn!(
                            %addr,
                            "hosted payloads get URLs of an unspecified address: set --base-url"
                        );
                    }
                    let scheme = if options.tls.is_some() {
                        "https"
                    } else {
                        "http"
                    };
                    format!("{scheme}://{addr}")
                }
            };
            Some(Arc::new(HostingOptions {
                dir: dir.join(PACKAGES_DIR),
                base_url,
                uploads: options.package_uploads,
                max_upload_size: options.max_upload_size,
            }))
        }
        None => None,
    };
    let admin_state = AdminState {
        store: store.clone(),
        cache: cache.clone(),
        clock: clock.clone(),
        secret: options.secret.clone(),
        throttle: throttle.clone(),
        hosting: hosting.clone(),
    };
    let mut admin = admin::router(admin_state.clone())
        .merge(upstream::router(admin_state.clone()))
        .merge(backup::router(
            admin_state.clone(),
            options.data_dir.clone(),
        ))
        .merge(panel::router(
            admin_state.clone(),
            options.base_url.as_deref(),
            options.tls.is_some(),
            options.sso.clone(),
        ));
    if let Some(hosting) = &hosting {
        admin = admin.merge(hosting::router(admin_state.clone(), hosting.clone()));
    }
    let (stop_retention, retention_stopped) = oneshot::channel();
    let retention = retention::spawn(
        store.clone(),
        options.retention,
        clock.clone(),
        metrics.clone(),
        retention_stopped,
    );
    let (stop_census, census_stopped) = oneshot::channel();
    let census = census::spawn(
        store.clone(),
        clock.clone(),
        census::INTERVAL,
        census_stopped,
    );
    let (stop_counts, counts_stopped) = oneshot::channel();
    let counts = counts::spawn(store.clone(), clock.clone(), counts_stopped);
    let (stop_lifecycle, lifecycle_stopped) = oneshot::channel();
    let lifecycle = lifecycle::spawn(
        store.clone(),
        cache.clone(),
        clock.clone(),
        lifecycle::INTERVAL,
        lifecycle_stopped,
    );
    let (stop_notify, notify_stopped) = oneshot::channel();
    let dispatcher = notify::Dispatcher::new(store.clone(), clock.clone(), options.secret.clone())?;
    let (detect_every, dispatch_every) = options.notify_intervals;
    let notifier = notify::spawn(dispatcher, detect_every, dispatch_every, notify_stopped);
    let (stop_sync, sync_stopped) = oneshot::channel();
    let syncer = options
        .upstream_sync_interval
        .filter(|every| !every.is_zero())
        .map(|every| upstream::spawn_interval(admin_state, every, sync_stopped));
    let ops = metrics::router(OpsState {
        metrics: metrics.clone(),
        store: store.clone(),
        cache: cache.clone(),
        clock: clock.clone(),
        writer: writer.health(),
        throttle,
    });
    let state = AppState {
        service: UpdateService::new(
            cache,
            clock,
            writer,
            instances,
            sightings.clone(),
            metrics.clone(),
        ),
        protocol: Arc::new(OmahaV3::new(&options.server_name)),
        json: Arc::new(OmahaJson::new(&options.server_name)),
        metrics: metrics.clone(),
        cup: options.cup_keys.clone(),
    };
    let connections = metrics.connections();
    let app = observed(router(state).merge(admin).merge(ops), metrics);
    let max_connections = conn::fit_to_open_files(
        options.connections.max_connections,
        conn::raise_open_file_limit(),
    );
    let limits = ConnectionLimits {
        max_connections,
        ..options.connections
    };
    match options.tls {
        Some(tls) => {
            let listener = TlsListener::new(listener, tls)?;
            conn::serve(listener, app, limits, connections, shutdown).await;
        }
        None => conn::serve(listener, app, limits, connections, shutdown).await,
    }
    let _ = stop_sync.send(());
    let _ = stop_notify.send(());
    if let Err(err) = notifier.await {
        tracing::error!(error = %err, "the notification task failed");
    }
    let _ = stop_lifecycle.send(());
    if let Err(err) = lifecycle.await {
        tracing::error!(error = %err, "the rollout lifecycle task failed");
    }
    let _ = stop_census.send(());
    if let Err(err) = census.await {
        tracing::error!(error = %err, "the census task failed");
    }
    let _ = stop_counts.send(());
    if let Err(err) = counts.await {
        tracing::error!(error = %err, "the instance counts task failed");
    }
    let _ = stop_retention.send(());
    if let Err(err) = retention.await {
        tracing::error!(error = %err, "the retention task failed");
    }
    if let Some(syncer) = syncer
        && let Err(err) = syncer.await
    {
        tracing::error!(error = %err, "the upstream sync task failed");
    }
    // Every handle to the writer is gone with the router: it drains its queue and ends.
    if let Err(err) = writer_task.await {
        tracing::error!(error = %err, "the writer task failed");
    }
    poller.abort();
    // The flusher writes what is left and ends.
    let _ = stop_flusher.send(());
    if let Err(err) = flusher.await {
        tracing::error!(error = %err, "the last-seen flusher failed");
    }
    Ok(())
}
