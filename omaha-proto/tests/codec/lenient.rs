//! Lenient input (omaha-protocol.md §15): what real producers write decodes.

use omaha_proto::codes::{ActionEvent, AppStatus, Protocol, UpdateCheckStatus};
use omaha_proto::digest::{HashValue, Sha1Digest, Sha256Digest};
use omaha_proto::{Request, Response};

const SHA1_B64: &str = "qUqP5cyxm6YcTAhz05Hph5gvu9M=";
const SHA256_B64: &str = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
const SHA256_HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn response_with(package_attrs: &str, action_attrs: &str) -> Response {
    let xml = format!(
        r#"<response protocol="3.0"><app appid="a" status="ok"><updatecheck status="ok"><urls><url codebase="http://h/p"/></urls><manifest version="1"><packages><package name="f" size="4" {package_attrs}/></packages><actions><action event="postinstall" {action_attrs}/></actions></manifest></updatecheck></app></response>"#
    );
    Response::decode(xml.as_bytes()).unwrap_or_else(|e| panic!("{xml}: {e}"))
}

#[test]
fn self_closing_and_explicit_end_tags_decode_the_same() {
    let a = Request::decode(br#"<request protocol="3.0"><app appid="x"><ping active="1"/><updatecheck/></app></request>"#).unwrap();
    let b = Request::decode(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<request protocol=\"3.0\">\n <app appid=\"x\">\n  <ping active=\"1\"></ping>\n  <updatecheck></updatecheck>\n </app>\n</request>\n",
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.protocol, Some(Protocol::V3));
}

#[test]
fn byte_order_mark_comments_and_processing_instructions_are_skipped() {
    let r = Request::decode("\u{feff}<?xml version=\"1.0\"?><!-- hi --><?pi x?><request><!-- c --><app appid=\"x\"/></request><!-- end -->\n".as_bytes()).unwrap();
    assert_eq!(r.apps[0].appid, "x");
}

#[test]
fn unknown_attributes_and_elements_are_ignored() {
    let r = Request::decode(br#"<request protocol="3.0" future="1"><gadget><app appid="inner"/></gadget><app appid="x" shiny="yes"><ping r="1" status="1"/><widget a="b">text<deeper/></widget></app></request>"#).unwrap();
    assert_eq!(
        r.apps.len(),
        1,
        "an <app> inside an unknown element is not an app"
    );
    assert_eq!(r.apps[0].appid, "x");
    assert_eq!(r.apps[0].ping.as_ref().unwrap().r, Some(1));
}

#[test]
fn every_boolean_spelling_reads_and_writes_lower_case() {
    for (text, value) in [
        ("true", true),
        ("True", true),
        ("TRUE", true),
        ("t", true),
        ("T", true),
        ("1", true),
        ("yes", true),
        ("on", true),
        ("false", false),
        ("False", false),
        ("f", false),
        ("0", false),
        ("no", false),
        ("off", false),
    ] {
        let r = response_with("", &format!(r#"IsDeltaPayload="{text}""#));
        let action = &r.apps[0].update_check.as_ref().unwrap().manifests[0].actions[0];
        assert_eq!(action.is_delta_payload, Some(value), "{text}");
        let out = String::from_utf8(r.encode()).unwrap();
        assert!(
            out.contains(&format!(r#"IsDeltaPayload="{value}""#)),
            "{out}"
        );
    }
}

#[test]
fn hashes_read_from_base64_or_hex_and_write_canonically() {
    let r = response_with(
        &format!(r#"hash="{SHA1_B64}" hash_sha256="{SHA256_B64}""#),
        &format!(r#"sha256="{SHA256_HEX}""#),
    );
    let m = &r.apps[0].update_check.as_ref().unwrap().manifests[0];
    let sha256: Sha256Digest = SHA256_HEX.parse().unwrap();
    assert_eq!(
        m.packages[0].hash,
        Some(HashValue::Digest(SHA1_B64.parse::<Sha1Digest>().unwrap()))
    );
    assert_eq!(m.packages[0].hash_sha256, Some(HashValue::Digest(sha256)));
    assert_eq!(m.actions[0].sha256, Some(HashValue::Digest(sha256)));
    let out = String::from_utf8(r.encode()).unwrap();
    // hash: base64; hash_sha256: hex; action sha256: base64 (never hex).
    assert!(
        out.contains(&format!(r#"hash="{SHA1_B64}" hash_sha256="{SHA256_HEX}""#)),
        "{out}"
    );
    assert!(out.contains(&format!(r#"sha256="{SHA256_B64}""#)), "{out}");
}

#[test]
fn values_that_are_not_digests_are_kept_verbatim() {
    let r = response_with(r#"hash="not-used" hash_sha256="""#, r#"sha256="HASH1234=""#);
    let m = &r.apps[0].update_check.as_ref().unwrap().manifests[0];
    assert_eq!(
        m.packages[0].hash,
        Some(HashValue::Unrecognized("not-used".into()))
    );
    assert_eq!(m.packages[0].hash_sha256, None, "an empty hash is absent");
    assert_eq!(
        m.actions[0].sha256,
        Some(HashValue::Unrecognized("HASH1234=".into()))
    );
    assert_eq!(m.actions[0].event, Some(ActionEvent::PostInstall));
}

#[test]
fn codebases_gain_a_trailing_slash() {
    let r = response_with("", "");
    let url = &r.apps[0].update_check.as_ref().unwrap().urls[0];
    assert_eq!(url.codebase.as_str(), "http://h/p/");
}

#[test]
fn braced_and_bare_app_ids_are_kept_byte_for_byte_and_compare_equal() {
    let r = Request::decode(br#"<request><app appid="{E96281A6-D1AF-4BDE-9A0A-97B76E56DC57}"/><app appid="e96281a6-d1af-4bde-9a0a-97b76e56dc57"/></request>"#).unwrap();
    assert_eq!(r.apps[0].appid, "{E96281A6-D1AF-4BDE-9A0A-97B76E56DC57}");
    assert!(omaha_proto::appid::same_app_id(
        &r.apps[0].appid,
        &r.apps[1].appid
    ));
}

#[test]
fn escaped_and_non_ascii_values_decode() {
    let r = Request::decode("<request><app appid=\"a\" machinealias=\"Ω &#x3A9; &#937; &lt;&amp;&gt; &quot;q&quot; &apos;\"/></request>".as_bytes()).unwrap();
    assert_eq!(
        r.apps[0].machine_alias.as_deref(),
        Some("Ω Ω Ω <&> \"q\" '")
    );
    let back = Request::decode(&r.encode()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn empty_numbers_read_as_absent_and_whitespace_is_trimmed() {
    let r = Request::decode(
        br#"<request ismachine=""><app appid="a"><ping active=" 1 " a=""/></app></request>"#,
    )
    .unwrap();
    assert_eq!(r.is_machine, None);
    let ping = r.apps[0].ping.as_ref().unwrap();
    assert_eq!((ping.active, ping.a), (Some(1), None));
}

#[test]
fn metadata_cdata_and_data_text_are_read() {
    let r = Response::decode(br#"<response><app appid="a" status="error-unknownApplication"><updatecheck status="error-unsupportedprotocol"><manifest version="1"><packages><package name="p" size="1" required="true"><metadata content-type="application/json"><![CDATA[{"a":"<b>"}]]></metadata></package></packages></manifest></updatecheck><data name="install" status="ok">x &amp; y</data></app></response>"#).unwrap();
    let app = &r.apps[0];
    assert_eq!(app.status, Some(AppStatus::UnknownApplication));
    let u = app.update_check.as_ref().unwrap();
    assert_eq!(
        u.status,
        Some(UpdateCheckStatus::Other("error-unsupportedprotocol".into()))
    );
    let md = u.manifests[0].packages[0].metadata.as_ref().unwrap();
    assert_eq!(md.content_type.as_deref(), Some("application/json"));
    assert_eq!(md.text, r#"{"a":"<b>"}"#);
    assert_eq!(app.data[0].text, "x & y");
    assert_eq!(Response::decode(&r.encode()).unwrap(), r);
}
