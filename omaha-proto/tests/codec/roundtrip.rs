//! Property tests: `decode(encode(x)) == x` over generated documents, and decoding never
//! panics on arbitrary bytes or on mutations of valid documents (and whatever it accepts
//! round-trips).

use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

use omaha_proto::Limits;
use omaha_proto::codes::{
    AckStatus, ActionEvent, AppStatus, DataStatus, EventResult, EventType, Protocol,
    UpdateCheckStatus,
};
use omaha_proto::digest::{HashValue, Sha1Digest, Sha256Digest};
use omaha_proto::request::{self, Request};
use omaha_proto::response::{self, Response};

/// Strings mixing plain identifiers, markup characters, controls and arbitrary Unicode.
fn s() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9._{}/:-]{0,16}",
        1 => "[&<>\"' \t\r\n;#x]{0,6}",
        1 => any::<String>(),
    ]
}

fn os() -> impl Strategy<Value = Option<String>> {
    of(s())
}

/// `n` optional strings, to fill wide structs by position.
fn strings(n: usize) -> impl Strategy<Value = Vec<Option<String>>> {
    vec(os(), n)
}

fn ints(n: usize) -> impl Strategy<Value = Vec<Option<i64>>> {
    vec(of(any::<i64>()), n)
}

fn bools(n: usize) -> impl Strategy<Value = Vec<Option<bool>>> {
    vec(of(any::<bool>()), n)
}

fn protocol() -> impl Strategy<Value = Option<Protocol>> {
    of(prop_oneof![
        Just(Protocol::V3),
        s().prop_map(|t| Protocol::parse(&t))
    ])
}

fn ping() -> impl Strategy<Value = request::Ping> {
    (ints(5), os()).prop_map(|(i, f)| request::Ping {
        active: i[0],
        a: i[1],
        r: i[2],
        ad: i[3],
        rd: i[4],
        ping_freshness: f,
    })
}

fn req_update_check() -> impl Strategy<Value = request::UpdateCheck> {
    (os(), os(), bools(3)).prop_map(|(t, tt, b)| request::UpdateCheck {
        target_version_prefix: t,
        tttoken: tt,
        update_disabled: b[0],
        same_version_update: b[1],
        rollback_allowed: b[2],
    })
}

fn event() -> impl Strategy<Value = request::Event> {
    (any::<i64>(), any::<i64>(), ints(12), strings(6)).prop_map(|(t, r, i, st)| {
        let mut e = request::Event::new(EventType::from_code(t), EventResult::from_code(r));
        e.error_code = i[0];
        e.extra_code1 = i[1];
        e.error_cat = i[2];
        e.download_time_ms = i[3];
        e.downloaded = i[4];
        e.total = i[5];
        e.update_check_time_ms = i[6];
        e.install_time_ms = i[7];
        e.source_url_index = i[8];
        e.state_cancelled = i[9];
        e.time_since_update_available_ms = i[10];
        e.time_since_download_start_ms = i[11];
        let mut st = st.into_iter();
        e.previous_version = st.next().flatten();
        e.next_version = st.next().flatten();
        e.downloader = st.next().flatten();
        e.url = st.next().flatten();
        e.next_fp = st.next().flatten();
        e.previous_fp = st.next().flatten();
        e
    })
}

fn req_app() -> impl Strategy<Value = request::App> {
    (
        s(),
        strings(26),
        bools(3),
        ints(2),
        (of(ping()), of(req_update_check()), vec(event(), 0..3)),
        (
            vec((os(), os(), s()), 0..2),
            vec(of(any::<i64>()), 0..2),
            vec(os(), 0..2),
        ),
    )
        .prop_map(
            |(appid, st, b, i, (ping, update_check, events), (data, disabled, packages))| {
                let mut st = st.into_iter();
                let mut n = || st.next().flatten();
                request::App {
                    appid,
                    version: n(),
                    track: n(),
                    boot_id: n(),
                    oem: n(),
                    oem_version: n(),
                    aleph_version: n(),
                    machine_id: n(),
                    machine_alias: n(),
                    lang: n(),
                    board: n(),
                    hardware_class: n(),
                    from_track: n(),
                    next_version: n(),
                    client: n(),
                    brand: n(),
                    ap: n(),
                    experiments: n(),
                    iid: n(),
                    install_date: n(),
                    cohort: n(),
                    cohort_hint: n(),
                    cohort_name: n(),
                    release_channel: n(),
                    tag: n(),
                    fp: n(),
                    install_source: n(),
                    delta_okay: b[0],
                    multi_manifest_ok: b[1],
                    enabled: b[2],
                    install_age: i[0],
                    is_machine: i[1],
                    ping,
                    update_check,
                    events,
                    data: data
                        .into_iter()
                        .map(|(name, index, text)| request::Data { name, index, text })
                        .collect(),
                    disabled: disabled
                        .into_iter()
                        .map(|reason| request::Disabled { reason })
                        .collect(),
                    packages: packages
                        .into_iter()
                        .map(|fp| request::InstalledPackage { fp })
                        .collect(),
                }
            },
        )
}

