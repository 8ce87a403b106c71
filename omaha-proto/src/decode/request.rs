//! Decoding of `<request>` documents.

use super::xml::Tag;
use super::{Cursor, fresh_element, room_for};
use crate::codes::{EventResult, EventType, Protocol};
use crate::error::DecodeError;
use crate::request::{
    App, Data, Disabled, Event, Hw, InstalledPackage, Os, Ping, Request, UpdateCheck,
};

const REQUEST: &str = "request";
const HW: &str = "request/hw";
const OS: &str = "request/os";
const APP: &str = "request/app";
const PING: &str = "request/app/ping";
const UPDATECHECK: &str = "request/app/updatecheck";
const EVENT: &str = "request/app/event";
const DATA: &str = "request/app/data";
const DISABLED: &str = "request/app/disabled";
const PACKAGES: &str = "request/app/packages";
const PACKAGE: &str = "request/app/packages/package";

pub(crate) fn request<'a>(
    c: &mut Cursor<'a>,
    e: &Tag<'a>,
    open: bool,
) -> Result<Request, DecodeError> {
    let mut r = Request::new();
    r.protocol = None;
    c.attributes(e, REQUEST, |name, v| match name {
        "protocol" => {
            v.fresh(&r.protocol, "protocol")?;
            r.protocol = Some(Protocol::parse(&v.text()?));
            Ok(())
        }
        "version" => v.set_string(&mut r.version, "version"),
        "updaterversion" => v.set_string(&mut r.updater_version, "updaterversion"),
        "installsource" => v.set_string(&mut r.install_source, "installsource"),
        "ismachine" => v.set_i64(&mut r.is_machine, "ismachine"),
        "requestid" => v.set_string(&mut r.request_id, "requestid"),
        "sessionid" => v.set_string(&mut r.session_id, "sessionid"),
        "userid" => v.set_string(&mut r.user_id, "userid"),
        "testsource" => v.set_string(&mut r.test_source, "testsource"),
        "acceptformat" => v.set_string(&mut r.accept_format, "acceptformat"),
        "dedup" => v.set_string(&mut r.dedup, "dedup"),
        "dlpref" => v.set_string(&mut r.dlpref, "dlpref"),
        "originurl" => v.set_string(&mut r.origin_url, "originurl"),
        "updater" => v.set_string(&mut r.updater, "updater"),
        "updaterchannel" => v.set_string(&mut r.updater_channel, "updaterchannel"),
        _ => Ok(()),
    })?;
    if !open {
        return Ok(r);
    }
    c.children(REQUEST, |c, e, open| match e.name {
        "app" => {
            if r.apps.len() >= c.limits.max_apps {
                return Err(DecodeError::TooManyApps {
                    path: REQUEST,
                    limit: c.limits.max_apps,
                    offset: c.ev_start,
                });
            }
            r.apps.push(app(c, e, open)?);
            Ok(())
        }
        "os" => {
            fresh_element(c, &r.os, REQUEST, "os")?;
            r.os = Some(os(c, e, open)?);
            Ok(())
        }
        "hw" => {
            fresh_element(c, &r.hw, REQUEST, "hw")?;
            r.hw = Some(hw(c, e, open)?);
            Ok(())
        }
        _ => c.skip(REQUEST, open),
    })?;
    Ok(r)
}

fn hw(c: &mut Cursor<'_>, e: &Tag<'_>, open: bool) -> Result<Hw, DecodeError> {
    let mut h = Hw::default();
    c.attributes(e, HW, |name, v| match name {
        "sse" => v.set_string(&mut h.sse, "sse"),
        "sse2" => v.set_string(&mut h.sse2, "sse2"),
        "sse3" => v.set_string(&mut h.sse3, "sse3"),
        "ssse3" => v.set_string(&mut h.ssse3, "ssse3"),
        "sse41" => v.set_string(&mut h.sse41, "sse41"),
        "sse42" => v.set_string(&mut h.sse42, "sse42"),
        "avx" => v.set_string(&mut h.avx, "avx"),
        "physmemory" => v.set_string(&mut h.physmemory, "physmemory"),
        _ => Ok(()),
    })?;
    c.skip(HW, open)?;
    Ok(h)
}

fn os(c: &mut Cursor<'_>, e: &Tag<'_>, open: bool) -> Result<Os, DecodeError> {
    let mut o = Os::default();
    c.attributes(e, OS, |name, v| match name {
        "platform" => v.set_string(&mut o.platform, "platform"),
        "version" => v.set_string(&mut o.version, "version"),
        "sp" => v.set_string(&mut o.sp, "sp"),
        "arch" => v.set_string(&mut o.arch, "arch"),
        _ => Ok(()),
    })?;
    c.skip(OS, open)?;
    Ok(o)
}

