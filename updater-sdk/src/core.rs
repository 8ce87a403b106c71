//! The sans-IO core: builds the Omaha requests, interprets the responses, decides what to
//! do after a restart and when to check next.
//!
//! Nothing here performs IO, reads a clock or draws a random number: time comes in as
//! `now`, randomness as a jitter sample in `[0, 1)`, so every decision is a pure function
//! that the unit tests below pin down. The IO shell ([`crate::Updater`]) feeds it.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use omaha_proto::appid::same_app_id;
use omaha_proto::codes::{AppStatus, UpdateCheckStatus};
use omaha_proto::digest::{Sha1Digest, Sha256Digest};
use omaha_proto::request::{self, Event, Os};
use omaha_proto::{Request, Response};
use serde::{Deserialize, Serialize};

use crate::error::{AnswerRefused, Error};

/// The `version` and `updaterversion` this SDK sends.
pub const UPDATER_NAME: &str = concat!("updater-sdk-", env!("CARGO_PKG_VERSION"));

/// Who this instance is, as sent in every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The Omaha app id.
    pub app_id: String,
    /// The group, sent as `track`.
    pub group: String,
    /// The instance key, sent as `machineid`.
    pub machine_id: String,
    /// `installsource`: `scheduler` for periodic checks, `ondemandupdate` for manual ones.
    pub install_source: String,
    /// Whether checks send `multi_manifest_ok="true"`: the server may then answer with
    /// every floor on the way and the target in one answer ([`UpdatePlan`]).
    pub multi_manifest_ok: bool,
}

impl Identity {
    fn envelope(&self) -> Request {
        let mut os = Os::new(std::env::consts::OS, "", "");
        os.arch = Some(std::env::consts::ARCH.to_owned());
        Request::update_engine(UPDATER_NAME, &self.install_source, os)
    }

    fn app(&self, version: &str) -> request::App {
        request::App::new(&self.app_id, version)
            .with_track(&self.group)
            .with_machine_id(&self.machine_id)
    }

    /// An update check from `version`, with ping and the routine 3/2 event
    /// (`previousversion=""`, as update_engine sends on every check), and
    /// `multi_manifest_ok="true"` when [`Identity::multi_manifest_ok`] is set.
    #[must_use]
    pub fn check_request(&self, version: &str) -> Request {
        let mut app = self.app(version).with_update_check(None);
        if self.multi_manifest_ok {
            app.multi_manifest_ok = Some(true);
        }
        self.envelope().with_app(app)
    }

    /// A ping alone (sent while an installed update waits for the restart).
    #[must_use]
    pub fn ping_request(&self, version: &str) -> Request {
        self.envelope().with_app(self.app(version).with_ping())
    }

    /// A request carrying one event and nothing else.
    #[must_use]
    pub fn event_request(&self, version: &str, event: Event) -> Request {
        self.envelope()
            .with_app(self.app(version).with_event(event))
    }

    /// The completion report: 3/2 from `version` (the new one) with
    /// `previousversion` = the version the update started from.
    #[must_use]
    pub fn completion_request(&self, version: &str, previous_version: &str) -> Request {
        self.event_request(version, Event::update_complete(previous_version))
    }
}

/// An update the server offered, as the SDK will download and install it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateInfo {
    /// The version the package installs (`manifest@version`).
    pub version: String,
    /// The package file name (`package@name`).
    pub package_name: String,
    /// The full download URL: the first codebase followed by the package name.
    pub url: String,
    /// The payload size in bytes.
    pub size: u64,
    /// The SHA-256 of the payload (the postinstall action's `sha256`, or else the
    /// package's `hash_sha256`).
    pub sha256: Sha256Digest,
    /// The SHA-1 of the payload (`package@hash`), informational only.
    pub sha1: Option<Sha1Digest>,
    /// The update's extra files (the packages after the payload, such as Flatcar's
    /// `oem-<id>.gz`), for an install hook that needs some of them. Not downloaded by the
    /// SDK.
    pub extra_files: Vec<ExtraFile>,
    /// When the version is a floor (`is_floor`), to be installed before later versions:
    /// the server's reason (empty when it gave none). The SDK installs it like any update;
    /// then the next step of the same [`UpdatePlan`], or, without one, the next check
    /// offers the next step.
    pub floor_reason: Option<String>,
}

/// An extra file of an update (a `<package>` after the payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFile {
    /// The file name (`package@name`).
    pub name: String,
    /// The full download URL: the codebase followed by the name.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 (`hash_sha256`, hex or base64), when given.
    pub sha256: Option<Sha256Digest>,
    /// Its SHA-1 (`hash`), when given.
    pub sha1: Option<Sha1Digest>,
}

/// The most steps (floors and the target) read from one answer; an answer with more is
/// refused as invalid. A server keeps a handful of floors per channel.
pub const MAX_STEPS: usize = 16;

/// The updates an answer offers, in the order they must be installed: one step, or, for a
/// check that sent `multi_manifest_ok="true"`, every floor on the way (`is_floor`, lowest
/// first as the server lists them) and then the target. Never empty; every step but the
/// last is a floor, so installing the steps in order never skips one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    steps: Vec<UpdateInfo>,
    rollback: bool,
}

impl UpdatePlan {
    /// A plan of one step.
    #[must_use]
    pub fn single(update: UpdateInfo) -> Self {
        Self {
            steps: vec![update],
            rollback: false,
        }
    }

    /// Whether the server marked the update an explicit rollback (`_rollback="true"` on
    /// the update check): a version lower than the instance's, offered on purpose. Only
    /// such a plan may go below the highest version the updater ever installed (see
    /// [`check_downgrade`]).
    #[must_use]
    pub fn is_rollback(&self) -> bool {
        self.rollback
    }

    /// Every step, in the order to install them.
    #[must_use]
    pub fn steps(&self) -> &[UpdateInfo] {
        &self.steps
    }

    /// The floors before the last step.
    #[must_use]
    pub fn floors(&self) -> &[UpdateInfo] {
        &self.steps[..self.steps.len() - 1]
    }

