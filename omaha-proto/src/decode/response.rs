//! Decoding of `<response>` documents.

use super::xml::Tag;
use super::{Cursor, Value, fresh_element, room_for};
use crate::codes::{AckStatus, ActionEvent, AppStatus, DataStatus, Protocol, UpdateCheckStatus};
use crate::digest::{Digest, HashValue};
use crate::error::DecodeError;
use crate::response::{
    Ack, Action, App, Codebase, Data, DayStart, Manifest, Metadata, Package, Response, UpdateCheck,
    Url,
};

const RESPONSE: &str = "response";
const DAYSTART: &str = "response/daystart";
const APP: &str = "response/app";
const PING: &str = "response/app/ping";
const EVENT: &str = "response/app/event";
const UNKNOWN: &str = "response/app/unknown";
const DATA: &str = "response/app/data";
const UPDATECHECK: &str = "response/app/updatecheck";
const URLS: &str = "response/app/updatecheck/urls";
const URL: &str = "response/app/updatecheck/urls/url";
const MANIFEST: &str = "response/app/updatecheck/manifest";
const PACKAGES: &str = "response/app/updatecheck/manifest/packages";
const PACKAGE: &str = "response/app/updatecheck/manifest/packages/package";
const METADATA: &str = "response/app/updatecheck/manifest/packages/package/metadata";
const ACTIONS: &str = "response/app/updatecheck/manifest/actions";
const ACTION: &str = "response/app/updatecheck/manifest/actions/action";

pub(crate) fn response<'a>(
    c: &mut Cursor<'a>,
    e: &Tag<'a>,
    open: bool,
) -> Result<Response, DecodeError> {
    let mut protocol = None;
    let mut server = None;
    c.attributes(e, RESPONSE, |name, v| match name {
        "protocol" => {
            v.fresh(&protocol, "protocol")?;
            protocol = Some(Protocol::parse(&v.text()?));
            Ok(())
        }
        "server" => v.set_string(&mut server, "server"),
        _ => Ok(()),
    })?;
    let mut daystart = None;
    let mut apps = Vec::new();
    if open {
        c.children(RESPONSE, |c, e, open| match e.name {
            "app" => {
                if apps.len() >= c.limits.max_apps {
                    return Err(DecodeError::TooManyApps {
                        path: RESPONSE,
                        limit: c.limits.max_apps,
                        offset: c.ev_start,
                    });
                }
                apps.push(app(c, e, open)?);
                Ok(())
            }
            "daystart" => {
                fresh_element(c, &daystart, RESPONSE, "daystart")?;
                let mut seconds = None;
                let mut days = None;
                c.attributes(e, DAYSTART, |name, v| match name {
                    "elapsed_seconds" => v.set_i64(&mut seconds, "elapsed_seconds"),
                    "elapsed_days" => v.set_i64(&mut days, "elapsed_days"),
                    _ => Ok(()),
                })?;
                c.skip(DAYSTART, open)?;
                daystart = Some(DayStart {
                    elapsed_seconds: seconds.unwrap_or(0),
                    elapsed_days: days,
                });
                Ok(())
            }
            _ => c.skip(RESPONSE, open),
        })?;
    }
    Ok(Response {
        protocol,
        server,
        daystart: daystart.unwrap_or_default(),
        apps,
    })
}

fn ack(
    c: &mut Cursor<'_>,
    e: &Tag<'_>,
    open: bool,
    path: &'static str,
) -> Result<Ack, DecodeError> {
    let mut status = None;
    c.attributes(e, path, |name, v| match name {
        "status" => {
            v.fresh(&status, "status")?;
            status = Some(AckStatus::parse(&v.text()?));
            Ok(())
        }
        _ => Ok(()),
    })?;
    c.skip(path, open)?;
    Ok(Ack { status })
}

