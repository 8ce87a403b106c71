//! Payload hosting: `POST /package-upload` stores a payload in `<data-dir>/packages/`, and
//! `GET /packages/...` serves it to instances, with HTTP range requests so that an
//! interrupted download resumes where it stopped.
//!
//! Payloads of packages are stored per app and version, in
//! `<data-dir>/packages/<app>/<version>/<name>` served at `/packages/<app>/<version>/<name>`,
//! so every version's payload can be named `update.gz`. An upload lands there when it says
//! which package it is for (`?appId=..&version=..`, as `updatectl package create` sends
//! it), or when it matches (size and SHA-256) a package registered without a URL
//! (`updateservicectl package create` without `--url`, then `package upload`): that
//! package then gets the payload's URL. Any other upload is stored flat, as
//! `<data-dir>/packages/<name>` served at `/packages/<name>`, the layout of earlier
//! versions, which keeps being served.
//!
//! Uploads are authenticated like the admin API (Hawk or Basic) and streamed to a temporary
//! file in the same directory, hashed (SHA-1 and SHA-256) on the way, and renamed into place
//! only when complete: a payload is never served half-written. A name is a plain file name
//! (no directory, no leading dot), so nothing outside the directory can be read or written.
//!
//! An extra file of a version's package (`oem-qemu.gz`, registered with
//! `PUT .../packages/<version>/files/<name>`) uploaded with `?appId=..&version=..` lands in
//! the same directory as the payload, so the Omaha answer names it from the same codebase;
//! it must match the size and SHA-256 registered, and never becomes the package's payload.
//!
//! The payload and extra files of a version's package for a named architecture (`arm64`)
//! live in a directory of their own, `<data-dir>/packages/<app>/<version>/<arch>/<name>`
//! served at `/packages/<app>/<version>/<arch>/<name>`, so they may have the names of the
//! default package's: an upload with `?appId=..&version=..&arch=..` lands there (the
//! package for the architecture is then registered with the URL answered), and an Omaha
//! upstream with downloads stores them there.
//!
//! `GET /packages/<name>.sig` answers the detached ed25519 signature (base64 text) of the
//! package whose URL ends in `<name>`, as the updater SDK fetches it next to the payload.

use crate::admin::{self, Actor, AdminState};
use crate::api;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

/// The path of the upload endpoint.
pub(crate) const UPLOAD_PATH: &str = "/package-upload";

/// The directory under the data directory that holds the payloads.
pub const PACKAGES_DIR: &str = "packages";

/// How payload hosting is set up.
#[derive(Debug, Clone)]
pub struct HostingOptions {
    /// Where the payloads are (`<data-dir>/packages`).
    pub dir: PathBuf,
    /// The server's public URL, without a trailing slash: payloads are served at
    /// `<base_url>/packages/<name>`.
    pub base_url: String,
    /// Whether `POST /package-upload` accepts payloads.
    pub uploads: bool,
    /// The largest payload accepted, in bytes.
    pub max_upload_size: u64,
}

/// The answer to a successful upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadedPayload {
    /// The file name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-1, standard base64 (as `package create` wants it).
    pub sha1_sum: String,
    /// SHA-256, standard base64.
    pub sha256_sum: String,
    /// Where the server serves it: the URL to register the package with.
    pub url: String,
}

