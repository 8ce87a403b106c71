//! The admin API's wire types: the JSON of CoreUpdate's `update/v1` API (as the real
//! `updateservicectl` v1.4 and v2.1 speak it) and of this server's extensions.
//!
//! The server reads and writes exactly these types, and clients ([`crate::Client`],
//! `updatectl`) share them. With the `openapi` feature each derives `schemars::JsonSchema`,
//! from which `openapi::document()` is generated.
//!
//! The rules of the format (updateservicectl.md §4.1):
//!
//! - Clients omit `false`, `0` and `""`: every field reads as its zero value when absent, and
//!   a PATCH is a full replace. Every struct here is `#[serde(default)]`.
//! - int64 fields travel as JSON strings (`"60"`): see [`int64`]. They are read from a
//!   string or a number, and written as a string.
//! - The public package list uses the key `AppId`; every other key is camelCase.
//! - Errors are `{"error":{"code","message","errors":[{"reason","message"}]}}`
//!   ([`ErrorBody`]).

use serde::{Deserialize, Serialize};

/// The service's name for an event (type, result), as the panel, `updatectl` and the docs say
/// it: `complete` for 3/2, `downloading` for 13/1, ...; `check-in` for the routine 3/2 counted
/// apart (the rollups' -3/-3). `None` for a pair without a name of its own.
#[must_use]
pub fn event_name(event_type: i64, result: i64) -> Option<&'static str> {
    Some(match (event_type, result) {
        (3, 2) => "complete",
        (3, 1) => "installed",
        (3, 0) => "error",
        (3, 9) => "deferred",
        (13, 1) => "downloading",
        (14, 1) => "downloaded",
        (800, 1) => "installed, completion held",
        (2, 1) => "install started",
        (-3, -3) => "check-in",
        _ => return None,
    })
}

/// An event for people: its name with its codes, `downloading (13/1)`; unnamed pairs as
/// `event (T/R)`; codes that are not numbers as sent, `T/R`.
#[must_use]
pub fn event_label(event_type: &str, result: &str) -> String {
    match (event_type.parse::<i64>(), result.parse::<i64>()) {
        (Ok(t), Ok(r)) => format!("{} ({t}/{r})", event_name(t, r).unwrap_or("event")),
        _ => format!("{event_type}/{result}"),
    }
}

/// int64 fields as JSON strings, read from a string or a number.
pub mod int64 {
    use serde::{Deserialize, Deserializer, Serializer, de};

    /// Writes the number as a string.
    pub fn serialize<S: Serializer>(value: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a string (`"60"`, `""` as 0) or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(deserializer)? {
            Either::Number(n) => Ok(n),
            Either::Text(text) if text.trim().is_empty() => Ok(0),
            Either::Text(text) => text
                .trim()
                .parse()
                .map_err(|_| de::Error::custom(format!("not an int64: {text:?}"))),
        }
    }
}

/// Floats that the Go client may send as `"NaN"`/`"Infinity"` strings; read leniently, written
/// as numbers.
pub mod float {
    use serde::{Deserialize, Deserializer, de};

    /// Reads a number or a numeric string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(f64),
            Text(String),
        }
        match Either::deserialize(deserializer)? {
            Either::Number(n) => Ok(n),
            Either::Text(text) => text
                .trim()
                .parse()
                .map_err(|_| de::Error::custom(format!("not a number: {text:?}"))),
        }
    }
}

/// An application (also the body of app insert and update).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct App {
    /// The app id (a UUID).
    pub id: String,
    /// Short name.
    pub label: String,
    /// Free text.
    pub description: String,
    /// Extension: how update answers write `hash_sha256`, `hex` (the default: Nebraska and
    /// Flatcar's postinstall read hex) or `base64` (updaters built on go-omaha compare it as
    /// base64). Sent only when `base64`; on create, empty means `hex`; on update, empty
    /// keeps the current choice.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hash_sha256: String,
}

/// A list of apps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AppList {
    /// The apps.
    pub items: Vec<App>,
}

