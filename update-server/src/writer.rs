//! The write path: events and grant decisions, committed before the response ("group
//! commit").
//!
//! Requests that may change state (events that move an instance, update checks that may
//! grant) become [`Job`]s on a channel. One writer task per process takes every job waiting
//! on the channel, opens one transaction, locks the rollout state rows of the groups the
//! batch touches, runs the engine for each job in order, persists what the engine says
//! changed, commits, and only then answers each job. So:
//!
//! - a decision and its effects are atomic ("decide under lock"): on SQLite the single
//!   writer, on PostgreSQL the rows locked with `FOR UPDATE`, serialize every replica's
//!   decisions for a group, so no number of concurrent requests or replicas exceeds a
//!   group's limits;
//! - nothing is acknowledged before it is durable;
//! - under load many requests share one transaction;
//! - one job never fails another: a transaction that fails is retried in halves until the
//!   job that made it fail is alone, and only that job's request gets the error.
//!
//! The writer keeps each group's [`RolloutState`] in memory with the revision it was read
//! at. Under the lock it compares that with the stored revision and reloads only when
//! another replica wrote in between.

mod counting;
mod known;

pub use known::{InstanceCache, KnownInstance};

use crate::cache::{Route, paused_policy};
use crate::clock::{from_millis, millis};
use crate::metrics::{BatchKind, ErrorKind, Metrics, StoreOp, WriterHealth};
use crate::protocol::ClientEvent;
use crate::refusals::RefusalBoard;
use crate::store::{
    ActivityRecord, CHECK_IN, GrantRecord, HistoryKind, HistoryRecord, InstanceRecord, RollupDelta,
    RollupKey, Store, StoreError, WriteTx,
};
use jiff::Timestamp;
use rollout_core::{
    Attempt, AutoPause, Backoff, Check, Decision, Effects, ErrorCode, Event, InstallSource,
    Instance, InstanceGrant, InstanceStatus, MachineId, Policy, RolloutState, RolloutStateParts,
    Version,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most jobs in one transaction.
const MAX_BATCH: usize = 512;

/// Jobs waiting for the writer before senders wait too (backpressure).
const QUEUE: usize = 4096;

/// A request's work for the writer.
#[derive(Debug)]
pub struct Job {
    /// Canonical app id.
    pub app_id: String,
    /// The group the instance named.
    pub group_id: String,
    /// The group's configuration, when the group exists.
    pub route: Option<Route>,
    /// Instance id.
    pub machine_id: String,
    /// The version the instance reports, as sent.
    pub version_raw: String,
    /// The same, parsed; `None` when it does not parse.
    pub version: Option<Version>,
    /// OEM.
    pub oem: String,
    /// The request's install source.
    pub install_source: String,
    /// Events, in order.
    pub events: Vec<ClientEvent>,
    /// Whether the instance asked for an update.
    pub update_check: bool,
    /// When the request arrived.
    pub now: Timestamp,
    /// The request's order key ([`crate::clock::report_seq`]).
    pub seq: i64,
}

/// What the writer answers a job: the decision when the job asked for an update and the
/// engine could decide (`None` also when the instance's version cannot be ordered).
pub type JobResult = Result<Option<Decision>, WriteError>;

/// The writer could not complete a job.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The transaction failed for something this job carries; nothing of it was stored.
    #[error("store failed: {0}")]
    Store(String),
    /// The database is failing (unreachable, out of space, too slow): nothing of the job
    /// was stored, and the request may be retried later (HTTP 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The writer task is gone (the server is shutting down).
    #[error("the writer has stopped")]
    Stopped,
}

/// How often the writer, while the database fails its transactions, tries one small write
/// to learn that it takes writes again, with no request needed.
const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// The handle requests use to reach the writer.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<(Job, oneshot::Sender<JobResult>)>,
    health: Arc<WriterHealth>,
    /// The longest a request waits for its job: queued, then committed.
    timeout: std::time::Duration,
    refusals: Arc<RefusalBoard>,
}