/// A failure of payload hosting, answered with CoreUpdate's error body.
#[derive(Debug, thiserror::Error)]
pub enum HostingError {
    /// 400: the request is malformed.
    #[error("{0}")]
    Invalid(String),
    /// 403: uploads are turned off.
    #[error("package uploads are disabled on this server (--disable-package-uploads)")]
    Disabled,
    /// 404: no such payload or signature.
    #[error("{0}")]
    NotFound(String),
    /// 409: a different payload has this name.
    #[error("{0}")]
    Conflict(String),
    /// 413: the payload is over the limit.
    #[error("the payload is larger than the limit of {0} bytes (--max-upload-size)")]
    TooLarge(u64),
    /// 500: the file system failed (a full disk, say); the message says how.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// 500: the store failed.
    #[error("storage: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl HostingError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// CoreUpdate's error body with `status`, `reason` and `message`.
pub(crate) fn error_response(status: StatusCode, reason: &str, message: String) -> Response {
    let body = api::ErrorBody {
        error: api::ErrorDetail {
            code: status.as_u16(),
            message: message.clone(),
            errors: vec![api::ErrorItem {
                reason: reason.into(),
                message,
            }],
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for HostingError {
    fn into_response(self) -> Response {
        let (status, reason) = match &self {
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Self::Disabled => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "notFound"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge"),
            Self::Io { .. } | Self::Store(_) => {
                tracing::error!(error = %self, "payload hosting failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "backendError")
            }
        };
        error_response(status, reason, self.to_string())
    }
}

#[derive(Clone)]
struct Hosting {
    admin: AdminState,
    options: Arc<HostingOptions>,
}

/// The routes: `POST /package-upload` (authenticated like the admin API) and
/// `GET`/`HEAD /packages/{name}` and `/packages/{app}/{version}/{name}` (public).
pub fn router(admin: AdminState, options: Arc<HostingOptions>) -> Router {
    let state = Hosting {
        admin: admin.clone(),
        options,
    };
    let upload = Router::new()
        .route(UPLOAD_PATH, post(upload))
        .route_layer(axum::middleware::from_fn_with_state(
            admin,
            admin::authenticate,
        ))
        // The limit is --max-upload-size, checked while streaming.
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/packages/{name}", get(download))
        .route("/packages/{app}/{version}/{name}", get(download_hosted))
        .route(
            "/packages/{app}/{version}/{arch}/{name}",
            get(download_hosted_arch),
        )
        .merge(upload)
        .with_state(state)
}

/// Whether `name` is a plain file name that may live in the packages directory.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c == ':' || c.is_control())
}

/// Percent-encodes one URL path segment (everything but RFC 3986's unreserved characters).
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The URL of a hosted payload of `app`'s `version`.
pub fn hosted_url(base_url: &str, app: &str, version: &str, name: &str) -> String {
    format!(
        "{base_url}/{PACKAGES_DIR}/{}/{}/{}",
        encode_segment(app),
        encode_segment(version),
        encode_segment(name)
    )
}

/// The URL of a hosted payload of the package of `app`'s `version` for architecture
/// `arch`.
pub fn hosted_arch_url(base_url: &str, app: &str, version: &str, arch: &str, name: &str) -> String {
    format!(
        "{base_url}/{PACKAGES_DIR}/{}/{}/{}/{}",
        encode_segment(app),
        encode_segment(version),
        encode_segment(arch),
        encode_segment(name)
    )
}

/// Where a hosted file of `app`'s `version` (of its package for `arch`, when not empty)
/// is stored under the packages directory `dir`, and its URL.
pub(crate) fn hosted_location(
    options: &HostingOptions,
    app: &str,
    version: &str,
    arch: &str,
    name: &str,
) -> (PathBuf, String) {
    if arch.is_empty() {
        (
            options.dir.join(app).join(version).join(name),
            hosted_url(&options.base_url, app, version, name),
        )
    } else {
        (
            options.dir.join(app).join(version).join(arch).join(name),
            hosted_arch_url(&options.base_url, app, version, arch, name),
        )
    }
}

/// The last path segment of a URL, without query or fragment.
pub fn url_file_name(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let path = &url[..end];
    path.rsplit('/').next().unwrap_or(path)
}

/// Removes a temporary file unless it was kept.
pub(crate) struct TempFile(pub(crate) Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// SHA-1 and SHA-256 of what went through, and its size.
#[derive(Default)]
pub(crate) struct Hashes {
    sha1: Sha1,
    sha256: Sha256,
    size: u64,
}

impl Hashes {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.sha1.update(bytes);
        self.sha256.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// Size, SHA-1 and SHA-256 (standard base64).
    pub(crate) fn finish(self) -> (u64, String, String) {
        (
            self.size,
            BASE64.encode(self.sha1.finalize()),
            BASE64.encode(self.sha256.finalize()),
        )
    }
}

pub(crate) async fn hash_file(path: &FsPath) -> Result<(u64, String, String), std::io::Error> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hashes = Hashes::default();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            return Ok(hashes.finish());
        }
        hashes.update(&buffer[..n]);
    }
}

/// Which package an upload is for (`updatectl package create` says so).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct UploadQuery {
    app_id: String,
    version: String,
    arch: String,
}

/// Places the complete temporary file `temp` at `target` without replacing an existing
/// file: of two concurrent uploads of one name exactly one is placed, and the other is
/// compared with it (the same payload again is fine, a different one a conflict).
pub(crate) async fn place(
    temp: &FsPath,
    target: &FsPath,
    hashes: &(u64, String, String),
    name: &str,
) -> Result<(), HostingError> {
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(HostingError::io(format!(
                "cannot create {}",
                parent.display()
            )))?;
    }
    match tokio::fs::hard_link(temp, target).await {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let existing = hash_file(target).await.map_err(HostingError::io(format!(
                "cannot read {}",
                target.display()
            )))?;
            if &existing == hashes {
                Ok(())
            } else {
                Err(HostingError::Conflict(format!(
                    "a different payload named {name} exists already"
                )))
            }
        }
        Err(err) => Err(HostingError::Io {
            what: format!("cannot move the payload into place as {}", target.display()),
            source: err,
        }),
    }
}

