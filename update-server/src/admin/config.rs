//! Configuration endpoints: apps, packages, channels, groups, timed rollouts and the graphs.

use crate::changes::diff;
use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::policy::{AutoPauseDoc, FrameDoc, GroupPolicy, MaintenanceDoc, WindowDoc};
use crate::store::{
    AppRecord, ArchPackageRecord, ChannelRecord, GroupRecord, PackageRecord, ROLLUP_RESOLUTIONS,
    RollupKind, canonical_app_id,
};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

// ----- apps -----

pub(crate) fn app_json(record: &AppRecord) -> api::App {
    api::App {
        id: record.id.clone(),
        label: record.label.clone(),
        description: record.description.clone(),
        hash_sha256: if record.hash_sha256 == HASH_BASE64 {
            HASH_BASE64.to_owned()
        } else {
            String::new()
        },
    }
}

const HASH_HEX: &str = "hex";
const HASH_BASE64: &str = "base64";

/// The `hashSha256` of an app body: `hex` or `base64`; empty gives `current`.
fn hash_sha256_of(body: &str, current: &str) -> Result<String, ApiError> {
    match body.trim() {
        "" => Ok(current.to_owned()),
        HASH_HEX => Ok(HASH_HEX.to_owned()),
        HASH_BASE64 => Ok(HASH_BASE64.to_owned()),
        other => Err(ApiError::Invalid(format!(
            "hashSha256 {other:?} must be \"hex\" or \"base64\""
        ))),
    }
}

/// `GET apps`: the apps the principal may see (every app, or those of its scope).
pub(super) async fn list_apps(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
) -> ApiResult<api::AppList> {
    let config = state.store.load_config().await?;
    Ok(Json(api::AppList {
        items: config
            .apps
            .iter()
            .filter(|a| actor.0.may_see_app(&a.id))
            .map(app_json)
            .collect(),
    }))
}

pub(super) async fn create_app(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Json(body): Json<api::App>,
) -> ApiResult<api::App> {
    let id = if body.id.trim().is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        canonical_app_id(&body.id)
    };
    let record = AppRecord {
        id,
        hash_sha256: hash_sha256_of(&body.hash_sha256, HASH_HEX)?,
        label: body.label,
        description: body.description,
        created_at: state.now_ms(),
    };
    state.store.create_app(&record).await?;
    state.refreshed().await;
    let detail = format!("created app {}", record.label);
    let changes = diff(None, Some(&app_json(&record)));
    state
        .log_changes(&actor, "app.create", &record.id, "", detail, changes)
        .await;
    Ok(Json(app_json(&record)))
}

pub(super) async fn get_app(
    State(state): State<AdminState>,
    Path(app): Path<String>,
) -> ApiResult<api::App> {
    Ok(Json(app_json(&state.app(&app).await?)))
}

pub(super) async fn update_app(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    Json(body): Json<api::App>,
) -> ApiResult<api::App> {
    let mut record = state.app(&app).await?;
    let before = app_json(&record);
    record.hash_sha256 = hash_sha256_of(&body.hash_sha256, &record.hash_sha256)?;
    record.label = body.label;
    record.description = body.description;
    state.store.update_app(&record).await?;
    state.refreshed().await;
    let detail = format!("updated app {}", record.label);
    let changes = diff(Some(&before), Some(&app_json(&record)));
    state
        .log_changes(&actor, "app.update", &record.id, "", detail, changes)
        .await;
    Ok(Json(app_json(&record)))
}

pub(super) async fn delete_app(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
) -> ApiResult<api::App> {
    let record = state.app(&app).await?;
    state.store.delete_app(&record.id).await?;
    state.refreshed().await;
    let detail = format!("deleted app {}", record.label);
    let changes = diff(Some(&app_json(&record)), None);
    state
        .log_changes(&actor, "app.delete", &record.id, "", detail, changes)
        .await;
    Ok(Json(app_json(&record)))
}

// ----- packages -----

/// The JSON of a package.
pub(crate) fn package_json(p: &PackageRecord) -> api::Package {
    api::Package {
        app_id: p.app_id.clone(),
        version: p.version.clone(),
        url: p.url.clone(),
        size: p.size.to_string(),
        sha1_sum: p.sha1.clone(),
        sha256_sum: p.sha256.clone(),
        metadata_size: p.metadata_size.clone(),
        metadata_signature_rsa: p.metadata_signature_rsa.clone(),
        signature: p.signature.clone(),
        release_notes: p.release_notes.clone(),
        required: p.required,
        date_created: rfc3339(p.created_at),
        payload_missing: p.url.is_empty(),
        arch: String::new(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PackageQuery {
    limit: Option<i64>,
    skip: Option<i64>,
    version: Option<String>,
}

fn newest_first(a: &PackageRecord, b: &PackageRecord) -> std::cmp::Ordering {
    match (
        rollout_core::Version::parse(&a.version),
        rollout_core::Version::parse(&b.version),
    ) {
        (Ok(va), Ok(vb)) => vb.cmp(&va),
        _ => b.version.cmp(&a.version),
    }
}

pub(super) async fn list_packages(
    State(state): State<AdminState>,
    Path(app): Path<String>,
    Query(query): Query<PackageQuery>,
) -> ApiResult<api::PackageList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let mut packages: Vec<&PackageRecord> = config
        .packages
        .iter()
        .filter(|p| p.app_id == app.id)
        .filter(|p| {
            query
                .version
                .as_ref()
                .is_none_or(|v| v.is_empty() || &p.version == v)
        })
        .collect();
    packages.sort_by(|a, b| newest_first(a, b));
    let total = i64::try_from(packages.len()).unwrap_or(i64::MAX);
    let skip = usize::try_from(query.skip.unwrap_or(0)).unwrap_or(0);
    let limit = query
        .limit
        .filter(|l| *l > 0)
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(usize::MAX);
    Ok(Json(api::PackageList {
        items: packages
            .into_iter()
            .skip(skip)
            .take(limit)
            .map(package_json)
            .collect(),
        total,
    }))
}

/// An empty digest is allowed (unknown); a given one must be base64 of the right length.
fn check_digest(field: &str, text: &str, len: usize) -> Result<(), ApiError> {
    use base64::Engine as _;
    if text.is_empty() {
        return Ok(());
    }
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(bytes) if bytes.len() == len => Ok(()),
        _ => Err(ApiError::Invalid(format!(
            "{field} must be the standard base64 of a {len}-byte digest"
        ))),
    }
}

/// Checks a package body for `version` and turns it into a record. A package with a URL
/// must have a size above 0, a SHA-256 and a URL that ends in a file name (update_engine
/// refuses anything else, error 34). A package without a URL is registered for the
/// server's own hosting: its payload is missing until `POST /package-upload` provides it,
/// and no instance is offered it meanwhile.
fn package_record(
    app: &AppRecord,
    version: String,
    body: api::Package,
    created_at: i64,
) -> Result<PackageRecord, ApiError> {
    rollout_core::Version::parse(&version)
        .map_err(|e| ApiError::Invalid(format!("version {version:?}: {e}")))?;
    let size: u64 = if body.size.trim().is_empty() {
        0
    } else {
        body.size
            .trim()
            .parse()
            .map_err(|_| ApiError::Invalid(format!("size {:?} is not a byte count", body.size)))?
    };
    check_digest("sha1Sum", &body.sha1_sum, 20)?;
    check_digest("sha256Sum", &body.sha256_sum, 32)?;
    let url = body.url.trim().to_owned();
    if !url.is_empty()
        && let Some(problem) = unservable(&url, size, &body.sha256_sum)
    {
        return Err(ApiError::Invalid(format!("package {version}: {problem}")));
    }
    Ok(PackageRecord {
        app_id: app.id.clone(),
        version,
        url,
        size,
        sha1: body.sha1_sum,
        sha256: body.sha256_sum,
        metadata_size: body.metadata_size,
        metadata_signature_rsa: body.metadata_signature_rsa,
        signature: body.signature,
        release_notes: body.release_notes,
        required: body.required,
        created_at,
    })
}

/// Why update_engine could not install a package served from `url` (it answers error 34
/// and the instance stays granted): no size, no SHA-256, or a URL without a file name.
pub(crate) fn unservable(url: &str, size: u64, sha256: &str) -> Option<String> {
    if size == 0 {
        return Some("size must be above 0 (update_engine refuses an empty payload)".into());
    }
    if sha256.is_empty() {
        return Some("sha256Sum is required (update_engine checks the payload against it)".into());
    }
    let name = crate::hosting::url_file_name(url);
    if !(url.starts_with("http://") || url.starts_with("https://")) || name.is_empty() {
        return Some(format!(
            "url {url:?} must be an http(s) URL that ends in a file name"
        ));
    }
    None
}

fn package_detail(record: &PackageRecord) -> String {
    if record.url.is_empty() {
        format!(
            "package {} for the server's hosting (payload missing)",
            record.version
        )
    } else {
        format!("package {} at {}", record.version, record.url)
    }
}

/// `POST apps/{app}/packages/{version}`: a new package. An existing version is a conflict:
/// `PATCH` on the same path changes it.
pub(super) async fn create_package(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, version)): Path<(String, String)>,
    Json(body): Json<api::Package>,
) -> ApiResult<api::Package> {
    let app = state.app(&app).await?;
    let record = package_record(&app, version, body, state.now_ms())?;
    let config = state.store.load_config().await?;
    if config
        .packages
        .iter()
        .any(|p| p.app_id == app.id && p.version == record.version)
    {
        return Err(ApiError::Conflict(format!(
            "package {} of app {} exists already; change it with PATCH apps/{}/packages/{} \
             (updatectl package create --replace)",
            record.version, app.id, app.id, record.version
        )));
    }
    state.store.put_package(&record).await?;
    state.refreshed().await;
    let changes = diff(None, Some(&package_json(&record)));
    state
        .log_changes(
            &actor,
            "package.create",
            &app.id,
            "",
            package_detail(&record),
            changes,
        )
        .await;
    Ok(Json(package_json(&record)))
}

