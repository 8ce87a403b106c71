//! The attributes of the elements both codecs write alike, listed once: the XML encoder
//! writes them as attributes (`encode.rs`), the JSON encoder as members of the element's
//! object (`json/write.rs`), in the same order. A new attribute of a request's `<app>`,
//! `<ping>` or `<updatecheck>`, or of an answer's `<url>`, `<manifest>`, `<package>` or
//! `<action>`, is added here, and both wire formats carry it. (A request's `fp` and its
//! events differ between JSON versions; each codec writes those itself.)
//!
//! Each encoder implements [`AttributeSink`]; the functions here are generic over it, so
//! each codec gets its own monomorphic copy: no dynamic dispatch, no allocation.

use crate::digest::{Digest, HashValue};
use crate::request::{App, Ping, UpdateCheck};
use crate::response::{Action, Manifest, Package, Url};

/// Where an element's attributes go: `name="value"` in XML, `"name":value` in JSON.
pub(crate) trait AttributeSink {
    /// A string value.
    fn str(&mut self, name: &str, value: &str);

    /// A boolean (`true`, `false`).
    fn bool(&mut self, name: &str, value: bool);

    /// A signed decimal number.
    fn i64(&mut self, name: &str, value: i64);

    /// An unsigned decimal number.
    fn u64(&mut self, name: &str, value: u64);

    /// A digest in base64 (update_engine's `hash` and `sha256`); text that was not a digest
    /// as it was read.
    fn base64_hash<D: Digest>(&mut self, name: &str, value: Option<&HashValue<D>>);

    /// A digest in hex (`hash_sha256`), or in base64 when it was read so; text that was not
    /// a digest as it was read.
    fn hex_hash<D: Digest>(&mut self, name: &str, value: Option<&HashValue<D>>);

    /// A string when there is one.
    #[inline]
    fn opt(&mut self, name: &str, value: Option<&String>) {
        if let Some(v) = value {
            self.str(name, v);
        }
    }

    /// A boolean when there is one.
    #[inline]
    fn opt_bool(&mut self, name: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.bool(name, v);
        }
    }

    /// A signed number when there is one.
    #[inline]
    fn opt_i64(&mut self, name: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.i64(name, v);
        }
    }

    /// An unsigned number when there is one.
    #[inline]
    fn opt_u64(&mut self, name: &str, value: Option<u64>) {
        if let Some(v) = value {
            self.u64(name, v);
        }
    }
}

/// A request's `<app>`, from `appid` to `tag`: every attribute before the fingerprint.
#[inline]
pub(crate) fn app_attributes<S: AttributeSink>(w: &mut S, a: &App) {
    w.str("appid", &a.appid);
    w.opt("version", a.version.as_ref());
    w.opt("track", a.track.as_ref());
    w.opt("bootid", a.boot_id.as_ref());
    w.opt("oem", a.oem.as_ref());
    w.opt("oemversion", a.oem_version.as_ref());
    w.opt("alephversion", a.aleph_version.as_ref());
    w.opt("machineid", a.machine_id.as_ref());
    w.opt("machinealias", a.machine_alias.as_ref());
    w.opt("lang", a.lang.as_ref());
    w.opt("board", a.board.as_ref());
    w.opt("hardware_class", a.hardware_class.as_ref());
    w.opt_bool("delta_okay", a.delta_okay);
    w.opt("from_track", a.from_track.as_ref());
    w.opt_bool("multi_manifest_ok", a.multi_manifest_ok);
    w.opt("nextversion", a.next_version.as_ref());
    w.opt("client", a.client.as_ref());
    w.opt_i64("installage", a.install_age);
    w.opt("brand", a.brand.as_ref());
    w.opt("ap", a.ap.as_ref());
    w.opt("experiments", a.experiments.as_ref());
    w.opt("iid", a.iid.as_ref());
    w.opt("installdate", a.install_date.as_ref());
    w.opt("cohort", a.cohort.as_ref());
    w.opt("cohorthint", a.cohort_hint.as_ref());
    w.opt("cohortname", a.cohort_name.as_ref());
    w.opt("release_channel", a.release_channel.as_ref());
    w.opt("tag", a.tag.as_ref());
}

/// A request's `<ping>`.
#[inline]
pub(crate) fn ping_attributes<S: AttributeSink>(w: &mut S, p: &Ping) {
    w.opt_i64("active", p.active);
    w.opt_i64("a", p.a);
    w.opt_i64("r", p.r);
    w.opt_i64("ad", p.ad);
    w.opt_i64("rd", p.rd);
    w.opt("ping_freshness", p.ping_freshness.as_ref());
}

