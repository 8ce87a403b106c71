//! The admin API client: JSON over HTTP (reqwest), each request authenticated with Hawk,
//! Basic or a Bearer token, error answers decoded into [`Error::Api`].

use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{App, AppList, ChannelList, Group, GroupList, PackageList, PublicPackageList};
use crate::auth::TOKEN_PREFIX;
use crate::{Error, hawk};

/// The path every admin API operation's path starts with, as segments.
const API_SEGMENTS: [&str; 4] = ["_ah", "api", "update", "v1"];

/// How requests are authenticated.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// Hawk-signed with a user's API key, as `updateservicectl` does.
    Hawk {
        /// The user.
        user: String,
        /// The user's API key.
        key: String,
    },
    /// HTTP Basic: a user and its key, or a token's name and the token.
    Basic {
        /// The user, or the token's name.
        user: String,
        /// The key, or the token.
        key: String,
    },
    /// An API token (`ust_...`) as a Bearer token.
    Bearer(String),
    /// No credentials (the public operations only).
    None,
}

impl std::fmt::Debug for Auth {
    /// Keys and tokens are not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hawk { user, .. } => write!(f, "Hawk({user:?})"),
            Self::Basic { user, .. } => write!(f, "Basic({user:?})"),
            Self::Bearer(_) => f.write_str("Bearer(..)"),
            Self::None => f.write_str("None"),
        }
    }
}

impl Auth {
    /// Hawk with a user's key.
    #[must_use]
    pub fn hawk(user: &str, key: &str) -> Self {
        Self::Hawk {
            user: user.to_owned(),
            key: key.to_owned(),
        }
    }

    /// What `updatectl --user U --key K` means: a key that is an API token
    /// ([`TOKEN_PREFIX`]) is sent as a Bearer token, any other key signs with Hawk.
    #[must_use]
    pub fn user_key(user: &str, key: &str) -> Self {
        if key.starts_with(TOKEN_PREFIX) {
            Self::Bearer(key.to_owned())
        } else {
            Self::hawk(user, key)
        }
    }

    /// The `Authorization` value of a request (`None` without credentials).
    #[must_use]
    pub fn header(&self, method: &Method, url: &Url) -> Option<String> {
        match self {
            Self::Hawk { user, key } => Some(hawk::sign_now(user, key, method.as_str(), url)),
            Self::Basic { user, key } => Some(crate::auth::basic(user, key)),
            Self::Bearer(token) => Some(format!("Bearer {token}")),
            Self::None => None,
        }
    }
}

/// The answer of `POST /package-upload`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Uploaded {
    /// The stored file name.
    pub name: String,
    /// Where instances download it.
    pub url: String,
}

/// A client of one server's admin API, as one principal.
///
/// Typed methods cover the common reads and writes; [`Client::call`] makes any operation of
/// [`crate::openapi::OPERATIONS`] below `/_ah/api/update/v1/` with the wire types of
/// [`crate::api`], and [`Client::signed`] any other request.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: Url,
    auth: Auth,
}

/// No request body.
const NO_BODY: Option<&()> = None;

impl Client {
    /// A client for `server` (its base URL; a trailing `/` is trimmed) with a default HTTP
    /// client.
    ///
    /// # Errors
    /// [`Error::BadServer`] when `server` is not an http(s) URL; [`Error::Transport`] when
    /// the HTTP client cannot be set up (no TLS backend).
    pub fn new(server: &str, auth: Auth) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("update-api/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Self::with_http(http, server, auth)
    }

