//! CUP-ECDSA signing of update answers (`omaha_proto::cup` has the wire format).
//!
//! A client that sends `cup2key=<key version>:<nonce>` (and, optionally,
//! `cup2hreq=<SHA-256 of its body>`) gets its answer signed with the private key of that
//! key version: the `X-Cup-Server-Proof` header and, for older clients, a weak `ETag` carry
//! `<signature>:<request hash>`. [`sign`] is a middleware, so it signs the bytes of
//! whatever body a route of the update endpoint sends, whatever its wire protocol (Omaha v3
//! XML today; JSON's route takes the same layer). Every answer of the wrapped routes is
//! signed, whatever its status. Without `cup2key` the request and the answer pass through
//! untouched.
//!
//! Refused with 400 before anything of the request is processed (nothing is stored): a
//! malformed `cup2key` or `cup2hreq`, a `cup2hreq` that is not the hash of the body
//! received (the body was altered on its way), and a key version the server has no key
//! for. The last is an error, not an unsigned answer: a client asking for a signature
//! would refuse an unsigned answer anyway, and the operator learns from the message (and
//! the `bad_request` count) that updaters pin a key this server does not serve.
//!
//! Keys: one PEM file per key version, `<version>.pem` (PKCS#8, or SEC1 as `openssl
//! ecparam -genkey` writes it), in the key directory: `--cup-key-dir`, or else `cup-keys/`
//! in the data directory, where key version 1 is created on the first start (mode 0600 in
//! a 0700 directory). Every key in the directory is served, which is how a rotation serves
//! two at once. `GET /v1/cup/keys` and `update-server cup-keys` list the public keys.

use crate::config::Config;
use crate::metrics::{ErrorKind, Metrics};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use omaha_proto::cup::{CupPublicKey, CupQuery, CupSigningKey, KeyVersion, RequestHash};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the public keys are served.
pub const KEYS_PATH: &str = "/v1/cup/keys";

/// The directory under the data directory that holds the keys by default.
pub const KEYS_DIR: &str = "cup-keys";

/// Most keys served at once (a rotation needs two; a few more leave room for keeping old
/// versions alive).
pub const MAX_KEYS: usize = 16;

/// Largest key file read, in bytes (a P-256 key in PEM is about 250).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The header of the proof.
const PROOF: header::HeaderName = header::HeaderName::from_static("x-cup-server-proof");

/// Why the signing keys could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum CupKeyError {
    /// A file or the directory could not be read or written.
    #[error("CUP keys: {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A key file does not hold a P-256 private key.
    #[error("CUP keys: {path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: omaha_proto::cup::CupError,
    },
    /// A key file is larger than any key.
    #[error("CUP keys: {path} is over {max} bytes: not a key", max = MAX_KEY_FILE)]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The directory given holds no key.
    #[error(
        "CUP keys: {dir} holds no key file (`<key version>.pem`); create one with \
         `update-server cup-keys --new`, or leave --cup-key-dir unset to keep them in the data \
         directory"
    )]
    NoKeys {
        /// The directory.
        dir: PathBuf,
    },
    /// The directory holds more keys than are served at once.
    #[error("CUP keys: {dir} holds more than {max} keys; remove retired ones", max = MAX_KEYS)]
    TooMany {
        /// The directory.
        dir: PathBuf,
    },
    /// No key version is left above the highest one.
    #[error("CUP keys: no key version after {0}")]
    NoNextVersion(KeyVersion),
    /// The system's random number generator failed.
    #[error("CUP keys: no random numbers: {0}")]
    Random(String),
}

/// The signing keys served, by key version.
#[derive(Debug, Clone, Default)]
pub struct CupKeys {
    keys: BTreeMap<KeyVersion, CupSigningKey>,
}

impl CupKeys {
    /// The keys given (at most [`MAX_KEYS`]; later ones are an error).
    pub fn new(
        keys: impl IntoIterator<Item = (KeyVersion, CupSigningKey)>,
    ) -> Result<Self, CupKeyError> {
        let keys: BTreeMap<_, _> = keys.into_iter().collect();
        if keys.len() > MAX_KEYS {
            return Err(CupKeyError::TooMany {
                dir: PathBuf::from("(given)"),
            });
        }
        Ok(Self { keys })
    }

