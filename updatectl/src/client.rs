//! The admin API client: JSON over HTTP, every request Hawk-signed.

use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::hawk;

/// Where the server is and who we are.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: Url,
    user: String,
    key: String,
}

/// The answer of `POST /package-upload`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
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
        let mut request = self.http.request(method.clone(), url.clone()).header(
            reqwest::header::AUTHORIZATION,
            hawk::header(&self.user, &self.key, method.as_str(), &url),
        );
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

    /// Uploads a payload to `POST /package-upload` (multipart, field `file`).
    ///
    /// # Errors
    /// [`Error::UploadUnavailable`] when the server has no such endpoint (404, 405, 501),
    /// else as [`Client::call`].
    pub async fn upload(&self, file_name: &str, payload: Vec<u8>) -> Result<Uploaded, Error> {
        let url = self.url(&["package-upload"]);
        let boundary = format!("updatectl-{:016x}", fastrand::u64(..));
        let safe_name = file_name.replace(['"', '\r', '\n'], "_");
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{safe_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&payload);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .http
            .post(url.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                hawk::header(&self.user, &self.key, "POST", &url),
            )
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
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
fn api_error(code: u16, body: &[u8]) -> Error {
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
