//! The pluggable protocol seam: the update endpoint reaches the wire format only through
//! [`WireProtocol`], which turns a request body into protocol-neutral [`UpdateRequest`]
//! values and [`AppAnswer`]s back into a response body. Omaha v3 XML ([`OmahaV3`], on
//! `/v1/update/`) and the Omaha JSON protocol ([`OmahaJson`]: 3.0, 3.1 and 4.0, on
//! `/v1/update/json`) are the two implementations; the engine and the store behind them are
//! the same.

mod json;
mod omaha;

pub use json::OmahaJson;
pub use omaha::OmahaV3;

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The body is not a well-formed request of this protocol.
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// A client's message: one entry per application it reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRequest {
    /// Whether the client speaks a protocol version this server does not.
    pub unsupported_version: bool,
    /// The protocol version the request named (`3.0`, `3.1`, ...), which the answer is
    /// written in where the format has several.
    pub protocol: Option<String>,
    /// Why the check happened (`scheduler`, `ondemandupdate`, ...), empty when not said.
    pub install_source: String,
    /// The applications, in the order sent.
    pub apps: Vec<AppRequest>,
}

/// One application of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRequest {
    /// The app id as sent, echoed byte for byte in the answer.
    pub app_id: String,
    /// The instance's id (Omaha `machineid`, or `userid` without it).
    pub machine_id: Option<String>,
    /// The group the instance names (Omaha `track`).
    pub group: Option<String>,
    /// The installed version, as sent (empty when not sent).
    pub version: String,
    /// The OEM, empty when not sent.
    pub oem: String,
    /// The instance's architecture (Flatcar's `board`, else `<os arch>`), `None` when it
    /// names none the server recognises.
    pub arch: Option<rollout_core::Arch>,
    /// Whether the client takes several manifests in one answer (Flatcar's
    /// `multi_manifest_ok="true"`): every floor on its way and the target at once.
    pub multi_manifest_ok: bool,
    /// Whether the app carried a ping.
    pub ping: bool,
    /// Whether it asked for an update.
    pub update_check: bool,
    /// Its events, in order.
    pub events: Vec<ClientEvent>,
}

/// An event an instance reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEvent {
    /// Event type.
    pub event_type: i64,
    /// Event result.
    pub event_result: i64,
    /// Error code, verbatim.
    pub error_code: Option<i64>,
    /// `previousversion`, as sent (`None` when absent).
    pub previous_version: Option<String>,
}

impl ClientEvent {
    /// Whether the event is update_engine's routine 3/2 of an instance running `version`:
    /// `previousversion` absent, empty or `version` itself. Holding no grant and reporting
    /// the version stored, such an event completes nothing (a check-in; see
    /// `rollout_core::event`).
    pub fn is_routine_3_2(&self, version: &str) -> bool {
        self.event_type == 3
            && self.event_result == 2
            && self
                .previous_version
                .as_deref()
                .is_none_or(|p| p.is_empty() || p == version)
    }
}

/// The answer for one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppAnswer {
    /// The app is known: acknowledge its ping and events, and answer its update check.
    Ok {
        /// The update check's answer; `None` when it did not ask.
        update: Option<UpdateAnswer>,
    },
    /// The server knows no such app.
    UnknownApplication,
    /// The client speaks a protocol version this server does not.
    UnsupportedProtocol,
    /// The app's answer could not be computed (the store failed, say).
    InternalError,
    /// Refused unprocessed: the request carries more apps, or the app more events, than
    /// the server processes ([`crate::service::MAX_APPS_PER_REQUEST`],
    /// [`crate::service::MAX_EVENTS_PER_APP`]).
    OverLimit,
    /// A value of the app is not acceptable (see [`check_app`]); nothing of it is stored.
    Invalid(InvalidField),
}

/// Longest value, in bytes, of an id, track, version, OEM or install source that the server
/// accepts. Chosen below every index limit: PostgreSQL's btree index rows fail at about
/// 2.7 KB, and the widest index over request values (the rollups' key) holds three of them
/// (app id, group, version), so three values of 512 bytes with their headers stay well
/// under it. Real values are far shorter (a machine id is 32 hex digits).
pub const MAX_VALUE_BYTES: usize = 512;

/// Which value of an app made it unacceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidField {
    /// The app id.
    AppId,
    /// The instance id (`machineid` or `userid`).
    MachineId,
    /// The group (`track`).
    Group,
    /// The version.
    Version,
    /// The OEM.
    Oem,
    /// The request's install source.
    InstallSource,
}

/// Whether a value can be stored: at most [`MAX_VALUE_BYTES`] bytes and no control
/// characters (NUL, the other C0 and C1 controls, DEL). The same on every backend, so a
/// value one store would take and another refuse never reaches the writer.
pub fn acceptable_value(value: &str) -> bool {
    value.len() <= MAX_VALUE_BYTES && !value.chars().any(char::is_control)
}

/// The first value of `app` (or of its request's `install_source`) that is not
/// [`acceptable_value`], if any.
pub fn check_app(install_source: &str, app: &AppRequest) -> Option<InvalidField> {
    let checks = [
        (InvalidField::AppId, Some(app.app_id.as_str())),
        (InvalidField::MachineId, app.machine_id.as_deref()),
        (InvalidField::Group, app.group.as_deref()),
        (InvalidField::Version, Some(app.version.as_str())),
        (InvalidField::Oem, Some(app.oem.as_str())),
        (InvalidField::InstallSource, Some(install_source)),
    ];
    checks
        .into_iter()
        .find(|(_, value)| value.is_some_and(|v| !acceptable_value(v)))
        .map(|(field, _)| field)
}

