//! The server's configuration: command-line flags, `UPDATE_SERVER_*` environment variables,
//! and a TOML file.
//!
//! Every flag can be given in all three places. Precedence, highest first:
//!
//! 1. the flag on the command line;
//! 2. its environment variable (for `--log`: `UPDATE_SERVER_LOG`, then `RUST_LOG`);
//! 3. the file named by `--config` (or `UPDATE_SERVER_CONFIG`);
//! 4. the default.
//!
//! The file's keys are the flags' long names without the dashes (`listen`, `data-dir`,
//! `history-retention-days`, ...), at the top level; values are strings, integers or
//! booleans. A key that names no flag is an error that names the key.
//! `update-server --print-config` prints the effective configuration in the same format,
//! with the secret, the admin key, the OIDC client secret and a database password masked.

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory as _, FromArgMatches as _, Parser};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `update-server`: a self-hosted Omaha update service.
#[derive(Debug, Clone, Parser, serde::Serialize)]
#[command(name = "update-server", version, about)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    /// A TOML file with any of these settings (keys are the flags' names); flags and
    /// environment variables override it.
    #[arg(long, global = true, env = "UPDATE_SERVER_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Prints the effective configuration as TOML (secrets masked) and exits.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,

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
    #[arg(
        long,
        global = true,
        env = "UPDATE_SERVER_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<String>,

    /// The directory of the CUP signing keys (one `<key version>.pem` each, every one
    /// served), which must hold at least one; without it they are kept in `cup-keys/` in the
    /// data directory, where key version 1 is created on the first start. Replicas must
    /// share their keys (docs/signing.md).
    #[arg(long, global = true, env = "UPDATE_SERVER_CUP_KEY_DIR")]
    pub cup_key_dir: Option<PathBuf>,

    /// The key of user `admin`, created on the first start (for automated deployments);
    /// without it a random key is generated and printed once. Once the database has users
    /// it is ignored, with a warning (`update-server reset-admin-key` gives a new key).
    /// At least 16 characters (`MIN_ADMIN_KEY_LEN`).
    #[arg(long, env = "UPDATE_SERVER_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// A file holding the key of user `admin` (as --admin-key, which it excludes), so that
    /// the key is in neither the process list nor the environment; surrounding whitespace
    /// is trimmed.
    #[arg(
        long,
        env = "UPDATE_SERVER_ADMIN_KEY_FILE",
        conflicts_with = "admin_key"
    )]
    pub admin_key_file: Option<PathBuf>,

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

    /// Connections open at once; more are closed as they arrive (capped by the open-file
    /// limit, which the server raises to its hard limit at start).
    #[arg(long, env = "UPDATE_SERVER_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Seconds a client may take to send a request's line and headers, from their first
    /// byte.
    #[arg(long, env = "UPDATE_SERVER_HEADER_READ_TIMEOUT", default_value_t = 10)]
    pub header_read_timeout: u64,

    /// Seconds a connection may stay open with no request in flight and no byte moving
    /// (an idle keep-alive connection, one that never sent a byte, a stalled download).
    #[arg(long, env = "UPDATE_SERVER_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout: u64,

    /// Seconds a request body may take to arrive (for payload uploads: the longest pause
    /// between two reads).
    #[arg(long, env = "UPDATE_SERVER_BODY_TIMEOUT", default_value_t = 30)]
    pub body_timeout: u64,

    /// Seconds a database statement, or one transaction of the writer, may take before it
    /// fails (PostgreSQL's statement_timeout, SQLite's busy timeout); an update request
    /// waits at most this long for its write, then gets 503.
    #[arg(long, env = "UPDATE_SERVER_DATABASE_TIMEOUT", default_value_t = 10)]
    pub database_timeout: u64,

    /// Seconds to wait for a free database connection (or a new one) before failing.
    #[arg(
        long,
        env = "UPDATE_SERVER_DATABASE_ACQUIRE_TIMEOUT",
        default_value_t = 5
    )]
    pub database_acquire_timeout: u64,

    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "UPDATE_SERVER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "UPDATE_SERVER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Days of per-instance history (events and grants) kept; 0 keeps it forever.
    #[arg(
        long,
        env = "UPDATE_SERVER_HISTORY_RETENTION_DAYS",
        default_value_t = 90
    )]
    pub history_retention_days: u32,

    /// Days of per-minute request and event counts kept (the graphs' finest resolution);
    /// 0 keeps them forever.
    #[arg(
        long,
        env = "UPDATE_SERVER_MINUTE_ROLLUP_RETENTION_DAYS",
        default_value_t = 2
    )]
    pub minute_rollup_retention_days: u32,

    /// Days of hourly counts kept; 0 keeps them forever.
    #[arg(
        long,
        env = "UPDATE_SERVER_HOURLY_ROLLUP_RETENTION_DAYS",
        default_value_t = 90
    )]
    pub hourly_rollup_retention_days: u32,

    /// Days of daily counts kept; 0 keeps them forever.
    #[arg(
        long,
        env = "UPDATE_SERVER_DAILY_ROLLUP_RETENTION_DAYS",
        default_value_t = 730
    )]
    pub daily_rollup_retention_days: u32,

    /// Days of the activity log kept; 0 keeps it forever.
    #[arg(
        long,
        env = "UPDATE_SERVER_ACTIVITY_RETENTION_DAYS",
        default_value_t = 365
    )]
    pub activity_retention_days: u32,

    /// Single sign-on for the panel: the OpenID Connect issuer URL (discovery reads
    /// `<issuer>/.well-known/openid-configuration`). Without it the panel has key login
    /// only. See docs/sso.md.
    #[arg(long, env = "UPDATE_SERVER_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// The client id registered at the provider (the ID token's audience).
    #[arg(long, env = "UPDATE_SERVER_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// The client secret; without it the server is a public client (PKCE only).
    #[arg(long, env = "UPDATE_SERVER_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,

    /// The redirect URL registered at the provider; default
    /// `<base-url>/login/oidc/callback`.
    #[arg(long, env = "UPDATE_SERVER_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,

    /// The scopes asked for, separated by spaces (`openid` is always asked for).
    #[arg(
        long,
        env = "UPDATE_SERVER_OIDC_SCOPES",
        default_value = "openid profile email"
    )]
    pub oidc_scopes: String,

    /// The ID token claim whose values are mapped to roles (a dotted path reaches into
    /// objects: `realm_access.roles`).
    #[arg(long, env = "UPDATE_SERVER_OIDC_ROLE_CLAIM", default_value = "groups")]
    pub oidc_role_claim: String,

    /// The ID token claim that names the user in the panel and the activity log
    /// (`sso:<value>`).
    #[arg(long, env = "UPDATE_SERVER_OIDC_NAME_CLAIM", default_value = "sub")]
    pub oidc_name_claim: String,

    /// Which values of the role claim give which role: `value=role` or
    /// `value=role:app,app` entries separated by `;` (`ops=operator;viewers=viewer:app-a`).
    /// The highest role matched wins.
    #[arg(long, env = "UPDATE_SERVER_OIDC_ROLES")]
    pub oidc_roles: Option<String>,

    /// The role (`role` or `role:app,app`) of a user whom no entry of --oidc-roles matches;
    /// without it such a sign-in is refused.
    #[arg(long, env = "UPDATE_SERVER_OIDC_DEFAULT_ROLE")]
    pub oidc_default_role: Option<String>,

    /// A subcommand instead of serving.
    #[command(subcommand)]
    #[serde(skip)]
    pub command: Option<Command>,

    /// Log filter (tracing's `EnvFilter` syntax: `info`, `update_server=debug`, ...);
    /// `RUST_LOG` is read when neither this flag nor `UPDATE_SERVER_LOG` is set.
    #[arg(long, env = "UPDATE_SERVER_LOG", default_value = "info")]
    pub log: String,

    /// Log format: `text` for people, `json` (one object per line) for log collectors.
    #[arg(
        long,
        env = "UPDATE_SERVER_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the span fields (request id, method, path).
    Json,
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
    /// Gives user `admin` a new API key (creating the user if it was deleted), prints the
    /// key, and exits: the way back in when every key is lost. Works on the store of
    /// `--data-dir` or `--database-url`, with the server secret of `--secret` or the data
    /// directory, while servers run or not; the old key stops working at once.
    ResetAdminKey,
    /// Prints the CUP signing keys' versions and public keys (what updaters pin), creating
    /// key version 1 first as the server's first start would; with `--new`, first creates
    /// the key of the next version (for a rotation: see docs/signing.md). Then exits.
    CupKeys {
        /// Create the key of the version after the highest first.
        #[arg(long)]
        new: bool,
    },
}