fn app<'a>(c: &mut Cursor<'a>, e: &Tag<'a>, open: bool) -> Result<App, DecodeError> {
    let mut a = App::default();
    let mut appid = None;
    c.attributes(e, APP, |name, v| match name {
        "appid" => v.set_string(&mut appid, "appid"),
        "status" => {
            v.fresh(&a.status, "status")?;
            a.status = Some(AppStatus::parse(&v.text()?));
            Ok(())
        }
        "experiments" => v.set_string(&mut a.experiments, "experiments"),
        "cohort" => v.set_string(&mut a.cohort, "cohort"),
        "cohorthint" => v.set_string(&mut a.cohort_hint, "cohorthint"),
        "cohortname" => v.set_string(&mut a.cohort_name, "cohortname"),
        _ => Ok(()),
    })?;
    a.appid = appid.unwrap_or_default();
    if !open {
        return Ok(a);
    }
    c.children(APP, |c, e, open| match e.name {
        "updatecheck" => {
            fresh_element(c, &a.update_check, APP, "updatecheck")?;
            a.update_check = Some(update_check(c, e, open)?);
            Ok(())
        }
        "ping" => {
            fresh_element(c, &a.ping, APP, "ping")?;
            a.ping = Some(ack(c, e, open, PING)?);
            Ok(())
        }
        "event" => {
            if a.events.len() >= c.limits.max_events_per_app {
                return Err(DecodeError::TooManyEvents {
                    path: APP,
                    limit: c.limits.max_events_per_app,
                    offset: c.ev_start,
                });
            }
            a.events.push(ack(c, e, open, EVENT)?);
            Ok(())
        }
        "unknown" => {
            fresh_element(c, &a.unknown, APP, "unknown")?;
            a.unknown = Some(ack(c, e, open, UNKNOWN)?);
            Ok(())
        }
        "data" => {
            room_for(c, &a.data, APP, "data")?;
            let mut d = Data::default();
            c.attributes(e, DATA, |name, v| match name {
                "name" => v.set_string(&mut d.name, "name"),
                "index" => v.set_string(&mut d.index, "index"),
                "status" => {
                    v.fresh(&d.status, "status")?;
                    d.status = Some(DataStatus::parse(&v.text()?));
                    Ok(())
                }
                _ => Ok(()),
            })?;
            d.text = c.text(DATA, open)?;
            a.data.push(d);
            Ok(())
        }
        _ => c.skip(APP, open),
    })?;
    Ok(a)
}

fn update_check<'a>(
    c: &mut Cursor<'a>,
    e: &Tag<'a>,
    open: bool,
) -> Result<UpdateCheck, DecodeError> {
    let mut u = UpdateCheck::default();
    c.attributes(e, UPDATECHECK, |name, v| match name {
        "status" => {
            v.fresh(&u.status, "status")?;
            u.status = Some(UpdateCheckStatus::parse(&v.text()?));
            Ok(())
        }
        "PollInterval" => v.set_u64(&mut u.poll_interval, "PollInterval"),
        "info" => v.set_string(&mut u.info, "info"),
        "errorurl" => v.set_string(&mut u.error_url, "errorurl"),
        "tttoken" => v.set_string(&mut u.tttoken, "tttoken"),
        "_rollback" => v.set_bool(&mut u.rollback, "_rollback"),
        _ => Ok(()),
    })?;
    if !open {
        return Ok(u);
    }
    c.children(UPDATECHECK, |c, e, open| match e.name {
        "urls" if open => c.children(URLS, |c, e, open| {
            if e.name == "url" {
                room_for(c, &u.urls, URLS, "url")?;
                let mut codebase = None;
                let mut url = Url::default();
                c.attributes(e, URL, |name, v| match name {
                    "codebase" => {
                        v.fresh(&codebase, "codebase")?;
                        codebase = Some(Codebase::new(&v.text()?));
                        Ok(())
                    }
                    "codebasediff" => v.set_string(&mut url.codebase_diff, "codebasediff"),
                    _ => Ok(()),
                })?;
                url.codebase = codebase.unwrap_or_default();
                u.urls.push(url);
            }
            c.skip(URL, open)
        }),
        "manifest" => {
            room_for(c, &u.manifests, UPDATECHECK, "manifest")?;
            u.manifests.push(manifest(c, e, open)?);
            Ok(())
        }
        _ => c.skip(UPDATECHECK, open),
    })?;
    Ok(u)
}

fn manifest<'a>(c: &mut Cursor<'a>, e: &Tag<'a>, open: bool) -> Result<Manifest, DecodeError> {
    let mut m = Manifest::default();
    let mut version = None;
    c.attributes(e, MANIFEST, |name, v| match name {
        "version" => v.set_string(&mut version, "version"),
        "is_floor" => v.set_bool(&mut m.is_floor, "is_floor"),
        "floor_reason" => v.set_string(&mut m.floor_reason, "floor_reason"),
        "is_target" => v.set_bool(&mut m.is_target, "is_target"),
        _ => Ok(()),
    })?;
    m.version = version.unwrap_or_default();
    if !open {
        return Ok(m);
    }
    c.children(MANIFEST, |c, e, open| match e.name {
        "packages" if open => c.children(PACKAGES, |c, e, open| {
            if e.name == "package" {
                room_for(c, &m.packages, PACKAGES, "package")?;
                m.packages.push(package(c, e, open)?);
                Ok(())
            } else {
                c.skip(PACKAGES, open)
            }
        }),
        "actions" if open => c.children(ACTIONS, |c, e, open| {
            if e.name == "action" {
                room_for(c, &m.actions, ACTIONS, "action")?;
                m.actions.push(action(c, e)?);
            }
            c.skip(ACTION, open)
        }),
        _ => c.skip(MANIFEST, open),
    })?;
    Ok(m)
}

