//! Decoding of JSON requests and responses into the typed model (see the mapping in
//! [`crate::json`]).

use std::borrow::Cow;

use super::read::{Reader, Scalar};
use crate::codes::{
    AckStatus, ActionEvent, AppStatus, DataStatus, EventResult, EventType, Protocol,
    UpdateCheckStatus,
};
use crate::decode::{parse_bool, truncate};
use crate::digest::{Digest, HashValue};
use crate::error::DecodeError;
use crate::request::{self, Request};
use crate::response::{
    Ack, Action, App, Codebase, Data, DayStart, Manifest, Metadata, Package, Response, UpdateCheck,
    Url,
};

const DOCUMENT: &str = "document";
const REQUEST: &str = "request";
const HW: &str = "request/hw";
const OS: &str = "request/os";
const APP: &str = "request/app";
const FINGERPRINT: &str = "request/app/fp";
const PING: &str = "request/app/ping";
const REQ_UPDATECHECK: &str = "request/app/updatecheck";
const EVENT: &str = "request/app/event";
const REQ_DATA: &str = "request/app/data";
const DISABLED: &str = "request/app/disabled";
const REQ_PACKAGES: &str = "request/app/packages";
const REQ_PACKAGE: &str = "request/app/packages/package";
const RESPONSE: &str = "response";
const DAYSTART: &str = "response/daystart";
const RESP_APP: &str = "response/app";
const ACK: &str = "response/app/ack";
const RESP_DATA: &str = "response/app/data";
const UPDATECHECK: &str = "response/app/updatecheck";
const URLS: &str = "response/app/updatecheck/urls";
const URL: &str = "response/app/updatecheck/urls/url";
const MANIFEST: &str = "response/app/updatecheck/manifest";
const PACKAGES: &str = "response/app/updatecheck/manifest/packages";
const PACKAGE: &str = "response/app/updatecheck/manifest/packages/package";
const METADATA: &str = "response/app/updatecheck/manifest/packages/package/metadata";
const ACTIONS: &str = "response/app/updatecheck/manifest/actions";
const ACTION: &str = "response/app/updatecheck/manifest/actions/action";
const PIPELINE: &str = "response/app/updatecheck/pipelines";
const OPERATION: &str = "response/app/updatecheck/pipelines/operations";
const OP_URL: &str = "response/app/updatecheck/pipelines/operations/urls";

/// Decodes a whole document: an optional `)]}'` prefix, then one object whose member
/// `root` is handed to `parse`; other top-level members are ignored.
pub(crate) fn document<'a, T>(
    r: &mut Reader<'a>,
    root: &'static str,
    parse: impl Fn(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    r.skip_prefix();
    match r.peek() {
        None => return Err(DecodeError::MissingJsonRoot { expected: root }),
        Some(b'{') => {}
        Some(_) => return Err(r.malformed(DOCUMENT, "expected a JSON object")),
    }
    let mut value = None;
    r.object(DOCUMENT, "", DOCUMENT, |r, key, at| {
        if key == root {
            if value.is_some() {
                return Err(dup(DOCUMENT, root, at));
            }
            value = Some(parse(r)?);
            Ok(())
        } else {
            r.skip_value(DOCUMENT)
        }
    })?;
    if !r.at_end() {
        return Err(r.malformed(DOCUMENT, "content after the JSON document"));
    }
    value.ok_or(DecodeError::MissingJsonRoot { expected: root })
}

fn dup(path: &'static str, member: &str, at: usize) -> DecodeError {
    DecodeError::DuplicateMember {
        path,
        member: truncate(member, 64),
        offset: at,
    }
}

/// Stores `value` in an empty `slot`; a second occurrence is a duplicate member.
fn put<T>(
    slot: &mut Option<T>,
    value: Option<T>,
    path: &'static str,
    name: &'static str,
    at: usize,
) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(dup(path, name, at));
    }
    if value.is_some() {
        *slot = value;
    }
    Ok(())
}

fn scalar_text<'s>(value: &'s Scalar<'_>) -> &'s str {
    match value {
        Scalar::Str(s) => s.as_ref(),
        Scalar::Num(n) => n,
        Scalar::Bool(true) => "true",
        Scalar::Bool(false) => "false",
        Scalar::Null => "null",
    }
}

/// Reads a scalar as text (a number as written, a boolean as `true`/`false`), bounded
/// by `max_attribute_bytes`; `null` is `None`.
fn text<'a>(
    r: &mut Reader<'a>,
    path: &'static str,
    name: &'static str,
) -> Result<Option<Cow<'a, str>>, DecodeError> {
    let offset = r.position();
    let value = r.scalar(path, name)?;
    let text = match value {
        Scalar::Null => return Ok(None),
        Scalar::Str(s) => s,
        Scalar::Num(n) => Cow::Borrowed(n),
        Scalar::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
    };
    if text.len() > r.limits.max_attribute_bytes {
        return Err(DecodeError::AttributeTooLong {
            path,
            attribute: name.to_owned(),
            len: text.len(),
            limit: r.limits.max_attribute_bytes,
            offset,
        });
    }
    Ok(Some(text))
}

/// A string member.
fn s(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    at: usize,
    slot: &mut Option<String>,
) -> Result<(), DecodeError> {
    let value = text(r, path, name)?.map(Cow::into_owned);
    put(slot, value, path, name, at)
}

