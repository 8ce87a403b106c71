//! The OpenAPI document against the router: every documented operation is routed, and every
//! route of the admin API is documented.

use crate::support::TestServer;
use std::collections::BTreeSet;
use update_server::openapi::{OPERATIONS, PATH};
use update_server::policy::GroupPolicy;

/// `{appId}` and `{app}` name the same segment.
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

/// The route paths registered in a source file (`.route("...")` literals).
fn routes_in(source: &str) -> Vec<String> {
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let literal = rest.strip_prefix('"')?;
            Some(literal[..literal.find('"')?].to_owned())
        })
        .collect()
}

#[test]
fn every_admin_route_is_documented() {
    let documented: BTreeSet<String> = OPERATIONS.iter().map(|o| shape(o.path)).collect();
    let admin = routes_in(include_str!("../../src/admin/mod.rs"));
    assert!(admin.len() > 20, "the scan finds the admin routes");
    let mut missing = Vec::new();
    for route in admin {
        let full = if route.starts_with("/admin/v1") {
            route.clone()
        } else {
            format!("{}{route}", update_server::admin::API_PREFIX)
        };
        if !documented.contains(&shape(&full)) {
            missing.push(full);
        }
    }
    // Routes mounted at the root by the payload hosting and backup modules.
    for source in [
        include_str!("../../src/hosting.rs"),
        include_str!("../../src/backup.rs"),
    ] {
        for route in routes_in(source) {
            if !documented.contains(&shape(&route)) {
                missing.push(route);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    for operation in OPERATIONS {
        let path = operation
            .path
            .replace("{appId}", crate::support::APP)
            .replace("{groupId}", "stable")
            .replace("{version}", "1.0.0")
            .replace("{label}", "stable")
            .replace("{kind}", "versions")
            .replace("{dateStart}", "0")
            .replace("{dateEnd}", "0")
            .replace("{userName}", "nobody")
            .replace("{id}", "1")
            .replace("{name}", "no-such-payload.gz");
        let method = operation.method.to_uppercase();
        let body = operation.request.map(|_| serde_json::json!({}));
        let (status, body) = s.api(&method, &path, body).await;
        // Unrouted: 404 with an empty body, or 405. A routed request that fails for want of
        // data answers with CoreUpdate's error body.
        assert_ne!(status, 405, "{method} {path} is not routed");
        assert!(
            status != 404 || body["error"].is_object(),
            "{method} {path} is not routed"
        );
    }
    let response = reqwest::get(format!("http://{}{PATH}", s.addr()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    s.stop().await;
}
