//! Application versions: semver (`1.1.0`, `1.0.0-beta.1+build`) and dotted numeric
//! (`1235.4.0`, `1.2.3.4`) under one total order.
//!
//! # Grammar
//!
//! ```text
//! version    = release [ "-" pre ] [ "+" build ]
//! release    = number *( "." number )          ; 1 to 16 components
//! number     = 1*DIGIT                          ; fits in u64
//! pre, build = ident *( "." ident )             ; ident = 1*( ALPHA / DIGIT / "-" )
//! ```
//!
//! Leading zeros in release components are accepted and dropped (`22.04` reads as `22.4`),
//! so that calendar versions parse; numeric pre-release identifiers follow semver and must
//! not have them. Surrounding whitespace is an error, and so is anything longer than
//! [`Version::MAX_LEN`] bytes: versions arrive from untrusted clients.
//!
//! # Order
//!
//! 1. Release components compare numerically, the shorter list padded with zeros, so
//!    `1.2.3 < 1.2.3.1 < 1.2.4` and `1.2` sorts with `1.2.0`.
//! 2. A pre-release sorts before its release (`1.0.0-rc.1 < 1.0.0`); pre-release identifiers
//!    compare as in semver §11 (numeric below alphanumeric, numeric numerically, ASCII
//!    otherwise, a longer list above its prefix).
//! 3. Ties are broken by the number of release components (`1.2 < 1.2.0`) and then by the
//!    build metadata as a string, so that the order is total and agrees with `==`
//!    (two versions are equal exactly when their canonical strings are equal).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A parsed application version. See the [module documentation](self) for the grammar and
/// the order.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Version {
    release: Vec<u64>,
    pre: Vec<Ident>,
    build: String,
}

/// One pre-release identifier.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
enum Ident {
    Numeric(u64),
    Alpha(String),
}

impl Ord for Ident {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Numeric(a), Self::Numeric(b)) => a.cmp(b),
            (Self::Numeric(_), Self::Alpha(_)) => Ordering::Less,
            (Self::Alpha(_), Self::Numeric(_)) => Ordering::Greater,
            (Self::Alpha(a), Self::Alpha(b)) => a.as_bytes().cmp(b.as_bytes()),
        }
    }
}

impl PartialOrd for Ident {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a string is not a [`Version`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The string is empty.
    #[error("empty version")]
    Empty,
    /// The string is longer than [`Version::MAX_LEN`] bytes.
    #[error("version is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The release part has more than [`Version::MAX_COMPONENTS`] components.
    #[error("version has more than {max} numeric components")]
    TooManyComponents {
        /// The limit.
        max: usize,
    },
    /// A release component is empty or not a decimal number.
    #[error("component {index} of the release part {found:?} is not a decimal number")]
    NotNumeric {
        /// Zero-based index of the component.
        index: usize,
        /// The offending text.
        found: String,
    },
    /// A release component does not fit in 64 bits.
    #[error("component {index} of the release part is too large for 64 bits")]
    Overflow {
        /// Zero-based index of the component.
        index: usize,
    },
    /// A pre-release or build identifier is empty or has a character outside
    /// `[0-9A-Za-z-]`.
    #[error("invalid {part} identifier {found:?}")]
    BadIdentifier {
        /// `"pre-release"` or `"build"`.
        part: &'static str,
        /// The offending identifier.
        found: String,
    },
    /// A numeric pre-release identifier has a leading zero (semver forbids it).
    #[error("numeric pre-release identifier {found:?} has a leading zero")]
    LeadingZero {
        /// The offending identifier.
        found: String,
    },
}

impl Version {
    /// The longest accepted version string, in bytes.
    pub const MAX_LEN: usize = 256;
    /// The largest accepted number of release components.
    pub const MAX_COMPONENTS: usize = 16;

    /// Parses a version. Never panics; see the [module documentation](self) for the grammar.
    ///
    /// ```
    /// use rollout_core::Version;
    /// let v = Version::parse("1235.4.0")?;
    /// assert!(v < Version::parse("1235.10.0")?);
    /// assert!(Version::parse("1.0.0-rc.1")? < Version::parse("1.0.0")?);
    /// assert!(Version::parse("1.2.x").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(VersionError::TooLong { max: Self::MAX_LEN });
        }
        let (rest, build) = match s.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (s, None),
        };
        let (release_text, pre_text) = match rest.split_once('-') {
            Some((release, pre)) => (release, Some(pre)),
            None => (rest, None),
        };
        let mut release = Vec::new();
        for (index, part) in release_text.split('.').enumerate() {
            if index >= Self::MAX_COMPONENTS {
                return Err(VersionError::TooManyComponents {
                    max: Self::MAX_COMPONENTS,
                });
            }
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(VersionError::NotNumeric {
                    index,
                    found: part.to_owned(),
                });
            }
            let n = part
                .parse::<u64>()
                .map_err(|_| VersionError::Overflow { index })?;
            release.push(n);
        }
        let mut pre = Vec::new();
        if let Some(pre_text) = pre_text {
            for ident in pre_text.split('.') {
                check_ident("pre-release", ident)?;
                if ident.bytes().all(|b| b.is_ascii_digit()) {
                    if ident.len() > 1 && ident.starts_with('0') {
                        return Err(VersionError::LeadingZero {
                            found: ident.to_owned(),
                        });
                    }
                    // A numeric identifier too large for u64 is kept as text; it still sorts
                    // deterministically.
                    match ident.parse::<u64>() {
                        Ok(n) => pre.push(Ident::Numeric(n)),
                        Err(_) => pre.push(Ident::Alpha(ident.to_owned())),
                    }
                } else {
                    pre.push(Ident::Alpha(ident.to_owned()));
                }
            }
        }
        let build = match build {
            Some(build) => {
                for ident in build.split('.') {
                    check_ident("build", ident)?;
                }
                build.to_owned()
            }
            None => String::new(),
        };
        Ok(Self {
            release,
            pre,
            build,
        })
    }

    /// The numeric release components (`[1235, 4, 0]` for `1235.4.0`).
    pub fn release(&self) -> &[u64] {
        &self.release
    }

    /// Whether the version has a pre-release part (`1.0.0-rc.1`).
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// The build metadata after `+`, empty when there is none.
    pub fn build(&self) -> &str {
        &self.build
    }
}

