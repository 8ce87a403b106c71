//! The admin API over HTTP: each endpoint as updateservicectl calls it, its JSON, the
//! omitted-field and quirk cases, and authentication.

use crate::support::{ADMIN_KEY, APP, TestServer, check_request};
use serde_json::json;
use update_server::clock::Clock as _;
use update_server::policy::GroupPolicy;

const V1: &str = "/_ah/api/update/v1";

async fn server() -> TestServer {
    TestServer::start_sqlite(GroupPolicy::default()).await
}

#[tokio::test]
async fn apps_are_created_listed_updated_and_deleted() {
    let s = server().await;
    let (status, app) = s
        .api(
            "POST",
            &format!("{V1}/apps?alt=json"),
            Some(json!({"id": "{AB0E7B14-3F41-4BD8-A0B6-2A1E1B0E0D27}", "label": "FakeApp", "description": "Fake app for testing"})),
        )
        .await;
    assert_eq!(status, 200, "{app}");
    assert_eq!(
        app,
        json!({"id": "ab0e7b14-3f41-4bd8-a0b6-2a1e1b0e0d27", "label": "FakeApp", "description": "Fake app for testing"}),
        "braces and case are dropped from the id"
    );
    let (status, list) = s.api("GET", &format!("{V1}/apps?alt=json"), None).await;
    assert_eq!(status, 200);
    let labels: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"FakeApp") && labels.contains(&"Flatcar"));

    // PATCH is a full replace: the omitted description becomes empty.
    let (status, app) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/ab0e7b14-3f41-4bd8-a0b6-2a1e1b0e0d27"),
            Some(json!({"label": "Renamed"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app["description"], "");

    // Without an id, the server generates one.
    let (_, generated) = s
        .api("POST", &format!("{V1}/apps"), Some(json!({"label": "X"})))
        .await;
    assert_eq!(generated["id"].as_str().unwrap().len(), 36);

    let (status, _) = s
        .api(
            "DELETE",
            &format!("{V1}/apps/ab0e7b14-3f41-4bd8-a0b6-2a1e1b0e0d27"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, error) = s
        .api(
            "GET",
            &format!("{V1}/apps/ab0e7b14-3f41-4bd8-a0b6-2a1e1b0e0d27"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["code"], 404);
    assert_eq!(error["error"]["errors"][0]["reason"], "notFound");
    let (status, error) = s
        .api(
            "POST",
            &format!("{V1}/apps"),
            Some(json!({"id": APP, "label": "dup"})),
        )
        .await;
    assert_eq!(
        (status, error["error"]["errors"][0]["reason"].as_str()),
        (409, Some("conflict"))
    );
    s.stop().await;
}

#[tokio::test]
async fn channels_including_the_create_quirk() {
    let s = server().await;
    // updateservicectl's `channel create` puts the label in the app id slot.
    let (status, channel) = s
        .api(
            "POST",
            &format!("{V1}/apps/master/channels"),
            Some(json!({"appId": APP, "label": "master", "version": "1.0.0"})),
        )
        .await;
    assert_eq!(status, 200, "{channel}");
    assert_eq!(channel["appId"], APP);
    assert_eq!(channel["label"], "master");
    assert_eq!(channel["publish"], false);
    assert!(
        channel["dateCreated"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-27T08:00:00")
    );

    // Update: publish omitted means false; a bad version is refused.
    let (status, channel) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/channels/master"),
            Some(json!({"appId": APP, "label": "master", "version": "1.1.0", "publish": true})),
        )
        .await;
    assert_eq!((status, channel["publish"].as_bool()), (200, Some(true)));
    let (status, _) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/channels/master"),
            Some(json!({"version": "not a version"})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, public) = s
        .api_with_header("GET", &format!("{V1}/public/channels"), None, None)
        .await;
    assert_eq!(
        public["items"][0]["label"], "master",
        "public lists need no credentials"
    );

    let (_, list) = s
        .api("GET", &format!("{V1}/apps/{APP}/channels"), None)
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "stable and master"
    );
    let (status, deleted) = s
        .api("DELETE", &format!("{V1}/apps/{APP}/channels/master"), None)
        .await;
    assert_eq!((status, deleted["label"].as_str()), (200, Some("master")));
    let (status, _) = s
        .api("DELETE", &format!("{V1}/apps/{APP}/channels/master"), None)
        .await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn groups_pause_percent_rate_limit_and_extensions() {
    let s = server().await;
    let (status, group) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/groups"),
            Some(json!({"channelId": "stable", "id": "fake1", "label": "Fake Clients"})),
        )
        .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["updatePercent"], 100.0, "a new group admits everyone");
    assert_eq!(group["updatesPaused"], false);

    // v1.4's rate limit, as `group update --update-count=2 --update-interval=60` sends it.
    let (_, group) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/fake1"),
            Some(
                json!({"appId": APP, "id": "fake1", "label": "Fake Clients", "channelId": "stable",
                        "updateCount": 2, "updateInterval": 60}),
            ),
        )
        .await;
    assert_eq!(
        (
            group["updateCount"].as_i64(),
            group["updateInterval"].as_i64()
        ),
        (Some(2), Some(60))
    );

    // v2.1's pause: the whole object without v1.4 fields; the rate limit stays.
    let (_, paused) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/fake1"),
            Some(
                json!({"appId": APP, "id": "fake1", "label": "Fake Clients", "channelId": "stable",
                        "updatesPaused": true, "updatePercent": 100}),
            ),
        )
        .await;
    assert_eq!(paused["updatesPaused"], true);
    assert_eq!(paused["updateCount"], 2);
    // Unpause: the key is absent, which means false.
    let (_, unpaused) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/fake1"),
            Some(
                json!({"appId": APP, "id": "fake1", "label": "Fake Clients", "channelId": "stable",
                        "updatePercent": 100}),
            ),
        )
        .await;
    assert_eq!(unpaused["updatesPaused"], false);

    // Percent through POST on the group's path; 0 is omitted by the client.
    let (status, percent) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/groups/fake1"),
            Some(json!({"appId": APP, "id": "fake1"})),
        )
        .await;
    assert_eq!(
        (status, percent["updatePercent"].as_f64()),
        (200, Some(0.0))
    );
    let (_, percent) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/groups/fake1"),
            Some(json!({"appId": APP, "id": "fake1", "updatePercent": 33.5})),
        )
        .await;
    assert_eq!(percent["updatePercent"], 33.5);
    let (status, _) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/groups/fake1"),
            Some(json!({"updatePercent": 101})),
        )
        .await;
    assert_eq!(status, 400);

    // Extensions.
    let (status, group) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/fake1"),
            Some(json!({"label": "Fake Clients", "channelId": "stable", "maxInFlight": 3,
                        "updateTimeout": 3600, "failureThresholdPercent": 10, "failureWindow": 50,
                        "maintenanceTimeZone": "Europe/Berlin", "maintenanceWindows": "mon,tue 02-05",
                        "allowDowngrade": true})),
        )
        .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["maxInFlight"], 3);
    assert_eq!(group["failureThresholdPercent"], 10.0);
    assert_eq!(group["maintenanceWindows"], "mon,tue 02-05");
    assert_eq!(
        group["updatePercent"], 33.5,
        "the v2.1 field was not in the body: kept"
    );
    let (status, error) = s
        .api(
            "PATCH",
            &format!("{V1}/apps/{APP}/groups/fake1"),
            Some(json!({"maintenanceTimeZone": "Mars/Olympus", "maintenanceWindows": "mon 01-02"})),
        )
        .await;
    assert_eq!(status, 400, "{error}");

    let (_, groups) = s.api("GET", &format!("{V1}/apps/{APP}/groups"), None).await;
    assert_eq!(groups["items"].as_array().unwrap().len(), 2);
    let (status, _) = s
        .api("DELETE", &format!("{V1}/apps/{APP}/groups/fake1"), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .api("GET", &format!("{V1}/apps/{APP}/groups/fake1"), None)
        .await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn rollouts_drive_the_percent() {
    let s = server().await;
    let frames = json!({"appId": APP, "groupId": "stable",
        "rollout": [{"duration": "30", "percent": 25}, {"duration": "30", "percent": 50},
                    {"duration": "30", "percent": 75}, {"duration": "10", "percent": 100},
                    {"percent": 100}]});
    let (status, set) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/groups/stable/rollout"),
            Some(frames),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    let (_, rollout) = s
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/rollout"),
            None,
        )
        .await;
    assert_eq!(
        rollout["rollout"][0],
        json!({"duration": "30", "percent": 25.0})
    );
    assert_eq!(rollout["rollout"][4]["duration"], "0");
    let (_, active) = s
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/rollout/active"),
            None,
        )
        .await;
    assert_eq!(active["active"], true, "setting a rollout starts it");

    let percent = |g: &serde_json::Value| g["updatePercent"].as_f64().unwrap();
    let (_, group) = s
        .api("GET", &format!("{V1}/apps/{APP}/groups/stable"), None)
        .await;
    assert_eq!(percent(&group), 25.0);
    s.clock.advance_secs(45);
    let (_, group) = s
        .api("GET", &format!("{V1}/apps/{APP}/groups/stable"), None)
        .await;
    assert_eq!(
        percent(&group),
        50.0,
        "the frames set the percent as time passes"
    );

    // Deactivate: the client sends {} (false omitted).
    let (_, active) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/groups/stable/rollout/active"),
            Some(json!({})),
        )
        .await;
    assert_eq!(active["active"], false);
    let (_, group) = s
        .api("GET", &format!("{V1}/apps/{APP}/groups/stable"), None)
        .await;
    assert_eq!(group["rolloutActive"], false);
    assert_eq!(
        percent(&group),
        50.0,
        "deactivating keeps the percent in force (it jumped back to the stored 100)"
    );
    s.stop().await;
}