impl Writer {
    /// Starts the writer task. It ends when every [`Writer`] handle is dropped and the
    /// queue is drained.
    pub fn spawn(
        store: Arc<dyn Store>,
        instances: Arc<InstanceCache>,
        metrics: Arc<Metrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let health = Arc::new(WriterHealth::default());
        let timeout = store.timeouts().statement;
        let refusals = Arc::new(RefusalBoard::default());
        let task = tokio::spawn(run(
            store,
            instances,
            metrics,
            health.clone(),
            refusals.clone(),
            rx,
        ));
        (
            Self {
                tx,
                health,
                timeout,
                refusals,
            },
            task,
        )
    }

    /// The facts of each group this writer locked, for refusals without the lock.
    pub fn refusals(&self) -> &RefusalBoard {
        &self.refusals
    }

    /// Whether the writer can commit.
    pub fn health(&self) -> Arc<WriterHealth> {
        self.health.clone()
    }

    /// Queues a job and waits until it is committed (or failed), at most the store's
    /// statement timeout: a request never waits longer for a database that stopped
    /// answering. A job whose request gave up is dropped before its transaction.
    pub async fn submit(&self, job: Job) -> JobResult {
        let (reply, answer) = oneshot::channel();
        let wait = async {
            self.tx
                .send((job, reply))
                .await
                .map_err(|_| WriteError::Stopped)?;
            answer.await.map_err(|_| WriteError::Stopped)?
        };
        match tokio::time::timeout(self.timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(WriteError::Unavailable(format!(
                "not committed within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }
}

/// A group's rollout state held between batches, with the revision it corresponds to.
struct CachedState {
    revision: i64,
    state: RolloutState,
}

type GroupKey = (String, String);

async fn run(
    store: Arc<dyn Store>,
    instances: Arc<InstanceCache>,
    metrics: Arc<Metrics>,
    health: Arc<WriterHealth>,
    refusals: Arc<RefusalBoard>,
    mut rx: mpsc::Receiver<(Job, oneshot::Sender<JobResult>)>,
) {
    let mut states: HashMap<GroupKey, CachedState> = HashMap::new();
    let timeout = store.timeouts().statement;
    loop {
        // While the database fails, a small write every PROBE_INTERVAL tells when it takes
        // writes again (and `/readyz` turns ready), even with no request arriving.
        let first = if health.failing().is_some() {
            tokio::select! {
                job = rx.recv() => job,
                () = tokio::time::sleep(PROBE_INTERVAL) => {
                    probe(store.as_ref(), &health, timeout).await;
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A request that gave up waiting (its client's timeout) is not written: its client
        // was told it was not stored.
        batch.retain(|(_, reply)| !reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        metrics.batch(BatchKind::Writer, batch.len());
        // A batch whose transaction fails for something one of its jobs carries is split in
        // halves, each tried on its own, until the failing job is alone: only its client
        // sees the error, and the others are committed (one poisoned job of 512 costs about
        // twenty transactions). A failing database (no transaction begun, out of space,
        // unreachable, too slow) is nobody's job: the whole part fails at once, so a store
        // that is down is not asked again for every job.
        let mut parts = vec![batch];
        while let Some(part) = parts.pop() {
            let jobs: Vec<&Job> = part.iter().map(|(job, _)| job).collect();
            let started = std::time::Instant::now();
            let result = match tokio::time::timeout(
                timeout,
                process(store.as_ref(), &metrics, &refusals, &mut states, &jobs),
            )
            .await
            {
                Ok(result) => result,
                // Dropped mid-transaction: nothing was committed, and the groups it took
                // out of `states` are reloaded next time.
                Err(_) => Err(BatchError::Begin(StoreError::TimedOut {
                    what: "write transaction",
                    after: timeout,
                })),
            };
            metrics.store_latency(StoreOp::WriteBatch, started.elapsed());
            match result {
                Ok(outcomes) => {
                    health.set(None);
                    answer(&instances, &metrics, part, outcomes);
                }
                Err(BatchError::Write(err)) if part.len() > 1 && !err.is_unavailable() => {
                    tracing::warn!(
                        error = %err.detail(), jobs = part.len(),
                        "write batch failed: retrying its halves apart"
                    );
                    metrics.error(ErrorKind::WriteBatch);
                    let mut first = part;
                    let second = first.split_off(first.len() / 2);
                    // The first half is tried first: jobs stay in the order they came.
                    parts.push(second);
                    parts.push(first);
                }
                Err(err) => {
                    let err = err.into_inner();
                    let detail = err.detail();
                    tracing::error!(error = %detail, jobs = part.len(), "write failed");
                    metrics.error(ErrorKind::WriteBatch);
                    let failure = if err.is_unavailable() {
                        health.set(Some(detail));
                        WriteError::Unavailable(err.to_string())
                    } else {
                        WriteError::Store(err.to_string())
                    };
                    for (job, reply) in part {
                        metrics.error(ErrorKind::WriteJob);
                        instances.forget(&job.app_id, &job.machine_id);
                        let _ = reply.send(Err(failure.clone()));
                    }
                }
            }
        }
    }
}

/// One small write on its own: when it commits, the database takes writes again.
async fn probe(store: &dyn Store, health: &WriterHealth, timeout: std::time::Duration) {
    match tokio::time::timeout(timeout, store.probe_write()).await {
        Ok(Ok(())) => {
            tracing::info!("the database takes writes again");
            health.set(None);
        }
        Ok(Err(err)) => health.set(Some(err.detail())),
        Err(_) => health.set(Some(
            StoreError::TimedOut {
                what: "write probe",
                after: timeout,
            }
            .to_string(),
        )),
    }
}

/// Answers the jobs of a committed transaction.
fn answer(
    instances: &InstanceCache,
    metrics: &Metrics,
    part: Vec<(Job, oneshot::Sender<JobResult>)>,
    outcomes: Vec<Outcome>,
) {
    for ((job, reply), outcome) in part.into_iter().zip(outcomes) {
        // Counted once committed: what the metrics show happened.
        metrics.events(outcome.events.iter().copied());
        metrics.check_ins(outcome.check_ins);
        if let Some(decision) = &outcome.decision {
            if let Some(route) = &job.route {
                metrics.decision(route.explain(decision.reason().copied()).as_ref());
            } else {
                metrics.no_group();
            }
            if let Decision::Update {
                reissued: false, ..
            } = decision
                && job.route.is_some()
            {
                metrics.grant(&job.app_id, &job.group_id);
            }
        }
        instances.put(&job.app_id, &job.machine_id, &outcome.known);
        let _ = reply.send(Ok(outcome.decision));
    }
}

/// Why a transaction of the writer failed.
enum BatchError {
    /// No transaction could be begun: the store itself is failing, not a job.
    Begin(StoreError),
    /// A statement or the commit failed: one of the jobs may be the cause.
    Write(StoreError),
}

impl BatchError {
    fn into_inner(self) -> StoreError {
        match self {
            Self::Begin(e) | Self::Write(e) => e,
        }
    }
}

impl From<StoreError> for BatchError {
    fn from(err: StoreError) -> Self {
        Self::Write(err)
    }
}

struct Outcome {
    decision: Option<Decision>,
    known: KnownInstance,
    /// The job's events but its check-ins, as (type, result).
    events: Vec<(i64, i64)>,
    /// Its routine 3/2 check-ins.
    check_ins: u64,
}

/// A group's state while a batch works on it.
struct Working {
    revision: i64,
    state: RolloutState,
}

async fn process(
    store: &dyn Store,
    metrics: &Arc<Metrics>,
    refusals: &RefusalBoard,
    states: &mut HashMap<GroupKey, CachedState>,
    jobs: &[&Job],
) -> Result<Vec<Outcome>, BatchError> {
    let inner = store.begin().await.map_err(BatchError::Begin)?;
    let mut tx: Box<dyn WriteTx> = Box::new(counting::CountingTx::new(inner, metrics.clone()));
    let keys: Vec<GroupKey> = jobs
        .iter()
        .filter(|job| job.route.is_some())
        .map(|job| (job.app_id.clone(), job.group_id.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let stored = tx.lock_groups(&keys).await?;
    let mut working: BTreeMap<GroupKey, Working> = BTreeMap::new();
    for (key, record) in keys.into_iter().zip(stored) {
        let revision = record.as_ref().map_or(0, |r| r.revision);
        // Taken out of the cache: if the batch fails, the group is reloaded next time.
        let state = match states.remove(&key) {
            Some(cached) if cached.revision == revision => cached.state,
            _ => load_state(tx.as_mut(), &key, record.map(|r| r.state)).await?,
        };
        working.insert(key, Working { revision, state });
    }

    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut history = Vec::new();
    let mut rollups = Vec::new();
    let mut pauses = Vec::new();
    let mut records = Records::load(tx.as_mut(), jobs).await?;
    for job in jobs {
        let key = (job.app_id.clone(), job.group_id.clone());
        let group = working.get_mut(&key).filter(|_| job.route.is_some());
        let mut out = Batch {
            history: &mut history,
            rollups: &mut rollups,
            pauses: &mut pauses,
            records: &mut records,
        };
        outcomes.push(process_job(tx.as_mut(), job, group.map(|w| &mut w.state), &mut out).await?);
    }
    tx.put_instances(&records.changed()).await?;
    tx.append_history(&history).await?;
    tx.add_rollups(&rollups).await?;
    for ((app_id, group_id), w) in &working {
        tx.put_group_state(app_id, group_id, &encode_state(&w.state))
            .await?;
    }
    // The automatic pauses go into the activity log in the same transaction.
    for pause in &pauses {
        tx.append_activity(pause).await?;
    }
    tx.commit().await?;
    // The facts of each group's state as committed, for refusals without the lock on this
    // replica ([`crate::refusals`]), read under the lock at the batch's latest time.
    let read_at = jobs.iter().map(|job| job.now).max();
    for ((app_id, group_id), w) in &working {
        let policy = jobs
            .iter()
            .find(|job| job.app_id == *app_id && job.group_id == *group_id)
            .and_then(|job| job.route.as_ref());
        if let (Some(route), Some(at)) = (policy, read_at) {
            refusals.post(
                app_id,
                group_id,
                w.state.refusal_facts(&route.group.policy),
                at,
            );
        }
    }
    for (key, w) in working {
        states.insert(
            key,
            CachedState {
                revision: w.revision + 1,
                state: w.state,
            },
        );
    }
    Ok(outcomes)
}

async fn load_state(
    tx: &mut dyn WriteTx,
    key: &GroupKey,
    encoded: Option<Vec<u8>>,
) -> Result<RolloutState, StoreError> {
    let mut parts = match encoded {
        Some(bytes) => decode_state(&bytes)?,
        None => RolloutStateParts::default(),
    };
    parts.grants = tx
        .grants(&key.0, &key.1)
        .await?
        .into_iter()
        .map(|g| {
            Ok(rollout_core::Grant {
                machine_id: MachineId::new(&g.machine_id),
                target: Version::parse(&g.version).map_err(|e| {
                    StoreError::Corrupt(format!("grant version {:?}: {e}", g.version))
                })?,
                granted_at: from_millis(g.granted_at),
                expires_at: g.expires_at.map(from_millis),
                scheduled: g.scheduled,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(RolloutState::from_parts(parts))
}

/// What a batch's jobs write besides the instances.
struct Batch<'a> {
    history: &'a mut Vec<HistoryRecord>,
    rollups: &'a mut Vec<RollupDelta>,
    pauses: &'a mut Vec<ActivityRecord>,
    records: &'a mut Records,
}

/// A batch's instances: read in one statement before its jobs run, changed in memory by
/// them (a later job of the same instance sees what an earlier one did), written in one
/// statement before the commit.
#[derive(Default)]
struct Records {
    by_key: HashMap<(String, String), InstanceRecord>,
    changed: std::collections::BTreeSet<(String, String)>,
}

impl Records {
    async fn load(tx: &mut dyn WriteTx, jobs: &[&Job]) -> Result<Self, StoreError> {
        let keys: Vec<(String, String)> = jobs
            .iter()
            .map(|job| (job.app_id.clone(), job.machine_id.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let by_key = tx
            .instances_by_key(&keys)
            .await?
            .into_iter()
            .map(|r| ((r.app_id.clone(), r.machine_id.clone()), r))
            .collect();
        Ok(Self {
            by_key,
            changed: std::collections::BTreeSet::new(),
        })
    }

    fn get(&self, app_id: &str, machine_id: &str) -> Option<InstanceRecord> {
        self.by_key
            .get(&(app_id.to_owned(), machine_id.to_owned()))
            .cloned()
    }

    fn put(&mut self, record: &InstanceRecord) {
        let key = (record.app_id.clone(), record.machine_id.clone());
        self.changed.insert(key.clone());
        self.by_key.insert(key, record.clone());
    }

    /// Clears an instance's grant of `version` if the batch holds the instance (the
    /// statement that clears it in the store would be overwritten by the batch's write).
    fn clear_grant(&mut self, app_id: &str, machine_id: &str, version: &str) {
        let key = (app_id.to_owned(), machine_id.to_owned());
        if let Some(record) = self.by_key.get_mut(&key)
            && record.grant_version.as_deref() == Some(version)
        {
            record.grant_version = None;
            record.granted_at = None;
            self.changed.insert(key);
        }
    }

    fn changed(&self) -> Vec<InstanceRecord> {
        self.changed
            .iter()
            .filter_map(|key| self.by_key.get(key).cloned())
            .collect()
    }
}

async fn process_job(
    tx: &mut dyn WriteTx,
    job: &Job,
    state: Option<&mut RolloutState>,
    out: &mut Batch<'_>,
) -> Result<Outcome, StoreError> {
    let (history, rollups) = (&mut *out.history, &mut *out.rollups);
    let now_ms = millis(job.now);
    let stored = out.records.get(&job.app_id, &job.machine_id);
    let mut record = stored.unwrap_or_else(|| InstanceRecord {
        app_id: job.app_id.clone(),
        machine_id: job.machine_id.clone(),
        group_id: job.group_id.clone(),
        version: job.version_raw.clone(),
        oem: job.oem.clone(),
        status: status_name(InstanceStatus::Unknown).to_owned(),
        last_event_type: None,
        last_event_result: None,
        last_error_code: None,
        grant_version: None,
        granted_at: None,
        first_seen: now_ms,
        last_seen: now_ms,
        report_seq: job.seq,
        failures: 0,
        retry_until: None,
        retry_version: None,
    });
    // The version before this request, for the engine (a 3/2 on a newer one completes).
    let stored_version = Version::parse(&record.version).ok();
    // What the instance reports, unless a later request's report is stored already (the
    // statement that writes the row checks the same in the store).
    if job.seq >= record.report_seq {
        record.group_id = job.group_id.clone();
        record.version = job.version_raw.clone();
        record.oem = job.oem.clone();
        record.report_seq = job.seq;
    }
    record.last_seen = record.last_seen.max(now_ms);

    let entry = |kind: HistoryKind| HistoryRecord {
        app_id: job.app_id.clone(),
        machine_id: job.machine_id.clone(),
        at: now_ms,
        group_id: job.group_id.clone(),
        version: job.version_raw.clone(),
        kind,
        event_type: None,
        event_result: None,
        error_code: None,
        target_version: None,
        install_source: job.install_source.clone(),
        previous_version: None,
    };
    let rollup = |event: Option<(i64, i64)>| RollupDelta {
        key: RollupKey {
            app_id: job.app_id.clone(),
            group_id: job.group_id.clone(),
            version: job.version_raw.clone(),
            event,
        },
        at: now_ms,
        count: 1,
    };
    rollups.push(rollup(None));
    for event in &job.events {
        history.push(HistoryRecord {
            event_type: Some(event.event_type),
            event_result: Some(event.event_result),
            error_code: event.error_code,
            previous_version: event.previous_version.clone(),
            ..entry(HistoryKind::Event)
        });
    }
    // The status as stored (its error code included), before the events move it.
    let status = parse_status(&record.status, record.last_error_code);
    // Counts an event under its (type, result) and makes it the instance's last event; a
    // check-in is counted apart and leaves the last event as it was.
    let mut counted = Vec::with_capacity(job.events.len());
    let mut check_ins = 0;
    let mut count = |record: &mut InstanceRecord, event: &ClientEvent, check_in: bool| {
        if check_in {
            check_ins += 1;
            rollups.push(rollup(Some(CHECK_IN)));
        } else {
            counted.push((event.event_type, event.event_result));
            rollups.push(rollup(Some((event.event_type, event.event_result))));
            record.last_event_type = Some(event.event_type);
            record.last_event_result = Some(event.event_result);
            record.last_error_code = event.error_code;
        }
    };

    let Some(version) = job.version.clone() else {
        // A version the engine cannot order: the events are recorded, the status cannot
        // move and no decision is made (the caller answers "no update"). A routine 3/2
        // completes nothing here either.
        for event in &job.events {
            count(&mut record, event, event.is_routine_3_2(&job.version_raw));
        }
        out.records.put(&record);
        return Ok(Outcome {
            decision: None,
            known: known(&record),
            events: counted,
            check_ins,
        });
    };

    // An instance of a group that does not exist moves through its state machine all the
    // same (the history and the status stay right); it has no rollout state to persist.
    let mut scratch = RolloutState::new();
    let paused;
    let (state, policy): (&mut RolloutState, &Policy) = match (state, &job.route) {
        (Some(state), Some(route)) => (state, &route.group.policy),
        _ => {
            paused = paused_policy();
            (&mut scratch, &paused)
        }
    };
    let machine = MachineId::new(&job.machine_id);
    let mut instance = Instance {
        machine_id: machine.clone(),
        version: stored_version.unwrap_or_else(|| version.clone()),
        oem: job.oem.clone(),
        status,
        grant: state.grant(&machine).map(|g| InstanceGrant {
            target: g.target.clone(),
            granted_at: g.granted_at,
        }),
        backoff: backoff(&record),
    };

    for event in &job.events {
        let outcome = state.record_event(
            policy,
            &mut instance,
            &Event {
                event_type: u32::try_from(event.event_type).unwrap_or(u32::MAX),
                event_result: u32::try_from(event.event_result).unwrap_or(u32::MAX),
                error_code: event.error_code,
                version: version.clone(),
                previous_version: event
                    .previous_version
                    .as_deref()
                    .filter(|p| !p.trim().is_empty())
                    .and_then(|p| Version::parse(p).ok()),
            },
            job.now,
        );
        count(&mut record, event, outcome.check_in);
        persist_effects(tx, job, &outcome.effects, out.pauses, out.records).await?;
    }
    // The engine decides on the version the instance runs now.
    instance.version = version.clone();

    let mut decision = None;
    if job.update_check {
        let (channel, package) = match &job.route {
            Some(route) => (
                route.channel.as_ref().map(|c| c.channel.clone()),
                route.package.as_ref().and_then(|p| p.package.clone()),
            ),
            None => (None, None),
        };
        let channel = channel.unwrap_or(rollout_core::Channel {
            name: String::new(),
            target: None,
        });
        let check = Check {
            channel: &channel,
            package: package.as_ref(),
            install_source: install_source(&job.install_source),
        };
        let outcome = state.decide(policy, &mut instance, &check, job.now);
        persist_effects(tx, job, &outcome.effects, out.pauses, out.records).await?;
        if let Decision::Update {
            target,
            reissued: false,
            ..
        } = &outcome.decision
        {
            history.push(HistoryRecord {
                target_version: Some(target.to_string()),
                ..entry(HistoryKind::Grant)
            });
        }
        decision = Some(outcome.decision);
    }

    record.status = status_name(instance.status).to_owned();
    if let InstanceStatus::Error(code) = instance.status {
        record.last_error_code = Some(code.0);
    }
    record.grant_version = instance.grant.as_ref().map(|g| g.target.to_string());
    record.granted_at = instance.grant.as_ref().map(|g| millis(g.granted_at));
    record.failures = instance
        .backoff
        .as_ref()
        .map_or(0, |b| i64::from(b.failures));
    record.retry_until = instance.backoff.as_ref().map(|b| millis(b.until));
    record.retry_version = instance
        .backoff
        .as_ref()
        .and_then(|b| b.version.as_ref().map(ToString::to_string));
    out.records.put(&record);
    Ok(Outcome {
        decision,
        known: known(&record),
        events: counted,
        check_ins,
    })
}

/// The instance's retry delay as stored (none when it has no failure on record).
pub(crate) fn backoff(record: &InstanceRecord) -> Option<Backoff> {
    let until = record.retry_until?;
    Some(Backoff {
        failures: u32::try_from(record.failures.max(0)).unwrap_or(u32::MAX),
        until: from_millis(until),
        version: record
            .retry_version
            .as_deref()
            .and_then(|v| Version::parse(v).ok()),
    })
}

/// When the group paused itself, unix ms; `None` when it is not automatically paused.
pub async fn auto_paused_at(
    store: &dyn Store,
    app_id: &str,
    group_id: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(auto_pause(store, app_id, group_id)
        .await?
        .map(|p| millis(p.at)))
}

/// The group's automatic pause in force (when, and the failures among the attempts that
/// made it); `None` when it is not automatically paused. Read without the group's lock (a
/// page or an API read must not queue behind the writer, nor hold SQLite's write lock).
pub async fn auto_pause(
    store: &dyn Store,
    app_id: &str,
    group_id: &str,
) -> Result<Option<AutoPause>, StoreError> {
    match store.group_state(app_id, group_id).await? {
        Some(record) => Ok(decode_state(&record.state)?.auto_pause),
        None => Ok(None),
    }
}

/// Lifts a group's automatic pause (the operator unpaused it). Returns whether it was
/// automatically paused. The writer notices the new revision and reloads the state.
pub async fn resume_group(
    store: &dyn Store,
    app_id: &str,
    group_id: &str,
) -> Result<bool, StoreError> {
    let mut tx = store.begin().await?;
    let states = tx
        .lock_groups(&[(app_id.to_owned(), group_id.to_owned())])
        .await?;
    let Some(record) = states.into_iter().next().flatten() else {
        return Ok(false);
    };
    let mut state = RolloutState::from_parts(decode_state(&record.state)?);
    if !state.resume() {
        return Ok(false);
    }
    tx.put_group_state(app_id, group_id, &encode_state(&state))
        .await?;
    tx.commit().await?;
    Ok(true)
}

fn known(record: &InstanceRecord) -> KnownInstance {
    KnownInstance {
        version: record.version.as_str().into(),
        complete: record.status == status_name(InstanceStatus::Complete),
        has_grant: record.grant_version.is_some(),
        retrying: record.retry_until.is_some(),
    }
}

async fn persist_effects(
    tx: &mut dyn WriteTx,
    job: &Job,
    effects: &Effects,
    pauses: &mut Vec<ActivityRecord>,
    records: &mut Records,
) -> Result<(), StoreError> {
    for released in &effects.released {
        let machine = released.grant.machine_id.as_str();
        tx.delete_grant(&job.app_id, &job.group_id, machine).await?;
        if machine != job.machine_id {
            let version = released.grant.target.to_string();
            tx.clear_instance_grant(&job.app_id, machine, &version)
                .await?;
            records.clear_grant(&job.app_id, machine, &version);
        }
    }
    if let Some(grant) = &effects.granted {
        tx.put_grant(&GrantRecord {
            app_id: job.app_id.clone(),
            group_id: job.group_id.clone(),
            machine_id: grant.machine_id.as_str().to_owned(),
            version: grant.target.to_string(),
            granted_at: millis(grant.granted_at),
            expires_at: grant.expires_at.map(millis),
            scheduled: grant.scheduled,
        })
        .await?;
    }
    if let Some(pause) = &effects.auto_pause {
        tracing::warn!(
            app = %job.app_id, group = %job.group_id,
            failures = pause.failures, attempts = pause.attempts,
            "group paused itself: failures reached its threshold"
        );
        pauses.push(ActivityRecord {
            id: 0,
            at: millis(pause.at),
            actor: "system".into(),
            action: "group.autopause".into(),
            app_id: job.app_id.clone(),
            group_id: job.group_id.clone(),
            detail: format!(
                "paused automatically: {} of the last {} attempts failed",
                pause.failures, pause.attempts
            ),
            changes: vec![crate::changes::field(
                "autoPaused",
                Some("false"),
                Some("true"),
            )],
        });
    }
    Ok(())
}

pub(crate) fn install_source(text: &str) -> InstallSource {
    if text.eq_ignore_ascii_case("ondemandupdate") || text.eq_ignore_ascii_case("ondemand") {
        InstallSource::OnDemand
    } else {
        InstallSource::Scheduler
    }
}

/// The stored name of an instance status.
pub fn status_name(status: InstanceStatus) -> &'static str {
    match status {
        InstanceStatus::Unknown => "unknown",
        InstanceStatus::Granted => "granted",
        InstanceStatus::Downloading => "downloading",
        InstanceStatus::Downloaded => "downloaded",
        InstanceStatus::Installed => "installed",
        InstanceStatus::InstalledHeld => "installed_held",
        InstanceStatus::Complete => "complete",
        InstanceStatus::Error(_) => "error",
    }
}

pub(crate) fn parse_status(name: &str, error_code: Option<i64>) -> InstanceStatus {
    match name {
        "granted" => InstanceStatus::Granted,
        "downloading" => InstanceStatus::Downloading,
        "downloaded" => InstanceStatus::Downloaded,
        "installed" => InstanceStatus::Installed,
        "installed_held" => InstanceStatus::InstalledHeld,
        "complete" => InstanceStatus::Complete,
        "error" => InstanceStatus::Error(ErrorCode(error_code.unwrap_or(0))),
        _ => InstanceStatus::Unknown,
    }
}

/// The stored form of a group's rollout state without its grants (those are rows of their
/// own): grant times, attempt outcomes, automatic pause, high-water time.
#[derive(serde::Serialize, serde::Deserialize)]
struct StateDoc {
    grant_times: Vec<i64>,
    /// One letter per attempt, oldest first: `s`ucceeded, `f`ailed, `t`imed out.
    attempts: String,
    auto_pause: Option<AutoPauseDoc>,
    high_water: Option<i64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AutoPauseDoc {
    at: i64,
    failures: u32,
    attempts: u32,
}

fn encode_state(state: &RolloutState) -> Vec<u8> {
    let doc = StateDoc {
        grant_times: state.grant_times().map(millis).collect(),
        attempts: state
            .attempts()
            .map(|a| match a {
                Attempt::Succeeded => 's',
                Attempt::Failed => 'f',
                Attempt::TimedOut => 't',
            })
            .collect(),
        auto_pause: state.auto_pause().map(|p| AutoPauseDoc {
            at: millis(p.at),
            failures: p.failures,
            attempts: p.attempts,
        }),
        high_water: state.high_water().map(millis),
    };
    serde_json::to_vec(&doc).expect("a state document always serializes")
}

pub(crate) fn decode_state(bytes: &[u8]) -> Result<RolloutStateParts, StoreError> {
    let doc: StateDoc = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("group rollout state: {e}")))?;
    let attempts = doc
        .attempts
        .chars()
        .map(|c| match c {
            's' => Ok(Attempt::Succeeded),
            'f' => Ok(Attempt::Failed),
            't' => Ok(Attempt::TimedOut),
            other => Err(StoreError::Corrupt(format!("attempt outcome {other:?}"))),
        })
        .collect::<Result<_, _>>()?;
    Ok(RolloutStateParts {
        grant_times: doc.grant_times.into_iter().map(from_millis).collect(),
        grants: Vec::new(),
        attempts,
        auto_pause: doc.auto_pause.map(|p| AutoPause {
            at: from_millis(p.at),
            failures: p.failures,
            attempts: p.attempts,
        }),
        high_water: doc.high_water.map(from_millis),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_documents_round_trip() {
        let t = |s: i64| from_millis(s * 1000);
        let parts = RolloutStateParts {
            grant_times: vec![t(10), t(20)],
            grants: Vec::new(),
            attempts: vec![Attempt::Succeeded, Attempt::Failed, Attempt::TimedOut],
            auto_pause: Some(AutoPause {
                at: t(30),
                failures: 2,
                attempts: 3,
            }),
            high_water: Some(t(40)),
        };
        let state = RolloutState::from_parts(parts.clone());
        assert_eq!(decode_state(&encode_state(&state)).unwrap(), parts);
        assert!(decode_state(b"{").is_err());
        assert!(
            decode_state(
                br#"{"grant_times":[],"attempts":"x","auto_pause":null,"high_water":null}"#
            )
            .is_err()
        );
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            InstanceStatus::Unknown,
            InstanceStatus::Granted,
            InstanceStatus::Downloading,
            InstanceStatus::Downloaded,
            InstanceStatus::Installed,
            InstanceStatus::InstalledHeld,
            InstanceStatus::Complete,
            InstanceStatus::Error(ErrorCode(2000)),
        ] {
            let code = match status {
                InstanceStatus::Error(c) => Some(c.0),
                _ => None,
            };
            assert_eq!(parse_status(status_name(status), code), status);
        }
    }

    #[test]
    fn on_demand_is_recognised_in_both_spellings() {
        assert_eq!(install_source("ondemandupdate"), InstallSource::OnDemand);
        assert_eq!(install_source("ondemand"), InstallSource::OnDemand);
        assert_eq!(install_source("scheduler"), InstallSource::Scheduler);
        assert_eq!(install_source(""), InstallSource::Scheduler);
    }
}