fn check_ident(part: &'static str, ident: &str) -> Result<(), VersionError> {
    if ident.is_empty()
        || !ident
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(VersionError::BadIdentifier {
            part,
            found: ident.to_owned(),
        });
    }
    Ok(())
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let len = self.release.len().max(other.release.len());
        for i in 0..len {
            let a = self.release.get(i).copied().unwrap_or(0);
            let b = other.release.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        let pre = match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => self.pre.cmp(&other.pre),
        };
        pre.then_with(|| self.release.len().cmp(&other.release.len()))
            .then_with(|| self.build.cmp(&other.build))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    /// Writes the canonical form: release components without leading zeros, then the
    /// pre-release and build parts as given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.release.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{n}")?;
        }
        for (i, ident) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            match ident {
                Ident::Numeric(n) => write!(f, "{n}")?,
                Ident::Alpha(s) => f.write_str(s)?,
            }
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(a: &str, b: &str, expect: Ordering) {
        let va = Version::parse(a).expect("left version parses");
        let vb = Version::parse(b).expect("right version parses");
        assert_eq!(va.cmp(&vb), expect, "{a} vs {b}");
        assert_eq!(vb.cmp(&va), expect.reverse(), "{b} vs {a}");
        assert_eq!(va == vb, expect == Ordering::Equal, "{a} == {b}");
    }

    #[test]
    fn order_table() {
        use Ordering::*;
        check("1.0.0", "1.0.0", Equal);
        check("1.0.0", "1.0.1", Less);
        check("1.1.0", "1.0.9", Greater);
        check("1235.4.0", "1235.10.0", Less);
        check("1.2.3", "1.2.3.1", Less);
        check("1.2.3.4", "1.2.4", Less);
        check("1.2", "1.2.0", Less);
        check("1.2.0", "1.2.0.0", Less);
        check("1.2.0.0", "1.2.1", Less);
        check("1.0.0-rc.1", "1.0.0", Less);
        check("1.0.0-alpha", "1.0.0-alpha.1", Less);
        check("1.0.0-alpha.1", "1.0.0-alpha.beta", Less);
        check("1.0.0-alpha.beta", "1.0.0-beta", Less);
        check("1.0.0-beta.2", "1.0.0-beta.11", Less);
        check("1.0.0-beta.11", "1.0.0-rc.1", Less);
        check("1.0.0+a", "1.0.0+b", Less);
        check("1.0.0-rc.1+z", "1.0.0", Less);
        check("22.04", "22.4", Equal);
        check("18446744073709551615", "18446744073709551614.9", Greater);
    }

    #[track_caller]
    fn check_err(s: &str, expect: VersionError) {
        assert_eq!(Version::parse(s), Err(expect), "{s:?}");
    }

    #[test]
    fn errors_table() {
        check_err("", VersionError::Empty);
        check_err(
            "1.2.x",
            VersionError::NotNumeric {
                index: 2,
                found: "x".into(),
            },
        );
        check_err(
            "1..2",
            VersionError::NotNumeric {
                index: 1,
                found: String::new(),
            },
        );
        check_err(
            " 1.2",
            VersionError::NotNumeric {
                index: 0,
                found: " 1".into(),
            },
        );
        check_err(
            "v1.2",
            VersionError::NotNumeric {
                index: 0,
                found: "v1".into(),
            },
        );
        check_err(
            "1.99999999999999999999",
            VersionError::Overflow { index: 1 },
        );
        check_err(
            "1.0.0-",
            VersionError::BadIdentifier {
                part: "pre-release",
                found: String::new(),
            },
        );
        check_err(
            "1.0.0-a_b",
            VersionError::BadIdentifier {
                part: "pre-release",
                found: "a_b".into(),
            },
        );
        check_err(
            "1.0.0+a..b",
            VersionError::BadIdentifier {
                part: "build",
                found: String::new(),
            },
        );
        check_err("1.0.0-01", VersionError::LeadingZero { found: "01".into() });
        check_err(
            "1.".repeat(17).trim_end_matches('.'),
            VersionError::TooManyComponents { max: 16 },
        );
        check_err(&"1".repeat(300), VersionError::TooLong { max: 256 });
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        for (input, canonical) in [
            ("1.0.0", "1.0.0"),
            ("1.2.3.4", "1.2.3.4"),
            ("22.04", "22.4"),
            ("1.0.0-beta.1+build.5", "1.0.0-beta.1+build.5"),
            ("1.0.0-x-y.0", "1.0.0-x-y.0"),
        ] {
            let v = Version::parse(input).expect("parses");
            assert_eq!(v.to_string(), canonical);
            assert_eq!(Version::parse(canonical).expect("canonical parses"), v);
        }
    }

    #[test]
    fn accessors() {
        let v = Version::parse("1.2.3-rc.1+abc").expect("parses");
        assert_eq!(v.release(), &[1, 2, 3]);
        assert!(v.is_prerelease());
        assert_eq!(v.build(), "abc");
        assert!(!Version::parse("1.2").expect("parses").is_prerelease());
    }
}
