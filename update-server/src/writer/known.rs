//! What the server knows about each instance without asking the store ([`InstanceCache`]):
//! enough to answer a routine check on the fast path. It is the only memory the server
//! keeps per instance, so it is compact: an instance is a 128-bit keyed hash of its app
//! and machine id and an 8-byte record (the version as an index into a small table of the
//! versions seen, and three flags), about 25 to 50 bytes with the hash table's slack, and
//! no heap allocation of its own.
//!
//! The hash is SipHash with random keys chosen at start, twice with different keys, so a
//! client cannot make its instance collide with another's (a collision would only make the
//! fast path answer one of them from the other's record; at 2^-128 per pair it does not
//! happen by chance either).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex};

/// What the server knows about an instance without asking the store: enough to answer a
/// routine check on the fast path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownInstance {
    /// The version last stored.
    pub version: Arc<str>,
    /// Whether its status is complete.
    pub complete: bool,
    /// Whether it holds an outstanding grant.
    pub has_grant: bool,
    /// Whether it has a retry delay after a failure on record.
    pub retrying: bool,
}

/// An instance as the cache holds it: 8 bytes.
#[derive(Debug, Clone, Copy)]
struct Packed {
    version: u32,
    flags: u8,
}

const COMPLETE: u8 = 1;
const HAS_GRANT: u8 = 2;
const RETRYING: u8 = 4;

/// Hashes a key that is a random hash already: its low 64 bits.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; anything else is folded in, never lost.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

#[derive(Debug, Default)]
struct Shard {
    known: HashMap<u128, Packed, BuildHasherDefault<PassThrough>>,
    /// The versions the shard's instances run, by index.
    versions: Vec<Arc<str>>,
    version_ids: HashMap<Arc<str>, u32>,
}

impl Shard {
    fn clear(&mut self) {
        self.known = HashMap::default();
        self.versions = Vec::new();
        self.version_ids = HashMap::new();
    }
}

impl std::fmt::Debug for PassThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassThrough")
    }
}

/// Instances the writer has stored, for the fast path. Sharded so that concurrent checks
/// rarely wait for each other; lookups do not allocate. Bounded: a shard that fills up
/// (`SHARD_LIMIT` instances, or `VERSION_LIMIT` distinct versions) is cleared, and its
/// instances go through the writer once more.
#[derive(Debug)]
pub struct InstanceCache {
    keys: (RandomState, RandomState),
    shards: Vec<Mutex<Shard>>,
}

const SHARDS: usize = 16;

/// Most instances remembered per shard.
pub const SHARD_LIMIT: usize = 2_000_000 / SHARDS;

/// Most distinct versions remembered per shard (versions are what clients report).
pub const VERSION_LIMIT: usize = 1024;

impl Default for InstanceCache {
    fn default() -> Self {
        Self {
            keys: (RandomState::new(), RandomState::new()),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl InstanceCache {
    fn key(&self, app_id: &str, machine_id: &str) -> u128 {
        let half = |state: &RandomState| {
            let mut h = state.build_hasher();
            app_id.hash(&mut h);
            machine_id.hash(&mut h);
            h.finish()
        };
        (u128::from(half(&self.keys.0)) << 64) | u128::from(half(&self.keys.1))
    }

    fn shard(&self, key: u128) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[(key >> 64) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// What is known of an instance.
    pub fn get(&self, app_id: &str, machine_id: &str) -> Option<KnownInstance> {
        let key = self.key(app_id, machine_id);
        let shard = self.shard(key);
        let packed = *shard.known.get(&key)?;
        Some(KnownInstance {
            version: shard.versions.get(packed.version as usize)?.clone(),
            complete: packed.flags & COMPLETE != 0,
            has_grant: packed.flags & HAS_GRANT != 0,
            retrying: packed.flags & RETRYING != 0,
        })
    }

    /// Records what the writer stored of an instance.
    pub fn put(&self, app_id: &str, machine_id: &str, known: &KnownInstance) {
        let key = self.key(app_id, machine_id);
        let mut shard = self.shard(key);
        if shard.known.len() >= SHARD_LIMIT && !shard.known.contains_key(&key) {
            shard.clear();
        }
        let version = match shard.version_ids.get(&known.version) {
            Some(&id) => id,
            None => {
                if shard.versions.len() >= VERSION_LIMIT {
                    shard.clear();
                }
                let id = u32::try_from(shard.versions.len()).unwrap_or(u32::MAX);
                shard.versions.push(known.version.clone());
                shard.version_ids.insert(known.version.clone(), id);
                id
            }
        };
        let flags = (if known.complete { COMPLETE } else { 0 })
            | (if known.has_grant { HAS_GRANT } else { 0 })
            | (if known.retrying { RETRYING } else { 0 });
        shard.known.insert(key, Packed { version, flags });
    }

    /// Forgets an instance (its write failed: the store may hold something else).
    pub fn forget(&self, app_id: &str, machine_id: &str) {
        let key = self.key(app_id, machine_id);
        self.shard(key).known.remove(&key);
    }

    /// Instances remembered.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).known.len())
            .sum()
    }

    /// Whether no instance is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(version: &str, flags: u8) -> KnownInstance {
        KnownInstance {
            version: version.into(),
            complete: flags & COMPLETE != 0,
            has_grant: flags & HAS_GRANT != 0,
            retrying: flags & RETRYING != 0,
        }
    }

    #[test]
    fn remembers_per_app_and_machine() {
        let cache = InstanceCache::default();
        assert_eq!(cache.get("a", "m"), None);
        cache.put("a", "m", &known("1.0.0", COMPLETE));
        cache.put("b", "m", &known("2.0.0", HAS_GRANT | RETRYING));
        assert_eq!(cache.get("a", "m"), Some(known("1.0.0", COMPLETE)));
        assert_eq!(
            cache.get("b", "m"),
            Some(known("2.0.0", HAS_GRANT | RETRYING))
        );
        // The split between app and machine id is part of the key.
        assert_eq!(cache.get("am", ""), None);
        cache.put("a", "m", &known("1.1.0", 0));
        assert_eq!(cache.get("a", "m"), Some(known("1.1.0", 0)));
        cache.forget("a", "m");
        assert_eq!(cache.get("a", "m"), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn versions_are_shared_and_bounded() {
        let cache = InstanceCache::default();
        for i in 0..1000 {
            cache.put("a", &format!("m{i}"), &known("1.0.0", 0));
        }
        let versions: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().unwrap().versions.len())
            .sum();
        assert!(
            versions <= SHARDS,
            "one copy of the version per shard: {versions}"
        );
        // A flood of distinct versions clears shards instead of growing without bound.
        for i in 0..(VERSION_LIMIT * SHARDS * 2) {
            cache.put("a", &format!("x{i}"), &known(&format!("9.{i}"), 0));
        }
        for shard in &cache.shards {
            let shard = shard.lock().unwrap();
            assert!(shard.versions.len() <= VERSION_LIMIT);
            assert_eq!(shard.versions.len(), shard.version_ids.len());
            assert!(
                shard
                    .known
                    .values()
                    .all(|p| (p.version as usize) < shard.versions.len())
            );
        }
    }

    #[test]
    fn an_instance_costs_a_few_dozen_bytes() {
        assert_eq!(size_of::<Packed>(), 8);
        assert_eq!(size_of::<(u128, Packed)>(), 32);
    }
}
