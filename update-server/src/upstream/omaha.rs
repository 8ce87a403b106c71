//! Omaha upstreams: following an Omaha server (Flatcar's public update server, or another
//! server of this kind) by speaking Omaha to it as a client, as Nebraska's syncer does.
//!
//! For every track followed and every architecture asked for, the sync sends one update
//! check built with `omaha-proto`: `version="CoreOSUpdateEngine-0.1.0.0"`,
//! `installsource="scheduler"`, the app at version `0.0.0` (older than anything, so the
//! upstream answers with every floor on the way and the target), `multi_manifest_ok="true"`
//! and the board (`amd64-usr`, `arm64-usr`), with a machine id of its own per upstream,
//! track and architecture (braced, as Nebraska's syncer sends it). The answer is decoded with
//! `omaha-proto` into releases ([`releases`]): each manifest's version, payload (the first
//! package), extra files (the packages after it), hashes (hex or base64, as the upstream
//! wrote them), the postinstall action's fields, and whether it is a floor (with its
//! reason) or the target.
//!
//! Then, under the same rules as the admin-API sync:
//!
//! - each release becomes a package of the local app: the payload of the first
//!   architecture whose answer lists the release (the first architecture asked for, unless
//!   the upstream publishes the release for later ones only, an arm64-only floor say) is
//!   the version's default package, the others' the version's package for their
//!   architecture, each with its extra files ([`is_default_package`]); a local package of
//!   the same version with another payload is kept, and reported. A release of some
//!   architectures only is offered only to them: the channel follows the first
//!   architecture's target, so such a release is reached only as a floor, and that floor
//!   holds for the architectures whose answers list it, never for the others. The files
//!   of any architecture but the first are hosted in its own directory;
//! - with downloads on, every payload and extra file is fetched (at most the server's
//!   `--max-upload-size` and [`DOWNLOAD_TIMEOUT`] each), its size, SHA-256 and SHA-1
//!   checked against the answer, and stored in the server's hosting; the package then
//!   points at the local URL. A release is written only once all of its files are in
//!   place: a failed or mismatched download leaves nothing of it;
//! - the local channel named like the track gets the upstream's floors (a floor the
//!   upstream reports for every architecture asked for is a floor of every architecture,
//!   else of those it was reported for) and then points at the target, with its
//!   `upstream` marker set; a local channel of that name (no marker) is never touched, and
//!   reported; a track of which a release failed leaves its channel as it was.
//!
//! Nothing is written, and nothing downloaded, when nothing changed.

use super::{SyncError, SyncReport, read_limited};
use crate::admin::{Actor, AdminState};
use crate::hosting::{self, HostingOptions};
use crate::store::{
    ArchPackageRecord, ChannelRecord, ConfigSnapshot, FloorRecord, PackageFileRecord,
    PackageRecord, UpstreamRecord,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use omaha_proto::codes::{ActionEvent, AppStatus, UpdateCheckStatus};
use omaha_proto::digest::{HashValue, Sha1Digest, Sha256Digest};
use omaha_proto::request::{App, Os, Request, UpdateCheck};
use omaha_proto::response::Response;
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;

/// The updater version the sync announces, as Nebraska's syncer does: with
/// `installsource="scheduler"` it is what Flatcar's server recognises as a syncer.
pub const SYNCER_VERSION: &str = "CoreOSUpdateEngine-0.1.0.0";

/// The version the sync says it runs: older than every release, so the upstream answers
/// with every floor on the way to the target.
pub const OLDEST_VERSION: &str = "0.0.0";

/// How long one payload download may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The most manifests read from one answer (floors and the target).
const MAX_MANIFESTS: usize = crate::admin::floors::MAX_FLOORS_PER_CHANNEL + 1;

/// A file the upstream's answer lists: the payload or an extra file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// The file name (joined to the manifest's codebase).
    pub name: String,
    /// Its size in bytes, above 0.
    pub size: u64,
    /// Its SHA-1, when the answer gives one.
    pub sha1: Option<[u8; 20]>,
    /// Its SHA-256.
    pub sha256: [u8; 32],
}

impl RemoteFile {
    fn sha1_base64(&self) -> String {
        self.sha1.map(|d| BASE64.encode(d)).unwrap_or_default()
    }

    fn sha256_base64(&self) -> String {
        BASE64.encode(self.sha256)
    }
}

/// One manifest of an upstream's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The version.
    pub version: String,
    /// The codebase the files are downloaded from (ends in `/`).
    pub codebase: String,
    /// The payload.
    pub payload: RemoteFile,
    /// The payload's `required`.
    pub required: bool,
    /// The extra files, in the answer's order.
    pub files: Vec<RemoteFile>,
    /// The postinstall action's `MetadataSize`.
    pub metadata_size: String,
    /// The postinstall action's `MetadataSignatureRsa`.
    pub metadata_signature_rsa: String,
    /// `Some(reason)` for a floor.
    pub floor_reason: Option<String>,
    /// Whether the upstream marked it as the target.
    pub is_target: bool,
}

/// The architecture's board, as Flatcar names it (`amd64-usr`).
pub fn board(arch: &str) -> String {
    format!("{arch}-usr")
}

/// The machine id the sync uses towards the upstream for one track and architecture: the
/// same at every sync (so the upstream keeps one instance for it), braced as Nebraska's
/// syncer sends it.
pub fn syncer_machine_id(upstream: &UpstreamRecord, track: &str, arch: &str) -> String {
    let digest = sha2::Sha256::digest(format!(
        "{}\n{}\n{track}\n{arch}",
        upstream.id, upstream.url
    ));
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!(
        "{{{}}}",
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    )
}

/// The update check sent to the upstream for one track and architecture.
pub fn request(upstream: &UpstreamRecord, track: &str, arch: &str) -> Request {
    let machine = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    let mut os = Os::new("CoreOS", "Chateau", &format!("{OLDEST_VERSION}_{machine}"));
    os.arch = Some(arch.to_owned());
    let app_id = upstream.upstream_app_id.trim_matches(['{', '}']);
    let mut app = App::new(&format!("{{{app_id}}}"), OLDEST_VERSION)
        .with_track(track)
        .with_machine_id(&syncer_machine_id(upstream, track, arch));
    app.board = Some(board(arch));
    app.multi_manifest_ok = Some(true);
    app.update_check = Some(UpdateCheck::default());
    Request::update_engine(SYNCER_VERSION, "scheduler", os).with_app(app)
}