/// Whether a package registered without a URL waits for exactly this payload.
fn awaits(package: &crate::store::PackageRecord, size: u64, sha256: &str) -> bool {
    package.url.is_empty() && package.size == size && package.sha256 == sha256
}

async fn upload(
    State(state): State<Hosting>,
    Extension(actor): Extension<Actor>,
    axum::extract::Query(query): axum::extract::Query<UploadQuery>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<UploadedPayload>, HostingError> {
    if !state.options.uploads {
        return Err(HostingError::Disabled);
    }
    if query.app_id.is_empty() != query.version.is_empty() {
        return Err(HostingError::Invalid(
            "appId and version go together: name both, or neither".into(),
        ));
    }
    let arch = if query.arch.trim().is_empty() {
        String::new()
    } else if query.app_id.is_empty() {
        return Err(HostingError::Invalid(
            "arch names the package of a version: name appId and version too".into(),
        ));
    } else {
        rollout_core::Arch::parse(&query.arch)
            .map_err(|e| HostingError::Invalid(format!("arch: {e}")))?
            .as_str()
            .to_owned()
    };
    for (what, value) in [("appId", &query.app_id), ("version", &query.version)] {
        if !value.is_empty() && !valid_name(value) {
            return Err(HostingError::Invalid(format!(
                "{what} {value:?} cannot name a payload directory"
            )));
        }
    }
    let mut multipart = multipart
        .map_err(|e| HostingError::Invalid(format!("expected a multipart/form-data body: {e}")))?;
    let bad_body = |e: axum::extract::multipart::MultipartError| {
        // With the causes, such as a body that does not match its Hawk payload hash.
        let mut message = e.body_text();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            source = cause.source();
        }
        HostingError::Invalid(format!("malformed multipart body: {message}"))
    };
    while let Some(mut field) = multipart.next_field().await.map_err(bad_body)? {
        if field.name() != Some("file") {
            continue;
        }
        let name = field
            .file_name()
            .ok_or_else(|| HostingError::Invalid("the file part has no filename".into()))?
            .to_owned();
        if !valid_name(&name) {
            return Err(HostingError::Invalid(format!(
                "invalid file name {name:?}: a plain file name is required (no directories, no leading dot)"
            )));
        }
        let dir = &state.options.dir;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(HostingError::io(format!("cannot create {}", dir.display())))?;
        let temp_path = dir.join(format!(".upload-{}", uuid::Uuid::new_v4()));
        let temp = TempFile(Some(temp_path.clone()));
        let mut file = tokio::fs::File::create(&temp_path)
            .await
            .map_err(HostingError::io("cannot create the payload file"))?;
        let mut hashes = Hashes::default();
        while let Some(chunk) = field.chunk().await.map_err(bad_body)? {
            if hashes.size + chunk.len() as u64 > state.options.max_upload_size {
                return Err(HostingError::TooLarge(state.options.max_upload_size));
            }
            hashes.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(HostingError::io("cannot write the payload"))?;
        }
        file.sync_all()
            .await
            .map_err(HostingError::io("cannot write the payload"))?;
        drop(file);
        // The rest of the body is read before the payload is placed: a body that fails
        // at its end (a Hawk payload hash that does not match) keeps nothing.
        drop(field);
        while multipart.next_field().await.map_err(bad_body)?.is_some() {}
        let sums = hashes.finish();
        let (size, sha1, sha256) = sums.clone();
        if size == 0 {
            return Err(HostingError::Invalid(format!(
                "{name} is empty: update_engine refuses an empty payload"
            )));
        }
        let config = state.admin.store.load_config().await?;
        // The packages this payload is for: the one named, or those waiting for it.
        let targets: Vec<crate::store::PackageRecord> = if query.app_id.is_empty() {
            config
                .packages
                .into_iter()
                .filter(|p| awaits(p, size, &sha256))
                .collect()
        } else {
            let app = state
                .admin
                .app(&query.app_id)
                .await
                .map_err(|e| HostingError::NotFound(e.to_string()))?;
            // An extra file of the version's default package (`oem-qemu.gz`) goes beside
            // its payload, and must be the file registered.
            let extra_file = config.package_files.iter().find(|f| {
                f.app_id == app.id && f.version == query.version && f.arch == arch && f.name == name
            });
            if let Some(file) = extra_file
                && (file.size != size || file.sha256 != sha256)
            {
                return Err(HostingError::Conflict(format!(
                    "file {name} of package {} of app {} was registered with another size or SHA-256",
                    file.version, app.id
                )));
            }
            // A package for an architecture always has its URL: only the default package
            // waits for its payload.
            let registered = config
                .packages
                .into_iter()
                .find(|p| p.app_id == app.id && p.version == query.version)
                .filter(|_| extra_file.is_none() && arch.is_empty());
            if let Some(package) = &registered
                && package.url.is_empty()
                && !awaits(package, size, &sha256)
            {
                return Err(HostingError::Conflict(format!(
                    "package {} of app {} was registered with another size or SHA-256 than {name}'s",
                    package.version, app.id
                )));
            }
            let (target, url) =
                hosted_location(&state.options, &app.id, &query.version, &arch, &name);
            place(&temp_path, &target, &sums, &name).await?;
            let mut filled = Vec::new();
            if let Some(mut package) = registered.filter(|p| p.url.is_empty()) {
                package.url = url.clone();
                filled.push(package);
            }
            state.record(&actor, &name, size, &url, &filled).await?;
            return Ok(Json(UploadedPayload {
                name,
                size,
                sha1_sum: sha1,
                sha256_sum: sha256,
                url,
            }));
        };
        let mut url = String::new();
        let mut filled = Vec::new();
        for mut package in targets {
            let target = dir.join(&package.app_id).join(&package.version).join(&name);
            place(&temp_path, &target, &sums, &name).await?;
            package.url = hosted_url(
                &state.options.base_url,
                &package.app_id,
                &package.version,
                &name,
            );
            if url.is_empty() {
                url = package.url.clone();
            }
            filled.push(package);
        }
        if filled.is_empty() {
            place(&temp_path, &dir.join(&name), &sums, &name).await?;
            url = format!(
                "{}/{PACKAGES_DIR}/{}",
                state.options.base_url,
                encode_segment(&name)
            );
        }
        // The temporary name goes with the guard.
        drop(temp);
        state.record(&actor, &name, size, &url, &filled).await?;
        return Ok(Json(UploadedPayload {
            name,
            size,
            sha1_sum: sha1,
            sha256_sum: sha256,
            url,
        }));
    }
    Err(HostingError::Invalid(
        "the multipart body has no part named \"file\"".into(),
    ))
}

