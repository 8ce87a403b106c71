//! The server's clock. Everything that needs the time asks a [`Clock`]; the engine gets
//! `now` as an argument. Tests use [`ManualClock`] to step time without sleeping.

use jiff::Timestamp;
use std::sync::Mutex;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Moves the time forward by `seconds`.
    pub fn advance_secs(&self, seconds: i64) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = now
            .saturating_add(jiff::SignedDuration::from_secs(seconds))
            .unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Unix milliseconds of a timestamp (the store's unit).
pub fn millis(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// The timestamp of unix milliseconds; out-of-range values clamp to the representable
/// range.
pub fn from_millis(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}
