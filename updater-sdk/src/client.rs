//! The IO shell's transport: Omaha requests over reqwest with timeouts and retries, the
//! payload download with resume and streaming verification, the detached signature
//! fetch. This module is the only one that reads the clock, sleeps or draws random
//! numbers.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use omaha_proto::digest::{Digest as _, Sha256Digest};
use omaha_proto::{Request, Response};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use crate::core::{AnswerProof, SchedulePolicy, UpdateInfo, backoff_delay, verify_answer};
use crate::error::Error;
use crate::hooks::{Hooks, Notification};

/// The largest Omaha response accepted (the server's request limit, mirrored).
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// The largest detached signature file accepted.
const MAX_SIGNATURE_BYTES: usize = 4096;
/// The suffix appended to the payload URL to find its detached signature.
pub const SIGNATURE_SUFFIX: &str = ".sig";

/// The wire protocol the updater speaks to the update service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// Omaha v3 XML, `POST <server>/v1/update/` (what update_engine speaks). The default.
    #[default]
    Xml,
    /// Omaha JSON, protocol 3.1 (Chromium's updater), `POST <server>/v1/update/json`.
    Json,
}

impl Protocol {
    /// The update endpoint's path, relative to the server's `/v1/update`.
    fn endpoint_suffix(self) -> &'static str {
        match self {
            Self::Xml => "/",
            Self::Json => "/json",
        }
    }

    /// The update endpoint for a server URL: `<server>/v1/update/` (XML) or
    /// `<server>/v1/update/json` (JSON) appended, unless the URL already names an update
    /// endpoint (`…/v1/update`, `…/v1/update/`, `…/v1/update/json`).
    #[must_use]
    pub fn endpoint(self, server: &str) -> String {
        let trimmed = server.trim_end_matches('/');
        let base = trimmed.strip_suffix("/json").unwrap_or(trimmed);
        if base.ends_with("/v1/update") {
            format!("{base}{}", self.endpoint_suffix())
        } else {
            format!("{trimmed}/v1/update{}", self.endpoint_suffix())
        }
    }
}

/// The pinned CUP key of an updater that requires signed answers.
#[derive(Debug, Clone)]
pub(crate) struct CupPin {
    pub(crate) version: omaha_proto::cup::KeyVersion,
    pub(crate) key: omaha_proto::cup::CupPublicKey,
    pub(crate) max_age: Duration,
}

/// HTTP settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Timeout of each Omaha request, from sending to the last byte of the answer.
    pub request_timeout: Duration,
    /// Timeout to establish a connection.
    pub connect_timeout: Duration,
    /// Longest silence while downloading a payload (a download as a whole has no limit).
    pub download_read_timeout: Duration,
    /// Attempts per request (Omaha request or download) before giving up; transient
    /// failures (transport errors, timeouts, HTTP 5xx and 429) are retried with
    /// exponential backoff and jitter.
    pub attempts: u32,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// PEM certificates (one or more) to trust instead of the system's roots, for an
    /// update service or payload server behind a private CA. `None`: the system's roots.
    pub trusted_roots_pem: Option<Vec<u8>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            download_read_timeout: Duration::from_secs(60),
            attempts: 3,
            user_agent: crate::core::UPDATER_NAME.to_owned(),
            trusted_roots_pem: None,
        }
    }
}

impl HttpOptions {
    /// Sets [`HttpOptions::request_timeout`].
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`HttpOptions::connect_timeout`].
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`HttpOptions::download_read_timeout`].
    #[must_use]
    pub fn download_read_timeout(mut self, timeout: Duration) -> Self {
        self.download_read_timeout = timeout;
        self
    }

    /// Sets [`HttpOptions::attempts`] (at least 1).
    #[must_use]
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Trusts only the certificates in this PEM bundle (see
    /// [`HttpOptions::trusted_roots_pem`]).
    #[must_use]
    pub fn trust_only_roots_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.trusted_roots_pem = Some(pem.into());
        self
    }

    /// Sets [`HttpOptions::user_agent`].
    #[must_use]
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        user_agent.clone_into(&mut self.user_agent);
        self
    }
}

/// The current time: the one clock read of the SDK.
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// A jitter sample in `[0, 1)`.
pub(crate) fn jitter_sample() -> f64 {
    fastrand::f64()
}

