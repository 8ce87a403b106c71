//! The control panel in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, started on a free port and stopped at the end).
//!
//! Without chromedriver the test prints why and passes, except on CI (`CI=true`), where a
//! missing browser is a failure (`.ci/run` installs Debian's `chromium` and
//! `chromium-driver`). Screenshots of the main pages are kept under
//! `<target dir>/panel-screenshots/`.

#[allow(dead_code)]
#[path = "../it/support.rs"]
mod support;

mod sso;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use omaha_proto::request::{App, Event, Os};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{ADMIN_KEY, TestServer};
use update_server::policy::GroupPolicy;

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Starts chromedriver on a free port; `None` (after saying why) when it is not installed
/// and this is not CI.
fn start_driver() -> Option<Driver> {
    let Some(program) = find_program("CHROMEDRIVER", &["chromedriver"]) else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "chromedriver is not installed; CI must run the browser tests (.ci/run installs chromium-driver)"
        );
        eprintln!(
            "browser test skipped: chromedriver not found (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().expect("a temporary directory"),
    };
    // Wait (bounded) until it accepts connections.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(driver)
}

async fn browser(driver: &Driver) -> Client {
    let mut options = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
            format!("--user-data-dir={}", driver._profile.path().display()),
        ]
    });
    if let Some(chromium) = find_program("CHROMIUM", &["chromium", "chromium-browser"]) {
        options["binary"] = json!(chromium.display().to_string());
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("panel-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("saved");
}

/// The page fits the window's width (no sideways scrolling of the page itself).
async fn fits_width(c: &Client, what: &str) {
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "{what} scrolls sideways by {overflow} px"
    );
}