/// `PATCH apps/{app}/packages/{version}`: replaces an existing package (the whole object,
/// as `POST` takes it); its creation time stays.
pub(crate) async fn update_package(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, version)): Path<(String, String)>,
    Json(body): Json<api::Package>,
) -> ApiResult<api::Package> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let existing = config
        .packages
        .iter()
        .find(|p| p.app_id == app.id && p.version == version)
        .ok_or_else(|| ApiError::NotFound(format!("package {version} not found")))?;
    let record = package_record(&app, version, body, existing.created_at)?;
    let changes = diff(Some(&package_json(existing)), Some(&package_json(&record)));
    state.store.put_package(&record).await?;
    state.refreshed().await;
    state
        .log_changes(
            &actor,
            "package.update",
            &app.id,
            "",
            package_detail(&record),
            changes,
        )
        .await;
    Ok(Json(package_json(&record)))
}

pub(super) async fn delete_package(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, version)): Path<(String, String)>,
) -> ApiResult<api::Package> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let record = config
        .packages
        .into_iter()
        .find(|p| p.app_id == app.id && p.version == version)
        .ok_or_else(|| ApiError::NotFound(format!("package {version} not found")))?;
    let users: Vec<&str> = config
        .channels
        .iter()
        .filter(|c| c.app_id == app.id && c.version == version)
        .map(|c| c.name.as_str())
        .collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "package {version} is in use by channel(s) {}: point them at another version first",
            users.join(", ")
        )));
    }
    state.store.delete_package(&app.id, &version).await?;
    state.refreshed().await;
    let detail = format!("package {version}");
    let changes = diff(Some(&package_json(&record)), None);
    state
        .log_changes(&actor, "package.delete", &app.id, "", detail, changes)
        .await;
    Ok(Json(package_json(&record)))
}

// ----- packages for named architectures -----

/// The JSON of a version's package for a named architecture.
fn arch_package_json(record: &ArchPackageRecord) -> api::Package {
    api::Package {
        arch: record.arch.clone(),
        ..package_json(&record.package)
    }
}

fn arch_of_path(arch: &str) -> Result<rollout_core::Arch, ApiError> {
    rollout_core::Arch::parse(arch)
        .map_err(|e| ApiError::Invalid(format!("architecture {arch:?}: {e}")))
}

/// The default package of `version` of `app`, which a package for a named architecture
/// belongs to.
fn default_package<'a>(
    config: &'a crate::store::ConfigSnapshot,
    app: &AppRecord,
    version: &str,
) -> Result<&'a PackageRecord, ApiError> {
    config
        .packages
        .iter()
        .find(|p| p.app_id == app.id && p.version == version)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "package {version} not found: register the version's default package first"
            ))
        })
}

/// `GET apps/{app}/packages/{version}/arches`: the version's packages for named
/// architectures, by architecture.
pub(super) async fn list_arch_packages(
    State(state): State<AdminState>,
    Path((app, version)): Path<(String, String)>,
) -> ApiResult<api::PackageList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    default_package(&config, &app, &version)?;
    let items: Vec<api::Package> = config
        .arch_packages
        .iter()
        .filter(|p| p.package.app_id == app.id && p.package.version == version)
        .map(arch_package_json)
        .collect();
    Ok(Json(api::PackageList {
        total: i64::try_from(items.len()).unwrap_or(i64::MAX),
        items,
    }))
}

/// `PUT apps/{app}/packages/{version}/arches/{arch}`: creates or replaces the version's
/// package for architecture `arch` (the body as `POST apps/{app}/packages/{version}` takes
/// it). It needs a URL: the server's own hosting names default packages only.
pub(super) async fn put_arch_package(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, version, arch)): Path<(String, String, String)>,
    Json(body): Json<api::Package>,
) -> ApiResult<api::Package> {
    let arch = arch_of_path(&arch)?;
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    default_package(&config, &app, &version)?;
    if body.url.trim().is_empty() {
        return Err(ApiError::Invalid(format!(
            "the {arch} package of {version} needs a url (size above 0, sha256Sum, a URL \
             ending in a file name)"
        )));
    }
    let existing = config.arch_packages.iter().find(|p| {
        p.package.app_id == app.id && p.package.version == version && p.arch == arch.as_str()
    });
    let created_at = existing.map_or_else(|| state.now_ms(), |p| p.package.created_at);
    let before = existing.map(arch_package_json);
    let record = ArchPackageRecord {
        arch: arch.as_str().to_owned(),
        package: package_record(&app, version, body, created_at)?,
    };
    state.store.put_arch_package(&record).await?;
    state.refreshed().await;
    let detail = format!(
        "{} package {} at {}",
        record.arch, record.package.version, record.package.url
    );
    let changes = diff(before.as_ref(), Some(&arch_package_json(&record)));
    state
        .log_changes(&actor, "package.arch.put", &app.id, "", detail, changes)
        .await;
    Ok(Json(arch_package_json(&record)))
}

/// `DELETE apps/{app}/packages/{version}/arches/{arch}`: deletes the version's package for
/// architecture `arch`; instances of that architecture get the default package again.
pub(super) async fn delete_arch_package(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, version, arch)): Path<(String, String, String)>,
) -> ApiResult<api::Package> {
    let arch = arch_of_path(&arch)?;
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let record = config
        .arch_packages
        .iter()
        .find(|p| {
            p.package.app_id == app.id && p.package.version == version && p.arch == arch.as_str()
        })
        .ok_or_else(|| ApiError::NotFound(format!("{arch} package {version} not found")))?;
    state
        .store
        .delete_arch_package(&app.id, &version, arch.as_str())
        .await?;
    state.refreshed().await;
    let detail = format!("{arch} package {version}");
    let changes = diff(Some(&arch_package_json(record)), None);
    state
        .log_changes(&actor, "package.arch.delete", &app.id, "", detail, changes)
        .await;
    Ok(Json(arch_package_json(record)))
}

// ----- a package's extra files -----

/// The most extra files one package lists (Flatcar ships one per OEM and extension, a few
/// dozen at most); each is a `<package>` in every answer offering the package.
pub const MAX_FILES_PER_PACKAGE: usize = 64;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ArchQuery {
    arch: String,
}