/// A member whose text is mapped by `f` (status strings, digests).
fn parsed<T>(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    at: usize,
    slot: &mut Option<T>,
    f: impl FnOnce(&str) -> Option<T>,
) -> Result<(), DecodeError> {
    let value = text(r, path, name)?.and_then(|t| f(&t));
    put(slot, value, path, name, at)
}

/// Reads a number-like scalar: `parse` gets the trimmed text of a number or string (an
/// empty string is absent, as in the XML codec), `from_bool` maps a boolean.
fn numeric<T>(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    expected: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
    from_bool: impl FnOnce(bool) -> Option<T>,
) -> Result<Option<T>, DecodeError> {
    let offset = r.position();
    let value = r.scalar(path, name)?;
    let parsed = match &value {
        Scalar::Null => return Ok(None),
        Scalar::Bool(b) => from_bool(*b),
        Scalar::Num(n) => parse(n),
        Scalar::Str(t) => {
            let t = t.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
            if t.is_empty() {
                return Ok(None);
            }
            parse(t)
        }
    };
    match parsed {
        Some(v) => Ok(Some(v)),
        None => Err(DecodeError::InvalidValue {
            path,
            attribute: name,
            value: truncate(scalar_text(&value), 64),
            expected,
            offset,
        }),
    }
}

/// A signed integer member (`true`/`false` read as 1/0).
fn i(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    at: usize,
    slot: &mut Option<i64>,
) -> Result<(), DecodeError> {
    let value = numeric(
        r,
        path,
        name,
        "an integer",
        |t| t.parse::<i64>().ok(),
        |b| Some(i64::from(b)),
    )?;
    put(slot, value, path, name, at)
}

/// An unsigned integer member.
fn u(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    at: usize,
    slot: &mut Option<u64>,
) -> Result<(), DecodeError> {
    let value = numeric(
        r,
        path,
        name,
        "an unsigned integer",
        |t| t.parse::<u64>().ok(),
        |b| Some(u64::from(b)),
    )?;
    put(slot, value, path, name, at)
}

/// A boolean member: a JSON boolean, or any spelling the XML codec accepts.
fn b(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    at: usize,
    slot: &mut Option<bool>,
) -> Result<(), DecodeError> {
    let value = numeric(
        r,
        path,
        name,
        "a boolean (true/false, 1/0, t/f, yes/no, y/n, on/off)",
        parse_bool,
        Some,
    )?;
    put(slot, value, path, name, at)
}

/// A tri-state boolean of 3.1/4.0 (`enabled`): `-1` (unknown) is absent.
fn tri(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    at: usize,
    slot: &mut Option<bool>,
) -> Result<(), DecodeError> {
    let value = numeric(
        r,
        path,
        name,
        "a boolean, or -1 for unknown",
        |t| {
            if t == "-1" {
                Some(None)
            } else {
                parse_bool(t).map(Some)
            }
        },
        |b| Some(Some(b)),
    )?;
    put(slot, value.flatten(), path, name, at)
}

/// A digest member: empty is absent, otherwise a digest or the verbatim text.
fn hash<D: Digest>(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    at: usize,
    slot: &mut Option<HashValue<D>>,
) -> Result<(), DecodeError> {
    parsed(r, path, name, at, slot, |t| {
        (!t.is_empty()).then(|| HashValue::parse(t))
    })
}

/// A fingerprint: a string (3.0, 3.1) or a `{"fingerprint": ...}` object (4.0).
fn fingerprint(
    r: &mut Reader<'_>,
    path: &'static str,
    name: &'static str,
    at: usize,
    slot: &mut Option<String>,
) -> Result<(), DecodeError> {
    if r.peek() != Some(b'{') {
        return s(r, path, name, at, slot);
    }
    let mut value = None;
    r.object(path, name, FINGERPRINT, |r, key, at| match key {
        "fingerprint" => s(r, FINGERPRINT, "fingerprint", at, &mut value),
        _ => r.skip_value(FINGERPRINT),
    })?;
    put(slot, value, path, name, at)
}

fn too_many_items(
    r: &Reader<'_>,
    path: &'static str,
    element: &'static str,
    at: usize,
) -> DecodeError {
    DecodeError::TooManyItems {
        path,
        element,
        limit: r.limits.max_items,
        offset: at,
    }
}

