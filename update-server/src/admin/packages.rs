//! Packages: `apps/{app}/packages` and `.../packages/{version}` (list newest first, create,
//! update, delete), a version's packages for named architectures (`.../arches/{arch}`), and the
//! public list `public/packages`. A package's URL, size and hashes are checked when stored; a
//! package the server cannot serve is named in the activity log.

use super::{Actor, AdminState, ApiError, ApiResult, rfc3339};
use crate::api;
use crate::changes::diff;
use crate::store::{AppRecord, ArchPackageRecord, PackageRecord};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;

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
pub(super) fn check_digest(field: &str, text: &str, len: usize) -> Result<(), ApiError> {
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

/// The JSON of a version's package for a named architecture.
fn arch_package_json(record: &ArchPackageRecord) -> api::Package {
    api::Package {
        arch: record.arch.clone(),
        ..package_json(&record.package)
    }
}

pub(super) fn arch_of_path(arch: &str) -> Result<rollout_core::Arch, ApiError> {
    rollout_core::Arch::parse(arch)
        .map_err(|e| ApiError::Invalid(format!("architecture {arch:?}: {e}")))
}

/// The default package of `version` of `app`, which a package for a named architecture
/// belongs to.
pub(super) fn default_package<'a>(
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
