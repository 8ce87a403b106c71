//! The `<request>` document a client sends (omaha-protocol.md §2).
//!
//! Field names are the XML names in Rust spelling; each field's doc gives the exact XML
//! attribute. `Option` fields are absent when `None`; an empty string and an absent
//! attribute are different (update_engine sends `hardware_class=""`).
//!
//! The constructors build the four request shapes update_engine sends (§8.2):
//!
//! ```
//! use omaha_proto::request::{App, Event, Os, Request};
//! use omaha_proto::codes::error_code;
//!
//! // 1. Update check, with ping and the 3/2 "I run this version" event.
//! let check = Request::update_engine("update_engine-0.4.10", "scheduler",
//!         Os::new("CoreOS", "Chateau", "3975.2.0_x86_64"))
//!     .with_app(App::new("{e96281a6-d1af-4bde-9a0a-97b76e56dc57}", "3975.2.0")
//!         .with_track("stable")
//!         .with_update_check(Some("3941.1.0")));
//! // 2. Ping only.
//! let ping = App::new("{e96281a6-d1af-4bde-9a0a-97b76e56dc57}", "3975.2.0").with_ping();
//! // 3. Progress events and 4. errors.
//! let progress = App::new("{e96281a6-d1af-4bde-9a0a-97b76e56dc57}", "3975.2.0")
//!     .with_event(Event::download_started());
//! let failed = Event::error(error_code::FLAG_TEST_OMAHA_URL | error_code::PAYLOAD_HASH_MISMATCH);
//! assert_eq!(failed.error_code, Some(268435466));
//! # let _ = (check, ping, progress);
//! ```

use crate::codes::{EventResult, EventType, Protocol};

/// `<request>`: the root of a client's message (§2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `protocol`; [`Protocol::V3`] from every constructor. An absent attribute decodes
    /// as `None` and is not written.
    pub protocol: Option<Protocol>,
    /// `version`: "client-id-version" of the updater (update_engine: `update_engine-0.4.10`).
    pub version: Option<String>,
    /// `updaterversion`: the same as `version` for update_engine.
    pub updater_version: Option<String>,
    /// `installsource`: why the check happened; free text (`ondemandupdate`, `scheduler`,
    /// `ondemand`, `scheduledtask`, ...).
    pub install_source: Option<String>,
    /// `ismachine`: `1` system-level, `0` user.
    pub is_machine: Option<i64>,
    /// `requestid`: unique per HTTP attempt.
    pub request_id: Option<String>,
    /// `sessionid`: groups the requests of one update flow.
    pub session_id: Option<String>,
    /// `userid`: opt-in persistent id.
    pub user_id: Option<String>,
    /// `testsource`: non-empty means test traffic.
    pub test_source: Option<String>,
    /// `acceptformat` (spec).
    pub accept_format: Option<String>,
    /// `dedup` (spec).
    pub dedup: Option<String>,
    /// `dlpref` (spec).
    pub dlpref: Option<String>,
    /// `originurl` (spec).
    pub origin_url: Option<String>,
    /// `updater` (spec).
    pub updater: Option<String>,
    /// `updaterchannel` (spec).
    pub updater_channel: Option<String>,
    /// `<hw>` (spec; never sent by CoreOS clients).
    pub hw: Option<Hw>,
    /// `<os>` (§2.2).
    pub os: Option<Os>,
    /// The `<app>` elements, in document order (§2.3).
    pub apps: Vec<App>,
}

impl Request {
    /// An empty protocol-3.0 request with no attributes and no apps.
    #[must_use]
    pub fn new() -> Self {
        Self {
            protocol: Some(Protocol::V3),
            version: None,
            updater_version: None,
            install_source: None,
            is_machine: None,
            request_id: None,
            session_id: None,
            user_id: None,
            test_source: None,
            accept_format: None,
            dedup: None,
            dlpref: None,
            origin_url: None,
            updater: None,
            updater_channel: None,
            hw: None,
            os: None,
            apps: Vec::new(),
        }
    }

