//! Timed rollouts: a list of frames (percent, duration) walked from the moment the rollout
//! is activated, and the linear frame generator of `updateservicectl rollout create linear`.

use jiff::{SignedDuration, Timestamp};

use crate::{Percent, PolicyError};

/// One frame of a timed rollout: the group's percentage is `percent` for `duration_secs`
/// seconds. A last frame of duration 0 holds its percentage after the rollout ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// The percentage during this frame (CoreUpdate sends a double, 0 to 100).
    pub percent: f64,
    /// How long the frame lasts, in seconds.
    pub duration_secs: u64,
}

/// Generates the frames of `updateservicectl rollout create linear --frame-size=F
/// --duration=D` exactly as the CLI does:
///
/// - `n = ceil(D / F)` frames, `step = 100 / n` in `f64`;
/// - frame `k` (1 to `n`) has the accumulated percentage `step + step + ...` (`k` times,
///   summed in floating point, so `99.99999999999999` can occur) and lasts `F` seconds,
///   except the last, which gets the remainder `D - (n - 1) F`;
/// - then a final frame of 100 % for 0 seconds.
///
/// Zero for either argument is an error (the CLI treats 0 as a missing flag), and so is a
/// duration above 100 years or [`MAX_FRAMES`] frames or more.
///
/// ```
/// use rollout_core::{Frame, linear_frames};
/// let frames = linear_frames(30, 100)?;
/// let pairs: Vec<(f64, u64)> = frames.iter().map(|f| (f.percent, f.duration_secs)).collect();
/// assert_eq!(pairs, [(25.0, 30), (50.0, 30), (75.0, 30), (100.0, 10), (100.0, 0)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn linear_frames(frame_size_secs: u64, duration_secs: u64) -> Result<Vec<Frame>, PolicyError> {
    if frame_size_secs == 0 || duration_secs == 0 {
        return Err(PolicyError::LinearRollout {
            frame_size_secs,
            duration_secs,
        });
    }
    if duration_secs > MAX_ROLLOUT_SECS {
        return Err(PolicyError::RolloutTooLong);
    }
    let n = duration_secs.div_ceil(frame_size_secs);
    if n >= MAX_FRAMES as u64 {
        return Err(PolicyError::TooManyFrames { max: MAX_FRAMES });
    }
    let step = 100.0 / n as f64;
    let mut frames = Vec::with_capacity(usize::try_from(n).unwrap_or(0).saturating_add(1));
    let mut percent = 0.0;
    for k in 1..=n {
        percent += step;
        let duration = if k == n {
            duration_secs - (n - 1) * frame_size_secs
        } else {
            frame_size_secs
        };
        frames.push(Frame {
            percent,
            duration_secs: duration,
        });
    }
    frames.push(Frame {
        percent: 100.0,
        duration_secs: 0,
    });
    Ok(frames)
}

/// A validated timed rollout: its frames and, when active, the moment it was activated.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedRollout {
    percents: Vec<Percent>,
    /// `ends[i]` is the offset from activation at which frame `i` ends.
    ends: Vec<SignedDuration>,
    frames: Vec<Frame>,
    active_since: Option<Timestamp>,
}

impl TimedRollout {
    /// Validates frames. Each percentage must be finite and within `0..=100`; a value that
    /// exceeds 100 by floating-point accumulation error (at most `1e-9`) is read as 100.
    /// `active_since` is `None` for a deactivated rollout.
    pub fn new(frames: Vec<Frame>, active_since: Option<Timestamp>) -> Result<Self, PolicyError> {
        if frames.is_empty() {
            return Err(PolicyError::NoFrames);
        }
        if frames.len() > MAX_FRAMES {
            return Err(PolicyError::TooManyFrames { max: MAX_FRAMES });
        }
        let mut percents = Vec::with_capacity(frames.len());
        let mut ends = Vec::with_capacity(frames.len());
        let mut end: u64 = 0;
        for (index, frame) in frames.iter().enumerate() {
            let p = frame.percent;
            let p = if p > 100.0 && p <= 100.0 + 1e-9 {
                100.0
            } else {
                p
            };
            let percent = Percent::new(p).ok_or(PolicyError::FramePercent {
                index,
                percent: frame.percent,
            })?;
            percents.push(percent);
            end = end
                .checked_add(frame.duration_secs)
                .filter(|&e| e <= MAX_ROLLOUT_SECS)
                .ok_or(PolicyError::RolloutTooLong)?;
            ends.push(SignedDuration::from_secs(
                i64::try_from(end).map_err(|_| PolicyError::RolloutTooLong)?,
            ));
        }
        Ok(Self {
            percents,
            ends,
            frames,
            active_since,
        })
    }