/// A channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct AppChannel {
    /// The app.
    pub app_id: String,
    /// The channel's name.
    pub label: String,
    /// The package version it points at.
    pub version: String,
    /// Published on the public endpoints.
    pub publish: bool,
    /// The upstream it was synced from.
    pub upstream: String,
    /// Creation time, RFC 3339.
    pub date_created: String,
    /// Extension: the channel points at a version that has no package (or whose package
    /// waits for its payload), so its groups' instances get no update until one exists.
    /// Sent only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub package_missing: bool,
}

/// Extension: a floor of a channel, a version every instance below it must install before
/// it is offered a later one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct ChannelFloor {
    /// The app.
    pub app_id: String,
    /// The channel's name.
    pub channel: String,
    /// The architecture it holds for; empty, and not sent, for every architecture.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// The version.
    pub version: String,
    /// Why it cannot be skipped (sent to clients as `floor_reason`).
    pub reason: String,
    /// Creation time, RFC 3339.
    pub date_created: String,
}

/// Extension: a channel's floors, lowest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ChannelFloorList {
    /// The floors.
    pub items: Vec<ChannelFloor>,
    /// How many in all.
    pub total: i64,
}

/// Extension: a version never offered on a channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct BlacklistedVersion {
    /// The app.
    pub app_id: String,
    /// The channel's name.
    pub channel: String,
    /// The version.
    pub version: String,
    /// Creation time, RFC 3339.
    pub date_created: String,
}

/// Extension: a channel's blacklisted versions, lowest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct BlacklistList {
    /// The versions.
    pub items: Vec<BlacklistedVersion>,
    /// How many in all.
    pub total: i64,
}

/// A channel create or update request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct ChannelRequest {
    /// The app.
    pub app_id: String,
    /// The channel's name.
    pub label: String,
    /// The package version.
    pub version: String,
    /// Published.
    pub publish: bool,
}

/// A list of channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ChannelList {
    /// The channels.
    pub items: Vec<AppChannel>,
}

/// A group: CoreUpdate v2.1's fields, v1.4's rate-limit fields, and this server's
/// extensions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct Group {
    /// The app.
    pub app_id: String,
    /// The group id instances send as `track`.
    pub id: String,
    /// Display name.
    pub label: String,
    /// The channel it follows.
    pub channel_id: String,
    /// Updates paused.
    pub updates_paused: bool,
    /// Percentage of instances eligible (v2).
    #[serde(deserialize_with = "float::deserialize")]
    pub update_percent: f64,
    /// A timed rollout is active (v2.1).
    pub rollout_active: bool,
    /// OEMs that get no update, comma-separated.
    pub oem_blacklist: String,
    /// Grants per interval (v1.4).
    pub update_count: i64,
    /// The interval in seconds (v1.4).
    pub update_interval: i64,
    /// Rate limiting on (v1.4; the limit applies whenever count and interval are set).
    pub update_pooling: bool,
    /// Extension: at most this many instances updating at once (0: no cap).
    pub max_in_flight: i64,
    /// Extension: seconds after which an uncompleted grant expires (0: never).
    pub update_timeout: i64,
    /// Extension: pause automatically when this many of the last attempts failed (0: off).
    pub failure_threshold_count: i64,
    /// Extension: pause automatically when this percentage of the last attempts failed
    /// (0: off).
    #[serde(deserialize_with = "float::deserialize")]
    pub failure_threshold_percent: f64,
    /// Extension: how many recent attempts the failure threshold looks at.
    pub failure_window: i64,
    /// Extension: expired grants count as failures.
    pub failure_count_timeouts: bool,
    /// Extension: maintenance window time zone (IANA name; empty: no windows).
    pub maintenance_time_zone: String,
    /// Extension: maintenance windows, `mon,tue 02-05; sat 00-24`.
    pub maintenance_windows: String,
    /// Extension: serve a lower version when the channel points at one (rollback).
    pub allow_downgrade: bool,
    /// Extension: seconds an instance whose update failed waits before it is offered the same
    /// version again, doubling per consecutive failure up to `retryDelayMax` (0: off, a
    /// failed instance is offered the update at its next check). Default 3600.
    pub retry_delay: i64,
    /// Extension: the longest retry delay, seconds (at least `retryDelay`). Default 86400.
    pub retry_delay_max: i64,
    /// Extension: the group paused itself (read only), when, RFC 3339; empty when not.
    pub auto_paused_at: String,
}

