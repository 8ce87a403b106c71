//! A package's extra files (`apps/{app}/packages/{version}/files/{name}`, of the default
//! package or, with `?arch=`, of an architecture's): list, put, delete; at most
//! [`MAX_FILES_PER_PACKAGE`] per package.

use super::packages::{arch_of_path, check_digest, default_package};
use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::changes::diff;
use crate::store::AppRecord;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

/// The most extra files one package lists (Flatcar ships one per OEM and extension, a few
/// dozen at most); each is a `<package>` in every answer offering the package.
pub const MAX_FILES_PER_PACKAGE: usize = 64;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ArchQuery {
    pub(super) arch: String,
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
