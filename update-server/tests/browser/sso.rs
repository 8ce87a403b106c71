//! Single sign-on through a real OpenID provider: the `oidc-provider` package under Node
//! (`tests/browser/oidc/`, installed by `.ci/run` with `npm ci`), started on a free port of
//! 127.0.0.1, signed in through headless Chromium with its own sign-in form. alice (group
//! `release-managers`) is an operator and pauses a group, recorded as `sso:alice`; bob
//! (`staff`) is a viewer and gets a 403 on the same change; carol (`contractors`) has no
//! role and is refused.
//!
//! Without Node or the installed package the test prints why and passes, except on CI
//! (`CI=true`), where that is a failure (as for chromedriver and PostgreSQL).

use super::support::{APP, TestServer};
use super::{browser, expect_path, expect_text, find, screenshot, start_driver, text_containing};
use fantoccini::{Client, Locator};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use update_server::policy::GroupPolicy;
use update_server::sso::{Provider, SsoSettings};

const CLIENT: &str = "update-panel";
const SECRET: &str = "update-panel-secret";

/// The Node provider, killed when dropped.
struct Op {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    issuer: String,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Op {
    fn line(&self, what: &str) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("the OpenID provider did not print {what}: {e}"))
    }
}

fn skip_or_fail(reason: &str) -> Option<Op> {
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "{reason}; CI must run the SSO browser test (.ci/run installs it with npm ci)"
    );
    eprintln!("SSO browser test skipped: {reason}");
    None
}

/// Starts the provider; `None` (after saying why) when Node or the package is missing and
/// this is not CI.
fn start_op() -> Option<Op> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/oidc");
    let Some(node) = super::find_program("NODE", &["node"]) else {
        return skip_or_fail("node is not installed");
    };
    if !dir
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        return skip_or_fail(&format!(
            "the oidc-provider package is not installed (npm ci --prefix {})",
            dir.display()
        ));
    }
    let mut child = Command::new(node)
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("OIDC_CLIENT_ID", CLIENT)
        .env("OIDC_CLIENT_SECRET", SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node starts");
    let stdout = child.stdout.take().expect("piped");
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut op = Op {
        stdin: child.stdin.take(),
        child,
        lines,
        issuer: String::new(),
    };
    let first: serde_json::Value =
        serde_json::from_str(&op.line("its issuer")).expect("a JSON line");
    op.issuer = first["issuer"].as_str().expect("the issuer").to_owned();
    Some(op)
}

/// Signs in at the provider as `login` (its form takes any password, then asks for
/// consent).
async fn sign_in(c: &Client, base: &str, login: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    find(c, Locator::Id("sso-login"))
        .await
        .click()
        .await
        .unwrap();
    let field = find(c, Locator::Css("input[name=login]")).await;
    field.send_keys(login).await.unwrap();
    find(c, Locator::Css("input[name=password]"))
        .await
        .send_keys("any password")
        .await
        .unwrap();
    find(c, Locator::Css("button.login-submit"))
        .await
        .click()
        .await
        .unwrap();
    // The consent page, then back to the panel.
    expect_text(c, "button.login-submit", "Continue").await;
    find(c, Locator::Css("button.login-submit"))
        .await
        .click()
        .await
        .unwrap();
}

/// Waits until the browser has left the callback's page (which goes on to the overview by
/// itself); panics with the page's text when it stays (a refused sign-in).
async fn left_callback(c: &Client) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.current_url().await.unwrap().path() == "/login/oidc/callback" {
        if std::time::Instant::now() > deadline {
            let text = c.find(Locator::Css("main")).await.unwrap().text().await;
            panic!("still on the callback's page: {text:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_through_a_real_openid_provider_maps_roles() {
    let Some(mut op) = start_op() else {
        return;
    };
    let Some(driver) = start_driver() else {
        return;
    };
    let issuer = op.issuer.clone();
    // The server's redirect URL names its address; the provider registers it next.
    let s = TestServer::start_with_sso(false, GroupPolicy::default(), {
        move |addr| {
            let settings = SsoSettings {
                issuer: Some(issuer),
                client_id: Some(CLIENT.into()),
                client_secret: Some(SECRET.into()),
                redirect_url: Some(format!("http://{addr}/login/oidc/callback")),
                scopes: "openid groups".into(),
                role_claim: "groups".into(),
                name_claim: "sub".into(),
                roles: Some("release-managers=operator;staff=viewer".into()),
                default_role: None,
                base_url: None,
            };
            Arc::new(Provider::new(settings.validate().unwrap().unwrap()).unwrap())
        }
    })
    .await
    .unwrap();
    // The provider signs with the real time; the server's manual clock must agree.
    s.clock.set(jiff::Timestamp::now());
    let redirect = format!("http://{}/login/oidc/callback", s.addr());
    let stdin = op.stdin.as_mut().expect("piped");
    writeln!(stdin, "{redirect}").expect("the provider reads its client's redirect URL");
    assert_eq!(op.line("ready"), "ready");

    let c = browser(&driver).await;
    let scenario = tokio::spawn(scenario(c.clone(), s));
    let outcome = scenario.await;
    let _ = c.close().await;
    drop(driver);
    drop(op);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

async fn scenario(c: Client, s: TestServer) {
    let base = format!("http://{}", s.addr());
    const API: &str = "/_ah/api/update/v1";
    let group = format!("{base}/apps/{APP}/groups/stable");

    // alice is an operator: signed in, she pauses the group.
    sign_in(&c, &base, "alice").await;
    left_callback(&c).await;
    expect_path(&c, "/").await;
    expect_text(&c, "header .user", "alice").await;
    expect_text(&c, "header .role", "operator").await;
    screenshot(&c, "sso-signed-in").await;
    c.goto(&group).await.unwrap();
    find(&c, Locator::Id("pause-button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(&c, "#flash", "Updates are paused.").await;
    let (_, g) = s
        .api("GET", &format!("{API}/apps/{APP}/groups/stable"), None)
        .await;
    assert_eq!(g["updatesPaused"], true, "{g}");
    let (_, activity) = s.api("GET", &format!("{API}/activity"), None).await;
    assert_eq!(activity["items"][0]["actor"], "sso:alice", "{activity}");

    // bob is a viewer: he sees the group, and the same change is refused with 403.
    find(&c, Locator::Css("form.logout button"))
        .await
        .click()
        .await
        .unwrap();
    expect_path(&c, "/login").await;
    // The provider's session is alice's: forget it (cookies are per host, not per port).
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &base, "bob").await;
    left_callback(&c).await;
    expect_text(&c, "header .role", "viewer").await;
    c.goto(&group).await.unwrap();
    find(&c, Locator::Id("pause-button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(&c, "main h1", "Forbidden").await;
    text_containing(&c, "main .error", "SSO user bob").await;
    screenshot(&c, "sso-viewer-refused").await;
    let status: serde_json::Value = c
        .execute(
            "return performance.getEntriesByType('navigation')[0].responseStatus;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    let (_, activity) = s.api("GET", &format!("{API}/activity"), None).await;
    assert_eq!(
        activity["items"][0]["actor"], "sso:alice",
        "bob changed nothing"
    );

    // carol's group maps to no role: refused with a page that says so.
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &base, "carol").await;
    text_containing(&c, "#sso-error", "no role on this server").await;
    text_containing(&c, "#sso-error", "contractors").await;
    screenshot(&c, "sso-no-role").await;
    c.goto(&format!("{base}/")).await.unwrap();
    expect_path(&c, "/login").await;
    s.stop().await;
}
