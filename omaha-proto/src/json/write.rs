//! The JSON encoder: writes compact JSON straight into a `Vec<u8>`, members in a fixed
//! order (the XML codec's attribute order), in the shape of the document's protocol
//! version (see [`crate::json`]).

use super::{JsonVersion, PREFIX};
use crate::attrs::{
    AttributeSink, action_attributes, app_attributes, manifest_attributes, package_attributes,
    package_diff_attributes, ping_attributes, update_check_attributes, url_attributes,
};
use crate::codes::UpdateCheckStatus;
use crate::digest::{Digest, HashValue, push_base64, push_hex};
use crate::encode::{push_i64, push_u64};
use crate::request::{self, Request};
use crate::response::{self, Response};

/// For each byte, the character after the backslash of its short escape, `u` for a
/// `\u00XX` escape, or 0 when it is copied as is.
static ESCAPE: [u8; 256] = {
    let mut table = [0_u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string, quotes included.
fn push_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = ESCAPE[usize::from(b)];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(esc);
        if esc == b'u' {
            out.extend_from_slice(b"00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A writer that places the commas: `comma` is set after every value and cleared when a
/// container opens.
struct J<'o> {
    out: &'o mut Vec<u8>,
    comma: bool,
}

impl J<'_> {
    fn sep(&mut self) {
        if self.comma {
            self.out.push(b',');
        }
    }

    fn key(&mut self, name: &str) {
        self.sep();
        push_string(self.out, name);
        self.out.push(b':');
        self.comma = false;
    }

    fn open_obj(&mut self) {
        self.out.push(b'{');
        self.comma = false;
    }

    fn close_obj(&mut self) {
        self.out.push(b'}');
        self.comma = true;
    }

    fn open_arr(&mut self) {
        self.out.push(b'[');
        self.comma = false;
    }

    fn close_arr(&mut self) {
        self.out.push(b']');
        self.comma = true;
    }

    /// `"name":{`
    fn obj(&mut self, name: &str) {
        self.key(name);
        self.open_obj();
    }

    /// `"name":[`
    fn arr(&mut self, name: &str) {
        self.key(name);
        self.open_arr();
    }

    /// An object element of an array: `{` after a comma if needed.
    fn elem(&mut self) {
        self.sep();
        self.open_obj();
    }

    /// A fingerprint: a string, or in 4.0 a `{"fingerprint": ...}` object.
    fn fingerprint(&mut self, v: JsonVersion, name: &str, value: Option<&String>) {
        let Some(fp) = value else {
            return;
        };
        if v == JsonVersion::V4_0 {
            self.obj(name);
            self.str("fingerprint", fp);
            self.close_obj();
        } else {
            self.str(name, fp);
        }
    }
}

/// The members an [`AttributeSink`] writes, under their names or, `private`, under the
/// name prefixed with `_` (a JSON 4.0 extension member). `private` is a constant at every
/// call, so each sink's copy has no branch left.
impl J<'_> {
    #[inline]
    fn member_key(&mut self, private: bool, name: &str) {
        if private {
            // Attribute names are ASCII letters, digits, `_` and `-`: nothing to escape.
            debug_assert!(
                name.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{name}"
            );
            self.sep();
            self.out.extend_from_slice(b"\"_");
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b"\":");
            self.comma = false;
        } else {
            self.key(name);
        }
    }

    #[inline]
    fn member_str(&mut self, private: bool, name: &str, value: &str) {
        self.member_key(private, name);
        push_string(self.out, value);
        self.comma = true;
    }

    #[inline]
    fn member_raw(&mut self, private: bool, name: &str, value: &[u8]) {
        self.member_key(private, name);
        self.out.extend_from_slice(value);
        self.comma = true;
    }

    #[inline]
    fn member_i64(&mut self, private: bool, name: &str, value: i64) {
        self.member_key(private, name);
        push_i64(self.out, value);
        self.comma = true;
    }

    #[inline]
    fn member_u64(&mut self, private: bool, name: &str, value: u64) {
        self.member_key(private, name);
        push_u64(self.out, value);
        self.comma = true;
    }

    /// A digest in hex (`hex`, unless it was read in base64) or base64, or the text that
    /// was not a digest.
    fn member_hash<D: Digest>(
        &mut self,
        private: bool,
        name: &str,
        value: Option<&HashValue<D>>,
        hex: bool,
    ) {
        let (d, hex) = match value {
            None => return,
            Some(HashValue::Unrecognized(text)) => return self.member_str(private, name, text),
            Some(HashValue::Digest(d)) => (d, hex),
            Some(HashValue::Base64(d)) => (d, false),
        };
        self.member_key(private, name);
        self.out.push(b'"');
        if hex {
            push_hex(self.out, d.as_bytes());
        } else {
            push_base64(self.out, d.as_bytes());
        }
        self.out.push(b'"');
        self.comma = true;
    }
}