/// Why the configuration could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line or an environment variable is wrong (clap's message, with usage).
    #[error("{0}")]
    Args(#[from] clap::Error),
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("the configuration file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line.
        message: String,
    },
    /// A key of the configuration file names no setting.
    #[error("the configuration file {path} has an unknown key `{key}`")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// The admin key given is unusable (the message never contains the key).
    #[error("{0}")]
    AdminKey(String),
    /// A value of the configuration file is unusable.
    #[error("the configuration file {path}: key `{key}`: {message}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

/// The shortest key `--admin-key` (or `--admin-key-file`) may give.
pub const MIN_ADMIN_KEY_LEN: usize = 16;

/// Flags that only make sense on the command line.
const COMMAND_LINE_ONLY: [&str; 4] = ["config", "print-config", "help", "version"];

impl Config {
    /// The configuration from the process's arguments and environment, and the file they
    /// name.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::args_os(), |name| std::env::var_os(name))
    }

    /// The configuration from `args` (the first is the program name), the environment as
    /// `env` reads it, and the file they name. The environment of the arguments is read by
    /// clap from the process; `env` is consulted for `RUST_LOG` only.
    pub fn load_from(
        args: impl IntoIterator<Item = impl Into<OsString>>,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, ConfigError> {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let command = Self::command();
        let first = command.clone().try_get_matches_from(&args)?;
        let given = |id: &str| {
            matches!(
                first.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        let rust_log = (!given("log"))
            .then(|| env("RUST_LOG"))
            .flatten()
            .filter(|v| !v.is_empty());

        let mut from_file: Vec<OsString> = Vec::new();
        if let Some(path) = first.get_one::<PathBuf>("config") {
            let table = read_file(path)?;
            for (key, value) in table {
                let arg = command
                    .get_arguments()
                    .find(|a| a.get_long() == Some(key.as_str()))
                    .filter(|_| !COMMAND_LINE_ONLY.contains(&key.as_str()))
                    .ok_or_else(|| ConfigError::UnknownKey {
                        path: path.clone(),
                        key: key.clone(),
                    })?;
                let id = arg.get_id().as_str();
                if given(id) || (id == "log" && rust_log.is_some()) {
                    continue;
                }
                let flag = matches!(arg.get_action(), ArgAction::SetTrue);
                let bad = |message: String| ConfigError::Value {
                    path: path.clone(),
                    key: key.clone(),
                    message,
                };
                let text = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) if flag => {
                        if b {
                            from_file.push(format!("--{key}").into());
                        }
                        continue;
                    }
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(bad(format!(
                            "expected a string, a number or a boolean, found {}",
                            other.type_str()
                        )));
                    }
                };
                if flag {
                    return Err(bad(format!("expected true or false, found {text:?}")));
                }
                // Checked alone (the value parser without the other flags' rules), so that a
                // bad value is reported with the file and the key.
                let probe = clap::Command::new("update-server").arg(
                    clap::Arg::new("value")
                        .long("value")
                        .value_parser(arg.get_value_parser().clone()),
                );
                if let Err(err) = probe.try_get_matches_from(["update-server", "--value", &text]) {
                    return Err(bad(
                        clap_message(&err).replace("--value <value>", &format!("--{key}"))
                    ));
                }
                let arg = OsString::from(format!("--{key}={text}"));
                from_file.push(arg);
            }
        }
        let mut merged = Vec::with_capacity(args.len() + from_file.len());
        merged.extend(args.first().cloned());
        merged.extend(from_file);
        merged.extend(args.into_iter().skip(1));
        let matches = command.try_get_matches_from(merged)?;
        let mut config = Self::from_arg_matches(&matches)?;
        if let Some(filter) = rust_log {
            config.log = filter.to_string_lossy().into_owned();
        }
        Ok(config)
    }

    /// The key of user `admin` given by `--admin-key` or read from `--admin-key-file`
    /// (trimmed), if either is set: at least [`MIN_ADMIN_KEY_LEN`] characters, with no
    /// whitespace or control characters inside.
    pub fn admin_key(&self) -> Result<Option<String>, ConfigError> {
        let (key, source) = match (&self.admin_key, &self.admin_key_file) {
            (Some(key), _) => (key.clone(), "--admin-key".to_owned()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|err| {
                    ConfigError::AdminKey(format!(
                        "cannot read the admin key file {}: {err}",
                        path.display()
                    ))
                })?;
                (
                    text.trim().to_owned(),
                    format!("the admin key file {}", path.display()),
                )
            }
            (None, None) => return Ok(None),
        };
        let length = key.chars().count();
        if length < MIN_ADMIN_KEY_LEN {
            return Err(ConfigError::AdminKey(format!(
                "the admin key of {source} is too short: {length} characters, at least \
                 {MIN_ADMIN_KEY_LEN} are needed (a random one: `openssl rand -hex 16`)"
            )));
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::AdminKey(format!(
                "the admin key of {source} contains whitespace or a control character"
            )));
        }
        Ok(Some(key))
    }

    /// The single sign-on settings as given, for [`crate::sso::SsoSettings::validate`].
    #[must_use]
    pub fn sso_settings(&self) -> crate::sso::SsoSettings {
        crate::sso::SsoSettings {
            issuer: self.oidc_issuer.clone(),
            client_id: self.oidc_client_id.clone(),
            client_secret: self.oidc_client_secret.clone(),
            redirect_url: self.oidc_redirect_url.clone(),
            scopes: self.oidc_scopes.clone(),
            role_claim: self.oidc_role_claim.clone(),
            name_claim: self.oidc_name_claim.clone(),
            roles: self.oidc_roles.clone(),
            default_role: self.oidc_default_role.clone(),
            base_url: self.base_url.clone(),
        }
    }

    /// The effective configuration as TOML, with the secret, the admin key and the
    /// database password masked. Settings without a value are listed as comments.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.secret.is_some() {
            shown.secret = Some(MASK.into());
        }
        if shown.admin_key.is_some() {
            shown.admin_key = Some(MASK.into());
        }
        if shown.oidc_client_secret.is_some() {
            shown.oidc_client_secret = Some(MASK.into());
        }
        shown.database_url = shown.database_url.as_deref().map(mask_url_password);
        let mut out = toml::to_string(&shown).expect("the configuration serializes as TOML");
        let table: toml::Table = toml::from_str(&out).expect("what was written parses");
        for arg in Self::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if !COMMAND_LINE_ONLY.contains(&long) && !table.contains_key(long) {
                out.push_str(&format!("# {long} is not set\n"));
            }
        }
        out
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_message(err: &clap::Error) -> String {
    let text = err.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// What a masked secret reads as.
const MASK: &str = "********";

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|err| ConfigError::Syntax {
        path: path.to_owned(),
        message: err.to_string().trim_end().to_owned(),
    })
}