    /// The last step: the version the plan ends on (the channel's target in a
    /// multi-manifest answer; a floor when the server offers only the next floor).
    #[must_use]
    pub fn last(&self) -> &UpdateInfo {
        &self.steps[self.steps.len() - 1]
    }

    /// The number of steps (at least 1).
    #[must_use]
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Always `false`: a plan has at least one step.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// What an update-check response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// No update for now.
    NoUpdate,
    /// An update to download and install: its steps, in order.
    Update(UpdatePlan),
}

/// An interpreted update-check response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAnswer {
    /// Update or not.
    pub result: CheckResult,
    /// The server's `PollInterval`, if it sent one.
    pub poll_interval: Option<Duration>,
}

/// Finds this app's `<app>` in a response, or says why it is not usable.
fn our_app<'r>(
    response: &'r Response,
    app_id: &str,
) -> Result<&'r omaha_proto::response::App, Error> {
    let Some(first) = response.apps.first() else {
        return Err(Error::InvalidResponse("the response has no <app>".into()));
    };
    let app = response
        .apps
        .iter()
        .find(|a| same_app_id(&a.appid, app_id))
        .ok_or_else(|| Error::WrongApp {
            expected: app_id.to_owned(),
            got: first.appid.clone(),
        })?;
    match &app.status {
        None | Some(AppStatus::Ok) => Ok(app),
        Some(other) => Err(Error::Rejected {
            status: other.as_str().to_owned(),
        }),
    }
}

/// Interprets the response to [`Identity::check_request`].
///
/// With `multi_manifest_ok` (the check sent it), every `<manifest>` of the answer is a
/// step of the [`UpdatePlan`], in the answer's order; each step's files are downloaded
/// from the `<url>` of the same position when the answer has one per manifest, else from
/// its first. Every step but the last must be a floor (`is_floor="true"`) and no step may
/// follow the one marked `is_target="true"`; versions are distinct; at most
/// [`MAX_STEPS`]. Without it, only the first manifest is read, as update_engine does.
///
/// # Errors
/// [`Error::WrongApp`] when the response is about another app, [`Error::Rejected`] when
/// the server refuses the app or the check (`error-unknownApplication`, `error-internal`,
/// ...), [`Error::InvalidResponse`] when a field the SDK needs is missing or invalid in
/// any step, or the steps are not in an order that can be installed.
pub fn interpret_check(
    response: &Response,
    app_id: &str,
    multi_manifest_ok: bool,
) -> Result<CheckAnswer, Error> {
    let app = our_app(response, app_id)?;
    let check = app
        .update_check
        .as_ref()
        .ok_or_else(|| Error::InvalidResponse("the app has no <updatecheck>".into()))?;
    let poll_interval = check.poll_interval.map(Duration::from_secs);
    let result = match &check.status {
        Some(UpdateCheckStatus::NoUpdate) => CheckResult::NoUpdate,
        Some(UpdateCheckStatus::Ok) => CheckResult::Update(plan(check, multi_manifest_ok)?),
        Some(other) => {
            return Err(Error::Rejected {
                status: other.as_str().to_owned(),
            });
        }
        None => {
            return Err(Error::InvalidResponse("<updatecheck> has no status".into()));
        }
    };
    Ok(CheckAnswer {
        result,
        poll_interval,
    })
}

/// The steps of an update answer (see [`interpret_check`]).
fn plan(
    check: &omaha_proto::response::UpdateCheck,
    multi_manifest_ok: bool,
) -> Result<UpdatePlan, Error> {
    let invalid = |what: String| Error::InvalidResponse(what);
    if check.manifests.is_empty() {
        return Err(invalid("an update without <manifest>".into()));
    }
    let manifests = if multi_manifest_ok {
        &check.manifests[..]
    } else {
        &check.manifests[..1]
    };
    if manifests.len() > MAX_STEPS {
        return Err(invalid(format!(
            "an update of {} manifests, more than the {MAX_STEPS} the SDK takes",
            manifests.len()
        )));
    }
    let first_codebase = check
        .urls
        .iter()
        .map(|u| u.codebase.as_str())
        .find(|c| !c.is_empty());
    let one_url_each = manifests.len() > 1 && check.urls.len() == manifests.len();
    let mut steps: Vec<UpdateInfo> = Vec::with_capacity(manifests.len());
    for (i, manifest) in manifests.iter().enumerate() {
        let codebase = if one_url_each {
            Some(check.urls[i].codebase.as_str()).filter(|c| !c.is_empty())
        } else {
            first_codebase
        };
        let step = update_info(manifest, codebase).map_err(|e| match e {
            Error::InvalidResponse(what) if manifests.len() > 1 => {
                invalid(format!("step {} of {}: {what}", i + 1, manifests.len()))
            }
            other => other,
        })?;
        if steps.iter().any(|s| s.version == step.version) {
            return Err(invalid(format!(
                "the update lists version {} twice",
                step.version
            )));
        }
        let last = i + 1 == manifests.len();
        if !last && manifest.is_target == Some(true) {
            return Err(invalid(format!(
                "version {} is the target (is_target) but more manifests follow it",
                step.version
            )));
        }
        if !last && step.floor_reason.is_none() {
            return Err(invalid(format!(
                "version {} comes before another version but is not a floor (is_floor)",
                step.version
            )));
        }
        steps.push(step);
    }
    Ok(UpdatePlan {
        steps,
        rollback: check.rollback == Some(true),
    })
}

