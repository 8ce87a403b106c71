//! Login throttling: failed credential checks (admin API Basic and Hawk, panel login,
//! payload upload) are counted per client address and per user, in token buckets of this
//! replica's memory.
//!
//! - A client address may fail [`ADDRESS_BURST`] checks at once, then one per
//!   [`ADDRESS_REFILL_MS`] ms. Above that, its attempts are refused with 429 and
//!   `Retry-After`, before any key is checked: the right key from that address waits too.
//! - A user may be failed [`USER_BURST`] times at once (from any addresses), then once per
//!   [`USER_REFILL_MS`] ms. Above that, attempts for the user are refused with 429, except
//!   from an address that logged in as that user within [`KNOWN_FOR_MS`]: an attacker
//!   spreading guesses over many addresses cannot lock out the user's own clients.
//! - Only a wrong key counts: a missing header, a stale timestamp or a replayed nonce do not.
//!
//! Each table holds at most [`MAX_ENTRIES`] entries; when one is full, entries that have
//! refilled (or expired) are dropped first, then the fullest bucket, so memory is bounded
//! whatever addresses or user names an attacker makes up. With several replicas each keeps
//! its own buckets: across `n` replicas an address gets at most `n` times the rate.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failed checks a client address may make at once.
pub const ADDRESS_BURST: u32 = 20;
/// Milliseconds for one more failed check of an address (10 a minute).
pub const ADDRESS_REFILL_MS: i64 = 6_000;
/// Failed checks against one user at once, from all addresses.
pub const USER_BURST: u32 = 100;
/// Milliseconds for one more failed check against a user (60 a minute).
pub const USER_REFILL_MS: i64 = 1_000;
/// How long a successful login keeps an address exempt from its user's bucket.
pub const KNOWN_FOR_MS: i64 = 24 * 3_600 * 1_000;
/// The most entries each table holds.
pub const MAX_ENTRIES: usize = 10_000;

/// A token bucket: `tokens` at `at_ms`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
}

impl Bucket {
    fn level(&self, now_ms: i64, burst: u32, refill_ms: i64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.at_ms).max(0) as f64;
        (self.tokens + elapsed / refill_ms as f64).min(f64::from(burst))
    }
}

#[derive(Debug)]
struct Table<K> {
    burst: u32,
    refill_ms: i64,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(burst: u32, refill_ms: i64) -> Self {
        Self {
            burst,
            refill_ms,
            buckets: HashMap::new(),
        }
    }

    /// Milliseconds until the next failed check is allowed (0: allowed now).
    fn wait_ms(&self, key: &K, now_ms: i64) -> i64 {
        let Some(bucket) = self.buckets.get(key) else {
            return 0;
        };
        let level = bucket.level(now_ms, self.burst, self.refill_ms);
        if level >= 1.0 {
            0
        } else {
            ((1.0 - level) * self.refill_ms as f64).ceil() as i64
        }
    }

    fn take(&mut self, key: &K, now_ms: i64) {
        let (burst, refill_ms) = (self.burst, self.refill_ms);
        if !self.buckets.contains_key(key) && self.buckets.len() >= MAX_ENTRIES {
            self.buckets
                .retain(|_, b| b.level(now_ms, burst, refill_ms) < f64::from(burst));
            if self.buckets.len() >= MAX_ENTRIES {
                let fullest = self
                    .buckets
                    .iter()
                    .max_by(|a, b| {
                        a.1.level(now_ms, burst, refill_ms)
                            .total_cmp(&b.1.level(now_ms, burst, refill_ms))
                    })
                    .map(|(k, _)| k.clone());
                if let Some(fullest) = fullest {
                    self.buckets.remove(&fullest);
                }
            }
        }
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: f64::from(burst),
            at_ms: now_ms,
        });
        let level = bucket.level(now_ms, burst, refill_ms);
        *bucket = Bucket {
            tokens: (level - 1.0).max(0.0),
            at_ms: now_ms,
        };
    }
}

#[derive(Debug)]
struct Tables {
    addresses: Table<IpAddr>,
    users: Table<String>,
    /// (user, address) → when it last logged in.
    known: HashMap<(String, IpAddr), i64>,
}