/// Reads a list member into `items`, at most `max_items` of them.
fn items<'a, T>(
    r: &mut Reader<'a>,
    path: &'static str,
    name: &'static str,
    items: &mut Vec<T>,
    mut item: impl FnMut(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> Result<(), DecodeError> {
    r.list(path, name, |r, at| {
        if items.len() >= r.limits.max_items {
            return Err(too_many_items(r, path, name, at));
        }
        items.push(item(r)?);
        Ok(())
    })
}

fn protocol(
    r: &mut Reader<'_>,
    path: &'static str,
    at: usize,
    slot: &mut Option<Protocol>,
) -> Result<(), DecodeError> {
    parsed(r, path, "protocol", at, slot, |t| Some(Protocol::parse(t)))
}

// ---------------------------------------------------------------- requests

pub(crate) fn request(r: &mut Reader<'_>) -> Result<Request, DecodeError> {
    let mut q = Request::new();
    q.protocol = None;
    r.object(DOCUMENT, REQUEST, REQUEST, |r, key, at| match key {
        "protocol" => protocol(r, REQUEST, at, &mut q.protocol),
        "version" => s(r, REQUEST, "version", at, &mut q.version),
        "updaterversion" => s(r, REQUEST, "updaterversion", at, &mut q.updater_version),
        "installsource" => s(r, REQUEST, "installsource", at, &mut q.install_source),
        "ismachine" => i(r, REQUEST, "ismachine", at, &mut q.is_machine),
        "requestid" => s(r, REQUEST, "requestid", at, &mut q.request_id),
        "sessionid" => s(r, REQUEST, "sessionid", at, &mut q.session_id),
        "userid" => s(r, REQUEST, "userid", at, &mut q.user_id),
        "testsource" => s(r, REQUEST, "testsource", at, &mut q.test_source),
        "acceptformat" => s(r, REQUEST, "acceptformat", at, &mut q.accept_format),
        "dedup" => s(r, REQUEST, "dedup", at, &mut q.dedup),
        "dlpref" => s(r, REQUEST, "dlpref", at, &mut q.dlpref),
        "originurl" => s(r, REQUEST, "originurl", at, &mut q.origin_url),
        // 3.0 names the updater `updater`; 3.1 and 4.0 name it `@updater` and use
        // `updater` for the list of sibling updaters, which is not modelled.
        "updater" => {
            if r.at_container() {
                r.skip_value(REQUEST)
            } else {
                s(r, REQUEST, "updater", at, &mut q.updater)
            }
        }
        "@updater" => s(r, REQUEST, "@updater", at, &mut q.updater),
        "updaterchannel" => s(r, REQUEST, "updaterchannel", at, &mut q.updater_channel),
        "hw" => {
            let hw = hw(r)?;
            put(&mut q.hw, Some(hw), REQUEST, "hw", at)
        }
        "os" => {
            let os = os(r)?;
            put(&mut q.os, Some(os), REQUEST, "os", at)
        }
        "app" => r.list(REQUEST, "app", |r, at| {
            if q.apps.len() >= r.limits.max_apps {
                return Err(DecodeError::TooManyApps {
                    path: REQUEST,
                    limit: r.limits.max_apps,
                    offset: at,
                });
            }
            q.apps.push(app(r)?);
            Ok(())
        }),
        _ => r.skip_value(REQUEST),
    })?;
    Ok(q)
}

fn hw(r: &mut Reader<'_>) -> Result<request::Hw, DecodeError> {
    let mut h = request::Hw::default();
    r.object(REQUEST, "hw", HW, |r, key, at| match key {
        "sse" => s(r, HW, "sse", at, &mut h.sse),
        "sse2" => s(r, HW, "sse2", at, &mut h.sse2),
        "sse3" => s(r, HW, "sse3", at, &mut h.sse3),
        "ssse3" => s(r, HW, "ssse3", at, &mut h.ssse3),
        "sse41" => s(r, HW, "sse41", at, &mut h.sse41),
        "sse42" => s(r, HW, "sse42", at, &mut h.sse42),
        "avx" => s(r, HW, "avx", at, &mut h.avx),
        "physmemory" => s(r, HW, "physmemory", at, &mut h.physmemory),
        _ => r.skip_value(HW),
    })?;
    Ok(h)
}

fn os(r: &mut Reader<'_>) -> Result<request::Os, DecodeError> {
    let mut o = request::Os::default();
    r.object(REQUEST, "os", OS, |r, key, at| match key {
        "platform" => s(r, OS, "platform", at, &mut o.platform),
        "version" => s(r, OS, "version", at, &mut o.version),
        "sp" => s(r, OS, "sp", at, &mut o.sp),
        "arch" => s(r, OS, "arch", at, &mut o.arch),
        _ => r.skip_value(OS),
    })?;
    Ok(o)
}

fn app(r: &mut Reader<'_>) -> Result<request::App, DecodeError> {
    let mut a = request::App::default();
    let mut appid = None;
    r.object(REQUEST, "app", APP, |r, key, at| match key {
        "appid" => s(r, APP, "appid", at, &mut appid),
        "version" => s(r, APP, "version", at, &mut a.version),
        "track" => s(r, APP, "track", at, &mut a.track),
        "bootid" => s(r, APP, "bootid", at, &mut a.boot_id),
        "oem" => s(r, APP, "oem", at, &mut a.oem),
        "oemversion" => s(r, APP, "oemversion", at, &mut a.oem_version),
        "alephversion" => s(r, APP, "alephversion", at, &mut a.aleph_version),
        "machineid" => s(r, APP, "machineid", at, &mut a.machine_id),
        "machinealias" => s(r, APP, "machinealias", at, &mut a.machine_alias),
        "lang" => s(r, APP, "lang", at, &mut a.lang),
        "board" => s(r, APP, "board", at, &mut a.board),
        "hardware_class" => s(r, APP, "hardware_class", at, &mut a.hardware_class),
        "delta_okay" => b(r, APP, "delta_okay", at, &mut a.delta_okay),
        "from_track" => s(r, APP, "from_track", at, &mut a.from_track),
        "multi_manifest_ok" => b(r, APP, "multi_manifest_ok", at, &mut a.multi_manifest_ok),
        "nextversion" => s(r, APP, "nextversion", at, &mut a.next_version),
        "client" => s(r, APP, "client", at, &mut a.client),
        "installage" => i(r, APP, "installage", at, &mut a.install_age),
        "brand" => s(r, APP, "brand", at, &mut a.brand),
        "ap" => s(r, APP, "ap", at, &mut a.ap),
        "experiments" => s(r, APP, "experiments", at, &mut a.experiments),
        "iid" => s(r, APP, "iid", at, &mut a.iid),
        "installdate" => s(r, APP, "installdate", at, &mut a.install_date),
        "cohort" => s(r, APP, "cohort", at, &mut a.cohort),
        "cohorthint" => s(r, APP, "cohorthint", at, &mut a.cohort_hint),
        "cohortname" => s(r, APP, "cohortname", at, &mut a.cohort_name),
        "release_channel" => s(r, APP, "release_channel", at, &mut a.release_channel),
        "tag" => s(r, APP, "tag", at, &mut a.tag),
        "fp" => fingerprint(r, APP, "fp", at, &mut a.fp),
        "enabled" => tri(r, APP, "enabled", at, &mut a.enabled),
        "ismachine" => i(r, APP, "ismachine", at, &mut a.is_machine),
        "installsource" => s(r, APP, "installsource", at, &mut a.install_source),
        "ping" => {
            let ping = ping(r)?;
            put(&mut a.ping, Some(ping), APP, "ping", at)
        }
        "updatecheck" => {
            let check = req_update_check(r)?;
            put(&mut a.update_check, Some(check), APP, "updatecheck", at)
        }
        "event" => r.list(APP, "event", |r, at| {
            if a.events.len() >= r.limits.max_events_per_app {
                return Err(DecodeError::TooManyEvents {
                    path: APP,
                    limit: r.limits.max_events_per_app,
                    offset: at,
                });
            }
            a.events.push(event(r)?);
            Ok(())
        }),
        "data" => items(r, APP, "data", &mut a.data, req_data),
        "disabled" => items(r, APP, "disabled", &mut a.disabled, disabled),
        "packages" => r.object(APP, "packages", REQ_PACKAGES, |r, key, _| match key {
            "package" => items(r, REQ_PACKAGES, "package", &mut a.packages, installed),
            _ => r.skip_value(REQ_PACKAGES),
        }),
        _ => r.skip_value(APP),
    })?;
    a.appid = appid.unwrap_or_default();
    Ok(a)
}

fn ping(r: &mut Reader<'_>) -> Result<request::Ping, DecodeError> {
    let mut p = request::Ping::default();
    r.object(APP, "ping", PING, |r, key, at| match key {
        "active" => i(r, PING, "active", at, &mut p.active),
        "a" => i(r, PING, "a", at, &mut p.a),
        "r" => i(r, PING, "r", at, &mut p.r),
        "ad" => i(r, PING, "ad", at, &mut p.ad),
        "rd" => i(r, PING, "rd", at, &mut p.rd),
        "ping_freshness" => s(r, PING, "ping_freshness", at, &mut p.ping_freshness),
        _ => r.skip_value(PING),
    })?;
    Ok(p)
}

fn req_update_check(r: &mut Reader<'_>) -> Result<request::UpdateCheck, DecodeError> {
    const P: &str = REQ_UPDATECHECK;
    let mut c = request::UpdateCheck::default();
    r.object(APP, "updatecheck", P, |r, key, at| match key {
        "targetversionprefix" => s(
            r,
            P,
            "targetversionprefix",
            at,
            &mut c.target_version_prefix,
        ),
        "tttoken" => s(r, P, "tttoken", at, &mut c.tttoken),
        "updatedisabled" => b(r, P, "updatedisabled", at, &mut c.update_disabled),
        "sameversionupdate" => b(r, P, "sameversionupdate", at, &mut c.same_version_update),
        "rollback_allowed" => b(r, P, "rollback_allowed", at, &mut c.rollback_allowed),
        _ => r.skip_value(P),
    })?;
    Ok(c)
}

fn event(r: &mut Reader<'_>) -> Result<request::Event, DecodeError> {
    const P: &str = EVENT;
    let mut e = request::Event::new(EventType::Unknown, EventResult::Error);
    let mut event_type = None;
    let mut event_result = None;
    r.object(APP, "event", P, |r, key, at| match key {
        "eventtype" => i(r, P, "eventtype", at, &mut event_type),
        "eventresult" => i(r, P, "eventresult", at, &mut event_result),
        "errorcode" => i(r, P, "errorcode", at, &mut e.error_code),
        "extracode1" => i(r, P, "extracode1", at, &mut e.extra_code1),
        "previousversion" => s(r, P, "previousversion", at, &mut e.previous_version),
        "nextversion" => s(r, P, "nextversion", at, &mut e.next_version),
        "errorcat" => i(r, P, "errorcat", at, &mut e.error_cat),
        "download_time_ms" => i(r, P, "download_time_ms", at, &mut e.download_time_ms),
        // 3.0 says `downloaded` and `total`; 3.1 and 4.0 `downloaded_bytes` and
        // `expected_bytes`.
        "downloaded" => i(r, P, "downloaded", at, &mut e.downloaded),
        "downloaded_bytes" => i(r, P, "downloaded_bytes", at, &mut e.downloaded),
        "downloader" => s(r, P, "downloader", at, &mut e.downloader),
        "total" => i(r, P, "total", at, &mut e.total),
        "expected_bytes" => i(r, P, "expected_bytes", at, &mut e.total),
        "update_check_time_ms" => i(
            r,
            P,
            "update_check_time_ms",
            at,
            &mut e.update_check_time_ms,
        ),
        "install_time_ms" => i(r, P, "install_time_ms", at, &mut e.install_time_ms),
        "source_url_index" => i(r, P, "source_url_index", at, &mut e.source_url_index),
        "state_cancelled" => i(r, P, "state_cancelled", at, &mut e.state_cancelled),
        "time_since_update_available_ms" => i(
            r,
            P,
            "time_since_update_available_ms",
            at,
            &mut e.time_since_update_available_ms,
        ),
        "time_since_download_start_ms" => i(
            r,
            P,
            "time_since_download_start_ms",
            at,
            &mut e.time_since_download_start_ms,
        ),
        "url" => s(r, P, "url", at, &mut e.url),
        "nextfp" => fingerprint(r, P, "nextfp", at, &mut e.next_fp),
        "previousfp" => fingerprint(r, P, "previousfp", at, &mut e.previous_fp),
        _ => r.skip_value(P),
    })?;
    e.event_type = EventType::from_code(event_type.unwrap_or(0));
    e.event_result = EventResult::from_code(event_result.unwrap_or(0));
    Ok(e)
}

fn req_data(r: &mut Reader<'_>) -> Result<request::Data, DecodeError> {
    let mut d = request::Data::default();
    let mut text = None;
    r.object(APP, "data", REQ_DATA, |r, key, at| match key {
        "name" => s(r, REQ_DATA, "name", at, &mut d.name),
        "index" => s(r, REQ_DATA, "index", at, &mut d.index),
        "#text" => s(r, REQ_DATA, "#text", at, &mut text),
        _ => r.skip_value(REQ_DATA),
    })?;
    d.text = text.unwrap_or_default();
    Ok(d)
}

fn disabled(r: &mut Reader<'_>) -> Result<request::Disabled, DecodeError> {
    let mut d = request::Disabled::default();
    r.object(APP, "disabled", DISABLED, |r, key, at| match key {
        "reason" => i(r, DISABLED, "reason", at, &mut d.reason),
        _ => r.skip_value(DISABLED),
    })?;
    Ok(d)
}

fn installed(r: &mut Reader<'_>) -> Result<request::InstalledPackage, DecodeError> {
    let mut p = request::InstalledPackage::default();
    r.object(
        REQ_PACKAGES,
        "package",
        REQ_PACKAGE,
        |r, key, at| match key {
            "fp" => fingerprint(r, REQ_PACKAGE, "fp", at, &mut p.fp),
            _ => r.skip_value(REQ_PACKAGE),
        },
    )?;
    Ok(p)
}

// --------------------------------------------------------------- responses

pub(crate) fn response(r: &mut Reader<'_>) -> Result<Response, DecodeError> {
    let mut protocol_value = None;
    let mut server = None;
    let mut daystart = None;
    let mut apps = Vec::new();
    r.object(DOCUMENT, RESPONSE, RESPONSE, |r, key, at| match key {
        "protocol" => protocol(r, RESPONSE, at, &mut protocol_value),
        "server" => s(r, RESPONSE, "server", at, &mut server),
        "daystart" => {
            let mut seconds = None;
            let mut days = None;
            r.object(RESPONSE, "daystart", DAYSTART, |r, key, at| match key {
                "elapsed_seconds" => i(r, DAYSTART, "elapsed_seconds", at, &mut seconds),
                "elapsed_days" => i(r, DAYSTART, "elapsed_days", at, &mut days),
                _ => r.skip_value(DAYSTART),
            })?;
            let value = DayStart {
                elapsed_seconds: seconds.unwrap_or(0),
                elapsed_days: days,
            };
            put(&mut daystart, Some(value), RESPONSE, "daystart", at)
        }
        "app" => r.list(RESPONSE, "app", |r, at| {
            if apps.len() >= r.limits.max_apps {
                return Err(DecodeError::TooManyApps {
                    path: RESPONSE,
                    limit: r.limits.max_apps,
                    offset: at,
                });
            }
            apps.push(resp_app(r)?);
            Ok(())
        }),
        _ => r.skip_value(RESPONSE),
    })?;
    Ok(Response {
        protocol: protocol_value,
        server,
        daystart: daystart.unwrap_or_default(),
        apps,
    })
}

fn ack(r: &mut Reader<'_>, name: &'static str) -> Result<Ack, DecodeError> {
    let mut status = None;
    r.object(RESP_APP, name, ACK, |r, key, at| match key {
        "status" => parsed(r, ACK, "status", at, &mut status, |t| {
            Some(AckStatus::parse(t))
        }),
        _ => r.skip_value(ACK),
    })?;
    Ok(Ack { status })
}

fn resp_app(r: &mut Reader<'_>) -> Result<App, DecodeError> {
    const P: &str = RESP_APP;
    let mut a = App::default();
    let mut appid = None;
    r.object(RESPONSE, "app", P, |r, key, at| match key {
        "appid" => s(r, P, "appid", at, &mut appid),
        "status" => parsed(r, P, "status", at, &mut a.status, |t| {
            Some(AppStatus::parse(t))
        }),
        "experiments" => s(r, P, "experiments", at, &mut a.experiments),
        "cohort" => s(r, P, "cohort", at, &mut a.cohort),
        "cohorthint" => s(r, P, "cohorthint", at, &mut a.cohort_hint),
        "cohortname" => s(r, P, "cohortname", at, &mut a.cohort_name),
        "ping" => {
            let ping = ack(r, "ping")?;
            put(&mut a.ping, Some(ping), P, "ping", at)
        }
        "unknown" => {
            let unknown = ack(r, "unknown")?;
            put(&mut a.unknown, Some(unknown), P, "unknown", at)
        }
        "updatecheck" => {
            let check = update_check(r)?;
            put(&mut a.update_check, Some(check), P, "updatecheck", at)
        }
        "event" => r.list(P, "event", |r, at| {
            if a.events.len() >= r.limits.max_events_per_app {
                return Err(DecodeError::TooManyEvents {
                    path: P,
                    limit: r.limits.max_events_per_app,
                    offset: at,
                });
            }
            a.events.push(ack(r, "event")?);
            Ok(())
        }),
        "data" => items(r, P, "data", &mut a.data, resp_data),
        _ => r.skip_value(P),
    })?;
    a.appid = appid.unwrap_or_default();
    Ok(a)
}

fn resp_data(r: &mut Reader<'_>) -> Result<Data, DecodeError> {
    let mut d = Data::default();
    let mut text = None;
    r.object(RESP_APP, "data", RESP_DATA, |r, key, at| match key {
        "name" => s(r, RESP_DATA, "name", at, &mut d.name),
        "index" => s(r, RESP_DATA, "index", at, &mut d.index),
        "status" => parsed(r, RESP_DATA, "status", at, &mut d.status, |t| {
            Some(DataStatus::parse(t))
        }),
        "#text" => s(r, RESP_DATA, "#text", at, &mut text),
        _ => r.skip_value(RESP_DATA),
    })?;
    d.text = text.unwrap_or_default();
    Ok(d)
}

/// The update check status; 3.1 and 4.0 spell `error-unsupportedProtocol` in lower case.
fn update_status(text: &str) -> UpdateCheckStatus {
    if text == "error-unsupportedprotocol" {
        UpdateCheckStatus::UnsupportedProtocol
    } else {
        UpdateCheckStatus::parse(text)
    }
}

/// A 4.0 pipeline read as a manifest, with the first download operation's URLs and
/// package name (the update check's codebases are derived from them).
struct Pipeline {
    manifest: Manifest,
    first_download: Option<(Vec<String>, String)>,
}

fn update_check(r: &mut Reader<'_>) -> Result<UpdateCheck, DecodeError> {
    const P: &str = UPDATECHECK;
    let mut c = UpdateCheck::default();
    let mut has_urls = false;
    let mut pipelines: Vec<Pipeline> = Vec::new();
    r.object(RESP_APP, "updatecheck", P, |r, key, at| match key {
        "status" => parsed(r, P, "status", at, &mut c.status, |t| {
            Some(update_status(t))
        }),
        "PollInterval" => u(r, P, "PollInterval", at, &mut c.poll_interval),
        "info" => s(r, P, "info", at, &mut c.info),
        "errorurl" => s(r, P, "errorurl", at, &mut c.error_url),
        "tttoken" => s(r, P, "tttoken", at, &mut c.tttoken),
        "_rollback" => b(r, P, "_rollback", at, &mut c.rollback),
        "urls" => {
            has_urls = true;
            r.object(P, "urls", URLS, |r, key, _| match key {
                "url" => items(r, URLS, "url", &mut c.urls, url),
                _ => r.skip_value(URLS),
            })
        }
        "manifest" => items(r, P, "manifest", &mut c.manifests, manifest),
        "pipelines" => items(r, P, "pipelines", &mut pipelines, pipeline),
        _ => r.skip_value(P),
    })?;
    // A 4.0 answer: the pipelines are the manifests, and the codebases are the first
    // download's URLs without the package name.
    if c.manifests.is_empty() && !pipelines.is_empty() {
        let mut first = None;
        for p in pipelines {
            if first.is_none() {
                first = p.first_download;
            }
            c.manifests.push(p.manifest);
        }
        if !has_urls && let Some((urls, name)) = first {
            c.urls = urls
                .iter()
                .map(|full| Url::new(Codebase::new(codebase_of(full, &name))))
                .collect();
        }
    }
    Ok(c)
}

/// The codebase of a full download URL: the URL without the package name, or up to its
/// last `/` when it does not end with the name.
fn codebase_of<'u>(url: &'u str, name: &str) -> &'u str {
    if !name.is_empty()
        && let Some(base) = url.strip_suffix(name)
    {
        return base;
    }
    url.rfind('/').map_or("", |i| &url[..=i])
}