impl AttributeSink for J<'_> {
    #[inline]
    fn str(&mut self, name: &str, value: &str) {
        self.member_str(false, name, value);
    }

    #[inline]
    fn bool(&mut self, name: &str, value: bool) {
        self.member_raw(false, name, if value { b"true" } else { b"false" });
    }

    #[inline]
    fn i64(&mut self, name: &str, value: i64) {
        self.member_i64(false, name, value);
    }

    #[inline]
    fn u64(&mut self, name: &str, value: u64) {
        self.member_u64(false, name, value);
    }

    #[inline]
    fn base64_hash<D: Digest>(&mut self, name: &str, value: Option<&HashValue<D>>) {
        self.member_hash(false, name, value, false);
    }

    #[inline]
    fn hex_hash<D: Digest>(&mut self, name: &str, value: Option<&HashValue<D>>) {
        self.member_hash(false, name, value, true);
    }
}

/// The members of a JSON 4.0 download operation that 4.0 has no name for: private,
/// prefixed with `_` (`_namediff`, ...).
struct Private<'j, 'o>(&'j mut J<'o>);

impl AttributeSink for Private<'_, '_> {
    #[inline]
    fn str(&mut self, name: &str, value: &str) {
        self.0.member_str(true, name, value);
    }

    #[inline]
    fn bool(&mut self, name: &str, value: bool) {
        self.0
            .member_raw(true, name, if value { b"true" } else { b"false" });
    }

    #[inline]
    fn i64(&mut self, name: &str, value: i64) {
        self.0.member_i64(true, name, value);
    }

    #[inline]
    fn u64(&mut self, name: &str, value: u64) {
        self.0.member_u64(true, name, value);
    }

    #[inline]
    fn base64_hash<D: Digest>(&mut self, name: &str, value: Option<&HashValue<D>>) {
        self.0.member_hash(true, name, value, false);
    }

    #[inline]
    fn hex_hash<D: Digest>(&mut self, name: &str, value: Option<&HashValue<D>>) {
        self.0.member_hash(true, name, value, true);
    }
}

pub(crate) fn request(r: &Request, out: &mut Vec<u8>) {
    let v = JsonVersion::of(r.protocol.as_ref()).unwrap_or(JsonVersion::V3_0);
    out.reserve(768);
    let mut w = J { out, comma: false };
    w.open_obj();
    w.obj("request");
    if let Some(p) = &r.protocol {
        w.str("protocol", p.as_str());
    }
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
    let updater = if v == JsonVersion::V3_0 {
        "updater"
    } else {
        "@updater"
    };
    w.opt(updater, r.updater.as_ref());
    w.opt("updaterchannel", r.updater_channel.as_ref());
    if let Some(hw) = &r.hw {
        w.obj("hw");
        w.opt("sse", hw.sse.as_ref());
        w.opt("sse2", hw.sse2.as_ref());
        w.opt("sse3", hw.sse3.as_ref());
        w.opt("ssse3", hw.ssse3.as_ref());
        w.opt("sse41", hw.sse41.as_ref());
        w.opt("sse42", hw.sse42.as_ref());
        w.opt("avx", hw.avx.as_ref());
        w.opt("physmemory", hw.physmemory.as_ref());
        w.close_obj();
    }
    if let Some(os) = &r.os {
        w.obj("os");
        w.opt("platform", os.platform.as_ref());
        w.opt("version", os.version.as_ref());
        w.opt("sp", os.sp.as_ref());
        w.opt("arch", os.arch.as_ref());
        w.close_obj();
    }
    if !r.apps.is_empty() {
        w.arr("app");
        for app in &r.apps {
            request_app(&mut w, v, app);
        }
        w.close_arr();
    }
    w.close_obj();
    w.close_obj();
}