#[tokio::test]
async fn packages_are_registered_validated_and_published() {
    let s = server().await;
    let body = json!({"url": "https://pkg.example.test/2.0.0/update.gz", "size": "5",
        "sha1Sum": "qvTGHdzF6KLavt4PO0gs2a6pQ00=",
        "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
        "metadataSize": "1024", "releaseNotes": "notes"});
    let (status, package) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/packages/2.0.0"),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{package}");
    assert_eq!(package["size"], "5", "sizes are strings");
    assert_eq!(package["appId"], APP);
    let (_, list) = s
        .api("GET", &format!("{V1}/apps/{APP}/packages"), None)
        .await;
    assert_eq!(list["total"], 3);
    let versions: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2.0.0", "1.1.0", "1.0.0"], "newest first");
    let (_, page) = s
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/packages?limit=1&skip=1"),
            None,
        )
        .await;
    assert_eq!(page["items"][0]["version"], "1.1.0");

    for (bad, what) in [
        (json!({"url": "u", "size": "five"}), "size"),
        (json!({"url": "u", "sha1Sum": "abc"}), "sha1Sum"),
        (
            json!({"url": "https://pkg.example.test/3.0.0/", "size": "5",
                "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}),
            "file name",
        ),
        (
            json!({"url": "https://pkg.example.test/3.0.0/update.gz",
                "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="}),
            "size must be above 0",
        ),
        (
            json!({"url": "https://pkg.example.test/3.0.0/update.gz", "size": "5"}),
            "sha256Sum is required",
        ),
    ] {
        let (status, error) = s
            .api(
                "POST",
                &format!("{V1}/apps/{APP}/packages/3.0.0"),
                Some(bad),
            )
            .await;
        assert_eq!(status, 400, "{what}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(what),
            "{error}"
        );
    }
    let (status, _) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/packages/not-a-version"),
            Some(json!({"url": "u"})),
        )
        .await;
    assert_eq!(status, 400);

    // Published: what a published channel points at, with the capitalised AppId.
    let (_, public) = s
        .api_with_header("GET", &format!("{V1}/public/packages"), None, None)
        .await;
    assert_eq!(public["items"], json!([]));
    s.api(
        "PATCH",
        &format!("{V1}/apps/{APP}/channels/stable"),
        Some(json!({"version": "2.0.0", "publish": true})),
    )
    .await;
    let (_, public) = s
        .api_with_header("GET", &format!("{V1}/public/packages"), None, None)
        .await;
    assert_eq!(public["items"][0]["AppId"], APP);
    assert_eq!(public["items"][0]["packages"][0]["version"], "2.0.0");

    // In use by a channel: refused, naming it; once the channel moves on, deleted.
    let (status, error) = s
        .api("DELETE", &format!("{V1}/apps/{APP}/packages/2.0.0"), None)
        .await;
    assert_eq!(status, 409, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in use by channel(s) stable"),
        "{error}"
    );
    s.api(
        "PATCH",
        &format!("{V1}/apps/{APP}/channels/stable"),
        Some(json!({"version": "1.0.0"})),
    )
    .await;
    let (status, _) = s
        .api("DELETE", &format!("{V1}/apps/{APP}/packages/2.0.0"), None)
        .await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test]