    /// The request envelope update_engine sends: `protocol="3.0"`, `version` and
    /// `updaterversion` both set to `updater` (e.g. `update_engine-0.4.10`),
    /// `installsource` (`scheduler` or `ondemandupdate`), `ismachine="1"` and `<os>`.
    #[must_use]
    pub fn update_engine(updater: &str, install_source: &str, os: Os) -> Self {
        Self {
            version: Some(updater.to_owned()),
            updater_version: Some(updater.to_owned()),
            install_source: Some(install_source.to_owned()),
            is_machine: Some(1),
            os: Some(os),
            ..Self::new()
        }
    }

    /// Appends an app.
    #[must_use]
    pub fn with_app(mut self, app: App) -> Self {
        self.apps.push(app);
        self
    }
}

impl Default for Request {
    fn default() -> Self {
        Self::new()
    }
}

/// `<hw>`: hardware capabilities (spec only). Values are kept as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hw {
    /// `sse`.
    pub sse: Option<String>,
    /// `sse2`.
    pub sse2: Option<String>,
    /// `sse3`.
    pub sse3: Option<String>,
    /// `ssse3`.
    pub ssse3: Option<String>,
    /// `sse41`.
    pub sse41: Option<String>,
    /// `sse42`.
    pub sse42: Option<String>,
    /// `avx`.
    pub avx: Option<String>,
    /// `physmemory`: memory in GB.
    pub physmemory: Option<String>,
}

/// `<os>` (§2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Os {
    /// `platform`: update_engine sends `CoreOS`.
    pub platform: Option<String>,
    /// `version`: update_engine sends `Chateau`.
    pub version: Option<String>,
    /// `sp`: update_engine sends `<release version>_<machine>`, e.g. `3975.2.0_x86_64`.
    pub sp: Option<String>,
    /// `arch`: `x86`, `x64`, `arm`, ... (not sent by update_engine).
    pub arch: Option<String>,
}

impl Os {
    /// An `<os>` with `platform`, `version` and `sp`.
    #[must_use]
    pub fn new(platform: &str, version: &str, sp: &str) -> Self {
        Self {
            platform: Some(platform.to_owned()),
            version: Some(version.to_owned()),
            sp: Some(sp.to_owned()),
            arch: None,
        }
    }
}

/// `<app>` in a request (§2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct App {
    /// `appid`, byte for byte as sent (braced or bare, any case). An absent attribute
    /// decodes as the empty string. Compare with [`crate::appid::same_app_id`].
    pub appid: String,
    /// `version`: the installed version (`""` means 0.0.0.0).
    pub version: Option<String>,
    /// `track` (UE): the channel or group.
    pub track: Option<String>,
    /// `bootid` (CoreOS): per-boot id.
    pub boot_id: Option<String>,
    /// `oem` (CoreOS).
    pub oem: Option<String>,
    /// `oemversion` (CoreOS).
    pub oem_version: Option<String>,
    /// `alephversion` (CoreOS): version first installed on the machine.
    pub aleph_version: Option<String>,
    /// `machineid` (CoreOS): the persistent instance key.
    pub machine_id: Option<String>,
    /// `machinealias` (Flatcar).
    pub machine_alias: Option<String>,
    /// `lang`.
    pub lang: Option<String>,
    /// `board` (UE): `amd64-usr`, `arm64-usr`.
    pub board: Option<String>,
    /// `hardware_class` (UE).
    pub hardware_class: Option<String>,
    /// `delta_okay` (UE): client accepts delta payloads.
    pub delta_okay: Option<bool>,
    /// `from_track` (UE): previous channel.
    pub from_track: Option<String>,
    /// `multi_manifest_ok` (Flatcar): the client understands several `<manifest>`s.
    pub multi_manifest_ok: Option<bool>,
    /// `nextversion`.
    pub next_version: Option<String>,
    /// `client`.
    pub client: Option<String>,
    /// `installage`: days since install, `-1` on first contact.
    pub install_age: Option<i64>,
    /// `brand`.
    pub brand: Option<String>,
    /// `ap`.
    pub ap: Option<String>,
    /// `experiments`.
    pub experiments: Option<String>,
    /// `iid`.
    pub iid: Option<String>,
    /// `installdate`.
    pub install_date: Option<String>,
    /// `cohort`.
    pub cohort: Option<String>,
    /// `cohorthint`.
    pub cohort_hint: Option<String>,
    /// `cohortname`.
    pub cohort_name: Option<String>,
    /// `release_channel`.
    pub release_channel: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// `fp`: fingerprint of the installed version.
    pub fp: Option<String>,
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `ismachine` (app level).
    pub is_machine: Option<i64>,
    /// `installsource` (app level).
    pub install_source: Option<String>,
    /// `<ping>` (§2.4).
    pub ping: Option<Ping>,
    /// `<updatecheck>` (§2.5).
    pub update_check: Option<UpdateCheck>,
    /// `<event>`s in document order (§2.6).
    pub events: Vec<Event>,
    /// `<data>` elements (spec).
    pub data: Vec<Data>,
    /// `<disabled>` elements (spec).
    pub disabled: Vec<Disabled>,
    /// `<packages><package fp=".."/></packages>`: installed packages (spec).
    pub packages: Vec<InstalledPackage>,
}

