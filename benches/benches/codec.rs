//! Throughput of the Omaha XML codec (`omaha-proto`) on the server's hot path.
//!
//! - `decode_request/update_check`: an update_engine update check (ping, updatecheck and
//!   event 3/2, in update_engine's own layout), the request every instance sends every
//!   45 minutes. Target: at most 2 µs.
//! - `encode_response/update`: the answer granting an update (url, manifest, the payload
//!   package, the postinstall action with sha256 and DisablePayloadBackoff, ping and event
//!   acks). Target: at most 1 µs.
//! - `decode_response/update`: Nebraska's update answer with two extra packages (what the
//!   SDK reads).
//! - `encode_response/noupdate`: the common answer.
//!
//! The JSON codec on the same documents (each input is the JSON encoding of the XML
//! input's decoded model, so both codecs read and write the same values):
//!
//! - `json_decode_request/update_check`: the update check above, as protocol 3.1 JSON.
//! - `json_decode_response/update`: Nebraska's update answer, as 3.1 JSON.
//! - `json_encode_response/update`, `json_encode_response/noupdate`: the answers above in
//!   3.1; `json_encode_response/update_4.0`: the update as 4.0 pipelines.
//! - `json_encode_request/update_check`.
//!
//! Throughput is in bytes of the encoded document, so criterion reports MB/s as well.
//! Run with `cargo bench -p benches --bench codec`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use omaha_proto::Request;
use omaha_proto::codes::Protocol;
use omaha_proto::digest::{Sha1Digest, Sha256Digest};
use omaha_proto::request;
use omaha_proto::response::{Action, App, Codebase, Manifest, Package, Response, UpdateCheck};

const UPDATE_CHECK: &[u8] = include_bytes!(
    "../../omaha-proto/tests/data/vectors/ue-update-check-previousversion.request.xml"
);
const NEBRASKA_UPDATE: &[u8] =
    include_bytes!("../../omaha-proto/tests/data/ue-rs-omaha-response-example.xml");

const APPID: &str = "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}";

fn request_app() -> request::App {
    request::App::new(APPID, "3941.1.0").with_update_check(Some(""))
}

fn update_response() -> Response {
    let sha1: Sha1Digest = "I6DGNAOrJRUxPbCuLw+AITfiVMo=".parse().expect("valid SHA-1");
    let sha256: Sha256Digest = "stLG3U/o4Ar8TMHFwT/RWB0iNkaWOO6QtLrq6+AHBbA="
        .parse()
        .expect("valid SHA-256");
    let update = UpdateCheck::update(
        [Codebase::new(
            "https://update.release.flatcar-linux.net/amd64-usr/3975.2.0/",
        )],
        Manifest::new("3975.2.0")
            .with_package(
                Package::new("flatcar_production_update.gz", 382_137_917, sha1, true)
                    .with_sha256(sha256),
            )
            .with_action(Action::postinstall(sha256)),
    );
    Response::new("omaha-rs").with_app(App::acknowledging(&request_app()).with_update_check(update))
}

fn noupdate_response() -> Response {
    Response::new("omaha-rs")
        .with_app(App::acknowledging(&request_app()).with_update_check(UpdateCheck::no_update()))
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode_request");
    g.throughput(Throughput::Bytes(UPDATE_CHECK.len() as u64));
    g.bench_function("update_check", |b| {
        b.iter(|| Request::decode(black_box(UPDATE_CHECK)).expect("valid request"));
    });
    g.finish();

    let mut g = c.benchmark_group("decode_response");
    g.throughput(Throughput::Bytes(NEBRASKA_UPDATE.len() as u64));
    g.bench_function("update", |b| {
        b.iter(|| Response::decode(black_box(NEBRASKA_UPDATE)).expect("valid response"));
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_response");
    for (name, response) in [
        ("update", update_response()),
        ("noupdate", noupdate_response()),
    ] {
        g.throughput(Throughput::Bytes(response.encode().len() as u64));
        g.bench_function(name, |b| b.iter(|| black_box(&response).encode()));
    }
    g.finish();

    let mut g = c.benchmark_group("encode_request");
    let request = Request::decode(UPDATE_CHECK).expect("valid request");
    g.throughput(Throughput::Bytes(request.encode().len() as u64));
    g.bench_function("update_check", |b| b.iter(|| black_box(&request).encode()));
    g.finish();
}

/// The update check as protocol 3.1 JSON.
fn json_update_check() -> Vec<u8> {
    let mut request = Request::decode(UPDATE_CHECK).expect("valid request");
    request.protocol = Some(Protocol::V3_1);
    request.encode_json()
}

fn json(c: &mut Criterion) {
    let check = json_update_check();
    let mut g = c.benchmark_group("json_decode_request");
    g.throughput(Throughput::Bytes(check.len() as u64));
    g.bench_function("update_check", |b| {
        b.iter(|| Request::decode_json(black_box(&check)).expect("valid request"));
    });
    g.finish();

    let answer = Response::decode(NEBRASKA_UPDATE)
        .expect("valid response")
        .with_protocol(Protocol::V3_1)
        .encode_json();
    let mut g = c.benchmark_group("json_decode_response");
    g.throughput(Throughput::Bytes(answer.len() as u64));
    g.bench_function("update", |b| {
        b.iter(|| Response::decode_json(black_box(&answer)).expect("valid response"));
    });
    g.finish();

    let mut g = c.benchmark_group("json_encode_response");
    for (name, response) in [
        ("update", update_response().with_protocol(Protocol::V3_1)),
        (
            "noupdate",
            noupdate_response().with_protocol(Protocol::V3_1),
        ),
        ("update_4.0", update_response().with_protocol(Protocol::V4)),
    ] {
        g.throughput(Throughput::Bytes(response.encode_json().len() as u64));
        g.bench_function(name, |b| b.iter(|| black_box(&response).encode_json()));
    }
    g.finish();

    let mut g = c.benchmark_group("json_encode_request");
    let request = Request::decode_json(&check).expect("valid request");
    g.throughput(Throughput::Bytes(check.len() as u64));
    g.bench_function("update_check", |b| {
        b.iter(|| black_box(&request).encode_json());
    });
    g.finish();
}

criterion_group!(benches, decode, encode, json);
criterion_main!(benches);
