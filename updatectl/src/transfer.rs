//! Moving payloads and backups: `package download`, `package create bulk`,
//! `package upload [bulk]` and `database backup`. Transfers stream (a payload is never held
//! in memory whole) and show a progress bar when stderr is a terminal.
//!
//! Where updateservicectl had bugs (§11.9 of the reference) these commands differ on
//! purpose: a failed download removes the partial file it wrote (not another name) and
//! the command exits 1; `upload bulk` prints `uploaded <name>` only for files that were
//! uploaded, skips the `*_info.json` metadata that `package download` writes, and exits 1
//! when any upload failed.

use std::path::{Path, PathBuf};

use reqwest::{Method, Url};
use update_api::api::{Package, PublicPackageList};

use crate::Error;
use crate::client::Client;
use crate::output::Output;
use crate::progress::Progress;

/// The file name `package download` saves a payload under:
/// `<appId>_<version>_<basename(url)>`.
#[must_use]
pub fn payload_file_name(package: &Package) -> String {
    format!(
        "{}_{}_{}",
        package.app_id,
        package.version,
        url_basename(&package.url)
    )
}

/// The metadata file `package download` writes beside a payload.
#[must_use]
pub fn info_file_name(package: &Package) -> String {
    format!("{}_{}_info.json", package.app_id, package.version)
}

fn url_basename(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Which published packages `package download` takes.
#[derive(Debug, Clone, Default)]
pub struct DownloadFilter {
    /// Only this application.
    pub app_id: Option<String>,
    /// Only this exact version.
    pub version: Option<String>,
    /// Only versions at or above this one.
    pub min_version: Option<semver::Version>,
}

impl DownloadFilter {
    fn wants(&self, app_id: &str, package: &Package) -> bool {
        if let Some(want) = &self.app_id
            && !omaha_proto::appid::same_app_id(want, app_id)
        {
            return false;
        }
        if let Some(version) = &self.version
            && *version != package.version
        {
            return false;
        }
        if let Some(min) = &self.min_version {
            match semver::Version::parse(&package.version) {
                Ok(v) => return v >= *min,
                Err(e) => {
                    eprintln!(
                        "skipping {app_id} {}: not a semantic version ({e})",
                        package.version
                    );
                    return false;
                }
            }
        }
        true
    }
}

/// One downloaded package.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Downloaded {
    /// The application.
    pub app_id: String,
    /// The version.
    pub version: String,
    /// Where the payload was saved.
    pub file: PathBuf,
    /// Where its metadata was saved.
    pub info: PathBuf,
}

/// `package download`: fetches the published packages (`GET public/packages`) that pass
/// the filter into `dir` (created with mode 0700 when missing), checks each payload's
/// size, SHA-1 and SHA-256, and writes its metadata to `<appId>_<version>_info.json`.
///
/// # Errors
/// The API's or the transport's for the package list; [`Error::Failed`] when some
/// downloads failed (each is reported on stderr, the others are kept).
pub async fn download(
    client: &Client,
    filter: &DownloadFilter,
    dir: &Path,
) -> Result<Output, Error> {
    let list: PublicPackageList = client.public_packages().await?;
    let mut wanted = Vec::new();
    for item in list.items {
        for mut package in item.packages {
            if filter.wants(&item.app_id, &package) {
                if package.app_id.is_empty() {
                    package.app_id.clone_from(&item.app_id);
                }
                wanted.push(package);
            }
        }
    }
    create_private_dir(dir)?;
    eprintln!("Downloading {} packages.", wanted.len());
    let mut done = Vec::new();
    let mut failures = 0;
    for package in &wanted {
        match download_one(client, package, dir).await {
            Ok(downloaded) => done.push(downloaded),
            Err(e) => {
                failures += 1;
                eprintln!(
                    "Error while downloading. AppId={}, Version={}, URL={}, Error={e:#}",
                    package.app_id, package.version, package.url
                );
            }
        }
    }
    if failures > 0 {
        return Err(Error::Failed(format!(
            "{failures} of {} downloads failed",
            wanted.len()
        )));
    }
    let lines = done
        .iter()
        .map(|d| format!("downloaded {}", d.file.display()))
        .collect();
    Ok(Output::lines(lines, &done))
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io_error(dir))
}

