//! The `<response>` document a server sends (omaha-protocol.md §3).
//!
//! Build responses with the constructors; the encoder then writes every detail update_engine
//! and the other clients depend on (`protocol="3.0"`, `<daystart>`, lower-case booleans,
//! base64 `hash` and `sha256`, hex `hash_sha256`, codebases ending in `/`):
//!
//! ```
//! use omaha_proto::digest::{Sha1Digest, Sha256Digest};
//! use omaha_proto::response::{Action, App, Codebase, Manifest, Package, Response, UpdateCheck};
//! use omaha_proto::codes::AppStatus;
//!
//! let sha1: Sha1Digest = "qUqP5cyxm6YcTAhz05Hph5gvu9M=".parse()?;
//! let sha256: Sha256Digest = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".parse()?;
//! let update = UpdateCheck::update(
//!     [Codebase::new("https://example.com/flatcar/3975.2.0")],
//!     Manifest::new("3975.2.0")
//!         .with_package(Package::new("flatcar_production_update.gz", 4, sha1, true))
//!         .with_action(Action::postinstall(sha256)),
//! );
//! let response = Response::new("omaha-rs")
//!     .with_app(App::ok("{e96281a6-d1af-4bde-9a0a-97b76e56dc57}").with_update_check(update))
//!     .with_app(App::error("{00000000-0000-0000-0000-000000000000}", AppStatus::UnknownApplication));
//! let xml = String::from_utf8(response.encode())?;
//! assert!(xml.contains(r#"<url codebase="https://example.com/flatcar/3975.2.0/"></url>"#));
//! assert!(xml.contains(r#"sha256="n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=" DisablePayloadBackoff="true""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use crate::codes::{AckStatus, ActionEvent, AppStatus, DataStatus, Protocol, UpdateCheckStatus};
use crate::digest::{HashValue, Sha1Digest, Sha256Digest};
use crate::request;

/// `<response>`: the root of a server's answer (§3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `protocol`; [`Protocol::V3`] from every constructor. An absent attribute decodes as
    /// `None`.
    pub protocol: Option<Protocol>,
    /// `server`: diagnostic server name.
    pub server: Option<String>,
    /// `<daystart>`: always written; an absent element decodes as `elapsed_seconds="0"`.
    pub daystart: DayStart,
    /// The `<app>` elements in document order (§3.3).
    pub apps: Vec<App>,
}

impl Response {
    /// An empty protocol-3.0 response from `server`, with `<daystart elapsed_seconds="0">`
    /// (what go-omaha and Nebraska send).
    #[must_use]
    pub fn new(server: &str) -> Self {
        Self {
            protocol: Some(Protocol::V3),
            server: Some(server.to_owned()),
            daystart: DayStart::default(),
            apps: Vec::new(),
        }
    }

    /// Sets the protocol version; a server answers in the version of the request (the JSON
    /// encoder picks the document's shape from it, see [`crate::json`]).
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Sets `<daystart>`.
    #[must_use]
    pub fn with_daystart(mut self, daystart: DayStart) -> Self {
        self.daystart = daystart;
        self
    }

    /// Appends an app.
    #[must_use]
    pub fn with_app(mut self, app: App) -> Self {
        self.apps.push(app);
        self
    }
}

/// `<daystart>` (§3.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayStart {
    /// `elapsed_seconds`: seconds since the server's midnight (the spec requires it; CoreOS
    /// servers send `0`). Always written.
    pub elapsed_seconds: i64,
    /// `elapsed_days`: days since 2007-01-01.
    pub elapsed_days: Option<i64>,
}

