//! The status model and the retry delay through `updatectl`, against a server process: a
//! failed instance shows its error and its retry delay until an operator clears it; the
//! graphs count routine check-ins apart from events.

use super::{APP, Server, setup_group};

fn app_id() -> String {
    format!("--app-id={APP}")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn failed_instances_show_their_error_and_wait_until_cleared() {
    let server = Server::start();
    setup_group(&server, "w", "1.0.0");
    let app = app_id();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("update.gz");
    std::fs::write(&file, b"v1.1.0").unwrap();
    server.ok(&[
        "package",
        "create",
        &app,
        "--version=1.1.0",
        &format!("--file={}", file.display()),
        "--url=http://files.example.com/pkgs/update-1.1.0.gz",
    ]);
    server.ok(&[
        "channel",
        "update",
        &app,
        "--channel=stable",
        "--version=1.1.0",
    ]);
    let shown = server.ok(&["group", "show", &app, "--group-id=w"]);
    assert!(shown.contains("Retry Delay\t\t\t3600"), "{shown}");
    assert!(shown.contains("Retry Delay Max\t\t\t86400"), "{shown}");

    // The install fails: the instance reports 3/0 and stays on 1.0.0.
    let failing = server
        .ctl()
        .args([
            "watch",
            &app,
            "--group-id=w",
            "--version=1.0.0",
            "--client-id=failing-1",
            "--checks=1",
            "false",
        ])
        .output()
        .unwrap();
    assert!(failing.status.success(), "{failing:?}");
    let found = json(&server.ok(&["--json", "instance", "search", &app, "--id-prefix=failing"]));
    let instance = &found[0];
    assert_eq!(instance["status"], "error", "{found}");
    assert_eq!(instance["failures"], "1", "{found}");
    let until = instance["retryUntil"].as_str().unwrap();
    assert!(!until.is_empty(), "{found}");
    let table = server.ok(&["instance", "search", &app, "--id-prefix=failing"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("\tError\t") && header.ends_with("\tRetryUntil"),
        "{table}"
    );
    assert!(
        table.contains("\t1 (error)\t"),
        "the code with its name: {table}"
    );
    assert!(table.contains(until), "{table}");

    // The events graph shows the failure and no completion; the check-ins apart.
    let events = json(&server.ok(&["--json", "group", "events", &app, "--group-id=w"]));
    let pairs: Vec<(String, String)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap().to_owned(),
                i["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(pairs.contains(&("3".into(), "0".into())), "{events}");
    assert!(!pairs.contains(&("3".into(), "2".into())), "{events}");
    let check_ins = server.ok(&["group", "check-ins", &app, "--group-id=w"]);
    assert!(check_ins.starts_with("Version"), "{check_ins}");
    assert!(
        check_ins.lines().any(|l| l.starts_with("1.0.0")),
        "{check_ins}"
    );

    // The history names previousversion.
    let history = server.ok(&["instance", "history", "--client-id=failing-1"]);
    assert!(
        history.lines().next().unwrap().ends_with("Previous"),
        "{history}"
    );
    // Events by name with their codes, times in RFC 3339.
    let failure = history
        .lines()
        .find(|l| l.split('\t').any(|c| c == "error (3/0)"))
        .unwrap_or_else(|| panic!("the failure by name: {history}"));
    let time = failure.split('\t').next().unwrap();
    assert!(time.parse::<jiff::Timestamp>().is_ok(), "{failure}");

    // The operator clears the delay of the instance.
    assert_eq!(
        server.ok(&[
            "group",
            "clear-retry",
            &app,
            "--group-id=w",
            "--client-id=failing-1"
        ]),
        "retry delay of failing-1 cleared (1 cleared)\n"
    );
    let found = json(&server.ok(&["--json", "instance", "search", &app, "--id-prefix=failing"]));
    assert_eq!(found[0]["retryUntil"], "", "{found}");
    assert_eq!(
        found[0]["status"], "error",
        "the error stays until the next attempt"
    );
    assert_eq!(
        server.ok(&["group", "clear-retry", &app, "--group-id=w"]),
        "retry delays cleared: 0 instances\n"
    );
    let missing = server.run(&[
        "group",
        "clear-retry",
        &app,
        "--group-id=w",
        "--client-id=nobody",
    ]);
    assert_eq!(missing.status.code(), Some(1));

    // The delay is the group's to set.
    server.ok(&["group", "update", &app, "--group-id=w", "--retry-delay=60"]);
    let shown = json(&server.ok(&["--json", "group", "show", &app, "--group-id=w"]));
    assert_eq!(
        (
            shown["retryDelay"].as_i64(),
            shown["retryDelayMax"].as_i64()
        ),
        (Some(60), Some(86_400))
    );
}
