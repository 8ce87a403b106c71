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