fn update_info(
    manifest: &omaha_proto::response::Manifest,
    codebase: Option<&str>,
) -> Result<UpdateInfo, Error> {
    let invalid = |what: &str| Error::InvalidResponse(what.to_owned());
    if manifest.version.trim().is_empty() {
        return Err(invalid("<manifest> has no version"));
    }
    let package = manifest
        .packages
        .first()
        .ok_or_else(|| invalid("an update without <package>"))?;
    if package.name.is_empty() || package.name.contains('/') || package.name == ".." {
        return Err(invalid("<package> has no usable name"));
    }
    if package.size == 0 {
        return Err(invalid("<package> has no size"));
    }
    let codebase = codebase.ok_or_else(|| invalid("an update without <url codebase>"))?;
    let from_action = manifest
        .actions
        .iter()
        .filter(|a| a.event == Some(omaha_proto::codes::ActionEvent::PostInstall))
        .find_map(|a| a.sha256.as_ref())
        .and_then(|h| h.digest().copied());
    let from_package = package
        .hash_sha256
        .as_ref()
        .and_then(|h| h.digest().copied());
    let sha256 = from_action
        .or(from_package)
        .ok_or_else(|| invalid("an update without a SHA-256 of the payload"))?;
    let extra_files = manifest
        .packages
        .iter()
        .skip(1)
        .filter(|p| !p.name.is_empty() && !p.name.contains('/') && p.name != "..")
        .map(|p| ExtraFile {
            name: p.name.clone(),
            url: format!("{codebase}{}", p.name),
            size: p.size,
            sha256: p.hash_sha256.as_ref().and_then(|h| h.digest().copied()),
            sha1: p.hash.as_ref().and_then(|h| h.digest().copied()),
        })
        .collect();
    Ok(UpdateInfo {
        version: manifest.version.clone(),
        package_name: package.name.clone(),
        url: format!("{codebase}{}", package.name),
        size: package.size,
        sha256,
        sha1: package.hash.as_ref().and_then(|h| h.digest().copied()),
        extra_files,
        floor_reason: (manifest.is_floor == Some(true))
            .then(|| manifest.floor_reason.clone().unwrap_or_default()),
    })
}

