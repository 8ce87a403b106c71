//! Access control, table-driven: every operation of the OpenAPI table and every action of
//! the panel's table, against every role and scope (users over Basic and Hawk, tokens over
//! Bearer and Basic), allowed or refused with 403; a refusal is the same whether what it
//! names exists or not. The routes are checked against the tables in both directions, so an
//! endpoint without a declared permission fails here. Then tokens (expiry, revocation,
//! scope, last use), role changes and the activity log's actors. On SQLite and PostgreSQL.

use crate::panel::{Browser, csrf_of};
use crate::support::{ADMIN_KEY, APP, TestServer};
use base64::Engine as _;
use serde_json::json;
use update_server::access::{AppIn, Permission, Role};
use update_server::clock::Clock as _;
use update_server::openapi::{OPERATIONS, Operation};
use update_server::policy::GroupPolicy;

const V1: &str = "/_ah/api/update/v1";
/// An app that exists besides [`APP`], for scopes that leave [`APP`] out.
const OTHER: &str = "other-app";

/// How a principal signs its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A user's key, Basic.
    Basic,
    /// A user's key, Hawk.
    Hawk,
    /// A token, Bearer.
    Bearer,
    /// A token as a Basic password.
    TokenBasic,
}

/// One principal of the matrix.
#[derive(Debug, Clone)]
struct Who {
    name: String,
    secret: String,
    role: Role,
    /// `None`: every app.
    apps: Option<&'static str>,
    via: Via,
}

impl Who {
    fn authorization(&self, s: &TestServer, method: &str, path: &str, nonce: &str) -> String {
        let basic = |user: &str, key: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"))
            )
        };
        match self.via {
            Via::Basic => basic(&self.name, &self.secret),
            Via::TokenBasic => basic(&self.name, &self.secret),
            Via::Bearer => format!("Bearer {}", self.secret),
            Via::Hawk => s.hawk_header(
                &self.name,
                &self.secret,
                method,
                path,
                nonce,
                s.clock.now().as_second(),
            ),
        }
    }

    /// What the table says, worked out here on its own: the role must reach the
    /// permission; a scoped principal gets apps of its scope (the requests name [`APP`]),
    /// listings and harmless reads, and nothing of the whole service.
    fn expected(&self, permission: Permission, app: AppIn) -> bool {
        let rank = |r: Role| match r {
            Role::Viewer => 0,
            Role::Operator => 1,
            Role::Admin => 2,
        };
        let needed = match permission {
            Permission::Read => Role::Viewer,
            Permission::Operate => Role::Operator,
            Permission::Admin => Role::Admin,
        };
        if rank(self.role) < rank(needed) {
            return false;
        }
        match (self.apps, app) {
            (None, _) | (Some(_), AppIn::Listing | AppIn::None) => true,
            (Some(scope), AppIn::Path(_) | AppIn::Query(_)) => scope == APP,
            (Some(_), AppIn::Global) => false,
        }
    }
}

