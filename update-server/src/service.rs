//! The update check, step by step (the hot path), protocol-neutral.
//!
//! For each app of a request:
//!
//! 1. resolve the app from the configuration cache (canonical id: braces and case do not
//!    matter); unknown: `error-unknownApplication`;
//! 2. resolve the group from the instance's `track`. A group that does not exist gets no
//!    update, but the instance is stored with the group it named, so operators see it
//!    (counted and listed under that group) and can create the group it expects;
//! 3. the fast path: a routine check that changes nothing (no event but update_engine's
//!    routine 3/2 check-in, `previousversion` empty or the version itself, of an instance
//!    known to run that version, holding no outstanding grant, whatever its status; and an
//!    answer that needs no lock: up to date, no target, no package, paused, unknown group,
//!    or a refusal the group's facts give without the lock ([`crate::refusals`]: rate
//!    window full, not in the percentage, outside the maintenance window, ...) is answered
//!    at once; its "last seen" and counters are written behind ([`crate::sightings`]),
//!    check-ins counted apart from completions. Only a check that may be granted takes the
//!    group's lock;
//! 4. everything else goes to the writer ([`crate::writer`]): events and decisions are
//!    committed before the answer.
//!
//! Work per request is bounded below the codec's own limits: a request with more than
//! [`MAX_APPS_PER_REQUEST`] apps has every app refused, and an app with more than
//! [`MAX_EVENTS_PER_APP`] events is refused, in-band (`<app status="restricted">`, HTTP
//! 200), with nothing stored; so is an app whose instance already reported
//! [`crate::budget::MAX_HISTORY_PER_MINUTE`] events this minute (every event the writer
//! takes is a history row). `update_server_update_apps_over_limit_total` counts them.

use crate::budget::HistoryBudget;
use crate::cache::{ConfigCache, Route};
use crate::clock::{Clock, millis, report_seq};
use crate::metrics::{CheckPath, ErrorKind, Metrics, OverLimit};
use crate::protocol::{AppAnswer, AppRequest, UpdateAnswer, UpdateOffer, UpdateRequest, check_app};
use crate::refusals::LIFTABLE_MAX_AGE;
use crate::sightings::Sightings;
use crate::store::{CHECK_IN, RollupDelta, RollupKey, Sighting, canonical_app_id};
use crate::writer::{
    InstanceCache, Job, KnownInstance, WriteError, Writer, install_source as install_source_of,
};
use jiff::Timestamp;
use rollout_core::{Applicant, Check, Decision, Reason, Version};
use std::sync::Arc;

/// The most apps of one update request the server processes; above it every app of the
/// request is answered `restricted` and nothing is stored. (An Omaha client sends one app
/// per product it updates.)
pub const MAX_APPS_PER_REQUEST: usize = 16;

/// The most events of one app the server processes; an app with more is answered
/// `restricted` and nothing of it is stored. (update_engine sends at most two per check.)
pub const MAX_EVENTS_PER_APP: usize = 16;

/// The update-check service.
#[derive(Clone)]
pub struct UpdateService {
    cache: Arc<ConfigCache>,
    clock: Arc<dyn Clock>,
    writer: Writer,
    instances: Arc<InstanceCache>,
    sightings: Arc<Sightings>,
    metrics: Arc<Metrics>,
    history: Arc<HistoryBudget>,
}

impl std::fmt::Debug for UpdateService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateService").finish_non_exhaustive()
    }
}

