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
        env = "UPDATE_SERVER_DATA_DIR",
        default_value = "./update-server-data"
    )]
    pub data_dir: PathBuf,

    /// A `postgres://` URL switches storage to PostgreSQL (for several replicas); without it
    /// the server keeps a SQLite database in the data directory.
    #[arg(long, env = "UPDATE_SERVER_DATABASE_URL")]
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

    /// Log filter (tracing's `EnvFilter` syntax: `info`, `update_server=debug`, ...).
    #[arg(long, env = "UPDATE_SERVER_LOG", default_value = "info")]
    pub log: String,
}