async fn instances_history_versions_and_graphs() {
    let s = server().await;
    s.move_channel("1.1.0").await;
    // Three instances check; one is granted the update and reports progress.
    for machine in ["m-a", "m-b", "m-c"] {
        s.omaha(&check_request(machine, "1.0.0")).await;
    }
    s.flush().await;
    let (_, count) = s
        .api("GET", &format!("{V1}/clientupdatecount?appId={APP}"), None)
        .await;
    assert_eq!(count["count"], 3);
    let (_, updates) = s
        .api(
            "GET",
            &format!("{V1}/clientupdates?dateStart=0&dateEnd=0&groupId=stable&appId={APP}"),
            None,
        )
        .await;
    let first = &updates["items"][0];
    assert_eq!(first["groupId"], "stable");
    assert!(
        first["lastSeen"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-27T08:00:00")
    );
    // Dates at the largest 64-bit value are bounds, not wrapped times.
    for (range, expected) in [
        (format!("dateStart={}&dateEnd=0", i64::MAX), 0),
        (format!("dateStart=1&dateEnd={}", i64::MAX), 3),
        (format!("dateStart={0}&dateEnd={0}", i64::MAX), 0),
    ] {
        let (status, updates) = s
            .api(
                "GET",
                &format!("{V1}/clientupdates?{range}&groupId=stable&appId={APP}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{range}: {updates}");
        let found = updates["items"].as_array().map_or(0, Vec::len);
        assert_eq!(found, expected, "{range}: {updates}");
    }
    let (_, versions) = s
        .api("GET", &format!("{V1}/appversions?appId={APP}"), None)
        .await;
    assert_eq!(
        versions["items"][0],
        json!({"appId": APP, "groupId": "stable", "version": "1.0.0", "count": 3})
    );

    let (_, history) = s
        .api("GET", &format!("{V1}/client/history?clientId=m-a"), None)
        .await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items[0]["eventType"], "3");
    assert_eq!(items[0]["installSource"], "scheduler");
    assert!(items[0]["dateTime"].is_string(), "int64 as a string");
    assert_eq!(items.last().unwrap()["kind"], "grant");
    let (status, _) = s.api("GET", &format!("{V1}/client/history"), None).await;
    assert_eq!(status, 400, "clientId is required");

    let (_, search) = s
        .api(
            "GET",
            &format!("{V1}/instances?appId={APP}&idPrefix=m-&status=granted&limit=10"),
            None,
        )
        .await;
    assert_eq!(search["items"].as_array().unwrap().len(), 3, "{search}");

    let (status, graph) = s
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/requests/versions/0/0?resolution=60"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(graph["items"][0]["version"], "1.0.0");
    assert_eq!(graph["items"][0]["values"][0]["count"], "3");
    let (_, events) = s
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/requests/events/0/0?resolution=3600"),
            None,
        )
        .await;
    // update_engine's routine 3/2 is a check-in, not a completion: the events graph does
    // not count it; the check-ins graph does.
    assert_eq!(events["items"], json!([]), "{events}");
    let (status, check_ins) = s
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/requests/checkins/0/0?resolution=3600"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(check_ins["items"][0]["version"], "1.0.0");
    assert_eq!(check_ins["items"][0]["values"][0]["count"], "3");
    assert_eq!(items[0]["previousVersion"], "");
    let (status, _) = s
        .api(
            "GET",
            &format!("{V1}/apps/{APP}/groups/stable/requests/versions/0/0?resolution=7"),
            None,
        )
        .await;
    assert_eq!(status, 400);
    s.stop().await;
}