/// `<app>` in a response (§3.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct App {
    /// `appid`: echo the request's string byte for byte (the go-omaha client looks its app
    /// up by exact string). An absent attribute decodes as the empty string.
    pub appid: String,
    /// `status` (§4.1).
    pub status: Option<AppStatus>,
    /// `experiments`.
    pub experiments: Option<String>,
    /// `cohort`.
    pub cohort: Option<String>,
    /// `cohorthint`.
    pub cohort_hint: Option<String>,
    /// `cohortname`.
    pub cohort_name: Option<String>,
    /// `<ping status>`: present iff the request had a ping.
    pub ping: Option<Ack>,
    /// `<updatecheck>` (§3.5).
    pub update_check: Option<UpdateCheck>,
    /// One `<event status>` per request event.
    pub events: Vec<Ack>,
    /// `<data>` answers (spec).
    pub data: Vec<Data>,
    /// `<unknown status="error">` (spec).
    pub unknown: Option<Ack>,
}

impl App {
    /// An app with `status="ok"` and no children.
    #[must_use]
    pub fn ok(appid: &str) -> Self {
        Self {
            appid: appid.to_owned(),
            status: Some(AppStatus::Ok),
            ..Self::default()
        }
    }

    /// An app with an error status (`error-unknownApplication`, ...) and no children.
    #[must_use]
    pub fn error(appid: &str, status: AppStatus) -> Self {
        Self {
            appid: appid.to_owned(),
            status: Some(status),
            ..Self::default()
        }
    }

    /// The acknowledgement of a request app: its `appid` echoed byte for byte,
    /// `status="ok"`, `<ping status="ok">` if it pinged and one `<event status="ok">` per
    /// event. Add the update check answer with [`App::with_update_check`] if it asked.
    #[must_use]
    pub fn acknowledging(app: &request::App) -> Self {
        Self {
            ping: app.ping.as_ref().map(|_| Ack::ok()),
            events: vec![Ack::ok(); app.events.len()],
            ..Self::ok(&app.appid)
        }
    }

    /// Sets the `<updatecheck>` answer.
    #[must_use]
    pub fn with_update_check(mut self, update_check: UpdateCheck) -> Self {
        self.update_check = Some(update_check);
        self
    }
}

/// `<ping status>`, `<event status>` or `<unknown status>` in a response (§3.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ack {
    /// `status`.
    pub status: Option<AckStatus>,
}

impl Ack {
    /// `status="ok"`.
    #[must_use]
    pub fn ok() -> Self {
        Self {
            status: Some(AckStatus::Ok),
        }
    }
}

/// `<updatecheck>` in a response (§3.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateCheck {
    /// `status` (§4.2); update_engine requires it.
    pub status: Option<UpdateCheckStatus>,
    /// `PollInterval` (UE): seconds until the next check; update_engine clamps it to
    /// 45 min .. 4 h and does not persist it.
    pub poll_interval: Option<u64>,
    /// `info`.
    pub info: Option<String>,
    /// `errorurl`.
    pub error_url: Option<String>,
    /// `tttoken`.
    pub tttoken: Option<String>,
    /// `<urls><url>`: download prefixes. The `<urls>` wrapper is written only when
    /// there is at least one URL.
    pub urls: Vec<Url>,
    /// `<manifest>`s. update_engine reads only the first; several are for clients that
    /// sent `multi_manifest_ok="true"` (floors).
    pub manifests: Vec<Manifest>,
    /// `_rollback` (this service's extension, `_`-prefixed as update_engine's
    /// non-standard attributes are): `true` when the server offers a version lower than
    /// the instance's on purpose, an explicit rollback its operator allowed. An updater
    /// that refuses downgrades (anti-rollback) accepts a lower version only with it.
    /// Other clients ignore it.
    pub rollback: Option<bool>,
}

impl UpdateCheck {
    /// `<updatecheck status="noupdate">`.
    #[must_use]
    pub fn no_update() -> Self {
        Self::with_status(UpdateCheckStatus::NoUpdate)
    }

    /// An error answer such as `error-internal`.
    #[must_use]
    pub fn error(status: UpdateCheckStatus) -> Self {
        Self::with_status(status)
    }

    /// `status="ok"` with download URLs and one manifest.
    #[must_use]
    pub fn update(urls: impl IntoIterator<Item = Codebase>, manifest: Manifest) -> Self {
        Self {
            urls: urls.into_iter().map(Url::new).collect(),
            manifests: vec![manifest],
            ..Self::with_status(UpdateCheckStatus::Ok)
        }
    }