async fn download_one(client: &Client, package: &Package, dir: &Path) -> Result<Downloaded, Error> {
    let url = Url::parse(&package.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| Error::Invalid(format!("not an http(s) URL: {:?}", package.url)))?;
    let file = dir.join(payload_file_name(package));
    let expected: Option<u64> = package.size.parse().ok();
    let label = format!("{} {}", package.app_id, package.version);
    let result = async {
        crate::client::download_to(client, client.http().get(url), &file, &label, expected).await?;
        verify(&file, package).await
    }
    .await;
    if let Err(e) = result {
        // The partial or corrupt payload must not look like a good one.
        let _ = tokio::fs::remove_file(&file).await;
        return Err(e);
    }
    let info = dir.join(info_file_name(package));
    let json = serde_json::to_vec(package).map_err(|source| Error::Json {
        url: package.url.clone(),
        source,
    })?;
    tokio::fs::write(&info, json)
        .await
        .map_err(io_error(&info))?;
    Ok(Downloaded {
        app_id: package.app_id.clone(),
        version: package.version.clone(),
        file,
        info,
    })
}

/// Checks a downloaded payload against the package's size and digests.
async fn verify(file: &Path, package: &Package) -> Result<(), Error> {
    let path = file.to_owned();
    let (size, sha1, sha256) = tokio::task::spawn_blocking(move || file_sums(&path))
        .await
        .map_err(|e| Error::Invalid(format!("hashing {}: {e}", file.display())))??;
    let checks = [
        ("size", &package.size, size),
        ("SHA-1", &package.sha1_sum, sha1),
        ("SHA-256", &package.sha256_sum, sha256),
    ];
    for (what, want, got) in checks {
        if !want.is_empty() && *want != got {
            return Err(Error::Invalid(format!(
                "{what} mismatch: the package says {want}, the download has {got}"
            )));
        }
    }
    Ok(())
}

fn regular_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if entry.file_type().map_err(io_error(dir))?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// `package create bulk`: registers every package described by an `*info.json` file in
/// `dir` (as `package download` wrote them), with the URL rewritten to
/// `<base-url>/<the payload's file name>` when a base URL is given.
///
/// # Errors
/// [`Error::Io`] when the directory cannot be read; [`Error::Failed`] when some packages
/// could not be created (each is reported on stderr).
pub async fn create_bulk(
    client: &Client,
    dir: &Path,
    base_url: Option<&str>,
) -> Result<Output, Error> {
    let mut created = Vec::new();
    let mut errors = 0;
    let infos: Vec<PathBuf> = regular_files(dir)?
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("info.json"))
        })
        .collect();
    for path in &infos {
        match create_one(client, path, base_url).await {
            Ok(package) => created.push(package),
            Err(e) => {
                errors += 1;
                eprintln!("Error while creating package. Error={e:#}");
            }
        }
    }
    eprintln!(
        "Package metadata uploaded. Total={} Errors={errors}",
        infos.len()
    );
    if let Some(base) = base_url {
        eprintln!("Please upload payloads to {base}.");
    }
    if errors > 0 {
        return Err(Error::Failed(format!(
            "{errors} of {} packages could not be created",
            infos.len()
        )));
    }
    Ok(crate::output::package_table(&created))
}

async fn create_one(
    client: &Client,
    path: &Path,
    base_url: Option<&str>,
) -> Result<Package, Error> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let mut package: Package = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        url: path.display().to_string(),
        source,
    })?;
    if package.app_id.is_empty() || package.version.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no appId or version",
            path.display()
        )));
    }
    eprintln!(
        "Creating package with AppId={} and Version={}",
        package.app_id, package.version
    );
    if let Some(base) = base_url {
        package.url = format!(
            "{}/{}",
            base.trim_end_matches('/'),
            payload_file_name(&package)
        );
    }
    let segments = [
        "apps",
        package.app_id.as_str(),
        "packages",
        package.version.as_str(),
    ];
    Ok(client
        .call(Method::POST, &segments, &[], Some(&package))
        .await?)
}

/// `package upload`: streams one payload to the server. Prints `uploaded file <path>`.
///
/// # Errors
/// As [`crate::client::upload_file`].
pub async fn upload(client: &Client, file: &Path) -> Result<Output, Error> {
    let size = std::fs::metadata(file).map_err(io_error(file))?.len();
    let progress = Progress::bytes(Some(size), &file.display().to_string());
    let uploaded = crate::client::upload_file(client, file, None, None, &progress).await;
    progress.finish();
    let uploaded = uploaded?;
    Ok(Output::lines(
        vec![format!("uploaded file {}", file.display())],
        &uploaded,
    ))
}