impl UpdateService {
    /// A service over these parts.
    pub fn new(
        cache: Arc<ConfigCache>,
        clock: Arc<dyn Clock>,
        writer: Writer,
        instances: Arc<InstanceCache>,
        sightings: Arc<Sightings>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            cache,
            clock,
            writer,
            instances,
            sightings,
            metrics,
            history: Arc::default(),
        }
    }

    /// Answers a request, one answer per app. An error means something the client sent
    /// could not be stored: the client must not take it as delivered (HTTP 500, it retries).
    pub async fn answer(&self, request: &UpdateRequest) -> Result<Vec<AppAnswer>, WriteError> {
        if request.unsupported_version {
            return Ok(vec![AppAnswer::UnsupportedProtocol; request.apps.len()]);
        }
        if request.apps.len() > MAX_APPS_PER_REQUEST {
            self.metrics
                .over_limit(OverLimit::AppsPerRequest, request.apps.len());
            return Ok(vec![AppAnswer::OverLimit; request.apps.len()]);
        }
        let now = self.clock.now();
        // Taken on arrival: what the instance reports is applied in this order, whichever
        // path answers.
        let seq = report_seq(now);
        let mut answers = Vec::with_capacity(request.apps.len());
        for app in &request.apps {
            if app.events.len() > MAX_EVENTS_PER_APP {
                self.metrics.over_limit(OverLimit::EventsPerApp, 1);
                answers.push(AppAnswer::OverLimit);
                continue;
            }
            answers.push(self.answer_app(request, app, now, seq).await?);
        }
        Ok(answers)
    }

    async fn answer_app(
        &self,
        request: &UpdateRequest,
        app: &AppRequest,
        now: Timestamp,
        seq: i64,
    ) -> Result<AppAnswer, WriteError> {
        if let Some(field) = check_app(&request.install_source, app) {
            // Refused before anything is stored: a value one backend would take and another
            // refuse never reaches the writer, so it cannot fail other clients' jobs.
            self.metrics.error(ErrorKind::InvalidValue);
            return Ok(AppAnswer::Invalid(field));
        }
        let snapshot = self.cache.snapshot();
        let app_id = canonical_app_id(&app.app_id);
        let Some(entry) = snapshot.app(&app_id) else {
            return Ok(AppAnswer::UnknownApplication);
        };
        let Some(machine_id) = app.machine_id.clone() else {
            // Nothing to keep the state of: acknowledge and offer nothing.
            return Ok(AppAnswer::Ok {
                update: app.update_check.then_some(UpdateAnswer::NoUpdate),
            });
        };
        let group_id = app.group.clone().unwrap_or_default();
        let version = parse_version(&app.version);
        let route = snapshot.route_step(
            entry,
            &group_id,
            app.arch.as_ref(),
            version.as_ref(),
            app.multi_manifest_ok,
        );

        if let Some(reason) = self.fast_path(
            &app_id,
            &machine_id,
            &request.install_source,
            app,
            route.as_ref(),
            version.as_ref(),
            now,
        ) {
            if app.update_check {
                self.metrics.check(CheckPath::Fast);
                if let Some(route) = &route {
                    self.metrics.decision(route.explain(reason).as_ref());
                } else {
                    self.metrics.no_group();
                }
            }
            // Every event answered here is a routine 3/2 check-in (see `fast_path`).
            self.metrics.check_ins(app.events.len() as u64);
            let at = millis(now);
            let key = |event: Option<(i64, i64)>| RollupDelta {
                key: RollupKey {
                    app_id: app_id.clone(),
                    group_id: group_id.clone(),
                    version: app.version.clone(),
                    event,
                },
                at,
                count: 1,
            };
            let rollups: Vec<RollupDelta> = std::iter::once(key(None))
                .chain(app.events.iter().map(|_| key(Some(CHECK_IN))))
                .collect();
            self.sightings.push(
                Sighting {
                    app_id,
                    machine_id,
                    group_id,
                    version: app.version.clone(),
                    oem: app.oem.clone(),
                    at,
                    seq,
                },
                rollups,
            );
            return Ok(AppAnswer::Ok {
                update: app.update_check.then_some(UpdateAnswer::NoUpdate),
            });
        }

        if !self
            .history
            .take(&app_id, &machine_id, millis(now), app.events.len())
        {
            self.metrics.over_limit(OverLimit::HistoryPerMinute, 1);
            return Ok(AppAnswer::OverLimit);
        }
        if app.update_check {
            self.metrics.check(CheckPath::Writer);
        }
        let decision = self
            .writer
            .submit(Job {
                app_id,
                group_id,
                route: route.clone(),
                machine_id,
                version_raw: app.version.clone(),
                version,
                oem: app.oem.clone(),
                install_source: request.install_source.clone(),
                events: app.events.clone(),
                update_check: app.update_check,
                now,
                seq,
            })
            .await?;
        let update = app.update_check.then(|| match (decision, &route) {
            (Some(Decision::Update { rollback, .. }), Some(route)) => match &route.package {
                Some(package) if route.floors.is_empty() => {
                    let mut offer = package.offer.clone();
                    offer.floor_reason.clone_from(&route.floor_reason);
                    offer.rollback = rollback;
                    UpdateAnswer::Update(Box::new(offer))
                }
                Some(package) => {
                    // Every floor on the way, lowest first, then the target
                    // (`route_step` checked that each has its payload).
                    let mut offers: Vec<UpdateOffer> = route
                        .floors
                        .iter()
                        .filter_map(|(floor, package)| {
                            let mut offer = package.as_ref()?.offer.clone();
                            offer.floor_reason = Some(floor.reason.clone());
                            Some(offer)
                        })
                        .collect();
                    let mut target = package.offer.clone();
                    target.is_target = true;
                    target.rollback = rollback;
                    offers.push(target);
                    UpdateAnswer::Manifests(offers)
                }
                None => UpdateAnswer::NoUpdate,
            },
            _ => UpdateAnswer::NoUpdate,
        });
        Ok(AppAnswer::Ok { update })
    }

    /// Whether the check can be answered without the writer (see the module docs): `None`
    /// when it cannot; otherwise why there is no update, in the engine's terms (for the
    /// metrics; the caller counts a check naming a group that does not exist as
    /// `no_group`). Every event it lets through is a routine 3/2 check-in.
    #[allow(clippy::too_many_arguments)]
    fn fast_path(
        &self,
        app_id: &str,
        machine_id: &str,
        install_source: &str,
        app: &AppRequest,
        route: Option<&Route>,
        version: Option<&Version>,
        now: Timestamp,
    ) -> Option<Option<Reason>> {
        // A ping or a bare check-in of an instance of a group that does not exist carries
        // nothing to decide or to move.
        if app.events.is_empty() && (!app.update_check || route.is_none()) {
            return Some(Some(Reason::Paused));
        }
        let known = self.instances.get(app_id, machine_id)?;
        if *known.version != *app.version || known.has_grant {
            return None;
        }
        // Holding no grant and reporting the version stored, a routine 3/2 completes
        // nothing and moves no status (an instance in `error` stays there).
        if !app.events.iter().all(|e| e.is_routine_3_2(&app.version)) {
            return None;
        }
        if !app.update_check {
            return Some(None);
        }
        let Some(route) = route else {
            return Some(Some(Reason::Paused));
        };
        let target = route
            .channel
            .as_ref()
            .and_then(|c| c.channel.target.as_ref());
        match (target, version) {
            (None, _) => Some(Some(Reason::NoTarget)),
            (Some(target), Some(version)) if target == version => Some(Some(Reason::UpToDate)),
            _ if route.group.policy.paused() => Some(Some(Reason::Paused)),
            _ if route.package.is_none() => Some(Some(Reason::NoPackage)),
            _ if route
                .package
                .as_ref()
                .is_some_and(|p| p.record.url.is_empty()) =>
            {
                Some(Some(Reason::PayloadMissing))
            }
            (Some(_), Some(version)) => self
                .refusal(
                    app_id,
                    machine_id,
                    install_source,
                    app,
                    route,
                    version,
                    &known,
                    now,
                )
                .map(Some),
            (Some(_), None) => None,
        }
    }

    /// The refusal the group's facts give this check without the lock
    /// ([`crate::refusals`]); `None` when the check may be granted, the group has no facts
    /// yet, or the refusal is one a concurrent event may have lifted and the facts are
    /// older than [`LIFTABLE_MAX_AGE`]. The instance holds no grant (the caller checked).
    #[allow(clippy::too_many_arguments)]
    fn refusal(
        &self,
        app_id: &str,
        machine_id: &str,
        install_source: &str,
        app: &AppRequest,
        route: &Route,
        version: &Version,
        known: &KnownInstance,
        now: Timestamp,
    ) -> Option<Reason> {
        let policy = &route.group.policy;
        // The retry delay on record is not kept in memory: the writer knows it.
        if known.retrying && policy.retry_delay().is_some() {
            return None;
        }
        // Keyed as the writer keys it: the group the instance named.
        let (facts, read_at) = self
            .writer
            .refusals()
            .get(app_id, app.group.as_deref().unwrap_or_default())?;
        let channel = &route.channel.as_ref()?.channel;
        let check = Check {
            channel,
            package: route.package.as_ref().and_then(|p| p.package.as_ref()),
            install_source: install_source_of(install_source),
        };
        let applicant = Applicant {
            machine_id,
            version,
            oem: &app.oem,
            backoff: None,
        };
        let refusal = facts.refuse(policy, &applicant, &check, now)?;
        if refusal.liftable && now.duration_since(read_at) > LIFTABLE_MAX_AGE {
            return None;
        }
        Some(refusal.reason)
    }
}

/// The instance's version for the engine: an empty version is `0.0.0` (Omaha: "" means
/// 0.0.0.0); one that does not parse is `None`.
fn parse_version(text: &str) -> Option<Version> {
    if text.trim().is_empty() {
        return Version::parse("0.0.0").ok();
    }
    Version::parse(text).ok()
}
