//! The in-memory configuration cache: apps, channels, groups (with their validated
//! policies) and packages, as the update check needs them, without a database round trip.
//!
//! A snapshot is immutable; a refresh swaps in a new one. Every configuration write bumps
//! the store's generation counter: a local write refreshes at once, and a poller notices
//! writes made by other replicas within [`POLL_INTERVAL`].

use crate::policy::GroupPolicy;
use crate::protocol::{ExtraFile, UpdateOffer, split_url};
use crate::store::{
    AppRecord, ChannelRecord, ConfigSnapshot, GroupRecord, PackageFileRecord, PackageRecord, Store,
    StoreError,
};
use base64::Engine as _;
use rollout_core::{
    Arch, Channel, Floor, NextVersion, Package, Policy, PolicyConfig, Reason, Version,
    floors_between, next_version, package_for_arch,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often replicas look for configuration written elsewhere.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A group, with its policy ready for the engine.
#[derive(Debug)]
pub struct GroupEntry {
    /// As stored.
    pub record: GroupRecord,
    /// The validated policy. A group whose stored policy cannot be read is paused, so a
    /// broken document never hands out updates.
    pub policy: Policy,
    /// Why the stored policy could not be used, if it could not.
    pub policy_error: Option<String>,
}

/// A channel, with its target parsed.
#[derive(Debug)]
pub struct ChannelEntry {
    /// As stored.
    pub record: ChannelRecord,
    /// The engine's view.
    pub channel: Channel,
    /// Its floors, with the architecture each holds for (empty: every architecture).
    pub floors: Vec<(String, Floor)>,
    /// Its blacklisted versions.
    pub blacklist: Vec<Version>,
}

/// A package, with the engine's view and the offer an update check sends.
#[derive(Debug)]
pub struct PackageEntry {
    /// As stored.
    pub record: PackageRecord,
    /// The engine's view (`None` when the version does not parse).
    pub package: Option<Package>,
    /// What the Omaha answer says about it.
    pub offer: UpdateOffer,
}

/// An app with everything that belongs to it.
#[derive(Debug, Default)]
pub struct AppEntry {
    /// As stored (`None` only in a default value).
    pub record: Option<AppRecord>,
    /// Groups by id.
    pub groups: HashMap<String, Arc<GroupEntry>>,
    /// Channels by name.
    pub channels: HashMap<String, Arc<ChannelEntry>>,
    /// Packages by version string (each version's default package).
    pub packages: HashMap<String, Arc<PackageEntry>>,
    /// Packages of named architectures, by version string and architecture.
    pub arch_packages: HashMap<(String, String), Arc<PackageEntry>>,
}

/// What a group's update check needs: the group, its channel and the target's package for
/// the instance's architecture.
#[derive(Debug, Clone)]
pub struct Route {
    /// The group.
    pub group: Arc<GroupEntry>,
    /// Its channel, when it names one that exists.
    pub channel: Option<Arc<ChannelEntry>>,
    /// The package of the channel's version for the instance's architecture (its own, else
    /// the version's default package), when there is one.
    pub package: Option<Arc<PackageEntry>>,
    /// The floors the answer lists before the package, each with its package for the
    /// instance's architecture ([`Snapshot::route_step`]); empty when none.
    pub floors: Vec<(Floor, Option<Arc<PackageEntry>>)>,
    /// Whether `package` is itself a floor the instance must install first (its reason),
    /// rather than the channel's target.
    pub floor_reason: Option<String>,
    /// Whether the channel's target is blacklisted on the channel, so `channel` was handed
    /// to the engine without a version ([`Snapshot::route_step`]).
    pub target_blacklisted: bool,
}

impl Route {
    /// The reason of a decision on this route as operators should read it: the engine,
    /// handed a channel without a version for a blacklisted target, says
    /// [`Reason::NoTarget`]; that is [`Reason::TargetBlacklisted`] here.
    pub fn explain(&self, reason: Option<Reason>) -> Option<Reason> {
        match reason {
            Some(Reason::NoTarget) if self.target_blacklisted => Some(Reason::TargetBlacklisted),
            other => other,
        }
    }
}

/// One consistent view of the configuration.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The store generation it was read at.
    pub generation: i64,
    /// Apps by canonical id.
    pub apps: HashMap<String, AppEntry>,
}