impl App {
    /// An app with `appid` and `version`, nothing else.
    #[must_use]
    pub fn new(appid: &str, version: &str) -> Self {
        Self {
            appid: appid.to_owned(),
            version: Some(version.to_owned()),
            ..Self::default()
        }
    }

    /// Sets `track` (the channel or group).
    #[must_use]
    pub fn with_track(mut self, track: &str) -> Self {
        self.track = Some(track.to_owned());
        self
    }

    /// Sets `machineid`.
    #[must_use]
    pub fn with_machine_id(mut self, machine_id: &str) -> Self {
        self.machine_id = Some(machine_id.to_owned());
        self
    }

    /// Sets `bootid`.
    #[must_use]
    pub fn with_boot_id(mut self, boot_id: &str) -> Self {
        self.boot_id = Some(boot_id.to_owned());
        self
    }

    /// update_engine's update check (§8.2 shape 1): `<ping active="1">`, an empty
    /// `<updatecheck>` and event 3/2 whose `previousversion` is the given version (`None`
    /// writes `previousversion=""`, as update_engine does after the first check).
    #[must_use]
    pub fn with_update_check(mut self, previous_version: Option<&str>) -> Self {
        self.ping = Some(Ping::active());
        self.update_check = Some(UpdateCheck::default());
        self.events
            .push(Event::update_complete(previous_version.unwrap_or("")));
        self
    }

    /// A ping alone (§8.2 shape 2): `<ping active="1">`.
    #[must_use]
    pub fn with_ping(mut self) -> Self {
        self.ping = Some(Ping::active());
        self
    }

    /// Appends an event (§8.2 shapes 3 and 4).
    #[must_use]
    pub fn with_event(mut self, event: Event) -> Self {
        self.events.push(event);
        self
    }
}

/// `<ping>` (§2.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ping {
    /// `active`: `1` when the app was active since the previous ping.
    pub active: Option<i64>,
    /// `a`: days since the last active ping, `-1` never. Absent and `0` differ.
    pub a: Option<i64>,
    /// `r`: days since the last ping, `-1` never.
    pub r: Option<i64>,
    /// `ad`: date-based `a` (echo of the server's `elapsed_days`).
    pub ad: Option<i64>,
    /// `rd`: date-based `r`.
    pub rd: Option<i64>,
    /// `ping_freshness`.
    pub ping_freshness: Option<String>,
}

impl Ping {
    /// `<ping active="1">`, what current update_engine sends.
    #[must_use]
    pub fn active() -> Self {
        Self {
            active: Some(1),
            ..Self::default()
        }
    }
}

/// `<updatecheck>` in a request (§2.5). CoreOS clients send it empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateCheck {
    /// `targetversionprefix`.
    pub target_version_prefix: Option<String>,
    /// `tttoken`.
    pub tttoken: Option<String>,
    /// `updatedisabled`.
    pub update_disabled: Option<bool>,
    /// `sameversionupdate`.
    pub same_version_update: Option<bool>,
    /// `rollback_allowed`.
    pub rollback_allowed: Option<bool>,
}