fn sha256_of(
    value: Option<&HashValue<Sha256Digest>>,
    what: &str,
) -> Result<Option<[u8; 32]>, String> {
    match value {
        None => Ok(None),
        Some(HashValue::Unrecognized(text)) if text.is_empty() => Ok(None),
        Some(value) => value
            .digest()
            .map(|d| Some(d.0))
            .ok_or_else(|| format!("{what} is not a SHA-256 (hex or base64)")),
    }
}

fn sha1_of(value: Option<&HashValue<Sha1Digest>>, what: &str) -> Result<Option<[u8; 20]>, String> {
    match value {
        None => Ok(None),
        Some(HashValue::Unrecognized(text)) if text.is_empty() => Ok(None),
        Some(value) => value
            .digest()
            .map(|d| Some(d.0))
            .ok_or_else(|| format!("{what} is not a SHA-1 (base64 or hex)")),
    }
}

/// The releases an upstream's answer offers to the app `app_id` (braces and case do not
/// matter): none for `noupdate`, else one per manifest, lowest first as the answer lists
/// them. A manifest's codebase is the answer's URL of the same position when there is one
/// per manifest, else its first URL. Anything the server could not offer (no size, no
/// SHA-256, a name that is not a plain file name, a version that is not one) is an error
/// naming it; an extra file without a SHA-256 is left out, and said so in `notes`.
///
/// # Errors
/// What is wrong with the answer.
pub fn releases(
    response: &Response,
    app_id: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Release>, String> {
    let app = response
        .apps
        .iter()
        .find(|a| omaha_proto::appid::same_app_id(&a.appid, app_id))
        .ok_or_else(|| format!("the answer has no app {app_id}"))?;
    if let Some(status) = app.status.as_ref().filter(|s| **s != AppStatus::Ok) {
        return Err(format!("the upstream answered app status {status}"));
    }
    let check = app
        .update_check
        .as_ref()
        .ok_or("the answer has no updatecheck")?;
    match &check.status {
        Some(UpdateCheckStatus::NoUpdate) => return Ok(Vec::new()),
        Some(UpdateCheckStatus::Ok) => {}
        Some(other) => return Err(format!("the upstream answered updatecheck status {other}")),
        None => return Err("the updatecheck has no status".into()),
    }
    if check.manifests.is_empty() {
        return Err("the update has no manifest".into());
    }
    if check.manifests.len() > MAX_MANIFESTS {
        return Err(format!(
            "the update has {} manifests, more than the {MAX_MANIFESTS} a channel can hold",
            check.manifests.len()
        ));
    }
    let one_url_each = check.urls.len() == check.manifests.len();
    let mut out = Vec::with_capacity(check.manifests.len());
    for (i, manifest) in check.manifests.iter().enumerate() {
        let version = manifest.version.trim();
        rollout_core::Version::parse(version)
            .map_err(|e| format!("manifest version {version:?}: {e}"))?;
        let url = if one_url_each {
            check.urls.get(i)
        } else {
            check.urls.first()
        }
        .map(|u| u.codebase.as_str())
        .filter(|c| c.starts_with("http://") || c.starts_with("https://"))
        .ok_or_else(|| format!("version {version} has no http(s) codebase"))?;
        let action = manifest
            .actions
            .iter()
            .find(|a| a.event == Some(ActionEvent::PostInstall));
        let mut packages = manifest.packages.iter();
        let main = packages
            .next()
            .ok_or_else(|| format!("version {version} has no package"))?;
        let file = |p: &omaha_proto::response::Package,
                    action_sha256: Option<[u8; 32]>|
         -> Result<Option<RemoteFile>, String> {
            let what = format!("package {:?} of version {version}", p.name);
            if !hosting::valid_name(&p.name) {
                return Err(format!("{what}: the name is not a plain file name"));
            }
            if p.size == 0 {
                return Err(format!("{what}: no size"));
            }
            let sha1 = sha1_of(p.hash.as_ref(), &format!("{what}: hash"))?;
            let sha256 = sha256_of(p.hash_sha256.as_ref(), &format!("{what}: hash_sha256"))?;
            let sha256 = match (sha256, action_sha256) {
                (Some(a), Some(b)) if a != b => {
                    return Err(format!(
                        "{what}: hash_sha256 and the postinstall action's sha256 differ"
                    ));
                }
                (Some(d), _) | (None, Some(d)) => d,
                (None, None) => return Ok(None),
            };
            Ok(Some(RemoteFile {
                name: p.name.clone(),
                size: p.size,
                sha1,
                sha256,
            }))
        };
        let action_sha256 = sha256_of(
            action.and_then(|a| a.sha256.as_ref()),
            &format!("the postinstall action's sha256 of version {version}"),
        )?;
        let payload = file(main, action_sha256)?
            .ok_or_else(|| format!("version {version}: the payload has no SHA-256"))?;
        let mut files = Vec::new();
        for extra in packages {
            match file(extra, None)? {
                Some(f)
                    if f.name == payload.name
                        || files.iter().any(|g: &RemoteFile| g.name == f.name) =>
                {
                    return Err(format!("version {version} lists {} twice", f.name));
                }
                Some(f) => files.push(f),
                None => notes.push(format!(
                    "file {} of version {version} has no SHA-256: left out",
                    extra.name
                )),
            }
        }
        if files.len() > crate::admin::package_files::MAX_FILES_PER_PACKAGE {
            return Err(format!(
                "version {version} has {} extra files, more than {}",
                files.len(),
                crate::admin::package_files::MAX_FILES_PER_PACKAGE
            ));
        }
        let floor_reason = (manifest.is_floor == Some(true)).then(|| {
            let reason = manifest.floor_reason.clone().unwrap_or_default();
            let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
            let mut end = reason.len().min(crate::admin::floors::MAX_FLOOR_REASON);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason[..end].trim().to_owned()
        });
        out.push(Release {
            version: version.to_owned(),
            codebase: url.to_owned(),
            payload,
            required: main.required,
            files,
            metadata_size: action
                .and_then(|a| a.metadata_size.clone())
                .unwrap_or_default(),
            metadata_signature_rsa: action
                .and_then(|a| a.metadata_signature_rsa.clone())
                .unwrap_or_default(),
            floor_reason,
            is_target: manifest.is_target == Some(true),
        });
    }
    Ok(out)
}

/// Whether `release`, listed in the answer for architecture `per_arch[index]`, is the
/// version's default package (served to every architecture without a package of its
/// own) rather than its package for that architecture. The first architecture's releases
/// are; a release the answers of the architectures before `index` do not list (one the
/// upstream publishes for some architectures only, such as an arm64-only floor) is too,
/// unless the version has a default package here already with another payload
/// (`existing_sha256`, standard base64: a local package, or one an earlier sync took from
/// another architecture), which stays, and the release becomes the architecture's own.
/// Such a release is offered only where the channel's target and floors lead: its floor
/// holds for the architectures that list it, so the others never reach it.
pub fn is_default_package(
    per_arch: &[(String, Vec<Release>)],
    index: usize,
    release: &Release,
    existing_sha256: Option<&str>,
) -> bool {
    if index == 0 {
        return true;
    }
    let listed_before = per_arch
        .iter()
        .take(index)
        .any(|(_, releases)| releases.iter().any(|r| r.version == release.version));
    !listed_before && existing_sha256.is_none_or(|sha| sha == release.payload.sha256_base64())
}

/// The target among an answer's releases: the one marked so, else the last.
pub fn target(releases: &[Release]) -> Option<&Release> {
    releases
        .iter()
        .find(|r| r.is_target)
        .or_else(|| releases.last())
}

/// The floors a track's answers give the channel, per (architecture, version) with the
/// reason: a floor reported for every architecture asked for holds for every
/// architecture (`""`), any other for the architectures it was reported for.
pub fn floors(per_arch: &[(String, Vec<Release>)]) -> BTreeMap<(String, String), String> {
    let mut by_version: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (arch, releases) in per_arch {
        for release in releases {
            if let Some(reason) = &release.floor_reason {
                by_version
                    .entry(release.version.as_str())
                    .or_default()
                    .push((arch.as_str(), reason.as_str()));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (version, arches) in by_version {
        if arches.len() == per_arch.len() {
            out.insert((String::new(), version.to_owned()), arches[0].1.to_owned());
        } else {
            for (arch, reason) in arches {
                out.insert((arch.to_owned(), version.to_owned()), reason.to_owned());
            }
        }
    }
    out
}

async fn ask(
    client: &reqwest::Client,
    upstream: &UpstreamRecord,
    track: &str,
    arch: &str,
) -> Result<Response, SyncError> {
    let url = upstream.url.clone();
    let body = request(upstream, track, arch).encode();
    let response = client
        .post(&url)
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|source| SyncError::Http {
            method: "POST",
            url: url.clone(),
            source,
        })?;
    let body = read_limited(response, "POST", &url).await?;
    Response::decode(&body).map_err(|e| SyncError::Decode {
        method: "POST",
        url,
        reason: format!("not an Omaha answer: {e}"),
    })
}

/// Syncs from one Omaha upstream: every track, every architecture. A track that fails
/// (the upstream unreachable, an answer that cannot be used, a download that fails) is
/// reported in [`SyncReport::errors`] and leaves its channel as it was; the other tracks
/// go on.
pub async fn sync_one(
    state: &AdminState,
    actor: &Actor,
    client: &reqwest::Client,
    upstream: &UpstreamRecord,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let config = state.store.load_config().await?;
    if !config.apps.iter().any(|a| a.id == upstream.app_id) {
        return Err(SyncError::Config(format!(
            "the local app {} does not exist (any more)",
            upstream.app_id
        )));
    }
    let hosting = if upstream.download {
        match &state.hosting {
            Some(hosting) => Some(hosting.clone()),
            None => {
                return Err(SyncError::Config(
                    "downloads need payload hosting: this server has no data directory".into(),
                ));
            }
        }
    } else {
        None
    };
    let arches: Vec<String> = if upstream.arches.is_empty() {
        vec!["amd64".into()]
    } else {
        upstream.arches.clone()
    };
    let mut written = false;
    for track in &upstream.tracks {
        let mut sync = TrackSync {
            state,
            actor,
            client,
            upstream,
            hosting: hosting.as_deref(),
            track,
            report: &mut report,
            written: false,
        };
        let result = sync.run(&arches).await;
        written |= sync.written;
        if let Err(err) = result {
            if let SyncError::Store(store) = &err
                && store.is_unavailable()
            {
                if written {
                    state.refreshed().await;
                }
                return Err(err);
            }
            report.errors.push(format!("track {track}: {err}"));
        }
    }
    if written {
        state.refreshed().await;
    }
    Ok(report)
}

struct TrackSync<'a> {
    state: &'a AdminState,
    actor: &'a Actor,
    client: &'a reqwest::Client,
    upstream: &'a UpstreamRecord,
    hosting: Option<&'a HostingOptions>,
    track: &'a str,
    report: &'a mut SyncReport,
    written: bool,
}

/// A file downloaded and verified, waiting to be placed.
struct Fetched {
    temp: hosting::TempFile,
    target: PathBuf,
    sums: (u64, String, String),
    name: String,
}

impl TrackSync<'_> {
    fn app(&self) -> &str {
        &self.upstream.app_id
    }

    async fn log(&mut self, action: &str, detail: String) {
        self.written = true;
        self.state
            .log(self.actor, action, &self.upstream.app_id, "", detail)
            .await;
    }

    async fn run(&mut self, arches: &[String]) -> Result<(), SyncError> {
        let mut per_arch = Vec::with_capacity(arches.len());
        for arch in arches {
            let answer = ask(self.client, self.upstream, self.track, arch).await?;
            let mut notes = Vec::new();
            let releases = releases(&answer, &self.upstream.upstream_app_id, &mut notes).map_err(
                |reason| SyncError::Decode {
                    method: "POST",
                    url: self.upstream.url.clone(),
                    reason: format!("{arch}: {reason}"),
                },
            )?;
            for note in notes {
                self.report
                    .skipped
                    .push(format!("track {} ({arch}): {note}", self.track));
            }
            per_arch.push((arch.clone(), releases));
        }
        let mut config = self.state.store.load_config().await?;
        for (i, (arch, releases)) in per_arch.iter().enumerate() {
            for release in releases {
                let existing = config
                    .packages
                    .iter()
                    .find(|p| p.app_id == self.upstream.app_id && p.version == release.version)
                    .map(|p| p.sha256.as_str());
                let primary = is_default_package(&per_arch, i, release, existing);
                // The first architecture's files are hosted as the version's; any other's
                // in its own directory, even when they are the default package (so that
                // the first architecture's files of the same names, should the upstream
                // publish them later, have their place).
                let hosted_as = if i == 0 { "" } else { arch.as_str() };
                self.release(&mut config, arch, primary, hosted_as, release)
                    .await?;
            }
        }
        self.channel(&mut config, &per_arch).await
    }

    /// Creates or updates one release's package (and files) for `arch`: the version's
    /// default package when `primary`, else its package for `arch`; its files are hosted
    /// in the directory of architecture `hosted_as` (`""`: the version's own).
    async fn release(
        &mut self,
        config: &mut ConfigSnapshot,
        arch: &str,
        primary: bool,
        hosted_as: &str,
        release: &Release,
    ) -> Result<(), SyncError> {
        let app = self.app().to_owned();
        let version = release.version.as_str();
        let arch_key = if primary { "" } else { arch };
        let what = if primary {
            format!("package {version}")
        } else {
            format!("package {version} ({arch})")
        };
        if !primary
            && !config
                .packages
                .iter()
                .any(|p| p.app_id == app && p.version == version)
        {
            self.report.skipped.push(format!(
                "{what}: the version has no default package here: skipped"
            ));
            return Ok(());
        }
        // Where each file is served from.
        let location = |name: &str| -> (Option<PathBuf>, String) {
            match self.hosting {
                Some(h) => {
                    let (path, url) = hosting::hosted_location(h, &app, version, hosted_as, name);
                    (Some(path), url)
                }
                None => (
                    None,
                    format!("{}{}", release.codebase, hosting::encode_segment(name)),
                ),
            }
        };
        let existing = if primary {
            config
                .packages
                .iter()
                .find(|p| p.app_id == app && p.version == version)
                .cloned()
        } else {
            config
                .arch_packages
                .iter()
                .find(|p| p.arch == arch && p.package.app_id == app && p.package.version == version)
                .map(|p| p.package.clone())
        };
        let (_, payload_url) = location(&release.payload.name);
        let now = self.state.now_ms();
        let record = PackageRecord {
            app_id: app.clone(),
            version: version.to_owned(),
            url: payload_url,
            size: release.payload.size,
            sha1: release.payload.sha1_base64(),
            sha256: release.payload.sha256_base64(),
            metadata_size: release.metadata_size.clone(),
            metadata_signature_rsa: release.metadata_signature_rsa.clone(),
            signature: existing
                .as_ref()
                .map(|p| p.signature.clone())
                .unwrap_or_default(),
            release_notes: existing
                .as_ref()
                .map(|p| p.release_notes.clone())
                .unwrap_or_default(),
            required: release.required,
            created_at: existing.as_ref().map_or(now, |p| p.created_at),
        };
        if let Some(existing) = &existing
            && !super::same_payload(existing, &record)
            && existing.url != record.url
            && !synced(config, &app, version)
        {
            self.report.skipped.push(format!(
                "{what} exists here with another payload ({}): kept the local one",
                existing.url
            ));
            return Ok(());
        }
        let files: Vec<PackageFileRecord> = release
            .files
            .iter()
            .map(|f| PackageFileRecord {
                app_id: app.clone(),
                version: version.to_owned(),
                arch: arch_key.to_owned(),
                name: f.name.clone(),
                size: f.size,
                sha1: f.sha1_base64(),
                sha256: f.sha256_base64(),
                created_at: config
                    .package_files
                    .iter()
                    .find(|g| {
                        g.app_id == app
                            && g.version == version
                            && g.arch == arch_key
                            && g.name == f.name
                    })
                    .map_or(now, |g| g.created_at),
            })
            .collect();
        let mine =
            |g: &&PackageFileRecord| g.app_id == app && g.version == version && g.arch == arch_key;
        let stale: Vec<PackageFileRecord> = config
            .package_files
            .iter()
            .filter(mine)
            .filter(|g| !files.iter().any(|f| f.name == g.name))
            .cloned()
            .collect();
        let changed_files: Vec<&PackageFileRecord> = files
            .iter()
            .filter(|f| !config.package_files.contains(f))
            .collect();
        // The files to download: those not in place with their size.
        let mut wanted = Vec::new();
        if self.hosting.is_some() {
            for remote in std::iter::once(&release.payload).chain(&release.files) {
                let (path, url) = location(&remote.name);
                let path = path.unwrap_or_default();
                let present = tokio::fs::metadata(&path)
                    .await
                    .is_ok_and(|m| m.is_file() && m.len() == remote.size);
                if !present {
                    wanted.push((remote, path, url));
                }
            }
        }
        if existing.as_ref() == Some(&record)
            && changed_files.is_empty()
            && stale.is_empty()
            && wanted.is_empty()
        {
            return Ok(());
        }
        // Every file first: nothing of the release is written unless all are here.
        let mut fetched = Vec::with_capacity(wanted.len());
        for (remote, path, _) in &wanted {
            let from = format!(
                "{}{}",
                release.codebase,
                hosting::encode_segment(&remote.name)
            );
            fetched.push(self.fetch(&from, remote, path.clone()).await?);
        }
        self.place_all(fetched).await?;
        for (remote, _, url) in &wanted {
            self.log(
                "package.download",
                format!(
                    "{} ({} bytes) of {what}, verified, hosted at {url} (upstream {})",
                    remote.name, remote.size, self.upstream.id
                ),
            )
            .await;
            self.report.downloads += 1;
        }
        if existing.as_ref() != Some(&record) {
            if primary {
                self.state.store.put_package(&record).await?;
            } else {
                self.state
                    .store
                    .put_arch_package(&ArchPackageRecord {
                        arch: arch.to_owned(),
                        package: record.clone(),
                    })
                    .await?;
            }
            self.log(
                if primary {
                    "package.sync"
                } else {
                    "package.arch.sync"
                },
                format!(
                    "{what} at {} from upstream {}",
                    record.url, self.upstream.id
                ),
            )
            .await;
            self.report.packages += 1;
            if primary {
                match config
                    .packages
                    .iter_mut()
                    .find(|p| p.app_id == app && p.version == version)
                {
                    Some(slot) => *slot = record.clone(),
                    None => config.packages.push(record.clone()),
                }
            } else {
                config.arch_packages.retain(|p| {
                    !(p.arch == arch && p.package.app_id == app && p.package.version == version)
                });
                config.arch_packages.push(ArchPackageRecord {
                    arch: arch.to_owned(),
                    package: record.clone(),
                });
            }
        }
        for file in changed_files {
            self.state.store.put_package_file(file).await?;
            self.log(
                "package.file.sync",
                format!(
                    "file {} ({} bytes) of {what} from upstream {}",
                    file.name, file.size, self.upstream.id
                ),
            )
            .await;
            self.report.files += 1;
            config.package_files.retain(|g| {
                !(g.app_id == file.app_id
                    && g.version == file.version
                    && g.arch == file.arch
                    && g.name == file.name)
            });
            config.package_files.push(file.clone());
        }
        for file in stale {
            self.state
                .store
                .delete_package_file(&app, version, arch_key, &file.name)
                .await?;
            self.log(
                "package.file.delete",
                format!(
                    "file {} of {what}: no longer listed by upstream {}",
                    file.name, self.upstream.id
                ),
            )
            .await;
            self.report.files += 1;
            config.package_files.retain(|g| {
                !(g.app_id == file.app_id
                    && g.version == file.version
                    && g.arch == file.arch
                    && g.name == file.name)
            });
        }
        Ok(())
    }

    /// Downloads one file into a temporary file beside `target` and checks it against
    /// the answer: at most the announced size (and the hosting limit), the same SHA-256
    /// and, when given, SHA-1.
    async fn fetch(
        &self,
        url: &str,
        remote: &RemoteFile,
        target: PathBuf,
    ) -> Result<Fetched, SyncError> {
        let hosting = self.hosting.ok_or_else(|| {
            SyncError::Config("downloads need payload hosting: this server has none".into())
        })?;
        let failed = |reason: String| SyncError::Download {
            url: url.to_owned(),
            reason,
        };
        if remote.size > hosting.max_upload_size {
            return Err(failed(format!(
                "{} bytes announced, more than this server hosts (--max-upload-size {})",
                remote.size, hosting.max_upload_size
            )));
        }
        tokio::fs::create_dir_all(&hosting.dir)
            .await
            .map_err(|e| failed(format!("cannot create {}: {e}", hosting.dir.display())))?;
        let temp_path = hosting
            .dir
            .join(format!(".download-{}", uuid::Uuid::new_v4()));
        let temp = hosting::TempFile(Some(temp_path.clone()));
        let mut file = tokio::fs::File::create(&temp_path)
            .await
            .map_err(|e| failed(format!("cannot create a temporary file: {e}")))?;
        let mut response = self
            .client
            .get(url)
            .timeout(DOWNLOAD_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|source| SyncError::Http {
                method: "GET",
                url: url.to_owned(),
                source,
            })?;
        let mut hashes = hosting::Hashes::default();
        let mut size = 0u64;
        while let Some(chunk) = response.chunk().await.map_err(|source| SyncError::Http {
            method: "GET",
            url: url.to_owned(),
            source,
        })? {
            size += chunk.len() as u64;
            if size > remote.size {
                return Err(failed(format!(
                    "size mismatch: more than the {} bytes the upstream's answer gives",
                    remote.size
                )));
            }
            hashes.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| failed(format!("cannot write the temporary file: {e}")))?;
        }
        file.sync_all()
            .await
            .map_err(|e| failed(format!("cannot write the temporary file: {e}")))?;
        drop(file);
        let sums = hashes.finish();
        if sums.0 != remote.size {
            return Err(failed(format!(
                "size mismatch: {} bytes, the upstream's answer gives {}",
                sums.0, remote.size
            )));
        }
        if sums.2 != remote.sha256_base64() {
            return Err(failed(format!(
                "SHA-256 mismatch: the file has {}, the upstream's answer gives {}",
                sums.2,
                remote.sha256_base64()
            )));
        }
        if remote.sha1.is_some() && sums.1 != remote.sha1_base64() {
            return Err(failed(format!(
                "SHA-1 mismatch: the file has {}, the upstream's answer gives {}",
                sums.1,
                remote.sha1_base64()
            )));
        }
        Ok(Fetched {
            temp,
            target,
            sums,
            name: remote.name.clone(),
        })
    }

    /// Puts every verified file in place, or none: a file placed here is removed again
    /// when a later one cannot be.
    async fn place_all(&self, fetched: Vec<Fetched>) -> Result<(), SyncError> {
        let mut placed: Vec<PathBuf> = Vec::new();
        for file in &fetched {
            let existed = tokio::fs::try_exists(&file.target).await.unwrap_or(true);
            let path = file.temp.0.clone().unwrap_or_default();
            if let Err(err) = hosting::place(&path, &file.target, &file.sums, &file.name).await {
                for path in &placed {
                    let _ = tokio::fs::remove_file(path).await;
                }
                return Err(SyncError::Download {
                    url: file.target.display().to_string(),
                    reason: err.to_string(),
                });
            }
            if !existed {
                placed.push(file.target.clone());
            }
        }
        // The temporary names go with the guards.
        drop(fetched);
        Ok(())
    }

    /// The channel named like the track: its floors, then its version.
    async fn channel(
        &mut self,
        config: &mut ConfigSnapshot,
        per_arch: &[(String, Vec<Release>)],
    ) -> Result<(), SyncError> {
        let app = self.app().to_owned();
        let track = self.track.to_owned();
        let Some((primary, releases)) = per_arch.first() else {
            return Ok(());
        };
        let Some(target) = target(releases) else {
            self.report.skipped.push(format!(
                "track {track}: the upstream offers no {primary} update: channel left as it is"
            ));
            return Ok(());
        };
        for (arch, releases) in &per_arch[1..] {
            if let Some(other) = self::target(releases)
                && other.version != target.version
            {
                self.report.skipped.push(format!(
                    "track {track}: the {arch} target is {}, the {primary} target {}: the channel follows {primary}",
                    other.version, target.version
                ));
            }
        }
        let version = target.version.clone();
        let existing = config
            .channels
            .iter()
            .find(|c| c.app_id == app && c.name == track)
            .cloned();
        if let Some(local) = existing.as_ref().filter(|c| c.upstream.is_empty()) {
            self.report.skipped.push(format!(
                "channel {track} of app {app} is local (no upstream marker, at version {}): \
                 not overwritten with version {version}",
                local.version
            ));
            return Ok(());
        }
        let blacklist: Vec<String> = config
            .blacklist
            .iter()
            .filter(|b| b.app_id == app && b.channel == track)
            .map(|b| b.version.clone())
            .collect();
        let blacklisted = |v: &str| blacklist.iter().any(|b| b == v);
        if blacklisted(&version) {
            self.report.skipped.push(format!(
                "channel {track}: version {version} is blacklisted here: the channel stays at {}",
                existing.as_ref().map_or("", |c| c.version.as_str())
            ));
            return Ok(());
        }
        let now = self.state.now_ms();
        let record = ChannelRecord {
            app_id: app.clone(),
            name: track.clone(),
            version: version.clone(),
            publish: existing.as_ref().is_some_and(|c| c.publish),
            upstream: self.upstream.id.clone(),
            created_at: existing.as_ref().map_or(now, |c| c.created_at),
        };
        // A new channel is created first (no group follows it yet): its floors need it.
        if existing.is_none() {
            self.put_channel(config, &record).await?;
        }
        let wanted = floors(per_arch);
        for ((arch, floor), reason) in &wanted {
            if blacklisted(floor) {
                self.report.skipped.push(format!(
                    "channel {track}: floor {floor} is blacklisted here: not a floor"
                ));
                continue;
            }
            let current = config.floors.iter().find(|f| {
                f.app_id == app && f.channel == track && f.arch == *arch && f.version == *floor
            });
            if current.is_some_and(|f| f.reason == *reason) {
                continue;
            }
            let record = FloorRecord {
                app_id: app.clone(),
                channel: track.clone(),
                arch: arch.clone(),
                version: floor.clone(),
                reason: reason.clone(),
                created_at: current.map_or(now, |f| f.created_at),
            };
            self.state.store.put_floor(&record).await?;
            self.log(
                "channel.floor.sync",
                format!(
                    "floor {floor}{} of channel {track}: {reason} (upstream {})",
                    arch_suffix(arch),
                    self.upstream.id
                ),
            )
            .await;
            self.report.floors += 1;
            config.floors.retain(|f| {
                !(f.app_id == app && f.channel == track && f.arch == *arch && f.version == *floor)
            });
            config.floors.push(record);
        }
        let gone: Vec<FloorRecord> = config
            .floors
            .iter()
            .filter(|f| f.app_id == app && f.channel == track)
            .filter(|f| !wanted.contains_key(&(f.arch.clone(), f.version.clone())))
            .cloned()
            .collect();
        for floor in gone {
            self.state
                .store
                .delete_floor(&app, &track, &floor.arch, &floor.version)
                .await?;
            self.log(
                "channel.floor.delete",
                format!(
                    "floor {}{} of channel {track}: no longer a floor upstream {}",
                    floor.version,
                    arch_suffix(&floor.arch),
                    self.upstream.id
                ),
            )
            .await;
            self.report.floors += 1;
            config.floors.retain(|f| f != &floor);
        }
        if existing.is_some() && existing.as_ref() != Some(&record) {
            self.put_channel(config, &record).await?;
        }
        Ok(())
    }

    async fn put_channel(
        &mut self,
        config: &mut ConfigSnapshot,
        record: &ChannelRecord,
    ) -> Result<(), SyncError> {
        if !config
            .packages
            .iter()
            .any(|p| p.app_id == record.app_id && p.version == record.version)
        {
            self.report.skipped.push(format!(
                "channel {} of app {} points at version {}, which has no package here",
                record.name, record.app_id, record.version
            ));
        }
        self.state.store.put_channel(record).await?;
        self.log(
            "channel.sync",
            format!(
                "channel {} at version {} from upstream {}",
                record.name, record.version, self.upstream.id
            ),
        )
        .await;
        self.report.channels += 1;
        config
            .channels
            .retain(|c| !(c.app_id == record.app_id && c.name == record.name));
        config.channels.push(record.clone());
        Ok(())
    }
}

