//! Durable storage: the [`Store`] trait and its two implementations, SQLite (the embedded
//! default) and PostgreSQL (for several replicas).
//!
//! The store is a persistence layer without policy: it saves and loads records and gives the
//! server transactions. The rollout decision itself is made by `rollout-core` inside a
//! [`WriteTx`], between [`WriteTx::lock_groups`] and [`WriteTx::commit`]; the store's part is
//! to make that read-decide-write atomic (SQLite: one writer at a time; PostgreSQL: `SELECT ...
//! FOR UPDATE` on the groups' state rows, taken in a fixed order so batches never deadlock).
//!
//! Times are unix milliseconds. App ids are canonical: [`canonical_app_id`] of what the client
//! sent.
//!
//! The SQL both backends share is written once, in one module per table or aggregate
//! (`apps`, `channels`, `packages`, `groups`, `users`, `tokens`, `activity`, `webhooks`,
//! `upstreams`, `instances`, `counts`, `history`, `rollups`, `config` for the snapshot,
//! `write_tx` for the writer's transaction); `sqlite` and `postgres` hold what differs.

mod activity;
mod apps;
mod channels;
mod common;
mod config;
mod counts;
mod groups;
mod history;
mod instances;
mod packages;
mod postgres;
mod rollups;
mod sqlite;
mod tokens;
mod upstreams;
mod users;
mod webhooks;
mod write_tx;

pub use omaha_proto::appid::canonical_app_id;
pub use postgres::PostgresStore;
pub use sqlite::{SQLITE_BACKUP_FILE, SqliteStore};

use async_trait::async_trait;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `app 3f2c...`.
        what: String,
    },
    /// A record with the same key exists already.
    #[error("{what} already exists")]
    Conflict {
        /// What collided, e.g. `channel stable of app 3f2c...`.
        what: String,
    },
    /// A record refers to one that does not exist (a channel of an unknown app, say).
    #[error("{what}")]
    MissingReference {
        /// What is missing.
        what: String,
    },
    /// A value read from the database could not be interpreted.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Applying the migrations failed.
    #[error("database migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The database failed or could not be reached.
    #[error("database error")]
    Backend(#[source] sqlx::Error),
    /// The database did not answer in time.
    #[error("the database did not answer within {} ms ({what})", after.as_millis())]
    TimedOut {
        /// What was waiting, e.g. `write transaction`.
        what: &'static str,
        /// The timeout.
        after: std::time::Duration,
    },
    /// A backup could not be written or restored; the message says why.
    #[error("backup: {0}")]
    Backup(String),
}

impl StoreError {
    /// The error with its causes, `a: b: c`, for logs (the database's own message included,
    /// which `Display` leaves out so that clients never see it).
    pub fn detail(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(err) = cause {
            text.push_str(": ");
            text.push_str(&err.to_string());
            cause = err.source();
        }
        text
    }

    /// Whether the database itself is failing (unreachable, timed out, out of disk space or
    /// resources, shutting down), as opposed to refusing what one request asked for (a
    /// constraint, a value it cannot store). The writer counts the first as "cannot
    /// commit" (`/readyz` turns not-ready) and answers its requests 503.
    pub fn is_unavailable(&self) -> bool {
        let err = match self {
            Self::Backend(err) => err,
            Self::TimedOut { .. } => return true,
            _ => return false,
        };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // SQLite's primary result code (the low byte of an extended one): 5
                    // BUSY and 6 LOCKED (past the busy timeout), 10 IOERR, 11 CORRUPT, 13 FULL, 14 CANTOPEN, 26 NOTADB.
                    code.parse::<i64>()
                        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 11 | 13 | 14 | 26))
                } else {
                    // PostgreSQL SQLSTATE classes: 08 connection, 53 insufficient resources
                    // (disk full), 57 operator intervention (shutdown, statement timeout),
                    // 58 system error.
                    ["08", "53", "57", "58"]
                        .iter()
                        .any(|class| code.starts_with(class))
                }
            }
            _ => false,
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }
}

/// How long the store waits for the database before it gives up, so that a database that
/// stops answering fails requests quickly instead of holding them (docs/limits.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreTimeouts {
    /// The longest wait for a connection from the pool (`--database-acquire-timeout`).
    pub acquire: std::time::Duration,
    /// The longest a statement, or one transaction of the writer, may take
    /// (`--database-timeout`): PostgreSQL's `statement_timeout`, SQLite's busy timeout, and
    /// the writer's bound on each transaction whatever the database does.
    pub statement: std::time::Duration,
}

impl Default for StoreTimeouts {
    fn default() -> Self {
        Self {
            acquire: std::time::Duration::from_secs(5),
            statement: std::time::Duration::from_secs(10),
        }
    }
}

/// An application.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppRecord {
    /// Canonical app id.
    pub id: String,
    /// Short name.
    pub label: String,
    /// Free text.
    pub description: String,
    /// How update answers write `hash_sha256`: `hex` (the default) or `base64`.
    pub hash_sha256: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A channel: a name pointing at a package version of an app.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChannelRecord {
    /// Canonical app id.
    pub app_id: String,
    /// The channel's name (CoreUpdate's `label`), e.g. `stable`.
    pub name: String,
    /// The package version the channel points at.
    pub version: String,
    /// Visible on the public endpoints and to downstream syncs.
    pub publish: bool,
    /// The upstream the channel was synced from, empty when local.
    pub upstream: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A package: one version of an app's payload.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PackageRecord {
    /// Canonical app id.
    pub app_id: String,
    /// The version this payload installs.
    pub version: String,
    /// Where instances download it: the Omaha codebase is its directory, the package name its
    /// last segment.
    pub url: String,
    /// Size in bytes (stored as a signed 64-bit integer).
    #[sqlx(try_from = "i64")]
    pub size: u64,
    /// SHA-1 of the payload, standard base64.
    pub sha1: String,
    /// SHA-256 of the payload, standard base64.
    pub sha256: String,
    /// update_engine's `MetadataSize`, as given.
    pub metadata_size: String,
    /// update_engine's `MetadataSignatureRsa`, as given.
    pub metadata_signature_rsa: String,
    /// Detached ed25519 signature of the payload (base64), empty when unsigned.
    pub signature: String,
    /// Release notes.
    pub release_notes: String,
    /// Omaha `required`.
    pub required: bool,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A version's package for a named architecture. The version's [`PackageRecord`] is its
/// default package, served to every architecture without one of its own.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ArchPackageRecord {
    /// The architecture (canonical, see `rollout_core::Arch`).
    pub arch: String,
    /// The package, of the same app and version as the default package.
    #[sqlx(flatten)]
    pub package: PackageRecord,
}

