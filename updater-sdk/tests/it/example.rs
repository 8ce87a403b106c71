//! The `exec-updater` example, run as a process against a real update-server.

use crate::support::{APP, PACKAGE, PayloadServer, TestServer, payload};

/// The example binary, built by `cargo test` next to the test binaries
/// (`target/<profile>/examples/`).
fn example_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let path = profile_dir
        .join("examples")
        .join(format!("exec-updater{}", std::env::consts::EXE_SUFFIX));
    path.exists().then_some(path)
}

#[tokio::test]
async fn exec_updater_installs_by_running_the_command() {
    let Some(binary) = example_binary() else {
        // `cargo test --test it` alone does not build examples; `cargo test` does.
        eprintln!("exec-updater example not built: run `cargo test -p updater-sdk`");
        return;
    };
    let payloads = PayloadServer::start().await;
    let path = format!("/pkg/1.1.0/{PACKAGE}");
    payloads.put(&path, payload());
    let server = TestServer::start(&payloads.url(&path), &payload()).await;
    let dir = tempfile::tempdir().unwrap();
    let version_file = dir.path().join("version");
    std::fs::write(&version_file, "1.0.0\n").unwrap();
    let target = dir.path().join("installed");
    // Over JSON, with the server's CUP key pinned as an app team would pin it.
    let (key_version, key) = server.cup_keys().await[0];
    let key_file = dir.path().join("cup-key.pem");
    std::fs::write(&key_file, key.to_pem()).unwrap();

    let output = tokio::process::Command::new(binary)
        .arg("--server")
        .arg(server.url())
        .args([
            "--app-id",
            APP,
            "--group-id",
            "stable",
            "--machine-id",
            "exec",
        ])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--version-file")
        .arg(&version_file)
        .args(["--protocol", "json", "--cup-key"])
        .arg(format!("{key_version}={}", key_file.display()))
        .args(["--health-check", "test -f \"$INSTALLED\""])
        .arg("--once")
        .arg("--")
        .args(["sh", "-c", "cp \"$UPDATE_SERVICE_PAYLOAD\" \"$INSTALLED\""])
        .env("INSTALLED", &target)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("updated from 1.0.0 to 1.1.0"), "{stderr}");
    assert_eq!(std::fs::read(&target).unwrap(), payload());
    assert_eq!(std::fs::read_to_string(&version_file).unwrap(), "1.1.0\n");
    assert_eq!(
        server.events("exec").await,
        [
            (3, 2, None),
            (13, 1, None),
            (14, 1, None),
            (3, 1, None),
            (3, 2, None)
        ]
    );
    server.stop().await;
}
