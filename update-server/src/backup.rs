//! Backups: `GET /db/backup` answers a consistent copy of the database and the hosted
//! payloads as a `.tar.gz` while the server keeps serving, and [`restore`] (the
//! `update-server restore` command) loads one into a fresh data directory or an empty
//! database.
//!
//! The archive holds `manifest.json` (see [`Manifest`]), the database as its backend wrote it
//! ([`Store::backup`]: `update-server.sqlite3` for SQLite, `db/<table>.jsonl` for
//! PostgreSQL) and the payloads under `packages/`. It never holds the server secret: keep
//! `secret.key` (or `--secret`) apart, since the users' keys are sealed under it.

use crate::admin::{self, Actor, AdminState};
use crate::hosting::{self, PACKAGES_DIR, error_response};
use crate::store::{Store, StoreError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The name of the manifest in an archive.
pub const MANIFEST: &str = "manifest.json";
/// The archive format this server writes and reads.
pub const FORMAT: u32 = 1;

/// What an archive holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The archive format ([`FORMAT`]).
    pub format: u32,
    /// The store's backend (`sqlite`, `postgres`): a backup restores into the same kind.
    pub backend: String,
    /// The schema version of the copy.
    pub schema_version: i64,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// The database's files in the archive.
    pub database_files: Vec<String>,
    /// The payloads, as paths under `packages/`: `<name>` (stored flat) or
    /// `<app>/<version>/<name>` (a version's payload).
    pub packages: Vec<String>,
}

/// Why a backup or a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The store failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The file system failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The archive is not a backup this server can restore.
    #[error("{0}")]
    Invalid(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

impl IntoResponse for BackupError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "backup failed");
        error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "backendError",
            format!("backup failed: {self}"),
        )
    }
}

#[derive(Clone)]
struct BackupState {
    admin: AdminState,
    data_dir: Option<PathBuf>,
}

/// `GET /db/backup`, authenticated like the admin API. `data_dir` holds the payloads (under
/// `packages/`) and the scratch space; without it the archive holds only the database and
/// the scratch space is the system's temporary directory.
pub fn router(admin: AdminState, data_dir: Option<PathBuf>) -> Router {
    Router::new()
        .route("/db/backup", get(download_backup))
        .route_layer(axum::middleware::from_fn_with_state(
            admin.clone(),
            admin::authenticate,
        ))
        .with_state(BackupState { admin, data_dir })
}

/// Removes a directory tree when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn download_backup(
    State(state): State<BackupState>,
    Extension(actor): Extension<Actor>,
) -> Result<Response, BackupError> {
    let base = state.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = ScratchDir(base.join(format!(".backup-{}", uuid::Uuid::new_v4())));
    let archive = scratch.0.join("backup.tar.gz");
    let packages = state.data_dir.as_ref().map(|d| d.join(PACKAGES_DIR));
    let manifest = write_backup(
        state.admin.store.as_ref(),
        packages.as_deref(),
        &scratch.0.join("staging"),
        &archive,
    )
    .await?;
    let file = tokio::fs::File::open(&archive)
        .await
        .map_err(io("cannot open the archive"))?;
    let len = file
        .metadata()
        .await
        .map_err(io("cannot open the archive"))?
        .len();
    // The open file stays readable once its directory is gone.
    drop(scratch);
    state
        .admin
        .log(
            &actor,
            "db.backup",
            "",
            "",
            format!(
                "backup of the {} store and {} payloads ({len} bytes)",
                manifest.backend,
                manifest.packages.len()
            ),
        )
        .await;
    let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-compressed-tar"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"backup.tar.gz\""),
    );
    Ok(response)
}

