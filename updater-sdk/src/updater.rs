//! The [`Updater`] and its builder: the IO shell that drives the [`crate::core`] decisions
//! with the transport, the state directory and the hooks.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use omaha_proto::digest::Digest as _;
use omaha_proto::request::Event;

use crate::client::{self, CupPin, HttpOptions, Protocol, Transport};
use crate::core::{
    self, CheckResult, Identity, PartialDownload, PendingUpdate, Phase, Resume, Schedule,
    SchedulePolicy, State, UpdateInfo, UpdatePlan,
};
use crate::error::Error;
use crate::hooks::{Hooks, InstallOutcome, Notification};
use crate::state;

/// The default machine id file.
pub const MACHINE_ID_PATH: &str = "/etc/machine-id";

/// The default of [`UpdaterBuilder::cup_max_answer_age`]: 30 seconds, the default
/// request timeout ([`HttpOptions::request_timeout`]).
pub const DEFAULT_CUP_MAX_ANSWER_AGE: Duration = Duration::from_secs(30);

/// An ed25519 public key that payload signatures are checked against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// The key from its 32 bytes.
    ///
    /// # Errors
    /// [`Error::Config`] when the bytes are not a valid ed25519 point, or a weak
    /// (small-order) one that any signature would verify against.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| Error::Config("not an ed25519 public key".into()))?;
        if key.is_weak() {
            return Err(Error::Config(
                "a weak (small-order) ed25519 public key is refused".into(),
            ));
        }
        Ok(Self(key))
    }

    /// The key from the standard base64 of its 32 bytes.
    ///
    /// # Errors
    /// [`Error::Config`] when the text is not that.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| Error::Config("public key is not base64".into()))?;
        let bytes = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| Error::Config("an ed25519 public key is 32 bytes".into()))?;
        Self::from_bytes(&bytes)
    }

    /// The key's 32 bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PublicKey({})",
            base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
        )
    }
}

impl std::str::FromStr for PublicKey {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::from_base64(text)
    }
}

/// What one [`Updater::run_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The server has no update.
    NoUpdate,
    /// An update is complete and reported (3/2): installed just now
    /// ([`InstallOutcome::Complete`]), or found running after a restart. After an update
    /// of several steps (floors, then the target), every step is complete and reported.
    Completed {
        /// The version it replaced (for several steps, the version before the first).
        from_version: String,
        /// The version now running.
        version: String,
    },
    /// An update was installed with its completion deferred (800/1 reported); it
    /// completes when an updater runs with the new version as its current version. For a
    /// step of several, the later steps follow then.
    Deferred {
        /// The installed version.
        version: String,
    },
    /// A deferred update is still waiting for the app to restart on it (a ping was sent,
    /// no check).
    AwaitingRestart {
        /// The installed version.
        version: String,
    },
}

/// Builds an [`Updater`]; see [`Updater::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct UpdaterBuilder {
    server_url: String,
    app_id: String,
    group: String,
    machine_id: Option<String>,
    machine_id_path: PathBuf,
    current_version: Option<String>,
    state_dir: Option<PathBuf>,
    install_source: String,
    http: HttpOptions,
    public_key: Option<PublicKey>,
    schedule: SchedulePolicy,
    multi_manifest_ok: bool,
    protocol: Protocol,
    cup_keys: std::collections::BTreeMap<u32, omaha_proto::cup::CupPublicKey>,
    cup_max_answer_age: Duration,
}

impl UpdaterBuilder {
    /// The wire protocol: Omaha v3 XML on `<server>/v1/update/` ([`Protocol::Xml`], the
    /// default) or Omaha JSON 3.1 on `<server>/v1/update/json` ([`Protocol::Json`]).
    /// Checks, events and the decisions are the same in both.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Pins the update service's CUP public key of key `version` (from `update-server
    /// cup-keys` or `GET /v1/cup/keys`; see `docs/signing.md`). Once a key is pinned, every
    /// request carries a fresh nonce (`cup2key`) and its body hash (`cup2hreq`), and every
    /// answer must carry a valid signature over this very request and answer, and arrive
    /// within [`UpdaterBuilder::cup_max_answer_age`]; any other answer is refused
    /// ([`Error::AnswerRefused`]) and nothing in it is acted on.
    ///
    /// Call it once per key during a rotation: requests name the newest (highest) version
    /// pinned, so an updater built with keys 1 and 2 works against a server serving 2 (and
    /// with 1 only, against one serving 1).
    pub fn cup_key(mut self, version: u32, key: omaha_proto::cup::CupPublicKey) -> Self {
        self.cup_keys.insert(version, key);
        self
    }