/// An extra file of a package (`oem-qemu.gz`, `flatcar-<extension>.gz`): listed after the
/// payload in the same Omaha answer, downloaded from the same codebase (the directory of
/// the package's URL).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PackageFileRecord {
    /// Canonical app id.
    pub app_id: String,
    /// The package's version.
    pub version: String,
    /// The package's architecture: empty for the version's default package.
    pub arch: String,
    /// The file name (a plain file name, joined to the package's codebase).
    pub name: String,
    /// Size in bytes (stored as a signed 64-bit integer).
    #[sqlx(try_from = "i64")]
    pub size: u64,
    /// SHA-1, standard base64 (empty when unknown).
    pub sha1: String,
    /// SHA-256, standard base64.
    pub sha256: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A floor of a channel: a version every instance below it must install before it is
/// offered a later one.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FloorRecord {
    /// Canonical app id.
    pub app_id: String,
    /// The channel's name.
    pub channel: String,
    /// The architecture it holds for; empty for every architecture.
    pub arch: String,
    /// The version.
    pub version: String,
    /// Why it cannot be skipped.
    pub reason: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A version never offered on a channel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BlacklistRecord {
    /// Canonical app id.
    pub app_id: String,
    /// The channel's name.
    pub channel: String,
    /// The version.
    pub version: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// A group: a set of instances (named by their `track`) following one channel under one
/// policy.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GroupRecord {
    /// Canonical app id.
    pub app_id: String,
    /// The group id instances send as `track`.
    pub id: String,
    /// Display name.
    pub label: String,
    /// The channel the group follows; empty for none.
    pub channel: String,
    /// The group's policy, encoded by the server's policy module. The store keeps it as an
    /// opaque document.
    pub policy: String,
    /// Creation time, unix ms.
    pub created_at: i64,
}

/// Everything the server's configuration cache holds, read in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSnapshot {
    /// The configuration generation this snapshot was read at.
    pub generation: i64,
    /// All apps.
    pub apps: Vec<AppRecord>,
    /// All channels.
    pub channels: Vec<ChannelRecord>,
    /// All groups.
    pub groups: Vec<GroupRecord>,
    /// All packages.
    pub packages: Vec<PackageRecord>,
    /// All packages of named architectures.
    pub arch_packages: Vec<ArchPackageRecord>,
    /// All packages' extra files.
    pub package_files: Vec<PackageFileRecord>,
    /// All channels' floors.
    pub floors: Vec<FloorRecord>,
    /// All channels' blacklisted versions.
    pub blacklist: Vec<BlacklistRecord>,
}

/// One instance (a machine running an app) as the server last saw it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceRecord {
    /// Canonical app id.
    pub app_id: String,
    /// The instance's id: Omaha `machineid`, or `userid` when that is absent.
    pub machine_id: String,
    /// The group the instance named (`track`), whether or not it exists.
    pub group_id: String,
    /// The version it last reported.
    pub version: String,
    /// Its OEM.
    pub oem: String,
    /// Its update status, as the server's state machine names it.
    pub status: String,
    /// The last event's type.
    pub last_event_type: Option<i64>,
    /// The last event's result.
    pub last_event_result: Option<i64>,
    /// The last event's error code.
    pub last_error_code: Option<i64>,
    /// The version of the outstanding grant the instance holds, if any.
    pub grant_version: Option<String>,
    /// When that grant was made, unix ms.
    pub granted_at: Option<i64>,
    /// First contact, unix ms.
    pub first_seen: i64,
    /// Last contact, unix ms.
    pub last_seen: i64,
    /// The order key of the request whose report (version, OEM, group, last seen) the row
    /// holds (see [`crate::clock::report_seq`]): an older report never overwrites a newer
    /// one.
    pub report_seq: i64,
    /// Consecutive failed attempts (cleared by a completion or the operator).
    pub failures: i64,
    /// The end of the retry delay after the last failure, unix ms.
    pub retry_until: Option<i64>,
    /// The version whose retry is delayed (`None`: any).
    pub retry_version: Option<String>,
}

/// A routine check-in that changes nothing but "last seen" (and the version, group and OEM
/// the instance reports). Written in batches, behind the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// Canonical app id.
    pub app_id: String,
    /// Instance id.
    pub machine_id: String,
    /// The group it named.
    pub group_id: String,
    /// The version it reported.
    pub version: String,
    /// Its OEM.
    pub oem: String,
    /// When, unix ms.
    pub at: i64,
    /// The request's order key ([`crate::clock::report_seq`]): the sighting is written only
    /// over an older report.
    pub seq: i64,
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    /// The instance reported an event.
    Event,
    /// The server granted the instance an update.
    Grant,
}

impl HistoryKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Grant => "grant",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "event" => Ok(Self::Event),
            "grant" => Ok(Self::Grant),
            other => Err(StoreError::Corrupt(format!("history kind {other:?}"))),
        }
    }
}