/// The package of `version` that `arch` names (the default package when empty): its
/// canonical architecture (empty for the default) and its URL.
fn package_of_query(
    config: &crate::store::ConfigSnapshot,
    app: &AppRecord,
    version: &str,
    arch: &str,
) -> Result<(String, String), ApiError> {
    let default = default_package(config, app, version)?;
    if arch.trim().is_empty() {
        return Ok((String::new(), default.url.clone()));
    }
    let arch = arch_of_path(arch)?;
    config
        .arch_packages
        .iter()
        .find(|p| {
            p.package.app_id == app.id && p.package.version == version && p.arch == arch.as_str()
        })
        .map(|p| (p.arch.clone(), p.package.url.clone()))
        .ok_or_else(|| ApiError::NotFound(format!("{arch} package {version} not found")))
}

fn file_json(record: &crate::store::PackageFileRecord, package_url: &str) -> api::PackageFile {
    let url = if package_url.is_empty() {
        String::new()
    } else {
        let (codebase, _) = crate::protocol::split_url(package_url);
        format!("{codebase}{}", crate::hosting::encode_segment(&record.name))
    };
    api::PackageFile {
        app_id: record.app_id.clone(),
        version: record.version.clone(),
        arch: record.arch.clone(),
        name: record.name.clone(),
        size: record.size.to_string(),
        sha1_sum: record.sha1.clone(),
        sha256_sum: record.sha256.clone(),
        url,
        date_created: rfc3339(record.created_at),
    }
}

/// `GET apps/{app}/packages/{version}/files?arch=`: a package's extra files, by name.
pub(super) async fn list_package_files(
    State(state): State<AdminState>,
    Path((app, version)): Path<(String, String)>,
    Query(query): Query<ArchQuery>,
) -> ApiResult<api::PackageFileList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let (arch, url) = package_of_query(&config, &app, &version, &query.arch)?;
    let items: Vec<api::PackageFile> = config
        .package_files
        .iter()
        .filter(|f| f.app_id == app.id && f.version == version && f.arch == arch)
        .map(|f| file_json(f, &url))
        .collect();
    Ok(Json(api::PackageFileList {
        total: i64::try_from(items.len()).unwrap_or(i64::MAX),
        items,
    }))
}

/// `PUT apps/{app}/packages/{version}/files/{name}?arch=`: creates or replaces an extra
/// file of a package. It needs a size above 0 and a SHA-256 (Flatcar's postinstall checks
/// both); the file is downloaded from the package's codebase, so it must be there (an
/// upload naming the app and version puts it there for a hosted package).
pub(super) async fn put_package_file(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, version, name)): Path<(String, String, String)>,
    Query(query): Query<ArchQuery>,
    Json(body): Json<api::PackageFile>,
) -> ApiResult<api::PackageFile> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let (arch, url) = package_of_query(&config, &app, &version, &query.arch)?;
    if !crate::hosting::valid_name(&name) {
        return Err(ApiError::Invalid(format!(
            "invalid file name {name:?}: a plain file name is required (no directories, no \
             leading dot)"
        )));
    }
    if !url.is_empty() && crate::hosting::url_file_name(&url) == name {
        return Err(ApiError::Invalid(format!(
            "{name} is the package's payload, not an extra file"
        )));
    }
    let size: u64 = body
        .size
        .trim()
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| {
            ApiError::Invalid(format!("size {:?} must be a byte count above 0", body.size))
        })?;
    if body.sha256_sum.is_empty() {
        return Err(ApiError::Invalid(
            "sha256Sum is required (Flatcar's postinstall checks the file against it)".into(),
        ));
    }
    check_digest("sha1Sum", &body.sha1_sum, 20)?;
    check_digest("sha256Sum", &body.sha256_sum, 32)?;
    let mine = |f: &&crate::store::PackageFileRecord| {
        f.app_id == app.id && f.version == version && f.arch == arch
    };
    let existing = config
        .package_files
        .iter()
        .filter(mine)
        .find(|f| f.name == name);
    if existing.is_none()
        && config.package_files.iter().filter(mine).count() >= MAX_FILES_PER_PACKAGE
    {
        return Err(ApiError::Conflict(format!(
            "package {version} has {MAX_FILES_PER_PACKAGE} extra files already, the most one \
             package lists"
        )));
    }
    let record = crate::store::PackageFileRecord {
        app_id: app.id.clone(),
        version: version.clone(),
        arch,
        name,
        size,
        sha1: body.sha1_sum,
        sha256: body.sha256_sum,
        created_at: existing.map_or_else(|| state.now_ms(), |f| f.created_at),
    };
    state.store.put_package_file(&record).await?;
    state.refreshed().await;
    let detail = format!(
        "file {} ({} bytes) of {}package {}",
        record.name,
        record.size,
        if record.arch.is_empty() {
            String::new()
        } else {
            format!("{} ", record.arch)
        },
        record.version
    );
    let changes = diff(
        existing.map(|f| file_json(f, &url)).as_ref(),
        Some(&file_json(&record, &url)),
    );
    state
        .log_changes(&actor, "package.file.put", &app.id, "", detail, changes)
        .await;
    Ok(Json(file_json(&record, &url)))
}

/// `DELETE apps/{app}/packages/{version}/files/{name}?arch=`: deletes an extra file of a
/// package (the answer stops listing it; a hosted copy stays on disk).
pub(super) async fn delete_package_file(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, version, name)): Path<(String, String, String)>,
    Query(query): Query<ArchQuery>,
) -> ApiResult<api::PackageFile> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let (arch, url) = package_of_query(&config, &app, &version, &query.arch)?;
    let record = config
        .package_files
        .iter()
        .find(|f| f.app_id == app.id && f.version == version && f.arch == arch && f.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("file {name} of package {version} not found")))?;
    state
        .store
        .delete_package_file(&app.id, &version, &arch, &name)
        .await?;
    state.refreshed().await;
    let detail = format!("file {name} of package {version}");
    let changes = diff(Some(&file_json(record, &url)), None);
    state
        .log_changes(&actor, "package.file.delete", &app.id, "", detail, changes)
        .await;
    Ok(Json(file_json(record, &url)))
}

// ----- a channel's floors and blacklist -----

/// The most floors one channel has (a multi-manifest answer lists every floor on the way).
pub const MAX_FLOORS_PER_CHANNEL: usize = 100;

/// The longest floor reason accepted, in bytes.
pub const MAX_FLOOR_REASON: usize = 512;

fn same_version(a: &str, b: &str) -> bool {
    match (
        rollout_core::Version::parse(a),
        rollout_core::Version::parse(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Whether `version` is blacklisted on channel `channel` of app `app_id`.
fn blacklisted(
    config: &crate::store::ConfigSnapshot,
    app_id: &str,
    channel: &str,
    version: &str,
) -> bool {
    !version.is_empty()
        && config.blacklist.iter().any(|b| {
            b.app_id == app_id && b.channel == channel && same_version(&b.version, version)
        })
}

/// The channel `label` of `app` (404 when it does not exist) and the version in the path,
/// checked.
fn channel_and_version<'a>(
    config: &'a crate::store::ConfigSnapshot,
    app: &AppRecord,
    label: &str,
    version: &str,
) -> Result<&'a ChannelRecord, ApiError> {
    rollout_core::Version::parse(version)
        .map_err(|e| ApiError::Invalid(format!("version {version:?}: {e}")))?;
    config
        .channels
        .iter()
        .find(|c| c.app_id == app.id && c.name == label)
        .ok_or_else(|| ApiError::NotFound(format!("channel {label} not found")))
}

fn floor_json(record: &crate::store::FloorRecord) -> api::ChannelFloor {
    api::ChannelFloor {
        app_id: record.app_id.clone(),
        channel: record.channel.clone(),
        arch: record.arch.clone(),
        version: record.version.clone(),
        reason: record.reason.clone(),
        date_created: rfc3339(record.created_at),
    }
}

fn blacklisted_json(record: &crate::store::BlacklistRecord) -> api::BlacklistedVersion {
    api::BlacklistedVersion {
        app_id: record.app_id.clone(),
        channel: record.channel.clone(),
        version: record.version.clone(),
        date_created: rfc3339(record.created_at),
    }
}

fn by_version(a: &str, b: &str) -> std::cmp::Ordering {
    match (
        rollout_core::Version::parse(a),
        rollout_core::Version::parse(b),
    ) {
        (Ok(va), Ok(vb)) => va.cmp(&vb),
        _ => a.cmp(b),
    }
}

/// `GET apps/{app}/channels/{label}/floors`: the channel's floors, lowest first.
pub(super) async fn list_floors(
    State(state): State<AdminState>,
    Path((app, label)): Path<(String, String)>,
) -> ApiResult<api::ChannelFloorList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    if !config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == label)
    {
        return Err(ApiError::NotFound(format!("channel {label} not found")));
    }
    let mut floors: Vec<&crate::store::FloorRecord> = config
        .floors
        .iter()
        .filter(|f| f.app_id == app.id && f.channel == label)
        .collect();
    floors.sort_by(|a, b| by_version(&a.version, &b.version).then(a.arch.cmp(&b.arch)));
    Ok(Json(api::ChannelFloorList {
        total: i64::try_from(floors.len()).unwrap_or(i64::MAX),
        items: floors.into_iter().map(floor_json).collect(),
    }))
}