pub(crate) fn request_doc() -> impl Strategy<Value = Request> {
    (
        protocol(),
        strings(13),
        of(any::<i64>()),
        of(strings(8)),
        of(strings(4)),
        vec(req_app(), 0..3),
    )
        .prop_map(|(protocol, st, is_machine, hw, os, apps)| {
            let mut st = st.into_iter();
            let mut n = || st.next().flatten();
            Request {
                protocol,
                version: n(),
                updater_version: n(),
                install_source: n(),
                request_id: n(),
                session_id: n(),
                user_id: n(),
                test_source: n(),
                accept_format: n(),
                dedup: n(),
                dlpref: n(),
                origin_url: n(),
                updater: n(),
                updater_channel: n(),
                is_machine,
                hw: hw.map(|h| request::Hw {
                    sse: h[0].clone(),
                    sse2: h[1].clone(),
                    sse3: h[2].clone(),
                    ssse3: h[3].clone(),
                    sse41: h[4].clone(),
                    sse42: h[5].clone(),
                    avx: h[6].clone(),
                    physmemory: h[7].clone(),
                }),
                os: os.map(|o| request::Os {
                    platform: o[0].clone(),
                    version: o[1].clone(),
                    sp: o[2].clone(),
                    arch: o[3].clone(),
                }),
                apps,
            }
        })
}

/// A hash attribute: a digest, or non-empty text too short to be one.
fn sha1() -> impl Strategy<Value = HashValue<Sha1Digest>> {
    prop_oneof![
        any::<[u8; 20]>().prop_map(|b| HashValue::Digest(Sha1Digest(b))),
        "[ -~]{1,12}".prop_map(HashValue::Unrecognized),
    ]
}

fn sha256() -> impl Strategy<Value = HashValue<Sha256Digest>> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(|b| HashValue::Digest(Sha256Digest(b))),
        "[ -~]{1,12}".prop_map(HashValue::Unrecognized),
    ]
}

fn ack() -> impl Strategy<Value = response::Ack> {
    of(s()).prop_map(|st| response::Ack {
        status: st.map(|t| AckStatus::parse(&t)),
    })
}

fn package() -> impl Strategy<Value = response::Package> {
    (
        s(),
        of(sha1()),
        of(sha256()),
        any::<u64>(),
        any::<bool>(),
        strings(4),
        of(any::<u64>()),
        of((os(), s())),
    )
        .prop_map(
            |(name, hash, hash_sha256, size, required, st, size_diff, md)| response::Package {
                name,
                hash,
                hash_sha256,
                size,
                required,
                fp: st[0].clone(),
                name_diff: st[1].clone(),
                size_diff,
                hash_diff: st[2].clone(),
                hash_diff_sha256: st[3].clone(),
                metadata: md.map(|(content_type, text)| response::Metadata { content_type, text }),
            },
        )
}

fn action() -> impl Strategy<Value = response::Action> {
    (os(), of(sha256()), strings(16), bools(6), of(any::<u64>())).prop_map(
        |(event, sha256, st, b, max_failures)| {
            let mut st = st.into_iter();
            let mut n = || st.next().flatten();
            response::Action {
                event: event.map(|t| ActionEvent::parse(&t)),
                sha256,
                display_version: n(),
                chromeos_version: n(),
                metadata_signature_rsa: n(),
                metadata_size: n(),
                deadline: n(),
                more_info: n(),
                max_days_to_scatter: n(),
                manifest_signature_rsa: n(),
                manifest_size: n(),
                chrome_version: n(),
                run: n(),
                arguments: n(),
                success_url: n(),
                success_action: n(),
                on_success: n(),
                version: n(),
                needs_admin: b[0],
                is_delta_payload: b[1],
                is_delta: b[2],
                disable_payload_backoff: b[3],
                prompt: b[4],
                terminate_all_browsers: b[5],
                max_failure_count_per_url: max_failures,
            }
        },
    )
}

fn manifest() -> impl Strategy<Value = response::Manifest> {
    (
        s(),
        of(any::<bool>()),
        os(),
        of(any::<bool>()),
        vec(package(), 0..3),
        vec(action(), 0..3),
    )
        .prop_map(
            |(version, is_floor, floor_reason, is_target, packages, actions)| response::Manifest {
                version,
                is_floor,
                floor_reason,
                is_target,
                packages,
                actions,
            },
        )
}