/// Creates the principals: users of every role, every app or [`APP`] or [`OTHER`] only,
/// over Basic and Hawk, and tokens over Bearer and Basic.
async fn principals(s: &TestServer) -> Vec<Who> {
    let (status, app) = s
        .api(
            "POST",
            &format!("{V1}/apps"),
            Some(json!({"id": OTHER, "label": "Other"})),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    let mut all = vec![Who {
        name: "admin".into(),
        secret: ADMIN_KEY.into(),
        role: Role::Admin,
        apps: None,
        via: Via::Hawk,
    }];
    let scopes: [Option<&'static str>; 3] = [None, Some(APP), Some(OTHER)];
    for role in Role::ALL {
        for (i, scope) in scopes.iter().enumerate() {
            let name = format!("{role}-{i}");
            let apps: Vec<&str> = scope.iter().copied().collect();
            let (status, user) = s
                .api(
                    "POST",
                    &format!("{V1}/admin/user"),
                    Some(json!({"userName": name, "role": role.as_str(), "apps": apps})),
                )
                .await;
            assert_eq!(status, 200, "{user}");
            assert_eq!(user["role"], role.as_str());
            all.push(Who {
                name: name.clone(),
                secret: user["token"].as_str().unwrap().to_owned(),
                role,
                apps: *scope,
                via: if i == 1 { Via::Hawk } else { Via::Basic },
            });
            let token_name = format!("ci-{role}-{i}");
            let (status, token) = s
                .api(
                    "POST",
                    &format!("{V1}/admin/tokens"),
                    Some(json!({
                        "name": token_name,
                        "role": role.as_str(),
                        "apps": apps,
                        "expiresAt": "2027-01-01T00:00:00Z",
                    })),
                )
                .await;
            assert_eq!(status, 200, "{token}");
            all.push(Who {
                name: token_name,
                secret: token["token"].as_str().unwrap().to_owned(),
                role,
                apps: *scope,
                via: if i == 2 { Via::TokenBasic } else { Via::Bearer },
            });
        }
    }
    all
}

/// A path of the table with its parameters filled: the app is `app`.
fn concrete(path: &str, app: &str) -> String {
    path.replace("{appId}", app)
        .replace("{app}", app)
        .replace("{groupId}", "stable")
        .replace("{group}", "stable")
        .replace("{version}", "1.0.0")
        .replace("{label}", "stable")
        .replace("{channel}", "stable")
        .replace("{kind}", "versions")
        .replace("{dateStart}", "0")
        .replace("{dateEnd}", "0")
        .replace("{userName}", "nobody")
        .replace("{tokenName}", "nobody")
        .replace("{id}", "1")
        .replace("{arch}", "arm64")
        .replace("{machine}", "m1")
        .replace("{name}", "nobody")
}

/// The request for an operation of either table, naming `app` where it names one.
fn request_path(operation: &Operation, app: &str) -> String {
    let path = concrete(operation.path, app);
    match operation.access.map(|a| a.app) {
        Some(AppIn::Query(name)) => format!("{path}?{name}={app}"),
        _ => path,
    }
}

/// Whether an answer is the authorization's refusal (403 with its message).
fn refused(status: u16, message: &str) -> bool {
    status == 403 && message.contains("forbidden: ")
}

async fn call(s: &TestServer, who: &Who, method: &str, path: &str, nonce: &str) -> (u16, String) {
    let header = who.authorization(s, method, path, nonce);
    let body = (method != "GET" && method != "DELETE").then(|| json!({}));
    let (status, answer) = s.api_with_header(method, path, body, Some(header)).await;
    let message = answer["error"]["message"]
        .as_str()
        .map_or_else(|| answer.to_string(), str::to_owned);
    (status, message)
}

async fn every_operation_against_every_principal(s: TestServer) {
    let who = principals(&s).await;
    let mut nonce = 0u32;
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for operation in OPERATIONS {
        let Some(access) = operation.access else {
            continue;
        };
        let method = operation.method.to_uppercase();
        for principal in &who {
            nonce += 1;
            let path = request_path(operation, APP);
            let (status, message) = call(&s, principal, &method, &path, &format!("m{nonce}")).await;
            assert_ne!(status, 401, "{principal:?} {method} {path}: {message}");
            let expected = principal.expected(access.permission, access.app);
            if refused(status, &message) == expected {
                mismatches.push(format!(
                    "{method} {path} as {} ({:?}): expected {}, got {status} {message}",
                    principal.name,
                    principal.via,
                    if expected { "allowed" } else { "403" }
                ));
            }
            checked += 1;
            // Outside the scope, an app that exists and one that does not get the same
            // refusal, word for word.
            if principal.apps.is_some_and(|a| a != APP)
                && matches!(access.app, AppIn::Path(_) | AppIn::Query(_))
                && principal.role >= access.permission.least_role()
            {
                let missing = request_path(operation, "no-such-app");
                nonce += 1;
                let (status_missing, message_missing) =
                    call(&s, principal, &method, &missing, &format!("m{nonce}")).await;
                assert_eq!(
                    (status, &message),
                    (status_missing, &message_missing),
                    "{method} {path} as {}: the refusal tells whether the app exists",
                    principal.name
                );
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked} checks disagree with the table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(checked > 1000, "the matrix ran ({checked})");
    s.stop().await;
}

#[tokio::test]
async fn every_operation_against_every_principal_on_sqlite() {
    every_operation_against_every_principal(TestServer::start_sqlite(GroupPolicy::default()).await)
        .await;
}

#[tokio::test]
async fn every_operation_against_every_principal_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        every_operation_against_every_principal(s).await;
    }
}

async fn every_panel_action_against_every_role(s: TestServer) {
    let who: Vec<Who> = principals(&s)
        .await
        .into_iter()
        .filter(|w| matches!(w.via, Via::Basic | Via::Hawk))
        .collect();
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for principal in &who {
        let mut browser = Browser::new(&s);
        let login = browser.login(&principal.name, &principal.secret, &[]).await;
        assert_eq!(
            login.status, 303,
            "{} logs in: {}",
            principal.name, login.body
        );
        // Every role reads the overview, whose forms carry the session's CSRF token.
        let home = browser.get("/").await;
        assert_eq!(home.status, 200, "{}", principal.name);
        let csrf = csrf_of(&home.body);
        // A scoped principal's pages never name an app outside its scope.
        for page in ["/apps", "/errors?app=", "/instances?app=", "/activity?app="] {
            let path = if page.ends_with('=') {
                format!("{page}{APP}")
            } else {
                page.to_owned()
            };
            let answer = browser.get(&path).await;
            if principal.apps == Some(APP) {
                assert_eq!(answer.status, 200, "{path} as {}", principal.name);
                assert!(
                    !answer.body.contains(OTHER),
                    "{path} as {} names {OTHER}",
                    principal.name
                );
            } else if principal.apps.is_none() && page == "/apps" {
                assert!(answer.body.contains(OTHER), "the check can see {OTHER}");
            }
        }
        for action in update_server::panel::ACTIONS {
            let Some(access) = action.access else {
                continue;
            };
            let path = request_path(action, APP);
            let answer = if action.method == "post" {
                browser.post(&path, &[("csrf", &csrf)]).await
            } else {
                browser.get(&path).await
            };
            let expected = principal.expected(access.permission, access.app);
            if refused(answer.status, &answer.body) == expected {
                mismatches.push(format!(
                    "{} {path} as {}: expected {}, got {}",
                    action.method,
                    principal.name,
                    if expected { "allowed" } else { "403" },
                    answer.status
                ));
            }
            checked += 1;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {checked} panel checks disagree with the table:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    s.stop().await;
}

#[tokio::test]
async fn every_panel_action_against_every_role_on_sqlite() {
    every_panel_action_against_every_role(TestServer::start_sqlite(GroupPolicy::default()).await)
        .await;
}

#[tokio::test]
async fn every_panel_action_against_every_role_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        every_panel_action_against_every_role(s).await;
    }
}

/// `{appId}`, `{app}` and the others name one segment each.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `(method, path)` of every `.route(path, get(..).post(..))` of a source file.
fn routes_with_methods(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for rest in source.split(".route(").skip(1) {
        let rest = rest.trim_start();
        let Some(literal) = rest.strip_prefix('"') else {
            continue;
        };
        let Some(end) = literal.find('"') else {
            continue;
        };
        let path = literal[..end].to_owned();
        // The handlers of this route: up to the next route.
        let handlers = &literal[end..];
        let handlers = handlers.split(".route").next().unwrap_or(handlers);
        for method in ["get", "post", "put", "patch", "delete"] {
            let call = format!("{method}(");
            let named = handlers.match_indices(&call).any(|(at, _)| {
                !handlers[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if named {
                found.push((method.to_owned(), path.clone()));
            }
        }
    }
    found
}

#[test]
fn every_route_declares_what_it_requires() {
    let admin = routes_with_methods(include_str!("../../src/admin/mod.rs"));
    let mut missing = Vec::new();
    for (method, route) in &admin {
        let full = if route.starts_with("/admin/v1") {
            route.clone()
        } else {
            format!("{V1}{route}")
        };
        let operation = OPERATIONS
            .iter()
            .find(|o| o.method == method && shape(o.path) == shape(&full));
        match operation {
            Some(o)
                if o.access.is_some() || full.contains("/public/") || full == "/admin/v1/init" => {}
            _ => missing.push(format!("{method} {full}")),
        }
    }
    for source in [
        include_str!("../../src/hosting.rs"),
        include_str!("../../src/backup.rs"),
        include_str!("../../src/upstream/mod.rs"),
    ] {
        for (method, route) in routes_with_methods(source) {
            if !OPERATIONS
                .iter()
                .any(|o| o.method == method && shape(o.path) == shape(&route))
            {
                missing.push(format!("{method} {route}"));
            }
        }
    }
    assert!(
        admin.len() > 60,
        "the scan finds the admin routes ({})",
        admin.len()
    );
    assert!(
        missing.is_empty(),
        "routes without an entry (and so a permission) in the OpenAPI table: {missing:?}"
    );

    let panel = routes_with_methods(include_str!("../../src/panel/mod.rs"));
    assert!(panel.len() > 25, "the scan finds the panel routes");
    let actions = update_server::panel::ACTIONS;
    let undeclared: Vec<_> = panel
        .iter()
        .filter(|(m, p)| !actions.iter().any(|a| a.method == m && a.path == p))
        .collect();
    assert!(
        undeclared.is_empty(),
        "panel routes without an entry in panel::ACTIONS: {undeclared:?}"
    );
    let unrouted: Vec<_> = actions
        .iter()
        .filter(|a| !panel.iter().any(|(m, p)| a.method == m && a.path == p))
        .map(|a| format!("{} {}", a.method, a.path))
        .collect();
    assert!(
        unrouted.is_empty(),
        "entries of panel::ACTIONS not routed: {unrouted:?}"
    );
}

/// One line of the permission table: `method path permission app`.
fn table_line(operation: &Operation) -> String {
    let (permission, app) = match operation.access {
        None => ("public".to_owned(), String::new()),
        Some(access) => (
            format!("{:?}", access.permission).to_lowercase(),
            match access.app {
                AppIn::Path(name) => format!("path:{name}"),
                AppIn::Query(name) => format!("query:{name}"),
                AppIn::Listing => "listing".to_owned(),
                AppIn::None => "none".to_owned(),
                AppIn::Global => "global".to_owned(),
            },
        ),
    };
    format!("{} {} {permission} {app}", operation.method, operation.path)
        .trim_end()
        .to_owned()
}

/// The whole permission table, API and panel, as reviewed: a change of what any endpoint
/// requires shows in `tests/data/access/permissions.txt`'s diff.
/// `UPDATE_GOLDEN=1 cargo test -p update-server --test it access::the_permission_table`
/// rewrites the file.
#[test]
fn the_permission_table_is_the_reviewed_one() {
    let mut text = String::from("# The admin API, the payload upload and /db/backup\n");
    for operation in OPERATIONS {
        text.push_str(&table_line(operation));
        text.push('\n');
    }
    text.push_str("# The panel\n");
    for action in update_server::panel::ACTIONS {
        text.push_str(&table_line(action));
        text.push('\n');
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/access/permissions.txt"
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
        std::fs::write(path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(path).expect("the reviewed permission table");
    assert_eq!(
        text, expected,
        "the permission table changed: review and bless it"
    );
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

fn basic(user: &str, key: &str) -> Option<String> {
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"))
    ))
}

/// The token `name`'s entry of `GET admin/tokens`.
async fn token_entry(s: &TestServer, name: &str) -> serde_json::Value {
    let (status, list) = s.api("GET", &format!("{V1}/admin/tokens"), None).await;
    assert_eq!(status, 200, "{list}");
    list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// Waits (bounded) until the token's last use reads `expected`: it is written behind the
/// request that used it.
async fn last_use_becomes(s: &TestServer, name: &str, expected: &str) {
    for _ in 0..200 {
        if token_entry(s, name).await["lastUsedAt"] == expected {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "the last use of {name} is {}, not {expected}",
        token_entry(s, name).await["lastUsedAt"]
    );
}

async fn tokens_expire_are_revoked_scoped_and_record_their_use(s: TestServer) {
    let (status, _) = s
        .api("POST", &format!("{V1}/apps"), Some(json!({"id": OTHER})))
        .await;
    assert_eq!(status, 200);
    // Creation is checked.
    for (body, why) in [
        (
            json!({"name": "x", "role": "operator", "expiresAt": "2026-11-27T07:00:00Z"}),
            "in the past",
        ),
        (
            json!({"name": "x", "role": "operator", "expiresAt": "2028-11-27T07:00:00Z"}),
            "too far",
        ),
        (
            json!({"name": "x", "role": "operator", "expiresAt": "soon"}),
            "not a time",
        ),
        (
            json!({"name": "x", "role": "root", "expiresAt": "2026-12-01T00:00:00Z"}),
            "no such role",
        ),
        (
            json!({"name": "x", "expiresAt": "2026-12-01T00:00:00Z"}),
            "no role",
        ),
        (
            json!({"name": "a b", "role": "viewer", "expiresAt": "2026-12-01T00:00:00Z"}),
            "a space",
        ),
        (
            json!({"name": "x", "role": "viewer", "apps": [""], "expiresAt": "2026-12-01T00:00:00Z"}),
            "an empty app",
        ),
    ] {
        let (status, answer) = s
            .api("POST", &format!("{V1}/admin/tokens"), Some(body))
            .await;
        assert_eq!(status, 400, "{why}: {answer}");
    }
    let (status, created) = s
        .api(
            "POST",
            &format!("{V1}/admin/tokens"),
            Some(json!({
                "name": "ci",
                "role": "operator",
                "apps": [format!("{{{}}}", APP.to_uppercase())],
                "expiresAt": "2026-11-27T09:00:00Z",
            })),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ust_"), "{token}");
    assert_eq!(created["apps"], json!([APP]), "the scope is canonical");
    assert_eq!(created["createdBy"], "admin");
    let (status, _) = s
        .api(
            "POST",
            &format!("{V1}/admin/tokens"),
            Some(json!({"name": "ci", "role": "viewer", "expiresAt": "2026-11-28T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 409, "names are unique");
    let listed = token_entry(&s, "ci").await;
    assert!(
        listed["token"].is_null(),
        "the token is shown once: {listed}"
    );
    assert!(listed["lastUsedAt"].is_null(), "never used yet: {listed}");
    // The secret is sealed at rest: the stored row does not hold it.
    let stored = s.store.tokens().await.unwrap();
    let secret = token.rsplit('_').next().unwrap();
    assert!(
        !stored[0]
            .secret_sealed
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "the secret is not stored in clear"
    );

    // Bearer and Basic (its name as the user) work; the listing keeps to the scope.
    for authorization in [bearer(&token), basic("ci", &token)] {
        let (status, apps) = s
            .api_with_header("GET", &format!("{V1}/apps"), None, authorization)
            .await;
        assert_eq!(status, 200, "{apps}");
        let ids: Vec<&str> = apps["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [APP], "a scoped token lists its apps only");
    }
    last_use_becomes(&s, "ci", "2026-11-27T08:00:00Z").await;
    let forged = format!("{}0", &token[..token.len() - 1]);
    let forged = if forged == token {
        format!("{}1", &token[..token.len() - 1])
    } else {
        forged
    };
    for (authorization, why) in [
        (basic("someone", &token), "another name"),
        (bearer(&forged), "another secret"),
        (
            bearer("ust_0123456789abcdef_0123456789abcdef0123456789abcdef"),
            "no such token",
        ),
        (bearer("not-a-token"), "not a token"),
    ] {
        let (status, answer) = s
            .api_with_header("GET", &format!("{V1}/apps"), None, authorization)
            .await;
        assert_eq!(status, 401, "{why}: {answer}");
        assert_eq!(answer["error"]["message"], "invalid credentials", "{why}");
    }

    // An operator of APP changes APP, and nothing else; the log names the token.
    let group = format!("{V1}/apps/{APP}/groups/stable");
    let (status, answer) = s
        .api_with_header(
            "PATCH",
            &group,
            Some(json!({"label": "Stable", "channelId": "stable", "updatesPaused": true})),
            bearer(&token),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, denied) = s
        .api_with_header(
            "DELETE",
            &format!("{V1}/apps/{OTHER}"),
            None,
            bearer(&token),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        denied["error"]["message"],
        "forbidden: token ci is limited to some applications, and this application is not one of them"
    );
    let (_, missing) = s
        .api_with_header(
            "DELETE",
            &format!("{V1}/apps/no-such-app"),
            None,
            bearer(&token),
        )
        .await;
    assert_eq!(
        missing, denied,
        "the same refusal whether the app exists or not"
    );
    let (status, denied) = s
        .api_with_header("GET", &format!("{V1}/admin/user"), None, bearer(&token))
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        denied["error"]["message"],
        "forbidden: this needs the admin role; token ci has the operator role"
    );
    let (status, _) = s
        .api_with_header(
            "GET",
            &format!("{V1}/activity?appId={OTHER}&appId={APP}"),
            None,
            bearer(&token),
        )
        .await;
    assert_eq!(status, 403, "a repeated appId names no single app");
    let (status, log) = s
        .api_with_header(
            "GET",
            &format!("{V1}/activity?appId={APP}"),
            None,
            bearer(&token),
        )
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["items"][0]["actor"], "token:ci", "{log}");

    // The last use is written at most once a minute.
    s.clock.advance_secs(30);
    let (status, _) = s
        .api_with_header("GET", &format!("{V1}/apps"), None, bearer(&token))
        .await;
    assert_eq!(status, 200);
    s.clock.advance_secs(31);
    let (status, _) = s
        .api_with_header("GET", &format!("{V1}/apps"), None, bearer(&token))
        .await;
    assert_eq!(status, 200);
    last_use_becomes(&s, "ci", "2026-11-27T08:01:01Z").await;

    // Expired: refused, and said so (the secret was right).
    s.clock.set("2026-11-27T09:00:00Z".parse().unwrap());
    let (status, answer) = s
        .api_with_header("GET", &format!("{V1}/apps"), None, bearer(&token))
        .await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"]["message"], "this token has expired");

    // Revoked: refused, and the log says who revoked it.
    let (status, _) = s
        .api(
            "POST",
            &format!("{V1}/admin/tokens"),
            Some(json!({"name": "deploy", "role": "admin", "expiresAt": "2026-12-27T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 200);
    let deploy = s.api("GET", &format!("{V1}/admin/tokens"), None).await.1;
    assert_eq!(deploy["tokens"].as_array().unwrap().len(), 2);
    let (_, created) = s
        .api(
            "POST",
            &format!("{V1}/admin/tokens"),
            Some(json!({"name": "gone", "role": "admin", "expiresAt": "2026-12-27T00:00:00Z"})),
        )
        .await;
    let gone = created["token"].as_str().unwrap().to_owned();
    let (status, _) = s
        .api_with_header("GET", &format!("{V1}/admin/tokens"), None, bearer(&gone))
        .await;
    assert_eq!(status, 200, "an admin token administers");
    let (status, revoked) = s
        .api("DELETE", &format!("{V1}/admin/tokens/gone"), None)
        .await;
    assert_eq!(status, 200, "{revoked}");
    let (status, _) = s
        .api_with_header("GET", &format!("{V1}/apps"), None, bearer(&gone))
        .await;
    assert_eq!(status, 401, "a revoked token is refused");
    let (status, _) = s
        .api("DELETE", &format!("{V1}/admin/tokens/gone"), None)
        .await;
    assert_eq!(status, 404);
    let (_, log) = s.api("GET", &format!("{V1}/activity"), None).await;
    let revoke = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "token.revoke")
        .expect("the revocation is logged");
    assert_eq!(revoke["actor"], "admin");
    s.stop().await;
}

#[tokio::test]
async fn tokens_expire_are_revoked_scoped_and_record_their_use_on_sqlite() {
    tokens_expire_are_revoked_scoped_and_record_their_use(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn tokens_expire_are_revoked_scoped_and_record_their_use_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        tokens_expire_are_revoked_scoped_and_record_their_use(s).await;
    }
}

async fn roles_change_and_an_administrator_of_every_app_remains(s: TestServer) {
    let users = format!("{V1}/admin/user");
    let (status, ops) = s
        .api(
            "POST",
            &users,
            Some(json!({"userName": "ops", "role": "operator"})),
        )
        .await;
    assert_eq!(status, 200, "{ops}");
    let key = ops["token"].as_str().unwrap().to_owned();
    let (status, bad) = s
        .api("POST", &users, Some(json!({"userName": "a:b"})))
        .await;
    assert_eq!(status, 400, "{bad}");
    let (status, changed) = s
        .api(
            "PATCH",
            &format!("{users}/ops"),
            Some(json!({"role": "viewer", "apps": [APP]})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["role"], "viewer");
    let (_, list) = s.api("GET", &users, None).await;
    assert_eq!(
        list["users"],
        json!([
            {"user": "admin", "token": "", "role": "admin"},
            {"user": "ops", "token": "", "role": "viewer", "apps": [APP]},
        ])
    );
    let (status, denied) = s
        .api_with_header(
            "DELETE",
            &format!("{V1}/apps/{APP}/groups/stable"),
            None,
            basic("ops", &key),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        denied["error"]["message"],
        "forbidden: this needs the operator role; user ops has the viewer role"
    );
    // The last administrator of every app stays one.
    for body in [
        json!({"role": "operator"}),
        json!({"role": "admin", "apps": [APP]}),
    ] {
        let (status, answer) = s.api("PATCH", &format!("{users}/admin"), Some(body)).await;
        assert_eq!(status, 409, "{answer}");
    }
    let (status, answer) = s
        .api(
            "PATCH",
            &format!("{users}/ops"),
            Some(json!({"role": "boss"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = s
        .api(
            "PATCH",
            &format!("{users}/ops"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = s
        .api(
            "PATCH",
            &format!("{users}/admin"),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, 200, "another administrator is left: {answer}");
    let (status, answer) = s
        .api_with_header(
            "PATCH",
            &format!("{users}/ops"),
            Some(json!({"role": "viewer"})),
            basic("ops", &key),
        )
        .await;
    assert_eq!(status, 409, "ops is now the last one: {answer}");
    let (_, log) = s
        .api_with_header("GET", &format!("{V1}/activity"), None, basic("ops", &key))
        .await;
    let change = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.role")
        .expect("role changes are logged");
    assert_eq!(change["actor"], "admin");
    s.stop().await;
}

#[tokio::test]
async fn roles_change_and_an_administrator_of_every_app_remains_on_sqlite() {
    roles_change_and_an_administrator_of_every_app_remains(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn roles_change_and_an_administrator_of_every_app_remains_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        roles_change_and_an_administrator_of_every_app_remains(s).await;
    }
}

/// Users of a database from before roles are administrators of every app once it is
/// migrated (0011), and keep their keys.
#[tokio::test]
async fn users_from_before_roles_become_administrators_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let migrations = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&source).unwrap() {
        let file = entry.unwrap().path();
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0011" {
            std::fs::copy(&file, migrations.path().join(&name)).unwrap();
        }
    }
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(migrations.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (name, key_sealed, created_at) VALUES ('old', x'0102', 5)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = update_server::store::SqliteStore::open(&path)
        .await
        .unwrap();
    let user = update_server::store::Store::user(&store, "old")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.role, user.apps, user.key_sealed),
        (Role::Admin, None, vec![1, 2])
    );
}

#[tokio::test]
async fn users_from_before_roles_become_administrators_postgres() {
    let Some((schema, store)) = crate::support::postgres().await else {
        return;
    };
    drop(store);
    let raw = sqlx::PgPool::connect(&schema.url).await.unwrap();
    sqlx::raw_sql(
        "ALTER TABLE users DROP COLUMN role, DROP COLUMN apps; DROP TABLE api_tokens; \
         DELETE FROM _sqlx_migrations WHERE version = 11; \
         INSERT INTO users (name, key_sealed, created_at) VALUES ('old', '\\x0102', 5)",
    )
    .execute(&raw)
    .await
    .unwrap();
    raw.close().await;
    let store = update_server::store::PostgresStore::connect(&schema.url)
        .await
        .unwrap();
    let user = update_server::store::Store::user(&store, "old")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.role, user.apps, user.key_sealed),
        (Role::Admin, None, vec![1, 2])
    );
    drop(store);
    schema.drop().await;
}

/// The panel's tokens page creates a token (shown once), lists it and revokes it.
#[tokio::test]
async fn tokens_are_managed_from_the_panel() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let mut browser = Browser::new(&s);
    assert_eq!(browser.login("admin", ADMIN_KEY, &[]).await.status, 303);
    let page = browser.get("/tokens").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("No tokens."), "{}", page.body);
    let csrf = csrf_of(&page.body);
    let created = browser
        .post(
            "/tokens",
            &[
                ("csrf", &csrf),
                ("name", "dashboard"),
                ("role", "viewer"),
                ("apps", APP),
                ("expiresAt", "2026-12-31T00:00:00Z"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let start = created.body.find("ust_").expect("the token is shown once");
    let token: String = created.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert!(created.body.contains(r#"data-token="dashboard""#));
    let (status, _) = s
        .api_with_header(
            "GET",
            &format!("{V1}/apps/{APP}/groups"),
            None,
            bearer(&token),
        )
        .await;
    assert_eq!(status, 200, "the token works");
    let listed = browser.get("/tokens").await;
    assert!(!listed.body.contains(&token), "shown only once");
    let bad = browser
        .post(
            "/tokens",
            &[
                ("csrf", &csrf),
                ("name", "x"),
                ("role", "viewer"),
                ("expiresAt", "yesterday"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("expiresAt must be an RFC 3339 time"));
    let revoked = browser
        .post("/tokens/dashboard/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(revoked.status, 303);
    assert!(browser.get("/tokens").await.body.contains("No tokens."));
    let (status, _) = s
        .api_with_header("GET", &format!("{V1}/apps"), None, bearer(&token))
        .await;
    assert_eq!(status, 401, "revoked from the panel");
    s.stop().await;
}