/// `PUT apps/{app}/channels/{label}/floors/{version}?arch=`: makes `version` a floor of the
/// channel (for every architecture, or for `arch`), with the body's reason. A blacklisted
/// version cannot be a floor. A floor without a package holds its instances back (they
/// are never offered a later version) until the package exists.
pub(super) async fn put_floor(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label, version)): Path<(String, String, String)>,
    Query(query): Query<ArchQuery>,
    Json(body): Json<api::ChannelFloor>,
) -> ApiResult<api::ChannelFloor> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    channel_and_version(&config, &app, &label, &version)?;
    let arch = if query.arch.trim().is_empty() {
        String::new()
    } else {
        arch_of_path(&query.arch)?.as_str().to_owned()
    };
    let reason = body.reason.trim().to_owned();
    if reason.len() > MAX_FLOOR_REASON || reason.chars().any(char::is_control) {
        return Err(ApiError::Invalid(format!(
            "the reason must be at most {MAX_FLOOR_REASON} bytes without control characters"
        )));
    }
    if blacklisted(&config, &app.id, &label, &version) {
        return Err(ApiError::Conflict(format!(
            "version {version} is blacklisted on channel {label}: a floor cannot be blacklisted"
        )));
    }
    let on_channel: Vec<&crate::store::FloorRecord> = config
        .floors
        .iter()
        .filter(|f| f.app_id == app.id && f.channel == label)
        .collect();
    let existing = on_channel
        .iter()
        .find(|f| f.arch == arch && f.version == version);
    if existing.is_none() && on_channel.len() >= MAX_FLOORS_PER_CHANNEL {
        return Err(ApiError::Conflict(format!(
            "channel {label} has {MAX_FLOORS_PER_CHANNEL} floors already, the most one channel has"
        )));
    }
    let record = crate::store::FloorRecord {
        app_id: app.id.clone(),
        channel: label.clone(),
        arch,
        version,
        reason,
        created_at: existing.map_or_else(|| state.now_ms(), |f| f.created_at),
    };
    state.store.put_floor(&record).await?;
    state.refreshed().await;
    let detail = format!(
        "floor {}{} of channel {label}: {}",
        record.version,
        if record.arch.is_empty() {
            String::new()
        } else {
            format!(" ({})", record.arch)
        },
        record.reason
    );
    let changes = diff(
        existing.map(|f| floor_json(f)).as_ref(),
        Some(&floor_json(&record)),
    );
    state
        .log_changes(&actor, "channel.floor.put", &app.id, "", detail, changes)
        .await;
    Ok(Json(floor_json(&record)))
}

/// `DELETE apps/{app}/channels/{label}/floors/{version}?arch=`.
pub(super) async fn delete_floor(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label, version)): Path<(String, String, String)>,
    Query(query): Query<ArchQuery>,
) -> ApiResult<api::ChannelFloor> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    channel_and_version(&config, &app, &label, &version)?;
    let arch = if query.arch.trim().is_empty() {
        String::new()
    } else {
        arch_of_path(&query.arch)?.as_str().to_owned()
    };
    let record = config
        .floors
        .iter()
        .find(|f| {
            f.app_id == app.id && f.channel == label && f.arch == arch && f.version == version
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!("floor {version} of channel {label} not found"))
        })?;
    state
        .store
        .delete_floor(&app.id, &label, &arch, &version)
        .await?;
    state.refreshed().await;
    let detail = format!("floor {version} of channel {label}");
    let changes = diff(Some(&floor_json(record)), None);
    state
        .log_changes(&actor, "channel.floor.delete", &app.id, "", detail, changes)
        .await;
    Ok(Json(floor_json(record)))
}

/// `GET apps/{app}/channels/{label}/blacklist`: the versions never offered on the channel.
pub(super) async fn list_blacklist(
    State(state): State<AdminState>,
    Path((app, label)): Path<(String, String)>,
) -> ApiResult<api::BlacklistList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    if !config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == label)
    {
        return Err(ApiError::NotFound(format!("channel {label} not found")));
    }
    let mut items: Vec<&crate::store::BlacklistRecord> = config
        .blacklist
        .iter()
        .filter(|b| b.app_id == app.id && b.channel == label)
        .collect();
    items.sort_by(|a, b| by_version(&a.version, &b.version));
    Ok(Json(api::BlacklistList {
        total: i64::try_from(items.len()).unwrap_or(i64::MAX),
        items: items.into_iter().map(blacklisted_json).collect(),
    }))
}

/// `PUT apps/{app}/channels/{label}/blacklist/{version}`: `version` is never offered on the
/// channel. Refused while the channel points at it or it is one of the channel's floors.
pub(super) async fn put_blacklisted(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label, version)): Path<(String, String, String)>,
) -> ApiResult<api::BlacklistedVersion> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let channel = channel_and_version(&config, &app, &label, &version)?;
    if same_version(&channel.version, &version) {
        return Err(ApiError::Conflict(format!(
            "channel {label} points at {version}: point it at another version first"
        )));
    }
    if config
        .floors
        .iter()
        .any(|f| f.app_id == app.id && f.channel == label && same_version(&f.version, &version))
    {
        return Err(ApiError::Conflict(format!(
            "{version} is a floor of channel {label}: a floor cannot be blacklisted"
        )));
    }
    let existing = config
        .blacklist
        .iter()
        .find(|b| b.app_id == app.id && b.channel == label && b.version == version);
    if config
        .blacklist
        .iter()
        .filter(|b| b.app_id == app.id && b.channel == label)
        .count()
        >= MAX_FLOORS_PER_CHANNEL
        && existing.is_none()
    {
        return Err(ApiError::Conflict(format!(
            "channel {label} has {MAX_FLOORS_PER_CHANNEL} blacklisted versions already"
        )));
    }
    let record = crate::store::BlacklistRecord {
        app_id: app.id.clone(),
        channel: label.clone(),
        version,
        created_at: existing.map_or_else(|| state.now_ms(), |b| b.created_at),
    };
    state.store.put_blacklisted(&record).await?;
    state.refreshed().await;
    let detail = format!("version {} blacklisted on channel {label}", record.version);
    let changes = diff(
        existing.map(blacklisted_json).as_ref(),
        Some(&blacklisted_json(&record)),
    );
    state
        .log_changes(
            &actor,
            "channel.blacklist.put",
            &app.id,
            "",
            detail,
            changes,
        )
        .await;
    Ok(Json(blacklisted_json(&record)))
}

/// `DELETE apps/{app}/channels/{label}/blacklist/{version}`.
pub(super) async fn delete_blacklisted(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label, version)): Path<(String, String, String)>,
) -> ApiResult<api::BlacklistedVersion> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    channel_and_version(&config, &app, &label, &version)?;
    let record = config
        .blacklist
        .iter()
        .find(|b| b.app_id == app.id && b.channel == label && b.version == version)
        .ok_or_else(|| {
            ApiError::NotFound(format!("{version} is not blacklisted on channel {label}"))
        })?;
    state
        .store
        .delete_blacklisted(&app.id, &label, &version)
        .await?;
    state.refreshed().await;
    let detail = format!("version {version} off the blacklist of channel {label}");
    let changes = diff(Some(&blacklisted_json(record)), None);
    state
        .log_changes(
            &actor,
            "channel.blacklist.delete",
            &app.id,
            "",
            detail,
            changes,
        )
        .await;
    Ok(Json(blacklisted_json(record)))
}