fn resp_update_check() -> impl Strategy<Value = response::UpdateCheck> {
    (
        os(),
        of(any::<u64>()),
        strings(3),
        vec((s(), os()), 0..3),
        vec(manifest(), 0..3),
        of(any::<bool>()),
    )
        .prop_map(|(status, poll_interval, st, urls, manifests, rollback)| {
            response::UpdateCheck {
                status: status.map(|t| UpdateCheckStatus::parse(&t)),
                poll_interval,
                info: st[0].clone(),
                error_url: st[1].clone(),
                tttoken: st[2].clone(),
                urls: urls
                    .into_iter()
                    .map(|(c, d)| response::Url {
                        codebase: response::Codebase::new(&c),
                        codebase_diff: d,
                    })
                    .collect(),
                manifests,
                rollback,
            }
        })
}

fn resp_app() -> impl Strategy<Value = response::App> {
    (
        s(),
        os(),
        strings(4),
        of(ack()),
        of(resp_update_check()),
        vec(ack(), 0..3),
        vec((os(), os(), os(), s()), 0..2),
        of(ack()),
    )
        .prop_map(
            |(appid, status, st, ping, update_check, events, data, unknown)| response::App {
                appid,
                status: status.map(|t| AppStatus::parse(&t)),
                experiments: st[0].clone(),
                cohort: st[1].clone(),
                cohort_hint: st[2].clone(),
                cohort_name: st[3].clone(),
                ping,
                update_check,
                events,
                data: data
                    .into_iter()
                    .map(|(name, index, status, text)| response::Data {
                        name,
                        index,
                        status: status.map(|t| DataStatus::parse(&t)),
                        text,
                    })
                    .collect(),
                unknown,
            },
        )
}

pub(crate) fn response_doc() -> impl Strategy<Value = Response> {
    (
        protocol(),
        os(),
        any::<i64>(),
        of(any::<i64>()),
        vec(resp_app(), 0..3),
    )
        .prop_map(
            |(protocol, server, elapsed_seconds, elapsed_days, apps)| Response {
                protocol,
                server,
                daystart: response::DayStart {
                    elapsed_seconds,
                    elapsed_days,
                },
                apps,
            },
        )
}

/// Limits for re-decoding an encoding: it may be longer than the input it came from.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

/// If `bytes` decodes as either document, its encoding decodes to the same value.
fn decodes_consistently(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = Request::decode(bytes) {
        prop_assert_eq!(Request::decode_with_limits(&r.encode(), &REENCODED), Ok(r));
    }
    if let Ok(r) = Response::decode(bytes) {
        prop_assert_eq!(Response::decode_with_limits(&r.encode(), &REENCODED), Ok(r));
    }
    Ok(())
}

/// Every sample document, as a base for mutations.
fn samples() -> Vec<Vec<u8>> {
    let dir = crate::data_dir();
    let mut out = Vec::new();
    for sub in [dir.clone(), dir.join("vectors")] {
        for entry in std::fs::read_dir(sub).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "xml") {
                out.push(std::fs::read(path).unwrap());
            }
        }
    }
    out.sort();
    out
}

#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            &b"<"[..],
            b">",
            b"/>",
            b"</app>",
            b"<app>",
            b"&",
            b"&amp;",
            b"&#x0;",
            b"\"",
            b"=",
            b"<!DOCTYPE x>",
            b"<![CDATA[",
            b"]]>",
            b"<!--",
            b"-->",
            b"<?",
            b"?>",
            b"\xff",
            b"\xce\xa9",
            b"<event eventtype=\"3\"/>",
            b" x=\"1\"",
        ])
        .prop_map(<[u8]>::to_vec),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), token).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<usize>(), 1..16_usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

pub(crate) fn apply(doc: &mut Vec<u8>, m: &Mutation) {
    let len = doc.len();
    match m {
        Mutation::Set(i, b) if len > 0 => doc[i % len] = *b,
        Mutation::Insert(i, t) => {
            let at = i % (len + 1);
            doc.splice(at..at, t.iter().copied());
        }
        Mutation::Remove(i, n) if len > 0 => {
            let at = i % len;
            let end = (at + n).min(len);
            doc.drain(at..end);
        }
        Mutation::Truncate(i) => doc.truncate(i % (len + 1)),
        Mutation::Set(..) | Mutation::Remove(..) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn request_round_trips(req in request_doc()) {
        let bytes = req.encode();
        prop_assert_eq!(Request::decode(&bytes), Ok(req));
    }

    #[test]
    fn response_round_trips(resp in response_doc()) {
        let bytes = resp.encode();
        prop_assert_eq!(Response::decode(&bytes), Ok(resp));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decodes_consistently(&bytes)?;
    }

    #[test]
    fn mutated_samples_never_panic(
        pick in any::<prop::sample::Index>(),
        mutations in vec(mutation(), 1..6),
    ) {
        let samples = samples();
        let mut doc = samples[pick.index(samples.len())].clone();
        for m in &mutations {
            apply(&mut doc, m);
        }
        decodes_consistently(&doc)?;
    }
}