/// Compares two versions as the SDK orders them for anti-rollback: split at `.`, `-` and
/// `+`, numeric parts compared as numbers (`1.10` is above `1.9`, leading zeros do not
/// count), other parts as text with their digits compared as numbers (`rc2` below `rc10`),
/// a numeric part above a textual one (so `1.0.0` is above `1.0.0-rc1`), and missing parts
/// as 0 (`1.2` equals `1.2.0`).
#[must_use]
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &'_ str| -> Vec<String> {
        v.trim()
            .split(['.', '-', '+'])
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (a, b) = (parts(a), parts(b));
    let zero = String::from("0");
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).unwrap_or(&zero);
        let y = b.get(i).unwrap_or(&zero);
        let order = match (numeric(x), numeric(y)) {
            (true, true) => compare_numbers(x, y),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_text(x, y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

fn numeric(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit())
}

/// Two runs of digits as numbers of any length.
fn compare_numbers(x: &str, y: &str) -> Ordering {
    let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

/// Text with its runs of digits compared as numbers (`rc2` below `rc10`).
fn compare_text(x: &str, y: &str) -> Ordering {
    fn runs(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, c) in text.char_indices().skip(1) {
            let prev = text[..i]
                .chars()
                .next_back()
                .is_some_and(|p| p.is_ascii_digit());
            if prev != c.is_ascii_digit() {
                out.push(&text[start..i]);
                start = i;
            }
        }
        out.push(&text[start..]);
        out
    }
    let (a, b) = (runs(x), runs(y));
    for (p, q) in a.iter().zip(&b) {
        let order = if numeric(p) && numeric(q) {
            compare_numbers(p, q)
        } else {
            p.cmp(q)
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// Anti-rollback: refuses a plan with a step below `highest_installed` (the highest
/// version this updater ever installed) unless the server marked the plan an explicit
/// rollback ([`UpdatePlan::is_rollback`]). The same version again is not a downgrade.
///
/// # Errors
/// [`Error::Downgrade`] naming the first step below it.
pub fn check_downgrade(plan: &UpdatePlan, highest_installed: Option<&str>) -> Result<(), Error> {
    let Some(highest) = highest_installed else {
        return Ok(());
    };
    if plan.is_rollback() {
        return Ok(());
    }
    match plan
        .steps()
        .iter()
        .find(|s| compare_versions(&s.version, highest) == Ordering::Less)
    {
        Some(step) => Err(Error::Downgrade {
            offered: step.version.clone(),
            highest: highest.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The highest installed version after `version` completed: `version` itself after an
/// explicit rollback (the operator chose to go down; later versions are measured from
/// there), else the higher of the two.
#[must_use]
pub fn highest_after(highest_installed: Option<&str>, version: &str, rollback: bool) -> String {
    match highest_installed {
        Some(h) if !rollback && compare_versions(h, version) == Ordering::Greater => h.to_owned(),
        _ => version.to_owned(),
    }
}

/// The CUP proof of an answer, as its headers carry it.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerProof<'a> {
    /// `X-Cup-Server-Proof`.
    pub server_proof: Option<&'a str>,
    /// `ETag`.
    pub etag: Option<&'a str>,
}

/// What a pinned updater checks of every answer before reading it: it arrived within
/// `max_age` of sending the request (`elapsed`), carries a proof (`X-Cup-Server-Proof`,
/// else `ETag`), the proof names this request's body hash (else the answer is replayed
/// from another request), and its signature verifies with the `pinned` key over this
/// request body, the answer body and this request's `cup2key`.
///
/// # Errors
/// The [`AnswerRefused`] reason, checked in that order.
pub fn verify_answer(
    pinned: &omaha_proto::cup::CupPublicKey,
    cup2key: &omaha_proto::cup::Cup2Key,
    request_body: &[u8],
    answer_body: &[u8],
    proof: AnswerProof<'_>,
    elapsed: Duration,
    max_age: Duration,
) -> Result<(), AnswerRefused> {
    use omaha_proto::cup::{CupError, ServerProof};
    if elapsed > max_age {
        return Err(AnswerRefused::Stale {
            elapsed,
            max: max_age,
        });
    }
    let header = proof
        .server_proof
        .or(proof.etag)
        .ok_or(AnswerRefused::Unsigned)?;
    // Parsed first, so a malformed proof says so rather than "replayed".
    ServerProof::from_headers(proof.server_proof, proof.etag)
        .ok_or(AnswerRefused::Unsigned)?
        .map_err(|e| AnswerRefused::MalformedProof(e.to_string()))?;
    omaha_proto::cup::verify(pinned, request_body, cup2key, answer_body, header).map_err(
        |e| match e {
            CupError::RequestHashMismatch => AnswerRefused::Replayed,
            CupError::BadSignature => AnswerRefused::BadSignature,
            other => AnswerRefused::MalformedProof(other.to_string()),
        },
    )
}

/// Checks that an event acknowledgement is about this app.
///
/// # Errors
/// As [`interpret_check`], for the app lookup.
pub fn interpret_ack(response: &Response, app_id: &str) -> Result<(), Error> {
    our_app(response, app_id).map(|_| ())
}

/// Where an update stands, as persisted in the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Downloaded and verified, not installed yet.
    Downloaded,
    /// Installed and taking effect now ([`crate::InstallOutcome::Complete`]); health
    /// check and completion report pending.
    Installed,
    /// Installed, completion held back until the app restarts on the new version
    /// ([`crate::InstallOutcome::Deferred`]).
    Held,
}

/// An update in progress, persisted across restarts. For a plan of several steps, the
/// step in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    /// The version being installed.
    pub version: String,
    /// The version the update (this step) started from.
    pub from_version: String,
    /// How far it got.
    pub phase: Phase,
    /// For a step of an [`UpdatePlan`] that is not its last: the version the plan ends
    /// on. Once this step completes, the updater checks again at once and goes on with
    /// the steps the server offers from there (the floors after this one, then the
    /// target), so a restart between steps resumes at the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then_to: Option<String>,
    /// For a step of an [`UpdatePlan`] after its first: the version the plan started
    /// from (reported in [`crate::Outcome::Completed`] when the plan ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_from: Option<String>,
    /// Whether the server marked the update an explicit rollback: once complete, its
    /// version becomes the highest installed one ([`highest_after`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback: bool,
}

impl PendingUpdate {
    /// Step `index` of `plan`, downloaded and verified on an instance running
    /// `from_version`; `plan_from` is the version the plan started from.
    #[must_use]
    pub fn step(plan: &UpdatePlan, index: usize, from_version: &str, plan_from: &str) -> Self {
        let step = &plan.steps()[index.min(plan.len() - 1)];
        let last = index + 1 >= plan.len();
        Self {
            version: step.version.clone(),
            from_version: from_version.to_owned(),
            phase: Phase::Downloaded,
            then_to: (!last).then(|| plan.last().version.clone()),
            plan_from: (plan_from != from_version).then(|| plan_from.to_owned()),
            rollback: plan.is_rollback(),
        }
    }

    /// The version the whole update started from.
    #[must_use]
    pub fn plan_from(&self) -> &str {
        self.plan_from.as_deref().unwrap_or(&self.from_version)
    }
}

/// A download in progress, persisted so that the next attempt resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartialDownload {
    /// The payload URL.
    pub url: String,
    /// The version the payload installs.
    pub version: String,
    /// Expected size in bytes.
    pub size: u64,
    /// Expected SHA-256, base64.
    pub sha256: String,
    /// The file name inside the state directory's `download/` folder.
    pub file: String,
}

impl PartialDownload {
    /// Whether the bytes on disk belong to this offered update and may be resumed.
    #[must_use]
    pub fn matches(&self, info: &UpdateInfo) -> bool {
        use omaha_proto::digest::Digest as _;
        self.url == info.url && self.size == info.size && self.sha256 == info.sha256.to_base64()
    }
}

/// The whole persisted state (`state.json` in the state directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The generated machine id, when `/etc/machine-id` was not available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// The update in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingUpdate>,
    /// The partial download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<PartialDownload>,
    /// The highest version this updater ever installed, or was built to run
    /// (anti-rollback, [`check_downgrade`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest_installed: Option<String>,
}

/// What to do about a persisted pending update when the updater runs, given the version
/// the app runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Nothing pending: check for updates.
    Check,
    /// The new version runs: health check, then report 3/2 with this previous version
    /// (or 3/0 and roll back if the health check fails).
    Complete {
        /// The new version.
        version: String,
        /// The version the update (this step) started from.
        from_version: String,
        /// The version the whole update started from (`from_version` unless this is a
        /// later step of a plan).
        plan_from: String,
        /// Whether more steps follow (a step of a plan before its last): then check again
        /// at once and go on.
        more_steps: bool,
    },
    /// Installed with completion deferred and the app still runs the old version: wait
    /// for the restart (ping only, no new check).
    AwaitRestart {
        /// The version waiting to take effect.
        version: String,
    },
    /// An installed update did not take: the app runs the old version again. Report 3/0
    /// with update_engine's code 44 (rollback detected) and forget it.
    RolledBack {
        /// The version that was installed.
        version: String,
    },
    /// Stale bookkeeping (a download that was never installed, or a version that is
    /// neither old nor new): forget it and check.
    Discard,
}

/// Decides what a persisted pending update means now.
#[must_use]
pub fn resume(pending: Option<&PendingUpdate>, current_version: &str) -> Resume {
    let Some(p) = pending else {
        return Resume::Check;
    };
    match p.phase {
        Phase::Downloaded => Resume::Discard,
        Phase::Installed | Phase::Held if current_version == p.version => Resume::Complete {
            version: p.version.clone(),
            from_version: p.from_version.clone(),
            plan_from: p.plan_from().to_owned(),
            more_steps: p.then_to.as_ref().is_some_and(|t| *t != p.version),
        },
        Phase::Held if current_version == p.from_version => Resume::AwaitRestart {
            version: p.version.clone(),
        },
        Phase::Installed if current_version == p.from_version => Resume::RolledBack {
            version: p.version.clone(),
        },
        Phase::Installed | Phase::Held => Resume::Discard,
    }
}

/// Poll interval, jitter and backoff settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SchedulePolicy {
    /// Time between checks when the server sends no `PollInterval`.
    pub poll_interval: Duration,
    /// Jitter as a fraction of the interval: 0.1 spreads checks over ±10 %.
    pub poll_jitter: f64,
    /// First backoff delay after a failure.
    pub backoff_initial: Duration,
    /// Largest backoff delay.
    pub backoff_max: Duration,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(45 * 60),
            poll_jitter: 0.1,
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(4 * 60 * 60),
        }
    }
}