/// The answer to an update check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateAnswer {
    /// No update.
    NoUpdate,
    /// An update.
    Update(Box<UpdateOffer>),
    /// For a client that takes several manifests: every floor on its way, lowest first,
    /// then the target.
    Manifests(Vec<UpdateOffer>),
}

/// What an instance needs to fetch and verify an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOffer {
    /// The version it installs.
    pub version: String,
    /// Where the payload is: the directory (codebase) of its URL...
    pub codebase: String,
    /// ...and the file name in it.
    pub name: String,
    /// Payload size in bytes.
    pub size: u64,
    /// SHA-1 of the payload.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256 of the payload.
    pub sha256: Option<[u8; 32]>,
    /// update_engine's `MetadataSize`, empty when none.
    pub metadata_size: String,
    /// update_engine's `MetadataSignatureRsa`, empty when none.
    pub metadata_signature_rsa: String,
    /// Omaha `required`.
    pub required: bool,
    /// The package's extra files, listed after the payload (`required="false"`) and
    /// downloaded from the same codebase.
    pub extra_files: Vec<ExtraFile>,
    /// When the version is a floor the instance must install before later ones: why
    /// (`is_floor="true"`, `floor_reason`).
    pub floor_reason: Option<String>,
    /// Whether the offer is the channel's target after floors in a multi-manifest answer
    /// (`is_target="true"`).
    pub is_target: bool,
    /// Whether the offer is lower than the instance's version, served because its group
    /// allows downgrades: an explicit rollback, marked `_rollback="true"` on the update
    /// check so that an updater refusing downgrades takes it.
    pub rollback: bool,
    /// Whether `hash_sha256` (of the payload and the extra files) is written in base64
    /// rather than hex (the app's choice, for updaters built on go-omaha).
    pub sha256_base64: bool,
}

/// An extra file of an update (`oem-qemu.gz`, `flatcar-<extension>.gz`): Flatcar's
/// postinstall step picks the files it needs from the answer by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFile {
    /// The file name, joined to the offer's codebase.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-1 of the file.
    pub sha1: Option<[u8; 20]>,
    /// SHA-256 of the file.
    pub sha256: Option<[u8; 32]>,
}

/// A wire format of the update endpoint.
pub trait WireProtocol: Send + Sync + 'static {
    /// The response's `Content-Type`.
    fn content_type(&self) -> &'static str;
    /// Reads a request body.
    fn decode(&self, body: &[u8]) -> Result<UpdateRequest, ProtocolError>;
    /// Writes the response to `request`, one answer per app in the same order.
    fn encode(&self, request: &UpdateRequest, answers: &[AppAnswer]) -> Vec<u8>;
}

/// Splits a payload URL into the codebase (everything up to and including the last `/`)
/// and the file name after it.
pub fn split_url(url: &str) -> (&str, &str) {
    match url.rfind('/') {
        Some(i) => (&url[..=i], &url[i + 1..]),
        None => ("", url),
    }
}

#[cfg(test)]
mod tests {
    use super::{AppRequest, InvalidField, MAX_VALUE_BYTES, check_app, split_url};

    fn app() -> AppRequest {
        AppRequest {
            app_id: "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}".into(),
            machine_id: Some("0123456789abcdef0123456789abcdef".into()),
            group: Some("stable".into()),
            version: "3510.2.0".into(),
            oem: "ami".into(),
            arch: None,
            multi_manifest_ok: false,
            ping: true,
            update_check: true,
            events: Vec::new(),
        }
    }

    #[test]
    fn values_with_controls_or_too_long_are_refused() {
        assert_eq!(check_app("scheduler", &app()), None);
        let long = "a".repeat(MAX_VALUE_BYTES + 1);
        let edge = "a".repeat(MAX_VALUE_BYTES);
        assert_eq!(
            check_app(
                "",
                &AppRequest {
                    machine_id: Some(edge),
                    ..app()
                }
            ),
            None
        );
        let cases: Vec<(AppRequest, &str, InvalidField)> = vec![
            (
                AppRequest {
                    machine_id: Some("a\0b".into()),
                    ..app()
                },
                "",
                InvalidField::MachineId,
            ),
            (
                AppRequest {
                    machine_id: Some(long.clone()),
                    ..app()
                },
                "",
                InvalidField::MachineId,
            ),
            (
                AppRequest {
                    group: Some("st\u{1}able".into()),
                    ..app()
                },
                "",
                InvalidField::Group,
            ),
            (
                AppRequest {
                    version: long.clone(),
                    ..app()
                },
                "",
                InvalidField::Version,
            ),
            (
                AppRequest {
                    oem: "a\u{7f}".into(),
                    ..app()
                },
                "",
                InvalidField::Oem,
            ),
            (
                AppRequest {
                    oem: "a\u{85}".into(),
                    ..app()
                },
                "",
                InvalidField::Oem,
            ),
            (
                AppRequest {
                    app_id: long,
                    ..app()
                },
                "",
                InvalidField::AppId,
            ),
            (app(), "on\ndemand", InvalidField::InstallSource),
        ];
        for (request, source, field) in cases {
            assert_eq!(check_app(source, &request), Some(field), "{request:?}");
        }
    }

    #[test]
    fn urls_split_at_the_last_slash() {
        assert_eq!(
            split_url("https://h/a/b/update.gz"),
            ("https://h/a/b/", "update.gz")
        );
        assert_eq!(split_url("update.gz"), ("", "update.gz"));
        assert_eq!(split_url("https://h/dir/"), ("https://h/dir/", ""));
    }
}