/// A database URL with its password (in the authority or as a `password=` parameter)
/// replaced by the mask.
fn mask_url_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = &out[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest + colon + 1..rest + at, MASK);
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let (head, query) = out.split_at(query_start + 1);
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sso_settings_come_from_the_file_and_the_flags_and_the_secret_is_masked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(
            &path,
            "base-url = \"https://updates.example.com\"\n\
             oidc-issuer = \"http://sso.example.com/realms/fleet\"\n\
             oidc-client-id = \"from-file\"\n\
             oidc-client-secret = \"hunter2\"\n\
             oidc-role-claim = \"realm_access.roles\"\n\
             oidc-roles = \"\"\"\nadmins=admin\nops=operator:app-a\n\"\"\"\n",
        )
        .unwrap();
        let config = Config::load_from(
            [
                "update-server",
                "--config",
                path.to_str().unwrap(),
                "--oidc-client-id",
                "from-flag",
            ],
            |_| None,
        )
        .unwrap();
        let sso = config.sso_settings().validate().unwrap().unwrap();
        assert_eq!(sso.client_id, "from-flag", "the flag wins over the file");
        assert_eq!(sso.client_secret.as_deref(), Some("hunter2"));
        assert_eq!(sso.role_claim, "realm_access.roles");
        assert_eq!(sso.name_claim, "sub");
        assert_eq!(
            sso.redirect_url,
            "https://updates.example.com/login/oidc/callback"
        );
        assert_eq!(sso.roles.entries.len(), 2);
        let shown = config.to_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("oidc-client-secret = \"********\""),
            "{shown}"
        );

        std::fs::write(&path, "oidc-roles = \"admins=admin\"\n").unwrap();
        let config = Config::load_from(
            ["update-server", "--config", path.to_str().unwrap()],
            |_| None,
        )
        .unwrap();
        let err = config.sso_settings().validate().unwrap_err().to_string();
        assert!(
            err.contains("--oidc-roles is set but --oidc-issuer is not"),
            "{err}"
        );
    }

    #[test]
    fn database_passwords_are_masked() {
        for (url, masked) in [
            (
                "postgres://app:s3cr%40t@db:5432/updates",
                "postgres://app:********@db:5432/updates",
            ),
            ("postgres://app@db/updates", "postgres://app@db/updates"),
            (
                "postgres://db/updates?user=app&password=hunter2&sslmode=require",
                "postgres://db/updates?user=app&password=********&sslmode=require",
            ),
            (
                "postgresql://u:p@h/d?password=x",
                "postgresql://u:********@h/d?password=********",
            ),
        ] {
            assert_eq!(mask_url_password(url), masked, "{url}");
        }
    }
}