    /// The frames as configured.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// When the rollout was activated; `None` when it is not active.
    pub fn active_since(&self) -> Option<Timestamp> {
        self.active_since
    }

    /// The percentage at `now`, or `None` when the rollout is not active (the group's own
    /// percentage applies then).
    ///
    /// Before activation nothing is eligible (0 %). From activation, frame `i` applies from
    /// the end of frame `i - 1` up to (excluding) its own end; after the last frame ends,
    /// the last frame's percentage holds. Cost: a binary search over the frames.
    pub fn percent_at(&self, now: Timestamp) -> Option<Percent> {
        match self.phase_at(now) {
            RolloutPhase::Inactive => None,
            RolloutPhase::Running { percent, .. } | RolloutPhase::Finished { percent, .. } => {
                Some(percent)
            }
        }
    }

    /// The percentage of the last frame: what the group keeps once the rollout has ended.
    pub fn final_percent(&self) -> Percent {
        self.percents.last().copied().unwrap_or(Percent::ZERO)
    }

    /// When an active rollout ends: its activation plus the frames' durations. `None` when
    /// it is not active (or the end is beyond the representable time range).
    pub fn ends_at(&self) -> Option<Timestamp> {
        let start = self.active_since?;
        let total = self.ends.last().copied().unwrap_or(SignedDuration::ZERO);
        start.checked_add(total).ok()
    }

    /// Where the rollout stands at `now`. An active rollout runs from its activation until
    /// the end of its last frame (excluded) and is finished from then on, holding the last
    /// frame's percentage; a moment before the activation (a clock that went back) counts
    /// as running at 0 %. Cost: a binary search over the frames.
    pub fn phase_at(&self, now: Timestamp) -> RolloutPhase {
        let Some(start) = self.active_since else {
            return RolloutPhase::Inactive;
        };
        let Some(ends_at) = self.ends_at() else {
            // An end beyond the time range is never reached.
            return RolloutPhase::Running {
                percent: self.running_percent(now.duration_since(start)),
                ends_at: Timestamp::MAX,
            };
        };
        if now >= ends_at {
            return RolloutPhase::Finished {
                percent: self.final_percent(),
                ended_at: ends_at,
            };
        }
        RolloutPhase::Running {
            percent: self.running_percent(now.duration_since(start)),
            ends_at,
        }
    }

    /// When the percentage in force at `now` took effect: the activation for the first
    /// frame, the end of the previous frame for a later one (the last frame's start once the
    /// rollout has finished). `None` when the rollout is not active, or at a moment before
    /// its activation.
    pub fn percent_since(&self, now: Timestamp) -> Option<Timestamp> {
        let start = self.active_since?;
        let elapsed = now.duration_since(start);
        if elapsed.is_negative() {
            return None;
        }
        let index = self
            .ends
            .partition_point(|&end| end <= elapsed)
            .min(self.ends.len().saturating_sub(1));
        let offset = match index.checked_sub(1) {
            Some(previous) => self.ends[previous],
            None => SignedDuration::ZERO,
        };
        start.checked_add(offset).ok()
    }

    fn running_percent(&self, elapsed: SignedDuration) -> Percent {
        if elapsed.is_negative() {
            return Percent::ZERO;
        }
        let index = self.ends.partition_point(|&end| end <= elapsed);
        self.percents
            .get(index)
            .or(self.percents.last())
            .copied()
            .unwrap_or(Percent::ZERO)
    }
}

