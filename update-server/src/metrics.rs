//! Operational endpoints: `/metrics` in the Prometheus text exposition format (version
//! 0.0.4) and `/readyz`.
//!
//! The metrics are a fixed set, so the registry is the crate's own: counters and histograms
//! keyed by their label values, rendered by hand. The fleet gauges (instances per group,
//! version and status; rollout progress) come from the instance counts the database keeps
//! ([`crate::counts`]: a few rows per group and version, however many instances), cached
//! for [`FLEET_TTL`], so a scrape every few seconds costs one small query per interval
//! however many scrapers there are.
//!
//! Label values that clients choose (the group an instance names, its version, event codes)
//! are bounded: groups that do not exist are counted under `group=""`, at most
//! [`MAX_VERSIONS`] versions per group are named (the rest are `version="other"`), and event
//! codes the Omaha protocol does not define are `other`.

use crate::cache::ConfigCache;
use crate::clock::Clock;
use crate::conn::ConnectionStats;
use crate::store::{StatusCount, Store};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use omaha_proto::codes::{EventResult, EventType};
use rollout_core::Reason;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the fleet gauges are reused before the store is asked again.
pub const FLEET_TTL: Duration = Duration::from_secs(15);

/// Most versions named per group in the instance gauges.
pub const MAX_VERSIONS: usize = 50;

/// How long `/readyz` waits for the store.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Bucket bounds of the store latency histogram, seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Bucket bounds of the batch size histogram.
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Which path answered an update check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckPath {
    /// Answered from memory, written behind.
    Fast,
    /// Decided by the writer under the group's lock.
    Writer,
}

/// A store operation whose latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StoreOp {
    /// A writer transaction (events, grants, rollout state).
    WriteBatch,
    /// A write-behind flush of "last seen" and counters.
    RecordSightings,
    /// The grouped instance count behind the fleet gauges.
    InstanceCounts,
    /// The readiness probe's query.
    Ping,
    /// One retention batch.
    Prune,
}

impl StoreOp {
    fn label(self) -> &'static str {
        match self {
            Self::WriteBatch => "write_batch",
            Self::RecordSightings => "record_sightings",
            Self::InstanceCounts => "instance_counts",
            Self::Ping => "ping",
            Self::Prune => "prune",
        }
    }
}

/// Which path made round trips to the store (`update_server_store_round_trips_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundTrips {
    /// The writer's transactions (events, grants, decisions under the group's lock).
    Writer,
    /// The write-behind flushes of "last seen" and counters.
    WriteBehind,
}

/// Which batches are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BatchKind {
    /// Jobs per writer transaction.
    Writer,
    /// Check-ins per write-behind flush.
    Sightings,
}

impl BatchKind {
    fn label(self) -> &'static str {
        match self {
            Self::Writer => "writer",
            Self::Sightings => "sightings",
        }
    }
}

/// What went wrong, for `update_server_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// An update request whose body could not be decoded (HTTP 400).
    BadRequest,
    /// An app of an update request carried a value the server does not store (a control
    /// character, or longer than the limit): it got an in-band error.
    InvalidValue,
    /// A writer transaction failed (its jobs are then retried one by one).
    WriteBatch,
    /// A job failed in the writer: its request got HTTP 500 (or 503, counted as
    /// `unavailable` too).
    WriteJob,
    /// An update request was answered 503: the database failed, timed out or was
    /// unreachable.
    Unavailable,
    /// A write-behind flush failed (retried with the next one).
    RecordSightings,
    /// The fleet gauges could not be read.
    InstanceCounts,
    /// A retention batch failed.
    Prune,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidValue => "invalid_value",
            Self::WriteBatch => "write_batch",
            Self::WriteJob => "write_job",
            Self::Unavailable => "unavailable",
            Self::RecordSightings => "record_sightings",
            Self::InstanceCounts => "instance_counts",
            Self::Prune => "prune",
        }
    }
}