impl Hosting {
    /// Gives the packages that waited for a payload its URL, and logs the upload.
    async fn record(
        &self,
        actor: &Actor,
        name: &str,
        size: u64,
        url: &str,
        filled: &[crate::store::PackageRecord],
    ) -> Result<(), HostingError> {
        for package in filled {
            self.admin.store.put_package(package).await?;
        }
        if !filled.is_empty() {
            self.admin.refreshed().await;
        }
        self.admin
            .log(
                actor,
                "package.upload",
                "",
                "",
                format!("payload {name} ({size} bytes) at {url}"),
            )
            .await;
        for package in filled {
            let changes = vec![crate::changes::field(
                "url",
                Some(""),
                Some(&crate::changes::without_credentials(url)),
            )];
            self.admin
                .log_changes(
                    actor,
                    "package.payload",
                    &package.app_id,
                    "",
                    format!("package {} has its payload at {url}", package.version),
                    changes,
                )
                .await;
        }
        Ok(())
    }
}

/// A byte range of a file of length `len`, as a `Range` header asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable `Range` header: the whole file.
    Full,
    /// Bytes `start..=end`.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// A range that does not overlap the file: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header for a file of `len` bytes: one range of `bytes=a-b`,
/// `bytes=a-` or `bytes=-n`. Several ranges or a malformed header are ignored (the whole
/// file is sent), as RFC 9110 allows.
pub fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    if first.is_empty() {
        // A suffix: the last n bytes.
        return match number(last) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial {
                start: len.saturating_sub(n),
                end: len - 1,
            },
        };
    }
    let Some(start) = number(first) else {
        return RangeRequest::Full;
    };
    let end = if last.is_empty() {
        None
    } else {
        match number(last) {
            Some(end) if end >= start => Some(end),
            _ => return RangeRequest::Full,
        }
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial {
        start,
        end: end.map_or(len - 1, |e| e.min(len - 1)),
    }
}