/// The plain entries of `dir` (none when it does not exist): files and directories whose
/// names may name a payload or its directory. Uploads in progress are dot files; they are
/// not payloads yet.
fn plain_entries(dir: &Path) -> Result<Vec<(String, bool)>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(BackupError::Io {
                what: format!("cannot list {}", dir.display()),
                source: err,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(format!("cannot list {}", dir.display())))?;
        let kind = entry
            .file_type()
            .map_err(io(format!("cannot list {}", dir.display())))?;
        if let Some(name) = entry.file_name().to_str()
            && (kind.is_file() || kind.is_dir())
            && hosting::valid_name(name)
        {
            names.push((name.to_owned(), kind.is_dir()));
        }
    }
    Ok(names)
}

/// The payloads in `dir`: flat files, `<app>/<version>/<name>` files and
/// `<app>/<version>/<arch>/<name>` files.
fn payload_names(dir: &Path) -> Result<Vec<String>, BackupError> {
    let mut names = Vec::new();
    for (name, is_dir) in plain_entries(dir)? {
        if !is_dir {
            names.push(name);
            continue;
        }
        for (version, is_dir) in plain_entries(&dir.join(&name))? {
            if !is_dir {
                continue;
            }
            for (file, is_dir) in plain_entries(&dir.join(&name).join(&version))? {
                if !is_dir {
                    names.push(format!("{name}/{version}/{file}"));
                    continue;
                }
                // The files of the version's package for an architecture.
                let arch_dir = dir.join(&name).join(&version).join(&file);
                for (arch_file, is_dir) in plain_entries(&arch_dir)? {
                    if !is_dir {
                        names.push(format!("{name}/{version}/{file}/{arch_file}"));
                    }
                }
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Whether `name` of a manifest is a payload path: `<name>`, `<app>/<version>/<name>` or
/// `<app>/<version>/<arch>/<name>`.
fn valid_payload_path(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    matches!(parts.len(), 1 | 3 | 4) && parts.iter().all(|p| hosting::valid_name(p))
}

/// Writes a backup of `store` and of the payloads in `packages` to the archive `out`,
/// using `staging` (created, then left for the caller to remove) for the database copy.
pub async fn write_backup(
    store: &dyn Store,
    packages: Option<&Path>,
    staging: &Path,
    out: &Path,
) -> Result<Manifest, BackupError> {
    tokio::fs::create_dir_all(staging)
        .await
        .map_err(io(format!("cannot create {}", staging.display())))?;
    let copy = store.backup(staging).await?;
    let package_names = match packages {
        Some(dir) => payload_names(dir)?,
        None => Vec::new(),
    };
    let manifest = Manifest {
        format: FORMAT,
        backend: copy.backend,
        schema_version: copy.schema_version,
        created_at: jiff::Timestamp::now().to_string(),
        database_files: copy.files,
        packages: package_names,
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Invalid(format!("cannot encode the manifest: {e}")))?;
    let staging = staging.to_owned();
    let packages = packages.map(Path::to_owned);
    let out = out.to_owned();
    let listed = manifest.clone();
    tokio::task::spawn_blocking(move || {
        write_archive(&listed, &json, &staging, packages.as_deref(), &out)
    })
    .await
    .map_err(|e| BackupError::Invalid(format!("the archive task failed: {e}")))??;
    Ok(manifest)
}

fn write_archive(
    manifest: &Manifest,
    json: &[u8],
    staging: &Path,
    packages: Option<&Path>,
    out: &Path,
) -> Result<(), BackupError> {
    let file =
        std::fs::File::create(out).map_err(io(format!("cannot create {}", out.display())))?;
    let gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(file),
        // Payloads are compressed already: spend little CPU on them.
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let write_err = io(format!("cannot write {}", out.display()));
    let result = (|| {
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json)?;
        for name in &manifest.database_files {
            tar.append_path_with_name(staging.join(name), name)?;
        }
        if let Some(dir) = packages {
            for name in &manifest.packages {
                tar.append_path_with_name(dir.join(name), format!("{PACKAGES_DIR}/{name}"))?;
            }
        }
        let gz = tar.into_inner()?;
        let writer = gz.finish()?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    })();
    result.map_err(write_err)
}

/// What [`restore`] loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSummary {
    /// The archive's manifest.
    pub manifest: Manifest,
    /// Payloads moved into `<data-dir>/packages/` (the others were there already).
    pub payloads_restored: usize,
}

/// Loads the backup `archive` into `store`, which must be empty, and its payloads into
/// `<data_dir>/packages/`. A payload that is there already must be the same file.
pub async fn restore(
    archive: &Path,
    store: &dyn Store,
    data_dir: &Path,
) -> Result<RestoreSummary, BackupError> {
    tokio::fs::create_dir_all(data_dir)
        .await
        .map_err(io(format!("cannot create {}", data_dir.display())))?;
    let staging = ScratchDir(data_dir.join(format!(".restore-{}", uuid::Uuid::new_v4())));
    let (source, target) = (archive.to_owned(), staging.0.clone());
    tokio::task::spawn_blocking(move || unpack(&source, &target))
        .await
        .map_err(|e| BackupError::Invalid(format!("the unpacking task failed: {e}")))??;
    let manifest_path = staging.0.join(MANIFEST);
    let text = tokio::fs::read(&manifest_path).await.map_err(|_| {
        BackupError::Invalid(format!(
            "{} is not a backup of update-server: it has no {MANIFEST}",
            archive.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| BackupError::Invalid(format!("{MANIFEST} is malformed: {e}")))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Invalid(format!(
            "backup format {} is not supported (this server reads format {FORMAT})",
            manifest.format
        )));
    }
    if manifest.backend != store.backend() {
        let hint = if manifest.backend == "postgres" {
            "give --database-url"
        } else {
            "leave out --database-url"
        };
        return Err(BackupError::Invalid(format!(
            "this is a backup of a {} store and restores only into one ({hint})",
            manifest.backend
        )));
    }
    store.restore(&staging.0).await?;
    let packages = data_dir.join(PACKAGES_DIR);
    tokio::fs::create_dir_all(&packages)
        .await
        .map_err(io(format!("cannot create {}", packages.display())))?;
    let mut payloads_restored = 0;
    for name in &manifest.packages {
        if !valid_payload_path(name) {
            return Err(BackupError::Invalid(format!(
                "the manifest names an invalid payload {name:?}"
            )));
        }
        let from = staging.0.join(PACKAGES_DIR).join(name);
        let to = packages.join(name);
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io(format!("cannot create {}", parent.display())))?;
        }
        if tokio::fs::metadata(&to).await.is_ok() {
            let ours = hosting::hash_file(&to)
                .await
                .map_err(io(format!("cannot read {}", to.display())))?;
            let theirs = hosting::hash_file(&from)
                .await
                .map_err(io(format!("cannot read {}", from.display())))?;
            if ours != theirs {
                return Err(BackupError::Invalid(format!(
                    "{} exists and differs from the backup's payload",
                    to.display()
                )));
            }
            continue;
        }
        tokio::fs::rename(&from, &to)
            .await
            .map_err(io(format!("cannot move the payload to {}", to.display())))?;
        payloads_restored += 1;
    }
    Ok(RestoreSummary {
        manifest,
        payloads_restored,
    })
}

/// Unpacks a `.tar.gz` into `dir`, refusing anything but plain files and directories inside
/// it.
fn unpack(archive: &Path, dir: &Path) -> Result<(), BackupError> {
    let file =
        std::fs::File::open(archive).map_err(io(format!("cannot open {}", archive.display())))?;
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let read_err = || io(format!("cannot read {}", archive.display()));
    for entry in tar.entries().map_err(read_err())? {
        let mut entry = entry.map_err(read_err())?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            return Err(BackupError::Invalid(format!(
                "{} holds an entry that is neither a file nor a directory",
                archive.display()
            )));
        }
        if !entry.unpack_in(dir).map_err(read_err())? {
            return Err(BackupError::Invalid(format!(
                "{} holds a path outside the archive",
                archive.display()
            )));
        }
    }
    Ok(())
}