fn url(r: &mut Reader<'_>) -> Result<Url, DecodeError> {
    let mut codebase = None;
    let mut out = Url::default();
    r.object(URLS, "url", URL, |r, key, at| match key {
        "codebase" => parsed(r, URL, "codebase", at, &mut codebase, |t| {
            Some(Codebase::new(t))
        }),
        "codebasediff" => s(r, URL, "codebasediff", at, &mut out.codebase_diff),
        _ => r.skip_value(URL),
    })?;
    out.codebase = codebase.unwrap_or_default();
    Ok(out)
}

fn manifest(r: &mut Reader<'_>) -> Result<Manifest, DecodeError> {
    const P: &str = MANIFEST;
    let mut m = Manifest::default();
    let mut version = None;
    r.object(UPDATECHECK, "manifest", P, |r, key, at| match key {
        "version" => s(r, P, "version", at, &mut version),
        "is_floor" => b(r, P, "is_floor", at, &mut m.is_floor),
        "floor_reason" => s(r, P, "floor_reason", at, &mut m.floor_reason),
        "is_target" => b(r, P, "is_target", at, &mut m.is_target),
        "packages" => r.object(P, "packages", PACKAGES, |r, key, _| match key {
            "package" => items(r, PACKAGES, "package", &mut m.packages, package),
            _ => r.skip_value(PACKAGES),
        }),
        "actions" => r.object(P, "actions", ACTIONS, |r, key, _| match key {
            "action" => items(r, ACTIONS, "action", &mut m.actions, action),
            _ => r.skip_value(ACTIONS),
        }),
        _ => r.skip_value(P),
    })?;
    m.version = version.unwrap_or_default();
    Ok(m)
}