/// A list of groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct GroupList {
    /// The groups.
    pub items: Vec<Group>,
}

/// A group's percentage (the body of `POST apps/{app}/groups/{group}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct GroupPercent {
    /// The app.
    pub app_id: String,
    /// The group.
    pub id: String,
    /// The percentage.
    #[serde(deserialize_with = "float::deserialize")]
    pub update_percent: f64,
    /// Extension (answers only): setting the percentage stopped the group's running timed
    /// rollout. Absent when it did not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rollout_stopped: bool,
}

/// One frame of a timed rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Frame {
    /// Seconds.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub duration: i64,
    /// Percentage during the frame.
    #[serde(deserialize_with = "float::deserialize")]
    pub percent: f64,
}

/// A group's timed rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct Rollout {
    /// The app.
    pub app_id: String,
    /// The group.
    pub group_id: String,
    /// The frames.
    pub rollout: Vec<Frame>,
}

/// Whether a group's timed rollout runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct RolloutActive {
    /// The app.
    pub app_id: String,
    /// The group.
    pub group_id: String,
    /// Active.
    pub active: bool,
}

/// A package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct Package {
    /// The app.
    pub app_id: String,
    /// The version it installs.
    pub version: String,
    /// Where instances download it.
    pub url: String,
    /// Size in bytes, as a decimal string.
    pub size: String,
    /// SHA-1, standard base64.
    pub sha1_sum: String,
    /// SHA-256, standard base64.
    pub sha256_sum: String,
    /// update_engine's `MetadataSize`.
    pub metadata_size: String,
    /// update_engine's `MetadataSignatureRsa`.
    pub metadata_signature_rsa: String,
    /// Extension: detached ed25519 signature of the payload, base64.
    pub signature: String,
    /// Release notes.
    pub release_notes: String,
    /// Omaha `required`.
    pub required: bool,
    /// Creation time, RFC 3339.
    pub date_created: String,
    /// Extension: registered without a URL for the server's own hosting, and its payload
    /// is not uploaded yet; no instance is offered it until it is. Sent only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub payload_missing: bool,
    /// Extension: the architecture of a version's package for a named architecture
    /// (`apps/{app}/packages/{version}/arches/{arch}`); empty, and not sent, for the
    /// version's default package, which every other architecture gets.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub arch: String,
}

/// A page of packages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct PackageList {
    /// The packages.
    pub items: Vec<Package>,
    /// How many match in all.
    pub total: i64,
}

/// Extension: an extra file of a package (`oem-qemu.gz`, `flatcar-<extension>.gz`), listed
/// after the payload in the same Omaha answer and downloaded from the same codebase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct PackageFile {
    /// The app.
    pub app_id: String,
    /// The package's version.
    pub version: String,
    /// The package's architecture; empty, and not sent, for the version's default package.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub arch: String,
    /// The file name.
    pub name: String,
    /// Size in bytes, as a decimal string.
    pub size: String,
    /// SHA-1, standard base64 (optional).
    pub sha1_sum: String,
    /// SHA-256, standard base64 (required).
    pub sha256_sum: String,
    /// Where instances download it: the package's codebase and the name (read only).
    pub url: String,
    /// Creation time, RFC 3339.
    pub date_created: String,
}

/// Extension: a package's extra files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct PackageFileList {
    /// The files, by name.
    pub items: Vec<PackageFile>,
    /// How many in all.
    pub total: i64,
}

/// One app's published packages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct PublicPackageItem {
    /// The app (note the capital: CoreUpdate's key).
    #[serde(rename = "AppId")]
    pub app_id: String,
    /// Its packages.
    pub packages: Vec<Package>,
}

/// The public package list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct PublicPackageList {
    /// Per app.
    pub items: Vec<PublicPackageItem>,
}