    /// With a pinned CUP key: the longest time from sending a request to having its whole
    /// answer; a later answer is refused as stale ([`crate::AnswerRefused::Stale`]), even
    /// when signed (default [`DEFAULT_CUP_MAX_ANSWER_AGE`], 30 s). The request timeout
    /// still bounds the wait.
    pub fn cup_max_answer_age(mut self, max: Duration) -> Self {
        self.cup_max_answer_age = max;
        self
    }

    /// The group (sent as `track`). Default `stable`.
    pub fn group(mut self, group: &str) -> Self {
        group.clone_into(&mut self.group);
        self
    }

    /// The instance id (sent as `machineid`). Default: the content of `/etc/machine-id`
    /// when present, else a random id generated once and kept in the state directory.
    pub fn machine_id(mut self, machine_id: &str) -> Self {
        self.machine_id = Some(machine_id.to_owned());
        self
    }

    /// Where the default machine id is read from (default [`MACHINE_ID_PATH`]).
    pub fn machine_id_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.machine_id_path = path.into();
        self
    }

    /// The version the app runs now. Required.
    pub fn current_version(mut self, version: &str) -> Self {
        self.current_version = Some(version.to_owned());
        self
    }

    /// The directory for the state file and downloads; created if missing. Required.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The request's `installsource`: `scheduler` (default) or `ondemandupdate`.
    pub fn install_source(mut self, source: &str) -> Self {
        source.clone_into(&mut self.install_source);
        self
    }

    /// HTTP timeouts, attempts and user agent.
    pub fn http(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// Requires every payload to carry a valid detached signature by this key (see the
    /// crate docs for the convention). Without a key, signatures are not fetched.
    pub fn public_key(mut self, key: PublicKey) -> Self {
        self.public_key = Some(key);
        self
    }

    /// The time between checks when the server sends no `PollInterval` (default 45
    /// minutes), spread by `±jitter` (a fraction; default 0.1).
    pub fn poll_interval(mut self, interval: Duration, jitter: f64) -> Self {
        self.schedule.poll_interval = interval;
        self.schedule.poll_jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// Whether checks send `multi_manifest_ok="true"` (default `false`). With it, an
    /// instance below one or more floors of its channel gets every floor on the way and
    /// the target in one answer ([`crate::core::UpdatePlan`]), and the updater installs
    /// them in order in one pass: for each step the download with its own size and
    /// hashes, the install hook, the health check and the step's events (13/1, 14/1,
    /// 3/1, then 3/2 naming the step's version). A failure at any step stops there (3/0
    /// with its code). Without it, each check gets the next floor only, and the floors
    /// are installed one pass at a time.
    pub fn multi_manifest(mut self, enabled: bool) -> Self {
        self.multi_manifest_ok = enabled;
        self
    }

    /// The backoff after failures: from `initial`, doubling, up to `max`, with jitter
    /// (defaults 10 s and 4 h). Used between retries of one request and between failed
    /// checks in [`Updater::run`].
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.schedule.backoff_initial = initial;
        self.schedule.backoff_max = max.max(initial);
        self
    }

    /// Builds the updater: creates the state directory, reads the state file and settles
    /// the machine id.
    ///
    /// # Errors
    /// [`Error::Config`] for a missing current version or state directory, an unusable
    /// URL or a CUP key version 0; [`Error::Io`] or [`Error::State`] when the state
    /// directory is unusable.
    pub async fn build(self, hooks: impl Hooks + 'static) -> Result<Updater, Error> {
        let current_version = self
            .current_version
            .ok_or_else(|| Error::Config("the current version is required".into()))?;
        let state_dir = self
            .state_dir
            .ok_or_else(|| Error::Config("the state directory is required".into()))?;
        if !(self.server_url.starts_with("http://") || self.server_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "the server URL {:?} is not http(s)",
                self.server_url
            )));
        }
        if self.app_id.trim().is_empty() {
            return Err(Error::Config("the app id is required".into()));
        }
        if self.cup_keys.contains_key(&0) {
            return Err(Error::Config("CUP key versions start at 1".into()));
        }
        // Requests name the newest key pinned.
        let cup = match self.cup_keys.last_key_value() {
            None => None,
            Some((&version, key)) => Some(CupPin {
                version: omaha_proto::cup::KeyVersion::new(version)
                    .map_err(|e| Error::Config(format!("CUP key: {e}")))?,
                key: *key,
                max_age: self.cup_max_answer_age,
            }),
        };
        tokio::fs::create_dir_all(&state_dir)
            .await
            .map_err(|e| Error::io(&state_dir, e))?;
        let mut persisted = state::load(&state_dir)?;
        // Anti-rollback: the version the app runs counts as installed.
        let highest = core::highest_after(
            persisted.highest_installed.as_deref(),
            &current_version,
            false,
        );
        if persisted.highest_installed.as_deref() != Some(highest.as_str()) {
            persisted.highest_installed = Some(highest);
            state::save(&state_dir, &persisted).await?;
        }
        let machine_id = match self.machine_id {
            Some(id) => id,
            None => match read_machine_id(&self.machine_id_path).await {
                Some(id) => id,
                None => {
                    if let Some(id) = &persisted.machine_id {
                        id.clone()
                    } else {
                        let id = client::generate_machine_id();
                        persisted.machine_id = Some(id.clone());
                        state::save(&state_dir, &persisted).await?;
                        id
                    }
                }
            },
        };
        let transport = Transport::new(
            &self.server_url,
            self.protocol,
            cup,
            self.http,
            self.schedule,
        )?;
        Ok(Updater {
            identity: Identity {
                app_id: self.app_id,
                group: self.group,
                machine_id,
                install_source: self.install_source,
                multi_manifest_ok: self.multi_manifest_ok,
            },
            state_dir,
            current_version: Mutex::new(current_version),
            transport,
            hooks: Box::new(hooks),
            public_key: self.public_key,
            schedule: self.schedule,
            state: tokio::sync::Mutex::new(persisted),
        })
    }
}