fn app<'a>(c: &mut Cursor<'a>, e: &Tag<'a>, open: bool) -> Result<App, DecodeError> {
    let mut a = App::default();
    let mut appid: Option<String> = None;
    c.attributes(e, APP, |name, v| match name {
        "appid" => v.set_string(&mut appid, "appid"),
        "version" => v.set_string(&mut a.version, "version"),
        "track" => v.set_string(&mut a.track, "track"),
        "bootid" => v.set_string(&mut a.boot_id, "bootid"),
        "oem" => v.set_string(&mut a.oem, "oem"),
        "oemversion" => v.set_string(&mut a.oem_version, "oemversion"),
        "alephversion" => v.set_string(&mut a.aleph_version, "alephversion"),
        "machineid" => v.set_string(&mut a.machine_id, "machineid"),
        "machinealias" => v.set_string(&mut a.machine_alias, "machinealias"),
        "lang" => v.set_string(&mut a.lang, "lang"),
        "board" => v.set_string(&mut a.board, "board"),
        "hardware_class" => v.set_string(&mut a.hardware_class, "hardware_class"),
        "delta_okay" => v.set_bool(&mut a.delta_okay, "delta_okay"),
        "from_track" => v.set_string(&mut a.from_track, "from_track"),
        "multi_manifest_ok" => v.set_bool(&mut a.multi_manifest_ok, "multi_manifest_ok"),
        "nextversion" => v.set_string(&mut a.next_version, "nextversion"),
        "client" => v.set_string(&mut a.client, "client"),
        "installage" => v.set_i64(&mut a.install_age, "installage"),
        "brand" => v.set_string(&mut a.brand, "brand"),
        "ap" => v.set_string(&mut a.ap, "ap"),
        "experiments" => v.set_string(&mut a.experiments, "experiments"),
        "iid" => v.set_string(&mut a.iid, "iid"),
        "installdate" => v.set_string(&mut a.install_date, "installdate"),
        "cohort" => v.set_string(&mut a.cohort, "cohort"),
        "cohorthint" => v.set_string(&mut a.cohort_hint, "cohorthint"),
        "cohortname" => v.set_string(&mut a.cohort_name, "cohortname"),
        "release_channel" => v.set_string(&mut a.release_channel, "release_channel"),
        "tag" => v.set_string(&mut a.tag, "tag"),
        "fp" => v.set_string(&mut a.fp, "fp"),
        "enabled" => v.set_bool(&mut a.enabled, "enabled"),
        "ismachine" => v.set_i64(&mut a.is_machine, "ismachine"),
        "installsource" => v.set_string(&mut a.install_source, "installsource"),
        _ => Ok(()),
    })?;
    a.appid = appid.unwrap_or_default();
    if !open {
        return Ok(a);
    }
    c.children(APP, |c, e, open| match e.name {
        "event" => {
            if a.events.len() >= c.limits.max_events_per_app {
                return Err(DecodeError::TooManyEvents {
                    path: APP,
                    limit: c.limits.max_events_per_app,
                    offset: c.ev_start,
                });
            }
            a.events.push(event(c, e, open)?);
            Ok(())
        }
        "ping" => {
            fresh_element(c, &a.ping, APP, "ping")?;
            a.ping = Some(ping(c, e, open)?);
            Ok(())
        }
        "updatecheck" => {
            fresh_element(c, &a.update_check, APP, "updatecheck")?;
            a.update_check = Some(update_check(c, e, open)?);
            Ok(())
        }
        "data" => {
            room_for(c, &a.data, APP, "data")?;
            let mut d = Data::default();
            c.attributes(e, DATA, |name, v| match name {
                "name" => v.set_string(&mut d.name, "name"),
                "index" => v.set_string(&mut d.index, "index"),
                _ => Ok(()),
            })?;
            d.text = c.text(DATA, open)?;
            a.data.push(d);
            Ok(())
        }
        "disabled" => {
            room_for(c, &a.disabled, APP, "disabled")?;
            let mut d = Disabled::default();
            c.attributes(e, DISABLED, |name, v| match name {
                "reason" => v.set_i64(&mut d.reason, "reason"),
                _ => Ok(()),
            })?;
            c.skip(DISABLED, open)?;
            a.disabled.push(d);
            Ok(())
        }
        "packages" => {
            if !open {
                return Ok(());
            }
            c.children(PACKAGES, |c, e, open| {
                if e.name == "package" {
                    room_for(c, &a.packages, PACKAGES, "package")?;
                    let mut p = InstalledPackage::default();
                    c.attributes(e, PACKAGE, |name, v| match name {
                        "fp" => v.set_string(&mut p.fp, "fp"),
                        _ => Ok(()),
                    })?;
                    a.packages.push(p);
                }
                c.skip(PACKAGE, open)
            })
        }
        _ => c.skip(APP, open),
    })?;
    Ok(a)
}