/// `GET public/packages`: the packages published channels point at, per app.
pub(super) async fn public_packages(
    State(state): State<AdminState>,
) -> ApiResult<api::PublicPackageList> {
    let config = state.store.load_config().await?;
    let mut items = Vec::new();
    for app in &config.apps {
        let published: Vec<&str> = config
            .channels
            .iter()
            .filter(|c| c.app_id == app.id && c.publish)
            .map(|c| c.version.as_str())
            .collect();
        let packages: Vec<api::Package> = config
            .packages
            .iter()
            .filter(|p| p.app_id == app.id && published.contains(&p.version.as_str()))
            .map(package_json)
            .collect();
        if !packages.is_empty() {
            items.push(api::PublicPackageItem {
                app_id: app.id.clone(),
                packages,
            });
        }
    }
    Ok(Json(api::PublicPackageList { items }))
}

// ----- channels -----

/// Whether a channel points at a version that has no package with a payload.
fn package_missing(c: &ChannelRecord, packages: &[PackageRecord]) -> bool {
    !c.version.is_empty()
        && !packages
            .iter()
            .any(|p| p.app_id == c.app_id && p.version == c.version && !p.url.is_empty())
}

pub(crate) fn channel_json(c: &ChannelRecord, packages: &[PackageRecord]) -> api::AppChannel {
    api::AppChannel {
        package_missing: package_missing(c, packages),
        app_id: c.app_id.clone(),
        label: c.name.clone(),
        version: c.version.clone(),
        publish: c.publish,
        upstream: c.upstream.clone(),
        date_created: rfc3339(c.created_at),
    }
}

/// `GET public/channels`: the published channels.
pub(super) async fn public_channels(
    State(state): State<AdminState>,
) -> ApiResult<api::ChannelList> {
    let config = state.store.load_config().await?;
    Ok(Json(api::ChannelList {
        items: config
            .channels
            .iter()
            .filter(|c| c.publish)
            .map(|c| channel_json(c, &config.packages))
            .collect(),
    }))
}

pub(super) async fn list_channels(
    State(state): State<AdminState>,
    Path(app): Path<String>,
) -> ApiResult<api::ChannelList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    Ok(Json(api::ChannelList {
        items: config
            .channels
            .iter()
            .filter(|c| c.app_id == app.id)
            .map(|c| channel_json(c, &config.packages))
            .collect(),
    }))
}

pub(super) async fn create_channel(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    Json(body): Json<api::ChannelRequest>,
) -> ApiResult<api::AppChannel> {
    // updateservicectl's `channel create` puts the channel's label where the app id belongs
    // (updateservicectl.md §11.1): when the path names no app, the body's appId does.
    let app = match state.app(&app).await {
        Ok(app) => app,
        Err(ApiError::NotFound(_)) if !body.app_id.is_empty() => state.app(&body.app_id).await?,
        Err(err) => return Err(err),
    };
    if body.label.is_empty() {
        return Err(ApiError::Invalid("label is required".into()));
    }
    let label = body.label.clone();
    let config = state.store.load_config().await?;
    if config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == label)
    {
        return Err(ApiError::Conflict(format!(
            "channel {label} already exists"
        )));
    }
    put_channel(&state, &actor, &app, &label, body, "channel.create").await
}

async fn put_channel(
    state: &AdminState,
    actor: &Actor,
    app: &AppRecord,
    label: &str,
    body: api::ChannelRequest,
    action: &str,
) -> ApiResult<api::AppChannel> {
    if !body.version.is_empty() {
        rollout_core::Version::parse(&body.version)
            .map_err(|e| ApiError::Invalid(format!("version {:?}: {e}", body.version)))?;
    }
    let config = state.store.load_config().await?;
    if blacklisted(&config, &app.id, label, &body.version) {
        return Err(ApiError::Conflict(format!(
            "version {} is blacklisted on channel {label}: take it off the blacklist first",
            body.version
        )));
    }
    let existing = config
        .channels
        .iter()
        .find(|c| c.app_id == app.id && c.name == label);
    let record = ChannelRecord {
        app_id: app.id.clone(),
        name: label.to_owned(),
        version: body.version,
        publish: body.publish,
        upstream: existing.map(|c| c.upstream.clone()).unwrap_or_default(),
        created_at: existing.map_or_else(|| state.now_ms(), |c| c.created_at),
    };
    state.store.put_channel(&record).await?;
    state.refreshed().await;
    let detail = format!("channel {label} at version {}", record.version);
    let changes = diff(
        existing.map(|c| channel_json(c, &config.packages)).as_ref(),
        Some(&channel_json(&record, &config.packages)),
    );
    state
        .log_changes(actor, action, &app.id, "", detail, changes)
        .await;
    Ok(Json(channel_json(&record, &config.packages)))
}

pub(crate) async fn update_channel(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label)): Path<(String, String)>,
    Json(body): Json<api::ChannelRequest>,
) -> ApiResult<api::AppChannel> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    if !config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == label)
    {
        return Err(ApiError::NotFound(format!("channel {label} not found")));
    }
    put_channel(&state, &actor, &app, &label, body, "channel.update").await
}

pub(super) async fn delete_channel(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, label)): Path<(String, String)>,
) -> ApiResult<api::ChannelRequest> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let record = config
        .channels
        .into_iter()
        .find(|c| c.app_id == app.id && c.name == label)
        .ok_or_else(|| ApiError::NotFound(format!("channel {label} not found")))?;
    let users: Vec<&str> = config
        .groups
        .iter()
        .filter(|g| g.app_id == app.id && g.channel == label)
        .map(|g| g.id.as_str())
        .collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "channel {label} is in use by group(s) {}: move them to another channel first",
            users.join(", ")
        )));
    }
    state.store.delete_channel(&app.id, &label).await?;
    state.refreshed().await;
    let changes = diff(Some(&channel_json(&record, &config.packages)), None);
    state
        .log_changes(
            &actor,
            "channel.delete",
            &app.id,
            "",
            format!("channel {label}"),
            changes,
        )
        .await;
    Ok(Json(api::ChannelRequest {
        app_id: record.app_id,
        label: record.name,
        version: record.version,
        publish: record.publish,
    }))
}

// ----- groups -----

fn group_json(state: &AdminState, record: &GroupRecord) -> api::Group {
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    let now = state.clock.now();
    let effective = policy.percent_at(now);
    let (count, percent, window, timeouts) = policy.auto_pause.map_or((0, 0.0, 0, false), |a| {
        (
            i64::from(a.failures_count.unwrap_or(0)),
            a.failures_percent.unwrap_or(0.0),
            i64::from(a.last_attempts),
            a.count_timeouts,
        )
    });
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    api::Group {
        app_id: record.app_id.clone(),
        id: record.id.clone(),
        label: record.label.clone(),
        channel_id: record.channel.clone(),
        updates_paused: policy.paused,
        update_percent: effective,
        rollout_active: policy.rollout_phase(now).is_running(),
        oem_blacklist: policy.oem_blacklist.join(","),
        update_count: i64::from(policy.update_count),
        update_interval: to_i64(policy.update_interval_secs),
        update_pooling: policy.update_pooling,
        max_in_flight: policy.max_in_flight.map_or(0, i64::from),
        update_timeout: policy.update_timeout_secs.map_or(0, to_i64),
        failure_threshold_count: count,
        failure_threshold_percent: percent,
        failure_window: window,
        failure_count_timeouts: timeouts,
        maintenance_time_zone: policy
            .maintenance
            .as_ref()
            .map(|m| m.time_zone.clone())
            .unwrap_or_default(),
        maintenance_windows: policy
            .maintenance
            .as_ref()
            .map(|m| format_windows(&m.windows))
            .unwrap_or_default(),
        allow_downgrade: policy.allow_downgrade,
        retry_delay: to_i64(policy.retry_delay_secs),
        retry_delay_max: to_i64(policy.retry_delay_max_secs),
        auto_paused_at: String::new(),
    }
}