impl Snapshot {
    /// Builds the view of a store snapshot.
    pub fn build(config: ConfigSnapshot) -> Self {
        let mut apps: HashMap<String, AppEntry> = config
            .apps
            .into_iter()
            .map(|app| {
                (
                    app.id.clone(),
                    AppEntry {
                        record: Some(app),
                        ..AppEntry::default()
                    },
                )
            })
            .collect();
        let mut floors: HashMap<(String, String), Vec<(String, Floor)>> = HashMap::new();
        for record in config.floors {
            // A version that does not parse was refused by the API; it cannot be ordered.
            if let Ok(version) = Version::parse(&record.version) {
                floors
                    .entry((record.app_id, record.channel))
                    .or_default()
                    .push((
                        record.arch,
                        Floor {
                            version,
                            reason: record.reason,
                        },
                    ));
            }
        }
        let mut blacklist: HashMap<(String, String), Vec<Version>> = HashMap::new();
        for record in config.blacklist {
            if let Ok(version) = Version::parse(&record.version) {
                blacklist
                    .entry((record.app_id, record.channel))
                    .or_default()
                    .push(version);
            }
        }
        for record in config.channels {
            if let Some(app) = apps.get_mut(&record.app_id) {
                let channel = Channel {
                    name: record.name.clone(),
                    target: Version::parse(&record.version).ok(),
                };
                let key = (record.app_id.clone(), record.name.clone());
                app.channels.insert(
                    record.name.clone(),
                    Arc::new(ChannelEntry {
                        floors: floors.remove(&key).unwrap_or_default(),
                        blacklist: blacklist.remove(&key).unwrap_or_default(),
                        record,
                        channel,
                    }),
                );
            }
        }
        let mut files: HashMap<(String, String, String), Vec<ExtraFile>> = HashMap::new();
        for file in config.package_files {
            files
                .entry((file.app_id.clone(), file.version.clone(), file.arch.clone()))
                .or_default()
                .push(extra_file(&file));
        }
        let mut files_of = |app: &str, version: &str, arch: &str| {
            files
                .remove(&(app.to_owned(), version.to_owned(), arch.to_owned()))
                .unwrap_or_default()
        };
        let base64 = |apps: &HashMap<String, AppEntry>, app: &str| {
            apps.get(app)
                .and_then(|a| a.record.as_ref())
                .is_some_and(|a| a.hash_sha256 == "base64")
        };
        for record in config.packages {
            let extra = files_of(&record.app_id, &record.version, "");
            let base64 = base64(&apps, &record.app_id);
            if let Some(app) = apps.get_mut(&record.app_id) {
                let entry = package_entry(record, extra, base64);
                app.packages
                    .insert(entry.record.version.clone(), Arc::new(entry));
            }
        }
        for record in config.arch_packages {
            let extra = files_of(
                &record.package.app_id,
                &record.package.version,
                &record.arch,
            );
            let base64 = base64(&apps, &record.package.app_id);
            if let Some(app) = apps.get_mut(&record.package.app_id) {
                let key = (record.package.version.clone(), record.arch);
                app.arch_packages
                    .insert(key, Arc::new(package_entry(record.package, extra, base64)));
            }
        }
        for record in config.groups {
            if let Some(app) = apps.get_mut(&record.app_id) {
                let entry = group_entry(record);
                app.groups.insert(entry.record.id.clone(), Arc::new(entry));
            }
        }
        Self {
            generation: config.generation,
            apps,
        }
    }

    /// The app with this canonical id.
    pub fn app(&self, canonical_id: &str) -> Option<&AppEntry> {
        self.apps.get(canonical_id)
    }

    /// The group `group_id` of an app, its channel and the channel's default package.
    pub fn route(&self, app: &AppEntry, group_id: &str) -> Option<Route> {
        self.route_for(app, group_id, None)
    }

    /// The group `group_id` of an app, its channel and the channel's package for an
    /// instance of architecture `arch` (`rollout_core::package_for_arch`).
    pub fn route_for(&self, app: &AppEntry, group_id: &str, arch: Option<&Arch>) -> Option<Route> {
        let group = app.groups.get(group_id)?.clone();
        let channel = app.channels.get(&group.record.channel).cloned();
        let package = channel.as_ref().and_then(|c| {
            let version = &c.record.version;
            package_for_arch(
                arch,
                |a| {
                    app.arch_packages
                        .get(&(version.clone(), a.as_str().to_owned()))
                },
                app.packages.get(version),
            )
            .cloned()
        });
        Some(Route {
            group,
            channel,
            package,
            floors: Vec::new(),
            floor_reason: None,
            target_blacklisted: false,
        })
    }

