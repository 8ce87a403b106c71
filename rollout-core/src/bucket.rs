//! Percent rollouts: the stable position of a machine in a rollout, and [`Percent`].
//!
//! # The bucket function (frozen)
//!
//! An instance's position for a target version is
//!
//! ```text
//! position = u64::from_be_bytes(SHA-256(machine_id ‖ 0x00 ‖ target)[0..8])
//! ```
//!
//! where `machine_id` is the UTF-8 bytes of the machine id exactly as the instance sent it
//! and `target` is the UTF-8 bytes of the target version's canonical string
//! ([`Version`]'s `Display`). The instance is eligible at `p` percent when
//!
//! ```text
//! p == 100  or  position < floor(p / 100 × 2^64)
//! ```
//!
//! computed in `f64` (`(p / 100.0) * 18446744073709551616.0`, then converted to `u128`
//! with truncation). The threshold is a non-decreasing function of `p`, so raising the
//! percentage never removes an eligible instance, and the position does not depend on the
//! percentage, the time, the platform or the release of this crate.
//!
//! **Never change this function**: a machine's bucket must not move between releases, or a
//! rollout at 10 % would hand the update to a different 10 % after an upgrade of the server.
//! The golden test in this module pins its output.
//!
//! Hashing the target version in means each new version draws a fresh sample, so the same
//! machines are not always the first to receive updates (the mechanism CoreUpdate used).

use std::fmt::{self, Write as _};

use sha2::{Digest, Sha256};

use crate::Version;

/// A percentage in `0.0..=100.0` (finite). Construction validates, so any `Percent` is
/// usable in comparisons.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    /// 0 %: nobody is eligible.
    pub const ZERO: Self = Self(0.0);
    /// 100 %: everybody is eligible.
    pub const FULL: Self = Self(100.0);

    /// Validates a percentage. `None` when `value` is NaN, infinite or outside
    /// `0.0..=100.0`.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && (0.0..=100.0).contains(&value)).then_some(Self(value))
    }

    /// The value in `0.0..=100.0`.
    pub fn get(self) -> f64 {
        self.0
    }

    /// The position threshold: positions strictly below it are eligible (see the
    /// [module documentation](self)). `2^64` for 100 %.
    pub fn threshold(self) -> u128 {
        if self.0 >= 100.0 {
            1u128 << 64
        } else {
            // The float-to-int conversion truncates; `self.0 / 100.0 < 1.0` keeps the
            // product below 2^64.
            ((self.0 / 100.0) * 18_446_744_073_709_551_616.0) as u128
        }
    }

    /// Whether an instance at `position` is eligible at this percentage.
    pub fn admits(self, position: Position) -> bool {
        u128::from(position.0) < self.threshold()
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// A machine's stable position in the rollout of one target version, uniform over `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(pub u64);

impl Position {
    /// The position as a fraction in `[0, 1)`: the instance becomes eligible once the
    /// percentage exceeds `100 ×` this value.
    pub fn fraction(self) -> f64 {
        self.0 as f64 / 18_446_744_073_709_551_616.0
    }
}

/// The frozen bucket function: the position of `machine_id` in the rollout of `target`.
///
/// ```
/// use rollout_core::{Percent, Version, position};
/// let target = Version::parse("1.1.0")?;
/// let p = position("fake-client-000", &target);
/// // Eligibility only grows with the percentage.
/// let at = |x| Percent::new(x).expect("valid percent").admits(p);
/// assert!(!at(30.0) || at(60.0));
/// assert!(at(100.0) && !at(0.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn position(machine_id: &str, target: &Version) -> Position {
    let mut hasher = Sha256::new();
    hasher.update(machine_id.as_bytes());
    hasher.update([0u8]);
    // Feed the canonical string straight into the hash, without allocating it.
    // Writing into a hasher cannot fail.
    let _ = write!(HashWriter(&mut hasher), "{target}");
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Position(u64::from_be_bytes(first))
}

/// Adapts the hasher to `fmt::Write`.
struct HashWriter<'a>(&'a mut Sha256);

impl fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect("test version parses")
    }

    /// Pins the frozen bucket function: if this test fails, machines would move buckets
    /// between releases. Do not update the expected values; restore the function. The
    /// values were computed independently with `printf 'MACHINE\x00TARGET' | sha256sum`.
    #[test]
    fn golden_positions() {
        let cases = [
            ("fake-client-000", "1.1.0", 0x839b_eaf3_77ed_aa1a_u64),
            (
                "e6e9c42bd5f64b6c9c4d3a1f2e0b7a99",
                "3815.2.0",
                0x30c5_6e49_6cb2_7051,
            ),
            ("m", "1.0.0", 0x294c_156a_0d7a_f5f2),
            ("", "1.0.0", 0xf96a_a6c5_60a7_d9b2),
        ];
        for (machine, target, expected) in cases {
            assert_eq!(
                position(machine, &v(target)).0,
                expected,
                "{machine} {target}"
            );
        }
    }

    #[test]
    fn target_is_hashed_in_canonical_form() {
        assert_eq!(position("m", &v("22.04")), position("m", &v("22.4")));
        assert_ne!(position("m", &v("1.0.0")), position("m", &v("1.0.1")));
        assert_ne!(position("m1", &v("1.0.0")), position("m2", &v("1.0.0")));
    }

    #[test]
    fn percent_validation_and_extremes() {
        assert!(Percent::new(-0.1).is_none());
        assert!(Percent::new(100.1).is_none());
        assert!(Percent::new(f64::NAN).is_none());
        assert!(Percent::new(f64::INFINITY).is_none());
        assert!(Percent::FULL.admits(Position(u64::MAX)));
        assert!(!Percent::ZERO.admits(Position(0)));
        let half = Percent::new(50.0).expect("valid");
        assert!(half.admits(Position((1u64 << 63) - 1)));
        assert!(!half.admits(Position(1u64 << 63)));
    }

    #[test]
    fn buckets_are_roughly_uniform() {
        let target = v("1.2.3");
        let n = 20_000;
        let mut deciles = [0u32; 10];
        for i in 0..n {
            let p = position(&format!("machine-{i}"), &target);
            deciles[(p.fraction() * 10.0) as usize] += 1;
        }
        for count in deciles {
            // Expect 2000 per decile; 5 sigma is about 212.
            assert!((1800..=2200).contains(&count), "{deciles:?}");
        }
    }
}
