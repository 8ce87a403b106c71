//! Maintenance windows: weekdays and hours in an IANA time zone during which a group hands
//! out (scheduled) updates.
//!
//! `now` is UTC; the group's time zone comes from the time zone database bundled into this
//! crate (jiff's `tzdb-bundle-always`), so no file is read and the answer does not depend
//! on the host's `/usr/share/zoneinfo`. (Cargo unifies features: the workspace's `jiff`
//! entry must not turn on `tzdb-zoneinfo` or `tz-system`, or every crate that links this
//! one would read the host's database.)

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

use crate::PolicyError;

/// One window as configured: on each listed weekday, from `start_hour` (inclusive) to
/// `end_hour` (exclusive), local time. When `end_hour <= start_hour` the window runs past
/// midnight into the next day (the weekday names the day it starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowConfig {
    /// The weekdays on which the window opens.
    pub weekdays: Vec<Weekday>,
    /// The local hour the window opens, `0..=23`.
    pub start_hour: u8,
    /// The local hour the window closes, `0..=24`; not equal to `start_hour`.
    pub end_hour: u8,
}

/// Maintenance windows as configured: a time zone name and one or more windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceConfig {
    /// An IANA time zone name (`Europe/Berlin`, `UTC`).
    pub time_zone: String,
    /// The windows; updates are allowed while any of them is open.
    pub windows: Vec<WindowConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// Bit `d` set when the weekday with Monday-zero offset `d` is listed.
    days: u8,
    start: i8,
    end: i8,
}

impl Window {
    fn opens_on(self, day: Weekday) -> bool {
        self.days & (1 << day.to_monday_zero_offset()) != 0
    }

    fn contains(self, day: Weekday, hour: i8) -> bool {
        if self.start < self.end {
            self.opens_on(day) && self.start <= hour && hour < self.end
        } else {
            (self.opens_on(day) && hour >= self.start)
                || (self.opens_on(day.previous()) && hour < self.end)
        }
    }
}

/// Validated maintenance windows.
#[derive(Debug, Clone)]
pub struct MaintenanceWindows {
    time_zone_name: String,
    time_zone: TimeZone,
    windows: Vec<Window>,
}

impl PartialEq for MaintenanceWindows {
    fn eq(&self, other: &Self) -> bool {
        self.time_zone_name == other.time_zone_name && self.windows == other.windows
    }
}

impl MaintenanceWindows {
    /// Validates the configuration: the time zone must exist in the bundled database, each
    /// window needs at least one weekday, hours in range and `start_hour != end_hour`.
    pub fn new(config: &MaintenanceConfig) -> Result<Self, PolicyError> {
        let time_zone = TimeZone::get(&config.time_zone)
            .map_err(|_| PolicyError::UnknownTimeZone(config.time_zone.clone()))?;
        if config.windows.is_empty() {
            return Err(PolicyError::NoWindows);
        }
        let mut windows = Vec::with_capacity(config.windows.len());
        for (index, w) in config.windows.iter().enumerate() {
            if w.weekdays.is_empty()
                || w.start_hour > 23
                || w.end_hour > 24
                || w.start_hour == w.end_hour
            {
                return Err(PolicyError::Window { index });
            }
            let days = w
                .weekdays
                .iter()
                .fold(0u8, |acc, d| acc | (1 << d.to_monday_zero_offset()));
            // Hours are at most 24, so they fit in i8.
            windows.push(Window {
                days,
                start: i8::try_from(w.start_hour).map_err(|_| PolicyError::Window { index })?,
                end: i8::try_from(w.end_hour).map_err(|_| PolicyError::Window { index })?,
            });
        }
        Ok(Self {
            time_zone_name: config.time_zone.clone(),
            time_zone,
            windows,
        })
    }

    /// The configured time zone name.
    pub fn time_zone(&self) -> &str {
        &self.time_zone_name
    }