fn request_app(w: &mut J<'_>, v: JsonVersion, a: &request::App) {
    w.elem();
    app_attributes(w, a);
    w.fingerprint(v, "fp", a.fp.as_ref());
    w.opt_bool("enabled", a.enabled);
    w.opt_i64("ismachine", a.is_machine);
    w.opt("installsource", a.install_source.as_ref());
    if let Some(p) = &a.ping {
        w.obj("ping");
        ping_attributes(w, p);
        w.close_obj();
    }
    if let Some(u) = &a.update_check {
        w.obj("updatecheck");
        update_check_attributes(w, u);
        w.close_obj();
    }
    if !a.events.is_empty() {
        let (downloaded, total) = if v == JsonVersion::V3_0 {
            ("downloaded", "total")
        } else {
            ("downloaded_bytes", "expected_bytes")
        };
        w.arr("event");
        for e in &a.events {
            w.elem();
            w.i64("eventtype", e.event_type.code());
            w.i64("eventresult", e.event_result.code());
            w.opt_i64("errorcode", e.error_code);
            w.opt_i64("extracode1", e.extra_code1);
            w.opt("previousversion", e.previous_version.as_ref());
            w.opt("nextversion", e.next_version.as_ref());
            w.opt_i64("errorcat", e.error_cat);
            w.opt_i64("download_time_ms", e.download_time_ms);
            w.opt_i64(downloaded, e.downloaded);
            w.opt("downloader", e.downloader.as_ref());
            w.opt_i64(total, e.total);
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
            w.fingerprint(v, "nextfp", e.next_fp.as_ref());
            w.fingerprint(v, "previousfp", e.previous_fp.as_ref());
            w.close_obj();
        }
        w.close_arr();
    }
    if !a.data.is_empty() {
        w.arr("data");
        for d in &a.data {
            w.elem();
            w.opt("name", d.name.as_ref());
            w.opt("index", d.index.as_ref());
            w.str("#text", &d.text);
            w.close_obj();
        }
        w.close_arr();
    }
    if !a.disabled.is_empty() {
        w.arr("disabled");
        for d in &a.disabled {
            w.elem();
            w.opt_i64("reason", d.reason);
            w.close_obj();
        }
        w.close_arr();
    }
    if !a.packages.is_empty() {
        w.obj("packages");
        w.arr("package");
        for p in &a.packages {
            w.elem();
            w.fingerprint(v, "fp", p.fp.as_ref());
            w.close_obj();
        }
        w.close_arr();
        w.close_obj();
    }
    w.close_obj();
}

pub(crate) fn response(r: &Response, out: &mut Vec<u8>) {
    let v = JsonVersion::of(r.protocol.as_ref()).unwrap_or(JsonVersion::V3_0);
    out.reserve(1024);
    out.extend_from_slice(PREFIX);
    let mut w = J { out, comma: false };
    w.open_obj();
    w.obj("response");
    if let Some(p) = &r.protocol {
        w.str("protocol", p.as_str());
    }
    w.opt("server", r.server.as_ref());
    w.obj("daystart");
    w.i64("elapsed_seconds", r.daystart.elapsed_seconds);
    w.opt_i64("elapsed_days", r.daystart.elapsed_days);
    w.close_obj();
    if !r.apps.is_empty() {
        w.arr("app");
        for app in &r.apps {
            response_app(&mut w, v, app);
        }
        w.close_arr();
    }
    w.close_obj();
    w.close_obj();
}

fn ack(w: &mut J<'_>, ack: &response::Ack) {
    if let Some(s) = &ack.status {
        w.str("status", s.as_str());
    }
    w.close_obj();
}

fn response_app(w: &mut J<'_>, v: JsonVersion, a: &response::App) {
    w.elem();
    w.str("appid", &a.appid);
    if let Some(s) = &a.status {
        w.str("status", s.as_str());
    }
    w.opt("experiments", a.experiments.as_ref());
    w.opt("cohort", a.cohort.as_ref());
    w.opt("cohorthint", a.cohort_hint.as_ref());
    w.opt("cohortname", a.cohort_name.as_ref());
    if let Some(p) = &a.ping {
        w.obj("ping");
        ack(w, p);
    }
    if let Some(u) = &a.update_check {
        update_check(w, v, u);
    }
    if !a.events.is_empty() {
        w.arr("event");
        for e in &a.events {
            w.elem();
            ack(w, e);
        }
        w.close_arr();
    }
    if !a.data.is_empty() {
        w.arr("data");
        for d in &a.data {
            w.elem();
            w.opt("name", d.name.as_ref());
            w.opt("index", d.index.as_ref());
            if let Some(s) = &d.status {
                w.str("status", s.as_str());
            }
            w.str("#text", &d.text);
            w.close_obj();
        }
        w.close_arr();
    }
    if let Some(u) = &a.unknown {
        w.obj("unknown");
        ack(w, u);
    }
    w.close_obj();
}

