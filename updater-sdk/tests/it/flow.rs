//! The update flow against a real update-server: events reaching the server, files
//! installed, hooks run.

use std::sync::Arc;

use base64::Engine as _;
use updater_sdk::{Error, InstallOutcome, Outcome, PublicKey};

use crate::support::{
    Behaviour, PACKAGE, PayloadServer, Served, TestHooks, TestServer, builder, payload,
};

struct Fixture {
    payloads: PayloadServer,
    server: TestServer,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// The update server offers 1.1.0 with the SHA-256 and size of `announced`; the
    /// payload server serves `served` at its URL.
    async fn new(announced: &[u8], served: Served) -> Self {
        let payloads = PayloadServer::start().await;
        let path = format!("/pkg/1.1.0/{PACKAGE}");
        payloads.put_served(&path, served);
        let server = TestServer::start(&payloads.url(&path), announced).await;
        Self {
            payloads,
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn honest() -> Self {
        let bytes = payload();
        Self::new(
            &bytes,
            Served {
                bytes: bytes.clone(),
                cut_first_at: None,
            },
        )
        .await
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    fn hooks(&self, behaviour: Behaviour) -> TestHooks {
        TestHooks::new(&self.dir.path().join("installed"), behaviour)
    }

    fn download_dir_is_empty(&self) -> bool {
        std::fs::read_dir(self.state_dir().join("download"))
            .map(|mut d| d.next().is_none())
            .unwrap_or(true)
    }
}

#[tokio::test]
async fn full_update_reports_every_step_and_installs() {
    let fx = Fixture::honest().await;
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "full", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();

    let outcome = updater.run_once().await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Completed {
            from_version: "1.0.0".into(),
            version: "1.1.0".into()
        }
    );
    assert_eq!(updater.current_version(), "1.1.0");
    assert_eq!(hooks.calls(), ["install 1.1.0", "health 1.1.0"]);
    assert_eq!(hooks.installed(), ["1.1.0"]);
    let installed = std::fs::read(fx.dir.path().join("installed/1.1.0")).unwrap();
    assert_eq!(installed, payload());
    assert_eq!(
        fx.server.events("full").await,
        [
            (3, 2, None),
            (13, 1, None),
            (14, 1, None),
            (3, 1, None),
            (3, 2, None)
        ]
    );
    assert_eq!(
        fx.server.instance("full").await,
        ("complete".into(), "1.1.0".into())
    );
    assert!(fx.download_dir_is_empty(), "the payload is cleaned up");

    // The next pass, on the new version, finds nothing to do.
    assert_eq!(updater.run_once().await.unwrap(), Outcome::NoUpdate);
    assert_eq!(hooks.calls().len(), 2);
    fx.server.stop().await;
}

#[tokio::test]
async fn corrupted_payload_is_a_hash_mismatch_and_installs_nothing() {
    let bytes = payload();
    let mut corrupted = bytes.clone();
    corrupted[1000] ^= 0xff;
    let fx = Fixture::new(
        &bytes,
        Served {
            bytes: corrupted,
            cut_first_at: None,
        },
    )
    .await;
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "corrupt", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();

    let error = updater.run_once().await.unwrap_err();
    assert!(matches!(error, Error::HashMismatch { .. }), "{error}");
    assert!(hooks.calls().is_empty(), "no hook ran: {:?}", hooks.calls());
    assert!(hooks.installed().is_empty());
    assert_eq!(
        fx.server.events("corrupt").await,
        [(3, 2, None), (13, 1, None), (3, 0, Some(10))]
    );
    assert_eq!(fx.server.instance("corrupt").await.0, "error");
    assert!(fx.download_dir_is_empty(), "the bad payload is deleted");
    assert_eq!(updater.current_version(), "1.0.0");
    fx.server.stop().await;
}

#[tokio::test]
async fn wrong_size_is_a_size_mismatch() {
    let bytes = payload();
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"trailing garbage");
    let fx = Fixture::new(
        &bytes,
        Served {
            bytes: longer,
            cut_first_at: None,
        },
    )
    .await;
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "longer", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();
    let error = updater.run_once().await.unwrap_err();
    assert!(matches!(error, Error::SizeMismatch { .. }), "{error}");
    assert!(hooks.installed().is_empty());
    assert_eq!(
        fx.server.events("longer").await.last(),
        Some(&(3, 0, Some(11)))
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_download_cut_halfway_resumes_with_a_range_request() {
    let bytes = payload();
    let half = bytes.len() / 2;
    let fx = Fixture::new(
        &bytes,
        Served {
            bytes: bytes.clone(),
            cut_first_at: Some(half),
        },
    )
    .await;
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "resume", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();

    let outcome = updater.run_once().await.unwrap();
    assert!(matches!(outcome, Outcome::Completed { .. }), "{outcome:?}");
    let payload_requests: Vec<_> = fx
        .payloads
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with(PACKAGE))
        .map(|s| s.range)
        .collect();
    assert_eq!(payload_requests, [None, Some(format!("bytes={half}-"))]);
    assert_eq!(
        std::fs::read(fx.dir.path().join("installed/1.1.0")).unwrap(),
        bytes
    );
    assert_eq!(
        fx.server.events("resume").await,
        [
            (3, 2, None),
            (13, 1, None),
            (14, 1, None),
            (3, 1, None),
            (3, 2, None)
        ]
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_partial_download_left_by_a_previous_run_is_resumed() {
    let bytes = payload();
    let half = bytes.len() / 2;
    let fx = Fixture::new(
        &bytes,
        Served {
            bytes: bytes.clone(),
            cut_first_at: Some(half),
        },
    )
    .await;
    let hooks = fx.hooks(Behaviour::default());
    // One attempt only: the first pass fails with the cut.
    let first = builder(&fx.server.url(), &fx.state_dir(), "resume2", "1.0.0")
        .http(updater_sdk::HttpOptions::default().attempts(1))
        .build(hooks.clone())
        .await
        .unwrap();
    let error = first.run_once().await.unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert_eq!(error.omaha_error_code(), 9);
    let part = fx.state_dir().join("download").join(PACKAGE);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), half as u64);
    drop(first);
    // The failed attempt (3/0, code 9) put the instance on the group's retry delay; the
    // operator clears it so the restart is offered the update at once.
    let cleared = fx
        .server
        .store
        .clear_retry_delay(crate::support::APP, "stable", Some("resume2"))
        .await
        .unwrap();
    assert_eq!(cleared, 1, "the failure set a retry delay");

    // A new updater (a restart) resumes at the half.
    let second = builder(&fx.server.url(), &fx.state_dir(), "resume2", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();
    assert!(matches!(
        second.run_once().await.unwrap(),
        Outcome::Completed { .. }
    ));
    assert!(hooks.calls().contains(&format!("resumed at {half}")));
    let last_range = fx.payloads.seen().last().unwrap().range.clone();
    assert_eq!(last_range, Some(format!("bytes={half}-")));
    assert_eq!(
        std::fs::read(fx.dir.path().join("installed/1.1.0")).unwrap(),
        bytes
    );
    assert_eq!(
        fx.server.events("resume2").await,
        [
            (3, 2, None),
            (13, 1, None),
            (3, 0, Some(9)),
            (3, 2, None),
            (13, 1, None),
            (14, 1, None),
            (3, 1, None),
            (3, 2, None)
        ]
    );
    fx.server.stop().await;
}

fn signing_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

fn sign(key: &ed25519_dalek::SigningKey, bytes: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer as _;
    key.sign(bytes).to_bytes()
}

fn public(key: &ed25519_dalek::SigningKey) -> PublicKey {
    PublicKey::from_bytes(&key.verifying_key().to_bytes()).unwrap()
}

#[tokio::test]
async fn a_valid_signature_is_accepted_in_base64_and_raw() {
    let key = signing_key(7);
    for (machine, as_base64) in [("sig-b64", true), ("sig-raw", false)] {
        let fx = Fixture::honest().await;
        let signature = sign(&key, &payload());
        let body = if as_base64 {
            format!(
                "{}\n",
                base64::engine::general_purpose::STANDARD.encode(signature)
            )
            .into_bytes()
        } else {
            signature.to_vec()
        };
        fx.payloads.put(&format!("/pkg/1.1.0/{PACKAGE}.sig"), body);
        let hooks = fx.hooks(Behaviour::default());
        let updater = builder(&fx.server.url(), &fx.state_dir(), machine, "1.0.0")
            .public_key(public(&key))
            .build(hooks.clone())
            .await
            .unwrap();
        assert!(matches!(
            updater.run_once().await.unwrap(),
            Outcome::Completed { .. }
        ));
        assert_eq!(hooks.installed(), ["1.1.0"]);
        assert!(
            fx.payloads
                .seen()
                .iter()
                .any(|s| s.path == format!("/pkg/1.1.0/{PACKAGE}.sig"))
        );
        fx.server.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_signature_is_rejected_and_nothing_installed() {
    let fx = Fixture::honest().await;
    // Signed by another key.
    let signature = sign(&signing_key(8), &payload());
    fx.payloads.put(
        &format!("/pkg/1.1.0/{PACKAGE}.sig"),
        base64::engine::general_purpose::STANDARD
            .encode(signature)
            .into_bytes(),
    );
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "badsig", "1.0.0")
        .public_key(public(&signing_key(7)))
        .build(hooks.clone())
        .await
        .unwrap();
    let error = updater.run_once().await.unwrap_err();
    assert!(matches!(error, Error::Signature(_)), "{error}");
    assert!(hooks.calls().is_empty());
    assert!(hooks.installed().is_empty());
    assert!(fx.download_dir_is_empty());
    assert_eq!(
        fx.server.events("badsig").await,
        [(3, 2, None), (13, 1, None), (3, 0, Some(12))]
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_missing_signature_is_rejected_when_a_key_is_configured() {
    let fx = Fixture::honest().await;
    let hooks = fx.hooks(Behaviour::default());
    let updater = builder(&fx.server.url(), &fx.state_dir(), "nosig", "1.0.0")
        .public_key(public(&signing_key(7)))
        .build(hooks.clone())
        .await
        .unwrap();
    let error = updater.run_once().await.unwrap_err();
    assert!(matches!(error, Error::Signature(_)), "{error}");
    assert!(hooks.installed().is_empty());
    assert_eq!(
        fx.server.events("nosig").await.last(),
        Some(&(3, 0, Some(12)))
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_failed_health_check_rolls_back_and_reports_3_0() {
    let fx = Fixture::honest().await;
    let hooks = fx.hooks(Behaviour {
        healthy: false,
        ..Behaviour::default()
    });
    let updater = builder(&fx.server.url(), &fx.state_dir(), "sick", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();
    let error = updater.run_once().await.unwrap_err();
    assert!(
        matches!(&error, Error::HealthCheck { version, rollback: None, .. } if version == "1.1.0"),
        "{error}"
    );
    assert_eq!(
        hooks.calls(),
        ["install 1.1.0", "health 1.1.0", "rollback 1.1.0 -> 1.0.0"]
    );
    assert!(hooks.installed().is_empty(), "rolled back");
    assert_eq!(updater.current_version(), "1.0.0");
    assert_eq!(
        fx.server.events("sick").await,
        [
            (3, 2, None),
            (13, 1, None),
            (14, 1, None),
            (3, 1, None),
            (3, 0, Some(updater_sdk::error::HEALTH_CHECK_FAILED))
        ]
    );
    assert_eq!(fx.server.instance("sick").await.0, "error");
    fx.server.stop().await;
}

#[tokio::test]
async fn a_failed_install_reports_3_0_code_5() {
    let fx = Fixture::honest().await;
    let hooks = fx.hooks(Behaviour {
        install_fails: true,
        ..Behaviour::default()
    });
    let updater = builder(&fx.server.url(), &fx.state_dir(), "noinstall", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();
    let error = updater.run_once().await.unwrap_err();
    assert!(matches!(error, Error::Install(_)), "{error}");
    assert_eq!(hooks.calls(), ["install 1.1.0"]);
    assert_eq!(
        fx.server.events("noinstall").await,
        [(3, 2, None), (13, 1, None), (14, 1, None), (3, 0, Some(5))]
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_deferred_install_reports_800_and_completes_after_the_restart() {
    let fx = Fixture::honest().await;
    let hooks = fx.hooks(Behaviour {
        outcome: InstallOutcome::Deferred,
        ..Behaviour::default()
    });
    let before = builder(&fx.server.url(), &fx.state_dir(), "held", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();
    assert_eq!(
        before.run_once().await.unwrap(),
        Outcome::Deferred {
            version: "1.1.0".into()
        }
    );
    // Still on the old version: waiting, no second download.
    assert_eq!(
        before.run_once().await.unwrap(),
        Outcome::AwaitingRestart {
            version: "1.1.0".into()
        }
    );
    assert_eq!(hooks.calls(), ["install 1.1.0"]);
    assert_eq!(fx.server.instance("held").await.0, "installed_held");
    drop(before);

    // The restart: the app now runs 1.1.0.
    let after = builder(&fx.server.url(), &fx.state_dir(), "held", "1.1.0")
        .build(hooks.clone())
        .await
        .unwrap();
    assert_eq!(
        after.run_once().await.unwrap(),
        Outcome::Completed {
            from_version: "1.0.0".into(),
            version: "1.1.0".into()
        }
    );
    assert_eq!(hooks.calls(), ["install 1.1.0", "health 1.1.0"]);
    assert_eq!(
        fx.server.events("held").await,
        [
            (3, 2, None),
            (13, 1, None),
            (14, 1, None),
            (800, 1, None),
            (3, 2, None)
        ]
    );
    assert_eq!(
        fx.server.instance("held").await,
        ("complete".into(), "1.1.0".into())
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_crash_between_install_and_completion_still_reports_3_2() {
    let fx = Fixture::honest().await;
    let entered = Arc::new(tokio::sync::Notify::new());
    let hanging = fx.hooks(Behaviour {
        hang_in_health_check: Some(entered.clone()),
        ..Behaviour::default()
    });
    let before = builder(&fx.server.url(), &fx.state_dir(), "crash", "1.0.0")
        .build(hanging.clone())
        .await
        .unwrap();
    // The process "dies" while the health check runs: the pass is dropped there.
    tokio::select! {
        result = before.run_once() => panic!("the health check hangs, got {result:?}"),
        () = entered.notified() => {}
    }
    drop(before);
    assert_eq!(hanging.installed(), ["1.1.0"]);

    // Restarted on the new version: health check, then 3/2 with the previous version.
    let hooks = fx.hooks(Behaviour::default());
    let after = builder(&fx.server.url(), &fx.state_dir(), "crash", "1.1.0")
        .build(hooks.clone())
        .await
        .unwrap();
    assert_eq!(
        after.run_once().await.unwrap(),
        Outcome::Completed {
            from_version: "1.0.0".into(),
            version: "1.1.0".into()
        }
    );
    assert_eq!(hooks.calls(), ["health 1.1.0"]);
    assert_eq!(
        fx.server.events("crash").await,
        [
            (3, 2, None),
            (13, 1, None),
            (14, 1, None),
            (3, 1, None),
            (3, 2, None)
        ]
    );
    assert_eq!(
        fx.server.instance("crash").await,
        ("complete".into(), "1.1.0".into())
    );
    // Nothing pending any more.
    assert_eq!(after.run_once().await.unwrap(), Outcome::NoUpdate);
    fx.server.stop().await;
}

#[tokio::test]
async fn an_install_that_did_not_take_is_reported_as_a_rollback() {
    let fx = Fixture::honest().await;
    let entered = Arc::new(tokio::sync::Notify::new());
    let hooks = fx.hooks(Behaviour {
        hang_in_health_check: Some(entered.clone()),
        ..Behaviour::default()
    });
    let before = builder(&fx.server.url(), &fx.state_dir(), "undone", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();
    tokio::select! {
        result = before.run_once() => panic!("the health check hangs, got {result:?}"),
        () = entered.notified() => {}
    }
    drop(before);
    // Restarted, but on the old version.
    let after = builder(&fx.server.url(), &fx.state_dir(), "undone", "1.0.0")
        .build(fx.hooks(Behaviour::default()))
        .await
        .unwrap();
    let error = after.run_once().await.unwrap_err();
    assert!(matches!(error, Error::RolledBack { .. }), "{error}");
    assert_eq!(
        fx.server.events("undone").await.last(),
        Some(&(3, 0, Some(44)))
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn a_generated_machine_id_is_kept_in_the_state_directory() {
    let fx = Fixture::honest().await;
    let make = || {
        updater_sdk::Updater::builder(&fx.server.url(), crate::support::APP)
            .current_version("1.0.0")
            .state_dir(fx.state_dir())
            .machine_id_path(fx.dir.path().join("no-such-machine-id"))
            .build(fx.hooks(Behaviour::default()))
    };
    let first = make().await.unwrap();
    let id = first.machine_id().to_owned();
    assert_eq!(id.len(), 32);
    drop(first);
    assert_eq!(make().await.unwrap().machine_id(), id);

    std::fs::write(fx.dir.path().join("machine-id"), "0123abcd\n").unwrap();
    let from_file = updater_sdk::Updater::builder(&fx.server.url(), crate::support::APP)
        .current_version("1.0.0")
        .state_dir(fx.state_dir())
        .machine_id_path(fx.dir.path().join("machine-id"))
        .build(fx.hooks(Behaviour::default()))
        .await
        .unwrap();
    assert_eq!(from_file.machine_id(), "0123abcd");
    fx.server.stop().await;
}

#[tokio::test]
async fn a_crash_during_the_install_starts_over_cleanly() {
    let fx = Fixture::honest().await;
    let entered = Arc::new(tokio::sync::Notify::new());
    let before = builder(&fx.server.url(), &fx.state_dir(), "reinstall", "1.0.0")
        .build(fx.hooks(Behaviour {
            hang_in_install: Some(entered.clone()),
            ..Behaviour::default()
        }))
        .await
        .unwrap();
    tokio::select! {
        result = before.run_once() => panic!("the install hangs, got {result:?}"),
        () = entered.notified() => {}
    }
    drop(before);

    // Restarted on the old version: the half-done update is forgotten and done again.
    let hooks = fx.hooks(Behaviour::default());
    let after = builder(&fx.server.url(), &fx.state_dir(), "reinstall", "1.0.0")
        .build(hooks.clone())
        .await
        .unwrap();
    assert!(matches!(
        after.run_once().await.unwrap(),
        Outcome::Completed { .. }
    ));
    assert_eq!(hooks.calls(), ["install 1.1.0", "health 1.1.0"]);
    assert_eq!(hooks.installed(), ["1.1.0"]);
    assert!(fx.download_dir_is_empty());
    assert_eq!(
        fx.server.instance("reinstall").await,
        ("complete".into(), "1.1.0".into())
    );
    fx.server.stop().await;
}

#[tokio::test]
async fn an_https_service_behind_a_private_ca_is_trusted_only_when_configured() {
    let fx = Fixture::honest().await;
    let proxy = crate::support::TlsProxy::start(fx.server.addr()).await;

    // With the system's roots the private CA is unknown: a transport error, nothing sent.
    let hooks = fx.hooks(Behaviour::default());
    let untrusting = builder(&proxy.url(), &fx.state_dir(), "tls", "1.0.0")
        .http(updater_sdk::HttpOptions::default().attempts(1))
        .build(hooks.clone())
        .await
        .unwrap();
    let error = untrusting.run_once().await.unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error}");
    assert!(fx.server.events("tls").await.is_empty());
    drop(untrusting);

    let trusting = builder(&proxy.url(), &fx.state_dir(), "tls", "1.0.0")
        .http(updater_sdk::HttpOptions::default().trust_only_roots_pem(crate::support::TEST_CA_PEM))
        .build(hooks.clone())
        .await
        .unwrap();
    assert!(matches!(
        trusting.run_once().await.unwrap(),
        Outcome::Completed { .. }
    ));
    assert_eq!(hooks.installed(), ["1.1.0"]);
    assert_eq!(fx.server.events("tls").await.len(), 5);

    let bad = builder(&proxy.url(), &fx.state_dir(), "tls", "1.0.0")
        .http(updater_sdk::HttpOptions::default().trust_only_roots_pem("not a certificate"))
        .build(hooks.clone())
        .await;
    assert!(matches!(bad, Err(Error::Config(_))), "{bad:?}");
    fx.server.stop().await;
}