/// The label of a decision: `update` or the reason for none.
pub fn reason_label(reason: Option<&Reason>) -> &'static str {
    REASON_LABELS[reason_index(reason)]
}

/// Every decision label, in the order `/metrics` lists them. `no_group` counts checks of
/// instances naming a group that does not exist (they get no update).
const REASON_LABELS: [&str; 17] = [
    "ahead_of_target",
    "auto_paused",
    "blacklisted",
    "in_flight_cap",
    "no_group",
    "no_package",
    "no_target",
    "not_in_percent",
    "other",
    "outside_window",
    "paused",
    "payload_missing",
    "rate_limited",
    "retrying_after_failure",
    "target_blacklisted",
    "up_to_date",
    "update",
];

/// The index of `no_group` in [`REASON_LABELS`].
const NO_GROUP: usize = 4;

/// The index of a decision's label in [`REASON_LABELS`].
fn reason_index(reason: Option<&Reason>) -> usize {
    match reason {
        Some(Reason::AheadOfTarget) => 0,
        Some(Reason::AutoPaused { .. }) => 1,
        Some(Reason::Blacklisted) => 2,
        Some(Reason::InFlightCap { .. }) => 3,
        Some(Reason::NoPackage) => 5,
        Some(Reason::NoTarget) => 6,
        Some(Reason::NotInPercent { .. }) => 7,
        Some(Reason::OutsideWindow { .. }) => 9,
        Some(Reason::Paused) => 10,
        Some(Reason::PayloadMissing) => 11,
        Some(Reason::RateLimited { .. }) => 12,
        Some(Reason::RetryingAfterFailure { .. }) => 13,
        Some(Reason::TargetBlacklisted) => 14,
        Some(Reason::UpToDate) => 15,
        None => 16,
        // A reason added to the engine after this list: counted as `other`, not lost.
        Some(_) => 8,
    }
}

/// HTTP status codes 100 to 999, each a counter: bumped on every response without a lock.
#[derive(Debug)]
struct StatusCounters(Vec<AtomicU64>);

impl Default for StatusCounters {
    fn default() -> Self {
        Self((100..1000).map(|_| AtomicU64::new(0)).collect())
    }
}

impl StatusCounters {
    fn bump(&self, status: u16) {
        if let Some(counter) = status
            .checked_sub(100)
            .and_then(|i| self.0.get(usize::from(i)))
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The codes answered at least once, with their counts.
    fn seen(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (100u16..)
            .zip(&self.0)
            .map(|(status, n)| (status, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
    }
}

/// An event code as a label: its number when Omaha defines it, `other` otherwise.
fn event_labels(event_type: i64, event_result: i64) -> (String, String) {
    let t = match EventType::from_code(event_type) {
        EventType::Other(_) => "other".to_owned(),
        known => known.code().to_string(),
    };
    let r = match EventResult::from_code(event_result) {
        EventResult::Other(_) => "other".to_owned(),
        known => known.code().to_string(),
    };
    (t, r)
}

#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(&mut self.counts) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }
}

#[derive(Debug, Default)]
struct Counters {
    grants: BTreeMap<(String, String), u64>,
    events: BTreeMap<(String, String), u64>,
    errors: BTreeMap<&'static str, u64>,
    store_latency: BTreeMap<StoreOp, Histogram>,
    batches: BTreeMap<BatchKind, Histogram>,
    pruned: BTreeMap<&'static str, u64>,
}

#[derive(Debug)]
struct Fleet {
    at: jiff::Timestamp,
    counts: Vec<StatusCount>,
}

/// Which of the update check's limits an app went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// Its request carried more than `MAX_APPS_PER_REQUEST` apps.
    AppsPerRequest,
    /// It carried more than `MAX_EVENTS_PER_APP` events.
    EventsPerApp,
    /// Its instance reported more than `budget::MAX_HISTORY_PER_MINUTE` events this minute.
    HistoryPerMinute,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    checks_fast: AtomicU64,
    checks_writer: AtomicU64,
    over_limit_apps: AtomicU64,
    over_limit_events: AtomicU64,
    over_limit_history: AtomicU64,
    requests: AtomicU64,
    check_ins: AtomicU64,
    round_trips_writer: AtomicU64,
    round_trips_write_behind: AtomicU64,
    group_locks: AtomicU64,
    // Bumped on every update check and response: atomics, not the counters' lock.
    decisions: [AtomicU64; REASON_LABELS.len()],
    responses: StatusCounters,
    counters: Mutex<Counters>,
    fleet: tokio::sync::Mutex<Option<Fleet>>,
    connections: Arc<ConnectionStats>,
}

impl Metrics {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection counters the accept loop bumps ([`crate::conn`]).
    pub fn connections(&self) -> Arc<ConnectionStats> {
        self.connections.clone()
    }