async fn read_machine_id(path: &Path) -> Option<String> {
    let text = tokio::fs::read_to_string(path).await.ok()?;
    let id = text.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// An application's updater: checks, downloads, verifies, installs through the
/// [`Hooks`] and reports every step to the update service.
pub struct Updater {
    identity: Identity,
    state_dir: PathBuf,
    current_version: Mutex<String>,
    transport: Transport,
    hooks: Box<dyn Hooks>,
    public_key: Option<PublicKey>,
    schedule: SchedulePolicy,
    /// The persisted state; holding the lock is running a cycle.
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for Updater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updater")
            .field("identity", &self.identity)
            .field("state_dir", &self.state_dir)
            .field("current_version", &self.current_version())
            .finish_non_exhaustive()
    }
}

impl Updater {
    /// Starts a builder for app `app_id` on the update service at `server_url`
    /// (`http://host:port`; the protocol's endpoint, `/v1/update/` or `/v1/update/json`, is
    /// appended, and a URL already ending in `/v1/update/` is used up to there).
    pub fn builder(server_url: &str, app_id: &str) -> UpdaterBuilder {
        UpdaterBuilder {
            server_url: server_url.to_owned(),
            app_id: app_id.to_owned(),
            group: "stable".to_owned(),
            machine_id: None,
            machine_id_path: PathBuf::from(MACHINE_ID_PATH),
            current_version: None,
            state_dir: None,
            install_source: "scheduler".to_owned(),
            http: HttpOptions::default(),
            public_key: None,
            schedule: SchedulePolicy::default(),
            multi_manifest_ok: false,
            protocol: Protocol::Xml,
            cup_keys: std::collections::BTreeMap::new(),
            cup_max_answer_age: DEFAULT_CUP_MAX_ANSWER_AGE,
        }
    }

