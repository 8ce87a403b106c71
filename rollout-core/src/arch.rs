//! Architectures: which package of a version an instance gets.
//!
//! A version has one package for every architecture (the app's default package) and may
//! have a package of its own for named architectures (`arm64`, say). An instance names its
//! architecture in the request (Flatcar's `board`, `amd64-usr` or `arm64-usr`, or the Omaha
//! `<os arch>`); it gets the package of its architecture when the version has one, and the
//! default package otherwise. An instance that names no architecture, and every package
//! registered before architectures existed, keep working as before: they use the default
//! package.

use std::fmt;

/// The longest architecture name accepted.
pub const MAX_ARCH_LEN: usize = 32;

/// An architecture name, canonical: lower case, aliases folded (`x86_64` and `x64` are
/// `amd64`, `aarch64` is `arm64`), at most [`MAX_ARCH_LEN`] ASCII letters, digits, `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arch(String);

/// Why a name is not an architecture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchError {
    /// The name is empty.
    #[error("the architecture name is empty")]
    Empty,
    /// The name is longer than [`MAX_ARCH_LEN`] bytes.
    #[error("the architecture name is longer than {MAX_ARCH_LEN} bytes")]
    TooLong,
    /// The name holds a character other than an ASCII letter, digit or `_`.
    #[error("the architecture name {0:?} may hold only ASCII letters, digits and '_'")]
    InvalidCharacter(String),
}

impl Arch {
    /// Parses an architecture name (case-insensitive; aliases folded).
    pub fn parse(name: &str) -> Result<Self, ArchError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ArchError::Empty);
        }
        if name.len() > MAX_ARCH_LEN {
            return Err(ArchError::TooLong);
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ArchError::InvalidCharacter(name.to_owned()));
        }
        let lower = name.to_ascii_lowercase();
        let canonical = match lower.as_str() {
            "x64" | "x86_64" | "amd64" => "amd64",
            "aarch64" | "arm64" => "arm64",
            "i386" | "i686" | "386" | "x86" => "x86",
            other => other,
        };
        Ok(Self(canonical.to_owned()))
    }

    /// The architecture a request names: the board (`amd64-usr` is `amd64`), else the
    /// `<os arch>`. `None` when it names none, or nothing [`Arch::parse`] accepts (such an
    /// instance gets the default package, as one naming no architecture).
    pub fn of_request(board: Option<&str>, os_arch: Option<&str>) -> Option<Self> {
        let from_board = board
            .map(|b| b.trim())
            .filter(|b| !b.is_empty())
            .and_then(|b| Self::parse(b.strip_suffix("-usr").unwrap_or(b)).ok());
        from_board.or_else(|| os_arch.and_then(|a| Self::parse(a).ok()))
    }

    /// The canonical name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The package an instance of architecture `arch` gets for a version: the version's
/// package for `arch` (`own` looks it up) when it has one, else the version's default
/// package.
pub fn package_for_arch<'a, P>(
    arch: Option<&Arch>,
    own: impl FnOnce(&Arch) -> Option<&'a P>,
    default: Option<&'a P>,
) -> Option<&'a P> {
    arch.and_then(own).or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical() {
        let cases = [
            ("amd64", Ok("amd64")),
            ("AMD64", Ok("amd64")),
            ("x86_64", Ok("amd64")),
            ("x64", Ok("amd64")),
            ("aarch64", Ok("arm64")),
            ("arm64", Ok("arm64")),
            ("i686", Ok("x86")),
            ("riscv64", Ok("riscv64")),
            (" arm64 ", Ok("arm64")),
            ("", Err(ArchError::Empty)),
            (
                "arm64-usr",
                Err(ArchError::InvalidCharacter("arm64-usr".into())),
            ),
            ("a/b", Err(ArchError::InvalidCharacter("a/b".into()))),
        ];
        for (input, expected) in cases {
            let got = Arch::parse(input);
            assert_eq!(
                got.as_ref().map(Arch::as_str).map_err(Clone::clone),
                expected.map_err(|e: ArchError| e),
                "{input:?}"
            );
        }
        assert_eq!(Arch::parse(&"a".repeat(33)), Err(ArchError::TooLong));
        assert!(Arch::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn a_request_names_its_architecture_by_board_then_os() {
        let cases: [(Option<&str>, Option<&str>, Option<&str>); 8] = [
            (Some("amd64-usr"), None, Some("amd64")),
            (Some("arm64-usr"), Some("x64"), Some("arm64")),
            (None, Some("x64"), Some("amd64")),
            (None, Some("arm64"), Some("arm64")),
            (Some(""), Some("aarch64"), Some("arm64")),
            (Some("bad board!"), Some("arm64"), Some("arm64")),
            (Some("bad board!"), None, None),
            (None, None, None),
        ];
        for (board, os, expected) in cases {
            assert_eq!(
                Arch::of_request(board, os).as_ref().map(Arch::as_str),
                expected,
                "{board:?} {os:?}"
            );
        }
    }

    #[test]
    fn an_architecture_gets_its_own_package_else_the_default() {
        let arm = ("arm64", "arm payload");
        let default = "default payload";
        let own = |a: &Arch| (a.as_str() == arm.0).then_some(&arm.1);
        let arm64 = Arch::parse("arm64").unwrap();
        let amd64 = Arch::parse("amd64").unwrap();
        assert_eq!(
            package_for_arch(Some(&arm64), own, Some(&default)),
            Some(&"arm payload")
        );
        assert_eq!(
            package_for_arch(Some(&amd64), own, Some(&default)),
            Some(&"default payload")
        );
        assert_eq!(
            package_for_arch(None, own, Some(&default)),
            Some(&"default payload")
        );
        assert_eq!(package_for_arch::<&str>(Some(&amd64), own, None), None);
    }
}