    /// Sets `PollInterval` (seconds).
    #[must_use]
    pub fn with_poll_interval(mut self, seconds: u64) -> Self {
        self.poll_interval = Some(seconds);
        self
    }

    /// Marks the update an explicit rollback (`_rollback="true"`).
    #[must_use]
    pub fn as_rollback(mut self) -> Self {
        self.rollback = Some(true);
        self
    }

    fn with_status(status: UpdateCheckStatus) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }
}

/// A download prefix that always ends in `/`.
///
/// update_engine inserts a `/` when it is missing, URL-join clients (ue-rs) drop the last
/// path segment instead, so this crate appends one on construction and on decoding. The
/// empty string stays empty.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Codebase(String);

impl Codebase {
    /// The codebase, with a `/` appended when `url` is non-empty and lacks one.
    #[must_use]
    pub fn new(url: &str) -> Self {
        let mut s = String::with_capacity(url.len() + 1);
        s.push_str(url);
        if !s.is_empty() && !s.ends_with('/') {
            s.push('/');
        }
        Self(s)
    }

    /// The codebase text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Codebase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Codebase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `<url>` (§3.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Url {
    /// `codebase`: the download prefix; the package name is appended to it.
    pub codebase: Codebase,
    /// `codebasediff` (spec).
    pub codebase_diff: Option<String>,
}

impl Url {
    /// A `<url codebase>`.
    #[must_use]
    pub fn new(codebase: Codebase) -> Self {
        Self {
            codebase,
            codebase_diff: None,
        }
    }
}

/// `<manifest>` (§3.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// `version`: the version after applying. Always written; absent decodes as `""`.
    pub version: String,
    /// `is_floor` (Flatcar): must be installed before later manifests.
    pub is_floor: Option<bool>,
    /// `floor_reason` (Flatcar).
    pub floor_reason: Option<String>,
    /// `is_target` (Flatcar): the channel target.
    pub is_target: Option<bool>,
    /// `<packages><package>`: the OS payload first, extra packages after it. The wrapper
    /// is always written.
    pub packages: Vec<Package>,
    /// `<actions><action>`: the wrapper is always written.
    pub actions: Vec<Action>,
}

impl Manifest {
    /// A manifest for `version` with no packages and no actions.
    #[must_use]
    pub fn new(version: &str) -> Self {
        Self {
            version: version.to_owned(),
            ..Self::default()
        }
    }

    /// Appends a package.
    #[must_use]
    pub fn with_package(mut self, package: Package) -> Self {
        self.packages.push(package);
        self
    }

    /// Appends an action.
    #[must_use]
    pub fn with_action(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }
}

/// `<package>` (§3.7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Package {
    /// `name`: file name appended to each codebase.
    pub name: String,
    /// `hash`: SHA-1, base64 on output. Empty decodes as `None`.
    pub hash: Option<HashValue<Sha1Digest>>,
    /// `hash_sha256`: SHA-256, lower-case hex on output (base64 is accepted on input).
    pub hash_sha256: Option<HashValue<Sha256Digest>>,
    /// `size`: bytes. Always written; absent decodes as 0. update_engine needs it > 0.
    pub size: u64,
    /// `required`. Always written; absent decodes as `false`.
    pub required: bool,
    /// `fp` (spec).
    pub fp: Option<String>,
    /// `namediff` (spec).
    pub name_diff: Option<String>,
    /// `sizediff` (spec).
    pub size_diff: Option<u64>,
    /// `hashdiff` (spec).
    pub hash_diff: Option<String>,
    /// `hashdiff_sha256` (spec).
    pub hash_diff_sha256: Option<String>,
    /// `<metadata>` (Flatcar go-omaha).
    pub metadata: Option<Metadata>,
}

