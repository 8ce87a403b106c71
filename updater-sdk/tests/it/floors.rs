//! Floors against a real update-server: channel `stable` at 4.0.0 with floors 2.0.0 and
//! 3.0.0, an instance on 1.0.0. With `multi_manifest`, one check brings every step and the
//! updater installs them in order; without it, one floor per pass.

use updater_sdk::{Error, InstallOutcome, Outcome};

use crate::support::{Behaviour, PACKAGE, PayloadServer, TestHooks, TestServer, builder, payload};

const STEPS: [&str; 3] = ["2.0.0", "3.0.0", "4.0.0"];

/// Each version's payload: distinct bytes, so an install of the wrong one shows.
fn payload_of(version: &str) -> Vec<u8> {
    let seed = version
        .bytes()
        .fold(7_u32, |a, b| a.wrapping_mul(31) ^ u32::from(b));
    (0..40 * 1024_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed).rotate_left(7) as u8)
        .collect()
}

fn path_of(version: &str) -> String {
    format!("/pkg/{version}/{PACKAGE}")
}

struct Fixture {
    payloads: PayloadServer,
    server: TestServer,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let payloads = PayloadServer::start().await;
        payloads.put(&path_of("1.1.0"), payload());
        let server = TestServer::start(&payloads.url(&path_of("1.1.0")), &payload()).await;
        for version in STEPS {
            payloads.put(&path_of(version), payload_of(version));
            server
                .add_package(
                    version,
                    &payloads.url(&path_of(version)),
                    &payload_of(version),
                )
                .await;
        }
        server.add_floor("3.0.0", "bootloader update").await;
        server.add_floor("2.0.0", "partition migration").await;
        server.move_channel("4.0.0").await;
        Self {
            payloads,
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    fn hooks(&self, behaviour: Behaviour) -> TestHooks {
        TestHooks::new(&self.dir.path().join("installed"), behaviour)
    }

    fn installed_bytes(&self, version: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join("installed").join(version)).unwrap()
    }

    /// The payload paths fetched so far, in order.
    fn downloads(&self) -> Vec<String> {
        self.payloads.seen().into_iter().map(|s| s.path).collect()
    }
}

/// The events of one step: download started, finished, installed, then the completion.
const STEP_EVENTS: [(i64, i64, Option<i64>); 4] =
    [(13, 1, None), (14, 1, None), (3, 1, None), (3, 2, None)];

#[tokio::test]
async fn with_multi_manifest_one_check_installs_every_floor_then_the_target_in_order() {
    let fx = Fixture::new().await;
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "multi", "1.0.0")
        .multi_manifest(true)
        .build(hooks.clone())
        .await
        .unwrap();

    let outcome = updater.run_once().await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Completed {
            from_version: "1.0.0".into(),
            version: "4.0.0".into()
        }
    );
    assert_eq!(updater.current_version(), "4.0.0");
    assert_eq!(
        hooks.calls(),
        [
            "steps 2.0.0 3.0.0 4.0.0",
            "install 2.0.0",
            "health 2.0.0",
            "install 3.0.0",
            "health 3.0.0",
            "install 4.0.0",
            "health 4.0.0",
        ]
    );
    for version in STEPS {
        assert_eq!(
            fx.installed_bytes(version),
            payload_of(version),
            "{version}"
        );
    }
    assert_eq!(
        fx.downloads(),
        STEPS.map(path_of),
        "each step's own payload, in order"
    );
    // One check (with its routine 3/2), then each step's events; the server follows the
    // instance through the floors and counts it complete at the target.
    let mut expected = vec![(3, 2, None)];
    for _ in STEPS {
        expected.extend(STEP_EVENTS);
    }
    assert_eq!(fx.server.events("multi").await, expected);
    assert_eq!(
        fx.server.instance("multi").await,
        ("complete".into(), "4.0.0".into())
    );

    assert_eq!(updater.run_once().await.unwrap(), Outcome::NoUpdate);
    assert_eq!(hooks.calls().len(), 7);
    fx.server.stop().await;
}

