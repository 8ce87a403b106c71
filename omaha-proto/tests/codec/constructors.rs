//! The constructors produce the exact canonical documents servers and clients need.

use omaha_proto::Request;
use omaha_proto::codes::{AppStatus, UpdateCheckStatus};
use omaha_proto::digest::{Sha1Digest, Sha256Digest};
use omaha_proto::request::{self, Event, Os};
use omaha_proto::response::{
    Action, App, Codebase, DayStart, Manifest, Package, Response, UpdateCheck,
};

const APPID: &str = "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}";

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

fn update() -> UpdateCheck {
    let sha1: Sha1Digest = "qUqP5cyxm6YcTAhz05Hph5gvu9M=".parse().unwrap();
    let sha256: Sha256Digest = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
        .parse()
        .unwrap();
    UpdateCheck::update(
        [Codebase::new(
            "https://updates.example.com/amd64-usr/3975.2.0",
        )],
        Manifest::new("3975.2.0")
            .with_package(Package::new("flatcar_production_update.gz", 4, sha1, true))
            .with_package(Package::new("oem-qemu.gz", 4, sha1, false).with_sha256(sha256))
            .with_action(Action::postinstall(sha256)),
    )
    .with_poll_interval(3600)
}

#[test]
fn update_response_is_canonical() {
    let r = Response::new("omaha-rs").with_app(App::ok(APPID).with_update_check(update()));
    assert_eq!(
        text(r.encode()),
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            r#"<response protocol="3.0" server="omaha-rs"><daystart elapsed_seconds="0"></daystart>"#,
            r#"<app appid="{e96281a6-d1af-4bde-9a0a-97b76e56dc57}" status="ok">"#,
            r#"<updatecheck status="ok" PollInterval="3600"><urls>"#,
            r#"<url codebase="https://updates.example.com/amd64-usr/3975.2.0/"></url></urls>"#,
            r#"<manifest version="3975.2.0"><packages>"#,
            r#"<package name="flatcar_production_update.gz" hash="qUqP5cyxm6YcTAhz05Hph5gvu9M=" size="4" required="true"></package>"#,
            r#"<package name="oem-qemu.gz" hash="qUqP5cyxm6YcTAhz05Hph5gvu9M=" hash_sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" size="4" required="false"></package>"#,
            r#"</packages><actions>"#,
            r#"<action event="postinstall" sha256="n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=" DisablePayloadBackoff="true"></action>"#,
            r#"</actions></manifest></updatecheck></app></response>"#,
        )
    );
    assert_eq!(Response::decode(&r.encode()).unwrap(), r);
}

#[test]
fn noupdate_and_event_ack_answer_a_request_app() {
    let req_app = request::App::new(APPID, "3975.2.0")
        .with_update_check(Some(""))
        .with_event(Event::download_started());
    let r = Response::new("omaha-rs")
        .with_daystart(DayStart {
            elapsed_seconds: 49008,
            elapsed_days: Some(7000),
        })
        .with_app(App::acknowledging(&req_app).with_update_check(UpdateCheck::no_update()));
    assert_eq!(
        text(r.encode()),
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            r#"<response protocol="3.0" server="omaha-rs"><daystart elapsed_seconds="49008" elapsed_days="7000"></daystart>"#,
            r#"<app appid="{e96281a6-d1af-4bde-9a0a-97b76e56dc57}" status="ok"><ping status="ok"></ping>"#,
            r#"<updatecheck status="noupdate"></updatecheck>"#,
            r#"<event status="ok"></event><event status="ok"></event></app></response>"#,
        )
    );
}

#[test]
fn event_only_request_gets_acks_without_updatecheck() {
    let req_app = request::App::new("e96281a6-D1AF-4bde-9a0a-97b76e56dc57", "1.0.0")
        .with_event(Event::update_installed());
    let app = App::acknowledging(&req_app);
    assert_eq!(
        app.appid, "e96281a6-D1AF-4bde-9a0a-97b76e56dc57",
        "appid echoed verbatim"
    );
    assert!(app.ping.is_none() && app.update_check.is_none());
    assert_eq!(app.events.len(), 1);
    let out = text(Response::new("s").with_app(app).encode());
    assert!(
        out.ends_with(r#"status="ok"><event status="ok"></event></app></response>"#),
        "{out}"
    );
}

#[test]
fn error_responses() {
    let r = Response::new("omaha-rs")
        .with_app(App::error("{bad}", AppStatus::UnknownApplication))
        .with_app(
            App::error(APPID, AppStatus::Other("error-noPackageFound".into()))
                .with_update_check(UpdateCheck::error(UpdateCheckStatus::Internal)),
        );
    let out = text(r.encode());
    assert!(
        out.contains(r#"<app appid="{bad}" status="error-unknownApplication"></app>"#),
        "{out}"
    );
    assert!(out.contains(r#"status="error-noPackageFound"><updatecheck status="error-internal"></updatecheck></app>"#), "{out}");
    assert_eq!(Response::decode(out.as_bytes()).unwrap(), r);
}

#[test]
fn update_engine_request_envelope_is_canonical() {
    let r = Request::update_engine(
        "update_engine-0.4.10",
        "ondemandupdate",
        Os::new("CoreOS", "Chateau", "3975.2.0_x86_64"),
    )
    .with_app(
        request::App::new(APPID, "3975.2.0")
            .with_track("beta")
            .with_machine_id("m")
            .with_boot_id("{b}")
            .with_ping(),
    );
    assert_eq!(
        text(r.encode()),
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            r#"<request protocol="3.0" version="update_engine-0.4.10" updaterversion="update_engine-0.4.10" installsource="ondemandupdate" ismachine="1">"#,
            r#"<os platform="CoreOS" version="Chateau" sp="3975.2.0_x86_64"></os>"#,
            r#"<app appid="{e96281a6-d1af-4bde-9a0a-97b76e56dc57}" version="3975.2.0" track="beta" bootid="{b}" machineid="m">"#,
            r#"<ping active="1"></ping></app></request>"#,
        )
    );
}

#[test]
fn encode_into_appends() {
    let r = Response::new("s");
    let mut out = b"prefix".to_vec();
    r.encode_into(&mut out);
    assert!(out.starts_with(b"prefix<?xml"));
    assert_eq!(&out[6..], r.encode().as_slice());
}