/// One entry of an instance's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Canonical app id.
    pub app_id: String,
    /// Instance id.
    pub machine_id: String,
    /// When, unix ms.
    pub at: i64,
    /// The group the instance named.
    pub group_id: String,
    /// The instance's version at the time.
    pub version: String,
    /// Event or grant.
    pub kind: HistoryKind,
    /// Event type (events only).
    pub event_type: Option<i64>,
    /// Event result (events only).
    pub event_result: Option<i64>,
    /// Error code (events only, when sent).
    pub error_code: Option<i64>,
    /// The version granted (grants only).
    pub target_version: Option<String>,
    /// The request's `installsource` (`scheduler`, `ondemandupdate`, ...).
    pub install_source: String,
    /// The event's `previousversion`, as sent (events only, when sent).
    pub previous_version: Option<String>,
}

/// Graph resolutions the rollups are kept at, in seconds.
pub const ROLLUP_RESOLUTIONS: [i64; 3] = [60, 3600, 86400];

/// An increment of the request counters behind the graphs, at every resolution of
/// [`ROLLUP_RESOLUTIONS`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    /// Canonical app id.
    pub app_id: String,
    /// Group named.
    pub group_id: String,
    /// Instance version.
    pub version: String,
    /// `None` counts requests; `Some((type, result))` counts events of that kind
    /// ([`CHECK_IN`]: routine 3/2 check-ins).
    pub event: Option<(i64, i64)>,
}

/// A counter increment: `count` requests (or events) under `key` at time `at` (unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupDelta {
    /// What is counted.
    pub key: RollupKey,
    /// When, unix ms; the buckets are derived from it.
    pub at: i64,
    /// How many.
    pub count: i64,
}

/// Which rollup series to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupKind {
    /// Requests per version.
    Versions,
    /// Events per (version, type, result).
    Events,
    /// Instances per version: the census ([`Store::record_census`]) last taken in each
    /// bucket.
    Instances,
    /// Routine 3/2 check-ins per version (not completions).
    CheckIns,
}

/// `event_type` of the rollup rows: requests per version carry this one, the census
/// [`CENSUS_EVENT`], events their own (zero or more).
pub(crate) const REQUESTS_EVENT: i64 = -1;
/// `event_type` of the census rows.
pub(crate) const CENSUS_EVENT: i64 = -2;
/// `event_type` and `event_result` of the check-in rows: routine 3/2 reports that complete
/// nothing (update_engine sends one with every check), counted per version apart from the
/// events, so that (3, 2) counts completions only.
pub(crate) const CHECK_IN_EVENT: i64 = -3;
/// The rollup key's `event` of routine 3/2 check-ins.
pub const CHECK_IN: (i64, i64) = (CHECK_IN_EVENT, CHECK_IN_EVENT);

/// One point of a rollup series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupPoint {
    /// Instance version.
    pub version: String,
    /// Event type and result (events series only).
    pub event: Option<(i64, i64)>,
    /// Bucket start, unix seconds.
    pub bucket: i64,
    /// Count in the bucket.
    pub count: i64,
}

/// The persisted rollout state of one group, as the server encodes it, with a revision
/// bumped on every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStateRecord {
    /// The encoded state.
    pub state: Vec<u8>,
    /// Bumped on every write.
    pub revision: i64,
}

/// An outstanding grant of a group's rollout state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRecord {
    /// Canonical app id.
    pub app_id: String,
    /// Group.
    pub group_id: String,
    /// Instance id.
    pub machine_id: String,
    /// Version granted.
    pub version: String,
    /// When, unix ms.
    pub granted_at: i64,
    /// When it expires if not completed, unix ms.
    pub expires_at: Option<i64>,
    /// Whether it took rate-limit capacity (not an on-demand grant).
    pub scheduled: bool,
}

/// An admin user, with its API key sealed under the server secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The name (the Hawk id).
    pub name: String,
    /// The sealed API key.
    pub key_sealed: Vec<u8>,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Its role.
    pub role: crate::access::Role,
    /// The apps it may touch (canonical ids); `None`: every app.
    pub apps: Option<std::collections::BTreeSet<String>>,
}

/// An API token for automation: its secret sealed under the server secret, like the users'
/// keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Its id: the public part of the token, how the token is looked up.
    pub id: String,
    /// Its name (unique).
    pub name: String,
    /// Its role.
    pub role: crate::access::Role,
    /// The apps it may touch (canonical ids); `None`: every app.
    pub apps: Option<std::collections::BTreeSet<String>>,
    /// The sealed secret part.
    pub secret_sealed: Vec<u8>,
    /// Who created it (as the activity log names it).
    pub created_by: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// When it stops working, unix ms.
    pub expires_at: i64,
    /// Its last use, unix ms (recorded at most once a minute).
    pub last_used_at: Option<i64>,
}

/// An entry of the activity log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRecord {
    /// Its id (assigned by the store; ignored on append).
    pub id: i64,
    /// When, unix ms.
    pub at: i64,
    /// Who: a user name, or `system`.
    pub actor: String,
    /// What kind of change.
    pub action: String,
    /// The app concerned, or empty.
    pub app_id: String,
    /// The group concerned, or empty.
    pub group_id: String,
    /// Description.
    pub detail: String,
    /// What the change changed, field by field (empty for entries that change no field,
    /// and for entries written before changes were recorded).
    pub changes: Vec<ActivityChange>,
}

/// One field an activity log entry changed. Secrets are never recorded: their values read
/// `(secret)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActivityChange {
    /// The field, as the admin API names it (`updatePercent`, `version`, ...).
    pub field: String,
    /// The value before; `None` when the field did not exist (a creation).
    pub old: Option<String>,
    /// The value after; `None` when the field no longer exists (a deletion).
    pub new: Option<String>,
}