    /// An update request arrived (any number of apps).
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `apps` refused unprocessed for going over `limit`.
    pub fn over_limit(&self, limit: OverLimit, apps: usize) {
        match limit {
            OverLimit::AppsPerRequest => &self.over_limit_apps,
            OverLimit::EventsPerApp => &self.over_limit_events,
            OverLimit::HistoryPerMinute => &self.over_limit_history,
        }
        .fetch_add(apps as u64, Ordering::Relaxed);
    }

    /// An app asked for an update, answered on `path`.
    pub fn check(&self, path: CheckPath) {
        match path {
            CheckPath::Fast => &self.checks_fast,
            CheckPath::Writer => &self.checks_writer,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// The engine decided (`None`: an update; otherwise why not).
    pub fn decision(&self, reason: Option<&Reason>) {
        self.decisions[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
    }

    /// A check of an instance naming a group that does not exist (no update).
    pub fn no_group(&self) {
        self.decisions[NO_GROUP].fetch_add(1, Ordering::Relaxed);
    }

    /// Instances reported `n` routine 3/2 check-ins (not completions; counted apart from
    /// `update_server_events_total`).
    pub fn check_ins(&self, n: u64) {
        if n > 0 {
            self.check_ins.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// `n` round trips to the store on `path`.
    pub fn round_trips(&self, path: RoundTrips, n: u64) {
        match path {
            RoundTrips::Writer => &self.round_trips_writer,
            RoundTrips::WriteBehind => &self.round_trips_write_behind,
        }
        .fetch_add(n, Ordering::Relaxed);
    }

    /// The writer locked `n` groups' rollout state rows.
    pub fn group_locks(&self, n: u64) {
        self.group_locks.fetch_add(n, Ordering::Relaxed);
    }

    /// A new grant (not a re-issue) in a group that exists.
    pub fn grant(&self, app_id: &str, group_id: &str) {
        *self
            .counters()
            .grants
            .entry((app_id.to_owned(), group_id.to_owned()))
            .or_default() += 1;
    }

    /// Instances reported events.
    pub fn events(&self, events: impl IntoIterator<Item = (i64, i64)>) {
        let mut counters = self.counters();
        for (t, r) in events {
            *counters.events.entry(event_labels(t, r)).or_default() += 1;
        }
    }

    /// Something failed.
    pub fn error(&self, kind: ErrorKind) {
        *self.counters().errors.entry(kind.label()).or_default() += 1;
    }

    /// An HTTP response went out.
    pub fn response(&self, status: u16) {
        self.responses.bump(status);
    }

    /// A store operation took `elapsed`.
    pub fn store_latency(&self, op: StoreOp, elapsed: Duration) {
        self.counters()
            .store_latency
            .entry(op)
            .or_insert_with(|| Histogram::new(&LATENCY_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// A batch of `size` went to the store.
    pub fn batch(&self, kind: BatchKind, size: usize) {
        self.counters()
            .batches
            .entry(kind)
            .or_insert_with(|| Histogram::new(&BATCH_BUCKETS))
            .observe(size as f64);
    }

    /// Retention deleted `rows` of `what` (`history`, `activity`, `rollups_60`, ...).
    pub fn pruned(&self, what: &'static str, rows: u64) {
        *self.counters().pruned.entry(what).or_default() += rows;
    }

    /// The instance counts, from the cache when younger than [`FLEET_TTL`] at `now` (the
    /// server's clock).
    async fn fleet(&self, store: &dyn Store, now: jiff::Timestamp) -> Option<Vec<StatusCount>> {
        let mut fleet = self.fleet.lock().await;
        if let Some(f) = fleet.as_ref()
            && now >= f.at
            && now.duration_since(f.at).unsigned_abs() < FLEET_TTL
        {
            return Some(f.counts.clone());
        }
        let started = Instant::now();
        match store
            .instance_status_counts(&crate::store::InstanceFilter::default())
            .await
        {
            Ok(counts) => {
                self.store_latency(StoreOp::InstanceCounts, started.elapsed());
                *fleet = Some(Fleet {
                    at: now,
                    counts: counts.clone(),
                });
                Some(counts)
            }
            Err(err) => {
                self.error(ErrorKind::InstanceCounts);
                tracing::warn!(error = %err, "cannot count instances for the metrics");
                // A stale answer is better than none.
                fleet.as_ref().map(|f| f.counts.clone())
            }
        }
    }

    /// The exposition text: every counter, histogram and gauge, at `now`.
    pub async fn render(
        &self,
        store: &dyn Store,
        cache: &ConfigCache,
        now: jiff::Timestamp,
    ) -> String {
        let fleet = self.fleet(store, now).await;
        let mut out = String::with_capacity(8 * 1024);
        header(
            &mut out,
            "update_server_update_requests_total",
            "counter",
            "Update requests received on the Omaha endpoint (each may carry several apps).",
        );
        sample(
            &mut out,
            "update_server_update_requests_total",
            &[],
            self.requests.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "update_server_update_checks_total",
            "counter",
            "Apps that asked for an update, by the path that answered (fast: from memory; \
             writer: decided under the group's lock).",
        );
        for (path, counter) in [("fast", &self.checks_fast), ("writer", &self.checks_writer)] {
            sample(
                &mut out,
                "update_server_update_checks_total",
                &[("path", path)],
                counter.load(Ordering::Relaxed),
            );
        }
        header(
            &mut out,
            "update_server_store_round_trips_total",
            "counter",
            "Round trips to the store by path (writer: its transactions, counted per call; \
             write_behind: the flushes of last seen and counters).",
        );
        for (path, counter) in [
            ("writer", &self.round_trips_writer),
            ("write_behind", &self.round_trips_write_behind),
        ] {
            sample(
                &mut out,
                "update_server_store_round_trips_total",
                &[("path", path)],
                counter.load(Ordering::Relaxed),
            );
        }
        header(
            &mut out,
            "update_server_group_locks_total",
            "counter",
            "Rollout state rows of groups locked by the writer (one per group per transaction).",
        );
        sample(
            &mut out,
            "update_server_group_locks_total",
            &[],
            self.group_locks.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "update_server_update_apps_over_limit_total",
            "counter",
            "Apps refused unprocessed: their request carried too many apps, they too many \
             events, or their instance too many events this minute.",
        );
        for (limit, counter) in [
            ("apps_per_request", &self.over_limit_apps),
            ("events_per_app", &self.over_limit_events),
            ("history_per_minute", &self.over_limit_history),
        ] {
            sample(
                &mut out,
                "update_server_update_apps_over_limit_total",
                &[("limit", limit)],
                counter.load(Ordering::Relaxed),
            );
        }
        {
            let c = self.counters();
            header(
                &mut out,
                "update_server_decisions_total",
                "counter",
                "Decisions of the rollout engine: update, or the reason for none.",
            );
            for (reason, n) in REASON_LABELS.iter().zip(&self.decisions) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    sample(
                        &mut out,
                        "update_server_decisions_total",
                        &[("reason", reason)],
                        n,
                    );
                }
            }
            header(
                &mut out,
                "update_server_grants_total",
                "counter",
                "New update grants (re-issues to the same instance are not counted).",
            );
            for ((app, group), n) in &c.grants {
                sample(
                    &mut out,
                    "update_server_grants_total",
                    &[("app", app), ("group", group)],
                    *n,
                );
            }
            header(
                &mut out,
                "update_server_check_ins_total",
                "counter",
                "Routine 3/2 reports that complete nothing (update_engine sends one with every \
                 check); not counted in update_server_events_total.",
            );
            sample(
                &mut out,
                "update_server_check_ins_total",
                &[],
                self.check_ins.load(Ordering::Relaxed),
            );
            header(
                &mut out,
                "update_server_events_total",
                "counter",
                "Events reported by instances, by Omaha event type and result (3/2: completed \
                 updates only).",
            );
            for ((t, r), n) in &c.events {
                sample(
                    &mut out,
                    "update_server_events_total",
                    &[("type", t), ("result", r)],
                    *n,
                );
            }
            header(
                &mut out,
                "update_server_errors_total",
                "counter",
                "Failures, by kind.",
            );
            for (kind, n) in &c.errors {
                sample(
                    &mut out,
                    "update_server_errors_total",
                    &[("kind", kind)],
                    *n,
                );
            }
            header(
                &mut out,
                "update_server_http_responses_total",
                "counter",
                "HTTP responses, by status code.",
            );
            for (status, n) in self.responses.seen() {
                sample(
                    &mut out,
                    "update_server_http_responses_total",
                    &[("status", &status.to_string())],
                    n,
                );
            }
            let conns = &self.connections;
            header(
                &mut out,
                "update_server_connections_open",
                "gauge",
                "HTTP connections open now.",
            );
            sample(
                &mut out,
                "update_server_connections_open",
                &[],
                u64::try_from(conns.open()).unwrap_or(u64::MAX),
            );
            for (name, help, n) in [
                (
                    "update_server_connections_accepted_total",
                    "HTTP connections accepted.",
                    conns.accepted(),
                ),
                (
                    "update_server_connections_refused_total",
                    "HTTP connections closed on arrival because --max-connections were open.",
                    conns.refused(),
                ),
                (
                    "update_server_connections_idle_closed_total",
                    "HTTP connections closed by --idle-timeout.",
                    conns.idle_closed(),
                ),
                (
                    "update_server_connections_slow_head_closed_total",
                    "HTTP connections closed because a request head took longer than \
                     --header-read-timeout.",
                    conns.slow_heads(),
                ),
                (
                    "update_server_request_body_timeouts_total",
                    "Request bodies that did not arrive within --body-timeout.",
                    conns.body_timeouts(),
                ),
            ] {
                header(&mut out, name, "counter", help);
                sample(&mut out, name, &[], n);
            }
            header(
                &mut out,
                "update_server_retention_pruned_rows_total",
                "counter",
                "Rows deleted by retention, by table (rollups per resolution in seconds).",
            );
            for (what, n) in &c.pruned {
                sample(
                    &mut out,
                    "update_server_retention_pruned_rows_total",
                    &[("table", what)],
                    *n,
                );
            }
            header(
                &mut out,
                "update_server_store_latency_seconds",
                "histogram",
                "Latency of store operations.",
            );
            for (op, h) in &c.store_latency {
                histogram(
                    &mut out,
                    "update_server_store_latency_seconds",
                    ("op", op.label()),
                    h,
                );
            }
            header(
                &mut out,
                "update_server_batch_size",
                "histogram",
                "Jobs per writer transaction and check-ins per write-behind flush.",
            );
            for (kind, h) in &c.batches {
                histogram(
                    &mut out,
                    "update_server_batch_size",
                    ("batch", kind.label()),
                    h,
                );
            }
        }
        render_missing_packages(&mut out, cache);
        if let Some(counts) = fleet {
            render_fleet(&mut out, &counts, cache);
        }
        out
    }
}

/// One sample per channel that points at a version without a package, or whose package
/// still waits for its payload: its groups' instances get no update until one exists.
fn render_missing_packages(out: &mut String, cache: &ConfigCache) {
    let snapshot = cache.snapshot();
    let mut missing: Vec<(&str, &str, &str, &str)> = Vec::new();
    for (app_id, app) in &snapshot.apps {
        for (name, channel) in &app.channels {
            let version = channel.record.version.as_str();
            if version.is_empty() {
                continue;
            }
            let what = match app.packages.get(version) {
                None => "no_package",
                Some(p) if p.record.url.is_empty() => "payload_missing",
                Some(_) => continue,
            };
            missing.push((app_id, name, version, what));
        }
    }
    missing.sort_unstable();
    header(
        out,
        "update_server_channel_package_missing",
        "gauge",
        "1 for each channel whose version has no package (what=\"no_package\") or whose \
         package waits for its payload (what=\"payload_missing\"): its groups get no update.",
    );
    for (app, channel, version, what) in missing {
        sample(
            out,
            "update_server_channel_package_missing",
            &[
                ("app", app),
                ("channel", channel),
                ("version", version),
                ("what", what),
            ],
            1,
        );
    }
}

fn render_fleet(out: &mut String, counts: &[StatusCount], cache: &ConfigCache) {
    let snapshot = cache.snapshot();
    let exists = |app: &str, group: &str| {
        snapshot
            .app(app)
            .is_some_and(|a| a.groups.contains_key(group))
    };
    // (app, group, version, status) -> count, with bounded labels.
    let mut gauges: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
    let mut per_group: BTreeMap<(String, String), Vec<&StatusCount>> = BTreeMap::new();
    for c in counts {
        let group = if exists(&c.app_id, &c.group_id) {
            c.group_id.clone()
        } else {
            String::new()
        };
        per_group
            .entry((c.app_id.clone(), group))
            .or_default()
            .push(c);
    }
    let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut on_version: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for ((app, group), rows) in &per_group {
        let mut by_version: BTreeMap<&str, i64> = BTreeMap::new();
        for r in rows {
            *by_version.entry(&r.version).or_default() += r.count;
            *on_version
                .entry((app.clone(), group.clone(), r.version.clone()))
                .or_default() += r.count;
            *totals.entry((app.clone(), group.clone())).or_default() += r.count;
        }
        let mut ranked: Vec<(&str, i64)> = by_version.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let named: std::collections::BTreeSet<&str> =
            ranked.iter().take(MAX_VERSIONS).map(|v| v.0).collect();
        for r in rows {
            let version = if named.contains(r.version.as_str()) {
                r.version.clone()
            } else {
                "other".to_owned()
            };
            *gauges
                .entry((app.clone(), group.clone(), version, r.status.clone()))
                .or_default() += r.count;
        }
    }
    header(
        out,
        "update_server_instances",
        "gauge",
        "Instances by app, group, version and update status (group \"\": a group that does \
         not exist).",
    );
    for ((app, group, version, status), n) in &gauges {
        sample(
            out,
            "update_server_instances",
            &[
                ("app", app),
                ("group", group),
                ("version", version),
                ("status", status),
            ],
            *n,
        );
    }
    let mut progress = String::new();
    let mut targets = String::new();
    let mut groups: Vec<(&String, &crate::cache::AppEntry)> = snapshot.apps.iter().collect();
    groups.sort_by(|a, b| a.0.cmp(b.0));
    for (app_id, app) in groups {
        let mut ids: Vec<&String> = app.groups.keys().collect();
        ids.sort();
        for group_id in ids {
            let Some(route) = snapshot.route(app, group_id) else {
                continue;
            };
            let Some(channel) = route.channel.as_ref() else {
                continue;
            };
            let target = &channel.record.version;
            let key = (app_id.clone(), group_id.clone());
            let total = totals.get(&key).copied().unwrap_or(0);
            let done = on_version
                .get(&(app_id.clone(), group_id.clone(), target.clone()))
                .copied()
                .unwrap_or(0);
            let labels = [
                ("app", app_id.as_str()),
                ("group", group_id.as_str()),
                ("version", target.as_str()),
            ];
            let ratio = if total == 0 {
                0.0
            } else {
                done as f64 / total as f64
            };
            sample_f64(
                &mut progress,
                "update_server_rollout_progress_ratio",
                &labels,
                ratio,
            );
            sample(
                &mut targets,
                "update_server_rollout_target_instances",
                &labels,
                done,
            );
        }
    }
    header(
        out,
        "update_server_rollout_progress_ratio",
        "gauge",
        "Share of a group's instances on its channel's target version.",
    );
    out.push_str(&progress);
    header(
        out,
        "update_server_rollout_target_instances",
        "gauge",
        "Instances of a group on its channel's target version.",
    );
    out.push_str(&targets);
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for ch in v.chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn sample(out: &mut String, name: &str, l: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    labels(out, l);
    let _ = writeln!(out, " {value}");
}

fn sample_f64(out: &mut String, name: &str, l: &[(&str, &str)], value: f64) {
    sample(out, name, l, format_f64(value));
}

fn format_f64(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{value}")
    }
}

fn histogram(out: &mut String, name: &str, label: (&str, &str), h: &Histogram) {
    let bucket = format!("{name}_bucket");
    for (bound, count) in h.bounds.iter().zip(&h.counts) {
        sample(out, &bucket, &[label, ("le", &format_f64(*bound))], *count);
    }
    sample(out, &bucket, &[label, ("le", "+Inf")], h.count);
    sample_f64(out, &format!("{name}_sum"), &[label], h.sum);
    sample(out, &format!("{name}_count"), &[label], h.count);
}

/// What `/metrics` and `/readyz` need.
#[derive(Clone)]
pub struct OpsState {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The configuration cache (names the groups that exist).
    pub cache: Arc<ConfigCache>,
    /// The server's clock (the age of the cached fleet gauges).
    pub clock: Arc<dyn Clock>,
    /// Whether the writer can commit.
    pub writer: Arc<WriterHealth>,
    /// The login throttle (its counts).
    pub throttle: Arc<crate::throttle::LoginThrottle>,
}

/// Whether the writer can commit, as the writer's last transaction showed: what `/readyz` reports.
#[derive(Debug, Default)]
pub struct WriterHealth {
    /// Why the last transaction failed, while the database is failing.
    failing: Mutex<Option<String>>,
}

impl WriterHealth {
    /// Why the writer cannot commit, or `None` when its last transaction (or probe) did.
    pub fn failing(&self) -> Option<String> {
        self.failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records the outcome of the writer's last transaction (or probe).
    pub(crate) fn set(&self, failing: Option<String>) {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = failing;
    }
}

/// `/metrics` and `/readyz`.
pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<OpsState>) -> Response {
    let mut text = state
        .metrics
        .render(state.store.as_ref(), &state.cache, state.clock.now())
        .await;
    let (refused, failed) = state.throttle.totals();
    header(
        &mut text,
        "update_server_logins_failed_total",
        "counter",
        "Wrong keys (Basic, Hawk, the panel's login form, uploads) checked by this replica.",
    );
    sample(&mut text, "update_server_logins_failed_total", &[], failed);
    header(
        &mut text,
        "update_server_logins_throttled_total",
        "counter",
        "Login attempts answered 429 by this replica's login throttle, no key checked.",
    );
    sample(
        &mut text,
        "update_server_logins_throttled_total",
        &[],
        refused,
    );
    header(
        &mut text,
        "update_server_writer_failing",
        "gauge",
        "1 while the writer cannot commit (the database is failing or too slow), else 0.",
    );
    sample(
        &mut text,
        "update_server_writer_failing",
        &[],
        u64::from(state.writer.failing().is_some()),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn readyz(State(state): State<OpsState>) -> Response {
    let started = Instant::now();
    let probe = tokio::time::timeout(READY_TIMEOUT, state.store.schema_status()).await;
    state
        .metrics
        .store_latency(StoreOp::Ping, started.elapsed());
    let (status, text) = match probe {
        Ok(Ok(schema)) if schema.is_current() => match state.writer.failing() {
            None => (StatusCode::OK, "ready".to_owned()),
            // Reads may work while writes do not (a full disk): the update endpoint needs
            // both. The writer probes every half second, so this clears by itself.
            Some(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: the database does not take writes: {why}"),
            ),
        },
        Ok(Ok(schema)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the database schema is at migration {}, this server needs {}",
                schema.applied, schema.expected
            ),
        ),
        Ok(Err(err)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the database does not answer: {err}"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the database did not answer within {} s",
                READY_TIMEOUT.as_secs()
            ),
        ),
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text + "\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_labels_are_distinct_sorted_and_mapped() {
        let mut sorted = REASON_LABELS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, REASON_LABELS, "sorted, no duplicates");
        assert_eq!(reason_label(None), "update");
        assert_eq!(reason_label(Some(&Reason::UpToDate)), "up_to_date");
        assert_eq!(
            reason_label(Some(&Reason::AheadOfTarget)),
            "ahead_of_target"
        );
        assert_eq!(reason_label(Some(&Reason::NoTarget)), "no_target");
        assert_eq!(
            reason_label(Some(&Reason::TargetBlacklisted)),
            "target_blacklisted"
        );
        assert_eq!(reason_label(Some(&Reason::NoPackage)), "no_package");
        assert_eq!(
            reason_label(Some(&Reason::PayloadMissing)),
            "payload_missing"
        );
        assert_eq!(reason_label(Some(&Reason::Paused)), "paused");
        assert_eq!(reason_label(Some(&Reason::Blacklisted)), "blacklisted");
        let t = jiff::Timestamp::UNIX_EPOCH;
        assert_eq!(
            reason_label(Some(&Reason::RetryingAfterFailure { until: t })),
            "retrying_after_failure"
        );
        assert_eq!(REASON_LABELS[NO_GROUP], "no_group");
    }

    #[test]
    fn responses_are_counted_per_status_without_the_lock() {
        let metrics = Metrics::default();
        for status in [200, 200, 404, 999, 1000, 42] {
            metrics.response(status);
        }
        let seen: Vec<(u16, u64)> = metrics.responses.seen().collect();
        assert_eq!(
            seen,
            vec![(200, 2), (404, 1), (999, 1)],
            "out-of-range codes dropped"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::new(&BATCH_BUCKETS);
        for v in [1.0, 3.0, 3.0, 1000.0] {
            h.observe(v);
        }
        let mut out = String::new();
        histogram(&mut out, "b", ("batch", "writer"), &h);
        assert!(
            out.contains("b_bucket{batch=\"writer\",le=\"1\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("b_bucket{batch=\"writer\",le=\"4\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("b_bucket{batch=\"writer\",le=\"512\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("b_bucket{batch=\"writer\",le=\"+Inf\"} 4\n"),
            "{out}"
        );
        assert!(out.contains("b_sum{batch=\"writer\"} 1007\n"), "{out}");
        assert!(out.contains("b_count{batch=\"writer\"} 4\n"), "{out}");
    }

    #[test]
    fn unknown_event_codes_share_one_label() {
        assert_eq!(event_labels(3, 2), ("3".into(), "2".into()));
        assert_eq!(event_labels(800, 1), ("800".into(), "1".into()));
        assert_eq!(event_labels(12345, 99), ("other".into(), "other".into()));
    }
}