/// An instance's latest state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct ClientUpdate {
    /// The instance (machine id).
    pub client_id: String,
    /// The app.
    pub app_id: String,
    /// The group it named.
    pub group_id: String,
    /// Its version.
    pub version: String,
    /// Its OEM.
    pub oem: String,
    /// Its last event's type.
    pub event_type: String,
    /// Its last event's result.
    pub event_result: String,
    /// Its last error code.
    pub error_code: String,
    /// When it was last seen, RFC 3339.
    pub last_seen: String,
    /// Extension: its update status (`complete`, `downloading`, `error`, ...). A routine
    /// 3/2 check-in moves nothing: `error` stays until the next attempt or a completion.
    pub status: String,
    /// Extension: update_engine's name of `errorCode` (flag bits 28 to 31 masked off),
    /// empty when there is none or the code has no name.
    pub error_name: String,
    /// Extension: consecutive failed attempts (0 after a completion).
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub failures: i64,
    /// Extension: RFC 3339 end of the retry delay after the last failure; empty when none.
    /// Until then the instance is not offered the version that failed.
    pub retry_until: String,
}

/// A list of instances.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ClientUpdateList {
    /// The instances.
    pub items: Vec<ClientUpdate>,
}

/// A count of instances.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ClientCount {
    /// How many.
    pub count: i64,
}

/// One entry of an instance's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct ClientHistoryItem {
    /// Unix seconds.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub date_time: i64,
    /// The group it named.
    pub group_id: String,
    /// Its version then.
    pub version: String,
    /// Event type (empty for a grant).
    pub event_type: String,
    /// Event result (empty for a grant).
    pub event_result: String,
    /// Error code.
    pub error_code: String,
    /// `scheduler` or `ondemandupdate`.
    pub install_source: String,
    /// Extension: `event` or `grant`.
    pub kind: String,
    /// Extension: the version granted (grants only).
    pub target_version: String,
    /// Extension: the event's `previousversion`, as sent (empty when not sent).
    pub previous_version: String,
    /// Extension: update_engine's name of `errorCode` (flag bits masked off), empty when
    /// none.
    pub error_name: String,
}

/// The answer to clearing retry delays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct RetryCleared {
    /// How many instances had a retry delay (or a failure count) that was cleared.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub cleared: i64,
}

/// An instance's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ClientHistory {
    /// Oldest first.
    pub items: Vec<ClientHistoryItem>,
}

/// Instances per (app, group, version).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct AppVersionItem {
    /// The app.
    pub app_id: String,
    /// The group.
    pub group_id: String,
    /// The version.
    pub version: String,
    /// How many instances.
    pub count: i64,
}

/// Instance counts per version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AppVersionList {
    /// The counts.
    pub items: Vec<AppVersionItem>,
}

/// One point of a graph series.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct RollupValue {
    /// Bucket start, unix seconds.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub timestamp: i64,
    /// Count in the bucket.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub count: i64,
}

/// One series of a graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct RollupItem {
    /// The version.
    pub version: String,
    /// Event type (events series only).
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub event_type: String,
    /// Event result (events series only).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub result: String,
    /// The points, oldest first.
    pub values: Vec<RollupValue>,
}

/// A graph: request counts per version, or events per (version, type, result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct RequestsRollup {
    /// The series.
    pub items: Vec<RollupItem>,
}

/// An admin user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AdminUser {
    /// The name.
    pub user: String,
    /// The API key (only in answers to create and key regeneration).
    pub token: String,
    /// Its role: `admin`, `operator` or `viewer`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// The applications it is limited to; empty: every application.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
}

/// Admin user create request (and, through `PATCH`, a change of role and applications).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct AdminUserRequest {
    /// The name (on create).
    pub user_name: String,
    /// The role: `admin`, `operator` or `viewer`. Absent on create: `admin`, as every user
    /// was before roles (so `updateservicectl admin-user create` keeps working).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// The applications it is limited to; empty: every application.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<String>,
}

/// The admin users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct AdminUserList {
    /// The users.
    pub users: Vec<AdminUser>,
}

/// An API token for automation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct ApiToken {
    /// Its name (unique); the user part of Basic credentials.
    pub name: String,
    /// Its role: `admin`, `operator` or `viewer`.
    pub role: String,
    /// The applications it is limited to; empty: every application.
    pub apps: Vec<String>,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// Its last use (RFC 3339, to the minute); empty when never used.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_used_at: String,
    /// The token itself: only in the answer to its creation, never again.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token: String,
}