/// The members of a package shared by 3.x `package` objects (`name`, `hash`, ...) and
/// 4.0 download operations (where they are private extensions, prefixed with `_`).
/// Returns `false` for a member it does not handle.
fn package_member(
    r: &mut Reader<'_>,
    path: &'static str,
    key: &str,
    at: usize,
    p: &mut Package,
    name: &mut Option<String>,
    required: &mut Option<bool>,
) -> Result<bool, DecodeError> {
    let op = path == OPERATION;
    let n = |plain: &'static str, prefixed: &'static str| if op { prefixed } else { plain };
    let bare = if op {
        match key.strip_prefix('_') {
            Some(bare) => bare,
            None => return Ok(false),
        }
    } else {
        key
    };
    match bare {
        "name" => s(r, path, n("name", "_name"), at, name)?,
        "hash" => hash(r, path, n("hash", "_hash"), at, &mut p.hash)?,
        "required" => b(r, path, n("required", "_required"), at, required)?,
        "fp" => fingerprint(r, path, n("fp", "_fp"), at, &mut p.fp)?,
        "namediff" => s(r, path, n("namediff", "_namediff"), at, &mut p.name_diff)?,
        "sizediff" => u(r, path, n("sizediff", "_sizediff"), at, &mut p.size_diff)?,
        "hashdiff" => s(r, path, n("hashdiff", "_hashdiff"), at, &mut p.hash_diff)?,
        "hashdiff_sha256" => s(
            r,
            path,
            n("hashdiff_sha256", "_hashdiff_sha256"),
            at,
            &mut p.hash_diff_sha256,
        )?,
        "metadata" => {
            let member = n("metadata", "_metadata");
            let mut content_type = None;
            let mut text = None;
            r.object(path, member, METADATA, |r, key, at| match key {
                "content-type" => s(r, METADATA, "content-type", at, &mut content_type),
                "#text" => s(r, METADATA, "#text", at, &mut text),
                _ => r.skip_value(METADATA),
            })?;
            let md = Metadata {
                content_type,
                text: text.unwrap_or_default(),
            };
            put(&mut p.metadata, Some(md), path, member, at)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn package(r: &mut Reader<'_>) -> Result<Package, DecodeError> {
    let mut p = Package::default();
    let mut name = None;
    let mut size = None;
    let mut required = None;
    r.object(PACKAGES, "package", PACKAGE, |r, key, at| match key {
        "hash_sha256" => hash(r, PACKAGE, "hash_sha256", at, &mut p.hash_sha256),
        "size" => u(r, PACKAGE, "size", at, &mut size),
        _ => {
            if package_member(r, PACKAGE, key, at, &mut p, &mut name, &mut required)? {
                Ok(())
            } else {
                r.skip_value(PACKAGE)
            }
        }
    })?;
    p.name = name.unwrap_or_default();
    p.size = size.unwrap_or(0);
    p.required = required.unwrap_or(false);
    Ok(p)
}

fn action(r: &mut Reader<'_>) -> Result<Action, DecodeError> {
    const P: &str = ACTION;
    let mut a = Action::default();
    r.object(ACTIONS, "action", P, |r, key, at| match key {
        "event" => parsed(r, P, "event", at, &mut a.event, |t| {
            Some(ActionEvent::parse(t))
        }),
        "sha256" => hash(r, P, "sha256", at, &mut a.sha256),
        "DisplayVersion" => s(r, P, "DisplayVersion", at, &mut a.display_version),
        "ChromeOSVersion" => s(r, P, "ChromeOSVersion", at, &mut a.chromeos_version),
        "needsadmin" => b(r, P, "needsadmin", at, &mut a.needs_admin),
        "IsDeltaPayload" => b(r, P, "IsDeltaPayload", at, &mut a.is_delta_payload),
        "IsDelta" => b(r, P, "IsDelta", at, &mut a.is_delta),
        "DisablePayloadBackoff" => b(
            r,
            P,
            "DisablePayloadBackoff",
            at,
            &mut a.disable_payload_backoff,
        ),
        "MaxFailureCountPerUrl" => u(
            r,
            P,
            "MaxFailureCountPerUrl",
            at,
            &mut a.max_failure_count_per_url,
        ),
        "MetadataSignatureRsa" => s(
            r,
            P,
            "MetadataSignatureRsa",
            at,
            &mut a.metadata_signature_rsa,
        ),
        "MetadataSize" => s(r, P, "MetadataSize", at, &mut a.metadata_size),
        "deadline" => s(r, P, "deadline", at, &mut a.deadline),
        "MoreInfo" => s(r, P, "MoreInfo", at, &mut a.more_info),
        "Prompt" => b(r, P, "Prompt", at, &mut a.prompt),
        "MaxDaysToScatter" => s(r, P, "MaxDaysToScatter", at, &mut a.max_days_to_scatter),
        "ManifestSignatureRsa" => s(
            r,
            P,
            "ManifestSignatureRsa",
            at,
            &mut a.manifest_signature_rsa,
        ),
        "ManifestSize" => s(r, P, "ManifestSize", at, &mut a.manifest_size),
        "ChromeVersion" => s(r, P, "ChromeVersion", at, &mut a.chrome_version),
        "run" => s(r, P, "run", at, &mut a.run),
        "arguments" => s(r, P, "arguments", at, &mut a.arguments),
        "successurl" => s(r, P, "successurl", at, &mut a.success_url),
        "terminateallbrowsers" => b(
            r,
            P,
            "terminateallbrowsers",
            at,
            &mut a.terminate_all_browsers,
        ),
        "successaction" => s(r, P, "successaction", at, &mut a.success_action),
        "onsuccess" => s(r, P, "onsuccess", at, &mut a.on_success),
        "version" => s(r, P, "version", at, &mut a.version),
        _ => r.skip_value(P),
    })?;
    Ok(a)
}

fn pipeline(r: &mut Reader<'_>) -> Result<Pipeline, DecodeError> {
    const P: &str = PIPELINE;
    let mut m = Manifest::default();
    let mut version = None;
    let mut next_fp = None;
    let mut first_download = None;
    let mut operations = 0_usize;
    r.object(UPDATECHECK, "pipelines", P, |r, key, at| match key {
        "nextversion" => s(r, P, "nextversion", at, &mut version),
        "nextfp" => fingerprint(r, P, "nextfp", at, &mut next_fp),
        "_is_floor" => b(r, P, "_is_floor", at, &mut m.is_floor),
        "_floor_reason" => s(r, P, "_floor_reason", at, &mut m.floor_reason),
        "_is_target" => b(r, P, "_is_target", at, &mut m.is_target),
        "operations" => r.list(P, "operations", |r, at| {
            if operations >= r.limits.max_items {
                return Err(too_many_items(r, P, "operations", at));
            }
            operations += 1;
            if let Some((package, urls)) = operation(r)? {
                if first_download.is_none() {
                    first_download = Some((urls, package.name.clone()));
                }
                m.packages.push(package);
            }
            Ok(())
        }),
        "_actions" => items(r, P, "_actions", &mut m.actions, action),
        _ => r.skip_value(P),
    })?;
    m.version = version.unwrap_or_default();
    // The pipeline's fingerprint is its payload's, the first package's.
    if let Some(first) = m.packages.first_mut()
        && first.fp.is_none()
    {
        first.fp = next_fp;
    }
    Ok(Pipeline {
        manifest: m,
        first_download,
    })
}

/// A 4.0 operation; a `download` is a package (with its full URLs), any other type is
/// read and dropped.
fn operation(r: &mut Reader<'_>) -> Result<Option<(Package, Vec<String>)>, DecodeError> {
    const P: &str = OPERATION;
    let mut p = Package::default();
    let mut kind = None;
    let mut name = None;
    let mut size = None;
    let mut required = None;
    let mut urls: Vec<String> = Vec::new();
    r.object(PIPELINE, "operations", P, |r, key, at| match key {
        "type" => s(r, P, "type", at, &mut kind),
        "size" => u(r, P, "size", at, &mut size),
        "outhash_sha256" => hash(r, P, "outhash_sha256", at, &mut p.hash_sha256),
        "urls" => r.list(P, "urls", |r, at| {
            if urls.len() >= r.limits.max_items {
                return Err(too_many_items(r, P, "urls", at));
            }
            let mut full = None;
            r.object(P, "urls", OP_URL, |r, key, at| match key {
                "url" => s(r, OP_URL, "url", at, &mut full),
                _ => r.skip_value(OP_URL),
            })?;
            urls.push(full.unwrap_or_default());
            Ok(())
        }),
        _ => {
            if package_member(r, P, key, at, &mut p, &mut name, &mut required)? {
                Ok(())
            } else {
                r.skip_value(P)
            }
        }
    })?;
    if kind.as_deref() != Some("download") {
        return Ok(None);
    }
    p.name = name.unwrap_or_else(|| {
        urls.first()
            .map(|u| u.rsplit('/').next().unwrap_or_default().to_owned())
            .unwrap_or_default()
    });
    p.size = size.unwrap_or(0);
    p.required = required.unwrap_or(false);
    Ok(Some((p, urls)))
}
