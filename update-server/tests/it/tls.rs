//! HTTPS: the binary serves TLS with a certificate and key from PEM files, and refuses
//! unusable ones clearly.

use crate::processes::ServerProcess;

struct Files {
    dir: tempfile::TempDir,
    cert_pem: String,
}

impl Files {
    /// A self-signed certificate for 127.0.0.1 and its key, plus a key of another pair.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pair = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let cert_pem = pair.cert.pem();
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), pair.signing_key.serialize_pem()).unwrap();
        std::fs::write(
            dir.path().join("other.key"),
            other.signing_key.serialize_pem(),
        )
        .unwrap();
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        Self { dir, cert_pem }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn serves_https_to_a_client_that_trusts_the_certificate() {
    let files = Files::new();
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "--tls-cert",
        &files.path("cert.pem"),
        "--tls-key",
        &files.path("key.pem"),
    ])
    .await;
    let trusted = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(files.cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!("https://{}", server.addr);
    let health = trusted.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok\n");
    let (status, text) = {
        let r = trusted
            .post(format!("{url}/v1/update/"))
            .body(crate::support::check_request("m1", "1.0.0").encode())
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(text.contains("error-unknownApplication"), "{text}");

    // Plain HTTP on the TLS port gets no answer, and a client that does not trust the
    // certificate refuses the connection.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.addr))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    let untrusting = reqwest::Client::builder().build().unwrap();
    assert!(
        untrusting
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_err()
    );
    // The server still serves after those failed handshakes.
    assert_eq!(
        trusted
            .get(format!("{url}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.terminate().await;
}

#[test]
fn unusable_certificates_and_keys_are_clear_errors() {
    let files = Files::new();
    let data = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--tls-cert",
                &files.path("cert.pem"),
                "--tls-key",
                &files.path("other.key"),
            ],
            "cannot be used together",
        ),
        (
            &[
                "--tls-cert",
                &files.path("missing.pem"),
                "--tls-key",
                &files.path("key.pem"),
            ],
            "cannot read the TLS certificate",
        ),
        (
            &[
                "--tls-cert",
                &files.path("empty.pem"),
                "--tls-key",
                &files.path("key.pem"),
            ],
            "holds no PEM certificate",
        ),
        (
            &[
                "--tls-cert",
                &files.path("cert.pem"),
                "--tls-key",
                &files.path("cert.pem"),
            ],
            "cannot read the TLS private key",
        ),
        (&["--tls-cert", &files.path("cert.pem")], "--tls-key"),
    ];
    for (args, message) in cases {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_update-server"))
            .env_clear()
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} is refused");
        assert!(
            stderr.contains(message),
            "{args:?}: {message:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