/// A webhook: where notifications of one app (or of every app) go.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    /// Its id.
    pub id: String,
    /// The app whose events it receives; empty for every app.
    pub app_id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The events it receives, comma-separated names.
    pub events: String,
    /// The signing secret, sealed under the server secret.
    pub secret_sealed: Vec<u8>,
    /// `failure_rate` fires above this percentage of failed attempts in the last hour.
    pub failure_rate_percent: f64,
    /// ... once at least this many attempts ended in that hour.
    pub failure_min_attempts: i64,
    /// `stalled` fires after this many seconds without a grant (at least twice the group's
    /// rate-limit interval).
    pub stalled_after_secs: i64,
    /// Whether events are enqueued for it.
    pub enabled: bool,
    /// Creation time, unix ms: events before it are not sent to it.
    pub created_at: i64,
}

/// A notification to deliver to one webhook: a row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its id (assigned by the store).
    pub id: i64,
    /// The webhook.
    pub hook_id: String,
    /// The event's key, unique per webhook: the same event detected twice (by two
    /// replicas, say) is one delivery.
    pub event_key: String,
    /// The event's name (`auto_paused`, ...).
    pub event: String,
    /// The app concerned.
    pub app_id: String,
    /// The group concerned.
    pub group_id: String,
    /// The JSON body sent.
    pub body: String,
    /// When it was enqueued, unix ms.
    pub created_at: i64,
    /// `pending`, `delivered` or `failed` (attempts exhausted).
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due, unix ms.
    pub next_attempt_at: i64,
    /// Held by a replica delivering it until then, unix ms.
    pub lease_until: Option<i64>,
    /// The HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the last attempt failed; empty after a success.
    pub last_error: String,
    /// When it was delivered, unix ms.
    pub delivered_at: Option<i64>,
}

/// What [`Store::enqueue_delivery`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new delivery.
    New,
    /// The webhook has this event already (detected before, or by another replica).
    Duplicate,
    /// The webhook's queue is full: nothing was enqueued.
    QueueFull,
}

/// The outcome of one delivery attempt, for [`Store::finish_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// `pending` (retry at `next_attempt_at`), `delivered` or `failed`.
    pub status: String,
    /// Attempts made, this one included.
    pub attempts: i64,
    /// When the next attempt is due, unix ms.
    pub next_attempt_at: i64,
    /// The HTTP status, if the receiver answered.
    pub last_status: Option<i64>,
    /// Why it failed; empty on success.
    pub last_error: String,
    /// When it was delivered, unix ms.
    pub delivered_at: Option<i64>,
}

/// An upstream server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamRecord {
    /// Its id.
    pub id: String,
    /// Root URL (kind `admin`), or the Omaha endpoint (kind `omaha`).
    pub url: String,
    /// Display name.
    pub label: String,
    /// How it is followed: `admin` (another server of this kind, through its public admin
    /// endpoints) or `omaha` (any Omaha server, as a client).
    pub kind: String,
    /// Kind `omaha`: the local app its releases go to (canonical id).
    pub app_id: String,
    /// Kind `omaha`: the app id sent to the upstream.
    pub upstream_app_id: String,
    /// Kind `omaha`: the tracks followed, each into the local channel of the same name.
    pub tracks: Vec<String>,
    /// Kind `omaha`: the architectures asked for (canonical); the first one's payloads are
    /// the versions' default packages.
    pub arches: Vec<String>,
    /// Kind `omaha`: whether payloads are downloaded and hosted here.
    pub download: bool,
    /// When it was last synced (unix ms; 0 never). Written by [`Store::record_upstream_sync`]
    /// only; [`Store::put_upstream`] leaves it.
    pub last_sync_at: i64,
    /// The last sync's result: `ok`, `error`, or empty before the first.
    pub last_status: String,
    /// What the last sync did (or why it failed).
    pub last_detail: String,
}

/// The upstream kind that follows another server of this kind through its admin API.
pub const UPSTREAM_ADMIN: &str = "admin";
/// The upstream kind that follows an Omaha server as a client.
pub const UPSTREAM_OMAHA: &str = "omaha";

/// What [`Store::backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupManifest {
    /// The backend (`sqlite`, `postgres`): a backup restores only into the same kind.
    pub backend: String,
    /// The schema version (the latest migration) the copy is at.
    pub schema_version: i64,
    /// The files written, relative to the backup directory.
    pub files: Vec<String>,
}

/// Filters of the instance queries (CoreUpdate's `clientupdates`, `appversions`,
/// `clientupdatecount`). Empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceFilter {
    /// Canonical app id.
    pub app_id: Option<String>,
    /// Instance id.
    pub machine_id: Option<String>,
    /// Instance ids starting with this.
    pub machine_id_prefix: Option<String>,
    /// Update status (`complete`, `error`, ...).
    pub status: Option<String>,
    /// Group named.
    pub group_id: Option<String>,
    /// Version reported.
    pub version: Option<String>,
    /// OEM.
    pub oem: Option<String>,
    /// Last event type.
    pub event_type: Option<i64>,
    /// Last event result.
    pub event_result: Option<i64>,
    /// Last seen at or after, unix ms.
    pub seen_after: Option<i64>,
    /// Last seen at or before, unix ms.
    pub seen_before: Option<i64>,
}

/// Which failed attempts [`Store::failures`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureFilter {
    /// Only this app.
    pub app_id: Option<String>,
    /// Only this group.
    pub group_id: Option<String>,
    /// Only failures on this version (the one the instance ran).
    pub version: Option<String>,
    /// Only failures at or after this time, unix ms.
    pub since: i64,
}

/// An instance's failed attempts with one error code on one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRecord {
    /// The app.
    pub app_id: String,
    /// The instance.
    pub machine_id: String,
    /// The group it named.
    pub group_id: String,
    /// The version it ran.
    pub version: String,
    /// The error code it reported, if any.
    pub error_code: Option<i64>,
    /// How many times.
    pub count: i64,
    /// The first time (within the filter's range), unix ms.
    pub first_at: i64,
    /// The last time, unix ms.
    pub last_at: i64,
}

