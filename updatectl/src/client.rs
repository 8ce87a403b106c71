//! The admin API client: [`update_api::Client`], set up from the global flags, and the
//! transfers that draw progress bars.

use crate::Error;
use crate::progress::Progress;

pub use update_api::client::omit_empty;
pub use update_api::{Client, Uploaded};

/// The client of `--server` as `--user` with `--key`: every request Hawk-signed, or, when
/// the key is an API token (`ust_...`), carrying it as a Bearer token.
///
/// # Errors
/// [`Error::BadServer`] when `server` is not an http(s) URL; [`Error::Transport`] when the
/// HTTP client cannot be built.
pub fn connect(
    server: &str,
    user: &str,
    key: &str,
    skip_ssl_verify: bool,
) -> Result<Client, Error> {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(skip_ssl_verify)
        .user_agent(concat!("updatectl/", env!("CARGO_PKG_VERSION")))
        .build()?;
    Client::with_http(http, server, update_api::Auth::user_key(user, key)).map_err(|e| match e {
        update_api::Error::BadServer(_) => Error::BadServer(server.to_owned()),
        other => other.into(),
    })
}

/// Streams a payload file to `POST /package-upload` ([`Client::upload`]), advancing
/// `progress` by the bytes sent.
///
/// # Errors
/// As [`Client::upload`]; [`Error::UploadUnavailable`] when the server takes no uploads.
pub async fn upload_file(
    client: &Client,
    path: &std::path::Path,
    package: Option<(&str, &str)>,
    arch: Option<&str>,
    progress: &Progress,
) -> Result<Uploaded, Error> {
    let counter = progress.clone();
    Ok(client
        .upload(path, package, arch, move |n| counter.advance(n))
        .await?)
}

/// Streams the body of a successful answer to `request` into `file`, with a progress bar
/// labelled `label` (whose total is `known_size`, else the `Content-Length` when known).
/// Returns the bytes written.
///
/// # Errors
/// [`Error::Client`] on an error status, [`Error::Transport`], [`Error::Io`] writing the
/// file.
pub async fn download_to(
    client: &Client,
    request: reqwest::RequestBuilder,
    file: &std::path::Path,
    label: &str,
    known_size: Option<u64>,
) -> Result<u64, Error> {
    use tokio::io::AsyncWriteExt as _;
    let mut response = client.send(request).await?;
    let io = |source| Error::Io {
        path: file.display().to_string(),
        source,
    };
    let progress = Progress::bytes(known_size.or(response.content_length()), label);
    let mut out = tokio::fs::File::create(file).await.map_err(io)?;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await? {
        out.write_all(&chunk).await.map_err(io)?;
        written += chunk.len() as u64;
        progress.advance(chunk.len() as u64);
    }
    out.flush().await.map_err(io)?;
    out.sync_all().await.map_err(io)?;
    progress.finish();
    Ok(written)
}
