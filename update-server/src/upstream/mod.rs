//! Upstream sync, on `POST upstream/sync` and every `--upstream-sync-interval` seconds,
//! from every upstream. An upstream of kind `admin` (another update-server or a CoreUpdate)
//! is followed through its public endpoints, `public/packages` and `public/channels`: its
//! published channels and their packages are copied. An upstream of kind `omaha` (Flatcar's
//! public update server, say) is followed by speaking Omaha to it as a client
//! ([`omaha`]). Each sync's result is recorded with the upstream (`lastSync`,
//! `lastStatus`, `lastDetail`) and in the activity log (`upstream.sync`), with every
//! change it made.
//!
//! The rules:
//!
//! - an app the upstream names that does not exist here is created with the upstream's id;
//! - a package is created, or updated when it came from an upstream before; a local package
//!   of the same version with another URL or other digests is kept, and reported;
//! - a channel is created or updated with its `upstream` marker set to the upstream's id,
//!   and `publish` as the upstream says; a local channel (no marker) of the same name is
//!   never overwritten, and reported.
//!
//! Nothing is written when nothing changed, so a periodic sync does not churn the
//! configuration.

use crate::admin::{API_PREFIX, Actor, AdminState};
use crate::api;
use crate::store::{
    AppRecord, ChannelRecord, ConfigSnapshot, PackageRecord, StoreError, UpstreamRecord,
    canonical_app_id,
};
use axum::extract::State;
use axum::routing::post;
use axum::{Extension, Json, Router};
use std::time::Duration;

pub mod omaha;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long one request to an upstream may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest reply read from an upstream (a package or channel list): 16 MiB, tens of
/// thousands of packages. A larger reply fails the sync from that upstream as soon as it
/// passes the limit; it is read in chunks and never held whole beyond it.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// Why the sync from one upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The upstream could not be reached or answered an error.
    #[error("{method} {url}: {source}")]
    Http {
        /// The method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// Why it failed.
        source: reqwest::Error,
    },
    /// The upstream's answer is not what its public endpoints (or, for an Omaha upstream,
    /// an Omaha server) answer.
    #[error("{method} {url}: unexpected answer: {reason}")]
    Decode {
        /// The method (`GET`, `POST`).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The upstream's configuration cannot be used here (its local app was deleted, say).
    #[error("{0}")]
    Config(String),
    /// A payload could not be downloaded, or is not what the upstream's answer says.
    #[error("download {url}: {reason}")]
    Download {
        /// The URL downloaded.
        url: String,
        /// What went wrong (a size or hash mismatch, the hosting limit, the disk).
        reason: String,
    },
    /// The local store failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// What a sync from one upstream changed or left alone.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Apps created.
    pub apps_created: usize,
    /// Packages created or updated.
    pub packages: usize,
    /// Channels created or updated.
    pub channels: usize,
    /// Floors created, updated or deleted (Omaha upstreams).
    pub floors: usize,
    /// Extra files registered, updated or deleted (Omaha upstreams).
    pub files: usize,
    /// Payloads and extra files downloaded and hosted (Omaha upstreams).
    pub downloads: usize,
    /// What was left alone, and why.
    pub skipped: Vec<String>,
    /// What failed (a track of an Omaha upstream), leaving the rest synced.
    pub errors: Vec<String>,
}

impl SyncReport {
    /// One line: what the sync did, left alone and failed.
    pub fn summary(&self, omaha: bool) -> String {
        let mut line = if omaha {
            format!(
                "{} packages, {} files, {} floors and {} channels updated, {} payloads downloaded",
                self.packages, self.files, self.floors, self.channels, self.downloads
            )
        } else {
            format!(
                "{} apps created, {} packages and {} channels updated",
                self.apps_created, self.packages, self.channels
            )
        };
        for skip in &self.skipped {
            line.push_str("; ");
            line.push_str(skip);
        }
        for error in &self.errors {
            line.push_str("; failed: ");
            line.push_str(error);
        }
        line
    }
}

/// The route of `POST upstream/sync` under [`API_PREFIX`], authenticated like the admin
/// API (its entry in [`crate::openapi::OPERATIONS`] says who may sync). The admin API does
/// not route it itself, so that the admin API does not depend on the sync, which writes
/// through it.
pub fn router(admin: AdminState) -> Router {
    Router::new()
        .route("/_ah/api/update/v1/upstream/sync", post(sync_now))
        .route_layer(axum::middleware::from_fn_with_state(
            admin.clone(),
            crate::admin::authenticate,
        ))
        .with_state(admin)
}

/// `POST upstream/sync`: syncs from every upstream now and answers
/// `{"status":"ok"|"error","detail":"..."}`.
async fn sync_now(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
) -> Json<api::UpstreamSync> {
    Json(sync_all(&state, &actor).await)
}