/// A request's `<updatecheck>`.
#[inline]
pub(crate) fn update_check_attributes<S: AttributeSink>(w: &mut S, u: &UpdateCheck) {
    w.opt("targetversionprefix", u.target_version_prefix.as_ref());
    w.opt("tttoken", u.tttoken.as_ref());
    w.opt_bool("updatedisabled", u.update_disabled);
    w.opt_bool("sameversionupdate", u.same_version_update);
    w.opt_bool("rollback_allowed", u.rollback_allowed);
}

/// `<url>`: `codebase`, `codebasediff`.
#[inline]
pub(crate) fn url_attributes<S: AttributeSink>(s: &mut S, url: &Url) {
    s.str("codebase", url.codebase.as_str());
    s.opt("codebasediff", url.codebase_diff.as_ref());
}

/// `<manifest>`: `version` and Flatcar's floor attributes.
#[inline]
pub(crate) fn manifest_attributes<S: AttributeSink>(s: &mut S, m: &Manifest) {
    s.str("version", &m.version);
    s.opt_bool("is_floor", m.is_floor);
    s.opt("floor_reason", m.floor_reason.as_ref());
    s.opt_bool("is_target", m.is_target);
}

/// `<package>`: name, hashes, size, `required`, `fp`, then the delta attributes
/// ([`package_diff_attributes`]).
#[inline]
pub(crate) fn package_attributes<S: AttributeSink>(s: &mut S, p: &Package) {
    s.str("name", &p.name);
    s.base64_hash("hash", p.hash.as_ref());
    s.hex_hash("hash_sha256", p.hash_sha256.as_ref());
    s.u64("size", p.size);
    s.bool("required", p.required);
    s.opt("fp", p.fp.as_ref());
    package_diff_attributes(s, p);
}

/// The delta-update attributes of a package: `namediff`, `sizediff`, `hashdiff`,
/// `hashdiff_sha256`. A JSON 4.0 download operation carries them as private members
/// (`_namediff`, ...).
#[inline]
pub(crate) fn package_diff_attributes<S: AttributeSink>(s: &mut S, p: &Package) {
    s.opt("namediff", p.name_diff.as_ref());
    s.opt_u64("sizediff", p.size_diff);
    s.opt("hashdiff", p.hash_diff.as_ref());
    s.opt("hashdiff_sha256", p.hash_diff_sha256.as_ref());
}

/// `<action>`: the event, then update_engine's postinstall attributes (`sha256`,
/// `DisablePayloadBackoff`, ...) and Google Omaha's.
#[inline]
pub(crate) fn action_attributes<S: AttributeSink>(s: &mut S, a: &Action) {
    if let Some(e) = &a.event {
        s.str("event", e.as_str());
    }
    s.opt("DisplayVersion", a.display_version.as_ref());
    s.base64_hash("sha256", a.sha256.as_ref());
    s.opt_bool("needsadmin", a.needs_admin);
    s.opt_bool("IsDeltaPayload", a.is_delta_payload);
    s.opt_bool("DisablePayloadBackoff", a.disable_payload_backoff);
    s.opt_u64("MaxFailureCountPerUrl", a.max_failure_count_per_url);
    s.opt("MetadataSignatureRsa", a.metadata_signature_rsa.as_ref());
    s.opt("MetadataSize", a.metadata_size.as_ref());
    s.opt("deadline", a.deadline.as_ref());
    s.opt("MoreInfo", a.more_info.as_ref());
    s.opt_bool("Prompt", a.prompt);
    s.opt("ChromeOSVersion", a.chromeos_version.as_ref());
    s.opt_bool("IsDelta", a.is_delta);
    s.opt("MaxDaysToScatter", a.max_days_to_scatter.as_ref());
    s.opt("ManifestSignatureRsa", a.manifest_signature_rsa.as_ref());
    s.opt("ManifestSize", a.manifest_size.as_ref());
    s.opt("ChromeVersion", a.chrome_version.as_ref());
    s.opt("run", a.run.as_ref());
    s.opt("arguments", a.arguments.as_ref());
    s.opt("successurl", a.success_url.as_ref());
    s.opt_bool("terminateallbrowsers", a.terminate_all_browsers);
    s.opt("successaction", a.success_action.as_ref());
    s.opt("onsuccess", a.on_success.as_ref());
    s.opt("version", a.version.as_ref());
}
