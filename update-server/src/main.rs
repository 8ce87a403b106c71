//! `update-server`: the self-hosted Omaha update service.
#![forbid(unsafe_code)]

use anyhow::Context as _;

/// jemalloc, configured in `.cargo/config.toml` to return freed memory to the system within
/// about a second (a background thread purges): after thousands of connections close, the
/// server's memory goes back down (glibc's allocator kept it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Prints a line to stdout; a closed stdout (a supervisor that stopped reading) is not a
/// reason to die.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
use std::sync::Arc;
use update_server::clock::SystemClock;

use update_server::config::{Command, Config, ConfigError, LogFormat};

fn main() -> anyhow::Result<()> {
    let config = match Config::load() {
        Ok(config) => config,
        // --help, --version and usage errors print as clap prints them.
        Err(ConfigError::Args(err)) => err.exit(),
        Err(err) => return Err(err.into()),
    };
    if config.print_config {
        say!("{}", config.to_toml().trim_end());
        return Ok(());
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .with_context(|| format!("invalid --log filter {:?}", config.log))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let admin_key = config.admin_key()?;
    // Checked before anything else, so that a bad certificate fails fast and clearly.
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(update_server::tls::server_config(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Single sign-on's settings are checked at start too; the provider is first asked at
    // the first sign-in, so a provider that is down does not stop the server.
    let sso = match config.sso_settings().validate()? {
        Some(sso) => {
            tracing::info!(issuer = %sso.issuer, client_id = %sso.client_id, "single sign-on on");
            Some(Arc::new(update_server::sso::Provider::new(sso)?))
        }
        None => None,
    };
    if let Some(Command::CupKeys { new }) = &config.command {
        return print_cup_keys(&config, *new);
    }
    let store = update_server::open_store(&config)
        .await
        .context("cannot open the store")?;
    if let Some(Command::Restore { archive }) = &config.command {
        let summary = update_server::backup::restore(archive, store.as_ref(), &config.data_dir)
            .await
            .with_context(|| format!("cannot restore {}", archive.display()))?;
        say!(
            "restored the {} backup of {} ({} payloads into {})",
            summary.manifest.backend,
            summary.manifest.created_at,
            summary.payloads_restored,
            config.data_dir.join("packages").display()
        );
        return Ok(());
    }
    if let Some(Command::ResetAdminKey) = &config.command {
        let secret =
            update_server::load_secret(&config).context("cannot load the server secret")?;
        let key = update_server::admin::reset_admin_key(
            store.as_ref(),
            &secret,
            jiff::Timestamp::now().as_millisecond(),
        )
        .await
        .context("cannot give admin a new key")?;
        say!("new key for user admin: {key}");
        say!("(shown only now: keep it; the old key no longer works)");
        return Ok(());
    }
    let cup_keys = update_server::cup::load_keys(&config)?;
    tracing::info!(
        dir = %update_server::cup::key_dir(&config).display(),
        versions = ?cup_keys.versions().map(|v| v.get()).collect::<Vec<_>>(),
        "CUP signing keys loaded (`update-server cup-keys` prints the public keys)"
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    let secret = update_server::load_secret(&config).context("cannot load the server secret")?;
    let created = update_server::admin::ensure_admin(
        store.as_ref(),
        &secret,
        admin_key.as_deref(),
        jiff::Timestamp::now().as_millisecond(),
    )
    .await
    .context("cannot create the admin user")?;
    say!(
        "update-server listening on {scheme}://{addr} (storage: {})",
        store.backend()
    );
    match created {
        Some(_) if admin_key.is_some() => {
            say!("created user admin with the key given by --admin-key or --admin-key-file");
        }
        Some(key) => say!("created user admin with key {key} (shown only now: keep it)"),
        None if admin_key.is_some() => {
            tracing::warn!(
                "--admin-key is ignored: the database has users already, so it is not a key of \
                 any user; run `update-server reset-admin-key` to give admin a new key"
            );
        }
        None => {}
    }
    update_server::serve(
        listener,
        store,
        Arc::new(SystemClock),
        update_server::ServerOptions {
            data_dir: Some(config.data_dir.clone()),
            base_url: config.base_url.clone(),
            package_uploads: !config.disable_package_uploads,
            max_upload_size: config.max_upload_size,
            upstream_sync_interval: (config.upstream_sync_interval > 0)
                .then(|| std::time::Duration::from_secs(config.upstream_sync_interval)),
            tls,
            connections: update_server::conn::ConnectionLimits {
                max_connections: config.max_connections.max(1),
                header_read_timeout: std::time::Duration::from_secs(
                    config.header_read_timeout.max(1),
                ),
                idle_timeout: std::time::Duration::from_secs(config.idle_timeout.max(1)),
                body_timeout: std::time::Duration::from_secs(config.body_timeout.max(1)),
            },
            retention: update_server::retention::Retention::from_days(
                config.history_retention_days,
                config.minute_rollup_retention_days,
                config.hourly_rollup_retention_days,
                config.daily_rollup_retention_days,
                config.activity_retention_days,
            ),
            cup_keys: Arc::new(cup_keys),
            sso,
            ..update_server::ServerOptions::new(&config.server_name, secret)
        },
        shutdown_signal(),
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// `update-server cup-keys [--new]`: prints the key versions and public keys served.
fn print_cup_keys(config: &Config, new: bool) -> anyhow::Result<()> {
    use update_server::cup::{CupKeys, key_dir, load_keys};
    let dir = key_dir(config);
    if new {
        let (version, _) = CupKeys::create_next(&dir)?;
        say!("created CUP key version {version} in {}", dir.display());
    }
    let keys = load_keys(config)?;
    for (version, key) in keys.public_keys() {
        say!("key version {version}:");
        say!("{}", key.to_pem().trim_end());
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