/// The shortest `PollInterval` taken from a server; a smaller one (a misconfigured or
/// hostile server sending `0`) is raised to this, so the updater never spins.
pub const MIN_SERVER_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// The delay before the next routine check: the server's `PollInterval` when it sent one
/// (at least [`MIN_SERVER_POLL_INTERVAL`]), else the configured interval, spread by
/// `±poll_jitter` using `sample` in `[0, 1)`.
#[must_use]
pub fn poll_delay(policy: &SchedulePolicy, server: Option<Duration>, sample: f64) -> Duration {
    let base = server.map_or(policy.poll_interval, |s| s.max(MIN_SERVER_POLL_INTERVAL));
    let jitter = policy.poll_jitter.clamp(0.0, 1.0);
    let factor = 1.0 - jitter + 2.0 * jitter * sample.clamp(0.0, 1.0);
    base.mul_f64(factor)
}

/// The delay after the `failures`-th consecutive failure (1 for the first): exponential
/// from `backoff_initial`, capped at `backoff_max`, with "equal jitter" (between half and
/// all of it, by `sample` in `[0, 1)`).
#[must_use]
pub fn backoff_delay(policy: &SchedulePolicy, failures: u32, sample: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(32);
    let full = policy
        .backoff_initial
        .saturating_mul(1_u32 << exponent.min(31))
        .min(policy.backoff_max);
    full.mul_f64(0.5 + 0.5 * sample.clamp(0.0, 1.0))
}

/// The check schedule: counts consecutive failures and says when to check next.
#[derive(Debug, Clone)]
pub struct Schedule {
    policy: SchedulePolicy,
    failures: u32,
}

impl Schedule {
    /// A schedule with no failures yet.
    #[must_use]
    pub fn new(policy: SchedulePolicy) -> Self {
        Self {
            policy,
            failures: 0,
        }
    }

    /// Consecutive failures so far.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// After a successful check at `now`: resets the backoff and returns the next check
    /// time.
    pub fn after_success(
        &mut self,
        now: Instant,
        server_poll_interval: Option<Duration>,
        sample: f64,
    ) -> Instant {
        self.failures = 0;
        now + poll_delay(&self.policy, server_poll_interval, sample)
    }