/// Syncs from every upstream, one after the other; one failing does not stop the others.
pub async fn sync_all(state: &AdminState, actor: &Actor) -> api::UpstreamSync {
    let upstreams = match state.store.upstreams().await {
        Ok(upstreams) => upstreams,
        Err(err) => {
            return api::UpstreamSync {
                status: "error".into(),
                detail: format!("cannot read the upstreams: {err}"),
            };
        }
    };
    if upstreams.is_empty() {
        return api::UpstreamSync {
            status: "ok".into(),
            detail: "no upstreams configured".into(),
        };
    }
    let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(client) => client,
        Err(err) => {
            return api::UpstreamSync {
                status: "error".into(),
                detail: format!("cannot create an HTTP client: {err}"),
            };
        }
    };
    let mut failed = false;
    let mut details = Vec::new();
    for upstream in &upstreams {
        let name = format!("upstream {} ({})", upstream.id, upstream.url);
        let is_omaha = upstream.kind == crate::store::UPSTREAM_OMAHA;
        let result = if is_omaha {
            omaha::sync_one(state, actor, &client, upstream).await
        } else {
            sync_one(state, actor, &client, upstream).await
        };
        let (ok, line) = match result {
            Ok(report) => (report.errors.is_empty(), report.summary(is_omaha)),
            Err(err) => (false, format!("failed: {err}")),
        };
        failed |= !ok;
        if let Err(err) = state
            .store
            .record_upstream_sync(
                &upstream.id,
                state.now_ms(),
                if ok { "ok" } else { "error" },
                &line,
            )
            .await
        {
            tracing::warn!(error = %err, upstream = %upstream.id, "cannot record the sync's result");
        }
        details.push(format!("{name}: {line}"));
    }
    let detail = details.join("\n");
    let status = if failed { "error" } else { "ok" };
    state
        .log(
            actor,
            "upstream.sync",
            "",
            "",
            format!("{status}: {detail}"),
        )
        .await;
    api::UpstreamSync {
        status: status.into(),
        detail,
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: String,
) -> Result<T, SyncError> {
    let response = client
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .and_then(reqwest::Response::error_for_status);
    let http = |source| SyncError::Http {
        method: "GET",
        url: url.clone(),
        source,
    };
    let response = response.map_err(http)?;
    let body = read_limited(response, "GET", &url).await?;
    serde_json::from_slice(&body).map_err(|e| SyncError::Decode {
        method: "GET",
        url,
        reason: e.to_string(),
    })
}