fn update_check(w: &mut J<'_>, v: JsonVersion, u: &response::UpdateCheck) {
    w.obj("updatecheck");
    match &u.status {
        // 3.1 and 4.0 spell it in lower case.
        Some(s) if v != JsonVersion::V3_0 && *s == UpdateCheckStatus::UnsupportedProtocol => {
            w.str("status", "error-unsupportedprotocol");
        }
        Some(s) => w.str("status", s.as_str()),
        None => {}
    }
    w.opt_u64("PollInterval", u.poll_interval);
    w.opt("info", u.info.as_ref());
    w.opt("errorurl", u.error_url.as_ref());
    w.opt("tttoken", u.tttoken.as_ref());
    w.opt_bool("_rollback", u.rollback);
    if v == JsonVersion::V4_0 {
        pipelines(w, u);
        w.close_obj();
        return;
    }
    if !u.urls.is_empty() {
        w.obj("urls");
        w.arr("url");
        for url in &u.urls {
            w.elem();
            url_attributes(w, url);
            w.close_obj();
        }
        w.close_arr();
        w.close_obj();
    }
    // One manifest is an object, as every 3.x client reads it; several (Flatcar's
    // floors) are an array.
    match u.manifests.as_slice() {
        [] => {}
        [one] => {
            w.obj("manifest");
            manifest(w, one);
        }
        several => {
            w.arr("manifest");
            for m in several {
                w.elem();
                manifest(w, m);
            }
            w.close_arr();
        }
    }
    w.close_obj();
}

/// The members of an open manifest object, and its end.
fn manifest(w: &mut J<'_>, m: &response::Manifest) {
    manifest_attributes(w, m);
    w.obj("packages");
    w.arr("package");
    for p in &m.packages {
        w.elem();
        package_attributes(w, p);
        if let Some(md) = &p.metadata {
            metadata(w, "metadata", md);
        }
        w.close_obj();
    }
    w.close_arr();
    w.close_obj();
    if !m.actions.is_empty() {
        w.obj("actions");
        w.arr("action");
        for a in &m.actions {
            w.elem();
            action(w, a);
        }
        w.close_arr();
        w.close_obj();
    }
    w.close_obj();
}

/// A package's `<metadata>` child as an object member.
fn metadata(w: &mut J<'_>, name: &str, md: &response::Metadata) {
    w.obj(name);
    w.opt("content-type", md.content_type.as_ref());
    w.str("#text", &md.text);
    w.close_obj();
}

/// The members of an open action object, and its end.
fn action(w: &mut J<'_>, a: &response::Action) {
    action_attributes(w, a);
    w.close_obj();
}

/// 4.0: one pipeline per manifest, one `download` operation per package, whose URLs are
/// the update check's codebases joined with the package name. What 4.0 has no member for
/// travels in `_`-prefixed members (see [`crate::json`]).
fn pipelines(w: &mut J<'_>, u: &response::UpdateCheck) {
    if u.manifests.is_empty() {
        return;
    }
    w.arr("pipelines");
    for m in &u.manifests {
        w.elem();
        w.str("nextversion", &m.version);
        if let Some(fp) = m.packages.first().and_then(|p| p.fp.as_ref()) {
            w.obj("nextfp");
            w.str("fingerprint", fp);
            w.close_obj();
        }
        w.opt_bool("_is_floor", m.is_floor);
        w.opt("_floor_reason", m.floor_reason.as_ref());
        w.opt_bool("_is_target", m.is_target);
        w.arr("operations");
        for (i, p) in m.packages.iter().enumerate() {
            w.elem();
            w.str("type", "download");
            w.u64("size", p.size);
            w.hex_hash("outhash_sha256", p.hash_sha256.as_ref());
            w.arr("urls");
            for url in &u.urls {
                w.elem();
                let mut full = String::with_capacity(url.codebase.as_str().len() + p.name.len());
                full.push_str(url.codebase.as_str());
                full.push_str(&p.name);
                w.str("url", &full);
                w.close_obj();
            }
            w.close_arr();
            let mut private = Private(w);
            private.str("name", &p.name);
            private.base64_hash("hash", p.hash.as_ref());
            private.bool("required", p.required);
            // The first package's fingerprint is the pipeline's `nextfp`.
            if i > 0 {
                private.opt("fp", p.fp.as_ref());
            }
            package_diff_attributes(&mut private, p);
            if let Some(md) = &p.metadata {
                metadata(w, "_metadata", md);
            }
            w.close_obj();
        }
        w.close_arr();
        if !m.actions.is_empty() {
            w.arr("_actions");
            for a in &m.actions {
                w.elem();
                action(w, a);
            }
            w.close_arr();
        }
        w.close_obj();
    }
    w.close_arr();
}