#[tokio::test]
async fn without_multi_manifest_each_pass_installs_the_next_floor() {
    let fx = Fixture::new().await;
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "single", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();

    let mut from = "1.0.0";
    for version in STEPS {
        assert_eq!(
            updater.run_once().await.unwrap(),
            Outcome::Completed {
                from_version: from.into(),
                version: version.into()
            }
        );
        assert_eq!(
            fx.server.instance("single").await,
            ("complete".into(), version.into())
        );
        from = version;
    }
    assert_eq!(updater.run_once().await.unwrap(), Outcome::NoUpdate);
    assert_eq!(
        hooks.calls(),
        [
            "install 2.0.0",
            "health 2.0.0",
            "install 3.0.0",
            "health 3.0.0",
            "install 4.0.0",
            "health 4.0.0",
        ]
    );
    // Three exchanges, each a check (its routine 3/2) and one step's events; the last
    // check, up to date, is a check-in the server does not keep in the history.
    let mut expected = Vec::new();
    for _ in STEPS {
        expected.push((3, 2, None));
        expected.extend(STEP_EVENTS);
    }
    assert_eq!(fx.server.events("single").await, expected);
    fx.server.stop().await;
}

#[tokio::test]
async fn a_failed_step_stops_the_plan_and_is_reported() {
    let fx = Fixture::new().await;
    let mut corrupted = payload_of("3.0.0");
    corrupted[100] ^= 0xff;
    fx.payloads.put(&path_of("3.0.0"), corrupted);
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "broken", "1.0.0")
        .multi_manifest(true)
        .build(hooks.clone())
        .await
        .unwrap();

    let error = updater.run_once().await.unwrap_err();
    assert!(matches!(error, Error::HashMismatch { .. }), "{error}");
    assert_eq!(
        hooks.calls(),
        ["steps 2.0.0 3.0.0 4.0.0", "install 2.0.0", "health 2.0.0"]
    );
    assert_eq!(
        hooks.installed(),
        ["2.0.0"],
        "nothing after the failed step"
    );
    assert_eq!(updater.current_version(), "2.0.0");
    let mut expected = vec![(3, 2, None)];
    expected.extend(STEP_EVENTS);
    expected.extend([(13, 1, None), (3, 0, Some(10))]);
    assert_eq!(fx.server.events("broken").await, expected);
    assert_eq!(
        fx.server.instance("broken").await,
        ("error".into(), "2.0.0".into())
    );
    assert_eq!(
        fx.downloads(),
        [path_of("2.0.0"), path_of("3.0.0")],
        "the target is never fetched"
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_restart_in_the_middle_resumes_at_the_next_step() {
    let fx = Fixture::new().await;
    // The first step's install takes effect at the next start.
    let first = fx.hooks(Behaviour {
        outcome: InstallOutcome::Deferred,
        ..Behaviour::default()
    });
    let updater = builder(&fx.server.url(), &fx.state_dir(), "restart", "1.0.0")
        .multi_manifest(true)
        .build(first.clone())
        .await
        .unwrap();
    assert_eq!(
        updater.run_once().await.unwrap(),
        Outcome::Deferred {
            version: "2.0.0".into()
        }
    );
    assert_eq!(first.calls(), ["steps 2.0.0 3.0.0 4.0.0", "install 2.0.0"]);
    // Not restarted yet: it waits, and installs nothing more.
    assert_eq!(
        updater.run_once().await.unwrap(),
        Outcome::AwaitingRestart {
            version: "2.0.0".into()
        }
    );
    drop(updater);

    // The app restarts on 2.0.0: the step completes, and the rest follows at once.
    let second = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "restart", "2.0.0")
        .multi_manifest(true)
        .build(second.clone())
        .await
        .unwrap();
    assert_eq!(
        updater.run_once().await.unwrap(),
        Outcome::Completed {
            from_version: "1.0.0".into(),
            version: "4.0.0".into()
        }
    );
    assert_eq!(
        second.calls(),
        [
            "health 2.0.0",
            "steps 3.0.0 4.0.0",
            "install 3.0.0",
            "health 3.0.0",
            "install 4.0.0",
            "health 4.0.0",
        ]
    );
    assert_eq!(
        fx.downloads(),
        STEPS.map(path_of),
        "no step downloaded twice"
    );
    let mut expected = vec![(3, 2, None), (13, 1, None), (14, 1, None), (800, 1, None)];
    // The completion of 2.0.0, then the next check (its routine 3/2), then two steps.
    expected.extend([(3, 2, None), (3, 2, None)]);
    expected.extend(STEP_EVENTS);
    expected.extend(STEP_EVENTS);
    assert_eq!(fx.server.events("restart").await, expected);
    assert_eq!(
        fx.server.instance("restart").await,
        ("complete".into(), "4.0.0".into())
    );
    fx.server.stop().await;
}