/// The login throttle of one replica.
#[derive(Debug)]
pub struct LoginThrottle {
    tables: Mutex<Tables>,
    /// Attempts answered 429 without a key being checked.
    refused: std::sync::atomic::AtomicU64,
    /// Wrong keys recorded.
    failed: std::sync::atomic::AtomicU64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            tables: Mutex::new(Tables {
                addresses: Table::new(ADDRESS_BURST, ADDRESS_REFILL_MS),
                users: Table::new(USER_BURST, USER_REFILL_MS),
                known: HashMap::new(),
            }),
            refused: Default::default(),
            failed: Default::default(),
        }
    }
}

impl LoginThrottle {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a credential check of `user` from `address` may run at `now_ms`: `Err` with
    /// the seconds to wait when it may not.
    pub fn check(&self, user: &str, address: IpAddr, now_ms: i64) -> Result<(), u64> {
        let tables = self.tables();
        let mut wait = tables.addresses.wait_ms(&address, now_ms);
        let known = tables
            .known
            .get(&(user.to_owned(), address))
            .is_some_and(|at| now_ms.saturating_sub(*at) < KNOWN_FOR_MS);
        if !known {
            wait = wait.max(tables.users.wait_ms(&user.to_owned(), now_ms));
        }
        if wait == 0 {
            Ok(())
        } else {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(u64::try_from((wait + 999) / 1_000).unwrap_or(1).max(1))
        }
    }

    /// Login attempts refused (429) so far, and wrong keys recorded so far, by this replica.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.refused.load(std::sync::atomic::Ordering::Relaxed),
            self.failed.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Records a wrong key for `user` from `address`.
    pub fn failed(&self, user: &str, address: IpAddr, now_ms: i64) {
        self.failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tables = self.tables();
        tables.addresses.take(&address, now_ms);
        tables.users.take(&user.to_owned(), now_ms);
    }

    /// Records a successful login of `user` from `address`.
    pub fn succeeded(&self, user: &str, address: IpAddr, now_ms: i64) {
        let mut tables = self.tables();
        let key = (user.to_owned(), address);
        if !tables.known.contains_key(&key) && tables.known.len() >= MAX_ENTRIES {
            tables
                .known
                .retain(|_, at| now_ms.saturating_sub(*at) < KNOWN_FOR_MS);
            if tables.known.len() >= MAX_ENTRIES {
                let oldest = tables
                    .known
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    tables.known.remove(&oldest);
                }
            }
        }
        tables.known.insert(key, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn an_address_is_throttled_after_its_burst_and_refills() {
        let t = LoginThrottle::default();
        for _ in 0..ADDRESS_BURST {
            assert!(t.check("admin", ip(2), 0).is_ok());
            t.failed("admin", ip(2), 0);
        }
        let wait = t.check("admin", ip(2), 0).expect_err("throttled");
        assert_eq!(wait, 6);
        assert!(t.check("other", ip(2), 0).is_err(), "the address, any user");
        assert!(t.check("admin", ip(3), 0).is_ok(), "another address");
        assert!(
            t.check("admin", ip(2), ADDRESS_REFILL_MS).is_ok(),
            "refilled"
        );
    }

    #[test]
    fn a_user_is_throttled_for_unknown_addresses_only() {
        let t = LoginThrottle::default();
        t.succeeded("admin", ip(9), 0);
        for i in 0..USER_BURST {
            t.failed("admin", IpAddr::from([10, 0, (i / 256) as u8, i as u8]), 0);
        }
        assert!(t.check("admin", ip(3), 0).is_err());
        assert!(t.check("admin", ip(9), 0).is_ok(), "a known address");
        assert!(t.check("alice", ip(3), 0).is_ok(), "another user");
        assert!(t.check("admin", ip(3), USER_REFILL_MS).is_ok());
    }

    #[test]
    fn memory_is_bounded() {
        let t = LoginThrottle::default();
        for i in 0..(MAX_ENTRIES as u32 + 500) {
            let address = IpAddr::from(i.to_be_bytes());
            t.failed(&format!("user{i}"), address, 0);
            t.succeeded(&format!("user{i}"), address, 0);
        }
        let tables = t.tables();
        assert!(tables.addresses.buckets.len() <= MAX_ENTRIES);
        assert!(tables.users.buckets.len() <= MAX_ENTRIES);
        assert!(tables.known.len() <= MAX_ENTRIES);
    }
}