    /// The route of an update check of an instance on `current` (`rollout_core::
    /// next_version`): a blacklisted target offers nothing (the engine sees a channel
    /// without a version); below a floor of the channel (for every architecture or for
    /// `arch`), the next floor stands for the target, with its package; a client that
    /// takes several manifests (`multi`) keeps the target, and `floors` lists every floor
    /// on its way, in order.
    pub fn route_step(
        &self,
        app: &AppEntry,
        group_id: &str,
        arch: Option<&Arch>,
        current: Option<&Version>,
        multi: bool,
    ) -> Option<Route> {
        let mut route = self.route_for(app, group_id, arch)?;
        let Some(channel) = route.channel.clone() else {
            return Some(route);
        };
        let Some(target) = channel.channel.target.as_ref() else {
            return Some(route);
        };
        let floors: Vec<Floor> = channel
            .floors
            .iter()
            .filter(|(a, _)| a.is_empty() || arch.is_some_and(|arch| arch.as_str() == a))
            .map(|(_, f)| f.clone())
            .collect();
        // An instance whose version does not parse goes to the target, as without floors.
        let next = match current {
            Some(current) => next_version(&floors, &channel.blacklist, current, target),
            None if channel.blacklist.contains(target) => NextVersion::Blacklisted,
            None => NextVersion::Target,
        };
        let package_of = |version: &Version| {
            let version = version.to_string();
            package_for_arch(
                arch,
                |a| {
                    app.arch_packages
                        .get(&(version.clone(), a.as_str().to_owned()))
                },
                app.packages.get(&version),
            )
            .cloned()
        };
        let with_target = |target: Option<Version>| {
            Arc::new(ChannelEntry {
                record: channel.record.clone(),
                channel: Channel {
                    name: channel.channel.name.clone(),
                    target,
                },
                floors: channel.floors.clone(),
                blacklist: channel.blacklist.clone(),
            })
        };
        match next {
            NextVersion::Target => {}
            NextVersion::Blacklisted => {
                route.channel = Some(with_target(None));
                route.package = None;
                route.target_blacklisted = true;
            }
            NextVersion::Floor(_) if multi => {
                route.floors = floors_between(&floors, current.unwrap_or(target), target)
                    .into_iter()
                    .map(|f| (f.clone(), package_of(&f.version)))
                    .collect();
                // Every step needs its payload: without one the client gets nothing.
                if route
                    .floors
                    .iter()
                    .any(|(_, p)| p.as_ref().is_none_or(|p| p.record.url.is_empty()))
                {
                    route.package = None;
                }
            }
            NextVersion::Floor(floor) => {
                route.package = package_of(&floor.version);
                route.floor_reason = Some(floor.reason.clone());
                route.channel = Some(with_target(Some(floor.version.clone())));
            }
        }
        Some(route)
    }
}

fn group_entry(record: GroupRecord) -> GroupEntry {
    match GroupPolicy::from_json(&record.policy).and_then(|doc| doc.to_policy()) {
        Ok(policy) => GroupEntry {
            record,
            policy,
            policy_error: None,
        },
        Err(err) => {
            tracing::error!(
                app = %record.app_id, group = %record.id, error = %err,
                "stored group policy is unusable; the group is treated as paused"
            );
            GroupEntry {
                record,
                policy: paused_policy(),
                policy_error: Some(err.to_string()),
            }
        }
    }
}

/// A policy that grants nothing.
pub fn paused_policy() -> Policy {
    Policy::new(PolicyConfig {
        paused: true,
        ..PolicyConfig::default()
    })
    .expect("the paused default policy is valid")
}

/// The digest in standard base64 `text`, `None` when it is not one of `N` bytes.
fn digest<const N: usize>(text: &str) -> Option<[u8; N]> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
}

fn extra_file(record: &PackageFileRecord) -> ExtraFile {
    ExtraFile {
        name: record.name.clone(),
        size: record.size,
        sha1: digest(&record.sha1),
        sha256: digest(&record.sha256),
    }
}

fn package_entry(
    record: PackageRecord,
    extra_files: Vec<ExtraFile>,
    sha256_base64: bool,
) -> PackageEntry {
    let b64 = base64::engine::general_purpose::STANDARD;
    let sha1: Option<[u8; 20]> = b64
        .decode(&record.sha1)
        .ok()
        .and_then(|bytes| bytes.try_into().ok());
    let sha256: Option<[u8; 32]> = b64
        .decode(&record.sha256)
        .ok()
        .and_then(|bytes| bytes.try_into().ok());
    let (codebase, name) = split_url(&record.url);
    let offer = UpdateOffer {
        version: record.version.clone(),
        codebase: codebase.to_owned(),
        name: name.to_owned(),
        size: record.size,
        sha1,
        sha256,
        metadata_size: record.metadata_size.clone(),
        metadata_signature_rsa: record.metadata_signature_rsa.clone(),
        required: record.required,
        extra_files,
        floor_reason: None,
        is_target: false,
        rollback: false,
        sha256_base64,
    };
    let package = Version::parse(&record.version).ok().map(|version| Package {
        version,
        url: record.url.clone(),
        size: record.size,
        sha256: sha256.unwrap_or([0; 32]),
    });
    PackageEntry {
        record,
        package,
        offer,
    }
}

/// The shared, refreshable configuration view.
pub struct ConfigCache {
    store: Arc<dyn Store>,
    current: RwLock<Arc<Snapshot>>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ConfigCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigCache")
            .field("generation", &self.snapshot().generation)
            .finish_non_exhaustive()
    }
}

impl ConfigCache {
    /// Loads the configuration.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let snapshot = Snapshot::build(store.load_config().await?);
        Ok(Self {
            store,
            current: RwLock::new(Arc::new(snapshot)),
            refresh_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The current view.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reloads when the store's generation moved past the cached one. Returns whether it
    /// reloaded.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        let _one_at_a_time = self.refresh_lock.lock().await;
        let generation = self.store.config_generation().await?;
        if generation == self.snapshot().generation {
            return Ok(false);
        }
        let snapshot = Snapshot::build(self.store.load_config().await?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        Ok(true)
    }

    /// Polls the store for configuration written by other replicas until the process ends.
    pub fn spawn_poller(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = cache.refresh().await {
                    tracing::warn!(error = %err, "configuration refresh failed; serving the cached one");
                }
            }
        })
    }
}