fn arch_suffix(arch: &str) -> String {
    if arch.is_empty() {
        String::new()
    } else {
        format!(" ({arch})")
    }
}

/// Whether a version of `app` is one an upstream channel points at, or a floor of one (so
/// its packages came from an upstream and may follow it).
fn synced(config: &ConfigSnapshot, app: &str, version: &str) -> bool {
    let marked = |channel: &str| {
        config
            .channels
            .iter()
            .any(|c| c.app_id == app && c.name == channel && !c.upstream.is_empty())
    };
    config
        .channels
        .iter()
        .any(|c| c.app_id == app && c.version == version && !c.upstream.is_empty())
        || config
            .floors
            .iter()
            .any(|f| f.app_id == app && f.version == version && marked(&f.channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP_ID: &str = "e96281a6-d1af-4bde-9a0a-97b76e56dc57";
    /// SHA-256 of `test`, base64 and hex; its SHA-1, base64.
    const SHA256_B64: &str = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
    const SHA256_HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const SHA1_B64: &str = "qUqP5cyxm6YcTAhz05Hph5gvu9M=";
    const SHA256_OTHER: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    fn upstream() -> UpstreamRecord {
        UpstreamRecord {
            id: "1".into(),
            url: "https://public.update.flatcar-linux.net/v1/update/".into(),
            kind: "omaha".into(),
            app_id: APP_ID.into(),
            upstream_app_id: APP_ID.into(),
            tracks: vec!["stable".into()],
            arches: vec!["amd64".into(), "arm64".into()],
            ..UpstreamRecord::default()
        }
    }

    #[test]
    fn the_request_is_the_syncers() {
        let bytes = request(&upstream(), "beta", "arm64").encode();
        let sent = Request::decode(&bytes).expect("a valid request");
        assert_eq!(sent.version.as_deref(), Some(SYNCER_VERSION));
        assert_eq!(sent.updater_version.as_deref(), Some(SYNCER_VERSION));
        assert_eq!(sent.install_source.as_deref(), Some("scheduler"));
        assert_eq!(sent.is_machine, Some(1));
        assert_eq!(
            sent.os.as_ref().and_then(|o| o.arch.as_deref()),
            Some("arm64")
        );
        let app = &sent.apps[0];
        assert_eq!(app.appid, format!("{{{APP_ID}}}"));
        assert_eq!(app.version.as_deref(), Some(OLDEST_VERSION));
        assert_eq!(app.track.as_deref(), Some("beta"));
        assert_eq!(app.board.as_deref(), Some("arm64-usr"));
        assert_eq!(app.multi_manifest_ok, Some(true));
        assert!(app.update_check.is_some());
        assert!(
            app.ping.is_none() && app.events.is_empty(),
            "an update check only"
        );
        // One machine id per upstream, track and architecture, the same every time.
        let id = app.machine_id.clone().unwrap();
        assert!(
            id.starts_with('{') && id.ends_with('}') && id.len() == 38,
            "{id}"
        );
        assert_eq!(syncer_machine_id(&upstream(), "beta", "arm64"), id);
        assert_ne!(syncer_machine_id(&upstream(), "beta", "amd64"), id);
        assert_ne!(syncer_machine_id(&upstream(), "stable", "arm64"), id);
        // A braced upstream app id is not braced twice.
        let mut braced = upstream();
        braced.upstream_app_id = format!("{{{APP_ID}}}");
        assert_eq!(
            request(&braced, "beta", "amd64").apps[0].appid,
            format!("{{{APP_ID}}}")
        );
    }

    fn answer(urls: &[&str], manifests: &str) -> String {
        let urls: String = urls
            .iter()
            .map(|u| format!(r#"<url codebase="{u}"/>"#))
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><response protocol="3.0" server="nebraska"><daystart elapsed_seconds="0"/><app appid="{{{APP_ID}}}" status="ok"><updatecheck status="ok"><urls>{urls}</urls>{manifests}</updatecheck></app></response>"#
        )
    }

    fn manifest(version: &str, attributes: &str, packages: &str, action: &str) -> String {
        format!(
            r#"<manifest version="{version}" {attributes}><packages>{packages}</packages><actions>{action}</actions></manifest>"#
        )
    }

    fn payload(hash_sha256: &str) -> String {
        format!(
            r#"<package name="flatcar_production_update.gz" hash="{SHA1_B64}" size="4" required="true"{hash_sha256}/>"#
        )
    }

    fn action(sha256: &str) -> String {
        format!(
            r#"<action event="postinstall" sha256="{sha256}" DisablePayloadBackoff="true" MetadataSize="190"/>"#
        )
    }

    /// A release as a test expects it: version, codebase, floor reason, target, extra files.
    type Expected<'a> = (&'a str, &'a str, Option<&'a str>, bool, &'a [&'a str]);

    /// (version, codebase, floor reason, target, extra file names) of each release.
    type Summary = Vec<(String, String, Option<String>, bool, Vec<String>)>;

    fn summary(releases: &[Release]) -> Summary {
        releases
            .iter()
            .map(|r| {
                (
                    r.version.clone(),
                    r.codebase.clone(),
                    r.floor_reason.clone(),
                    r.is_target,
                    r.files.iter().map(|f| f.name.clone()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn answers_become_releases() {
        let oem_hex = format!(
            r#"<package name="oem-qemu.gz" hash="{SHA1_B64}" hash_sha256="{SHA256_HEX}" size="4" required="false"/>"#
        );
        let oem_b64 = format!(
            r#"<package name="oem-azure.gz" hash_sha256="{SHA256_B64}" size="4" required="false"/>"#
        );
        let oem_bare = r#"<package name="flatcar-docker.gz" hash="qUqP5cyxm6YcTAhz05Hph5gvu9M=" size="4" required="false"/>"#;
        let floors = format!(
            "{}{}{}",
            manifest(
                "3510.2.0",
                r#"is_floor="true" floor_reason="cgroups v2""#,
                &(payload("") + &oem_hex),
                &action(SHA256_B64)
            ),
            manifest(
                "3760.2.0",
                r#"is_floor="true""#,
                &payload(&format!(r#" hash_sha256="{SHA256_HEX}""#)),
                &action(SHA256_B64)
            ),
            manifest(
                "4081.2.0",
                r#"is_target="true""#,
                &(payload("") + &oem_b64 + oem_bare),
                &action(SHA256_B64)
            ),
        );
        let base = "https://update.release.flatcar-linux.net/amd64-usr";
        let per_manifest = [
            format!("{base}/3510.2.0/"),
            format!("{base}/3760.2.0/"),
            format!("{base}/4081.2.0/"),
        ];
        let per_manifest: Vec<&str> = per_manifest.iter().map(String::as_str).collect();
        let s = |t: &str| t.to_owned();
        let ok = |list: &[Expected<'_>]| -> Result<Summary, String> {
            Ok(list
                .iter()
                .map(|(v, c, f, t, files)| {
                    (
                        s(v),
                        s(c),
                        f.map(s),
                        *t,
                        files.iter().map(|n| s(n)).collect(),
                    )
                })
                .collect())
        };
        let cases: Vec<(&str, String, Result<Summary, String>)> = vec![
            (
                "floors and target, a codebase each",
                answer(&per_manifest, &floors),
                ok(&[
                    ("3510.2.0", per_manifest[0], Some("cgroups v2"), false, &["oem-qemu.gz"]),
                    ("3760.2.0", per_manifest[1], Some(""), false, &[]),
                    (
                        "4081.2.0",
                        per_manifest[2],
                        None,
                        true,
                        &["oem-azure.gz"],
                    ),
                ]),
            ),
            (
                "one codebase for every manifest",
                answer(&[&format!("{base}/")], &floors),
                ok(&[
                    ("3510.2.0", "https://update.release.flatcar-linux.net/amd64-usr/", Some("cgroups v2"), false, &["oem-qemu.gz"]),
                    ("3760.2.0", "https://update.release.flatcar-linux.net/amd64-usr/", Some(""), false, &[]),
                    ("4081.2.0", "https://update.release.flatcar-linux.net/amd64-usr/", None, true, &["oem-azure.gz"]),
                ]),
            ),
            (
                "a codebase without its slash",
                answer(
                    &["https://example.test/4081.2.0"],
                    &manifest("4081.2.0", "", &payload(""), &action(SHA256_B64)),
                ),
                ok(&[("4081.2.0", "https://example.test/4081.2.0/", None, false, &[])]),
            ),
            (
                "no update",
                format!(
                    r#"<response protocol="3.0"><app appid="{APP_ID}" status="ok"><updatecheck status="noupdate"/></app></response>"#
                ),
                ok(&[]),
            ),
            (
                "unknown app",
                format!(
                    r#"<response protocol="3.0"><app appid="{APP_ID}" status="error-unknownApplication"/></response>"#
                ),
                Err("the upstream answered app status error-unknownApplication".into()),
            ),
            (
                "another app",
                r#"<response protocol="3.0"><app appid="{00000000-0000-0000-0000-000000000000}" status="ok"/></response>"#.into(),
                Err(format!("the answer has no app {APP_ID}")),
            ),
            (
                "an error",
                format!(
                    r#"<response protocol="3.0"><app appid="{APP_ID}" status="ok"><updatecheck status="error-internal"/></app></response>"#
                ),
                Err("the upstream answered updatecheck status error-internal".into()),
            ),
            (
                "no SHA-256 at all",
                answer(&[base], &manifest("4081.2.0", "", &payload(""), "")),
                Err("version 4081.2.0: the payload has no SHA-256".into()),
            ),
            (
                "two SHA-256 that differ",
                answer(
                    &[base],
                    &manifest(
                        "4081.2.0",
                        "",
                        &payload(&format!(r#" hash_sha256="{SHA256_OTHER}""#)),
                        &action(SHA256_B64),
                    ),
                ),
                Err(r#"package "flatcar_production_update.gz" of version 4081.2.0: hash_sha256 and the postinstall action's sha256 differ"#.into()),
            ),
            (
                "a hash that is no hash",
                answer(
                    &[base],
                    &manifest("4081.2.0", "", &payload(""), &action("sha256_4_0_0")),
                ),
                Err("the postinstall action's sha256 of version 4081.2.0 is not a SHA-256 (hex or base64)".into()),
            ),
            (
                "a path for a name",
                answer(
                    &[base],
                    &manifest(
                        "4081.2.0",
                        "",
                        &payload("").replace("flatcar_production_update.gz", "../update.gz"),
                        &action(SHA256_B64),
                    ),
                ),
                Err(r#"package "../update.gz" of version 4081.2.0: the name is not a plain file name"#.into()),
            ),
            (
                "no version",
                answer(&[base], &manifest("latest", "", &payload(""), &action(SHA256_B64))),
                Err(format!(
                    "manifest version \"latest\": {}",
                    rollout_core::Version::parse("latest").unwrap_err()
                )),
            ),
            (
                "no codebase",
                answer(&[], &manifest("4081.2.0", "", &payload(""), &action(SHA256_B64))),
                Err("version 4081.2.0 has no http(s) codebase".into()),
            ),
            (
                "an empty payload",
                answer(
                    &[base],
                    &manifest(
                        "4081.2.0",
                        "",
                        &payload("").replace(r#"size="4""#, r#"size="0""#),
                        &action(SHA256_B64),
                    ),
                ),
                Err(r#"package "flatcar_production_update.gz" of version 4081.2.0: no size"#.into()),
            ),
        ];
        for (name, xml, expected) in cases {
            let response =
                Response::decode(xml.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut notes = Vec::new();
            let got = releases(&response, APP_ID, &mut notes).map(|r| summary(&r));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn hashes_and_action_fields_are_read_as_written() {
        let xml = answer(
            &["https://example.test/4081.2.0/"],
            &manifest(
                "4081.2.0",
                "",
                &format!(
                    "{}{}{}",
                    payload(""),
                    format_args!(
                        r#"<package name="oem-qemu.gz" hash="{SHA1_B64}" hash_sha256="{SHA256_HEX}" size="4" required="false"/>"#
                    ),
                    r#"<package name="flatcar-docker.gz" hash="qUqP5cyxm6YcTAhz05Hph5gvu9M=" size="4" required="false"/>"#
                ),
                &action(SHA256_B64),
            ),
        );
        let mut notes = Vec::new();
        let got = releases(
            &Response::decode(xml.as_bytes()).unwrap(),
            APP_ID,
            &mut notes,
        )
        .unwrap();
        let release = &got[0];
        let sha256 = BASE64.decode(SHA256_B64).unwrap();
        assert_eq!(release.payload.sha256.as_slice(), sha256.as_slice());
        assert_eq!(release.payload.sha256_base64(), SHA256_B64);
        assert_eq!(release.payload.sha1_base64(), SHA1_B64);
        assert!(release.required);
        assert_eq!(release.metadata_size, "190");
        // The extra file's hex SHA-256 is the same digest.
        assert_eq!(release.files[0].sha256_base64(), SHA256_B64);
        // One without a SHA-256 is left out, and said so.
        assert_eq!(release.files.len(), 1);
        assert_eq!(
            notes,
            ["file flatcar-docker.gz of version 4081.2.0 has no SHA-256: left out"]
        );
        assert_eq!(target(&got).map(|r| r.version.as_str()), Some("4081.2.0"));
    }

    fn floor_release(version: &str, reason: Option<&str>) -> Release {
        Release {
            version: version.into(),
            codebase: "https://example.test/".into(),
            payload: RemoteFile {
                name: "update.gz".into(),
                size: 1,
                sha1: None,
                sha256: [0; 32],
            },
            required: true,
            files: Vec::new(),
            metadata_size: String::new(),
            metadata_signature_rsa: String::new(),
            floor_reason: reason.map(str::to_owned),
            is_target: reason.is_none(),
        }
    }

    #[test]
    fn a_floor_of_every_architecture_holds_for_all_others_for_their_own() {
        let per_arch = vec![
            (
                "amd64".to_owned(),
                vec![
                    floor_release("1.0.0", Some("disk layout")),
                    floor_release("3.0.0", None),
                ],
            ),
            (
                "arm64".to_owned(),
                vec![
                    floor_release("1.0.0", Some("disk layout")),
                    floor_release("2.0.0", Some("arm64 firmware")),
                    floor_release("3.0.0", None),
                ],
            ),
        ];
        let got: Vec<(String, String, String)> = floors(&per_arch)
            .into_iter()
            .map(|((arch, version), reason)| (arch, version, reason))
            .collect();
        assert_eq!(
            got,
            [
                (String::new(), "1.0.0".to_owned(), "disk layout".to_owned()),
                (
                    "arm64".to_owned(),
                    "2.0.0".to_owned(),
                    "arm64 firmware".to_owned()
                ),
            ]
        );
        // One architecture: its floors hold for all.
        let one = floors(&per_arch[1..]);
        assert_eq!(one.len(), 2);
        assert!(one.keys().all(|(arch, _)| arch.is_empty()));
        assert!(floors(&[]).is_empty());
    }

    #[test]
    fn a_release_of_some_architectures_only_is_the_default_package_of_the_first() {
        let per_arch = vec![
            (
                "amd64".to_owned(),
                vec![
                    floor_release("1.0.0", Some("disk layout")),
                    floor_release("3.0.0", None),
                ],
            ),
            (
                "arm64".to_owned(),
                vec![
                    floor_release("1.0.0", Some("disk layout")),
                    floor_release("2.0.0", Some("arm64 firmware")),
                    floor_release("3.0.0", None),
                ],
            ),
            (
                "riscv64".to_owned(),
                vec![floor_release("2.0.0", Some("arm64 firmware"))],
            ),
        ];
        let mine = BASE64.encode([0u8; 32]);
        let other = BASE64.encode([1u8; 32]);
        // (architecture index, release index, the version's default package here) ->
        // default package?
        let cases = [
            (0, 0, None, true),
            (0, 1, Some(other.as_str()), true),
            (1, 0, None, false),
            (1, 2, Some(mine.as_str()), false),
            (1, 1, None, true),
            (1, 1, Some(mine.as_str()), true),
            (1, 1, Some(other.as_str()), false),
            (2, 0, None, false),
        ];
        for (arch, release, existing, expected) in cases {
            assert_eq!(
                is_default_package(&per_arch, arch, &per_arch[arch].1[release], existing),
                expected,
                "{} {} {existing:?}",
                per_arch[arch].0,
                per_arch[arch].1[release].version
            );
        }
    }
}