    /// The key of a version.
    pub fn get(&self, version: KeyVersion) -> Option<&CupSigningKey> {
        self.keys.get(&version)
    }

    /// Whether there is no key (every `cup2key` is then refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The versions served, lowest first.
    pub fn versions(&self) -> impl Iterator<Item = KeyVersion> + '_ {
        self.keys.keys().copied()
    }

    /// The public keys, lowest version first.
    pub fn public_keys(&self) -> Vec<(KeyVersion, CupPublicKey)> {
        self.keys
            .iter()
            .map(|(v, k)| (*v, k.public_key()))
            .collect()
    }

    /// The keys in `dir`: every `<version>.pem` (other files are ignored). A missing
    /// directory holds no key.
    pub fn load_dir(dir: &Path) -> Result<Self, CupKeyError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CupKeyError::Io { path, source }
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io(dir)(e)),
        };
        let mut keys = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let Some(version) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".pem"))
                .and_then(|stem| stem.parse::<KeyVersion>().ok())
            else {
                continue;
            };
            if keys.len() == MAX_KEYS {
                return Err(CupKeyError::TooMany {
                    dir: dir.to_path_buf(),
                });
            }
            keys.insert(version, read_key(&path)?);
        }
        Ok(Self { keys })
    }

    /// The keys in `dir`, creating the directory (mode 0700) and key version 1 in it when
    /// it holds none.
    pub fn load_or_create(dir: &Path) -> Result<Self, CupKeyError> {
        let keys = Self::load_dir(dir)?;
        if !keys.is_empty() {
            return Ok(keys);
        }
        let version = KeyVersion::new(1).expect("1 is a key version");
        let key = create_key(dir, version)?;
        tracing::info!(
            dir = %dir.display(),
            "created CUP signing key version 1 (`update-server cup-keys` prints its public key)"
        );
        Self::new([(version, key)])
    }

    /// Creates the key of the version after the highest in `dir` (1 in an empty one) and
    /// returns its version and key.
    pub fn create_next(dir: &Path) -> Result<(KeyVersion, CupSigningKey), CupKeyError> {
        let keys = Self::load_dir(dir)?;
        if keys.keys.len() >= MAX_KEYS {
            return Err(CupKeyError::TooMany {
                dir: dir.to_path_buf(),
            });
        }
        let version = match keys.keys.keys().next_back() {
            Some(highest) => highest.next().ok_or(CupKeyError::NoNextVersion(*highest))?,
            None => KeyVersion::new(1).expect("1 is a key version"),
        };
        Ok((version, create_key(dir, version)?))
    }

    /// The public keys as `GET /v1/cup/keys` lists them.
    pub fn listing(&self) -> serde_json::Value {
        use base64::Engine as _;
        let keys: Vec<serde_json::Value> = self
            .public_keys()
            .into_iter()
            .map(|(version, key)| {
                serde_json::json!({
                    "keyVersion": version.get(),
                    "publicKeyDer": base64::engine::general_purpose::STANDARD.encode(key.to_der()),
                    "publicKeyPem": key.to_pem(),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// The key directory the configuration names: `--cup-key-dir`, else `cup-keys/` in the data
/// directory.
pub fn key_dir(config: &Config) -> PathBuf {
    config
        .cup_key_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join(KEYS_DIR))
}

/// The keys the configuration names: those of `--cup-key-dir` (which must hold one), else
/// those of the data directory's `cup-keys/`, where key version 1 is created on the first
/// start.
pub fn load_keys(config: &Config) -> Result<CupKeys, CupKeyError> {
    match &config.cup_key_dir {
        Some(dir) => {
            let keys = CupKeys::load_dir(dir)?;
            if keys.is_empty() {
                return Err(CupKeyError::NoKeys { dir: dir.clone() });
            }
            Ok(keys)
        }
        None => CupKeys::load_or_create(&config.data_dir.join(KEYS_DIR)),
    }
}

fn read_key(path: &Path) -> Result<CupSigningKey, CupKeyError> {
    use std::io::Read as _;
    let io = |source| CupKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(CupKeyError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o007 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the CUP signing key is readable by every user: chmod 600 it"
            );
        }
    }
    CupSigningKey::from_pem(&text).map_err(|source| CupKeyError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// Makes a key from the system's random numbers and writes it to `<dir>/<version>.pem`
/// (mode 0600), creating `dir` (mode 0700) if missing. The file appears whole or not at all
/// (written aside, then linked into place, never over an existing file): when replicas
/// sharing the directory start together, the first one's key is the one, and the others
/// read it.
fn create_key(dir: &Path, version: KeyVersion) -> Result<CupSigningKey, CupKeyError> {
    use std::io::Write as _;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CupKeyError::Io { path, source }
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io(dir))?;
    let mut bytes = [0u8; 32];
    let key = loop {
        getrandom::fill(&mut bytes).map_err(|e| CupKeyError::Random(e.to_string()))?;
        // Out of range (zero, or not below the curve's order) once in 2^32 draws: draw again.
        if let Ok(key) = CupSigningKey::from_bytes(&bytes) {
            break key;
        }
    };
    bytes.fill(0);
    let path = dir.join(format!("{version}.pem"));
    // A name of its own (random, and nothing of the key) for the file written aside.
    let mut tag = [0u8; 8];
    getrandom::fill(&mut tag).map_err(|e| CupKeyError::Random(e.to_string()))?;
    let aside = dir.join(format!(
        ".{version}.pem.{}.tmp",
        tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options.open(&aside).and_then(|mut file| {
        file.write_all(key.to_pem().as_bytes())?;
        file.sync_all()
    });
    if let Err(err) = written {
        let _ = std::fs::remove_file(&aside);
        return Err(io(&aside)(err));
    }
    let linked = std::fs::hard_link(&aside, &path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(key),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => read_key(&path),
        Err(err) => Err(io(&path)(err)),
    }
}

/// What [`sign`] needs.
#[derive(Clone)]
pub struct CupState {
    /// The keys served.
    pub keys: Arc<CupKeys>,
    /// Refusals are counted as `bad_request`.
    pub metrics: Arc<Metrics>,
}

fn refuse(state: &CupState, message: String) -> Response {
    state.metrics.request();
    state.metrics.error(ErrorKind::BadRequest);
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

/// The middleware of the update routes: signs the answer when the request carries
/// `cup2key`; passes everything through untouched otherwise.
pub async fn sign(State(state): State<CupState>, request: Request, next: Next) -> Response {
    let query = match CupQuery::from_query(request.uri().query().unwrap_or("")) {
        Ok(None) => return next.run(request).await,
        Ok(Some(query)) => query,
        Err(err) => return refuse(&state, format!("bad CUP parameters: {err}")),
    };
    let version = query.cup2key.key_version();
    let Some(key) = state.keys.get(version) else {
        let served: Vec<String> = state.keys.versions().map(|v| v.to_string()).collect();
        let served = if served.is_empty() {
            "none".to_owned()
        } else {
            served.join(", ")
        };
        return refuse(
            &state,
            format!(
                "unknown CUP key version {version}: this server signs with key versions {served} \
                 (GET {KEYS_PATH} lists their public keys)"
            ),
        );
    };
    // The body, within the update endpoint's limit (the same rejection as the handler's).
    let (parts, body) = request.into_parts();
    let body = match Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let request_hash = RequestHash::of(&body);
    if let Some(sent) = query.request_hash
        && sent != request_hash
    {
        return refuse(
            &state,
            format!(
                "cup2hreq {sent} is not the SHA-256 of the request body received ({request_hash}): \
                 the body was altered on its way"
            ),
        );
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (mut parts, body) = response.into_parts();
    let answer = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(answer) => answer,
        Err(err) => {
            tracing::error!(error = %err, "the answer could not be read for signing");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the answer could not be signed\n",
            )
                .into_response();
        }
    };
    let proof = key.sign(&request_hash, &answer, &query.cup2key);
    let headers = &mut parts.headers;
    // A proof is hex digits, `:`, `W/` and quotes: always a valid header value.
    for (name, value) in [(PROOF, proof.to_string()), (header::ETAG, proof.to_etag())] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Response::from_parts(parts, Body::from(answer))
}