/// A request to create an API token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct ApiTokenRequest {
    /// Its name: 1 to 64 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// Its role: `admin`, `operator` or `viewer` (required).
    pub role: String,
    /// The applications it is limited to; empty: every application.
    pub apps: Vec<String>,
    /// When it stops working (RFC 3339, in the future, at most a year ahead).
    pub expires_at: String,
}

/// The API tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ApiTokenList {
    /// The tokens, by name.
    pub tokens: Vec<ApiToken>,
}

/// An upstream server to sync from: another server of this kind (`kind` `admin`, the
/// default: every published channel and its packages), or an Omaha server followed as a
/// client (`kind` `omaha`: one app's tracks, with their floors, architectures and extra
/// files, the payloads optionally downloaded and hosted here). Fields of the `omaha` kind
/// and of the last sync are sent only when set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct Upstream {
    /// The id.
    pub id: String,
    /// Root URL of the upstream (`admin`), or its Omaha endpoint (`omaha`, e.g.
    /// `https://public.update.flatcar-linux.net/v1/update/`).
    pub url: String,
    /// Display name.
    pub label: String,
    /// `admin` (the default when empty) or `omaha`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `omaha`: the local app the releases go to (it must exist).
    #[serde(rename = "appId", skip_serializing_if = "String::is_empty")]
    pub app_id: String,
    /// `omaha`: the app id sent to the upstream; `appId` when empty.
    #[serde(rename = "upstreamAppId", skip_serializing_if = "String::is_empty")]
    pub upstream_app_id: String,
    /// `omaha`: the tracks followed (the Omaha `track`: Flatcar's `stable`, `beta`, ...),
    /// each into the local channel of the same name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tracks: Vec<String>,
    /// `omaha`: the architectures asked for (`amd64`, `arm64`; sent as the board
    /// `amd64-usr`, `arm64-usr`), `amd64` when empty. The first one's payloads are the
    /// versions' default packages, the others' packages of their architecture.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// `omaha`: download every payload and extra file, verify it against the upstream's
    /// answer and host it here (needs the server's data directory).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub download: bool,
    /// When it was last synced, RFC 3339 (read only; absent before the first sync).
    #[serde(rename = "lastSync", skip_serializing_if = "String::is_empty")]
    pub last_sync: String,
    /// The last sync's result, `ok` or `error` (read only).
    #[serde(rename = "lastStatus", skip_serializing_if = "String::is_empty")]
    pub last_status: String,
    /// What the last sync created and changed, or why it failed (read only).
    #[serde(rename = "lastDetail", skip_serializing_if = "String::is_empty")]
    pub last_detail: String,
}

/// The upstreams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct UpstreamList {
    /// The upstreams.
    pub items: Vec<Upstream>,
}

/// The result of an upstream sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct UpstreamSync {
    /// `ok` or `error`.
    pub status: String,
    /// What happened.
    pub detail: String,
}

/// A fresh UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct GeneratedUuid {
    /// The UUID.
    pub uuid: String,
}

/// One entry of the activity log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct Activity {
    /// Its id.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub id: i64,
    /// When, RFC 3339.
    pub date_time: String,
    /// Who (a user name, or `system` for what the server did itself).
    pub actor: String,
    /// What kind of change (`app.create`, `group.update`, `group.autopause`, ...).
    pub action: String,
    /// The app concerned, if any.
    pub app_id: String,
    /// The group concerned, if any.
    pub group_id: String,
    /// A human-readable description.
    pub detail: String,
    /// What the change changed, field by field (empty for an action that changes no
    /// field, and for entries written before changes were recorded). Secrets read
    /// `(secret)`.
    pub changes: Vec<ActivityChange>,
}

/// One field an activity log entry changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ActivityChange {
    /// The field, as this API names it (`updatePercent`, `version`, ...).
    pub field: String,
    /// The value before; absent when the field did not exist (a creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The value after; absent when the field no longer exists (a deletion).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// A webhook: notifications of one app (or of every app) POSTed to a URL, signed with