    /// Whether any window is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let local = self.time_zone.to_datetime(now);
        let (day, hour) = (local.weekday(), local.hour());
        self.windows.iter().any(|w| w.contains(day, hour))
    }

    /// The first moment strictly after `now` at which a window opens, looking at most eight
    /// days ahead. A local opening hour skipped by a daylight-saving transition opens at
    /// the first instant after the gap.
    pub fn next_opening(&self, now: Timestamp) -> Option<Timestamp> {
        let today = self.time_zone.to_datetime(now).date();
        let mut best: Option<Timestamp> = None;
        let mut date: Date = today.yesterday().unwrap_or(today);
        for _ in 0..9 {
            for w in &self.windows {
                if !w.opens_on(date.weekday()) {
                    continue;
                }
                let Ok(opening) = self.time_zone.to_timestamp(date.at(w.start, 0, 0, 0)) else {
                    continue;
                };
                if opening > now && best.is_none_or(|b| opening < b) {
                    best = Some(opening);
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("valid RFC 3339 timestamp")
    }

    fn berlin_weekday_nights() -> MaintenanceWindows {
        MaintenanceWindows::new(&MaintenanceConfig {
            time_zone: "Europe/Berlin".into(),
            windows: vec![WindowConfig {
                weekdays: vec![
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                ],
                start_hour: 22,
                end_hour: 4,
            }],
        })
        .expect("valid config")
    }

    #[track_caller]
    fn check(w: &MaintenanceWindows, now: &str, open: bool, next: Option<&str>) {
        assert_eq!(w.is_open(ts(now)), open, "open at {now}");
        assert_eq!(
            w.next_opening(ts(now)),
            next.map(ts),
            "next opening after {now}"
        );
    }

    #[test]
    fn overnight_window_in_berlin() {
        let w = berlin_weekday_nights();
        // 2026-11-27 is a Friday; Berlin is UTC+1 in winter.
        check(
            &w,
            "2026-11-27T20:59:59Z",
            false,
            Some("2026-11-27T21:00:00Z"),
        );
        check(
            &w,
            "2026-11-27T21:00:00Z",
            true,
            Some("2026-11-30T21:00:00Z"),
        );
        // Saturday 03:59 local: still Friday's window.
        check(
            &w,
            "2026-11-28T02:59:00Z",
            true,
            Some("2026-11-30T21:00:00Z"),
        );
        check(
            &w,
            "2026-11-28T03:00:00Z",
            false,
            Some("2026-11-30T21:00:00Z"),
        );
        // Sunday 23:00 local: Sunday is not listed.
        check(
            &w,
            "2026-11-29T22:00:00Z",
            false,
            Some("2026-11-30T21:00:00Z"),
        );
        // Monday 03:00 local: Sunday's window does not exist.
        check(
            &w,
            "2026-11-30T02:00:00Z",
            false,
            Some("2026-11-30T21:00:00Z"),
        );
    }

    #[test]
    fn summer_time_moves_the_utc_opening() {
        let w = berlin_weekday_nights();
        // Berlin is UTC+2 in summer: 22:00 local is 20:00 UTC.
        check(
            &w,
            "2026-07-01T19:59:00Z",
            false,
            Some("2026-07-01T20:00:00Z"),
        );
        check(
            &w,
            "2026-07-01T20:00:00Z",
            true,
            Some("2026-07-02T20:00:00Z"),
        );
    }

    #[test]
    fn daytime_window_in_new_york() {
        let w = MaintenanceWindows::new(&MaintenanceConfig {
            time_zone: "America/New_York".into(),
            windows: vec![WindowConfig {
                weekdays: vec![Weekday::Saturday],
                start_hour: 9,
                end_hour: 17,
            }],
        })
        .expect("valid config");
        // Saturday 2026-11-28 09:00 EST is 14:00 UTC.
        check(
            &w,
            "2026-11-28T13:59:59Z",
            false,
            Some("2026-11-28T14:00:00Z"),
        );
        check(
            &w,
            "2026-11-28T21:59:59Z",
            true,
            Some("2026-12-05T14:00:00Z"),
        );
        check(
            &w,
            "2026-11-28T22:00:00Z",
            false,
            Some("2026-12-05T14:00:00Z"),
        );
    }

    #[test]
    fn validation() {
        let cfg = |tz: &str, weekdays: Vec<Weekday>, start, end| MaintenanceConfig {
            time_zone: tz.into(),
            windows: vec![WindowConfig {
                weekdays,
                start_hour: start,
                end_hour: end,
            }],
        };
        assert_eq!(
            MaintenanceWindows::new(&cfg("Mars/Olympus", vec![Weekday::Monday], 1, 2)),
            Err(PolicyError::UnknownTimeZone("Mars/Olympus".into()))
        );
        assert_eq!(
            MaintenanceWindows::new(&cfg("UTC", vec![], 1, 2)),
            Err(PolicyError::Window { index: 0 })
        );
        assert_eq!(
            MaintenanceWindows::new(&cfg("UTC", vec![Weekday::Monday], 3, 3)),
            Err(PolicyError::Window { index: 0 })
        );
        assert_eq!(
            MaintenanceWindows::new(&cfg("UTC", vec![Weekday::Monday], 24, 3)),
            Err(PolicyError::Window { index: 0 })
        );
        assert_eq!(
            MaintenanceWindows::new(&MaintenanceConfig {
                time_zone: "UTC".into(),
                windows: vec![]
            }),
            Err(PolicyError::NoWindows)
        );
        let full_day = MaintenanceWindows::new(&cfg("UTC", vec![Weekday::Monday], 0, 24))
            .expect("0 to 24 is a whole day");
        assert!(full_day.is_open(ts("2026-11-30T23:59:59Z")));
        assert!(!full_day.is_open(ts("2026-12-01T00:00:00Z")));
    }
}