    /// As [`Client::new`], over an HTTP client of the caller's (timeouts, proxies, TLS
    /// settings, user agent).
    ///
    /// # Errors
    /// [`Error::BadServer`] when `server` is not an http(s) URL.
    pub fn with_http(http: reqwest::Client, server: &str, auth: Auth) -> Result<Self, Error> {
        let trimmed = server.trim_end_matches('/');
        let url = Url::parse(trimmed).map_err(|_| Error::BadServer(server.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(Error::BadServer(server.to_owned()));
        }
        Ok(Self {
            http,
            server: url,
            auth,
        })
    }

    /// The HTTP client (for requests that are not the admin API's, Omaha traffic say).
    #[must_use]
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The server's base URL.
    #[must_use]
    pub fn server(&self) -> &Url {
        &self.server
    }

    /// `{server}/` followed by the given path segments (each percent-encoded).
    #[must_use]
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.server.clone();
        url.set_query(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// The URL of an admin API path below `/_ah/api/update/v1/`, with a query.
    #[must_use]
    pub fn api_url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut all = API_SEGMENTS.to_vec();
        all.extend_from_slice(segments);
        let mut url = self.url(&all);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// A request to `url` with this client's `Authorization` header.
    pub fn signed(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let header = self.auth.header(&method, &url);
        let request = self.http.request(method, url);
        match header {
            Some(value) => request.header(reqwest::header::AUTHORIZATION, value),
            None => request,
        }
    }

    /// Sends an admin API request (`segments` below `/_ah/api/update/v1/`) and decodes the
    /// JSON answer. The body goes out as the Go client sends it: `false`, `0`, `""` and
    /// empty lists omitted ([`omit_empty`]), so the server keeps its defaults for what was
    /// not set.
    ///
    /// # Errors
    /// [`Error::Api`] or [`Error::Http`] on an error status, [`Error::Transport`],
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
                    source: Box::new(source),
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
        let json_error = |source: serde_json::Error| Error::Json {
            url: url.to_string(),
            source: Box::new(source),
        };
        let mut request = self.signed(method, url.clone());
        if let Some(body) = body {
            let json = serde_json::to_vec(body).map_err(json_error)?;
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json);
        }
        let bytes = self.send(request).await?.bytes().await?;
        serde_json::from_slice(&bytes).map_err(json_error)
    }