    /// After a failed check at `now`: backs off and returns the next attempt time.
    pub fn after_failure(&mut self, now: Instant, sample: f64) -> Instant {
        self.failures = self.failures.saturating_add(1);
        now + backoff_delay(&self.policy, self.failures, sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omaha_proto::codes::EventType;
    use omaha_proto::response::{Action, App, Codebase, Manifest, Package, UpdateCheck};

    const APP: &str = "e96281a6-d1af-4bde-9a0a-97b76e56dc57";

    fn identity() -> Identity {
        Identity {
            app_id: APP.into(),
            group: "stable".into(),
            machine_id: "m1".into(),
            install_source: "scheduler".into(),
            multi_manifest_ok: false,
        }
    }

    fn update_response(appid: &str) -> Response {
        let sha1: Sha1Digest = "qUqP5cyxm6YcTAhz05Hph5gvu9M=".parse().unwrap();
        let sha256: Sha256Digest = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
            .parse()
            .unwrap();
        Response::new("t").with_app(
            App::ok(appid).with_update_check(
                UpdateCheck::update(
                    [Codebase::new("http://127.0.0.1:1/pkg/1.1.0")],
                    Manifest::new("1.1.0")
                        .with_package(Package::new("update.gz", 4, sha1, true))
                        .with_action(Action::postinstall(sha256)),
                )
                .with_poll_interval(60),
            ),
        )
    }

    #[test]
    fn check_request_is_update_engine_shaped() {
        let req = identity().check_request("1.0.0");
        let app = &req.apps[0];
        assert_eq!(app.track.as_deref(), Some("stable"));
        assert_eq!(app.machine_id.as_deref(), Some("m1"));
        assert!(app.update_check.is_some() && app.ping.is_some());
        assert_eq!(app.events[0].event_type, EventType::UpdateComplete);
        assert_eq!(app.events[0].previous_version.as_deref(), Some(""));
        let again = Request::decode(&req.encode()).unwrap();
        assert_eq!(again, req);
    }

    #[test]
    fn update_is_interpreted_with_url_size_hash_and_poll_interval() {
        let answer = interpret_check(&update_response(&format!("{{{APP}}}")), APP, false).unwrap();
        assert_eq!(answer.poll_interval, Some(Duration::from_secs(60)));
        let CheckResult::Update(plan) = answer.result else {
            panic!("expected an update")
        };
        assert_eq!(plan.len(), 1);
        let info = plan.last();
        assert_eq!(info.url, "http://127.0.0.1:1/pkg/1.1.0/update.gz");
        assert_eq!(info.size, 4);
        assert_eq!(info.version, "1.1.0");
    }

    #[test]
    fn extra_files_and_a_floor_are_reported() {
        let mut response = update_response(APP);
        let check = response.apps[0].update_check.as_mut().unwrap();
        let manifest = &mut check.manifests[0];
        manifest.is_floor = Some(true);
        manifest.floor_reason = Some("partition migration".into());
        manifest.packages.push(Package {
            name: "oem-qemu.gz".into(),
            size: 7,
            hash_sha256: Some(omaha_proto::digest::HashValue::Digest(Sha256Digest(
                [7; 32],
            ))),
            ..Package::default()
        });
        manifest.packages.push(Package {
            name: "../escape".into(),
            size: 1,
            ..Package::default()
        });
        let CheckResult::Update(plan) = interpret_check(&response, APP, true).unwrap().result
        else {
            panic!("expected an update")
        };
        let info = plan.last();
        assert_eq!(info.floor_reason.as_deref(), Some("partition migration"));
        assert_eq!(
            info.extra_files,
            vec![ExtraFile {
                name: "oem-qemu.gz".into(),
                url: "http://127.0.0.1:1/pkg/1.1.0/oem-qemu.gz".into(),
                size: 7,
                sha256: Some(Sha256Digest([7; 32])),
                sha1: None,
            }]
        );
        let CheckResult::Update(plain) = interpret_check(&update_response(APP), APP, false)
            .unwrap()
            .result
        else {
            panic!("expected an update")
        };
        let plain = plain.last();
        assert_eq!(plain.floor_reason, None);
        assert!(plain.extra_files.is_empty());
    }

    /// `rollback` when the plan is marked one, then one line per step: version, URL, size,
    /// `floor "<reason>"` or `-`, and each extra file (` + name url size`); or the error.
    fn render(result: Result<CheckAnswer, Error>) -> String {
        let plan = match result {
            Ok(CheckAnswer {
                result: CheckResult::Update(plan),
                ..
            }) => plan,
            Ok(other) => return format!("{:?}\n", other.result),
            Err(error) => return format!("{error}\n"),
        };
        let mut out = String::new();
        if plan.is_rollback() {
            out.push_str("rollback\n");
        }
        for step in plan.steps() {
            out.push_str(&format!("{} {} {}", step.version, step.url, step.size));
            match &step.floor_reason {
                Some(reason) => out.push_str(&format!(" floor {reason:?}")),
                None => out.push_str(" -"),
            }
            for extra in &step.extra_files {
                out.push_str(&format!(" + {} {} {}", extra.name, extra.url, extra.size));
            }
            out.push('\n');
        }
        out
    }

    /// Every answer in `tests/data/answers/*.xml` is read with and without
    /// `multi_manifest_ok`; the result must be the `.plan` file beside it.
    #[test]
    fn answers_become_the_plans_of_their_golden_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/answers");
        let mut cases: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        cases.sort();
        assert!(cases.len() >= 7, "{cases:?}");
        for case in cases {
            let response = Response::decode(&std::fs::read(&case).unwrap()).unwrap();
            let mut got = String::new();
            for multi in [true, false] {
                got.push_str(&format!("multi_manifest_ok={multi}\n"));
                got.push_str(&render(interpret_check(&response, APP, multi)));
            }
            let expected = std::fs::read_to_string(case.with_extension("plan")).unwrap();
            assert_eq!(got, expected, "{}", case.display());
        }
    }

    #[test]
    fn a_multi_manifest_check_says_so_and_a_plain_one_does_not() {
        let plain = identity().check_request("1.0.0");
        assert_eq!(plain.apps[0].multi_manifest_ok, None);
        let multi = Identity {
            multi_manifest_ok: true,
            ..identity()
        }
        .check_request("1.0.0");
        assert_eq!(multi.apps[0].multi_manifest_ok, Some(true));
        let encoded = String::from_utf8(multi.encode()).unwrap();
        assert!(encoded.contains(r#"multi_manifest_ok="true""#), "{encoded}");
    }

    #[test]
    fn more_steps_than_the_limit_are_refused() {
        let mut response = update_response(APP);
        let check = response.apps[0].update_check.as_mut().unwrap();
        let template = check.manifests[0].clone();
        check.manifests = (0..=MAX_STEPS)
            .map(|i| Manifest {
                version: format!("1.{i}.0"),
                is_floor: Some(true),
                floor_reason: Some(String::new()),
                ..template.clone()
            })
            .collect();
        let err = interpret_check(&response, APP, true).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidResponse(m) if m.contains("more than")),
            "{err}"
        );
        check_steps_within_limit(&mut response);
    }

    /// The same answer cut to the limit is taken, floors first, target last.
    fn check_steps_within_limit(response: &mut Response) {
        let check = response.apps[0].update_check.as_mut().unwrap();
        check.manifests.truncate(MAX_STEPS);
        if let Some(last) = check.manifests.last_mut() {
            last.is_floor = None;
            last.is_target = Some(true);
        }
        let CheckResult::Update(plan) = interpret_check(response, APP, true).unwrap().result else {
            panic!("expected an update")
        };
        assert_eq!(plan.len(), MAX_STEPS);
        assert_eq!(plan.floors().len(), MAX_STEPS - 1);
        assert_eq!(plan.last().version, format!("1.{}.0", MAX_STEPS - 1));
        assert_eq!(plan.last().floor_reason, None);
        assert!(!plan.is_empty());
    }

    #[test]
    fn each_step_is_persisted_with_where_the_plan_goes_and_started() {
        let response = Response::decode(include_bytes!(
            "../tests/data/answers/floors-one-url-each.xml"
        ))
        .unwrap();
        let CheckResult::Update(plan) = interpret_check(&response, APP, true).unwrap().result
        else {
            panic!("expected an update")
        };
        let first = PendingUpdate::step(&plan, 0, "1.0.0", "1.0.0");
        assert_eq!(
            (first.version.as_str(), first.from_version.as_str()),
            ("2.0.0", "1.0.0")
        );
        assert_eq!(first.then_to.as_deref(), Some("4.0.0"));
        assert_eq!(
            (first.plan_from.as_deref(), first.plan_from()),
            (None, "1.0.0")
        );
        let second = PendingUpdate::step(&plan, 1, "2.0.0", "1.0.0");
        assert_eq!(second.version, "3.0.0");
        assert_eq!(second.then_to.as_deref(), Some("4.0.0"));
        assert_eq!(second.plan_from(), "1.0.0");
        let last = PendingUpdate::step(&plan, 2, "3.0.0", "1.0.0");
        assert_eq!(last.version, "4.0.0");
        assert_eq!(last.then_to, None);
        assert_eq!(last.plan_from(), "1.0.0");
        // A state file written before plans existed still reads, as a plan of one step.
        let old: PendingUpdate =
            serde_json::from_str(r#"{"version":"2","from_version":"1","phase":"installed"}"#)
                .unwrap();
        assert_eq!((old.then_to.as_deref(), old.plan_from()), (None, "1"));
        let text = serde_json::to_string(&second).unwrap();
        assert_eq!(
            serde_json::from_str::<PendingUpdate>(&text).unwrap(),
            second
        );
    }

    #[test]
    fn a_restart_in_the_middle_of_a_plan_resumes_at_the_next_step() {
        let step = |phase, then_to: Option<&str>| PendingUpdate {
            version: "3.0.0".into(),
            from_version: "2.0.0".into(),
            phase,
            then_to: then_to.map(Into::into),
            plan_from: Some("1.0.0".into()),
            rollback: false,
        };
        // Installed and running: complete it, then go on (a new check from 3.0.0).
        for phase in [Phase::Installed, Phase::Held] {
            assert_eq!(
                resume(Some(&step(phase, Some("4.0.0"))), "3.0.0"),
                Resume::Complete {
                    version: "3.0.0".into(),
                    from_version: "2.0.0".into(),
                    plan_from: "1.0.0".into(),
                    more_steps: true,
                }
            );
        }
        // The last step: complete, nothing more.
        assert_eq!(
            resume(Some(&step(Phase::Installed, None)), "3.0.0"),
            Resume::Complete {
                version: "3.0.0".into(),
                from_version: "2.0.0".into(),
                plan_from: "1.0.0".into(),
                more_steps: false,
            }
        );
        // Deferred and not restarted yet: wait; installed but back on the floor before it:
        // rolled back (3/0, the plan stops); only downloaded: check again from here.
        assert_eq!(
            resume(Some(&step(Phase::Held, Some("4.0.0"))), "2.0.0"),
            Resume::AwaitRestart {
                version: "3.0.0".into()
            }
        );
        assert_eq!(
            resume(Some(&step(Phase::Installed, Some("4.0.0"))), "2.0.0"),
            Resume::RolledBack {
                version: "3.0.0".into()
            }
        );
        assert_eq!(
            resume(Some(&step(Phase::Downloaded, Some("4.0.0"))), "2.0.0"),
            Resume::Discard
        );
    }

    #[test]
    fn another_apps_response_is_wrong_app() {
        let err = interpret_check(
            &update_response("{00000000-0000-0000-0000-000000000000}"),
            APP,
            false,
        )
        .unwrap_err();
        assert!(matches!(err, Error::WrongApp { .. }), "{err}");
        assert_eq!(err.omaha_error_code(), 34);
    }

    #[test]
    fn missing_hash_or_size_is_invalid() {
        let mut response = update_response(APP);
        let check = response.apps[0].update_check.as_mut().unwrap();
        check.manifests[0].actions.clear();
        assert!(matches!(
            interpret_check(&response, APP, false),
            Err(Error::InvalidResponse(_))
        ));
        let mut response = update_response(APP);
        let check = response.apps[0].update_check.as_mut().unwrap();
        check.manifests[0].packages[0].size = 0;
        assert!(matches!(
            interpret_check(&response, APP, false),
            Err(Error::InvalidResponse(_))
        ));
    }

    #[test]
    fn error_statuses_are_rejections() {
        let response = Response::new("t").with_app(App::error(APP, AppStatus::UnknownApplication));
        let err = interpret_check(&response, APP, false).unwrap_err();
        assert!(matches!(&err, Error::Rejected { status } if status == "error-unknownApplication"));
        let response = Response::new("t").with_app(
            App::ok(APP).with_update_check(UpdateCheck::error(UpdateCheckStatus::Internal)),
        );
        assert!(matches!(
            interpret_check(&response, APP, false),
            Err(Error::Rejected { .. })
        ));
    }

    #[test]
    fn resume_decisions() {
        let p = |phase| PendingUpdate {
            version: "2".into(),
            from_version: "1".into(),
            phase,
            then_to: None,
            plan_from: None,
            rollback: false,
        };
        assert_eq!(resume(None, "1"), Resume::Check);
        assert_eq!(resume(Some(&p(Phase::Downloaded)), "1"), Resume::Discard);
        assert!(matches!(
            resume(Some(&p(Phase::Installed)), "2"),
            Resume::Complete { from_version, .. } if from_version == "1"
        ));
        assert!(matches!(
            resume(Some(&p(Phase::Held)), "2"),
            Resume::Complete { .. }
        ));
        assert!(matches!(
            resume(Some(&p(Phase::Held)), "1"),
            Resume::AwaitRestart { .. }
        ));
        assert!(matches!(
            resume(Some(&p(Phase::Installed)), "1"),
            Resume::RolledBack { .. }
        ));
        assert_eq!(resume(Some(&p(Phase::Installed)), "3"), Resume::Discard);
    }

    #[test]
    fn poll_delay_prefers_the_server_and_jitters_within_bounds() {
        let policy = SchedulePolicy {
            poll_interval: Duration::from_secs(100),
            poll_jitter: 0.1,
            ..SchedulePolicy::default()
        };
        assert_eq!(poll_delay(&policy, None, 0.5), Duration::from_secs(100));
        assert_eq!(poll_delay(&policy, None, 0.0), Duration::from_secs(90));
        assert_eq!(
            poll_delay(&policy, Some(Duration::from_secs(1000)), 0.5),
            Duration::from_secs(1000)
        );
        assert!(poll_delay(&policy, None, 0.999_999) <= Duration::from_secs(110));
        assert_eq!(
            poll_delay(&policy, Some(Duration::ZERO), 0.5),
            MIN_SERVER_POLL_INTERVAL
        );
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let policy = SchedulePolicy {
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            ..SchedulePolicy::default()
        };
        assert_eq!(backoff_delay(&policy, 1, 1.0), Duration::from_secs(10));
        assert_eq!(backoff_delay(&policy, 2, 1.0), Duration::from_secs(20));
        assert_eq!(backoff_delay(&policy, 3, 0.0), Duration::from_secs(20));
        assert_eq!(backoff_delay(&policy, 10, 1.0), Duration::from_secs(60));
        assert_eq!(
            backoff_delay(&policy, u32::MAX, 1.0),
            Duration::from_secs(60)
        );

        let now = Instant::now();
        let mut schedule = Schedule::new(policy);
        assert_eq!(
            schedule.after_failure(now, 1.0),
            now + Duration::from_secs(10)
        );
        assert_eq!(
            schedule.after_failure(now, 1.0),
            now + Duration::from_secs(20)
        );
        assert_eq!(schedule.failures(), 2);
        schedule.after_success(now, None, 0.5);
        assert_eq!(schedule.failures(), 0);
        assert_eq!(
            schedule.after_failure(now, 1.0),
            now + Duration::from_secs(10)
        );
    }

    #[test]
    fn versions_compare_by_their_numeric_parts() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        for (a, b, order) in [
            ("1.10.0", "1.9.0", Greater),
            ("1.2", "1.2.0", Equal),
            ("1.02", "1.2", Equal),
            ("3975.2.0", "3815.2.5", Greater),
            ("1.0.0", "1.0.0-rc1", Greater),
            ("1.0.0-rc2", "1.0.0-rc10", Less),
            ("2.0.0", "10.0.0", Less),
            ("1.0.0", "1.0.0", Equal),
            ("1.0.a", "1.0.1", Less),
        ] {
            assert_eq!(compare_versions(a, b), order, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), order.reverse(), "{b} vs {a}");
        }
    }