/// `package upload bulk`: uploads every regular file in `dir` except the `*_info.json`
/// metadata. Prints `uploaded <name>` per uploaded file.
///
/// # Errors
/// [`Error::Io`] when the directory cannot be read, the server's when uploads are off,
/// [`Error::Failed`] when some uploads failed (each is reported on stderr).
pub async fn upload_bulk(client: &Client, dir: &Path) -> Result<Output, Error> {
    let files: Vec<PathBuf> = regular_files(dir)?
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with("_info.json"))
        })
        .collect();
    let mut lines = Vec::new();
    let mut uploaded = Vec::new();
    let mut errors = 0;
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(file).map_err(io_error(file))?.len();
        let progress = Progress::bytes(Some(size), &name);
        let result = crate::client::upload_file(client, file, None, None, &progress).await;
        progress.finish();
        match result {
            Ok(answer) => {
                lines.push(format!("uploaded {name}"));
                uploaded.push(answer);
            }
            // Uploads are off: every other file would fail the same way.
            Err(e @ Error::UploadUnavailable { .. }) => return Err(e),
            Err(e) => {
                errors += 1;
                eprintln!("error uploading {name}: {e:#}");
            }
        }
    }
    eprintln!(
        "Package payloads uploaded. Total={} Errors={errors}",
        files.len()
    );
    if errors > 0 {
        // What was uploaded is still reported.
        print!("{}", crate::tabwriter::format(&lines));
        return Err(Error::Failed(format!(
            "{errors} of {} uploads failed",
            files.len()
        )));
    }
    Ok(Output::lines(lines, &uploaded))
}

/// `database backup <file>`: streams `GET /db/backup` (Hawk-signed) into the file; a
/// failure removes the partial file.
///
/// # Errors
/// The server's answer on a non-200 status, the transport's, or writing the file.
pub async fn backup(client: &Client, output: &Path) -> Result<Output, Error> {
    let request = client.signed(Method::GET, client.url(&["db", "backup"]));
    match crate::client::download_to(client, request, output, "backup", None).await {
        Ok(bytes) => Ok(Output::lines(
            vec![format!("wrote {} ({bytes} bytes)", output.display())],
            &serde_json::json!({ "file": output, "bytes": bytes }),
        )),
        Err(e) => {
            let _ = std::fs::remove_file(output);
            Err(e)
        }
    }
}

/// Size, SHA-1 and SHA-256 (standard base64) of a payload file, read in chunks (a payload
/// of gigabytes is never held in memory).
pub(crate) fn file_sums(path: &Path) -> Result<(String, String, String), Error> {
    use base64::Engine as _;
    use sha2::Digest as _;
    use std::io::Read as _;
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut sha1 = sha1::Sha1::new();
    let mut sha256 = sha2::Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        sha1.update(&buf[..n]);
        sha256.update(&buf[..n]);
    }
    Ok((
        size.to_string(),
        base64::engine::general_purpose::STANDARD.encode(sha1.finalize()),
        base64::engine::general_purpose::STANDARD.encode(sha256.finalize()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_base64_of_raw_digests() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hello");
        std::fs::write(&file, b"hello").unwrap();
        let (size, sha1, sha256) = file_sums(&file).unwrap();
        assert_eq!(size, "5");
        assert_eq!(sha1, "qvTGHdzF6KLavt4PO0gs2a6pQ00=");
        assert_eq!(sha256, "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
    }

    #[test]
    fn file_names_follow_package_download() {
        let package = Package {
            app_id: "e96281a6".to_owned(),
            version: "1.2.3".to_owned(),
            url: "https://h/x/update.gz?sig=1".to_owned(),
            ..Package::default()
        };
        assert_eq!(payload_file_name(&package), "e96281a6_1.2.3_update.gz");
        assert_eq!(info_file_name(&package), "e96281a6_1.2.3_info.json");
    }

    #[test]
    fn the_filter_compares_versions_as_semver() {
        let filter = DownloadFilter {
            min_version: Some(semver::Version::new(1, 10, 0)),
            ..DownloadFilter::default()
        };
        let pkg = |v: &str| Package {
            version: v.to_owned(),
            ..Package::default()
        };
        assert!(filter.wants("a", &pkg("1.10.0")));
        assert!(filter.wants("a", &pkg("2.0.0")));
        assert!(!filter.wants("a", &pkg("1.9.9")));
        assert!(!filter.wants("a", &pkg("not-a-version")));
        let app = DownloadFilter {
            app_id: Some("{ABC}".to_owned()),
            ..DownloadFilter::default()
        };
        assert!(app.wants("abc", &pkg("1.0.0")));
        assert!(!app.wants("abd", &pkg("1.0.0")));
    }
}