#[tokio::test]
async fn users_keys_upstreams_uuid_init_and_the_activity_log() {
    let s = server().await;
    let (status, created) = s
        .api(
            "POST",
            &format!("{V1}/admin/user"),
            Some(json!({"userName": "bob@example.com"})),
        )
        .await;
    assert_eq!(status, 200);
    let bob_key = created["token"].as_str().unwrap().to_owned();
    assert_eq!(bob_key.len(), 32);
    let (status, _) = s
        .api_as(
            "bob@example.com",
            &bob_key,
            "GET",
            &format!("{V1}/apps"),
            None,
        )
        .await;
    assert_eq!(status, 200, "the new user's key works");
    let (_, users) = s.api("GET", &format!("{V1}/admin/user"), None).await;
    assert_eq!(
        users["users"][1],
        json!({"user": "bob@example.com", "token": "", "role": "admin"}),
        "keys are not listed; a user created without a role is an admin"
    );

    let (_, renewed) = s
        .api(
            "PUT",
            &format!("{V1}/admin/user/bob%40example.com/token/new"),
            None,
        )
        .await;
    let new_key = renewed["token"].as_str().unwrap();
    assert_ne!(new_key, bob_key);
    let (status, _) = s
        .api_as(
            "bob@example.com",
            &bob_key,
            "GET",
            &format!("{V1}/apps"),
            None,
        )
        .await;
    assert_eq!(status, 401, "the old key no longer works");

    let (status, deleted) = s
        .api(
            "DELETE",
            &format!("{V1}/admin/user/bob%40example.com"),
            None,
        )
        .await;
    assert_eq!(
        (status, deleted["user"].as_str()),
        (200, Some("bob@example.com"))
    );
    let (status, _) = s
        .api_as(
            "bob@example.com",
            new_key,
            "GET",
            &format!("{V1}/apps"),
            None,
        )
        .await;
    assert_eq!(status, 401, "a deleted user is refused");

    let (_, upstream) = s
        .api(
            "POST",
            &format!("{V1}/upstream"),
            Some(json!({"url": "https://up.example.test", "label": "up"})),
        )
        .await;
    assert_eq!(upstream["id"], "1");
    let (status, _) = s
        .api(
            "PUT",
            &format!("{V1}/upstream/1"),
            Some(json!({"id": "1", "url": "ftp://x"})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, list) = s.api("GET", &format!("{V1}/upstream"), None).await;
    assert_eq!(list["items"][0]["label"], "up");
    let (status, _) = s.api("DELETE", &format!("{V1}/upstream/1"), None).await;
    assert_eq!(status, 200);

    let (_, uuid) = s.api("GET", &format!("{V1}/util/uuid"), None).await;
    assert_eq!(uuid["uuid"].as_str().unwrap().len(), 36);
    let body = reqwest::get(format!("http://{}/admin/v1/init", s.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok");

    let (_, activity) = s.api("GET", &format!("{V1}/activity?limit=3"), None).await;
    let items = activity["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["action"], "upstream.delete", "newest first");
    assert_eq!(items[0]["actor"], "admin");
    s.stop().await;
}

#[tokio::test]
async fn authentication_failures_reveal_nothing() {
    let s = server().await;
    let path = format!("{V1}/apps?alt=json");
    let now = s.clock.now().as_second();
    let mut failures = Vec::new();
    // No header.
    failures.push(s.api_with_header("GET", &path, None, None).await);
    // A bad MAC (the key of someone else).
    failures.push(s.api_as("admin", "not the key", "GET", &path, None).await);
    // An unknown user, with a well-formed signature.
    failures.push(s.api_as("mallory", ADMIN_KEY, "GET", &path, None).await);
    // Basic with a wrong key; with an unknown user.
    use base64::Engine as _;
    let basic = |creds: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(creds)
        )
    };
    failures.push(
        s.api_with_header("GET", &path, None, Some(basic("admin:wrong")))
            .await,
    );
    failures.push(
        s.api_with_header("GET", &path, None, Some(basic("nobody:wrong")))
            .await,
    );
    for (status, body) in &failures {
        assert_eq!(*status, 401, "{body}");
    }
    assert_eq!(
        failures[1].1, failures[2].1,
        "a wrong key and an unknown user look the same"
    );
    assert_eq!(failures[3].1, failures[4].1);

    // Basic with the right key works (for curl).
    let (status, _) = s
        .api_with_header(
            "GET",
            &path,
            None,
            Some(basic(&format!("admin:{ADMIN_KEY}"))),
        )
        .await;
    assert_eq!(status, 200);

    // A stale timestamp: 401 with a signed WWW-Authenticate carrying the server's time.
    let stale = s.hawk_header("admin", ADMIN_KEY, "GET", &path, "stale001", now - 120);
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", s.addr()))
        .header("authorization", stale)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(&format!(r#"ts="{now}""#)) && challenge.contains("tsm="),
        "{challenge}"
    );

    // A replayed nonce.
    let once = s.hawk_header("admin", ADMIN_KEY, "GET", &path, "replay01", now);
    let (status, _) = s
        .api_with_header("GET", &path, None, Some(once.clone()))
        .await;
    assert_eq!(status, 200);
    let (status, body) = s.api_with_header("GET", &path, None, Some(once)).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "replayed request");

    // A signature for another path does not authorize this one.
    let other = s.hawk_header(
        "admin",
        ADMIN_KEY,
        "GET",
        &format!("{V1}/upstream"),
        "other001",
        now,
    );
    let (status, _) = s.api_with_header("GET", &path, None, Some(other)).await;
    assert_eq!(status, 401);
    s.stop().await;
}

#[tokio::test]
async fn the_wire_formats_are_coreupdates() {
    // Golden JSON of the shapes the CLI parses: int64 as strings, AppId capitalised,
    // the error body.
    let frame = update_server::api::Frame {
        duration: 30,
        percent: 25.0,
    };
    assert_eq!(
        serde_json::to_value(&frame).unwrap(),
        json!({"duration": "30", "percent": 25.0})
    );
    let item = update_server::api::ClientHistoryItem {
        date_time: 1_700_000_000,
        event_type: "3".into(),
        event_result: "2".into(),
        ..Default::default()
    };
    let value = serde_json::to_value(&item).unwrap();
    assert_eq!(value["dateTime"], "1700000000");
    assert_eq!(value["eventType"], "3");
    let s = server().await;
    let (_, error) = s.api("GET", &format!("{V1}/apps/nope"), None).await;
    assert_eq!(
        error,
        json!({"error": {"code": 404, "message": "app nope not found",
                         "errors": [{"reason": "notFound", "message": "app nope not found"}]}})
    );
    s.stop().await;
}

/// The newest activity entry with `action`.
async fn newest(s: &TestServer, action: &str) -> serde_json::Value {
    let (_, activity) = s
        .api("GET", "/_ah/api/update/v1/activity?limit=100", None)
        .await;
    activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == action)
        .unwrap_or_else(|| panic!("no {action} in {activity}"))
        .clone()
}

#[tokio::test]
async fn the_activity_log_records_what_each_change_changed() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let v1 = "/_ah/api/update/v1";
    // A group: only the fields that changed, old and new.
    let (status, _) = s
        .api(
            "PATCH",
            &format!("{v1}/apps/{APP}/groups/stable"),
            Some(json!({"label": "Production", "channelId": "stable", "updatePercent": 25})),
        )
        .await;
    assert_eq!(status, 200);
    let entry = newest(&s, "group.update").await;
    assert_eq!(
        entry["changes"],
        json!([
            {"field": "label", "old": "Stable", "new": "Production"},
            {"field": "updatePercent", "old": "100.0", "new": "25.0"},
        ]),
        "{entry}"
    );
    // A rollout: its frames.
    let (status, _) = s
        .api(
            "POST",
            &format!("{v1}/apps/{APP}/groups/stable/rollout"),
            Some(json!({"rollout": [{"duration": 60, "percent": 50}, {"percent": 100}]})),
        )
        .await;
    assert_eq!(status, 200);
    let entry = newest(&s, "rollout.set").await;
    let rollout = entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "rollout")
        .unwrap_or_else(|| panic!("{entry}"))
        .clone();
    assert_eq!(
        rollout,
        json!({"field": "rollout", "new": "50% for 60s, 100% for 0s"})
    );
    // A floor created, then deleted: one side each.
    let (status, _) = s
        .api(
            "PUT",
            &format!("{v1}/apps/{APP}/channels/stable/floors/1.0.0"),
            Some(json!({"reason": "schema change"})),
        )
        .await;
    assert_eq!(status, 200);
    let entry = newest(&s, "channel.floor.put").await;
    let reason = entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "reason")
        .unwrap()
        .clone();
    assert_eq!(reason, json!({"field": "reason", "new": "schema change"}));
    // Users: the key is never recorded.
    let (status, user) = s
        .api(
            "POST",
            &format!("{v1}/admin/user"),
            Some(json!({"userName": "ops"})),
        )
        .await;
    assert_eq!(status, 200);
    let key = user["token"].as_str().unwrap().to_owned();
    let (status, renewed) = s
        .api("PUT", &format!("{v1}/admin/user/ops/token/new"), None)
        .await;
    assert_eq!(status, 200);
    let entry = newest(&s, "user.key").await;
    assert_eq!(
        entry["changes"],
        json!([{"field": "key", "old": "(secret)", "new": "(secret)"}])
    );
    let (_, all) = s
        .api("GET", &format!("{v1}/activity?limit=1000"), None)
        .await;
    let text = all.to_string();
    assert!(!text.contains(&key) && !text.contains(renewed["token"].as_str().unwrap()));
    // An action that changes no field has no changes.
    let (status, _) = s
        .api(
            "DELETE",
            &format!("{v1}/apps/{APP}/groups/stable/retry"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(newest(&s, "group.retry.clear").await["changes"], json!([]));
    s.stop().await;
}