/// A CUP nonce: 32 bytes from the system's random number generator, in unpadded
/// base64url (as Chromium sends it).
fn cup_nonce() -> Result<String, Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Config(format!("no random numbers for the CUP nonce: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A fresh `requestid`: a random UUID (version 4 layout), in braces as Omaha writes it.
fn request_id() -> Result<String, Error> {
    let mut b = [0_u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Config(format!("no random numbers for the request id: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{{{}-{}-{}-{}-{}}}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// A generated machine id: 32 lower-case hex digits, like `/etc/machine-id`.
pub(crate) fn generate_machine_id() -> String {
    (0..32)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

pub(crate) async fn sleep(delay: Duration) {
    tokio::time::sleep(delay).await;
}

fn transport_error(url: &str, error: reqwest::Error) -> Error {
    if error.is_timeout() {
        Error::Timeout {
            url: url.to_owned(),
        }
    } else {
        Error::Transport {
            url: url.to_owned(),
            source: Box::new(error),
        }
    }
}

/// The HTTP side of an updater.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    omaha_url: String,
    protocol: Protocol,
    cup: Option<CupPin>,
    options: HttpOptions,
    backoff: SchedulePolicy,
}

/// A detached signature to check while downloading: the key and the signature.
pub(crate) type SignatureCheck = (ed25519_dalek::VerifyingKey, ed25519_dalek::Signature);

impl Transport {
    pub(crate) fn new(
        server_url: &str,
        protocol: Protocol,
        cup: Option<CupPin>,
        options: HttpOptions,
        backoff: SchedulePolicy,
    ) -> Result<Self, Error> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.download_read_timeout)
            .user_agent(options.user_agent.clone());
        if let Some(pem) = &options.trusted_roots_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config(format!("trusted roots: {e}")))?;
            if roots.is_empty() {
                return Err(Error::Config(
                    "trusted roots: no certificate in the PEM bundle".into(),
                ));
            }
            builder = builder.tls_certs_only(roots);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            omaha_url: protocol.endpoint(server_url),
            protocol,
            cup,
            options,
            backoff,
        })
    }

    /// Runs `attempt` until it succeeds, fails permanently or the attempts are used up,
    /// sleeping with backoff between transient failures.
    async fn retrying<T, F, Fut>(&self, hooks: &dyn Hooks, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut failures = 0_u32;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() && failures + 1 < self.options.attempts => {
                    failures += 1;
                    let retry_in = backoff_delay(&self.backoff, failures, jitter_sample());
                    tracing::warn!(%error, ?retry_in, "request failed, retrying");
                    hooks.notify(&Notification::Retrying {
                        error: &error,
                        retry_in,
                    });
                    sleep(retry_in).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Sends an Omaha request (retrying transient failures) and decodes the answer. With a
    /// pinned CUP key, every attempt carries a fresh `requestid` and nonce, and its answer
    /// is refused unless it is signed for exactly this attempt and arrived in time.
    pub(crate) async fn omaha(
        &self,
        request: &Request,
        hooks: &dyn Hooks,
    ) -> Result<Response, Error> {
        self.retrying(hooks, || self.omaha_once(request)).await
    }

    async fn omaha_once(&self, request: &Request) -> Result<Response, Error> {
        let mut request = request.clone();
        if self.cup.is_some() {
            // Unique per attempt, so no two requests have the same body, and an answer
            // replayed from another one names another request hash.
            request.request_id = Some(request_id()?);
        }
        let (body, content_type) = match self.protocol {
            Protocol::Xml => (request.encode(), "text/xml; charset=utf-8"),
            Protocol::Json => {
                request.protocol = Some(omaha_proto::codes::Protocol::V3_1);
                (request.encode_json(), "application/json")
            }
        };
        let cup2key = match &self.cup {
            Some(pin) => Some(
                omaha_proto::cup::Cup2Key::new(pin.version, &cup_nonce()?)
                    .map_err(|e| Error::Config(format!("CUP: {e}")))?,
            ),
            None => None,
        };
        let url = match &cup2key {
            Some(key) => {
                let query = omaha_proto::cup::CupQuery::for_request(key.clone(), &body);
                format!("{}?{}", self.omaha_url, query.to_query())
            }
            None => self.omaha_url.clone(),
        };
        let sent = now();
        let mut response = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .timeout(self.options.request_timeout)
            .body(body.clone())
            .send()
            .await
            .map_err(|e| transport_error(&self.omaha_url, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Server {
                status: status.as_u16(),
            });
        }
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let server_proof = header(reqwest::header::HeaderName::from_static(
            omaha_proto::cup::PROOF_HEADER,
        ));
        let etag = header(reqwest::header::ETAG);
        let bytes = read_capped(&mut response, &self.omaha_url, MAX_RESPONSE_BYTES).await?;
        if let (Some(pin), Some(cup2key)) = (&self.cup, &cup2key) {
            let proof = AnswerProof {
                server_proof: server_proof.as_deref(),
                etag: etag.as_deref(),
            };
            verify_answer(
                &pin.key,
                cup2key,
                &body,
                &bytes,
                proof,
                now().saturating_duration_since(sent),
                pin.max_age,
            )
            .inspect_err(|refused| {
                tracing::warn!(%refused, url = %self.omaha_url, "refused an answer of the update service");
            })?;
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::EmptyResponse);
        }
        Ok(match self.protocol {
            Protocol::Xml => Response::decode(&bytes)?,
            Protocol::Json => Response::decode_json(&bytes)?,
        })
    }

    /// Downloads `update` into `path`, resuming the bytes already there, and verifies its
    /// size, its SHA-256 and, when given, its ed25519 signature, all while streaming.
    pub(crate) async fn download(
        &self,
        update: &UpdateInfo,
        path: &Path,
        signature: Option<SignatureCheck>,
        hooks: &dyn Hooks,
    ) -> Result<(), Error> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .await
            .map_err(|e| Error::io(path, e))?;
        let mut sink = Sink::resume(&mut file, path, update.size, signature).await?;
        if sink.len > 0 {
            hooks.notify(&Notification::DownloadResumed { offset: sink.len });
        }
        let mut failures = 0_u32;
        loop {
            match self.fetch_into(update, &mut sink, hooks).await {
                Ok(()) => break,
                Err(error) if error.is_transient() && failures + 1 < self.options.attempts => {
                    failures += 1;
                    let retry_in = backoff_delay(&self.backoff, failures, jitter_sample());
                    tracing::warn!(%error, offset = sink.len, ?retry_in, "download interrupted, resuming");
                    hooks.notify(&Notification::Retrying {
                        error: &error,
                        retry_in,
                    });
                    sleep(retry_in).await;
                }
                Err(error) => {
                    sink.flush().await?;
                    return Err(error);
                }
            }
        }
        sink.flush().await?;
        if sink.len != update.size {
            return Err(Error::SizeMismatch {
                expected: update.size,
                actual: sink.len,
            });
        }
        let actual = Sha256Digest(sink.sha256.clone().finalize().into());
        if actual != update.sha256 {
            return Err(Error::HashMismatch {
                expected: update.sha256.to_base64(),
                actual: actual.to_base64(),
            });
        }
        if let Some(verifier) = sink.verifier.take() {
            verifier.finalize_and_verify().map_err(|_| {
                Error::Signature(format!(
                    "the signature of {} does not verify with the configured key",
                    update.url
                ))
            })?;
        }
        Ok(())
    }

    /// One GET of the rest of the payload.
    async fn fetch_into(
        &self,
        update: &UpdateInfo,
        sink: &mut Sink<'_>,
        hooks: &dyn Hooks,
    ) -> Result<(), Error> {
        if sink.len == update.size {
            return Ok(());
        }
        let url = update.url.as_str();
        let mut request = self.http.get(url);
        if sink.len > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={}-", sink.len));
        }
        let mut response = request.send().await.map_err(|e| transport_error(url, e))?;
        match response.status().as_u16() {
            206 => {
                let expected = format!("bytes {}-", sink.len);
                let from_offset = response
                    .headers()
                    .get(reqwest::header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with(&expected));
                if !from_offset {
                    return Err(Error::Download {
                        url: url.to_owned(),
                        status: 206,
                    });
                }
            }
            200 => sink.restart().await?,
            // Nothing left past our offset: the file is as long as the server's, and the
            // size check says whether that is right.
            416 if sink.len > 0 => return Ok(()),
            status => {
                return Err(Error::Download {
                    url: url.to_owned(),
                    status,
                });
            }
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(url, e))?
        {
            let total = sink.len + chunk.len() as u64;
            if total > update.size {
                return Err(Error::SizeMismatch {
                    expected: update.size,
                    actual: total,
                });
            }
            sink.write(&chunk).await?;
            hooks.notify(&Notification::DownloadProgress {
                bytes: sink.len,
                total: update.size,
            });
        }
        Ok(())
    }

    /// Fetches the detached signature at `<payload URL>.sig`: 64 raw bytes, or their
    /// standard base64 (surrounding whitespace ignored).
    pub(crate) async fn signature(
        &self,
        payload_url: &str,
        hooks: &dyn Hooks,
    ) -> Result<[u8; 64], Error> {
        let url = format!("{payload_url}{SIGNATURE_SUFFIX}");
        let body = self
            .retrying(hooks, || async {
                let mut response = self
                    .http
                    .get(&url)
                    .timeout(self.options.request_timeout)
                    .send()
                    .await
                    .map_err(|e| transport_error(&url, e))?;
                let status = response.status().as_u16();
                if status == 404 {
                    return Err(Error::Signature(format!("no signature at {url}")));
                }
                if status != 200 {
                    return Err(Error::Download {
                        url: url.clone(),
                        status,
                    });
                }
                read_capped(&mut response, &url, MAX_SIGNATURE_BYTES).await
            })
            .await?;
        parse_signature(&body)
            .ok_or_else(|| Error::Signature(format!("{url} is not an ed25519 signature")))
    }
}