/// Events of one kind in a group over a time range ([`Store::event_totals`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTotal {
    /// The app.
    pub app_id: String,
    /// The group.
    pub group_id: String,
    /// The event (type, result).
    pub event: (i64, i64),
    /// How many.
    pub count: i64,
}

impl InstanceFilter {
    /// Whether the filter names nothing but the app, group, version and status: the
    /// instance counts the database keeps answer it without reading the instances.
    pub fn is_counted(&self) -> bool {
        self.machine_id.is_none()
            && self.machine_id_prefix.is_none()
            && self.oem.is_none()
            && self.event_type.is_none()
            && self.event_result.is_none()
            && self.seen_after.is_none()
            && self.seen_before.is_none()
    }
}

/// Instance count per (app, group, version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionCount {
    /// Canonical app id.
    pub app_id: String,
    /// Group named.
    pub group_id: String,
    /// Version.
    pub version: String,
    /// Number of instances.
    pub count: i64,
}

/// Instance count per (app, group, version, status), for the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// Canonical app id.
    pub app_id: String,
    /// Group named.
    pub group_id: String,
    /// Version reported.
    pub version: String,
    /// Update status.
    pub status: String,
    /// Number of instances.
    pub count: i64,
}

/// How a reconciliation of the instance counts paces itself
/// ([`Store::reconcile_instance_counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcilePace {
    /// Instances counted per statement (a range of instance keys).
    pub chunk: i64,
    /// Pause between two chunks: the rate limit.
    pub pause: std::time::Duration,
    /// A reconciliation that any replica finished less than this long before `now` (unix
    /// ms) makes this one do nothing.
    pub min_interval_ms: i64,
}

/// What a reconciliation of the instance counts did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciliation {
    /// One was finished at `reconciled_at` (unix ms), less than the pace's interval ago.
    NotDue {
        /// When the last one finished.
        reconciled_at: i64,
    },
    /// Another one applied its corrections while this one counted: this one applied
    /// nothing (its corrections were measured against counts that have changed since).
    Superseded,
    /// The instances were counted and the counts corrected.
    Done {
        /// Instances counted.
        instances: i64,
        /// Statements (key ranges) it took.
        chunks: u64,
        /// The sum of the sizes of the corrections (0: the counts were exact).
        drift: i64,
    },
}

/// Where the database schema stands, for the readiness probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The latest migration applied to the database.
    pub applied: i64,
    /// The latest migration this build knows.
    pub expected: i64,
}

impl SchemaStatus {
    /// Whether every migration this build needs is applied.
    pub fn is_current(&self) -> bool {
        self.applied >= self.expected
    }
}