    fn plan_to(version: &str, rollback: bool) -> UpdatePlan {
        let mut response = update_response(APP);
        let check = response.apps[0].update_check.as_mut().unwrap();
        check.manifests[0].version = version.into();
        check.rollback = rollback.then_some(true);
        match interpret_check(&response, APP, false).unwrap().result {
            CheckResult::Update(plan) => plan,
            CheckResult::NoUpdate => unreachable!(),
        }
    }

    #[test]
    fn a_downgrade_needs_the_rollback_mark() {
        assert!(!plan_to("1.0.0", false).is_rollback());
        assert!(plan_to("1.0.0", true).is_rollback());
        // Up, the same version again, or nothing installed yet: fine.
        for highest in [None, Some("1.0.0"), Some("0.9")] {
            assert!(check_downgrade(&plan_to("1.0.0", false), highest).is_ok());
        }
        let refused = check_downgrade(&plan_to("1.0.0", false), Some("1.1.0")).unwrap_err();
        assert!(
            matches!(&refused, Error::Downgrade { offered, highest }
                if offered == "1.0.0" && highest == "1.1.0"),
            "{refused:?}"
        );
        assert_eq!(refused.omaha_error_code(), 44);
        assert!(check_downgrade(&plan_to("1.0.0", true), Some("1.1.0")).is_ok());
        // After a completed rollback its version is the new mark; otherwise the highest.
        assert_eq!(highest_after(Some("1.1.0"), "1.0.0", true), "1.0.0");
        assert_eq!(highest_after(Some("1.1.0"), "1.0.0", false), "1.1.0");
        assert_eq!(highest_after(Some("1.1.0"), "1.2.0", false), "1.2.0");
        assert_eq!(highest_after(None, "1.0.0", false), "1.0.0");
    }

