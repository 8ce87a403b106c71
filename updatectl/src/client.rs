//! The admin API client: JSON over HTTP, every request Hawk-signed.

use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::hawk;

/// How the server's API tokens start (`update_server::auth::TOKEN_PREFIX`, which this
/// client cannot import without the server's dependencies).
const TOKEN_PREFIX: &str = "ust_";

/// Where the server is and who we are.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: Url,
    user: String,
    key: String,
}

/// The answer of `POST /package-upload`.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Uploaded {
    /// The stored file name.
    pub name: String,
    /// Where instances download it.
    pub url: String,
}

impl Client {
    /// A client for `server` (trailing `/` trimmed).
    ///
    /// # Errors
    /// [`Error::BadServer`] when `server` is not an http(s) URL.
    pub fn new(server: &str, user: &str, key: &str, skip_ssl_verify: bool) -> Result<Self, Error> {
        let trimmed = server.trim_end_matches('/');
        let url = Url::parse(trimmed).map_err(|_| Error::BadServer(server.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(Error::BadServer(server.to_owned()));
        }
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(skip_ssl_verify)
            .user_agent(concat!("updatectl/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            server: url,
            user: user.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The shared HTTP client (also used for Omaha traffic).
    #[must_use]
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `{server}/` followed by the given path segments (each percent-encoded).
    #[must_use]
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.server.clone();
        url.set_query(None);
        {
            let mut path = url.path_segments_mut().expect("checked in new");
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// The URL of an admin API path below `/_ah/api/update/v1/`.
    #[must_use]
    pub fn api_url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut all = vec!["_ah", "api", "update", "v1"];
        all.extend_from_slice(segments);
        let mut url = self.url(&all);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends an API request and decodes the JSON answer. The body goes out as the Go client
    /// sends it: `false`, `0`, `""` and empty lists omitted ([`omit_empty`]), so the server
    /// keeps its defaults for what was not set.
    ///
    /// # Errors
    /// [`Error::Api`]/[`Error::Http`] on an error status, [`Error::Transport`],
    /// [`Error::Json`].
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<T, Error> {
        let body = match body {
            Some(body) => Some(omit_empty(serde_json::to_value(body).map_err(
                |source| Error::Json {
                    url: self.api_url(segments, query).to_string(),
                    source,
                },
            )?)),
            None => None,
        };
        self.call_raw(method, segments, query, body.as_ref()).await
    }

    /// As [`Client::call`], with the JSON body sent exactly as given (no omitempty).
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn call_raw<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, Error> {
        let url = self.api_url(segments, query);
        let mut request = self.signed(method, url.clone());
        if let Some(body) = body {
            let json = serde_json::to_vec(body).map_err(|source| Error::Json {
                url: url.to_string(),
                source,
            })?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(api_error(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            url: url.to_string(),
            source,
        })
    }

    /// A request to `url` with the Hawk `Authorization` header, or, when the key is an API
    /// token (`ust_...`), with the token as a Bearer token.
    pub fn signed(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let header = if self.key.starts_with(TOKEN_PREFIX) {
            format!("Bearer {}", self.key)
        } else {
            hawk::header(&self.user, &self.key, method.as_str(), &url)
        };
        self.http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, header)
    }

    /// Streams a payload file to `POST /package-upload` (multipart, field `file`, named
    /// after the file), reporting the bytes sent to `progress`. With `package` (app id and
    /// version) the server stores it as that version's payload, so every version's payload
    /// may have the same file name; with `arch` too, it is stored as a file of the version's
    /// package for that architecture (its payload or an extra file).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::UploadUnavailable`] when the
    /// server has no such endpoint (404, 405, 501), else as [`Client::call`].
    pub async fn upload_file(
        &self,
        path: &std::path::Path,
        package: Option<(&str, &str)>,
        arch: Option<&str>,
        progress: &crate::progress::Progress,
    ) -> Result<Uploaded, Error> {
        use futures_util::{StreamExt as _, TryStreamExt as _};
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let file = tokio::fs::File::open(path).await.map_err(io)?;
        let len = file.metadata().await.map_err(io)?.len();
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "payload".to_owned());
        let mut url = self.url(&["package-upload"]);
        if let Some((app_id, version)) = package {
            url.query_pairs_mut()
                .append_pair("appId", app_id)
                .append_pair("version", version);
            if let Some(arch) = arch {
                url.query_pairs_mut().append_pair("arch", arch);
            }
        }
        let boundary = format!("updatectl-{:016x}", fastrand::u64(..));
        let safe_name = file_name.replace(['"', '\r', '\n'], "_");
        let head = bytes::Bytes::from(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{safe_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ));
        let tail = bytes::Bytes::from(format!("\r\n--{boundary}--\r\n"));
        let total = head.len() as u64 + len + tail.len() as u64;
        let counter = progress.clone();
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(head)])
            .chain(
                tokio_util::io::ReaderStream::new(file)
                    .inspect_ok(move |chunk| counter.advance(chunk.len() as u64)),
            )
            .chain(futures_util::stream::iter([Ok(tail)]));
        let response = self
            .signed(Method::POST, url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        if matches!(status, 404 | 405 | 501) {
            return Err(Error::UploadUnavailable {
                url: url.to_string(),
                code: status,
            });
        }
        if !(200..300).contains(&status) {
            return Err(api_error(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            url: url.to_string(),
            source,
        })
    }

    /// Streams the body of a successful answer to `request` into `file`, reporting the
    /// bytes to `progress` (whose total is set from `Content-Length` when known). Returns
    /// the bytes written.
    ///
    /// # Errors
    /// [`Error::Api`]/[`Error::Http`] on an error status, [`Error::Transport`], or
    /// [`Error::Io`] writing the file.
    pub async fn download_to(
        &self,
        request: reqwest::RequestBuilder,
        file: &std::path::Path,
        label: &str,
        known_size: Option<u64>,
    ) -> Result<u64, Error> {
        use tokio::io::AsyncWriteExt as _;
        let mut response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await?;
            return Err(api_error(status.as_u16(), &bytes));
        }
        let io = |source| Error::Io {
            path: file.display().to_string(),
            source,
        };
        let progress =
            crate::progress::Progress::bytes(known_size.or(response.content_length()), label);
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
}

/// Go's `omitempty`: drops `null`, `false`, `0`, `""` and `[]` members of objects,
/// recursively.
#[must_use]
pub fn omit_empty(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| match v {
                    Value::Null => false,
                    Value::Bool(b) => *b,
                    Value::Number(n) => n.as_f64() != Some(0.0),
                    Value::String(s) => !s.is_empty(),
                    Value::Array(a) => !a.is_empty(),
                    Value::Object(_) => true,
                })
                .map(|(k, v)| (k, omit_empty(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(omit_empty).collect()),
        other => other,
    }
}

/// Turns an error answer into [`Error::Api`] (Google error body) or [`Error::Http`].
pub(crate) fn api_error(code: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<update_server::api::ErrorBody>(body) {
        Ok(parsed) if !parsed.error.message.is_empty() => Error::Api {
            code,
            reason: parsed
                .error
                .errors
                .first()
                .map(|e| e.reason.clone())
                .unwrap_or_default(),
            message: parsed.error.message,
        },
        _ => Error::Http {
            code,
            body: String::from_utf8_lossy(body).trim_end().to_owned(),
        },
    }
}