    /// The version the updater reports: the one it was built with, or the one it
    /// installed and completed since.
    #[must_use]
    pub fn current_version(&self) -> String {
        self.current_version
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |v| v.clone())
    }

    fn set_current_version(&self, version: &str) {
        let mut guard = self
            .current_version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        version.clone_into(&mut guard);
    }

    /// The machine id sent to the server.
    #[must_use]
    pub fn machine_id(&self) -> &str {
        &self.identity.machine_id
    }

    /// The state directory.
    #[must_use]
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// One pass, for cron-style use: finishes a pending update (health check and 3/2 after
    /// a restart), else checks for an update and, when there is one, downloads, verifies,
    /// installs and reports it.
    ///
    /// Safe to cancel (drop) at any point: the state is written atomically at each step
    /// and a cut download resumes on the next pass.
    ///
    /// # Errors
    /// Any [`Error`]; failures after an update started were reported to the server as 3/0
    /// with [`Error::omaha_error_code`].
    pub async fn run_once(&self) -> Result<Outcome, Error> {
        self.cycle().await.map(|(outcome, _)| outcome)
    }

    /// Runs until `shutdown` completes: [`Updater::run_once`], then waits for the server's
    /// `PollInterval` (or the configured interval) with jitter, or after a failure for an
    /// exponentially growing backoff, and again. Errors are logged and passed to
    /// [`Hooks::notify`]; they never end the loop.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut schedule = Schedule::new(self.schedule);
        loop {
            let result = tokio::select! {
                () = &mut shutdown => return,
                result = self.cycle() => result,
            };
            let now = client::now();
            let next = match result {
                Ok((_, poll_interval)) => {
                    schedule.after_success(now, poll_interval, client::jitter_sample())
                }
                Err(error) => {
                    let next = schedule.after_failure(now, client::jitter_sample());
                    tracing::warn!(%error, failures = schedule.failures(), "update cycle failed");
                    self.hooks.notify(&Notification::Retrying {
                        error: &error,
                        retry_in: next.saturating_duration_since(now),
                    });
                    next
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = client::sleep(next.saturating_duration_since(now)) => {}
            }
        }
    }

    async fn cycle(&self) -> Result<(Outcome, Option<Duration>), Error> {
        let mut state = self.state.lock().await;
        let current = self.current_version();
        match core::resume(state.pending.as_ref(), &current) {
            Resume::Check => {}
            Resume::Discard => {
                state.pending = None;
                state::save(&self.state_dir, &state).await?;
                self.clean_downloads(&state).await?;
            }
            Resume::AwaitRestart { version } => {
                let request = self.identity.ping_request(&current);
                let response = self.transport.omaha(&request, self.hooks.as_ref()).await?;
                core::interpret_ack(&response, &self.identity.app_id)?;
                return Ok((Outcome::AwaitingRestart { version }, None));
            }
            Resume::RolledBack { version } => {
                let error = Error::RolledBack {
                    version,
                    running: current.clone(),
                };
                state.pending = None;
                state::save(&self.state_dir, &state).await?;
                self.report_failure(&current, &error).await;
                return Err(error);
            }
            Resume::Complete {
                version,
                from_version,
                plan_from,
                more_steps,
            } => {
                let outcome = self
                    .complete(&mut state, &version, &from_version, &plan_from)
                    .await?;
                if !more_steps {
                    return Ok((outcome, None));
                }
                // A step of several: the rest follows now, from the version it installed.
                // A failure is returned (the step itself is complete and reported; the next
                // pass checks again from it).
                return match self.check_and_apply(&mut state, &plan_from).await? {
                    (Outcome::NoUpdate, poll) => Ok((outcome, poll)),
                    done => Ok(done),
                };
            }
        }
        self.check_and_apply(&mut state, &current).await
    }

    /// Checks for an update from the current version and installs what is offered;
    /// `plan_from` is the version the update started from (the current one, unless a plan
    /// goes on after a restart).
    async fn check_and_apply(
        &self,
        state: &mut State,
        plan_from: &str,
    ) -> Result<(Outcome, Option<Duration>), Error> {
        let current = self.current_version();
        let request = self.identity.check_request(&current);
        let response = self.transport.omaha(&request, self.hooks.as_ref()).await?;
        let answer = core::interpret_check(
            &response,
            &self.identity.app_id,
            self.identity.multi_manifest_ok,
        )?;
        let outcome = match answer.result {
            CheckResult::NoUpdate => {
                self.hooks.notify(&Notification::NoUpdate);
                Outcome::NoUpdate
            }
            CheckResult::Update(plan) => {
                if let Err(error) = core::check_downgrade(&plan, state.highest_installed.as_deref())
                {
                    // Reported (3/0, code 44) and nothing downloaded.
                    self.report_failure(&current, &error).await;
                    return Err(error);
                }
                self.apply_plan(state, &plan, plan_from).await?
            }
        };
        Ok((outcome, answer.poll_interval))
    }

    /// Installs the steps of `plan` in order, each completed (health check, 3/2) before
    /// the next starts. Stops at the first failure (reported as 3/0), and after a step
    /// whose completion is deferred (the rest follows once the app restarts on it).
    async fn apply_plan(
        &self,
        state: &mut State,
        plan: &UpdatePlan,
        plan_from: &str,
    ) -> Result<Outcome, Error> {
        if plan.len() > 1 {
            self.hooks.notify(&Notification::Steps(plan));
        }
        let mut outcome = Outcome::NoUpdate;
        for index in 0..plan.len() {
            let current = self.current_version();
            outcome = self.apply(state, plan, index, &current, plan_from).await?;
            if !matches!(outcome, Outcome::Completed { .. }) {
                break;
            }
        }
        Ok(outcome)
    }

    /// Sends a progress event; a failure is logged, not fatal (update_engine does not
    /// even read these answers).
    async fn progress(&self, version: &str, event: Event) {
        let request = self.identity.event_request(version, event);
        let sent = match self.transport.omaha(&request, self.hooks.as_ref()).await {
            Ok(response) => core::interpret_ack(&response, &self.identity.app_id),
            Err(error) => Err(error),
        };
        if let Err(error) = sent {
            tracing::warn!(%error, "could not report a progress event");
        }
    }

    /// Reports 3/0 with the error's code (best effort) and tells the hooks.
    async fn report_failure(&self, version: &str, error: &Error) {
        tracing::error!(%error, code = error.omaha_error_code(), "update failed");
        self.progress(version, Event::error(error.omaha_error_code()))
            .await;
        self.hooks.notify(&Notification::Failed(error));
    }

    /// Downloads, verifies, installs and reports step `index` of `plan` on an instance
    /// running `current`.
    async fn apply(
        &self,
        state: &mut State,
        plan: &UpdatePlan,
        index: usize,
        current: &str,
        plan_from: &str,
    ) -> Result<Outcome, Error> {
        let update = &plan.steps()[index];
        self.hooks.notify(&Notification::UpdateAvailable(update));
        self.progress(current, Event::download_started()).await;
        let payload = match self.download(state, update).await {
            Ok(path) => path,
            Err(error) => {
                self.report_failure(current, &error).await;
                return Err(error);
            }
        };
        state.pending = Some(PendingUpdate::step(plan, index, current, plan_from));
        state::save(&self.state_dir, state).await?;
        self.hooks.notify(&Notification::Verified(update));
        self.progress(current, Event::download_finished()).await;

        let installed = self.hooks.install(&payload, update).await;
        state::remove(&payload).await?;
        let outcome = match installed {
            Ok(outcome) => outcome,
            Err(hook) => {
                let error = Error::Install(hook);
                state.pending = None;
                state::save(&self.state_dir, state).await?;
                self.report_failure(current, &error).await;
                return Err(error);
            }
        };
        self.hooks.notify(&Notification::Installed {
            version: &update.version,
            outcome,
        });
        match outcome {
            InstallOutcome::Complete => {
                if let Some(p) = state.pending.as_mut() {
                    p.phase = Phase::Installed;
                }
                state::save(&self.state_dir, state).await?;
                self.progress(current, Event::update_installed()).await;
                self.complete(state, &update.version, current, plan_from)
                    .await
            }
            InstallOutcome::Deferred => {
                if let Some(p) = state.pending.as_mut() {
                    p.phase = Phase::Held;
                }
                state::save(&self.state_dir, state).await?;
                self.progress(current, Event::installed_completion_held())
                    .await;
                Ok(Outcome::Deferred {
                    version: update.version.clone(),
                })
            }
        }
    }

    /// The new version runs: health check, then 3/2, or rollback and 3/0. `plan_from` is
    /// the version the whole update started from, for the outcome.
    async fn complete(
        &self,
        state: &mut State,
        version: &str,
        from_version: &str,
        plan_from: &str,
    ) -> Result<Outcome, Error> {
        self.set_current_version(version);
        if let Err(source) = self.hooks.health_check(version).await {
            let rollback = self.hooks.rollback(version, from_version).await.err();
            self.set_current_version(from_version);
            let error = Error::HealthCheck {
                version: version.to_owned(),
                source,
                rollback,
            };
            state.pending = None;
            state::save(&self.state_dir, state).await?;
            self.report_failure(from_version, &error).await;
            return Err(error);
        }
        // The report must arrive: on failure the state stays and the next pass retries.
        let request = self.identity.completion_request(version, from_version);
        let response = self.transport.omaha(&request, self.hooks.as_ref()).await?;
        core::interpret_ack(&response, &self.identity.app_id)?;
        let rollback = state
            .pending
            .as_ref()
            .is_some_and(|p| p.version == version && p.rollback);
        state.highest_installed = Some(core::highest_after(
            state.highest_installed.as_deref(),
            version,
            rollback,
        ));
        state.pending = None;
        state::save(&self.state_dir, state).await?;
        self.hooks.notify(&Notification::Completed {
            version,
            from_version,
        });
        Ok(Outcome::Completed {
            from_version: plan_from.to_owned(),
            version: version.to_owned(),
        })
    }

    /// Deletes the files in the download folder that no partial download owns.
    async fn clean_downloads(&self, state: &State) -> Result<(), Error> {
        let dir = state::download_dir(&self.state_dir).await?;
        let keep = state.download.as_ref().map(|d| d.file.as_str());
        let mut entries = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| Error::io(&dir, e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| Error::io(&dir, e))? {
            if keep != entry.file_name().to_str() {
                state::remove(&entry.path()).await?;
            }
        }
        Ok(())
    }

    /// Downloads (resuming when the bytes on disk belong to this payload), verifies size,
    /// SHA-256 and, with a public key, the signature. Returns the payload's path.
    async fn download(&self, state: &mut State, update: &UpdateInfo) -> Result<PathBuf, Error> {
        let dir = state::download_dir(&self.state_dir).await?;
        let path = dir.join(&update.package_name);
        match &state.download {
            Some(partial) if partial.matches(update) && partial.file == update.package_name => {}
            stale => {
                if let Some(name) = stale.as_ref().and_then(|p| Path::new(&p.file).file_name()) {
                    state::remove(&dir.join(name)).await?;
                }
                state::remove(&path).await?;
                state.download = Some(PartialDownload {
                    url: update.url.clone(),
                    version: update.version.clone(),
                    size: update.size,
                    sha256: update.sha256.to_base64(),
                    file: update.package_name.clone(),
                });
                state::save(&self.state_dir, state).await?;
            }
        }
        let result = self.download_verified(update, &path).await;
        match &result {
            Err(error) if error.is_transient() => {}
            _ => {
                // Verified, or not worth resuming: the bookkeeping ends here.
                state.download = None;
                state::save(&self.state_dir, state).await?;
                if result.is_err() {
                    state::remove(&path).await?;
                }
            }
        }
        result.map(|()| path)
    }

    async fn download_verified(&self, update: &UpdateInfo, path: &Path) -> Result<(), Error> {
        // The signature comes first, so the payload is verified as it streams in (and a
        // missing signature costs no download).
        let signature = match &self.public_key {
            Some(key) => {
                let bytes = self
                    .transport
                    .signature(&update.url, self.hooks.as_ref())
                    .await?;
                Some((key.0, ed25519_dalek::Signature::from_bytes(&bytes)))
            }
            None => None,
        };
        self.transport
            .download(update, path, signature, self.hooks.as_ref())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The futures can be spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    fn futures_are_send(updater: &Updater) {
        fn send<T: Send>(_: &T) {}
        send(&updater.run_once());
        send(&updater.run(std::future::pending()));
        send(updater);
    }

    #[test]
    fn the_endpoint_is_appended_once_per_protocol() {
        for (server, xml, json) in [
            (
                "http://h:1",
                "http://h:1/v1/update/",
                "http://h:1/v1/update/json",
            ),
            (
                "http://h:1/",
                "http://h:1/v1/update/",
                "http://h:1/v1/update/json",
            ),
            (
                "http://h:1/v1/update",
                "http://h:1/v1/update/",
                "http://h:1/v1/update/json",
            ),
            (
                "http://h:1/x/v1/update/",
                "http://h:1/x/v1/update/",
                "http://h:1/x/v1/update/json",
            ),
            (
                "http://h:1/v1/update/json",
                "http://h:1/v1/update/",
                "http://h:1/v1/update/json",
            ),
        ] {
            assert_eq!(Protocol::Xml.endpoint(server), xml, "{server}");
            assert_eq!(Protocol::Json.endpoint(server), json, "{server}");
        }
    }

    #[test]
    fn public_keys_parse_from_base64() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
        let text = base64::engine::general_purpose::STANDARD.encode(key.to_bytes());
        let parsed: PublicKey = text.parse().unwrap();
        assert_eq!(parsed.to_bytes(), key.to_bytes());
        assert!(matches!("abc".parse::<PublicKey>(), Err(Error::Config(_))));
    }
}