    /// Sends a request and returns its answer when the status is a success, its body not
    /// yet read (to stream a download).
    ///
    /// # Errors
    /// [`Error::Api`] or [`Error::Http`] on an error status, [`Error::Transport`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let response = request.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await?;
        Err(Error::from_answer(status.as_u16(), &bytes))
    }

    /// Streams a payload file to `POST /package-upload` (multipart, field `file`, named
    /// after the file), calling `sent` with the size of each chunk of the file as it goes.
    /// With `package` (app id and version) the server stores it as that version's payload,
    /// so every version's payload may have the same file name; with `arch` too, it is
    /// stored as a file of the version's package for that architecture (its payload or an
    /// extra file).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::UploadUnavailable`] when the
    /// server has no such endpoint (404, 405, 501), else as [`Client::call`].
    pub async fn upload(
        &self,
        path: &std::path::Path,
        package: Option<(&str, &str)>,
        arch: Option<&str>,
        sent: impl Fn(u64) + Send + 'static,
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
        let boundary = format!("update-api-{:016x}", fastrand::u64(..));
        let safe_name = file_name.replace(['"', '\r', '\n'], "_");
        let head = bytes::Bytes::from(format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{safe_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        ));
        let tail = bytes::Bytes::from(format!("\r\n--{boundary}--\r\n"));
        let total = head.len() as u64 + len + tail.len() as u64;
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(head)])
            .chain(
                tokio_util::io::ReaderStream::new(file)
                    .inspect_ok(move |chunk| sent(chunk.len() as u64)),
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
            return Err(Error::from_answer(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            url: url.to_string(),
            source: Box::new(source),
        })
    }

    /// `GET apps`: the apps (of the principal's scope).
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn apps(&self) -> Result<AppList, Error> {
        self.call(Method::GET, &["apps"], &[], NO_BODY).await
    }

    /// `GET apps/{appId}`.
    ///
    /// # Errors
    /// As [`Client::call`]; [`Error::Api`] with 404 when there is no such app.
    pub async fn app(&self, app_id: &str) -> Result<App, Error> {
        self.call(Method::GET, &["apps", app_id], &[], NO_BODY)
            .await
    }

    /// `POST apps`: creates an app (the server makes an id when `app.id` is empty).
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn create_app(&self, app: &App) -> Result<App, Error> {
        self.call(Method::POST, &["apps"], &[], Some(app)).await
    }

    /// `PATCH apps/{appId}`: replaces an app's label and description (and its
    /// `hashSha256` when not empty).
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn update_app(&self, app_id: &str, app: &App) -> Result<App, Error> {
        self.call(Method::PATCH, &["apps", app_id], &[], Some(app))
            .await
    }

    /// `DELETE apps/{appId}`: deletes an app with its channels, groups and packages.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn delete_app(&self, app_id: &str) -> Result<App, Error> {
        self.call(Method::DELETE, &["apps", app_id], &[], NO_BODY)
            .await
    }

    /// `GET apps/{appId}/channels`.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn channels(&self, app_id: &str) -> Result<ChannelList, Error> {
        self.call(Method::GET, &["apps", app_id, "channels"], &[], NO_BODY)
            .await
    }

    /// `GET apps/{appId}/groups`.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn groups(&self, app_id: &str) -> Result<GroupList, Error> {
        self.call(Method::GET, &["apps", app_id, "groups"], &[], NO_BODY)
            .await
    }

    /// `GET apps/{appId}/groups/{groupId}` (with its effective percentage).
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn group(&self, app_id: &str, group_id: &str) -> Result<Group, Error> {
        self.call(
            Method::GET,
            &["apps", app_id, "groups", group_id],
            &[],
            NO_BODY,
        )
        .await
    }

    /// `GET apps/{appId}/packages`: an app's packages, newest first.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn packages(&self, app_id: &str) -> Result<PackageList, Error> {
        self.call(Method::GET, &["apps", app_id, "packages"], &[], NO_BODY)
            .await
    }

    /// `GET public/packages`: the published channels' packages of every app.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn public_packages(&self) -> Result<PublicPackageList, Error> {
        self.call(Method::GET, &["public", "packages"], &[], NO_BODY)
            .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_must_be_http_bases() {
        for bad in ["ftp://x", "not a url", "mailto:a@b", ""] {
            assert!(
                matches!(Client::new(bad, Auth::None), Err(Error::BadServer(_))),
                "{bad}"
            );
        }
        let client = Client::new("http://localhost:8000/prefix/", Auth::None).unwrap();
        assert_eq!(
            client
                .api_url(&["apps", "a b", "groups"], &[("limit", "5".into())])
                .as_str(),
            "http://localhost:8000/prefix/_ah/api/update/v1/apps/a%20b/groups?limit=5"
        );
        assert_eq!(
            client.url(&["db", "backup"]).as_str(),
            "http://localhost:8000/prefix/db/backup"
        );
    }

    #[test]
    fn a_token_key_is_a_bearer_token_and_keys_are_not_shown() {
        assert_eq!(
            Auth::user_key("u", "ust_0123_abcd"),
            Auth::Bearer("ust_0123_abcd".into())
        );
        assert_eq!(Auth::user_key("u", "k"), Auth::hawk("u", "k"));
        let url = Url::parse("http://localhost/_ah/api/update/v1/apps").unwrap();
        let hawk = Auth::hawk("u", "k").header(&Method::GET, &url).unwrap();
        assert!(hawk.starts_with(r#"Hawk id="u", mac=""#), "{hawk}");
        assert_eq!(
            Auth::Basic {
                user: "u".into(),
                key: "k".into()
            }
            .header(&Method::GET, &url)
            .as_deref(),
            Some("Basic dTpr")
        );
        assert_eq!(Auth::None.header(&Method::GET, &url), None);
        let shown = format!("{:?}", Auth::user_key("u", "ust_secret"));
        assert!(!shown.contains("secret"), "{shown}");
        let shown = format!("{:?}", Auth::hawk("u", "secret"));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn empty_members_are_omitted_recursively() {
        let value = serde_json::json!({
            "a": 0, "b": false, "c": "", "d": [], "e": null,
            "f": {"g": 0, "h": 1}, "i": [{"j": ""}], "k": true
        });
        assert_eq!(
            omit_empty(value),
            serde_json::json!({"f": {"h": 1}, "i": [{}], "k": true})
        );
    }
}