/// A detached signature file: 64 raw bytes, or base64 of them.
pub(crate) fn parse_signature(body: &[u8]) -> Option<[u8; 64]> {
    // Base64 of 64 bytes is 88 characters, so no body is both forms.
    let decoded = std::str::from_utf8(body).ok().and_then(|text| {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
    });
    match decoded {
        Some(bytes) => <[u8; 64]>::try_from(bytes.as_slice()).ok(),
        None => <[u8; 64]>::try_from(body).ok(),
    }
}

async fn read_capped(
    response: &mut reqwest::Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(url, e))?
    {
        if out.len() + chunk.len() > limit {
            return Err(Error::InvalidResponse(format!(
                "{url} sent more than {limit} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The payload file being written, with its running digest and signature check.
struct Sink<'f> {
    file: &'f mut tokio::fs::File,
    path: &'f Path,
    len: u64,
    sha256: sha2::Sha256,
    signature: Option<SignatureCheck>,
    verifier: Option<ed25519_dalek::StreamVerifier>,
}

impl<'f> Sink<'f> {
    /// Takes over the bytes already in the file (hashing them), or empties the file when
    /// it is longer than the payload can be.
    async fn resume(
        file: &'f mut tokio::fs::File,
        path: &'f Path,
        size: u64,
        signature: Option<SignatureCheck>,
    ) -> Result<Self, Error> {
        let on_disk = file.metadata().await.map_err(|e| Error::io(path, e))?.len();
        let mut sink = Self {
            file,
            path,
            len: 0,
            sha256: sha2::Sha256::new(),
            verifier: verifier(signature.as_ref(), path)?,
            signature,
        };
        if on_disk > size {
            sink.restart().await?;
            return Ok(sink);
        }
        sink.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(|e| Error::io(path, e))?;
        let mut buf = vec![0_u8; 64 * 1024];
        loop {
            let n = sink
                .file
                .read(&mut buf)
                .await
                .map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            sink.sha256.update(&buf[..n]);
            if let Some(v) = sink.verifier.as_mut() {
                v.update(&buf[..n]);
            }
            sink.len += n as u64;
        }
        Ok(sink)
    }

    async fn restart(&mut self) -> Result<(), Error> {
        self.file
            .set_len(0)
            .await
            .map_err(|e| Error::io(self.path, e))?;
        self.len = 0;
        self.sha256 = sha2::Sha256::new();
        self.verifier = verifier(self.signature.as_ref(), self.path)?;
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(bytes)
            .await
            .map_err(|e| Error::io(self.path, e))?;
        self.sha256.update(bytes);
        if let Some(v) = self.verifier.as_mut() {
            v.update(bytes);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Error> {
        self.file
            .flush()
            .await
            .map_err(|e| Error::io(self.path, e))?;
        self.file
            .sync_data()
            .await
            .map_err(|e| Error::io(self.path, e))
    }
}

/// A fresh streaming verifier (pure Ed25519: the signature's hash covers `R`, the key and
/// the whole message, so it can be computed as the bytes arrive).
fn verifier(
    check: Option<&SignatureCheck>,
    path: &Path,
) -> Result<Option<ed25519_dalek::StreamVerifier>, Error> {
    check
        .map(|(key, signature)| {
            key.verify_stream(signature).map_err(|_| {
                Error::Signature(format!(
                    "malformed signature for {}",
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                ))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Duration>>);

    #[async_trait::async_trait]
    impl Hooks for Recorder {
        async fn install(
            &self,
            _: &Path,
            _: &UpdateInfo,
        ) -> Result<crate::InstallOutcome, crate::HookError> {
            Err("not used".into())
        }

        fn notify(&self, notification: &Notification<'_>) {
            if let Notification::Retrying { retry_in, .. } = notification {
                self.0.lock().unwrap().push(*retry_in);
            }
        }
    }

    fn transport(attempts: u32) -> Transport {
        let backoff = SchedulePolicy {
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(25),
            ..SchedulePolicy::default()
        };
        Transport::new(
            "http://127.0.0.1:9",
            Protocol::Xml,
            None,
            HttpOptions::default().attempts(attempts),
            backoff,
        )
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_back_off_exponentially_then_give_up() {
        let hooks = Recorder::default();
        let calls = Mutex::new(0);
        let start = tokio::time::Instant::now();
        let result: Result<(), Error> = transport(4)
            .retrying(&hooks, || async {
                *calls.lock().unwrap() += 1;
                Err(Error::Server { status: 503 })
            })
            .await;
        assert!(matches!(result, Err(Error::Server { status: 503 })));
        assert_eq!(*calls.lock().unwrap(), 4);
        let delays = hooks.0.lock().unwrap().clone();
        assert_eq!(delays.len(), 3);
        // Equal jitter: between half and all of 10 s, 20 s, then the 25 s cap.
        for (delay, full) in delays.iter().zip([10, 20, 25]) {
            let full = Duration::from_secs(full);
            assert!(
                *delay >= full / 2 && *delay <= full,
                "{delay:?} for {full:?}"
            );
        }
        // Virtual time moved by the delays (the timer rounds each up to a millisecond).
        let slept = delays.iter().sum::<Duration>();
        let elapsed = start.elapsed();
        assert!(
            elapsed >= slept && elapsed - slept < Duration::from_millis(5),
            "{elapsed:?} vs {slept:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_and_successes_are_not_retried() {
        let hooks = Recorder::default();
        let calls = Mutex::new(0);
        let result: Result<(), Error> = transport(4)
            .retrying(&hooks, || async {
                *calls.lock().unwrap() += 1;
                Err(Error::EmptyResponse)
            })
            .await;
        assert!(matches!(result, Err(Error::EmptyResponse)));
        let ok = transport(4)
            .retrying(&hooks, || async {
                *calls.lock().unwrap() += 1;
                Ok(7)
            })
            .await;
        assert_eq!(ok.unwrap(), 7);
        assert_eq!(*calls.lock().unwrap(), 2);
        assert!(hooks.0.lock().unwrap().is_empty());
    }

    #[test]
    fn signatures_are_raw_or_base64() {
        let raw = [7_u8; 64];
        assert_eq!(parse_signature(&raw), Some(raw));
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(parse_signature(format!("{b64}\n").as_bytes()), Some(raw));
        assert_eq!(parse_signature(b"not a signature"), None);
        assert_eq!(parse_signature(&[7_u8; 63]), None);
    }

    #[test]
    fn nonces_and_request_ids_are_fresh_and_well_formed() {
        let (a, b) = (cup_nonce().unwrap(), cup_nonce().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in unpadded base64url");
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a)
            .unwrap();
        assert_eq!(decoded.len(), 32);
        let id = request_id().unwrap();
        assert_ne!(id, request_id().unwrap());
        assert_eq!(id.len(), 38);
        assert!(id.starts_with('{') && id.ends_with('}'));
        assert_eq!(&id[15..16], "4", "version 4 layout: {id}");
    }

    #[test]
    fn generated_machine_ids_look_like_etc_machine_id() {
        let id = generate_machine_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
}
