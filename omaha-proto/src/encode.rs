//! The encoder: writes documents straight into a `Vec<u8>`.
//!
//! Output is canonical: an XML declaration, no indentation, attributes in a fixed order
//! (go-omaha's, then update_engine's, then the rest), explicit end tags as go-omaha and
//! Nebraska write them (`<ping status="ok"></ping>`), lower-case booleans, decimal numbers,
//! base64 `hash` and `sha256`, hex `hash_sha256`. Escaping is one table-driven scan per
//! value that copies unescaped runs whole.

use crate::attrs::{
    AttributeSink, action_attributes, app_attributes, manifest_attributes, package_attributes,
    ping_attributes, update_check_attributes, url_attributes,
};
use crate::codes::Protocol;
use crate::digest::{Digest, HashValue, push_base64, push_hex};
use crate::request::{self, Request};
use crate::response::{self, Response};

const DECLARATION: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// For each byte: 0 = copy, otherwise it must be replaced by a reference. Control
/// characters (including tab, LF and CR) become character references so they survive
/// attribute-value normalization.
static ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'"' as usize] = true;
    table[0x7f] = true;
    table
};

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `s` escaped for an attribute value or text.
fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !ESCAPE[usize::from(b)] {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => {
                out.extend_from_slice(b"&#x");
                if b >= 0x10 {
                    out.push(HEX_UPPER[usize::from(b >> 4)]);
                }
                out.push(HEX_UPPER[usize::from(b & 0xf)]);
                out.push(b';');
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends the decimal form of `n`.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0_u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + u8::try_from(n % 10).expect("a digit");
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

pub(crate) fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_u64(out, n.unsigned_abs());
}

/// A thin writer over the output buffer.
struct W<'o>(&'o mut Vec<u8>);

impl W<'_> {
    fn open(&mut self, name: &str) {
        self.0.push(b'<');
        self.0.extend_from_slice(name.as_bytes());
    }

    fn attr_name(&mut self, name: &str) {
        self.0.push(b' ');
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"=\"");
    }

    fn attr(&mut self, name: &str, value: &str) {
        self.attr_name(name);
        push_escaped(self.0, value);
        self.0.push(b'"');
    }

    fn protocol(&mut self, protocol: Option<&Protocol>) {
        if let Some(p) = protocol {
            self.attr("protocol", p.as_str());
        }
    }

    /// Ends the start tag.
    fn gt(&mut self) {
        self.0.push(b'>');
    }

    /// Ends an element without content: `></name>`.
    fn close_empty(&mut self, name: &str) {
        self.0.extend_from_slice(b"></");
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(b'>');
    }

    fn end(&mut self, name: &str) {
        self.0.extend_from_slice(b"</");
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(b'>');
    }

    fn text_element_end(&mut self, name: &str, text: &str) {
        self.gt();
        push_escaped(self.0, text);
        self.end(name);
    }
}

impl AttributeSink for W<'_> {
    #[inline]
    fn str(&mut self, name: &str, value: &str) {
        self.attr(name, value);
    }

    #[inline]
    fn bool(&mut self, name: &str, value: bool) {
        self.attr_name(name);
        self.0
            .extend_from_slice(if value { b"true\"" } else { b"false\"" });
    }

    #[inline]
    fn i64(&mut self, name: &str, value: i64) {
        self.attr_name(name);
        push_i64(self.0, value);
        self.0.push(b'"');
    }

    #[inline]
    fn u64(&mut self, name: &str, value: u64) {
        self.attr_name(name);
        push_u64(self.0, value);
        self.0.push(b'"');
    }

    fn base64_hash<D: Digest>(&mut self, name: &str, value: Option<&HashValue<D>>) {
        match value {
            None => {}
            Some(HashValue::Digest(d) | HashValue::Base64(d)) => {
                self.attr_name(name);
                push_base64(self.0, d.as_bytes());
                self.0.push(b'"');
            }
            Some(HashValue::Unrecognized(text)) => self.attr(name, text),
        }
    }

    fn hex_hash<D: Digest>(&mut self, name: &str, value: Option<&HashValue<D>>) {
        match value {
            None => {}
            Some(HashValue::Digest(d)) => {
                self.attr_name(name);
                push_hex(self.0, d.as_bytes());
                self.0.push(b'"');
            }
            Some(HashValue::Base64(_)) => self.base64_hash(name, value),
            Some(HashValue::Unrecognized(text)) => self.attr(name, text),
        }
    }
}