/// `<event>` in a request (§2.6, §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `eventtype`; absent decodes as [`EventType::Unknown`] (0). Always written.
    pub event_type: EventType,
    /// `eventresult`; absent decodes as the spec default [`EventResult::Error`] (0).
    /// Always written.
    pub event_result: EventResult,
    /// `errorcode`: signed; update_engine ORs flag bits into it
    /// ([`crate::codes::error_code`]).
    pub error_code: Option<i64>,
    /// `extracode1`.
    pub extra_code1: Option<i64>,
    /// `previousversion`: version before the update flow.
    pub previous_version: Option<String>,
    /// `nextversion`: version being installed.
    pub next_version: Option<String>,
    /// `errorcat`.
    pub error_cat: Option<i64>,
    /// `download_time_ms`.
    pub download_time_ms: Option<i64>,
    /// `downloaded`: bytes.
    pub downloaded: Option<i64>,
    /// `downloader`.
    pub downloader: Option<String>,
    /// `total`: bytes.
    pub total: Option<i64>,
    /// `update_check_time_ms`.
    pub update_check_time_ms: Option<i64>,
    /// `install_time_ms`.
    pub install_time_ms: Option<i64>,
    /// `source_url_index`.
    pub source_url_index: Option<i64>,
    /// `state_cancelled`.
    pub state_cancelled: Option<i64>,
    /// `time_since_update_available_ms`.
    pub time_since_update_available_ms: Option<i64>,
    /// `time_since_download_start_ms`.
    pub time_since_download_start_ms: Option<i64>,
    /// `url`.
    pub url: Option<String>,
    /// `nextfp`.
    pub next_fp: Option<String>,
    /// `previousfp`.
    pub previous_fp: Option<String>,
}

impl Event {
    /// An event with a type and result and no other attribute.
    #[must_use]
    pub fn new(event_type: EventType, event_result: EventResult) -> Self {
        Self {
            event_type,
            event_result,
            error_code: None,
            extra_code1: None,
            previous_version: None,
            next_version: None,
            error_cat: None,
            download_time_ms: None,
            downloaded: None,
            downloader: None,
            total: None,
            update_check_time_ms: None,
            install_time_ms: None,
            source_url_index: None,
            state_cancelled: None,
            time_since_update_available_ms: None,
            time_since_download_start_ms: None,
            url: None,
            next_fp: None,
            previous_fp: None,
        }
    }

    /// 3/2 with `previousversion`: "running the new version"; update_engine attaches it to
    /// every update check (`""` when nothing changed, `0.0.0.0` on first contact).
    #[must_use]
    pub fn update_complete(previous_version: &str) -> Self {
        Self {
            previous_version: Some(previous_version.to_owned()),
            ..Self::new(EventType::UpdateComplete, EventResult::SuccessReboot)
        }
    }

    /// 13/1: update download started.
    #[must_use]
    pub fn download_started() -> Self {
        Self::new(EventType::UpdateDownloadStarted, EventResult::Success)
    }

    /// 14/1: update download finished.
    #[must_use]
    pub fn download_finished() -> Self {
        Self::new(EventType::UpdateDownloadFinished, EventResult::Success)
    }

    /// 3/1: update installed (postinstall succeeded), before the reboot.
    #[must_use]
    pub fn update_installed() -> Self {
        Self::new(EventType::UpdateComplete, EventResult::Success)
    }

    /// 800/1: installed, completion held back by the instance (Nebraska extension).
    #[must_use]
    pub fn installed_completion_held() -> Self {
        Self::new(EventType::InstalledCompletionHeld, EventResult::Success)
    }

    /// 3/0 with `errorcode`: the update failed. `code` includes any flag bits.
    #[must_use]
    pub fn error(code: i64) -> Self {
        Self {
            error_code: Some(code),
            ..Self::new(EventType::UpdateComplete, EventResult::Error)
        }
    }

    /// 3/9 with `errorcode`: the update was deferred (codes 35, 36, 40).
    #[must_use]
    pub fn deferred(code: i64) -> Self {
        Self {
            error_code: Some(code),
            ..Self::new(EventType::UpdateComplete, EventResult::UpdateDeferred)
        }
    }
}

/// `<data>` in a request (spec).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Data {
    /// `name`: `install` or `untrusted`.
    pub name: Option<String>,
    /// `index`.
    pub index: Option<String>,
    /// Element text, unescaped, whitespace kept.
    pub text: String,
}

/// `<disabled>` in a request (spec).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disabled {
    /// `reason`.
    pub reason: Option<i64>,
}

/// `<package>` inside a request app's `<packages>` (spec): an installed package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledPackage {
    /// `fp`: fingerprint.
    pub fp: Option<String>,
}