/// HMAC-SHA256 under its secret (docs/notifications.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct Webhook {
    /// Its id (assigned on creation).
    pub id: String,
    /// The app whose events it receives; empty for every app.
    pub app_id: String,
    /// Where deliveries are POSTed (http or https).
    pub url: String,
    /// The events it receives: `auto_paused`, `rollout_finished`, `failure_rate`,
    /// `stalled`; empty on creation for all four.
    pub events: Vec<String>,
    /// `failure_rate` fires when more than this percentage of the attempts that ended in
    /// the last hour failed (default 20).
    pub failure_rate_percent: f64,
    /// ... and at least this many attempts ended in that hour (default 5).
    pub failure_min_attempts: i64,
    /// `stalled` fires after this many seconds without a grant, and at least twice the
    /// group's rate-limit interval (default 3600).
    pub stalled_after_secs: i64,
    /// Whether events are sent to it (default true on creation).
    pub enabled: bool,
    /// The signing secret: only in the answer to its creation, empty everywhere else.
    pub secret: String,
    /// When it was created, RFC 3339.
    pub date_created: String,
}

/// The webhooks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct WebhookList {
    /// The webhooks, oldest first.
    pub items: Vec<Webhook>,
}

/// One notification to one webhook, and how its delivery went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// Its id (also sent as `X-Webhook-Id`: a receiver drops a delivery it has seen).
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub id: i64,
    /// The webhook.
    pub hook_id: String,
    /// The event (`auto_paused`, `rollout_finished`, `failure_rate`, `stalled`, `test`).
    pub event: String,
    /// The app concerned.
    pub app_id: String,
    /// The group concerned.
    pub group_id: String,
    /// `pending` (to be tried at `nextAttempt`), `delivered`, or `failed` (gave up).
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due, RFC 3339 (pending only).
    pub next_attempt: String,
    /// The HTTP status of the last attempt; 0 when none answered.
    pub last_status: i64,
    /// Why the last attempt failed; empty after success.
    pub last_error: String,
    /// When the event was enqueued, RFC 3339.
    pub date_created: String,
    /// When it was delivered, RFC 3339; empty until then.
    pub date_delivered: String,
    /// The JSON body sent.
    pub body: String,
}

/// Deliveries, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct WebhookDeliveryList {
    /// The deliveries.
    pub items: Vec<WebhookDelivery>,
}

/// The activity log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ActivityList {
    /// The entries.
    pub items: Vec<Activity>,
}

/// Extension: one group in the fleet overview (`GET overview`): its rollout's state,
/// progress, rate, estimated end and what needs attention.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct OverviewGroup {
    /// The app.
    pub app_id: String,
    /// The app's label (its id when it has none).
    pub app_label: String,
    /// The group.
    pub group_id: String,
    /// The group's label (its id when it has none).
    pub group_label: String,
    /// The channel the group follows.
    pub channel: String,
    /// The channel's version, the rollout's target; empty when none.
    pub target_version: String,
    /// `updating`, `auto_paused`, `paused`, `no_target`, `no_instances` or `finished`.
    pub state: String,
    /// The state in words.
    pub state_label: String,
    /// What needs attention, most urgent first: `auto_paused`, `failing` (at least a tenth
    /// of the last hour's attempts failed), `stalled` (no grant for longer than the policy
    /// leads one to expect while instances wait). Empty when nothing does.
    pub attention: Vec<String>,
    /// Instances of the group.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub instances: i64,
    /// Of them, on the target version.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub on_target: i64,
    /// onTarget / instances, 0 to 100.
    pub progress_percent: f64,
    /// Instances the rollout brings to the target at the percentage it is heading for.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub goal: i64,
    /// The percentage in force.
    pub percent: f64,
    /// The rate limit, updates per hour; 0 without one.
    pub rate_limit_per_hour: f64,
    /// The rate the estimated end assumes (the measured one, capped by the limit), updates
    /// per hour; 0 when unknown.
    pub rate_per_hour: f64,
    /// Updates completed in the last hour.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub completions_last_hour: i64,
    /// Failed attempts (3/0) in the last hour.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub failures_last_hour: i64,
    /// The estimated end, RFC 3339; empty when there is none (see `etaText`).
    pub eta: String,
    /// The estimated end in words: `done`, `about <time>`, `held at 50 %`, `stopped`,
    /// `unknown`.
    pub eta_text: String,
    /// The latest grant to an instance of the group, RFC 3339; empty when none is known.
    pub last_grant: String,
    /// When the group paused itself, RFC 3339; empty when it is not automatically paused.
    pub auto_paused_at: String,
    /// Failures among the attempts looked at when it paused itself.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub auto_pause_failures: i64,
    /// The attempts looked at when it paused itself.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub auto_pause_attempts: i64,
    /// The automatic pause's threshold in words (`3 failures of the last 10 attempts`);
    /// empty without one.
    pub auto_pause_threshold: String,
}