pub(crate) fn request(r: &Request, out: &mut Vec<u8>) {
    out.reserve(512);
    out.extend_from_slice(DECLARATION);
    let mut w = W(out);
    w.open("request");
    w.protocol(r.protocol.as_ref());
    w.opt("version", r.version.as_ref());
    w.opt("updaterversion", r.updater_version.as_ref());
    w.opt("installsource", r.install_source.as_ref());
    w.opt_i64("ismachine", r.is_machine);
    w.opt("requestid", r.request_id.as_ref());
    w.opt("sessionid", r.session_id.as_ref());
    w.opt("userid", r.user_id.as_ref());
    w.opt("testsource", r.test_source.as_ref());
    w.opt("acceptformat", r.accept_format.as_ref());
    w.opt("dedup", r.dedup.as_ref());
    w.opt("dlpref", r.dlpref.as_ref());
    w.opt("originurl", r.origin_url.as_ref());
    w.opt("updater", r.updater.as_ref());
    w.opt("updaterchannel", r.updater_channel.as_ref());
    w.gt();
    if let Some(hw) = &r.hw {
        w.open("hw");
        w.opt("sse", hw.sse.as_ref());
        w.opt("sse2", hw.sse2.as_ref());
        w.opt("sse3", hw.sse3.as_ref());
        w.opt("ssse3", hw.ssse3.as_ref());
        w.opt("sse41", hw.sse41.as_ref());
        w.opt("sse42", hw.sse42.as_ref());
        w.opt("avx", hw.avx.as_ref());
        w.opt("physmemory", hw.physmemory.as_ref());
        w.close_empty("hw");
    }
    if let Some(os) = &r.os {
        w.open("os");
        w.opt("platform", os.platform.as_ref());
        w.opt("version", os.version.as_ref());
        w.opt("sp", os.sp.as_ref());
        w.opt("arch", os.arch.as_ref());
        w.close_empty("os");
    }
    for app in &r.apps {
        request_app(&mut w, app);
    }
    w.end("request");
}

fn request_app(w: &mut W<'_>, a: &request::App) {
    w.open("app");
    app_attributes(w, a);
    w.opt("fp", a.fp.as_ref());
    w.opt_bool("enabled", a.enabled);
    w.opt_i64("ismachine", a.is_machine);
    w.opt("installsource", a.install_source.as_ref());
    w.gt();
    if let Some(p) = &a.ping {
        w.open("ping");
        ping_attributes(w, p);
        w.close_empty("ping");
    }
    if let Some(u) = &a.update_check {
        w.open("updatecheck");
        update_check_attributes(w, u);
        w.close_empty("updatecheck");
    }
    for e in &a.events {
        w.open("event");
        w.i64("eventtype", e.event_type.code());
        w.i64("eventresult", e.event_result.code());
        w.opt_i64("errorcode", e.error_code);
        w.opt_i64("extracode1", e.extra_code1);
        w.opt("previousversion", e.previous_version.as_ref());
        w.opt("nextversion", e.next_version.as_ref());
        w.opt_i64("errorcat", e.error_cat);
        w.opt_i64("download_time_ms", e.download_time_ms);
        w.opt_i64("downloaded", e.downloaded);
        w.opt("downloader", e.downloader.as_ref());
        w.opt_i64("total", e.total);
        w.opt_i64("update_check_time_ms", e.update_check_time_ms);
        w.opt_i64("install_time_ms", e.install_time_ms);
        w.opt_i64("source_url_index", e.source_url_index);
        w.opt_i64("state_cancelled", e.state_cancelled);
        w.opt_i64(
            "time_since_update_available_ms",
            e.time_since_update_available_ms,
        );
        w.opt_i64(
            "time_since_download_start_ms",
            e.time_since_download_start_ms,
        );
        w.opt("url", e.url.as_ref());
        w.opt("nextfp", e.next_fp.as_ref());
        w.opt("previousfp", e.previous_fp.as_ref());
        w.close_empty("event");
    }
    for d in &a.data {
        w.open("data");
        w.opt("name", d.name.as_ref());
        w.opt("index", d.index.as_ref());
        w.text_element_end("data", &d.text);
    }
    for d in &a.disabled {
        w.open("disabled");
        w.opt_i64("reason", d.reason);
        w.close_empty("disabled");
    }
    if !a.packages.is_empty() {
        w.open("packages");
        w.gt();
        for p in &a.packages {
            w.open("package");
            w.opt("fp", p.fp.as_ref());
            w.close_empty("package");
        }
        w.end("packages");
    }
    w.end("app");
}

pub(crate) fn response(r: &Response, out: &mut Vec<u8>) {
    out.reserve(1024);
    out.extend_from_slice(DECLARATION);
    let mut w = W(out);
    w.open("response");
    w.protocol(r.protocol.as_ref());
    w.opt("server", r.server.as_ref());
    w.gt();
    w.open("daystart");
    w.i64("elapsed_seconds", r.daystart.elapsed_seconds);
    w.opt_i64("elapsed_days", r.daystart.elapsed_days);
    w.close_empty("daystart");
    for app in &r.apps {
        response_app(&mut w, app);
    }
    w.end("response");
}

fn ack(w: &mut W<'_>, name: &str, ack: &response::Ack) {
    w.open(name);
    if let Some(s) = &ack.status {
        w.attr("status", s.as_str());
    }
    w.close_empty(name);
}

