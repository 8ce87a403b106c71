//! The web control panel over plain HTTP: login and logout, the cookie's flags, CSRF, wrong
//! keys, ended sessions, unknown ids, and the forms changing what the API reports.

use crate::support::{ADMIN_KEY, APP, TestServer, check_request};
use update_server::policy::GroupPolicy;

/// A browser without JavaScript: keeps the session cookie, follows no redirect.
pub(crate) struct Browser {
    client: reqwest::Client,
    base: String,
    session: Option<String>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: String,
    pub(crate) cookies: Vec<String>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
}

/// The value of the first `csrf` field of a page.
pub(crate) fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

pub(crate) fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_owned()
}

impl Browser {
    pub(crate) fn new(s: &TestServer) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", s.addr()),
            session: None,
        }
    }

    /// Uses this session cookie value from now on.
    pub(crate) fn set_session(&mut self, value: String) {
        self.session = Some(value);
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
        extra: &[(&str, String)],
    ) -> Answer {
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        let mut cookies: Vec<String> = extra
            .iter()
            .filter(|(k, _)| *k == "cookie")
            .map(|(_, v)| v.clone())
            .collect();
        if let Some(session) = &self.session {
            cookies.push(format!("us_session={session}"));
        }
        if !cookies.is_empty() {
            request = request.header("cookie", cookies.join("; "));
        }
        for (k, v) in extra.iter().filter(|(k, _)| *k != "cookie") {
            request = request.header(*k, v);
        }
        if let Some(form) = form {
            let body: Vec<String> = form
                .iter()
                .map(|(k, v)| format!("{k}={}", urlencode(v)))
                .collect();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.join("&"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        Answer {
            status,
            location,
            cookies,
            body: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None, &[]).await
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send("POST", path, Some(form), &[]).await
    }

    /// Opens the login form and posts it; keeps the session on success.
    pub(crate) async fn login(
        &mut self,
        user: &str,
        key: &str,
        extra: &[(&str, String)],
    ) -> Answer {
        let form = self.send("GET", "/login", None, extra).await;
        assert_eq!(form.status, 200);
        let pre = form.cookie("us_login").expect("a pre-session cookie");
        assert!(pre.contains("HttpOnly") && pre.contains("SameSite=Strict"));
        let mut headers = extra.to_vec();
        headers.push(("cookie", format!("us_login={}", cookie_value(pre))));
        let token = csrf_of(&form.body);
        let answer = self
            .send(
                "POST",
                "/login",
                Some(&[("csrf", &token), ("user", user), ("key", key)]),
                &headers,
            )
            .await;
        if let Some(set) = answer.cookie("us_session") {
            self.session = Some(cookie_value(set));
        }
        answer
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const GROUP: &str = "/apps/e96281a6-d1af-4bde-9a0a-97b76e56dc57/groups/stable";

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_clears_it() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    let home = b.get("/").await;
    assert_eq!((home.status, home.location.as_str()), (303, "/login"));

    // Wrong key, unknown user, empty user: 401, no session.
    for (user, key) in [("admin", "wrong"), ("nobody", ADMIN_KEY), ("", "")] {
        let answer = b.login(user, key, &[]).await;
        assert_eq!(answer.status, 401, "{user}");
        assert!(answer.body.contains("Wrong user or key."));
        assert!(answer.cookie("us_session").is_none());
    }
    assert_eq!(b.get("/").await.status, 303);

    // The login form without its token, or with the token of another pre-session: 403.
    let no_token = b
        .post("/login", &[("user", "admin"), ("key", ADMIN_KEY)])
        .await;
    assert_eq!(no_token.status, 403);
    let form = b.get("/login").await;
    let other = b
        .send(
            "POST",
            "/login",
            Some(&[
                ("csrf", &csrf_of(&form.body)),
                ("user", "admin"),
                ("key", ADMIN_KEY),
            ]),
            &[("cookie", "us_login=somethingelse".to_owned())],
        )
        .await;
    assert_eq!(other.status, 403);

    let ok = b.login("admin", ADMIN_KEY, &[]).await;
    assert_eq!((ok.status, ok.location.as_str()), (303, "/"));
    let cookie = ok.cookie("us_session").unwrap();
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    assert!(!cookie.contains(ADMIN_KEY));

    let apps = b.get("/").await;
    assert_eq!(apps.status, 200);
    assert!(apps.body.contains("Flatcar"));
    assert!(
        apps.body
            .contains(r#"<a href="/apps/e96281a6-d1af-4bde-9a0a-97b76e56dc57">"#)
    );

    // Log out: the token is required; then the cookie is cleared.
    let refused = b.post("/logout", &[]).await;
    assert_eq!(refused.status, 403);
    let token = csrf_of(&apps.body);
    let out = b.post("/logout", &[("csrf", &token)]).await;
    assert_eq!((out.status, out.location.as_str()), (303, "/login"));
    let cleared = out.cookie("us_session").unwrap();
    assert!(
        cleared.starts_with("us_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // Behind a TLS-terminating proxy the cookie is Secure.
    let mut proxied = Browser::new(&s);
    let ok = proxied
        .login(
            "admin",
            ADMIN_KEY,
            &[("x-forwarded-proto", "https".to_owned())],
        )
        .await;
    assert_eq!(ok.status, 303);
    assert!(ok.cookie("us_session").unwrap().ends_with("; Secure"));
    s.stop().await;
}

#[tokio::test]
async fn every_form_needs_the_sessions_csrf_token() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    assert_eq!(b.login("admin", ADMIN_KEY, &[]).await.status, 303);
    let page = b.get(GROUP).await;
    assert_eq!(page.status, 200);
    let token = csrf_of(&page.body);
    let mut other = Browser::new(&s);
    other.login("admin", ADMIN_KEY, &[]).await;
    let other_token = csrf_of(&other.get("/").await.body);
    assert_ne!(token, other_token);

    let forms: [(&str, Vec<(&str, &str)>); 3] = [
        ("pause", vec![("paused", "true")]),
        (
            "policy",
            vec![("label", "Renamed"), ("channelId", "stable")],
        ),
        ("rollout", vec![("action", "start"), ("frames", "10:60")]),
    ];
    for (form, fields) in &forms {
        let path = format!("{GROUP}/{form}");
        for bad in [None, Some(""), Some(other_token.as_str()), Some("garbage")] {
            let mut with = fields.clone();
            if let Some(t) = bad {
                with.push(("csrf", t));
            }
            let answer = b.post(&path, &with).await;
            assert_eq!(answer.status, 403, "{form} with {bad:?}");
            assert!(answer.body.contains("security token"), "{form}");
        }
        // No session at all: refused too.
        let anonymous = Browser::new(&s).post(&path, fields).await;
        assert_eq!(anonymous.status, 403, "{form} without a session");
    }
    let (_, group) = s
        .api("GET", &format!("/_ah/api/update/v1{GROUP}"), None)
        .await;
    assert_eq!(group["updatesPaused"], false, "unchanged: {group}");
    assert_eq!(group["label"], "Stable");
    assert_eq!(group["rolloutActive"], false);

    // With the token the pause goes through, logged under the user.
    let paused = b
        .post(
            &format!("{GROUP}/pause"),
            &[("csrf", &token), ("paused", "true")],
        )
        .await;
    assert_eq!(paused.status, 303);
    assert_eq!(paused.location, format!("{GROUP}?saved=paused"));
    let (_, group) = s
        .api("GET", &format!("/_ah/api/update/v1{GROUP}"), None)
        .await;
    assert_eq!(group["updatesPaused"], true);
    let (_, activity) = s.api("GET", "/_ah/api/update/v1/activity", None).await;
    assert_eq!(activity["items"][0]["actor"], "admin");
    assert_eq!(activity["items"][0]["detail"], "paused group stable");
    let page = b.get(&paused.location).await;
    assert!(page.body.contains("Updates are paused."));
    assert!(page.body.contains("Unpause updates"));
    s.stop().await;
}

#[tokio::test]
async fn the_policy_forms_change_what_the_api_reports() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;
    let token = csrf_of(&b.get(GROUP).await.body);
    let saved = b
        .post(
            &format!("{GROUP}/policy"),
            &[
                ("csrf", &token),
                ("label", "Production"),
                ("channelId", "stable"),
                ("updatePercent", "50"),
                ("updatePooling", "on"),
                ("updateCount", "2"),
                ("updateInterval", "60"),
                ("maxInFlight", "5"),
                ("updateTimeout", ""),
                ("failureThresholdCount", "3"),
                ("failureWindow", "10"),
                ("maintenanceTimeZone", "Europe/Berlin"),
                ("maintenanceWindows", "mon,tue 02-05"),
                ("oemBlacklist", "ami, azure"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (_, group) = s
        .api("GET", &format!("/_ah/api/update/v1{GROUP}"), None)
        .await;
    assert_eq!(group["label"], "Production");
    assert_eq!(group["updatePercent"], 50.0);
    assert_eq!(group["updatePooling"], true);
    assert_eq!(group["updateCount"], 2);
    assert_eq!(group["updateInterval"], 60);
    assert_eq!(group["maxInFlight"], 5);
    assert_eq!(group["failureThresholdCount"], 3);
    assert_eq!(group["maintenanceTimeZone"], "Europe/Berlin");
    assert_eq!(group["maintenanceWindows"], "mon,tue 02-05");
    assert_eq!(group["oemBlacklist"], "ami,azure");

    // Bad input: the page again with the error, nothing changed.
    for (name, value, message) in [
        ("updatePercent", "", "Percent is required"),
        (
            "updateCount",
            "many",
            "Updates per interval must be a number",
        ),
        (
            "updateCount",
            "1.5",
            "Updates per interval must be a whole number",
        ),
        ("maintenanceTimeZone", "Mars/Olympus", "group policy"),
        ("updatePercent", "150", "percent"),
    ] {
        let mut fields = vec![
            ("csrf", token.as_str()),
            ("label", "Broken"),
            ("channelId", "stable"),
        ];
        if name != "updatePercent" {
            fields.push(("updatePercent", "100"));
        }
        fields.push((name, value));
        let answer = b.post(&format!("{GROUP}/policy"), &fields).await;
        assert_eq!(answer.status, 400, "{name}={value}");
        assert!(answer.body.contains(r#"role="alert""#), "{name}");
        assert!(
            answer.body.to_lowercase().contains(&message.to_lowercase()),
            "{name}={value}: {}",
            answer.body
        );
    }
    let (_, group) = s
        .api("GET", &format!("/_ah/api/update/v1{GROUP}"), None)
        .await;
    assert_eq!(group["label"], "Production");

    // A timed rollout, then stopped.
    let started = b
        .post(
            &format!("{GROUP}/rollout"),
            &[
                ("csrf", &token),
                ("action", "start"),
                ("frames", "10:60, 100:0"),
            ],
        )
        .await;
    assert_eq!(started.status, 303);
    let (_, rollout) = s
        .api("GET", &format!("/_ah/api/update/v1{GROUP}/rollout"), None)
        .await;
    assert_eq!(rollout["rollout"].as_array().unwrap().len(), 2);
    let (_, group) = s
        .api("GET", &format!("/_ah/api/update/v1{GROUP}"), None)
        .await;
    assert_eq!(group["rolloutActive"], true);
    let bad = b
        .post(
            &format!("{GROUP}/rollout"),
            &[
                ("csrf", &token),
                ("action", "start"),
                ("frames", "ten percent"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("expected percent:seconds"));
    let stopped = b
        .post(
            &format!("{GROUP}/rollout"),
            &[("csrf", &token), ("action", "stop")],
        )
        .await;
    assert_eq!(stopped.status, 303);
    let (_, group) = s
        .api("GET", &format!("/_ah/api/update/v1{GROUP}"), None)
        .await;
    assert_eq!(group["rolloutActive"], false);
    s.stop().await;
}

#[tokio::test]
async fn sessions_end_when_changed_expired_or_their_user_is_deleted_or_rekeyed() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;
    assert_eq!(b.get("/").await.status, 200);
    let good = b.session.clone().unwrap();

    // A changed cookie is no session.
    let (user, rest) = good.split_once('.').unwrap();
    for forged in [
        format!(
            "{}.{rest}",
            if user == "YWRtaW4" {
                "cm9vdA"
            } else {
                "YWRtaW4"
            }
        ),
        good.replacen('.', ".9", 1),
        "garbage".to_owned(),
    ] {
        b.session = Some(forged.clone());
        assert_eq!(b.get("/").await.status, 303, "{forged}");
    }
    b.session = Some(good.clone());

    // A user created and deleted through the API: its session ends with it.
    let (status, created) = s
        .api(
            "POST",
            "/_ah/api/update/v1/admin/user",
            Some(serde_json::json!({"userName": "ops"})),
        )
        .await;
    assert_eq!(status, 200);
    let mut ops = Browser::new(&s);
    let key = created["token"].as_str().unwrap().to_owned();
    assert_eq!(ops.login("ops", &key, &[]).await.status, 303);
    assert_eq!(ops.get("/activity").await.status, 200);
    let (status, _) = s
        .api("DELETE", "/_ah/api/update/v1/admin/user/ops", None)
        .await;
    assert_eq!(status, 200);
    let after = ops.get("/activity").await;
    assert_eq!((after.status, after.location.as_str()), (303, "/login"));

    // A new key for a user ends the sessions opened with the old one.
    let mut dev = Browser::new(&s);
    let (_, created) = s
        .api(
            "POST",
            "/_ah/api/update/v1/admin/user",
            Some(serde_json::json!({"userName": "dev"})),
        )
        .await;
    let key = created["token"].as_str().unwrap().to_owned();
    assert_eq!(dev.login("dev", &key, &[]).await.status, 303);
    assert_eq!(dev.get("/").await.status, 200);
    let (status, renewed) = s
        .api("PUT", "/_ah/api/update/v1/admin/user/dev/token/new", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        dev.get("/").await.status,
        303,
        "the old key's session ended"
    );
    let new_key = renewed["token"].as_str().unwrap().to_owned();
    assert_eq!(dev.login("dev", &key, &[]).await.status, 401, "the old key");
    assert_eq!(dev.login("dev", &new_key, &[]).await.status, 303);
    assert_eq!(dev.get("/").await.status, 200);

    // Twelve hours on, the admin's session has expired.
    s.clock.advance_secs(12 * 3600 - 1);
    assert_eq!(b.get("/").await.status, 200);
    s.clock.advance_secs(1);
    assert_eq!(b.get("/").await.status, 303);
    s.stop().await;
}

#[tokio::test]
async fn unknown_ids_get_a_not_found_page() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;
    let token = csrf_of(&b.get("/").await.body);
    for path in [
        "/apps/no-such-app".to_owned(),
        "/apps/no-such-app/groups/stable".to_owned(),
        format!("/apps/{APP}/groups/no-such-group"),
        format!("/apps/{APP}/groups/no-such-group/graphs"),
        format!("/apps/{APP}/instances/no-such-instance"),
        format!("/apps/{APP}/instances/%3Cscript%3E"),
    ] {
        let answer = b.get(&path).await;
        assert_eq!(answer.status, 404, "{path}");
        assert!(answer.body.contains("<h1>Not found</h1>"), "{path}");
        assert!(!answer.body.contains("<script>"), "escaped: {path}");
    }
    for form in ["pause", "policy"] {
        let path = format!("/apps/{APP}/groups/no-such-group/{form}");
        let answer = b.post(&path, &[("csrf", &token), ("paused", "true")]).await;
        assert_eq!(answer.status, 404, "{path}");
    }
    let answer = b.get(&format!("{GROUP}/graphs?range=2y")).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("1h, 1d, 7d or 30d"));
    s.stop().await;
}

#[tokio::test]
async fn the_pages_show_the_fleet() {
    let s = TestServer::start_sqlite(GroupPolicy {
        update_pooling: true,
        update_count: 1,
        update_interval_secs: 60,
        ..GroupPolicy::default()
    })
    .await;
    s.move_channel("1.1.0").await;
    for i in 0..3 {
        s.omaha(&check_request(&format!("m{i}"), "1.0.0")).await;
    }
    s.flush().await;
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;

    let apps = b.get("/apps").await;
    assert!(
        apps.body.contains(r#"<td class="num">3</td></tr>"#),
        "3 instances"
    );
    // The overview: updating, none of the three on the target yet, a minute a grant.
    let overview = b.get("/").await;
    assert!(
        overview.body.contains(&format!(
            r#"<tr data-app="{APP}" data-group="stable" data-state="updating" data-attention="">"#
        )),
        "{}",
        overview.body
    );
    assert!(
        overview
            .body
            .contains(r#"data-on-target="0" data-instances="3""#)
    );
    assert!(
        overview
            .body
            .contains("at most 1 per 60 s (60/h); 0 completed in the last hour")
    );
    assert!(
        overview
            .body
            .contains("about 2026-11-27 08:03 UTC (in 3 min)")
    );
    let app = b.get(&format!("/apps/{APP}")).await;
    assert_eq!(app.status, 200);
    assert!(app.body.contains("1.0.0: 3"));
    assert!(app.body.contains("at most 1 per 60 s"));
    assert!(
        app.body
            .contains("https://pkg.example.test/1.1.0/update.gz")
    );

    let group = b.get(GROUP).await;
    assert_eq!(group.status, 200);
    // m0 was granted the update; the others wait for the rate limit, which the page says
    // with the time it frees up.
    assert!(
        group.body.contains("<strong>1</strong> are updating"),
        "{}",
        group.body
    );
    assert!(group.body.contains(
        r#"<li data-reason="rate_limited"><strong>2</strong>: rate limited until 2026-11-27T08:01:00Z."#
    ));
    assert!(
        group.body.contains(&format!(
            r#"id="live" data-refresh="5" data-src="{GROUP}?live=1""#
        )),
        "refreshes while running"
    );
    assert!(
        group
            .body
            .contains(">granted</a></th><td class=\"num\">1</td>")
    );

    let graphs = b.get(&format!("{GROUP}/graphs?range=1h")).await;
    assert_eq!(graphs.status, 200);
    assert!(graphs.body.contains(r#"data-series="1.0.0""#));
    // The time axis starts with the first count: this minute's.
    assert!(
        graphs
            .body
            .contains(r#"data-series="1.0.0" data-values="3""#),
        "3 instances this minute, and no minute before the group had any"
    );
    let minute = "2026-11-27T08:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second();
    assert!(graphs.body.contains(&format!(r#"data-first="{minute}""#)));
    for range in ["1d", "7d", "30d"] {
        let answer = b.get(&format!("{GROUP}/graphs?range={range}")).await;
        assert_eq!(answer.status, 200, "{range}");
        assert!(answer.body.contains(r#"aria-current="page""#));
    }

    let search = b.get("/instances?q=m1").await;
    assert!(
        search.body.contains("<p>1 instances.</p>"),
        "{}",
        search.body
    );
    assert!(search.body.contains(&format!("/apps/{APP}/instances/m1")));
    let one = b.get(&format!("/apps/{APP}/instances/m0")).await;
    assert_eq!(one.status, 200);
    assert!(one.body.contains("granted update to 1.1.0"));
    let activity = b.get("/activity").await;
    assert_eq!(activity.status, 200);
    for page in [&apps, &app, &group, &graphs, &search, &one, &activity] {
        assert!(page.body.contains(r##"<a class="skip" href="#content">"##));
    }
    s.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_server_serves_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pair = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, pair.cert.pem()).unwrap();
    std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
    let data = dir.path().join("data");
    let server = crate::processes::ServerProcess::start(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--admin-key",
        ADMIN_KEY,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
    .await;
    let client = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(pair.cert.pem().as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://{}", server.addr);
    let form = client.get(format!("{base}/login")).send().await.unwrap();
    let pre = form
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(pre.ends_with("; Secure"), "{pre}");
    let token = csrf_of(&form.text().await.unwrap());
    let login = client
        .post(format!("{base}/login"))
        .header("cookie", format!("us_login={}", cookie_value(&pre)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&user=admin&key={ADMIN_KEY}",
            urlencode(&token)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("us_session="))
        .unwrap();
    assert!(session.ends_with("; Secure"), "{session}");
    server.terminate().await;
}

#[tokio::test]
async fn a_channel_is_promoted_from_the_application_page() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;
    let app = format!("/apps/{APP}");
    let page = b.get(&app).await;
    assert!(
        page.body
            .contains(r#"<option value="1.1.0">1.1.0</option>"#)
    );
    assert!(
        page.body
            .contains(r#"<option value="1.0.0" selected>1.0.0</option>"#)
    );
    let token = csrf_of(&page.body);
    let path = format!("{app}/channels/stable");

    let refused = b.post(&path, &[("version", "1.1.0")]).await;
    assert_eq!(refused.status, 403);
    let bad = b
        .post(&path, &[("csrf", &token), ("version", "one point one")])
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains(r#"role="alert""#) && bad.body.contains("one point one"));
    let unknown = b
        .post(
            &format!("{app}/channels/nightly"),
            &[("csrf", &token), ("version", "1.1.0")],
        )
        .await;
    assert_eq!(unknown.status, 404);
    let (_, channels) = s
        .api(
            "GET",
            &format!("/_ah/api/update/v1/apps/{APP}/channels"),
            None,
        )
        .await;
    assert_eq!(channels["items"][0]["version"], "1.0.0", "unchanged");

    let saved = b
        .post(
            &path,
            &[("csrf", &token), ("version", "1.1.0"), ("publish", "on")],
        )
        .await;
    assert_eq!(saved.status, 303);
    assert_eq!(saved.location, format!("{app}?saved=stable"));
    let (_, channels) = s
        .api(
            "GET",
            &format!("/_ah/api/update/v1/apps/{APP}/channels"),
            None,
        )
        .await;
    assert_eq!(channels["items"][0]["version"], "1.1.0");
    assert_eq!(channels["items"][0]["publish"], true);
    let page = b.get(&saved.location).await;
    assert!(page.body.contains("Channel stable is saved."));
    // The group follows: its instances are now offered 1.1.0.
    let (_, response) = s.omaha(&check_request("m1", "1.0.0")).await;
    assert_eq!(
        response.apps[0].update_check.as_ref().unwrap().status,
        Some(omaha_proto::codes::UpdateCheckStatus::Ok)
    );
    s.stop().await;
}

/// A group that paused itself on failures shows as paused wherever an operator's pause
/// does: the group list (API), the application page, the group's header and policy
/// summary, and "why not updating" (the list said "updating" and `updatesPaused` false).
async fn an_automatic_pause_shows_everywhere(s: TestServer) {
    s.move_channel("1.1.0").await;
    let (_, response) = s.omaha(&check_request("m-failing", "1.0.0")).await;
    assert_eq!(
        response.apps[0].update_check.as_ref().unwrap().status,
        Some(omaha_proto::codes::UpdateCheckStatus::Ok)
    );
    let failure = omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        omaha_proto::request::Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(
        omaha_proto::request::App::new(APP, "1.0.0")
            .with_track("stable")
            .with_machine_id("m-failing")
            .with_event(omaha_proto::request::Event::error(2000)),
    );
    s.omaha(&failure).await;
    // Another instance is held back by the pause.
    let (_, response) = s.omaha(&check_request("m-waiting", "1.0.0")).await;
    assert_eq!(
        response.apps[0].update_check.as_ref().unwrap().status,
        Some(omaha_proto::codes::UpdateCheckStatus::NoUpdate)
    );

    let (status, list) = s
        .api(
            "GET",
            &format!("/_ah/api/update/v1/apps/{APP}/groups"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let group = &list["items"][0];
    assert_eq!(
        group["updatesPaused"], false,
        "the operator did not pause it"
    );
    let at = group["autoPausedAt"].as_str().unwrap();
    assert!(at.starts_with("2026-11-27T08:00:00"), "{group}");

    let mut b = Browser::new(&s);
    assert_eq!(b.login("admin", ADMIN_KEY, &[]).await.status, 303);
    let app_page = b.get(&format!("/apps/{APP}")).await;
    assert_eq!(app_page.status, 200);
    assert!(
        app_page.body.contains("paused automatically"),
        "{}",
        app_page.body
    );
    assert!(!app_page.body.contains("updating"), "{}", app_page.body);
    let group_page = b.get(GROUP).await;
    assert_eq!(group_page.status, 200);
    assert!(
        group_page.body.contains(
            r#"data-state="auto_paused">paused automatically</span> at 2026-11-27 08:00:00 UTC: 1 of the last 1 attempts failed (threshold: 1 failures of the last 1 attempts)"#
        ),
        "{}",
        group_page.body
    );
    // A Resume button, and the errors one click away.
    assert!(
        group_page
            .body
            .contains(r#"id="resume-button">Resume updates</button>"#)
    );
    assert!(group_page.body.contains(&format!(
        r#"<a href="/errors?app={APP}&amp;group=stable&amp;period=1d" id="errors-link">Look at the errors</a>"#
    )));
    let errors = b.get(&format!("/errors?app={APP}&group=stable")).await;
    assert_eq!(errors.status, 200);
    assert!(
        errors
            .body
            .contains(r#"data-machine="m-failing" data-code="2000" data-count="1""#),
        "{}",
        errors.body
    );
    // The overview lists it first, as needing attention.
    let overview = b.get("/").await;
    assert!(
        overview.body.contains(&format!(
            r#"<tr data-app="{APP}" data-group="stable" data-state="auto_paused" data-attention="auto_paused failing" class="needs-attention">"#
        )),
        "{}",
        overview.body
    );
    // The live part alone, for the page's script.
    let live = b.get(&format!("{GROUP}?live=1")).await;
    assert!(
        live.body.starts_with(r#"<div id="live" data-refresh="5""#),
        "{}",
        live.body
    );
    assert!(!live.body.contains("<html"));
    let summary = group_page.body.split("<h2>Policy</h2>").nth(1).unwrap();
    assert!(
        summary.starts_with("\n<p class=\"muted\">paused automatically"),
        "{summary}"
    );
    assert!(
        group_page.body.contains(r#"data-reason="auto_paused""#),
        "{}",
        group_page.body
    );

    // Unpausing lifts it, everywhere.
    let (status, _) = s
        .api(
            "PATCH",
            &format!("/_ah/api/update/v1/apps/{APP}/groups/stable"),
            Some(serde_json::json!({"appId": APP, "id": "stable", "label": "Stable", "channelId": "stable"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = s
        .api(
            "GET",
            &format!("/_ah/api/update/v1/apps/{APP}/groups"),
            None,
        )
        .await;
    assert_eq!(list["items"][0]["autoPausedAt"], "");
    let app_page = b.get(&format!("/apps/{APP}")).await;
    assert!(!app_page.body.contains("paused automatically"));
    s.stop().await;
}

fn auto_pausing() -> GroupPolicy {
    GroupPolicy {
        auto_pause: Some(update_server::policy::AutoPauseDoc {
            failures_count: Some(1),
            failures_percent: None,
            last_attempts: 1,
            count_timeouts: false,
        }),
        ..GroupPolicy::default()
    }
}

#[tokio::test]
async fn an_automatic_pause_shows_everywhere_on_sqlite() {
    an_automatic_pause_shows_everywhere(TestServer::start_sqlite(auto_pausing()).await).await;
}

#[tokio::test]
async fn an_automatic_pause_shows_everywhere_on_postgres() {
    if let Some(s) = TestServer::start_postgres(auto_pausing()).await {
        an_automatic_pause_shows_everywhere(s).await;
    }
}
#[tokio::test]
async fn the_pages_say_when_a_channels_package_or_its_payload_is_missing() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;
    s.move_channel("3.0.0").await;
    let group = b.get(GROUP).await;
    assert!(
        group
            .body
            .contains("no package for it: instances get no update until one exists"),
        "{}",
        group.body
    );
    // Registered without a URL (updateservicectl package create without --url).
    let (status, _) = s
        .api(
            "POST",
            &format!("/_ah/api/update/v1/apps/{APP}/packages/3.0.0"),
            Some(serde_json::json!({"size": "5",
                "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="})),
        )
        .await;
    assert_eq!(status, 200);
    let group = b.get(GROUP).await;
    assert!(
        group.body.contains(
            "its package has no payload yet: instances get no update until it is uploaded"
        ),
        "{}",
        group.body
    );
    let app = b.get(&format!("/apps/{APP}")).await;
    assert!(
        app.body.contains("payload missing: upload it"),
        "{}",
        app.body
    );
}

/// Wrong keys on the login form are throttled per client address: after the burst the form
/// answers 429 with `Retry-After` without checking the key, and the right key works once the
/// address's bucket has refilled.
#[tokio::test]
async fn panel_logins_are_throttled() {
    use update_server::throttle::{ADDRESS_BURST, ADDRESS_REFILL_MS};
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    for _ in 0..ADDRESS_BURST {
        assert_eq!(b.login("admin", "wrong-key", &[]).await.status, 401);
    }
    for key in ["wrong-key", ADMIN_KEY] {
        let answer = b.login("admin", key, &[]).await;
        assert_eq!(answer.status, 429, "{key}");
        assert!(
            answer.body.contains("Too many failed logins"),
            "{}",
            answer.body
        );
        assert!(answer.cookie("us_session").is_none());
    }
    s.clock.advance_secs(ADDRESS_REFILL_MS / 1000);
    let answer = b.login("admin", ADMIN_KEY, &[]).await;
    assert_eq!((answer.status, answer.location.as_str()), (303, "/"));
    s.stop().await;
}

#[tokio::test]
async fn failed_instances_show_their_error_name_and_retry_delay() {
    use omaha_proto::request::{App, Event, Os};
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    s.move_channel("1.1.0").await;
    s.omaha(&check_request("m0", "1.0.0")).await;
    let failure = omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(
        App::new(APP, "1.0.0")
            .with_track("stable")
            .with_machine_id("m0")
            .with_event(Event::error(268_437_959)),
    );
    s.omaha(&failure).await;
    let mut b = Browser::new(&s);
    assert_eq!(b.login("admin", ADMIN_KEY, &[]).await.status, 303);
    let one = b.get(&format!("/apps/{APP}/instances/m0")).await;
    assert_eq!(one.status, 200);
    assert!(
        one.body.contains("error code 268437959 (HTTP 503)"),
        "{}",
        one.body
    );
    assert!(
        one.body
            .contains("not offered 1.1.0 again before 2026-11-27 09:00:00"),
        "{}",
        one.body
    );
    let group = b.get(GROUP).await;
    assert!(
        group.body.contains("retrying after failure until"),
        "{}",
        group.body
    );
    s.stop().await;
}

#[tokio::test]
async fn the_app_page_shows_architectures_files_floors_and_the_blacklist() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let v1 = format!("/_ah/api/update/v1/apps/{APP}");
    let sha256 = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";
    let calls = [
        (
            "PUT",
            format!("{v1}/packages/1.1.0/arches/arm64"),
            Some(serde_json::json!({
                "url": "https://pkg.example.test/arm64/1.1.0/update.gz",
                "size": "5",
                "sha256Sum": sha256,
            })),
        ),
        (
            "PUT",
            format!("{v1}/packages/1.1.0/files/oem-qemu.gz"),
            Some(serde_json::json!({"size": "7", "sha256Sum": sha256})),
        ),
        (
            "PUT",
            format!("{v1}/packages/1.1.0/files/oem-azure.gz?arch=arm64"),
            Some(serde_json::json!({"size": "9", "sha256Sum": sha256})),
        ),
        (
            "PUT",
            format!("{v1}/channels/stable/floors/1.0.5"),
            Some(serde_json::json!({"reason": "disk <layout> migration"})),
        ),
        ("PUT", format!("{v1}/channels/stable/blacklist/1.0.7"), None),
    ];
    for (method, path, body) in calls {
        let (status, answer) = s.api(method, &path, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;
    let app = b.get(&format!("/apps/{APP}")).await;
    assert_eq!(app.status, 200);
    for text in [
        "files: <code>oem-qemu.gz</code> (7 bytes)",
        "arm64: <code>https://pkg.example.test/arm64/1.1.0/update.gz</code>, files: <code>oem-azure.gz</code> (9 bytes)",
        "1.0.5: disk &lt;layout&gt; migration",
        "<span class=\"muted\">Never offered:</span> 1.0.7",
    ] {
        assert!(app.body.contains(text), "{text}: {}", app.body);
    }
    s.stop().await;
}

#[tokio::test]
async fn the_upstreams_page_shows_each_upstreams_last_sync() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    // An Omaha upstream nobody answers at (a port just closed), and one of kind admin.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    for body in [
        serde_json::json!({
            "url": format!("http://{closed}/v1/update/"), "label": "Flatcar <public>",
            "kind": "omaha", "appId": APP, "tracks": ["stable", "beta"],
            "arches": ["amd64", "arm64"], "download": true,
        }),
        serde_json::json!({"url": format!("http://{closed}/"), "label": "other"}),
    ] {
        let (status, answer) = s
            .api("POST", "/_ah/api/update/v1/upstream", Some(body))
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;
    let before = b.get("/upstreams").await;
    assert_eq!(before.status, 200);
    assert!(before.body.contains("never"), "{}", before.body);

    let (status, answer) = s
        .api("POST", "/_ah/api/update/v1/upstream/sync", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "error", "{answer}");
    s.store
        .put_channel(&update_server::store::ChannelRecord {
            app_id: APP.into(),
            name: "beta".into(),
            version: "1.1.0".into(),
            publish: false,
            upstream: "1".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    s.refresh_config().await;
    let page = b.get("/upstreams").await;
    assert_eq!(page.status, 200);
    for text in [
        "<a href=\"/upstreams\">Upstreams</a>",
        "Flatcar &lt;public&gt;",
        "tracks stable, beta, amd64, arm64, payloads hosted here",
        "beta</a> at 1.1.0",
        "<span class=\"error\">error</span>",
        "failed: track stable: POST",
        "published channels (admin API)",
        "2026-11-27",
    ] {
        assert!(page.body.contains(text), "{text}: {}", page.body);
    }
    assert!(!page.body.contains("never"), "{}", page.body);
}

#[tokio::test]
async fn webhooks_are_managed_from_their_page_and_the_activity_shows_changes() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut b = Browser::new(&s);
    b.login("admin", ADMIN_KEY, &[]).await;
    let page = b.get("/webhooks").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No webhooks."), "{}", page.body);
    assert!(page.body.contains(r#"<a href="/webhooks">Webhooks</a>"#));
    let token = csrf_of(&page.body);
    let form = |url: &'static str| {
        vec![
            ("url", url),
            ("appId", APP),
            ("failureRatePercent", "25"),
            ("event_auto_paused", "on"),
            ("event_stalled", "on"),
        ]
    };
    // Without the CSRF token: refused, nothing stored.
    assert_eq!(
        b.post("/webhooks", &form("http://127.0.0.1:9/hook"))
            .await
            .status,
        403
    );
    let mut bad = form("ftp://127.0.0.1/hook");
    bad.push(("csrf", &token));
    let refused = b.post("/webhooks", &bad).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains(r#"role="alert""#) && refused.body.contains("http://"));
    let mut good = form("http://127.0.0.1:9/hook");
    good.push(("csrf", &token));
    let saved = b.post("/webhooks", &good).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("shown only now"), "{}", saved.body);
    let hooks = s.store.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].events, "auto_paused,stalled");
    assert_eq!(hooks[0].failure_rate_percent, 25.0);
    let id = hooks[0].id.clone();
    // Disabled from its page, then a test delivery, listed in its log.
    let disabled = b
        .post(
            &format!("/webhooks/{id}/enabled"),
            &[("csrf", &token), ("enabled", "false")],
        )
        .await;
    assert_eq!(disabled.status, 303);
    assert!(!s.store.webhooks().await.unwrap()[0].enabled);
    let tested = b
        .post(&format!("/webhooks/{id}/test"), &[("csrf", &token)])
        .await;
    assert_eq!(tested.status, 303);
    let log = b.get(&tested.location).await;
    assert_eq!(log.status, 200);
    assert!(
        log.body.contains(r#"data-status="pending""#),
        "{}",
        log.body
    );
    assert!(log.body.contains("<code>test</code>"), "{}", log.body);
    // The activity page: what each change changed, the secret never.
    let activity = b.get("/activity").await;
    assert!(
        activity
            .body
            .contains(r#"<li data-field="enabled"><strong>enabled</strong>: <code>true</code> → <code>false</code></li>"#),
        "{}",
        activity.body
    );
    assert!(
        activity.body.contains(r#"<li data-field="secret">"#)
            && activity.body.contains("<code>(secret)</code>")
    );
    let deleted = b
        .post(&format!("/webhooks/{id}/delete"), &[("csrf", &token)])
        .await;
    assert_eq!(deleted.status, 303);
    assert!(s.store.webhooks().await.unwrap().is_empty());
    assert_eq!(b.get(&format!("/webhooks/{id}")).await.status, 404);
    s.stop().await;
}