/// Reads a reply whole, failing as soon as it passes [`MAX_REPLY_BYTES`].
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    method: &'static str,
    url: &str,
) -> Result<Vec<u8>, SyncError> {
    let too_large = || SyncError::Decode {
        method,
        url: url.to_owned(),
        reason: format!("the reply is larger than {MAX_REPLY_BYTES} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_REPLY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|source| SyncError::Http {
        method,
        url: url.to_owned(),
        source,
    })? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub(crate) fn same_payload(a: &PackageRecord, b: &PackageRecord) -> bool {
    a.url == b.url && a.size == b.size && a.sha1 == b.sha1 && a.sha256 == b.sha256
}

/// Syncs from one upstream.
pub async fn sync_one(
    state: &AdminState,
    actor: &Actor,
    client: &reqwest::Client,
    upstream: &UpstreamRecord,
) -> Result<SyncReport, SyncError> {
    let root = format!("{}{API_PREFIX}", upstream.url.trim_end_matches('/'));
    let packages: api::PublicPackageList =
        get_json(client, format!("{root}/public/packages")).await?;
    let channels: api::ChannelList = get_json(client, format!("{root}/public/channels")).await?;
    let mut report = SyncReport::default();
    let mut config = state.store.load_config().await?;
    let now = state.now_ms();

    for item in &packages.items {
        let app_id = canonical_app_id(&item.app_id);
        ensure_app(state, actor, upstream, &mut config, &app_id, &mut report).await?;
        for package in &item.packages {
            let version = package.version.trim();
            if rollout_core::Version::parse(version).is_err() {
                report.skipped.push(format!(
                    "package {version:?} of app {app_id} has no valid version: skipped"
                ));
                continue;
            }
            let Ok(size) = package.size.trim().parse::<u64>() else {
                report.skipped.push(format!(
                    "package {version} of app {app_id} has no valid size ({:?}): skipped",
                    package.size
                ));
                continue;
            };
            if let Some(problem) =
                crate::admin::packages::unservable(&package.url, size, &package.sha256_sum)
            {
                report.skipped.push(format!(
                    "package {version} of app {app_id} cannot be offered: {problem}: skipped"
                ));
                continue;
            }
            let existing = config
                .packages
                .iter()
                .find(|p| p.app_id == app_id && p.version == version);
            let record = PackageRecord {
                app_id: app_id.clone(),
                version: version.to_owned(),
                url: package.url.clone(),
                size,
                sha1: package.sha1_sum.clone(),
                sha256: package.sha256_sum.clone(),
                metadata_size: package.metadata_size.clone(),
                metadata_signature_rsa: package.metadata_signature_rsa.clone(),
                signature: package.signature.clone(),
                release_notes: package.release_notes.clone(),
                required: package.required,
                created_at: existing.map_or(now, |p| p.created_at),
            };
            if let Some(existing) = existing {
                if *existing == record {
                    continue;
                }
                if !same_payload(existing, &record) && !synced_version(&config, existing) {
                    report.skipped.push(format!(
                        "package {version} of app {app_id} exists here with another payload \
                         ({}): kept the local one",
                        existing.url
                    ));
                    continue;
                }
            }
            state.store.put_package(&record).await?;
            let changes = crate::changes::diff(
                existing.map(crate::admin::packages::package_json).as_ref(),
                Some(&crate::admin::packages::package_json(&record)),
            );
            state
                .log_changes(
                    actor,
                    "package.sync",
                    &app_id,
                    "",
                    format!(
                        "package {version} at {} from upstream {}",
                        record.url, upstream.id
                    ),
                    changes,
                )
                .await;
            match config
                .packages
                .iter_mut()
                .find(|p| p.app_id == app_id && p.version == version)
            {
                Some(slot) => *slot = record,
                None => config.packages.push(record),
            }
            report.packages += 1;
        }
    }

    for channel in channels.items.iter().filter(|c| c.publish) {
        let app_id = canonical_app_id(&channel.app_id);
        ensure_app(state, actor, upstream, &mut config, &app_id, &mut report).await?;
        let existing = config
            .channels
            .iter()
            .find(|c| c.app_id == app_id && c.name == channel.label);
        if let Some(local) = existing.filter(|c| c.upstream.is_empty()) {
            report.skipped.push(format!(
                "channel {} of app {app_id} is local (no upstream marker, at version {}): \
                 not overwritten with version {}",
                channel.label, local.version, channel.version
            ));
            continue;
        }
        let record = ChannelRecord {
            app_id: app_id.clone(),
            name: channel.label.clone(),
            version: channel.version.clone(),
            publish: channel.publish,
            upstream: upstream.id.clone(),
            created_at: existing.map_or(now, |c| c.created_at),
        };
        if existing == Some(&record) {
            continue;
        }
        if !config
            .packages
            .iter()
            .any(|p| p.app_id == app_id && p.version == record.version)
        {
            report.skipped.push(format!(
                "channel {} of app {app_id} points at version {}, which has no package here",
                record.name, record.version
            ));
        }
        state.store.put_channel(&record).await?;
        let changes = crate::changes::diff(
            existing
                .map(|c| crate::admin::channels::channel_json(c, &config.packages))
                .as_ref(),
            Some(&crate::admin::channels::channel_json(
                &record,
                &config.packages,
            )),
        );
        state
            .log_changes(
                actor,
                "channel.sync",
                &app_id,
                "",
                format!(
                    "channel {} at version {} from upstream {}",
                    record.name, record.version, upstream.id
                ),
                changes,
            )
            .await;
        match config
            .channels
            .iter_mut()
            .find(|c| c.app_id == app_id && c.name == record.name)
        {
            Some(slot) => *slot = record,
            None => config.channels.push(record),
        }
        report.channels += 1;
    }
    if report.apps_created + report.packages + report.channels > 0 {
        state.refreshed().await;
    }
    Ok(report)
}

/// Whether a package's version is one an upstream channel points at (so it came from an
/// upstream and may follow it).
fn synced_version(config: &ConfigSnapshot, package: &PackageRecord) -> bool {
    config.channels.iter().any(|c| {
        c.app_id == package.app_id && c.version == package.version && !c.upstream.is_empty()
    })
}

async fn ensure_app(
    state: &AdminState,
    actor: &Actor,
    upstream: &UpstreamRecord,
    config: &mut ConfigSnapshot,
    app_id: &str,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    if config.apps.iter().any(|a| a.id == app_id) {
        return Ok(());
    }
    let app = AppRecord {
        id: app_id.to_owned(),
        label: app_id.to_owned(),
        description: format!("synced from upstream {} ({})", upstream.id, upstream.url),
        hash_sha256: "hex".into(),
        created_at: state.now_ms(),
    };
    match state.store.create_app(&app).await {
        // Created meanwhile (another replica's sync): fine.
        Ok(()) | Err(StoreError::Conflict { .. }) => {}
        Err(err) => return Err(err.into()),
    }
    let changes = crate::changes::diff(None, Some(&crate::admin::apps::app_json(&app)));
    state
        .log_changes(
            actor,
            "app.create",
            app_id,
            "",
            format!("app {app_id} from upstream {}", upstream.id),
            changes,
        )
        .await;
    config.apps.push(app);
    report.apps_created += 1;
    Ok(())
}

/// Syncs from every upstream now and then every `every`, until `stop` fires (or its sender
/// is dropped). A sync in progress is abandoned at stop: each write is its own transaction,
/// and the next sync picks up where it left.
pub fn spawn_interval(
    state: AdminState,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let actor = Actor(crate::access::Principal::system());
        loop {
            tokio::select! {
                _ = &mut stop => return,
                result = sync_all(&state, &actor) => {
                    if result.status == "ok" {
                        tracing::debug!(detail = %result.detail, "upstream sync");
                    } else {
                        tracing::warn!(detail = %result.detail, "upstream sync failed");
                    }
                }
            }
            tokio::select! {
                _ = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    })
}