fn ping(c: &mut Cursor<'_>, e: &Tag<'_>, open: bool) -> Result<Ping, DecodeError> {
    let mut p = Ping::default();
    c.attributes(e, PING, |name, v| match name {
        "active" => v.set_i64(&mut p.active, "active"),
        "a" => v.set_i64(&mut p.a, "a"),
        "r" => v.set_i64(&mut p.r, "r"),
        "ad" => v.set_i64(&mut p.ad, "ad"),
        "rd" => v.set_i64(&mut p.rd, "rd"),
        "ping_freshness" => v.set_string(&mut p.ping_freshness, "ping_freshness"),
        _ => Ok(()),
    })?;
    c.skip(PING, open)?;
    Ok(p)
}

fn update_check(c: &mut Cursor<'_>, e: &Tag<'_>, open: bool) -> Result<UpdateCheck, DecodeError> {
    let mut u = UpdateCheck::default();
    c.attributes(e, UPDATECHECK, |name, v| match name {
        "targetversionprefix" => v.set_string(&mut u.target_version_prefix, "targetversionprefix"),
        "tttoken" => v.set_string(&mut u.tttoken, "tttoken"),
        "updatedisabled" => v.set_bool(&mut u.update_disabled, "updatedisabled"),
        "sameversionupdate" => v.set_bool(&mut u.same_version_update, "sameversionupdate"),
        "rollback_allowed" => v.set_bool(&mut u.rollback_allowed, "rollback_allowed"),
        _ => Ok(()),
    })?;
    c.skip(UPDATECHECK, open)?;
    Ok(u)
}

fn event(c: &mut Cursor<'_>, e: &Tag<'_>, open: bool) -> Result<Event, DecodeError> {
    let mut ev = Event::new(EventType::Unknown, EventResult::Error);
    let mut event_type = None;
    let mut event_result = None;
    c.attributes(e, EVENT, |name, v| match name {
        "eventtype" => v.set_i64(&mut event_type, "eventtype"),
        "eventresult" => v.set_i64(&mut event_result, "eventresult"),
        "errorcode" => v.set_i64(&mut ev.error_code, "errorcode"),
        "extracode1" => v.set_i64(&mut ev.extra_code1, "extracode1"),
        "previousversion" => v.set_string(&mut ev.previous_version, "previousversion"),
        "nextversion" => v.set_string(&mut ev.next_version, "nextversion"),
        "errorcat" => v.set_i64(&mut ev.error_cat, "errorcat"),
        "download_time_ms" => v.set_i64(&mut ev.download_time_ms, "download_time_ms"),
        "downloaded" => v.set_i64(&mut ev.downloaded, "downloaded"),
        "downloader" => v.set_string(&mut ev.downloader, "downloader"),
        "total" => v.set_i64(&mut ev.total, "total"),
        "update_check_time_ms" => v.set_i64(&mut ev.update_check_time_ms, "update_check_time_ms"),
        "install_time_ms" => v.set_i64(&mut ev.install_time_ms, "install_time_ms"),
        "source_url_index" => v.set_i64(&mut ev.source_url_index, "source_url_index"),
        "state_cancelled" => v.set_i64(&mut ev.state_cancelled, "state_cancelled"),
        "time_since_update_available_ms" => v.set_i64(
            &mut ev.time_since_update_available_ms,
            "time_since_update_available_ms",
        ),
        "time_since_download_start_ms" => v.set_i64(
            &mut ev.time_since_download_start_ms,
            "time_since_download_start_ms",
        ),
        "url" => v.set_string(&mut ev.url, "url"),
        "nextfp" => v.set_string(&mut ev.next_fp, "nextfp"),
        "previousfp" => v.set_string(&mut ev.previous_fp, "previousfp"),
        _ => Ok(()),
    })?;
    ev.event_type = EventType::from_code(event_type.unwrap_or(0));
    ev.event_result = EventResult::from_code(event_result.unwrap_or(0));
    c.skip(EVENT, open)?;
    Ok(ev)
}
