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

/// RFC 3339 of unix milliseconds.
pub(crate) fn rfc3339(ms: i64) -> String {
    from_millis(ms).to_string()
}

/// The last order key handed out by [`report_seq`].
static LAST_REPORT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The order key of a request arriving at `now`: its time in microseconds, made strictly
/// greater than every key this process handed out before (so two requests within the same
/// microsecond, or under a clock that does not move, keep their order of arrival). Stored
/// with what an instance reports, so that a write of an older report (the write-behind of a
/// sighting, a writer batch) never overwrites a newer one. Across replicas the order is
/// their clocks'.
pub fn report_seq(now: Timestamp) -> i64 {
    use std::sync::atomic::Ordering;
    let micros = now.as_microsecond();
    let mut last = LAST_REPORT.load(Ordering::Relaxed);
    loop {
        let next = micros.max(last.saturating_add(1));
        match LAST_REPORT.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_keys_follow_arrival_even_when_the_clock_stands_still() {
        let t: Timestamp = "2026-11-27T08:00:00Z".parse().expect("valid");
        let a = report_seq(t);
        let b = report_seq(t);
        let earlier = report_seq(
            t.checked_sub(jiff::SignedDuration::from_secs(5))
                .expect("ok"),
        );
        assert!(a < b && b < earlier, "{a} {b} {earlier}");
        let later: Timestamp = "2100-01-01T00:00:00Z".parse().expect("valid");
        assert_eq!(report_seq(later), later.as_microsecond());
    }
}