/// Waits (up to ten seconds) until the element's text satisfies `want`, through page loads
/// (an element of the page being replaced goes stale: it is looked up again). Returns the
/// text; panics with the last text seen when it never does.
async fn text_where(c: &Client, css: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::from("(no such element)");
    loop {
        if let Ok(element) = c.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if want(&text) {
                return text;
            }
            last = text;
        }
        assert!(Instant::now() < deadline, "{css}: still {last:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The element's text, once it has the given one.
async fn expect_text(c: &Client, css: &str, expected: &str) {
    text_where(c, css, |t| t == expected).await;
}

/// The element's text, once it contains `part`.
async fn text_containing(c: &Client, css: &str, part: &str) -> String {
    text_where(c, css, |t| t.contains(part)).await
}

/// An element, once it is there (up to ten seconds: a click may still be loading the page).
async fn find(c: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(locator)
        .await
        .unwrap_or_else(|e| panic!("{locator:?}: {e}"))
}

/// Waits until the browser is at `path`.
async fn expect_path(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = path_of(c).await;
        if now == path {
            return;
        }
        assert!(Instant::now() < deadline, "at {now}, not {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill(c: &Client, id: &str, text: &str) {
    let field = find(c, Locator::Id(id)).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn path_of(c: &Client) -> String {
    c.current_url().await.unwrap().path().to_owned()
}

fn values(attr: Option<String>) -> Vec<i64> {
    attr.expect("data-values")
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect()
}

/// One round of the fleet: every instance checks in once; an instance granted the update
/// in the round before reports completion on the new version (its download, install and
/// reboot happened in between).
async fn fleet_round(s: &TestServer, app_id: &str, versions: &mut [String], granted: &mut [bool]) {
    let client = reqwest::Client::new();
    for (i, version) in versions.iter_mut().enumerate() {
        let machine = format!("browser-{i:02}");
        let mut app = App::new(app_id, version.as_str())
            .with_track("prod")
            .with_machine_id(&machine)
            .with_update_check(None);
        if granted[i] {
            app = App::new(app_id, "1.1.0")
                .with_track("prod")
                .with_machine_id(&machine)
                .with_event(Event::update_complete("1.0.0"))
                .with_update_check(None);
            *version = "1.1.0".into();
            granted[i] = false;
        }
        let request = omaha_proto::Request::update_engine(
            "update_engine-0.4.10",
            "scheduler",
            Os::new("CoreOS", "Chateau", ""),
        )
        .with_app(app);
        let text = client
            .post(format!("http://{}/v1/update/", s.addr()))
            .body(request.encode())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let response = omaha_proto::Response::decode(text.as_bytes()).expect("an Omaha answer");
        let offered = response.apps[0]
            .update_check
            .as_ref()
            .is_some_and(|u| u.status == Some(omaha_proto::codes::UpdateCheckStatus::Ok));
        if offered && version == "1.0.0" {
            granted[i] = true;
        }
    }
    s.flush().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_drives_and_shows_a_rollout() {
    let Some(driver) = start_driver() else {
        return;
    };
    let c = browser(&driver).await;
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let scenario = tokio::spawn(scenario(c.clone(), s));
    let outcome = scenario.await;
    let _ = c.close().await;
    drop(driver);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[allow(clippy::too_many_lines)]
async fn scenario(c: Client, s: TestServer) {
    let base = format!("http://{}", s.addr());
    const API: &str = "/_ah/api/update/v1";

    // Set up through the API: an app, two packages, a channel at 1.0.0 and a group rate
    // limited to two updates a minute.
    let (status, app) = s
        .api(
            "POST",
            &format!("{API}/apps"),
            Some(json!({"label": "Demo", "description": "browser test"})),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    let app_id = app["id"].as_str().unwrap().to_owned();
    for version in ["1.0.0", "1.1.0"] {
        let (status, body) = s
            .api(
                "POST",
                &format!("{API}/apps/{app_id}/packages/{version}"),
                Some(json!({"url": format!("https://pkg.example.test/demo/{version}/update.gz"), "size": "5",
                    "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = s
        .api(
            "POST",
            &format!("{API}/apps/{app_id}/channels"),
            Some(json!({"label": "stable", "version": "1.0.0"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .api(
            "POST",
            &format!("{API}/apps/{app_id}/groups"),
            Some(
                json!({"id": "prod", "label": "Production", "channelId": "stable",
                        "updatePooling": true, "updateCount": 2, "updateInterval": 60}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Not logged in: the login page. A wrong key does not get in.
    c.goto(&format!("{base}/")).await.unwrap();
    expect_path(&c, "/login").await;
    fill(&c, "user", "admin").await;
    fill(&c, "key", "not-the-key").await;
    find(&c, Locator::Css("form[action='/login'] button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(&c, "#login-error", "Wrong user or key.").await;
    screenshot(&c, "login-refused").await;
    c.goto(&format!("{base}/activity")).await.unwrap();
    expect_path(&c, "/login").await;

    // The right key does. The first Tab reaches the skip link.
    fill(&c, "user", "admin").await;
    fill(&c, "key", ADMIN_KEY).await;
    find(&c, Locator::Css("form[action='/login'] button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(&c, "main h1", "Overview").await;
    c.perform_actions(
        KeyActions::new("keyboard".into())
            .then(KeyAction::Down {
                value: Key::Tab.into(),
            })
            .then(KeyAction::Up {
                value: Key::Tab.into(),
            }),
    )
    .await
    .unwrap();
    let focused = c.active_element().await.unwrap();
    assert_eq!(focused.text().await.unwrap(), "Skip to content");

    // Promote the channel to 1.1.0 from the application page.
    find(&c, Locator::LinkText("Demo"))
        .await
        .click()
        .await
        .unwrap();
    find(&c, Locator::Css("select[name='version']"))
        .await
        .select_by_value("1.1.0")
        .await
        .unwrap();
    find(&c, Locator::Css("form[action$='/channels/stable'] button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(&c, "#flash", "Channel stable is saved.").await;
    let (_, channels) = s
        .api("GET", &format!("{API}/apps/{app_id}/channels"), None)
        .await;
    assert_eq!(channels["items"][0]["version"], "1.1.0");

    // Ten instances on 1.0.0 go through the rate-limited rollout, a round a minute.
    let mut versions = vec!["1.0.0".to_owned(); 10];
    let mut granted = vec![false; 10];
    let rounds = 7;
    for round in 0..rounds {
        fleet_round(&s, &app_id, &mut versions, &mut granted).await;
        if round == 2 {
            // Mid-rollout: the group page says who waits and why, and refreshes itself.
            c.goto(&format!("{base}/apps/{app_id}/groups/prod"))
                .await
                .unwrap();
            text_containing(&c, "#why", "rate limited until").await;
            assert!(
                c.find(Locator::Css("#live[data-refresh]")).await.is_ok(),
                "refreshing while the rollout runs"
            );
            screenshot(&c, "group-during-rollout").await;
        }
        s.clock.advance_secs(60);
    }
    assert!(versions.iter().all(|v| v == "1.1.0"), "{versions:?}");

    // Applications -> Demo -> Production, by following the links.
    c.goto(&format!("{base}/apps")).await.unwrap();
    screenshot(&c, "applications").await;
    find(&c, Locator::LinkText("Demo"))
        .await
        .click()
        .await
        .unwrap();
    text_where(&c, "main h1", |t| t.starts_with("Demo")).await;
    text_containing(&c, "main table", "1.1.0: 10").await;
    screenshot(&c, "application").await;
    find(&c, Locator::LinkText("Production"))
        .await
        .click()
        .await
        .unwrap();
    text_where(&c, "main h1", |t| t.starts_with("Production")).await;
    text_containing(&c, "#why", "10 run the target version").await;
    screenshot(&c, "group").await;

    // View all graphs: the 1.1.0 line rises to all ten instances while 1.0.0 falls to none.
    find(&c, Locator::Id("graphs-link"))
        .await
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("svg[data-chart='versions']"))
        .await
        .unwrap();
    let old = values(
        find(
            &c,
            Locator::Css("svg[data-chart='versions'] path[data-series='1.0.0']"),
        )
        .await
        .attr("data-values")
        .await
        .unwrap(),
    );
    let new = values(
        find(
            &c,
            Locator::Css("svg[data-chart='versions'] path[data-series='1.1.0']"),
        )
        .await
        .attr("data-values")
        .await
        .unwrap(),
    );
    // A census per round (the flush after it), and the current minute counted live; the
    // time axis starts with the first count, not with zeros before the group had any.
    assert_eq!(
        old.len(),
        rounds + 1,
        "a minute per bucket from the first count"
    );
    let minutes: Vec<usize> = (0..old.len()).filter(|i| old[*i] + new[*i] > 0).collect();
    assert_eq!(minutes.len(), rounds + 1, "one bucket per round, and now");
    let old: Vec<i64> = minutes.iter().map(|i| old[*i]).collect();
    let new: Vec<i64> = minutes.iter().map(|i| new[*i]).collect();
    assert_eq!(old, vec![10, 8, 6, 4, 2, 0, 0, 0], "1.0.0 falls to none");
    assert_eq!(new, vec![0, 2, 4, 6, 8, 10, 10, 10], "1.1.0 rises to all");
    let events = c
        .find_all(Locator::Css("svg[data-chart='events'] path[data-series]"))
        .await
        .unwrap();
    let mut labels = Vec::new();
    for e in &events {
        labels.push(e.attr("data-series").await.unwrap().unwrap());
    }
    assert_eq!(labels, vec!["complete (3/2)"], "the completions");
    screenshot(&c, "graphs-1h").await;
    find(&c, Locator::LinkText("1 day"))
        .await
        .click()
        .await
        .unwrap();
    let day = c
        .find(Locator::Css(
            "svg[data-chart='versions'] path[data-series='1.1.0']",
        ))
        .await
        .unwrap()
        .attr("data-values")
        .await
        .unwrap()
        .unwrap();
    assert!(
        day.rsplit(',').next() == Some("10"),
        "this hour all ten instances run 1.1.0: {day}"
    );
    screenshot(&c, "graphs-1d").await;

    // Pause from the page; the API reports it.
    c.goto(&format!("{base}/apps/{app_id}/groups/prod"))
        .await
        .unwrap();
    find(&c, Locator::Id("pause-button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(&c, "#flash", "Updates are paused.").await;
    let (_, group) = s
        .api("GET", &format!("{API}/apps/{app_id}/groups/prod"), None)
        .await;
    assert_eq!(group["updatesPaused"], true, "{group}");

    // The same form without its CSRF token is refused, and changes nothing.
    c.execute(
        "document.querySelector('#pause-form input[name=csrf]').remove();",
        vec![],
    )
    .await
    .unwrap();
    find(&c, Locator::Id("pause-button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(&c, "main h1", "Forbidden").await;
    screenshot(&c, "csrf-refused").await;
    let (_, group) = s
        .api("GET", &format!("{API}/apps/{app_id}/groups/prod"), None)
        .await;
    assert_eq!(group["updatesPaused"], true, "still paused");

    // Instances, one instance, the activity log.
    c.goto(&format!("{base}/instances?app={app_id}"))
        .await
        .unwrap();
    text_containing(&c, "main", "10 instances.").await;
    screenshot(&c, "instances").await;
    find(&c, Locator::LinkText("browser-00"))
        .await
        .click()
        .await
        .unwrap();
    let history = text_containing(&c, "main", "granted update to 1.1.0").await;
    assert!(history.contains("complete (3/2)"), "{history}");
    screenshot(&c, "instance").await;
    c.goto(&format!("{base}/activity")).await.unwrap();
    text_containing(&c, "main table", "paused group prod").await;
    screenshot(&c, "activity").await;

    // Phone width: every main page still fits.
    c.set_window_size(390, 844).await.unwrap();
    for (path, name) in [
        ("/".to_owned(), "overview"),
        ("/apps".to_owned(), "applications"),
        ("/errors".to_owned(), "errors"),
        (format!("/apps/{app_id}"), "application"),
        (format!("/apps/{app_id}/groups/prod"), "group"),
        (format!("/apps/{app_id}/groups/prod/graphs"), "graphs"),
        (format!("/instances?app={app_id}"), "instances"),
        ("/activity".to_owned(), "activity"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        fits_width(&c, name).await;
        screenshot(&c, &format!("phone-{name}")).await;
    }
    c.set_window_size(1280, 1000).await.unwrap();

    // Log out: back to the login page, and the panel is closed again.
    find(&c, Locator::Css("form.logout button"))
        .await
        .click()
        .await
        .unwrap();
    expect_path(&c, "/login").await;
    c.goto(&format!("{base}/")).await.unwrap();
    expect_path(&c, "/login").await;
    s.stop().await;
}

/// One Omaha request of instance `machine` of group `group` on `version`, with an event
/// or an update check; returns whether it was offered the update.
async fn report(
    s: &TestServer,
    app_id: &str,
    group: &str,
    machine: &str,
    version: &str,
    event: Option<Event>,
) -> bool {
    let mut app = App::new(app_id, version)
        .with_track(group)
        .with_machine_id(machine);
    app = match event {
        Some(event) => app.with_event(event),
        None => app.with_update_check(None),
    };
    let request = omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(app);
    let (status, text) = s.post_raw(request.encode()).await;
    assert_eq!(status, 200, "{text}");
    let response = omaha_proto::Response::decode(text.as_bytes()).expect("an Omaha answer");
    response.apps[0]
        .update_check
        .as_ref()
        .is_some_and(|u| u.status == Some(omaha_proto::codes::UpdateCheckStatus::Ok))
}

/// Waits (up to `secs` seconds) until the script returns true.
async fn until(c: &Client, secs: u64, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let value = c.execute(script, vec![]).await.unwrap();
        if value.as_bool() == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still not so");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn attr(c: &Client, css: &str, name: &str) -> String {
    find(c, Locator::Css(css))
        .await
        .attr(name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{css} has no {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_puts_failures_first_and_the_group_page_lives() {
    let Some(driver) = start_driver() else {
        return;
    };
    let c = browser(&driver).await;
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let scenario = tokio::spawn(failures_scenario(c.clone(), s));
    let outcome = scenario.await;
    let _ = c.close().await;
    drop(driver);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[allow(clippy::too_many_lines)]
async fn failures_scenario(c: Client, s: TestServer) {
    let base = format!("http://{}", s.addr());
    const API: &str = "/_ah/api/update/v1";
    let (status, app) = s
        .api(
            "POST",
            &format!("{API}/apps"),
            Some(json!({"label": "Fleet", "description": "failures"})),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    let app_id = app["id"].as_str().unwrap().to_owned();
    for version in ["1.0.0", "1.1.0"] {
        let (status, body) = s
            .api(
                "POST",
                &format!("{API}/apps/{app_id}/packages/{version}"),
                Some(json!({"url": format!("https://pkg.example.test/fleet/{version}/update.gz"), "size": "5",
                    "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = s
        .api(
            "POST",
            &format!("{API}/apps/{app_id}/channels"),
            Some(json!({"label": "stable", "version": "1.1.0"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // prod pauses itself after two failures; canary has no limits.
    for body in [
        json!({"id": "prod", "label": "Production", "channelId": "stable",
               "updatePooling": true, "updateCount": 2, "updateInterval": 60,
               "failureThresholdCount": 2, "failureWindow": 10}),
        json!({"id": "canary", "label": "Canary", "channelId": "stable"}),
    ] {
        let (status, answer) = s
            .api("POST", &format!("{API}/apps/{app_id}/groups"), Some(body))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    // Canary: five instances granted; prod: four check, two are granted and both fail.
    for i in 0..5 {
        assert!(report(&s, &app_id, "canary", &format!("canary-{i}"), "1.0.0", None).await);
    }
    let mut granted = Vec::new();
    for i in 0..4 {
        let machine = format!("prod-{i}");
        if report(&s, &app_id, "prod", &machine, "1.0.0", None).await {
            granted.push(machine);
        }
    }
    assert_eq!(granted.len(), 2, "the rate limit");
    s.clock.advance_secs(30);
    report(
        &s,
        &app_id,
        "prod",
        &granted[0],
        "1.0.0",
        Some(Event::error(2503)),
    )
    .await;
    report(
        &s,
        &app_id,
        "prod",
        &granted[1],
        "1.0.0",
        Some(Event::error(0x1000_0000 | 15)),
    )
    .await;
    s.flush().await;

    // Log in: the overview is the home page, the automatically paused group first.
    c.goto(&format!("{base}/")).await.unwrap();
    expect_path(&c, "/login").await;
    fill(&c, "user", "admin").await;
    fill(&c, "key", ADMIN_KEY).await;
    find(&c, Locator::Css("form[action='/login'] button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(&c, "main h1", "Overview").await;
    let rows = c
        .find_all(Locator::Css("#overview tbody tr"))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for row in &rows {
        seen.push((
            row.attr("data-group").await.unwrap().unwrap(),
            row.attr("data-state").await.unwrap().unwrap(),
            row.attr("data-attention").await.unwrap().unwrap(),
        ));
    }
    assert_eq!(
        seen,
        vec![
            (
                "prod".to_owned(),
                "auto_paused".to_owned(),
                "auto_paused failing".to_owned()
            ),
            ("canary".to_owned(), "updating".to_owned(), String::new()),
            // The test server's own app, whose group has no instance.
            (
                "stable".to_owned(),
                "no_instances".to_owned(),
                String::new()
            ),
        ]
    );
    let prod_row = "#overview tr[data-group='prod']";
    let progress = text_containing(&c, prod_row, "on target").await;
    assert!(progress.contains("0 / 4 on target"), "{progress}");
    assert!(progress.contains("paused automatically"), "{progress}");
    assert_eq!(attr(&c, &format!("{prod_row} progress"), "max").await, "4");
    let canary = text_containing(&c, "#overview tr[data-group='canary']", "on target").await;
    assert!(canary.contains("0 / 5 on target"), "{canary}");
    assert_eq!(
        attr(
            &c,
            "#overview tr[data-group='prod'] td[data-failures]",
            "data-failures"
        )
        .await,
        "2"
    );
    text_containing(&c, "#overview-summary", "1 group needs attention").await;
    screenshot(&c, "overview").await;

    // The failures link leads to the errors page, filtered to the group.
    find(
        &c,
        Locator::Css("#overview tr[data-group='prod'] td[data-failures] a"),
    )
    .await
    .click()
    .await
    .unwrap();
    expect_path(&c, "/errors").await;
    expect_text(&c, "#errors-total", "2 rows.").await;
    let errors = text_containing(&c, "#errors", "HTTP 503").await;
    assert!(
        errors.contains("new rootfs verification error (code 268435471)"),
        "{errors}"
    );
    assert!(
        errors.contains(&granted[0]) && errors.contains(&granted[1]),
        "{errors}"
    );
    screenshot(&c, "errors").await;

    // The group page: paused automatically, why, the threshold, and a Resume button.
    c.goto(&format!("{base}/apps/{app_id}/groups/prod"))
        .await
        .unwrap();
    let state = text_containing(&c, "#state-line", "paused automatically").await;
    assert!(
        state.contains(
            "2 of the last 2 attempts failed (threshold: 2 failures of the last 10 attempts)"
        ),
        "{state}"
    );
    find(&c, Locator::Id("errors-link")).await;
    screenshot(&c, "group-auto-paused").await;
    find(&c, Locator::Id("resume-button"))
        .await
        .click()
        .await
        .unwrap();
    expect_text(
        &c,
        "#flash",
        "Updates are resumed: the automatic pause is lifted.",
    )
    .await;
    text_containing(&c, "#state-line", "updating").await;
    let (_, group) = s
        .api("GET", &format!("{API}/apps/{app_id}/groups/prod"), None)
        .await;
    assert_eq!(group["autoPausedAt"], "", "{group}");
    assert_eq!(group["updatesPaused"], false, "{group}");
    screenshot(&c, "group-resumed").await;

    // The canary page refreshes by itself while its instances update: no reload, the
    // focus and what was typed stay.
    c.goto(&format!("{base}/apps/{app_id}/groups/canary"))
        .await
        .unwrap();
    text_containing(&c, "#progress", "0 / 5 on target").await;
    c.execute("window.noReload = true;", vec![]).await.unwrap();
    let label = find(&c, Locator::Id("f-label")).await;
    label.clear().await.unwrap();
    label.send_keys("Canary, renamed").await.unwrap();
    s.clock.advance_secs(60);
    for i in 0..5 {
        report(
            &s,
            &app_id,
            "canary",
            &format!("canary-{i}"),
            "1.1.0",
            Some(Event::update_complete("1.0.0")),
        )
        .await;
    }
    s.flush().await;
    until(
        &c,
        20,
        "var l = document.getElementById('live'); return !!l && l.hasAttribute('data-refreshed') && l.textContent.indexOf('5 / 5 on target') >= 0;",
        "the live part shows the completions",
    )
    .await;
    let kept = c
        .execute(
            "return [window.noReload === true, document.getElementById('f-label').value, document.activeElement && document.activeElement.id];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!([true, "Canary, renamed", "f-label"]));
    text_containing(&c, "#state-line", "finished").await;
    screenshot(&c, "group-refreshed").await;

    // Graphs: fixed colours and the markers, read from the page.
    c.goto(&format!("{base}/apps/{app_id}/groups/canary/graphs"))
        .await
        .unwrap();
    assert_eq!(
        attr(
            &c,
            "svg[data-chart='events'] path[data-series='complete (3/2)']",
            "data-colour"
        )
        .await,
        "#2e7d32"
    );
    assert_eq!(
        attr(
            &c,
            "svg[data-chart='versions'] path[data-series='1.1.0']",
            "data-colour"
        )
        .await,
        "#2e7d32",
        "the target version is green"
    );
    let promotion = attr(
        &c,
        "svg[data-chart='versions'] g[data-marker='promotion']",
        "data-label",
    )
    .await;
    assert_eq!(promotion, "channel stable promoted to 1.1.0");
    c.goto(&format!("{base}/apps/{app_id}/groups/prod/graphs"))
        .await
        .unwrap();
    assert_eq!(
        attr(
            &c,
            "svg[data-chart='events'] path[data-series='error (3/0)']",
            "data-colour"
        )
        .await,
        "#c62828"
    );
    assert_eq!(
        attr(
            &c,
            "svg[data-chart='events'] path[data-series='error (3/0)']",
            "data-values"
        )
        .await,
        "2,0",
        "both failures in the first minute with data, none in the next"
    );
    let mut kinds = Vec::new();
    for marker in c
        .find_all(Locator::Css("svg[data-chart='events'] g[data-marker]"))
        .await
        .unwrap()
    {
        kinds.push(marker.attr("data-marker").await.unwrap().unwrap());
    }
    assert_eq!(kinds, ["promotion", "autopause", "resume"], "in time order");
    assert_eq!(
        attr(
            &c,
            "svg[data-chart='events'] g[data-marker='autopause']",
            "data-colour"
        )
        .await,
        "#c62828"
    );
    text_containing(&c, "ul.legend.markers", "paused automatically").await;
    screenshot(&c, "graphs-markers").await;

    // At 390 px the plot scrolls to its latest end and the y axis stays in view.
    c.set_window_size(390, 844).await.unwrap();
    c.refresh().await.unwrap();
    find(&c, Locator::Css("svg.chart-y")).await;
    until(
        &c,
        10,
        "var w = document.querySelector('.chart-wrap'); return w.scrollWidth > w.clientWidth && w.scrollLeft > 0;",
        "the chart scrolls sideways to its end",
    )
    .await;
    let axis = c
        .execute(
            "var w = document.querySelector('.chart-wrap'); var y = w.querySelector('svg.chart-y').getBoundingClientRect(); var box = w.getBoundingClientRect(); return [y.left >= box.left - 1, y.right <= box.left + 80, y.width > 10, y.height > 50];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        axis,
        json!([true, true, true, true]),
        "the y axis stays in view"
    );
    fits_width(&c, "graphs").await;
    screenshot(&c, "phone-graphs-axis").await;
    for (path, name) in [
        ("/".to_owned(), "overview-failures"),
        ("/errors".to_owned(), "errors"),
        (format!("/apps/{app_id}/groups/prod"), "group-prod"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        fits_width(&c, name).await;
        screenshot(&c, &format!("phone-{name}")).await;
    }
    s.stop().await;
}