impl Package {
    /// A package with `name`, `size`, SHA-1 `hash` and `required`.
    #[must_use]
    pub fn new(name: &str, size: u64, sha1: Sha1Digest, required: bool) -> Self {
        Self {
            name: name.to_owned(),
            hash: Some(HashValue::Digest(sha1)),
            size,
            required,
            ..Self::default()
        }
    }

    /// Sets `hash_sha256`.
    #[must_use]
    pub fn with_sha256(mut self, sha256: Sha256Digest) -> Self {
        self.hash_sha256 = Some(HashValue::Digest(sha256));
        self
    }
}

/// `<metadata content-type="...">` inside a package (Flatcar go-omaha).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `content-type`.
    pub content_type: Option<String>,
    /// Element text (CDATA on input is accepted; output is escaped text).
    pub text: String,
}

/// `<action>` (§3.8). For CoreOS/Flatcar the `postinstall` action is a bag of payload
/// parameters; note the exact CamelCase of the update_engine attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    /// `event`.
    pub event: Option<ActionEvent>,
    /// `sha256` (UE): base64 SHA-256 of the whole payload, the only hash update_engine
    /// verifies (by string comparison). Base64 on output; hex accepted on input.
    pub sha256: Option<HashValue<Sha256Digest>>,
    /// `DisplayVersion` (UE).
    pub display_version: Option<String>,
    /// `ChromeOSVersion` (UE, older name).
    pub chromeos_version: Option<String>,
    /// `needsadmin` (UE).
    pub needs_admin: Option<bool>,
    /// `IsDeltaPayload` (UE): update_engine honours only the exact string `true`.
    pub is_delta_payload: Option<bool>,
    /// `IsDelta` (UE, older name).
    pub is_delta: Option<bool>,
    /// `DisablePayloadBackoff` (UE): send `true` for Flatcar payloads.
    pub disable_payload_backoff: Option<bool>,
    /// `MaxFailureCountPerUrl` (UE; "Url", not "URL").
    pub max_failure_count_per_url: Option<u64>,
    /// `MetadataSignatureRsa` (UE).
    pub metadata_signature_rsa: Option<String>,
    /// `MetadataSize` (UE).
    pub metadata_size: Option<String>,
    /// `deadline` (UE).
    pub deadline: Option<String>,
    /// `MoreInfo` (Mac Omaha).
    pub more_info: Option<String>,
    /// `Prompt` (Mac Omaha).
    pub prompt: Option<bool>,
    /// `MaxDaysToScatter` (ChromeOS).
    pub max_days_to_scatter: Option<String>,
    /// `ManifestSignatureRsa` (ChromeOS).
    pub manifest_signature_rsa: Option<String>,
    /// `ManifestSize` (ChromeOS).
    pub manifest_size: Option<String>,
    /// `ChromeVersion` (ChromeOS).
    pub chrome_version: Option<String>,
    /// `run` (spec).
    pub run: Option<String>,
    /// `arguments` (spec).
    pub arguments: Option<String>,
    /// `successurl` (spec).
    pub success_url: Option<String>,
    /// `terminateallbrowsers` (spec).
    pub terminate_all_browsers: Option<bool>,
    /// `successaction` (spec).
    pub success_action: Option<String>,
    /// `onsuccess` (older spelling of `successaction`).
    pub on_success: Option<String>,
    /// `version` (spec).
    pub version: Option<String>,
}

impl Action {
    /// The Flatcar postinstall action: `event="postinstall"`, the payload's `sha256` and
    /// `DisablePayloadBackoff="true"` (without it a failing client may back off for days).
    #[must_use]
    pub fn postinstall(sha256: Sha256Digest) -> Self {
        Self {
            event: Some(ActionEvent::PostInstall),
            sha256: Some(HashValue::Digest(sha256)),
            disable_payload_backoff: Some(true),
            ..Self::default()
        }
    }
}

/// `<data>` in a response (spec).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Data {
    /// `name`.
    pub name: Option<String>,
    /// `index`.
    pub index: Option<String>,
    /// `status`.
    pub status: Option<DataStatus>,
    /// Element text, unescaped, whitespace kept.
    pub text: String,
}