/// The persistence layer. Every method is one transaction unless it hands out a [`WriteTx`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is, for logs and metrics (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// The current configuration generation: any configuration write bumps it.
    async fn config_generation(&self) -> Result<i64, StoreError>;
    /// All configuration, consistent at one generation.
    async fn load_config(&self) -> Result<ConfigSnapshot, StoreError>;

    /// Creates an app. [`StoreError::Conflict`] when the id exists.
    async fn create_app(&self, app: &AppRecord) -> Result<(), StoreError>;
    /// Replaces an app's label and description.
    async fn update_app(&self, app: &AppRecord) -> Result<(), StoreError>;
    /// Deletes an app with its channels, groups and packages.
    async fn delete_app(&self, app_id: &str) -> Result<(), StoreError>;

    /// Creates or replaces a channel (by app id and name).
    async fn put_channel(&self, channel: &ChannelRecord) -> Result<(), StoreError>;
    /// Deletes a channel.
    async fn delete_channel(&self, app_id: &str, name: &str) -> Result<(), StoreError>;

    /// Creates or replaces a package (by app id and version).
    async fn put_package(&self, package: &PackageRecord) -> Result<(), StoreError>;
    /// Deletes a package.
    async fn delete_package(&self, app_id: &str, version: &str) -> Result<(), StoreError>;
    /// Creates or replaces a version's package for architecture `arch` (by app id, version
    /// and architecture). [`StoreError::MissingReference`] when the version has no default
    /// package.
    async fn put_arch_package(&self, package: &ArchPackageRecord) -> Result<(), StoreError>;
    /// Deletes a version's package for architecture `arch`, with its extra files.
    async fn delete_arch_package(
        &self,
        app_id: &str,
        version: &str,
        arch: &str,
    ) -> Result<(), StoreError>;
    /// Creates or replaces an extra file of a package (by app id, version, architecture
    /// and name). [`StoreError::MissingReference`] when the version has no default package.
    async fn put_package_file(&self, file: &PackageFileRecord) -> Result<(), StoreError>;
    /// Creates or replaces a floor of a channel (by app id, channel, architecture and
    /// version). [`StoreError::MissingReference`] when the channel does not exist.
    async fn put_floor(&self, floor: &FloorRecord) -> Result<(), StoreError>;
    /// Deletes a floor of a channel.
    async fn delete_floor(
        &self,
        app_id: &str,
        channel: &str,
        arch: &str,
        version: &str,
    ) -> Result<(), StoreError>;
    /// Blacklists a version on a channel (again: no change).
    /// [`StoreError::MissingReference`] when the channel does not exist.
    async fn put_blacklisted(&self, entry: &BlacklistRecord) -> Result<(), StoreError>;
    /// Takes a version off a channel's blacklist.
    async fn delete_blacklisted(
        &self,
        app_id: &str,
        channel: &str,
        version: &str,
    ) -> Result<(), StoreError>;
    /// Deletes an extra file of a package.
    async fn delete_package_file(
        &self,
        app_id: &str,
        version: &str,
        arch: &str,
        name: &str,
    ) -> Result<(), StoreError>;

    /// Creates a group. [`StoreError::Conflict`] when the id exists in the app.
    async fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError>;
    /// Replaces a group's label, channel and policy.
    async fn update_group(&self, group: &GroupRecord) -> Result<(), StoreError>;
    /// Deletes a group and its rollout state.
    async fn delete_group(&self, app_id: &str, group_id: &str) -> Result<(), StoreError>;
    /// Replaces a group's policy document only if it is still `expected` (compare and
    /// swap), appending `activity` in the same transaction. `Ok(false)` when the document
    /// changed in between (another request or replica got there first): nothing is written.
    async fn replace_group_policy(
        &self,
        app_id: &str,
        group_id: &str,
        expected: &str,
        policy: &str,
        activity: &ActivityRecord,
    ) -> Result<bool, StoreError>;

    /// Creates a user. [`StoreError::Conflict`] when the name is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    /// One user.
    async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;
    /// All users, by name.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Replaces a user's sealed key.
    async fn set_user_key(&self, name: &str, key_sealed: &[u8]) -> Result<(), StoreError>;
    /// Deletes a user.
    async fn delete_user(&self, name: &str) -> Result<(), StoreError>;
    /// Deletes a user unless it is the last administrator of every app (`Ok(false)`,
    /// nothing deleted), so the service always keeps a user who can manage users; safe
    /// against concurrent deletes and role changes.
    async fn delete_user_unless_last(&self, name: &str) -> Result<bool, StoreError>;
    /// Sets a user's role and scope unless that would leave no administrator of every app
    /// (`Ok(false)`, nothing changed); safe against concurrent deletes and role changes.
    async fn set_user_access(
        &self,
        name: &str,
        role: crate::access::Role,
        apps: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<bool, StoreError>;

    /// Creates an API token. [`StoreError::Conflict`] when the name is taken.
    async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    /// One token, by its id.
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Every token, by name.
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Deletes (revokes) a token by name; returns it.
    async fn delete_token(&self, name: &str) -> Result<TokenRecord, StoreError>;
    /// Records a token's use at `at`, unless a use at or after `unless_since` is recorded
    /// already (so that at most one write a period reaches the database).
    async fn touch_token(&self, id: &str, at: i64, unless_since: i64) -> Result<(), StoreError>;
    /// Records a Hawk nonce of `user` used at `at` (unix ms), forgetting nonces older than
    /// `forget_before`. Returns `false` when the nonce was seen already (a replay).
    async fn use_nonce(
        &self,
        user: &str,
        nonce: &str,
        at: i64,
        forget_before: i64,
    ) -> Result<bool, StoreError>;

    /// Appends to the activity log.
    async fn append_activity(&self, entry: &ActivityRecord) -> Result<(), StoreError>;
    /// The newest entries of the activity log, newest first, optionally of one app.
    async fn activity(
        &self,
        app_id: Option<&str>,
        limit: i64,
        skip: i64,
    ) -> Result<Vec<ActivityRecord>, StoreError>;

    /// Entries of the activity log with this action at or after `since` (unix ms), newest
    /// first, at most `limit`.
    async fn activity_by_action(
        &self,
        action: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>, StoreError>;

    /// Creates or replaces a webhook (by id).
    async fn put_webhook(&self, hook: &WebhookRecord) -> Result<(), StoreError>;
    /// All webhooks, by creation time.
    async fn webhooks(&self) -> Result<Vec<WebhookRecord>, StoreError>;
    /// Deletes a webhook with its deliveries.
    async fn delete_webhook(&self, id: &str) -> Result<(), StoreError>;
    /// Adds a delivery to the outbox, unless the webhook has this event key already or
    /// `max_pending` deliveries of it are pending (one statement, so replicas detecting
    /// the same event enqueue it once).
    async fn enqueue_delivery(
        &self,
        delivery: &DeliveryRecord,
        max_pending: i64,
    ) -> Result<Enqueued, StoreError>;
    /// Claims up to `limit` pending deliveries due at `now` that no replica holds, holding
    /// them until `lease_until` (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so replicas claim
    /// different rows). Returns them with the lease set.
    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Whether a pending delivery is due at `now` (a read: replicas ask before they claim,
    /// so that an idle outbox costs no write).
    async fn has_due_delivery(&self, now: i64) -> Result<bool, StoreError>;
    /// Records the outcome of an attempt on a delivery this replica claimed with
    /// `lease_until`, and releases it. `Ok(false)` when the lease was lost (it ran out and
    /// another replica claimed the delivery): nothing is written.
    async fn finish_attempt(
        &self,
        id: i64,
        lease_until: i64,
        outcome: &AttemptOutcome,
    ) -> Result<bool, StoreError>;
    /// Deliveries, newest first, of one webhook or of all.
    async fn deliveries(
        &self,
        hook_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Deletes up to `limit` deliveries no longer pending that were enqueued before
    /// `before` (unix ms); returns how many.
    async fn prune_deliveries(&self, before: i64, limit: i64) -> Result<u64, StoreError>;
    /// A group's stored rollout state, read without its lock.
    async fn group_state(
        &self,
        app_id: &str,
        group_id: &str,
    ) -> Result<Option<GroupStateRecord>, StoreError>;

    /// Creates or replaces an upstream (by id).
    async fn put_upstream(&self, upstream: &UpstreamRecord) -> Result<(), StoreError>;
    /// All upstreams, by id.
    async fn upstreams(&self) -> Result<Vec<UpstreamRecord>, StoreError>;
    /// Deletes an upstream.
    async fn delete_upstream(&self, id: &str) -> Result<(), StoreError>;
    /// Records the result of a sync from an upstream (its time, `ok` or `error`, and what
    /// it did); not a configuration change. Nothing when the upstream was deleted meanwhile.
    async fn record_upstream_sync(
        &self,
        id: &str,
        at: i64,
        status: &str,
        detail: &str,
    ) -> Result<(), StoreError>;

    /// How long this store waits for the database.
    fn timeouts(&self) -> StoreTimeouts;

    /// One small write committed on its own (a row of `writer_probe`): whether the database
    /// takes writes again. The writer asks while its transactions fail.
    async fn probe_write(&self) -> Result<(), StoreError>;

    /// Asks the database for the latest migration applied (the readiness probe: it fails
    /// when the database does not answer).
    async fn schema_status(&self) -> Result<SchemaStatus, StoreError>;
    /// Instance counts per (app, group, version, status) among those matching the filter.
    /// A filter of app, group, version and status only ([`InstanceFilter::is_counted`])
    /// reads the counts the database keeps (a few rows per group and version, however many
    /// instances); any other filter scans the matching instances.
    async fn instance_status_counts(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<StatusCount>, StoreError>;
    /// Adds the pending changes of the instance counts (`instance_count_deltas`) into the
    /// counts, one replica at a time; returns how many rows of counts it wrote. A count is the
    /// sum of both tables whether this ran or not: it only keeps the pending rows few.
    async fn fold_instance_counts(&self) -> Result<u64, StoreError>;
    /// Counts the instances again, a chunk of keys at a time with a pause in between, all
    /// in one snapshot of the database, and adds the difference between that count and the
    /// counts kept at the same snapshot to the counts (exact whatever was written
    /// meanwhile, since every write moves both alike). Does nothing when a reconciliation
    /// finished less than `pace.min_interval_ms` before `now` (unix ms), or when another
    /// one applied its corrections meanwhile.
    async fn reconcile_instance_counts(
        &self,
        now: i64,
        pace: &ReconcilePace,
    ) -> Result<Reconciliation, StoreError>;
    /// Deletes up to `limit` history entries older than `before` (unix ms), oldest first;
    /// returns how many it deleted. Retention calls it in small batches until it deletes
    /// fewer than `limit`, so no transaction holds locks for long.
    async fn prune_history(&self, before: i64, limit: i64) -> Result<u64, StoreError>;
    /// Deletes up to `limit` activity log entries older than `before` (unix ms), oldest
    /// first; returns how many it deleted.
    async fn prune_activity(&self, before: i64, limit: i64) -> Result<u64, StoreError>;
    /// Deletes up to `limit` rollup rows of one resolution (seconds) whose bucket starts
    /// before `before_bucket` (unix seconds); returns how many it deleted.
    async fn prune_rollups(
        &self,
        resolution: i64,
        before_bucket: i64,
        limit: i64,
    ) -> Result<u64, StoreError>;

    /// Writes a batch of routine check-ins and counter increments in one transaction.
    /// Instances seen for the first time are created with status `unknown`.
    async fn record_sightings(
        &self,
        sightings: &[Sighting],
        rollups: &[RollupDelta],
    ) -> Result<(), StoreError>;

    /// Writes a consistent copy of the whole database into the empty directory `dir` while
    /// the store keeps serving (SQLite: `VACUUM INTO`; PostgreSQL: every table as JSON lines,
    /// read in one `REPEATABLE READ` transaction). Hawk nonces are left out.
    async fn backup(&self, dir: &std::path::Path) -> Result<BackupManifest, StoreError>;
    /// Loads a copy [`Store::backup`] of the same backend wrote into `dir` into this store,
    /// which must be empty (freshly created); in one transaction.
    async fn restore(&self, dir: &std::path::Path) -> Result<(), StoreError>;

    /// Starts a write transaction (the grant and event path).
    async fn begin(&self) -> Result<Box<dyn WriteTx>, StoreError>;

    /// One instance.
    async fn instance(
        &self,
        app_id: &str,
        machine_id: &str,
    ) -> Result<Option<InstanceRecord>, StoreError>;
    /// Instances matching the filter, most recently seen first.
    async fn instances(
        &self,
        filter: &InstanceFilter,
        limit: i64,
        skip: i64,
    ) -> Result<Vec<InstanceRecord>, StoreError>;
    /// The number of instances matching the filter (from the kept counts when
    /// [`InstanceFilter::is_counted`]).
    async fn count_instances(&self, filter: &InstanceFilter) -> Result<i64, StoreError>;
    /// Clears the retry delay (and the count of consecutive failures) of the instances of a
    /// group, or of one of them: they are offered the update again at their next check.
    /// Returns how many instances had one.
    async fn clear_retry_delay(
        &self,
        app_id: &str,
        group_id: &str,
        machine_id: Option<&str>,
    ) -> Result<u64, StoreError>;
    /// Instance counts per (app, group, version) among those matching the filter (from the
    /// kept counts when [`InstanceFilter::is_counted`]).
    async fn version_counts(
        &self,
        filter: &InstanceFilter,
    ) -> Result<Vec<VersionCount>, StoreError>;
    /// An instance's history, oldest first; all apps when `app_id` is `None`.
    async fn history(
        &self,
        app_id: Option<&str>,
        machine_id: &str,
        limit: i64,
    ) -> Result<Vec<HistoryRecord>, StoreError>;
    /// Records a census of the fleet taken at `at` (unix seconds): the instances per
    /// (app, group, version), as [`Store::version_counts`] gives them, replace the census of
    /// the bucket holding `at` at every resolution of [`ROLLUP_RESOLUTIONS`]. So each
    /// bucket ends up holding the last census taken in it; a version no instance runs any
    /// more drops out. The census shares the rollups' table, retention and backup.
    async fn record_census(&self, at: i64, counts: &[VersionCount]) -> Result<(), StoreError>;
    /// A rollup series between two bucket starts (unix seconds, inclusive).
    async fn rollups(
        &self,
        app_id: &str,
        group_id: &str,
        kind: RollupKind,
        resolution: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<RollupPoint>, StoreError>;
    /// Failed attempts (event 3/0) in the history since `filter.since` (unix ms), one row
    /// per instance, group, version and error code, the most recent failure first. Only
    /// failed attempts are read (a partial index holds them).
    async fn failures(
        &self,
        filter: &FailureFilter,
        limit: i64,
        skip: i64,
    ) -> Result<Vec<FailureRecord>, StoreError>;
    /// How many rows [`Store::failures`] has for `filter` in all.
    async fn count_failures(&self, filter: &FailureFilter) -> Result<i64, StoreError>;
    /// Events (not requests, check-ins or censuses) summed per (app, group, event) over the
    /// rollup buckets of `resolution` from `from` to `to` (unix seconds, inclusive).
    async fn event_totals(
        &self,
        resolution: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<EventTotal>, StoreError>;
    /// When an instance of the group was last granted an update (unix ms), as far as the
    /// history still tells.
    async fn last_grant(&self, app_id: &str, group_id: &str) -> Result<Option<i64>, StoreError>;
}

/// A write transaction. Dropped without [`WriteTx::commit`], it rolls back.
#[async_trait]
pub trait WriteTx: Send {
    /// Locks the rollout state rows of these groups (app id, group id) until commit, and
    /// returns their current states (`None` for a group whose state was never written).
    /// Call it once per transaction, before any other write, with every group the
    /// transaction will touch: the rows are locked in sorted order, so concurrent transactions
    /// on other replicas cannot deadlock.
    async fn lock_groups(
        &mut self,
        groups: &[(String, String)],
    ) -> Result<Vec<Option<GroupStateRecord>>, StoreError>;
    /// Writes a group's rollout state; the revision is bumped by one.
    async fn put_group_state(
        &mut self,
        app_id: &str,
        group_id: &str,
        state: &[u8],
    ) -> Result<(), StoreError>;
    /// The outstanding grants of a group.
    async fn grants(
        &mut self,
        app_id: &str,
        group_id: &str,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// Creates or replaces a grant (by app, group and machine).
    async fn put_grant(&mut self, grant: &GrantRecord) -> Result<(), StoreError>;
    /// Removes a grant; removing one that does not exist is not an error.
    async fn delete_grant(
        &mut self,
        app_id: &str,
        group_id: &str,
        machine_id: &str,
    ) -> Result<(), StoreError>;
    /// Clears an instance's grant mirror if it still names `version` (the grant was
    /// released while another instance's check ran: it expired, say).
    async fn clear_instance_grant(
        &mut self,
        app_id: &str,
        machine_id: &str,
        version: &str,
    ) -> Result<(), StoreError>;
    /// Reads one instance.
    async fn instance(
        &mut self,
        app_id: &str,
        machine_id: &str,
    ) -> Result<Option<InstanceRecord>, StoreError>;
    /// Creates or replaces an instance.
    async fn put_instance(&mut self, instance: &InstanceRecord) -> Result<(), StoreError>;
    /// Reads the instances of the given (app, machine) keys that exist, in any order: one
    /// statement per few hundred keys (the writer reads a whole batch's instances at once).
    async fn instances_by_key(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<InstanceRecord>, StoreError>;
    /// Creates or replaces instances, a few hundred per statement.
    async fn put_instances(&mut self, instances: &[InstanceRecord]) -> Result<(), StoreError>;
    /// Appends history entries.
    async fn append_history(&mut self, entries: &[HistoryRecord]) -> Result<(), StoreError>;
    /// Adds counter increments.
    async fn add_rollups(&mut self, deltas: &[RollupDelta]) -> Result<(), StoreError>;
    /// Appends to the activity log.
    async fn append_activity(&mut self, entry: &ActivityRecord) -> Result<(), StoreError>;
    /// Commits everything.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Bucket start (unix seconds) of a time (unix ms) at a resolution (seconds).
pub fn bucket_of(at_ms: i64, resolution: i64) -> i64 {
    let secs = at_ms.div_euclid(1000);
    secs - secs.rem_euclid(resolution)
}

/// Adds up deltas with the same key and bucket, so that a batch writes each counter row once.
pub(crate) fn merge_rollups(deltas: &[RollupDelta]) -> Vec<(RollupKey, i64, i64, i64)> {
    let mut merged: std::collections::BTreeMap<(RollupKey, i64, i64), i64> =
        std::collections::BTreeMap::new();
    for delta in deltas {
        for resolution in ROLLUP_RESOLUTIONS {
            *merged
                .entry((
                    delta.key.clone(),
                    resolution,
                    bucket_of(delta.at, resolution),
                ))
                .or_default() += delta.count;
        }
    }
    merged
        .into_iter()
        .map(|((key, resolution, bucket), count)| (key, resolution, bucket, count))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_floor_to_the_resolution() {
        assert_eq!(bucket_of(61_999, 60), 60);
        assert_eq!(bucket_of(3_599_999, 3600), 0);
        assert_eq!(bucket_of(-1, 60), -60);
    }

    #[test]
    fn merging_adds_counts_per_key_and_bucket() {
        let key = RollupKey {
            app_id: "a".into(),
            group_id: "g".into(),
            version: "1".into(),
            event: None,
        };
        let deltas = [
            RollupDelta {
                key: key.clone(),
                at: 1_000,
                count: 1,
            },
            RollupDelta {
                key: key.clone(),
                at: 59_000,
                count: 2,
            },
            RollupDelta {
                key,
                at: 61_000,
                count: 4,
            },
        ];
        let merged = merge_rollups(&deltas);
        let minute: Vec<_> = merged
            .iter()
            .filter(|m| m.1 == 60)
            .map(|m| (m.2, m.3))
            .collect();
        assert_eq!(minute, vec![(0, 3), (60, 4)]);
        let hour: Vec<_> = merged
            .iter()
            .filter(|m| m.1 == 3600)
            .map(|m| (m.2, m.3))
            .collect();
        assert_eq!(hour, vec![(0, 7)]);
    }
}
