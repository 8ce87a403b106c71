//! Signed answers (CUP-ECDSA) and anti-rollback against a real update-server, through a
//! man in the middle of the test's own ([`MitmProxy`]) that alters, replays, delays or
//! strips the signature of the server's answers.

use std::time::Duration;

use updater_sdk::{AnswerRefused, Error, Outcome, Protocol, UpdaterBuilder};

use crate::support::{
    APP, Attack, Behaviour, MitmProxy, PACKAGE, PayloadServer, TestHooks, TestServer, builder,
    payload,
};

const PROTOCOLS: [Protocol; 2] = [Protocol::Xml, Protocol::Json];

/// A server offering 1.1.0 (from a payload server) behind a man in the middle.
struct Fixture {
    payloads: PayloadServer,
    server: TestServer,
    proxy: MitmProxy,
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let payloads = PayloadServer::start().await;
        let path = format!("/pkg/1.1.0/{PACKAGE}");
        let bytes = payload();
        payloads.put(&path, bytes.clone());
        let server = TestServer::start(&payloads.url(&path), &bytes).await;
        let proxy = MitmProxy::start(&server.url()).await;
        Self {
            payloads,
            server,
            proxy,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn state_dir(&self, machine: &str) -> std::path::PathBuf {
        self.dir.path().join(machine).join("state")
    }

    fn hooks(&self, machine: &str) -> TestHooks {
        TestHooks::new(
            &self.dir.path().join(machine).join("installed"),
            Behaviour::default(),
        )
    }

    /// An updater through the proxy, in `protocol`, pinning the server's key when `pinned`.
    async fn builder(
        &self,
        machine: &str,
        version: &str,
        protocol: Protocol,
        pinned: bool,
    ) -> UpdaterBuilder {
        let mut b = builder(
            &self.proxy.url(),
            &self.state_dir(machine),
            machine,
            version,
        )
        .protocol(protocol);
        if pinned {
            for (v, key) in self.server.cup_keys().await {
                b = b.cup_key(v, key);
            }
        }
        b
    }

    fn download_dir_is_empty(&self, machine: &str) -> bool {
        std::fs::read_dir(self.state_dir(machine).join("download"))
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
    }

    fn state_file(&self, machine: &str) -> Vec<u8> {
        std::fs::read(self.state_dir(machine).join("state.json")).unwrap_or_default()
    }

    /// The server shows no install by `machine`: no progress event, still on 1.0.0.
    async fn server_shows_no_install(&self, machine: &str) {
        let events = self.server.events(machine).await;
        assert!(
            events
                .iter()
                .all(|(t, r, _)| !matches!((t, r), (13, 1) | (14, 1) | (3, 1) | (3, 0))),
            "{machine}: {events:?}"
        );
        // Stored from the check (not at all when no request reached the server), on 1.0.0.
        let stored = self.server.store.instance(APP, machine).await.unwrap();
        assert!(
            stored.as_ref().is_none_or(|r| r.version == "1.0.0"),
            "{machine}: {stored:?}"
        );
    }
}

fn refused(result: Result<Outcome, Error>) -> AnswerRefused {
    match result {
        Err(Error::AnswerRefused(reason)) => reason,
        other => panic!("expected a refused answer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_pinned_updater_through_an_honest_proxy_updates_in_both_protocols() {
    let fx = Fixture::new().await;
    for protocol in PROTOCOLS {
        let machine = format!("honest-{protocol:?}");
        let hooks = fx.hooks(&machine);
        let updater = fx
            .builder(&machine, "1.0.0", protocol, true)
            .await
            .build(hooks.clone())
            .await
            .unwrap();
        let outcome = updater.run_once().await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Completed {
                from_version: "1.0.0".into(),
                version: "1.1.0".into()
            },
            "{protocol:?}"
        );
        assert_eq!(hooks.installed(), ["1.1.0"]);
        // Every request (check, 13/1, 14/1, 3/1, 3/2) went through, signed and verified.
        let events = fx.server.events(&machine).await;
        for wanted in [(13, 1), (14, 1), (3, 1)] {
            assert!(
                events.iter().any(|(t, r, _)| (*t, *r) == wanted),
                "{protocol:?}: {events:?}"
            );
        }
        assert_eq!(
            fx.server.instance(&machine).await,
            ("complete".into(), "1.1.0".into())
        );
        assert_eq!(updater.run_once().await.unwrap(), Outcome::NoUpdate);
    }
}

#[tokio::test]
async fn an_unpinned_updater_takes_unsigned_answers() {
    let fx = Fixture::new().await;
    fx.proxy.attack(Attack::StripSignature);
    for protocol in PROTOCOLS {
        let machine = format!("unpinned-{protocol:?}");
        let hooks = fx.hooks(&machine);
        let updater = fx
            .builder(&machine, "1.0.0", protocol, false)
            .await
            .build(hooks.clone())
            .await
            .unwrap();
        assert!(matches!(
            updater.run_once().await.unwrap(),
            Outcome::Completed { .. }
        ));
        assert_eq!(hooks.installed(), ["1.1.0"]);
    }
}

/// Each attack on each protocol, three passes each: every pass refuses the answer with
/// `expected`, nothing is downloaded or installed, the state file does not change, and the
/// server records no install.
async fn every_pass_is_refused(
    fx: &Fixture,
    name: &str,
    max_age: Option<Duration>,
    expected: impl Fn(&AnswerRefused) -> bool,
) {
    for protocol in PROTOCOLS {
        let machine = format!("{name}-{protocol:?}");
        let hooks = fx.hooks(&machine);
        let mut b = fx.builder(&machine, "1.0.0", protocol, true).await;
        if let Some(max) = max_age {
            b = b.cup_max_answer_age(max);
        }
        let updater = b.build(hooks.clone()).await.unwrap();
        let state = fx.state_file(&machine);
        let seen_before = fx.payloads.seen().len();
        for pass in 0..3 {
            let reason = refused(updater.run_once().await);
            assert!(
                expected(&reason),
                "{name} {protocol:?} pass {pass}: {reason:?}"
            );
        }
        assert!(hooks.calls().is_empty(), "{name}: {:?}", hooks.calls());
        assert!(hooks.installed().is_empty());
        assert!(fx.download_dir_is_empty(&machine));
        assert_eq!(fx.payloads.seen().len(), seen_before, "{name}: no download");
        assert_eq!(fx.state_file(&machine), state, "{name}: state unchanged");
        assert_eq!(updater.current_version(), "1.0.0");
        fx.server_shows_no_install(&machine).await;
    }
}

#[tokio::test]
async fn an_altered_answer_is_refused() {
    let fx = Fixture::new().await;
    // The answer is redirected to another payload server.
    let evil = PayloadServer::start().await;
    evil.put(&format!("/pkg/1.1.0/{PACKAGE}"), b"evil".to_vec());
    fx.proxy.attack(Attack::Rewrite {
        from: fx.payloads.url("/"),
        to: evil.url("/"),
    });
    every_pass_is_refused(&fx, "altered", None, |r| *r == AnswerRefused::BadSignature).await;
    assert!(evil.seen().is_empty(), "{:?}", evil.seen());
}

#[tokio::test]
async fn a_replayed_answer_is_refused() {
    let fx = Fixture::new().await;
    // A signed "no update" recorded while the channel was at 1.0.0 ...
    fx.server.move_channel("1.0.0").await;
    let recorder = fx
        .builder("recorder", "1.0.0", Protocol::Xml, true)
        .await
        .build(fx.hooks("recorder"))
        .await
        .unwrap();
    assert_eq!(recorder.run_once().await.unwrap(), Outcome::NoUpdate);
    assert!(fx.proxy.has_recorded());
    // ... is replayed to every later request, to hold the fleet back from 1.1.0.
    fx.server.move_channel("1.1.0").await;
    fx.proxy.attack(Attack::Replay);
    let forwarded = fx.proxy.forwarded();
    every_pass_is_refused(&fx, "replayed", None, |r| *r == AnswerRefused::Replayed).await;
    assert_eq!(
        fx.proxy.forwarded(),
        forwarded,
        "nothing reached the server"
    );
}

#[tokio::test]
async fn a_delayed_answer_is_refused_as_stale() {
    let fx = Fixture::new().await;
    fx.proxy.attack(Attack::Delay(Duration::from_millis(700)));
    every_pass_is_refused(&fx, "delayed", Some(Duration::from_millis(250)), |r| {
        matches!(r, AnswerRefused::Stale { elapsed, max }
            if *elapsed >= Duration::from_millis(700) && *max == Duration::from_millis(250))
    })
    .await;
}

#[tokio::test]
async fn an_answer_without_its_signature_is_refused() {
    let fx = Fixture::new().await;
    fx.proxy.attack(Attack::StripSignature);
    every_pass_is_refused(&fx, "stripped", None, |r| *r == AnswerRefused::Unsigned).await;
}

#[tokio::test]
async fn an_answer_signed_with_another_key_is_refused() {
    let fx = Fixture::new().await;
    let other = omaha_proto::cup::CupSigningKey::from_bytes(&[9; 32])
        .unwrap()
        .public_key();
    let hooks = fx.hooks("other-key");
    let updater = builder(
        &fx.proxy.url(),
        &fx.state_dir("other-key"),
        "other-key",
        "1.0.0",
    )
    .cup_key(1, other)
    .build(hooks.clone())
    .await
    .unwrap();
    assert_eq!(
        refused(updater.run_once().await),
        AnswerRefused::BadSignature
    );
    assert!(hooks.calls().is_empty());
}

#[tokio::test]
async fn requests_name_the_newest_pinned_key_version() {
    let fx = Fixture::new().await;
    let (_, key) = fx.server.cup_keys().await[0];
    let next = omaha_proto::cup::CupSigningKey::from_bytes(&[9; 32])
        .unwrap()
        .public_key();
    // Key 1 is the server's; pinning a key 2 beside it (a rotation the server has not
    // made yet) makes requests name 2, which this server refuses (400): nothing happens.
    let hooks = fx.hooks("rotation");
    let updater = builder(
        &fx.proxy.url(),
        &fx.state_dir("rotation"),
        "rotation",
        "1.0.0",
    )
    .cup_key(2, next)
    .cup_key(1, key)
    .build(hooks.clone())
    .await
    .unwrap();
    assert!(matches!(
        updater.run_once().await,
        Err(Error::Server { status: 400 })
    ));
    assert!(hooks.calls().is_empty());
    // Key versions start at 1.
    let zero = builder(&fx.proxy.url(), &fx.state_dir("zero"), "zero", "1.0.0")
        .cup_key(0, key)
        .build(hooks)
        .await;
    assert!(matches!(zero, Err(Error::Config(_))), "{zero:?}");
}

// ------------------------------------------------------------------ anti-rollback

#[tokio::test]
async fn an_unmarked_downgrade_is_refused_and_reported() {
    let fx = Fixture::new().await;
    fx.server.allow_downgrade(true).await;
    fx.server.move_channel("1.0.0").await;
    for protocol in PROTOCOLS {
        let machine = format!("downgrade-{protocol:?}");
        // The server marks its rollback; a man in the middle strips the mark, on an
        // updater that pins no key (a pinned one refuses the altered answer outright).
        fx.proxy.attack(match protocol {
            Protocol::Xml => Attack::Rewrite {
                from: " _rollback=\"true\"".into(),
                to: String::new(),
            },
            _ => Attack::Rewrite {
                from: ",\"_rollback\":true".into(),
                to: String::new(),
            },
        });
        let hooks = fx.hooks(&machine);
        let updater = fx
            .builder(&machine, "1.1.0", protocol, false)
            .await
            .build(hooks.clone())
            .await
            .unwrap();
        match updater.run_once().await {
            Err(Error::Downgrade { offered, highest }) => {
                assert_eq!((offered.as_str(), highest.as_str()), ("1.0.0", "1.1.0"));
            }
            other => panic!("{protocol:?}: expected a refused downgrade, got {other:?}"),
        }
        assert!(hooks.calls().is_empty());
        assert!(fx.download_dir_is_empty(&machine));
        let events = fx.server.events(&machine).await;
        assert!(
            events.contains(&(3, 0, Some(44))),
            "{protocol:?}: event 44 reaches the server: {events:?}"
        );
        assert_eq!(
            fx.server.instance(&machine).await.1,
            "1.1.0",
            "{protocol:?}"
        );
    }
}

#[tokio::test]
async fn a_marked_rollback_is_installed() {
    let fx = Fixture::new().await;
    let path = format!("/pkg/1.0.5/{PACKAGE}");
    let old = b"the previous release".to_vec();
    fx.payloads.put(&path, old.clone());
    fx.server
        .add_package("1.0.5", &fx.payloads.url(&path), &old)
        .await;
    fx.server.move_channel("1.0.5").await;
    for protocol in PROTOCOLS {
        let machine = format!("rollback-{protocol:?}");
        // Without the group's consent, the server offers nothing below 1.1.0.
        fx.server.allow_downgrade(false).await;
        let hooks = fx.hooks(&machine);
        let updater = fx
            .builder(&machine, "1.1.0", protocol, true)
            .await
            .build(hooks.clone())
            .await
            .unwrap();
        assert_eq!(updater.run_once().await.unwrap(), Outcome::NoUpdate);
        // With it, the marked (and signed) rollback is installed.
        fx.server.allow_downgrade(true).await;
        assert_eq!(
            updater.run_once().await.unwrap(),
            Outcome::Completed {
                from_version: "1.1.0".into(),
                version: "1.0.5".into()
            },
            "{protocol:?}"
        );
        assert_eq!(hooks.installed(), ["1.0.5"]);
        assert_eq!(
            fx.server.instance(&machine).await,
            ("complete".into(), "1.0.5".into())
        );
        // The rolled-back version is now the highest installed one.
        let state: serde_json::Value = serde_json::from_slice(&fx.state_file(&machine)).unwrap();
        assert_eq!(state["highest_installed"], "1.0.5");
    }
}