fn response_app(w: &mut W<'_>, a: &response::App) {
    w.open("app");
    w.attr("appid", &a.appid);
    if let Some(s) = &a.status {
        w.attr("status", s.as_str());
    }
    w.opt("experiments", a.experiments.as_ref());
    w.opt("cohort", a.cohort.as_ref());
    w.opt("cohorthint", a.cohort_hint.as_ref());
    w.opt("cohortname", a.cohort_name.as_ref());
    w.gt();
    if let Some(p) = &a.ping {
        ack(w, "ping", p);
    }
    if let Some(u) = &a.update_check {
        update_check(w, u);
    }
    for e in &a.events {
        ack(w, "event", e);
    }
    for d in &a.data {
        w.open("data");
        w.opt("name", d.name.as_ref());
        w.opt("index", d.index.as_ref());
        if let Some(s) = &d.status {
            w.attr("status", s.as_str());
        }
        w.text_element_end("data", &d.text);
    }
    if let Some(u) = &a.unknown {
        ack(w, "unknown", u);
    }
    w.end("app");
}

fn update_check(w: &mut W<'_>, u: &response::UpdateCheck) {
    w.open("updatecheck");
    if let Some(s) = &u.status {
        w.attr("status", s.as_str());
    }
    w.opt_u64("PollInterval", u.poll_interval);
    w.opt("info", u.info.as_ref());
    w.opt("errorurl", u.error_url.as_ref());
    w.opt("tttoken", u.tttoken.as_ref());
    w.opt_bool("_rollback", u.rollback);
    if u.urls.is_empty() && u.manifests.is_empty() {
        w.close_empty("updatecheck");
        return;
    }
    w.gt();
    if !u.urls.is_empty() {
        w.open("urls");
        w.gt();
        for url in &u.urls {
            w.open("url");
            url_attributes(w, url);
            w.close_empty("url");
        }
        w.end("urls");
    }
    for m in &u.manifests {
        manifest(w, m);
    }
    w.end("updatecheck");
}

fn manifest(w: &mut W<'_>, m: &response::Manifest) {
    w.open("manifest");
    manifest_attributes(w, m);
    w.gt();
    w.open("packages");
    w.gt();
    for p in &m.packages {
        w.open("package");
        package_attributes(w, p);
        match &p.metadata {
            None => w.close_empty("package"),
            Some(md) => {
                w.gt();
                w.open("metadata");
                w.opt("content-type", md.content_type.as_ref());
                w.text_element_end("metadata", &md.text);
                w.end("package");
            }
        }
    }
    w.end("packages");
    w.open("actions");
    w.gt();
    for a in &m.actions {
        action(w, a);
    }
    w.end("actions");
    w.end("manifest");
}

fn action(w: &mut W<'_>, a: &response::Action) {
    w.open("action");
    action_attributes(w, a);
    w.close_empty("action");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sha256_is_hex_unless_base64_is_asked_for() {
        use crate::digest::Sha256Digest;
        use crate::response::{App, Codebase, Manifest, Package, UpdateCheck};
        let digest = Sha256Digest(*b"0123456789abcdef0123456789abcdef");
        let answer = |value: HashValue<Sha256Digest>| {
            let package = Package {
                name: "oem-qemu.gz".into(),
                size: 4,
                hash_sha256: Some(value),
                ..Package::default()
            };
            let check = UpdateCheck::update(
                [Codebase::new("https://h/1.0.0/")],
                Manifest::new("1.0.0").with_package(package),
            );
            let mut response = Response::new("test");
            response
                .apps
                .push(App::ok("{e96281a6-d1af-4bde-9a0a-97b76e56dc57}").with_update_check(check));
            response.encode()
        };
        let hex = "3031323334353637383961626364656630313233343536373839616263646566";
        let base64 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        for (value, text) in [
            (HashValue::Digest(digest), hex),
            (HashValue::Base64(digest), base64),
        ] {
            let bytes = answer(value);
            let xml = String::from_utf8(bytes.clone()).unwrap();
            assert!(xml.contains(&format!("hash_sha256=\"{text}\"")), "{xml}");
            // Either way it reads back as the same digest.
            let decoded = Response::decode(&bytes).unwrap();
            let check = decoded.apps[0].update_check.as_ref().unwrap();
            assert_eq!(
                check.manifests[0].packages[0].hash_sha256,
                Some(HashValue::Digest(digest))
            );
        }
    }

    #[test]
    fn escaping_covers_markup_quotes_and_controls() {
        let mut out = Vec::new();
        push_escaped(&mut out, "a&b<c>d\"e'f\tg\nh\ri\u{1}j\u{7f}Ω");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a&amp;b&lt;c&gt;d&quot;e'f&#x9;g&#xA;h&#xD;i&#x1;j&#x7F;Ω"
        );
    }

    #[test]
    fn integers_format_in_decimal() {
        let mut out = Vec::new();
        push_i64(&mut out, i64::MIN);
        out.push(b' ');
        push_i64(&mut out, -2_147_219_440);
        out.push(b' ');
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, u64::MAX);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-9223372036854775808 -2147219440 0 18446744073709551615"
        );
    }
}
