//! Floors: versions an instance must install on its way to a channel's target.
//!
//! A floor (a release that migrates the on-disk format, say) cannot be skipped: an instance
//! below it is offered the floor first, and only once it runs the floor the next floor or
//! the target. A client that understands several manifests in one answer gets every floor
//! on its way and the target at once, in order, and installs them in turn.
//!
//! A blacklisted version is never offered, whatever the channel points at.

use crate::Version;

/// A floor of a channel: a version every instance below it must install first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    /// The version.
    pub version: Version,
    /// Why it cannot be skipped (shown to operators and sent as `floor_reason`).
    pub reason: String,
}

/// What an instance is offered next on its way to a channel's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextVersion<'a> {
    /// The channel's target is blacklisted: nothing is offered.
    Blacklisted,
    /// This floor first.
    Floor(&'a Floor),
    /// The target itself (no floor lies between the instance and the target).
    Target,
}

/// The floors an instance on `current` must pass on its way to `target`: every floor
/// strictly above `current` and strictly below `target`, lowest first (a floor equal to
/// the target is the target). None on the way down (a rollback) or when up to date.
pub fn floors_between<'a>(
    floors: &'a [Floor],
    current: &Version,
    target: &Version,
) -> Vec<&'a Floor> {
    let mut on_the_way: Vec<&Floor> = floors
        .iter()
        .filter(|f| &f.version > current && &f.version < target)
        .collect();
    on_the_way.sort_by(|a, b| a.version.cmp(&b.version));
    on_the_way.dedup_by(|a, b| a.version == b.version);
    on_the_way
}

/// What an instance on `current` is offered next on a channel at `target` with these
/// floors and blacklisted versions: nothing when the target is blacklisted, else the lowest
/// floor on the way ([`floors_between`]), else the target.
pub fn next_version<'a>(
    floors: &'a [Floor],
    blacklist: &[Version],
    current: &Version,
    target: &Version,
) -> NextVersion<'a> {
    if blacklist.contains(target) {
        return NextVersion::Blacklisted;
    }
    floors
        .iter()
        .filter(|f| &f.version > current && &f.version < target)
        .min_by(|a, b| a.version.cmp(&b.version))
        .map_or(NextVersion::Target, NextVersion::Floor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("a version")
    }

    fn floor(text: &str) -> Floor {
        Floor {
            version: v(text),
            reason: format!("migrate at {text}"),
        }
    }

    #[test]
    fn an_instance_goes_floor_by_floor() {
        let floors = [floor("3.0.0"), floor("2.0.0"), floor("5.0.0")];
        let target = v("4.0.0");
        let cases = [
            ("1.0.0", NextVersion::Floor(&floors[1])),
            ("2.0.0", NextVersion::Floor(&floors[0])),
            ("2.5.0", NextVersion::Floor(&floors[0])),
            ("3.0.0", NextVersion::Target),
            ("4.0.0", NextVersion::Target),
            ("4.5.0", NextVersion::Target),
        ];
        for (current, expected) in cases {
            assert_eq!(
                next_version(&floors, &[], &v(current), &target),
                expected,
                "{current}"
            );
        }
        assert_eq!(
            floors_between(&floors, &v("1.0.0"), &target)
                .iter()
                .map(|f| f.version.to_string())
                .collect::<Vec<_>>(),
            ["2.0.0", "3.0.0"]
        );
    }

    #[test]
    fn a_blacklisted_target_is_never_offered() {
        let floors = [floor("2.0.0")];
        assert_eq!(
            next_version(&floors, &[v("4.0.0")], &v("1.0.0"), &v("4.0.0")),
            NextVersion::Blacklisted
        );
        assert_eq!(
            next_version(&floors, &[v("3.0.0")], &v("1.0.0"), &v("4.0.0")),
            NextVersion::Floor(&floors[0])
        );
    }

    fn versions() -> impl Strategy<Value = Version> {
        (0u64..12, 0u64..3).prop_map(|(major, minor)| v(&format!("{major}.{minor}.0")))
    }

    proptest! {
        /// Following the offers one at a time from any version reaches the target and
        /// installs every floor on the way, in order: no floor is ever skipped, and the
        /// versions passed are exactly the ones a multi-manifest answer lists.
        #[test]
        fn no_instance_ever_skips_a_floor(
            floor_versions in prop::collection::vec(versions(), 0..8),
            start in versions(),
            target in versions(),
        ) {
            let floors: Vec<Floor> = floor_versions
                .iter()
                .map(|version| Floor { version: version.clone(), reason: String::new() })
                .collect();
            let listed: Vec<Version> = floors_between(&floors, &start, &target)
                .into_iter()
                .map(|f| f.version.clone())
                .collect();
            // Listed lowest first, each once, all strictly between.
            prop_assert!(listed.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(listed.iter().all(|f| f > &start && f < &target));
            let mut current = start.clone();
            let mut passed = Vec::new();
            for _ in 0..=floors.len() {
                match next_version(&floors, &[], &current, &target) {
                    NextVersion::Floor(f) => {
                        prop_assert!(f.version > current);
                        // Nothing between the instance and the floor offered is a floor.
                        prop_assert!(!floors.iter().any(|g| g.version > current && g.version < f.version));
                        current = f.version.clone();
                        passed.push(current.clone());
                    }
                    NextVersion::Target => break,
                    NextVersion::Blacklisted => prop_assert!(false, "nothing is blacklisted"),
                }
            }
            prop_assert_eq!(&passed, &listed);
            // Every floor between the start and the target was installed.
            for f in &floors {
                if f.version > start && f.version < target {
                    prop_assert!(passed.contains(&f.version));
                }
            }
        }

        /// A blacklisted target is never offered, whatever the floors and the instance.
        #[test]
        fn a_blacklisted_target_is_never_offered_prop(
            floor_versions in prop::collection::vec(versions(), 0..8),
            blacklist in prop::collection::vec(versions(), 0..4),
            current in versions(),
            target in versions(),
        ) {
            let floors: Vec<Floor> = floor_versions
                .into_iter()
                .map(|version| Floor { version, reason: String::new() })
                .collect();
            let next = next_version(&floors, &blacklist, &current, &target);
            prop_assert_eq!(next == NextVersion::Blacklisted, blacklist.contains(&target));
        }
    }
}