/// `GET /packages/{name}`: a payload stored flat (uploads that name no package, and every
/// payload of earlier versions).
async fn download(
    State(state): State<Hosting>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HostingError> {
    if !valid_name(&name) {
        return Err(HostingError::NotFound(format!("payload {name} not found")));
    }
    if let Some(payload) = name.strip_suffix(".sig")
        && let Some(signature) = signature_of(&state, None, payload)
    {
        return Ok(signature_response(signature));
    }
    let path = state.options.dir.join(&name);
    serve(&path, &name, &headers).await
}

/// `GET /packages/{app}/{version}/{name}`: the payload of one app's version.
async fn download_hosted(
    State(state): State<Hosting>,
    Path((app, version, name)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, HostingError> {
    if ![&app, &version, &name].into_iter().all(|n| valid_name(n)) {
        return Err(HostingError::NotFound(format!("payload {name} not found")));
    }
    if let Some(payload) = name.strip_suffix(".sig")
        && let Some(signature) = signature_of(&state, Some((&app, &version)), payload)
    {
        return Ok(signature_response(signature));
    }
    let path = state.options.dir.join(&app).join(&version).join(&name);
    serve(&path, &name, &headers).await
}

/// `GET /packages/{app}/{version}/{arch}/{name}`: a file of the package of one app's
/// version for an architecture.
async fn download_hosted_arch(
    State(state): State<Hosting>,
    Path((app, version, arch, name)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, HostingError> {
    if ![&app, &version, &arch, &name]
        .into_iter()
        .all(|n| valid_name(n))
    {
        return Err(HostingError::NotFound(format!("payload {name} not found")));
    }
    let path = state
        .options
        .dir
        .join(&app)
        .join(&version)
        .join(&arch)
        .join(&name);
    serve(&path, &name, &headers).await
}

fn signature_response(signature: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        signature,
    )
        .into_response()
}

/// Serves the file at `path` (named `name` in errors), honouring `Range` and `If-Range`.
async fn serve(path: &FsPath, name: &str, headers: &HeaderMap) -> Result<Response, HostingError> {
    let not_found = || HostingError::NotFound(format!("payload {name} not found"));
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(err) => {
            return Err(HostingError::Io {
                what: format!("cannot open {}", path.display()),
                source: err,
            });
        }
    };
    let meta = file
        .metadata()
        .await
        .map_err(HostingError::io(format!("cannot read {}", path.display())))?;
    if !meta.is_file() {
        return Err(not_found());
    }
    let len = meta.len();
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let etag = format!("\"{len:x}-{modified:x}\"");
    // If-Range: a range only of the same file, else the whole of it.
    let same_file = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = if same_file {
        parse_range(
            headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
            len,
        )
    } else {
        RangeRequest::Full
    };
    let mut response = match range {
        RangeRequest::Unsatisfiable => {
            let mut response = error_response(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "rangeNotSatisfiable",
                format!("the range is outside the payload's {len} bytes"),
            );
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
        RangeRequest::Full => {
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
            let mut response = Response::new(body);
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            response
        }
        RangeRequest::Partial { start, end } => {
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(HostingError::io(format!("cannot read {}", path.display())))?;
            let count = end - start + 1;
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(count)));
            let mut response = Response::new(body);
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                headers.insert(header::CONTENT_RANGE, value);
            }
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    Ok(response)
}

/// The signature of the package whose URL ends in `payload` (of `app`'s `version` when
/// given), if it has one, from the in-memory configuration cache: a request for a missing
/// signature costs no store read.
fn signature_of(state: &Hosting, package: Option<(&str, &str)>, payload: &str) -> Option<String> {
    let snapshot = state.admin.cache.snapshot();
    snapshot
        .apps
        .values()
        .flat_map(|app| app.packages.values())
        .map(|p| &p.record)
        .filter(|p| package.is_none_or(|(app, version)| p.app_id == app && p.version == version))
        .filter(|p| !p.signature.is_empty() && url_file_name(&p.url) == payload)
        .max_by_key(|p| p.created_at)
        .map(|p| p.signature.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(
            parse_range(Some("bytes=0-3"), 10),
            Partial { start: 0, end: 3 }
        );
        assert_eq!(
            parse_range(Some("bytes=4-"), 10),
            Partial { start: 4, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-3"), 10),
            Partial { start: 7, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=-30"), 10),
            Partial { start: 0, end: 9 }
        );
        assert_eq!(
            parse_range(Some("bytes=5-100"), 10),
            Partial { start: 5, end: 9 }
        );
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-2"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), Full);
    }

    #[test]
    fn names_are_plain_file_names() {
        assert!(valid_name("flatcar_production_update.gz"));
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "a\\b",
            ".hidden",
            "a\0b",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert_eq!(url_file_name("http://h/p/update.gz?x=1"), "update.gz");
        assert_eq!(url_file_name("http://h/p/update.gz"), "update.gz");
    }
}