/// Reads a hash attribute: empty is absent, otherwise a digest or the verbatim text.
fn set_hash<D: Digest>(
    v: &Value<'_>,
    slot: &mut Option<HashValue<D>>,
    name: &'static str,
) -> Result<(), DecodeError> {
    v.fresh(slot, name)?;
    let text = v.text()?;
    if !text.is_empty() {
        *slot = Some(HashValue::parse(&text));
    }
    Ok(())
}

fn package<'a>(c: &mut Cursor<'a>, e: &Tag<'a>, open: bool) -> Result<Package, DecodeError> {
    let mut p = Package::default();
    let mut name_attr = None;
    let mut size = None;
    let mut required = None;
    c.attributes(e, PACKAGE, |name, v| match name {
        "name" => v.set_string(&mut name_attr, "name"),
        "hash" => set_hash(&v, &mut p.hash, "hash"),
        "hash_sha256" => set_hash(&v, &mut p.hash_sha256, "hash_sha256"),
        "size" => v.set_u64(&mut size, "size"),
        "required" => v.set_bool(&mut required, "required"),
        "fp" => v.set_string(&mut p.fp, "fp"),
        "namediff" => v.set_string(&mut p.name_diff, "namediff"),
        "sizediff" => v.set_u64(&mut p.size_diff, "sizediff"),
        "hashdiff" => v.set_string(&mut p.hash_diff, "hashdiff"),
        "hashdiff_sha256" => v.set_string(&mut p.hash_diff_sha256, "hashdiff_sha256"),
        _ => Ok(()),
    })?;
    p.name = name_attr.unwrap_or_default();
    p.size = size.unwrap_or(0);
    p.required = required.unwrap_or(false);
    if open {
        c.children(PACKAGE, |c, e, open| {
            if e.name == "metadata" {
                fresh_element(c, &p.metadata, PACKAGE, "metadata")?;
                let mut content_type = None;
                c.attributes(e, METADATA, |name, v| match name {
                    "content-type" => v.set_string(&mut content_type, "content-type"),
                    _ => Ok(()),
                })?;
                let text = c.text(METADATA, open)?;
                p.metadata = Some(Metadata { content_type, text });
                Ok(())
            } else {
                c.skip(PACKAGE, open)
            }
        })?;
    }
    Ok(p)
}

fn action(c: &Cursor<'_>, e: &Tag<'_>) -> Result<Action, DecodeError> {
    let mut a = Action::default();
    c.attributes(e, ACTION, |name, v| match name {
        "event" => {
            v.fresh(&a.event, "event")?;
            a.event = Some(ActionEvent::parse(&v.text()?));
            Ok(())
        }
        "sha256" => set_hash(&v, &mut a.sha256, "sha256"),
        "DisplayVersion" => v.set_string(&mut a.display_version, "DisplayVersion"),
        "ChromeOSVersion" => v.set_string(&mut a.chromeos_version, "ChromeOSVersion"),
        "needsadmin" => v.set_bool(&mut a.needs_admin, "needsadmin"),
        "IsDeltaPayload" => v.set_bool(&mut a.is_delta_payload, "IsDeltaPayload"),
        "IsDelta" => v.set_bool(&mut a.is_delta, "IsDelta"),
        "DisablePayloadBackoff" => {
            v.set_bool(&mut a.disable_payload_backoff, "DisablePayloadBackoff")
        }
        "MaxFailureCountPerUrl" => {
            v.set_u64(&mut a.max_failure_count_per_url, "MaxFailureCountPerUrl")
        }
        "MetadataSignatureRsa" => {
            v.set_string(&mut a.metadata_signature_rsa, "MetadataSignatureRsa")
        }
        "MetadataSize" => v.set_string(&mut a.metadata_size, "MetadataSize"),
        "deadline" => v.set_string(&mut a.deadline, "deadline"),
        "MoreInfo" => v.set_string(&mut a.more_info, "MoreInfo"),
        "Prompt" => v.set_bool(&mut a.prompt, "Prompt"),
        "MaxDaysToScatter" => v.set_string(&mut a.max_days_to_scatter, "MaxDaysToScatter"),
        "ManifestSignatureRsa" => {
            v.set_string(&mut a.manifest_signature_rsa, "ManifestSignatureRsa")
        }
        "ManifestSize" => v.set_string(&mut a.manifest_size, "ManifestSize"),
        "ChromeVersion" => v.set_string(&mut a.chrome_version, "ChromeVersion"),
        "run" => v.set_string(&mut a.run, "run"),
        "arguments" => v.set_string(&mut a.arguments, "arguments"),
        "successurl" => v.set_string(&mut a.success_url, "successurl"),
        "terminateallbrowsers" => v.set_bool(&mut a.terminate_all_browsers, "terminateallbrowsers"),
        "successaction" => v.set_string(&mut a.success_action, "successaction"),
        "onsuccess" => v.set_string(&mut a.on_success, "onsuccess"),
        "version" => v.set_string(&mut a.version, "version"),
        _ => Ok(()),
    })?;
    Ok(a)
}