/// Extension: the fleet overview, what needs attention first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct Overview {
    /// When it was computed, RFC 3339.
    pub generated_at: String,
    /// Every group: automatically paused first, then failing, stalled, updating, paused,
    /// without a target, finished.
    pub items: Vec<OverviewGroup>,
}

/// Extension: an instance's failed attempts with one error code on one version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceError {
    /// The instance (machine id).
    pub client_id: String,
    /// The app.
    pub app_id: String,
    /// The group it named.
    pub group_id: String,
    /// The version it ran when it failed.
    pub version: String,
    /// The error code it reported; empty when it sent none.
    pub error_code: String,
    /// update_engine's name of the code (flag bits masked off); empty when it has none.
    pub error_name: String,
    /// How many times it failed so.
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub count: i64,
    /// The first time (since the list's `since`), RFC 3339.
    pub first_seen: String,
    /// The last time, RFC 3339.
    pub last_seen: String,
}

/// Extension: failed attempts (`GET errors`), the most recent first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceErrorList {
    /// Failures from this time on, RFC 3339.
    pub since: String,
    /// How many rows match in all (the page holds at most `limit`).
    #[serde(with = "int64")]
    #[cfg_attr(feature = "openapi", schemars(with = "String"))]
    pub total: i64,
    /// The page.
    pub items: Vec<InstanceError>,
}

/// The error body of every failed API call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ErrorDetail {
    /// The HTTP status.
    pub code: u16,
    /// A message for people.
    pub message: String,
    /// Machine-readable reasons.
    pub errors: Vec<ErrorItem>,
}

/// A machine-readable reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(default)]
pub struct ErrorItem {
    /// `notFound`, `conflict`, `invalid`, `required`, `unauthorized`, ...
    pub reason: String,
    /// The message.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omitted_fields_read_as_zero() {
        let group: Group = serde_json::from_str(r#"{"label":"x"}"#).unwrap();
        assert!(!group.updates_paused);
        assert_eq!(group.update_percent, 0.0);
        assert_eq!(group.update_count, 0);
    }

    #[test]
    fn int64_fields_are_strings_both_ways() {
        let frame: Frame = serde_json::from_str(r#"{"duration":"30","percent":25}"#).unwrap();
        assert_eq!(frame.duration, 30);
        assert_eq!(
            serde_json::to_string(&frame).unwrap(),
            r#"{"duration":"30","percent":25.0}"#
        );
        let frame: Frame = serde_json::from_str(r#"{"duration":30}"#).unwrap();
        assert_eq!(frame.duration, 30, "a bare number is read too");
        assert!(serde_json::from_str::<Frame>(r#"{"duration":"soon"}"#).is_err());
    }

    #[test]
    fn public_packages_use_the_capitalised_app_id() {
        let list = PublicPackageList {
            items: vec![PublicPackageItem {
                app_id: "a".into(),
                packages: Vec::new(),
            }],
        };
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"items":[{"AppId":"a","packages":[]}]}"#
        );
    }

    #[test]
    fn percent_accepts_numeric_strings() {
        let p: GroupPercent = serde_json::from_str(r#"{"updatePercent":"12.5"}"#).unwrap();
        assert_eq!(p.update_percent, 12.5);
    }
}