    #[test]
    fn a_pinned_updater_checks_freshness_presence_request_and_signature() {
        use omaha_proto::cup::{Cup2Key, CupSigningKey, KeyVersion, RequestHash};
        let key = CupSigningKey::from_bytes(&[7; 32]).unwrap();
        let pinned = key.public_key();
        let cup2key = Cup2Key::new(KeyVersion::new(1).unwrap(), "bm9uY2U").unwrap();
        let request = b"<request requestid=\"{1}\"/>";
        let answer = b"<response/>";
        let proof = key
            .sign(&RequestHash::of(request), answer, &cup2key)
            .to_string();
        let max = Duration::from_secs(30);
        let check = |cup2key: &Cup2Key,
                     request: &[u8],
                     answer: &[u8],
                     server_proof: Option<&str>,
                     etag: Option<&str>,
                     elapsed: Duration| {
            let headers = AnswerProof { server_proof, etag };
            verify_answer(&pinned, cup2key, request, answer, headers, elapsed, max)
        };
        let quick = Duration::from_millis(20);
        assert_eq!(
            check(&cup2key, request, answer, Some(&proof), None, quick),
            Ok(())
        );
        let etag = format!("W/\"{proof}\"");
        assert_eq!(
            check(&cup2key, request, answer, None, Some(&etag), quick),
            Ok(())
        );
        assert_eq!(
            check(&cup2key, request, answer, None, None, quick),
            Err(AnswerRefused::Unsigned)
        );
        assert_eq!(
            check(
                &cup2key,
                request,
                b"<response></response>",
                Some(&proof),
                None,
                quick
            ),
            Err(AnswerRefused::BadSignature)
        );
        // The same body with another nonce: the signature covers the nonce.
        let other_nonce = Cup2Key::new(KeyVersion::new(1).unwrap(), "b3RoZXI").unwrap();
        assert_eq!(
            check(&other_nonce, request, answer, Some(&proof), None, quick),
            Err(AnswerRefused::BadSignature)
        );
        // Another request (another requestid): the answer is replayed.
        assert_eq!(
            check(
                &cup2key,
                b"<request requestid=\"{2}\"/>",
                answer,
                Some(&proof),
                None,
                quick
            ),
            Err(AnswerRefused::Replayed)
        );
        assert!(matches!(
            check(&cup2key, request, answer, Some("zz:00"), None, quick),
            Err(AnswerRefused::MalformedProof(_))
        ));
        // Valid but late.
        assert_eq!(
            check(&cup2key, request, answer, Some(&proof), None, max + quick),
            Err(AnswerRefused::Stale {
                elapsed: max + quick,
                max
            })
        );
        assert_eq!(
            check(&cup2key, request, answer, Some(&proof), None, max),
            Ok(())
        );
    }
}
