//! The server's configuration: command-line flags, each also read from an
//! `UPDATE_SERVER_*` environment variable.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `update-server`: a self-hosted Omaha update service.
#[derive(Debug, Clone, Parser)]
#[command(name = "update-server", version, about)]
pub struct Config {
    /// Address to listen on (the default server of updateservicectl).
    #[arg(long, env = "UPDATE_SERVER_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// Directory for the server's files: the SQLite database, unless --database-url names
    /// PostgreSQL.
    #[arg(
        long,
        global = true,
        env = "UPDATE_SERVER_DATA_DIR",
        default_value = "./update-server-data"
    )]
    pub data_dir: PathBuf,

    /// A `postgres://` URL switches storage to PostgreSQL (for several replicas); without it
    /// the server keeps a SQLite database in the data directory.
    #[arg(long, global = true, env = "UPDATE_SERVER_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Name the server gives in Omaha responses (`<response server="...">`).
    #[arg(long, env = "UPDATE_SERVER_NAME", default_value = "update-server")]
    pub server_name: String,

    /// The server secret that seals API keys at rest: 64 hex digits. Without it the secret
    /// is read from (or created in) `secret.key` in the data directory. Replicas sharing a
    /// database must share the secret.
    #[arg(long, env = "UPDATE_SERVER_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// The key of user `admin`, created on the first start (for automated deployments);
    /// without it a random key is generated and printed once.
    #[arg(long, env = "UPDATE_SERVER_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// The URL this server is reached at, which forms the URLs of the payloads it hosts
    /// (`<base-url>/packages/<name>`); default `http://<listen address>`.
    #[arg(long, env = "UPDATE_SERVER_BASE_URL")]
    pub base_url: Option<String>,

    /// Turns off `POST /package-upload` (payloads already in `<data-dir>/packages/` are
    /// still served).
    #[arg(long, env = "UPDATE_SERVER_DISABLE_PACKAGE_UPLOADS")]
    pub disable_package_uploads: bool,

    /// The largest payload `POST /package-upload` accepts, in bytes.
    #[arg(
        long,
        env = "UPDATE_SERVER_MAX_UPLOAD_SIZE",
        default_value_t = 8 * 1024 * 1024 * 1024
    )]
    pub max_upload_size: u64,

    /// Seconds between two syncs from the upstreams (CoreUpdate's `UPSTREAM_SYNC_INTERVAL`);
    /// 0 syncs only on `POST upstream/sync`.
    #[arg(
        long,
        env = "UPDATE_SERVER_UPSTREAM_SYNC_INTERVAL",
        default_value_t = 0
    )]
    pub upstream_sync_interval: u64,

    /// A subcommand instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Log filter (tracing's `EnvFilter` syntax: `info`, `update_server=debug`, ...).
    #[arg(long, env = "UPDATE_SERVER_LOG", default_value = "info")]
    pub log: String,
}

/// What to do instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Loads a backup made by `GET /db/backup` into a fresh data directory (SQLite) or an
    /// empty database (`--database-url`), then exits.
    Restore {
        /// The backup archive (`.tar.gz`).
        archive: PathBuf,
    },
}