/// What a change of a group changed: the fields of its JSON, and its rollout frames
/// (`rollout`, `percent% for seconds` each) and when the rollout was activated
/// (`rolloutActiveSince`), which the JSON leaves out.
pub(crate) fn group_changes(
    state: &AdminState,
    before: Option<&GroupRecord>,
    after: Option<&GroupRecord>,
) -> Vec<crate::store::ActivityChange> {
    let json = |r: Option<&GroupRecord>| r.map(|r| group_json(state, r));
    let mut changes = diff(json(before).as_ref(), json(after).as_ref());
    let policy =
        |r: Option<&GroupRecord>| r.map(|r| GroupPolicy::from_json(&r.policy).unwrap_or_default());
    let (old, new) = (policy(before), policy(after));
    let frames = |p: &Option<GroupPolicy>| {
        p.as_ref()
            .filter(|p| !p.rollout_frames.is_empty())
            .map(|p| {
                p.rollout_frames
                    .iter()
                    .map(|f| format!("{}% for {}s", f.percent, f.duration_secs))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
    };
    let (old_frames, new_frames) = (frames(&old), frames(&new));
    if old_frames != new_frames {
        changes.push(crate::changes::field(
            "rollout",
            old_frames.as_deref(),
            new_frames.as_deref(),
        ));
    }
    let since =
        |p: &Option<GroupPolicy>| p.as_ref().and_then(|p| p.rollout_active_since).map(rfc3339);
    let (old_since, new_since) = (since(&old), since(&new));
    if old_since != new_since {
        changes.push(crate::changes::field(
            "rolloutActiveSince",
            old_since.as_deref(),
            new_since.as_deref(),
        ));
    }
    changes
}

/// [`group_json`] with `autoPausedAt` filled in from the group's rollout state.
async fn group_json_with_state(
    state: &AdminState,
    record: &GroupRecord,
) -> Result<api::Group, ApiError> {
    let mut json = group_json(state, record);
    json.auto_paused_at =
        crate::writer::auto_paused_at(state.store.as_ref(), &record.app_id, &record.id)
            .await?
            .map(rfc3339)
            .unwrap_or_default();
    Ok(json)
}

/// `mon,tue 02-05; sat 00-24`.
pub(crate) fn format_windows(windows: &[WindowDoc]) -> String {
    windows
        .iter()
        .map(|w| {
            format!(
                "{} {:02}-{:02}",
                w.weekdays.join(","),
                w.start_hour,
                w.end_hour
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn parse_windows(text: &str) -> Result<Vec<WindowDoc>, ApiError> {
    let bad = || {
        ApiError::Invalid(format!(
            "maintenanceWindows {text:?}: expected `mon,tue 02-05; sat 00-24`"
        ))
    };
    text.split(';')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            let (days, hours) = w.split_once(' ').ok_or_else(bad)?;
            let (start, end) = hours.trim().split_once('-').ok_or_else(bad)?;
            Ok(WindowDoc {
                weekdays: days.split(',').map(|d| d.trim().to_owned()).collect(),
                start_hour: start.trim().parse().map_err(|_| bad())?,
                end_hour: end.trim().parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// A group body and the keys it carries (to tell an absent field from a zero one).
fn group_from_body(body: &serde_json::Value) -> Result<(api::Group, Vec<String>), ApiError> {
    let group: api::Group = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::Invalid(format!("group: {e}")))?;
    let keys = body
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    Ok((group, keys))
}

/// The policy after a create or update: common fields from the body, generation-specific
/// and extension fields from the body when present, else kept (see the module docs).
fn apply_group(
    now_ms: i64,
    mut policy: GroupPolicy,
    body: &api::Group,
    present: &[String],
) -> Result<GroupPolicy, ApiError> {
    let has = |key: &str| present.iter().any(|k| k == key);
    let count = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| ApiError::Invalid(format!("{what} must be 0 or more")))
    };
    let secs = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| ApiError::Invalid(format!("{what} must be 0 or more")))
    };
    policy.paused = body.updates_paused;
    policy.oem_blacklist = body
        .oem_blacklist
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // While a timed rollout runs its frames set the percentage: the percentage a client
    // sends back with a pause, an unpause or a label change (what it read) is not stored.
    // `rolloutActive: false` stops the rollout at the percentage in force, and only then
    // (or without a running rollout) does `updatePercent` apply. Starting a rollout is
    // `POST .../rollout/active`: `rolloutActive: true` keeps a running one and starts none,
    // so a client echoing what it read just before the end does not restart it.
    let now = crate::clock::from_millis(now_ms);
    let mut running = policy.rollout_phase(now).is_running();
    if running && has("rolloutActive") && !body.rollout_active {
        policy.stop_rollout(now);
        running = false;
    }
    if has("updatePercent") && !running {
        policy.update_percent = body.update_percent;
    }
    if has("updateCount") {
        policy.update_count = count(body.update_count, "updateCount")?;
    }
    if has("updateInterval") {
        policy.update_interval_secs = secs(body.update_interval, "updateInterval")?;
    }
    if has("updatePooling") {
        policy.update_pooling = body.update_pooling;
    }
    if has("maxInFlight") {
        policy.max_in_flight = Some(count(body.max_in_flight, "maxInFlight")?).filter(|n| *n > 0);
    }
    if has("updateTimeout") {
        policy.update_timeout_secs =
            Some(secs(body.update_timeout, "updateTimeout")?).filter(|n| *n > 0);
    }
    if has("failureThresholdCount") || has("failureThresholdPercent") || has("failureWindow") {
        let threshold = count(body.failure_threshold_count, "failureThresholdCount")?;
        policy.auto_pause = if threshold == 0 && body.failure_threshold_percent <= 0.0 {
            None
        } else {
            Some(AutoPauseDoc {
                failures_count: (threshold > 0).then_some(threshold),
                failures_percent: (threshold == 0).then_some(body.failure_threshold_percent),
                last_attempts: count(body.failure_window, "failureWindow")?,
                count_timeouts: body.failure_count_timeouts,
            })
        };
    }
    if has("maintenanceTimeZone") || has("maintenanceWindows") {
        policy.maintenance = if body.maintenance_time_zone.trim().is_empty() {
            None
        } else {
            Some(MaintenanceDoc {
                time_zone: body.maintenance_time_zone.trim().to_owned(),
                windows: parse_windows(&body.maintenance_windows)?,
            })
        };
    }
    if has("allowDowngrade") {
        policy.allow_downgrade = body.allow_downgrade;
    }
    if has("retryDelay") {
        policy.retry_delay_secs = secs(body.retry_delay, "retryDelay")?;
    }
    if has("retryDelayMax") {
        policy.retry_delay_max_secs = secs(body.retry_delay_max, "retryDelayMax")?;
    } else if has("retryDelay") && policy.retry_delay_max_secs < policy.retry_delay_secs {
        // A longer first delay than the stored maximum raises the maximum with it.
        policy.retry_delay_max_secs = policy.retry_delay_secs;
    }
    policy
        .to_policy()
        .map_err(|e| ApiError::Invalid(format!("group policy: {e}")))?;
    Ok(policy)
}

/// The group as stored, after recording the end of its rollout if that has finished, so a
/// change applies to what is really in force (see [`crate::lifecycle`]).
async fn settled_group_record(
    state: &AdminState,
    app: &AppRecord,
    group: &str,
) -> Result<GroupRecord, ApiError> {
    let record = group_record(state, app, group).await?;
    match crate::lifecycle::finish_rollout(state.store.as_ref(), &record, state.clock.now()).await?
    {
        Some(finished) => {
            state.refreshed().await;
            Ok(finished)
        }
        None if record_finished(&record, state.clock.now()) => {
            // Another request or replica wrote the group first: read what it wrote.
            group_record(state, app, group).await
        }
        None => Ok(record),
    }
}

fn record_finished(record: &GroupRecord, now: jiff::Timestamp) -> bool {
    GroupPolicy::from_json(&record.policy).is_ok_and(|p| {
        matches!(
            p.rollout_phase(now),
            rollout_core::RolloutPhase::Finished { .. }
        )
    })
}

pub(super) async fn group_record(
    state: &AdminState,
    app: &AppRecord,
    group: &str,
) -> Result<GroupRecord, ApiError> {
    state
        .store
        .load_config()
        .await?
        .groups
        .into_iter()
        .find(|g| g.app_id == app.id && g.id == group)
        .ok_or_else(|| ApiError::NotFound(format!("group {group} not found")))
}

/// A group needs a channel of its app that exists.
async fn require_channel(
    state: &AdminState,
    app: &AppRecord,
    channel: &str,
) -> Result<(), ApiError> {
    if channel.trim().is_empty() {
        return Err(ApiError::Invalid(format!(
            "channelId is required: a group follows one of app {}'s channels",
            app.id
        )));
    }
    let config = state.store.load_config().await?;
    if config
        .channels
        .iter()
        .any(|c| c.app_id == app.id && c.name == channel)
    {
        Ok(())
    } else {
        Err(ApiError::Invalid(format!(
            "channel {channel} does not exist in app {}: create it first",
            app.id
        )))
    }
}

pub(super) async fn list_groups(
    State(state): State<AdminState>,
    Path(app): Path<String>,
) -> ApiResult<api::GroupList> {
    let app = state.app(&app).await?;
    let config = state.store.load_config().await?;
    let mut items = Vec::new();
    for record in config.groups.iter().filter(|g| g.app_id == app.id) {
        // An automatic pause shows wherever the operator's does.
        items.push(group_json_with_state(&state, record).await?);
    }
    Ok(Json(api::GroupList { items }))
}

pub(super) async fn create_group(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<api::Group> {
    let app = state.app(&app).await?;
    let (group, present) = group_from_body(&body)?;
    let id = if group.id.trim().is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        group.id.trim().to_owned()
    };
    require_channel(&state, &app, &group.channel_id).await?;
    let policy = apply_group(state.now_ms(), GroupPolicy::default(), &group, &present)?;
    let record = GroupRecord {
        app_id: app.id.clone(),
        id,
        label: group.label,
        channel: group.channel_id,
        policy: policy.to_json(),
        created_at: state.now_ms(),
    };
    state.store.create_group(&record).await?;
    state.refreshed().await;
    let detail = format!("group {} on channel {}", record.id, record.channel);
    let changes = group_changes(&state, None, Some(&record));
    state
        .log_changes(&actor, "group.create", &app.id, &record.id, detail, changes)
        .await;
    Ok(Json(group_json(&state, &record)))
}

pub(super) async fn get_group(
    State(state): State<AdminState>,
    Path((app, group)): Path<(String, String)>,
) -> ApiResult<api::Group> {
    let app = state.app(&app).await?;
    let record = group_record(&state, &app, &group).await?;
    Ok(Json(group_json_with_state(&state, &record).await?))
}

pub(crate) async fn update_group(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<api::Group> {
    let app = state.app(&app).await?;
    let mut record = settled_group_record(&state, &app, &group).await?;
    let old_record = record.clone();
    let (update, present) = group_from_body(&body)?;
    require_channel(&state, &app, &update.channel_id).await?;
    let before = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    let policy = apply_group(state.now_ms(), before.clone(), &update, &present)?;
    record.label = update.label;
    record.channel = update.channel_id;
    record.policy = policy.to_json();
    state.store.update_group(&record).await?;
    // An unpaused group also leaves an automatic pause.
    if !policy.paused && crate::writer::resume_group(state.store.as_ref(), &app.id, &group).await? {
        let detail = "lifted the automatic pause".to_owned();
        let changes = vec![crate::changes::field(
            "autoPaused",
            Some("true"),
            Some("false"),
        )];
        state
            .log_changes(&actor, "group.resume", &app.id, &group, detail, changes)
            .await;
    }
    state.refreshed().await;
    let detail = match (before.paused, policy.paused) {
        (false, true) => format!("paused group {group}"),
        (true, false) => format!("unpaused group {group}"),
        _ => format!("updated group {group}"),
    };
    let changes = group_changes(&state, Some(&old_record), Some(&record));
    state
        .log_changes(&actor, "group.update", &app.id, &group, detail, changes)
        .await;
    let now = state.clock.now();
    if before.rollout_phase(now).is_running() && !policy.rollout_phase(now).is_running() {
        let detail = format!(
            "timed rollout stopped; the group stays at {} %",
            policy.update_percent
        );
        state
            .log(&actor, "rollout.deactivate", &app.id, &group, detail)
            .await;
    }
    Ok(Json(group_json_with_state(&state, &record).await?))
}

pub(super) async fn set_group_percent(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Json(body): Json<api::GroupPercent>,
) -> ApiResult<api::GroupPercent> {
    if !(0.0..=100.0).contains(&body.update_percent) {
        return Err(ApiError::Invalid(
            "updatePercent must be between 0 and 100".into(),
        ));
    }
    let app = state.app(&app).await?;
    let mut record = settled_group_record(&state, &app, &group).await?;
    let old_record = record.clone();
    let mut policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    // An explicit percentage ends a running rollout: otherwise its frames would go on
    // setting the percentage and this one would never apply.
    let stopped_at = policy.stop_rollout(state.clock.now());
    policy.update_percent = body.update_percent;
    record.policy = policy.to_json();
    state.store.update_group(&record).await?;
    state.refreshed().await;
    let detail = match stopped_at {
        Some(was) => format!(
            "percent set to {}; this stopped the timed rollout (it was at {was} %)",
            body.update_percent
        ),
        None => format!("percent set to {}", body.update_percent),
    };
    let changes = group_changes(&state, Some(&old_record), Some(&record));
    state
        .log_changes(&actor, "group.percent", &app.id, &group, detail, changes)
        .await;
    Ok(Json(api::GroupPercent {
        app_id: app.id,
        id: group,
        update_percent: body.update_percent,
        rollout_stopped: stopped_at.is_some(),
    }))
}

pub(super) async fn delete_group(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
) -> ApiResult<api::Group> {
    let app = state.app(&app).await?;
    let record = group_record(&state, &app, &group).await?;
    state.store.delete_group(&app.id, &group).await?;
    state.refreshed().await;
    let detail = format!("deleted group {group}");
    let changes = group_changes(&state, Some(&record), None);
    state
        .log_changes(&actor, "group.delete", &app.id, &group, detail, changes)
        .await;
    Ok(Json(group_json(&state, &record)))
}

pub(super) async fn get_rollout(
    State(state): State<AdminState>,
    Path((app, group)): Path<(String, String)>,
) -> ApiResult<api::Rollout> {
    let app = state.app(&app).await?;
    let record = group_record(&state, &app, &group).await?;
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    Ok(Json(api::Rollout {
        app_id: app.id,
        group_id: group,
        rollout: policy
            .rollout_frames
            .iter()
            .map(|f| api::Frame {
                duration: i64::try_from(f.duration_secs).unwrap_or(i64::MAX),
                percent: f.percent,
            })
            .collect(),
    }))
}

/// `POST .../rollout`: "Set (and start) a new rollout strategy": the frames replace the old
/// ones and the rollout starts now.
pub(crate) async fn set_rollout(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Json(body): Json<api::Rollout>,
) -> ApiResult<api::Rollout> {
    let app = state.app(&app).await?;
    let mut record = settled_group_record(&state, &app, &group).await?;
    let old_record = record.clone();
    let mut policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    // A rollout replaced while it runs hands over at the percentage in force, so new frames
    // without any (or an invalid set) never make the group jump.
    policy.stop_rollout(state.clock.now());
    policy.rollout_frames = body
        .rollout
        .iter()
        .map(|f| {
            Ok(FrameDoc {
                percent: f.percent,
                duration_secs: u64::try_from(f.duration)
                    .map_err(|_| ApiError::Invalid("frame durations must be 0 or more".into()))?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    policy.rollout_active_since = (!policy.rollout_frames.is_empty()).then(|| state.now_ms());
    policy
        .to_policy()
        .map_err(|e| ApiError::Invalid(format!("rollout: {e}")))?;
    record.policy = policy.to_json();
    state.store.update_group(&record).await?;
    state.refreshed().await;
    let detail = match policy
        .to_policy()
        .ok()
        .and_then(|p| p.rollout().and_then(|r| r.ends_at()))
    {
        Some(ends_at) => format!(
            "{} frames, started; ends at {ends_at}",
            policy.rollout_frames.len()
        ),
        None => format!("{} frames, not started", policy.rollout_frames.len()),
    };
    let changes = group_changes(&state, Some(&old_record), Some(&record));
    state
        .log_changes(&actor, "rollout.set", &app.id, &group, detail, changes)
        .await;
    Ok(Json(api::Rollout {
        app_id: app.id,
        group_id: group,
        rollout: body.rollout,
    }))
}

pub(super) async fn get_rollout_active(
    State(state): State<AdminState>,
    Path((app, group)): Path<(String, String)>,
) -> ApiResult<api::RolloutActive> {
    let app = state.app(&app).await?;
    let record = group_record(&state, &app, &group).await?;
    let policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    Ok(Json(api::RolloutActive {
        app_id: app.id,
        group_id: group,
        active: policy.rollout_phase(state.clock.now()).is_running(),
    }))
}

pub(crate) async fn set_rollout_active(
    State(state): State<AdminState>,
    Extension(actor): Extension<Actor>,
    Path((app, group)): Path<(String, String)>,
    Json(body): Json<api::RolloutActive>,
) -> ApiResult<api::RolloutActive> {
    let app = state.app(&app).await?;
    let mut record = settled_group_record(&state, &app, &group).await?;
    let old_record = record.clone();
    let mut policy = GroupPolicy::from_json(&record.policy).unwrap_or_default();
    if body.active && policy.rollout_frames.is_empty() {
        return Err(ApiError::Invalid(
            "the group has no rollout frames to activate".into(),
        ));
    }
    let now = state.clock.now();
    let running = policy.rollout_phase(now).is_running();
    // Activating a running rollout changes nothing; activating one that is not running
    // (never started, deactivated or finished) walks its frames from the start.
    // Deactivating keeps the percentage in force at this moment.
    let (action, detail) = match (body.active, running) {
        (true, true) => ("rollout.activate", "already running".to_owned()),
        (true, false) => {
            policy.rollout_active_since = Some(state.now_ms());
            let ends = policy
                .to_policy()
                .ok()
                .and_then(|p| p.rollout().and_then(|r| r.ends_at()));
            let detail = ends.map_or_else(String::new, |at| format!("started; ends at {at}"));
            ("rollout.activate", detail)
        }
        (false, true) => {
            let percent = policy.stop_rollout(now).unwrap_or(policy.update_percent);
            (
                "rollout.deactivate",
                format!("stopped; the group stays at {percent} %"),
            )
        }
        (false, false) => {
            policy.rollout_active_since = None;
            ("rollout.deactivate", "was not running".to_owned())
        }
    };
    record.policy = policy.to_json();
    state.store.update_group(&record).await?;
    state.refreshed().await;
    let changes = group_changes(&state, Some(&old_record), Some(&record));
    state
        .log_changes(&actor, action, &app.id, &group, detail, changes)
        .await;
    Ok(Json(api::RolloutActive {
        app_id: app.id,
        group_id: group,
        active: policy.rollout_phase(now).is_running(),
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RollupQuery {
    resolution: Option<i64>,
    versions: Option<String>,
}

/// `GET .../requests/{versions|events|instances}/{start}/{end}?resolution=`: the graphs.
/// Start and end are unix seconds; 0/0 (the CLI's defaults) means the last 60 buckets.
/// `instances` (an extension) is the census: instances per version at the end of each
/// bucket; `checkins` (an extension) counts routine 3/2 check-ins per version, which
/// `events` leaves out (its 3/2 counts completed updates only).
pub(super) async fn group_requests(
    State(state): State<AdminState>,
    Path((app, group, kind, start, end)): Path<(String, String, String, i64, i64)>,
    Query(query): Query<RollupQuery>,
) -> ApiResult<api::RequestsRollup> {
    let app = state.app(&app).await?;
    group_record(&state, &app, &group).await?;
    let kind = match kind.as_str() {
        "versions" => RollupKind::Versions,
        "events" => RollupKind::Events,
        "instances" => RollupKind::Instances,
        "checkins" => RollupKind::CheckIns,
        other => return Err(ApiError::NotFound(format!("no {other} rollup"))),
    };
    let resolution = query.resolution.filter(|r| *r != 0).unwrap_or(60);
    if !ROLLUP_RESOLUTIONS.contains(&resolution) {
        return Err(ApiError::Invalid(
            "resolution must be 60, 3600 or 86400".into(),
        ));
    }
    let (start, end) = if start == 0 && end == 0 {
        let now = state.clock.now().as_second();
        (now - 60 * resolution, now)
    } else {
        (start, end)
    };
    let wanted: Option<Vec<&str>> = query
        .versions
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| v.split(',').collect());
    let points = state
        .store
        .rollups(&app.id, &group, kind, resolution, start, end)
        .await?;
    let mut items: Vec<api::RollupItem> = Vec::new();
    for point in points {
        if wanted
            .as_ref()
            .is_some_and(|w| !w.contains(&point.version.as_str()))
        {
            continue;
        }
        let (t, r) = point
            .event
            .map(|(t, r)| (t.to_string(), r.to_string()))
            .unwrap_or_default();
        let value = api::RollupValue {
            timestamp: point.bucket,
            count: point.count,
        };
        match items.last_mut() {
            Some(last)
                if last.version == point.version && last.event_type == t && last.result == r =>
            {
                last.values.push(value);
            }
            _ => items.push(api::RollupItem {
                version: point.version,
                event_type: t,
                result: r,
                values: vec![value],
            }),
        }
    }
    Ok(Json(api::RequestsRollup { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_round_trip_through_their_text_form() {
        let windows = parse_windows("mon,tue 02-05; sat 00-24").unwrap();
        assert_eq!(windows.len(), 2);
        assert_eq!(format_windows(&windows), "mon,tue 02-05; sat 00-24");
        assert!(parse_windows("mon 2").is_err());
        assert!(parse_windows("").unwrap().is_empty());
    }

    #[test]
    fn absent_generation_specific_fields_keep_their_value() {
        let before = GroupPolicy {
            update_percent: 40.0,
            update_count: 2,
            update_interval_secs: 60,
            max_in_flight: Some(3),
            paused: true,
            ..GroupPolicy::default()
        };
        // A v2.1 unpause: updatesPaused omitted (false), no v1.4 keys, percent omitted.
        let body = serde_json::json!({"appId": "a", "id": "g", "label": "G", "channelId": "c"});
        let (group, present) = group_from_body(&body).unwrap();
        let after = apply_group(0, before.clone(), &group, &present).unwrap();
        assert!(!after.paused, "a common field reads as zero when absent");
        assert_eq!(after.update_percent, 40.0);
        assert_eq!((after.update_count, after.update_interval_secs), (2, 60));
        assert_eq!(after.max_in_flight, Some(3));
        // Present keys are applied, zero included.
        let body = serde_json::json!({"updatePercent": 0, "updateCount": 5, "maxInFlight": 0});
        let (group, present) = group_from_body(&body).unwrap();
        let after = apply_group(0, before, &group, &present).unwrap();
        assert_eq!(after.update_percent, 0.0);
        assert_eq!(after.update_count, 5);
        assert_eq!(after.max_in_flight, None);
    }

    #[test]
    fn invalid_group_fields_are_rejected() {
        let body = serde_json::json!({"updateCount": -1});
        let (group, present) = group_from_body(&body).unwrap();
        assert!(apply_group(0, GroupPolicy::default(), &group, &present).is_err());
        let body = serde_json::json!({"maintenanceTimeZone": "Nowhere/City", "maintenanceWindows": "mon 01-02"});
        let (group, present) = group_from_body(&body).unwrap();
        assert!(apply_group(0, GroupPolicy::default(), &group, &present).is_err());
    }
}