/// Where a timed rollout stands at a moment ([`TimedRollout::phase_at`]).
///
/// The lifecycle: a rollout is `Inactive` until activated, `Running` while its frames are
/// walked, and `Finished` after its last frame; a finished rollout leaves the group at the
/// last frame's percentage, and deactivating a running one keeps the percentage in force at
/// that moment, so ending a rollout, either way, never changes the percentage in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RolloutPhase {
    /// Not activated (or deactivated): the group's own percentage applies.
    Inactive,
    /// Walking the frames: `percent` is the current frame's, until `ends_at`.
    Running {
        /// The percentage in force.
        percent: Percent,
        /// When the last frame ends.
        ends_at: Timestamp,
    },
    /// Past the last frame since `ended_at`: the last frame's `percent` holds.
    Finished {
        /// The last frame's percentage.
        percent: Percent,
        /// When the last frame ended.
        ended_at: Timestamp,
    },
}

impl RolloutPhase {
    /// Whether the rollout is walking its frames (what `rolloutActive` reports).
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running { .. })
    }
}

/// The longest accepted rollout: 100 years.
const MAX_ROLLOUT_SECS: u64 = 100 * 366 * 86_400;

/// The most frames a rollout may have (a week of one-second frames fits).
pub const MAX_FRAMES: usize = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(frames: &[Frame]) -> Vec<(f64, u64)> {
        frames
            .iter()
            .map(|f| (f.percent, f.duration_secs))
            .collect()
    }

    /// Golden tests against the examples of `reference/updateservicectl.md` §9.
    #[test]
    fn linear_golden_frame_10_duration_100() {
        let frames = linear_frames(10, 100).expect("valid");
        let mut expected: Vec<(f64, u64)> = (1..=10).map(|k| (f64::from(k) * 10.0, 10)).collect();
        expected.push((100.0, 0));
        assert_eq!(pairs(&frames), expected);
    }

    #[test]
    fn linear_golden_frame_30_duration_100() {
        let frames = linear_frames(30, 100).expect("valid");
        assert_eq!(
            pairs(&frames),
            [(25.0, 30), (50.0, 30), (75.0, 30), (100.0, 10), (100.0, 0)]
        );
    }

    #[test]
    fn linear_accumulates_in_floating_point() {
        // The CLI adds the step n times instead of multiplying, so thirds accumulate error:
        // the values are pinned to what repeated f64 addition gives.
        let frames = linear_frames(1, 3).expect("valid");
        let third = 100.0 / 3.0;
        assert_eq!(
            pairs(&frames),
            [
                (third, 1),
                (third + third, 1),
                (third + third + third, 1),
                (100.0, 0)
            ]
        );
        // The CLI's defaults: one day in 60 s frames.
        let day = linear_frames(60, 86_400).expect("valid");
        assert_eq!(day.len(), 1441);
        assert!(day[..1440].iter().all(|f| f.duration_secs == 60));
        let mut acc = 0.0;
        for f in &day[..1440] {
            acc += 100.0 / 1440.0;
            assert_eq!(f.percent, acc);
        }
        assert_eq!(
            day[1440],
            Frame {
                percent: 100.0,
                duration_secs: 0
            }
        );
    }

    #[test]
    fn linear_frame_larger_than_duration_gives_one_frame() {
        let frames = linear_frames(600, 100).expect("valid");
        assert_eq!(pairs(&frames), [(100.0, 100), (100.0, 0)]);
    }

    #[test]
    fn linear_rejects_absurd_sizes_without_allocating() {
        assert_eq!(linear_frames(1, u64::MAX), Err(PolicyError::RolloutTooLong));
        assert_eq!(
            linear_frames(1, 2_000_000),
            Err(PolicyError::TooManyFrames { max: MAX_FRAMES })
        );
        assert_eq!(linear_frames(1, 604_800).map(|f| f.len()), Ok(604_801));
    }

    #[test]
    fn linear_rejects_zero() {
        assert!(matches!(
            linear_frames(0, 100),
            Err(PolicyError::LinearRollout { .. })
        ));
        assert!(matches!(
            linear_frames(60, 0),
            Err(PolicyError::LinearRollout { .. })
        ));
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("valid timestamp")
    }

    #[test]
    fn percent_follows_the_frames() {
        let frames = linear_frames(30, 100).expect("valid");
        let rollout = TimedRollout::new(frames, Some(ts(1000))).expect("valid");
        let at = |s| rollout.percent_at(ts(s)).map(Percent::get);
        assert_eq!(at(999), Some(0.0));
        assert_eq!(at(1000), Some(25.0));
        assert_eq!(at(1029), Some(25.0));
        assert_eq!(at(1030), Some(50.0));
        assert_eq!(at(1089), Some(75.0));
        assert_eq!(at(1090), Some(100.0));
        assert_eq!(at(1100), Some(100.0));
        assert_eq!(at(100_000), Some(100.0));
    }

    #[test]
    fn inactive_rollout_has_no_percent() {
        let rollout =
            TimedRollout::new(linear_frames(10, 100).expect("valid"), None).expect("valid");
        assert_eq!(rollout.percent_at(ts(5)), None);
    }

    #[test]
    fn last_frame_holds_after_the_end() {
        let rollout = TimedRollout::new(
            vec![
                Frame {
                    percent: 10.0,
                    duration_secs: 60,
                },
                Frame {
                    percent: 40.0,
                    duration_secs: 60,
                },
            ],
            Some(ts(0)),
        )
        .expect("valid");
        assert_eq!(rollout.percent_at(ts(59)).map(Percent::get), Some(10.0));
        assert_eq!(rollout.percent_at(ts(60)).map(Percent::get), Some(40.0));
        assert_eq!(rollout.percent_at(ts(10_000)).map(Percent::get), Some(40.0));
    }

    #[test]
    fn phases_of_a_rollout() {
        let frames = linear_frames(30, 100).expect("valid");
        let inactive = TimedRollout::new(frames.clone(), None).expect("valid");
        assert_eq!(inactive.phase_at(ts(5)), RolloutPhase::Inactive);
        assert_eq!(inactive.ends_at(), None);
        let rollout = TimedRollout::new(frames, Some(ts(1000))).expect("valid");
        assert_eq!(rollout.ends_at(), Some(ts(1100)));
        assert_eq!(
            rollout.phase_at(ts(1099)),
            RolloutPhase::Running {
                percent: Percent::FULL,
                ends_at: ts(1100)
            }
        );
        assert_eq!(
            rollout.phase_at(ts(1000)),
            RolloutPhase::Running {
                percent: Percent::new(25.0).expect("valid"),
                ends_at: ts(1100)
            }
        );
        assert_eq!(
            rollout.phase_at(ts(1100)),
            RolloutPhase::Finished {
                percent: Percent::FULL,
                ended_at: ts(1100)
            }
        );
        assert!(!rollout.phase_at(ts(5000)).is_running());
        // A rollout whose last frame is not 100 % leaves the group at that frame's percent.
        let partial = TimedRollout::new(
            vec![
                Frame {
                    percent: 10.0,
                    duration_secs: 60,
                },
                Frame {
                    percent: 25.0,
                    duration_secs: 0,
                },
            ],
            Some(ts(0)),
        )
        .expect("valid");
        assert_eq!(
            partial.phase_at(ts(60)),
            RolloutPhase::Finished {
                percent: Percent::new(25.0).expect("valid"),
                ended_at: ts(60)
            }
        );
        assert_eq!(partial.final_percent().get(), 25.0);
    }

    #[test]
    fn frame_validation() {
        assert_eq!(TimedRollout::new(vec![], None), Err(PolicyError::NoFrames));
        assert!(matches!(
            TimedRollout::new(
                vec![Frame {
                    percent: 101.0,
                    duration_secs: 1
                }],
                None
            ),
            Err(PolicyError::FramePercent { index: 0, .. })
        ));
        assert!(matches!(
            TimedRollout::new(
                vec![Frame {
                    percent: f64::NAN,
                    duration_secs: 1
                }],
                None
            ),
            Err(PolicyError::FramePercent { index: 0, .. })
        ));
        assert_eq!(
            TimedRollout::new(
                vec![Frame {
                    percent: 1.0,
                    duration_secs: u64::MAX
                }],
                None
            ),
            Err(PolicyError::RolloutTooLong)
        );
        let nearly = TimedRollout::new(
            vec![Frame {
                percent: 100.0 + 1e-12,
                duration_secs: 1,
            }],
            Some(ts(0)),
        )
        .expect("accumulation error is tolerated");
        assert_eq!(nearly.percent_at(ts(0)), Some(Percent::FULL));
    }
}
