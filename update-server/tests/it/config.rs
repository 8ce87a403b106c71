//! The configuration as the binary assembles it: flags over environment over file over
//! defaults, shown by `--print-config`.

use std::process::Command;

struct Case {
    name: &'static str,
    file: &'static str,
    env: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    /// Keys of the printed configuration and their expected TOML values.
    expect: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "defaults",
        file: "",
        env: &[],
        args: &[],
        expect: &[
            ("listen", r#""127.0.0.1:8000""#),
            ("log", r#""info""#),
            ("history-retention-days", "90"),
            ("minute-rollup-retention-days", "2"),
            ("hourly-rollup-retention-days", "90"),
            ("daily-rollup-retention-days", "730"),
            ("activity-retention-days", "365"),
            ("disable-package-uploads", "false"),
        ],
    },
    Case {
        name: "the file over the defaults",
        file: r#"
            listen = "0.0.0.0:9000"
            server-name = "from-file"
            max-upload-size = 1024
            disable-package-uploads = true
            history-retention-days = 30
            log = "warn"
        "#,
        env: &[],
        args: &[],
        expect: &[
            ("listen", r#""0.0.0.0:9000""#),
            ("server-name", r#""from-file""#),
            ("max-upload-size", "1024"),
            ("disable-package-uploads", "true"),
            ("history-retention-days", "30"),
            ("log", r#""warn""#),
            ("data-dir", r#""./update-server-data""#),
        ],
    },
    Case {
        name: "the environment over the file, flags over both",
        file: r#"
            listen = "0.0.0.0:9000"
            server-name = "from-file"
            max-upload-size = 1024
            log = "warn"
        "#,
        env: &[
            ("UPDATE_SERVER_NAME", "from-env"),
            ("UPDATE_SERVER_MAX_UPLOAD_SIZE", "2048"),
            ("UPDATE_SERVER_LOG", "debug"),
        ],
        args: &["--max-upload-size", "4096"],
        expect: &[
            ("listen", r#""0.0.0.0:9000""#),
            ("server-name", r#""from-env""#),
            ("max-upload-size", "4096"),
            ("log", r#""debug""#),
        ],
    },
    Case {
        name: "RUST_LOG is the environment of --log when UPDATE_SERVER_LOG is not set",
        file: r#"log = "warn""#,
        env: &[("RUST_LOG", "update_server=trace")],
        args: &[],
        expect: &[("log", r#""update_server=trace""#)],
    },
    Case {
        name: "UPDATE_SERVER_LOG over RUST_LOG, the flag over both",
        file: "",
        env: &[("RUST_LOG", "trace"), ("UPDATE_SERVER_LOG", "debug")],
        args: &[],
        expect: &[("log", r#""debug""#)],
    },
    Case {
        name: "the flag over every environment variable",
        file: "",
        env: &[("RUST_LOG", "trace"), ("UPDATE_SERVER_LOG", "debug")],
        args: &["--log", "error"],
        expect: &[("log", r#""error""#)],
    },
    Case {
        name: "secrets are masked",
        file: r#"
            secret = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
            database-url = "postgres://app:hunter2@db:5432/updates"
        "#,
        env: &[("UPDATE_SERVER_ADMIN_KEY", "0123456789abcdef")],
        args: &[],
        expect: &[
            ("secret", r#""********""#),
            ("admin-key", r#""********""#),
            (
                "database-url",
                r#""postgres://app:********@db:5432/updates""#,
            ),
        ],
    },
];

fn run(file: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("update-server.toml");
    let mut command = Command::new(env!("CARGO_BIN_EXE_update-server"));
    command.env_clear();
    if !file.is_empty() {
        std::fs::write(&path, file).unwrap();
        command.arg("--config").arg(&path);
    }
    let output = command
        .args(args)
        .arg("--print-config")
        .envs(env.iter().copied())
        .output()
        .expect("run update-server");
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn flags_over_environment_over_file_over_defaults() {
    for case in CASES {
        let (ok, stdout, stderr) = run(case.file, case.env, case.args);
        assert!(ok, "{}: {stderr}", case.name);
        let printed: toml::Table = toml::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{}: --print-config is TOML: {e}\n{stdout}", case.name));
        for (key, value) in case.expect {
            let expected: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
                .unwrap()
                .remove("v")
                .unwrap();
            assert_eq!(
                printed.get(*key),
                Some(&expected),
                "{}: {key}\n{stdout}",
                case.name
            );
        }
        for secret in ["hunter2", "5e5e5e5e", "0123456789abcdef"] {
            assert!(
                !stdout.contains(secret),
                "{}: a secret leaked\n{stdout}",
                case.name
            );
        }
    }
}

#[test]
fn the_printed_configuration_loads_back_unchanged() {
    let (ok, first, stderr) = run(
        r#"
            listen = "0.0.0.0:9000"
            history-retention-days = 7
            log-format = "json"
        "#,
        &[],
        &[],
    );
    assert!(ok, "{stderr}");
    let (ok, second, stderr) = run(
        // The masked secrets are not set here, so the printed file holds only real values.
        &first,
        &[],
        &[],
    );
    assert!(ok, "{stderr}");
    assert_eq!(first, second);
}

#[test]
fn bad_files_are_clear_errors() {
    let cases: &[(&str, &str)] = &[
        ("nope = 1", "unknown key `nope`"),
        ("print-config = true", "unknown key `print-config`"),
        (r#"listen = "not an address""#, "key `listen`"),
        (
            r#"history-retention-days = "soon""#,
            "key `history-retention-days`",
        ),
        (
            "disable-package-uploads = \"yes\"",
            "expected true or false",
        ),
        (
            "listen = [1, 2]",
            "expected a string, a number or a boolean, found array",
        ),
        ("listen = ", "is not valid TOML"),
        (r#"log-format = "xml""#, "key `log-format`"),
    ];
    for (file, message) in cases {
        let (ok, _, stderr) = run(file, &[], &[]);
        assert!(!ok, "{file:?} is refused");
        assert!(
            stderr.contains(message),
            "{file:?}: {message:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (ok, _, stderr) = run("", &[("UPDATE_SERVER_CONFIG", "/no/such/file.toml")], &[]);
    assert!(!ok);
    assert!(
        stderr.contains("cannot read the configuration file /no/such/file.toml"),
        "{stderr}"
    );
}

/// A malformed `--secret` (a multi-byte character, a `+` sign that integer parsing would
/// take) stops the server at start with a clear error that does not print the secret, and no
/// panic.
#[test]
fn a_malformed_secret_is_refused_without_echoing_it() {
    let multibyte = format!("{}é{}", "a1".repeat(15), "b2".repeat(16));
    for secret in [multibyte, "+f".repeat(32), "zz".repeat(32)] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_update-server"))
            .env_clear()
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("UPDATE_SERVER_SECRET", &secret)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run update-server");
        // A server that accepted the secret would serve until killed.
        let started = std::time::Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if started.elapsed() > std::time::Duration::from_secs(30) {
                child.kill().ok();
                panic!("the server started with the secret {secret:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let output = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{secret:?} was accepted");
        assert!(stderr.contains("expected 64 hex digits"), "{stderr}");
        assert!(
            !stderr.contains(&secret),
            "the secret was printed: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The data directory is the server's alone: the directory 0700, the database (with its
/// WAL files) and the secret 0600, also when an earlier version left them readable.
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let config = update_server::config::Config::load_from(
        [
            std::ffi::OsStr::new("update-server"),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ],
        |_| None,
    )
    .expect("configuration");
    for round in 0..2 {
        let store = update_server::open_store(&config).await.expect("store");
        update_server::load_secret(&config).expect("secret");
        store.config_generation().await.expect("the store answers");
        assert_eq!(mode(&data), 0o700, "round {round}");
        for file in [
            "update-server.sqlite3",
            "update-server.sqlite3-wal",
            "update-server.sqlite3-shm",
            "secret.key",
        ] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}, round {round}");
        }
        drop(store);
        // As an earlier version left them: readable by everybody. The next start tightens.
        for (path, bits) in [
            (data.clone(), 0o755),
            (data.join("update-server.sqlite3"), 0o644),
            (data.join("secret.key"), 0o644),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bits)).unwrap();
        }
    }
}
