//! Roles and tokens from the command line: `admin-user create --role --apps`, `set-role`,
//! `list --long`, and `token create`, `list`, `revoke`; a token given as the key is sent as
//! a Bearer token and limited to its role and applications.

use super::{APP, Server, setup_app};

#[test]
fn users_get_roles_and_tokens_are_created_used_and_revoked() {
    let server = Server::start();
    setup_app(&server);
    let app_id = format!("--app-id={APP}");
    server.ok(&[
        "channel",
        "create",
        &app_id,
        "--channel=stable",
        "--version=1.0.0",
    ]);
    server.ok(&[
        "group",
        "create",
        &app_id,
        "--channel=stable",
        "--group-id=g1",
        "--label=G",
    ]);
    // Without --role: an admin of every app, as updateservicectl's users are.
    let key = server
        .ok(&["admin-user", "create", "bob"])
        .trim_end()
        .to_owned();
    let viewer = server
        .ok(&[
            "admin-user",
            "create",
            "vera",
            "--role",
            "viewer",
            "--apps",
            APP,
        ])
        .trim_end()
        .to_owned();
    assert!(!key.is_empty() && !viewer.is_empty());
    assert_eq!(
        server.ok(&["admin-user", "list"]),
        "admin\nbob\nvera\n",
        "one name per line, as updateservicectl prints"
    );
    let long = server.ok(&["admin-user", "list", "--long"]);
    let rows: Vec<Vec<&str>> = long
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["User", "Role", "Apps"],
            vec!["admin", "admin", "*"],
            vec!["bob", "admin", "*"],
            vec!["vera", "viewer", APP],
        ]
    );
    let changed = server.ok(&["admin-user", "set-role", "bob", "--role", "operator"]);
    assert!(
        changed.lines().nth(1).unwrap().starts_with("bob"),
        "{changed}"
    );
    assert!(changed.contains("operator"), "{changed}");

    // A viewer reads and cannot change.
    let as_vera = |args: &[&str]| {
        server
            .ctl()
            .env("UPDATECTL_USER", "vera")
            .env("UPDATECTL_KEY", &viewer)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(as_vera(&["app", "list"]).status.success());
    let refused = as_vera(&["group", "pause", &app_id, "--group-id=g1"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(
            "Error 403: forbidden: this needs the operator role; user vera has the viewer role"
        ),
        "{stderr}"
    );

    // Tokens.
    let bad = server.run(&[
        "token",
        "create",
        "ci",
        "--role",
        "operator",
        "--expires",
        "soon",
    ]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let token = server
        .ok(&[
            "token",
            "create",
            "ci",
            "--role",
            "operator",
            "--apps",
            APP,
            "--expires",
            "30d",
        ])
        .trim_end()
        .to_owned();
    assert!(token.starts_with("ust_"), "{token}");
    let list = server.ok(&["token", "list"]);
    let row: Vec<&str> = list.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..3], ["ci", "operator", APP], "{list}");
    assert_eq!(row[4], "never", "{list}");
    let as_ci = |args: &[&str]| {
        server
            .ctl()
            .env("UPDATECTL_USER", "anyone")
            .env("UPDATECTL_KEY", &token)
            .args(args)
            .output()
            .unwrap()
    };
    let apps = as_ci(&["app", "list"]);
    assert!(apps.status.success(), "{apps:?}");
    assert!(String::from_utf8_lossy(&apps.stdout).contains(APP));
    let users = as_ci(&["admin-user", "list"]);
    assert_eq!(
        users.status.code(),
        Some(1),
        "an operator token lists no users"
    );
    // Its last use is written behind the request: wait for it, bounded.
    let used = (0..100).any(|_| {
        let list = server.ok(&["token", "list"]);
        let used = !list.lines().nth(1).unwrap().contains("never");
        if !used {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        used
    });
    assert!(used, "its use is recorded");
    assert_eq!(server.ok(&["token", "revoke", "ci"]), "Token ci revoked\n");
    assert_eq!(as_ci(&["app", "list"]).status.code(), Some(1), "revoked");
    assert_eq!(
        server.ok(&["token", "list"]).lines().count(),
        1,
        "only the header"
    );
}
