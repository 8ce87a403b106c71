//! Omaha v3 XML through `omaha-proto`.

use super::{
    AppAnswer, AppRequest, ClientEvent, InvalidField, ProtocolError, UpdateAnswer, UpdateOffer,
    UpdateRequest, WireProtocol,
};
use omaha_proto::codes::{AppStatus, UpdateCheckStatus};
use omaha_proto::digest::{HashValue, Sha1Digest, Sha256Digest};
use omaha_proto::response::{self, Action, Codebase, Manifest, Package, UpdateCheck};
use omaha_proto::{Request, Response};

/// Omaha v3 XML, as Flatcar's update_engine and go-omaha clients speak it.
#[derive(Debug, Clone)]
pub struct OmahaV3 {
    server_name: String,
}

impl OmahaV3 {
    /// The protocol, naming the server `server_name` in responses.
    pub fn new(server_name: &str) -> Self {
        Self {
            server_name: server_name.to_owned(),
        }
    }
}

impl WireProtocol for OmahaV3 {
    fn content_type(&self) -> &'static str {
        "text/xml; charset=utf-8"
    }

    fn decode(&self, body: &[u8]) -> Result<UpdateRequest, ProtocolError> {
        let request = Request::decode(body).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
        let unsupported_version = request.protocol.as_ref().is_some_and(|p| !p.is_v3());
        Ok(update_request(request, unsupported_version))
    }

    fn encode(&self, request: &UpdateRequest, answers: &[AppAnswer]) -> Vec<u8> {
        response(&self.server_name, request, answers).encode()
    }
}

/// The protocol-neutral form of a decoded Omaha request (XML or JSON).
pub(super) fn update_request(request: Request, unsupported_version: bool) -> UpdateRequest {
    let install_source = request.install_source.clone().unwrap_or_default();
    let protocol = request.protocol.as_ref().map(|p| p.as_str().to_owned());
    let apps = request
        .apps
        .into_iter()
        .map(|app| AppRequest {
            machine_id: app
                .machine_id
                .filter(|id| !id.is_empty())
                .or_else(|| request.user_id.clone().filter(|id| !id.is_empty())),
            group: app.track,
            version: app.version.unwrap_or_default(),
            oem: app.oem.unwrap_or_default(),
            arch: rollout_core::Arch::of_request(
                app.board.as_deref(),
                request.os.as_ref().and_then(|os| os.arch.as_deref()),
            ),
            multi_manifest_ok: app.multi_manifest_ok == Some(true),
            ping: app.ping.is_some(),
            update_check: app.update_check.is_some(),
            events: app
                .events
                .iter()
                .map(|e| ClientEvent {
                    event_type: e.event_type.code(),
                    event_result: e.event_result.code(),
                    error_code: e.error_code,
                    previous_version: e.previous_version.clone(),
                })
                .collect(),
            app_id: app.appid,
        })
        .collect();
    UpdateRequest {
        unsupported_version,
        protocol,
        install_source,
        apps,
    }
}

/// The Omaha response to `request`, one app per answer (XML or JSON alike).
pub(super) fn response(
    server_name: &str,
    request: &UpdateRequest,
    answers: &[AppAnswer],
) -> Response {
    let mut out = Response::new(server_name);
    for (app, answer) in request.apps.iter().zip(answers) {
        out.apps.push(encode_app(app, answer));
    }
    out
}

fn encode_app(app: &AppRequest, answer: &AppAnswer) -> response::App {
    match answer {
        AppAnswer::UnknownApplication => {
            response::App::error(&app.app_id, AppStatus::UnknownApplication)
        }
        AppAnswer::OverLimit => response::App::error(&app.app_id, AppStatus::Restricted),
        AppAnswer::UnsupportedProtocol => {
            let mut out = response::App::ok(&app.app_id);
            if app.update_check {
                out.update_check = Some(UpdateCheck::error(UpdateCheckStatus::UnsupportedProtocol));
            }
            out
        }
        AppAnswer::Invalid(field) => {
            let status = match field {
                InvalidField::AppId => AppStatus::InvalidAppId,
                InvalidField::Version => AppStatus::InvalidVersion,
                InvalidField::MachineId
                | InvalidField::Group
                | InvalidField::Oem
                | InvalidField::InstallSource => AppStatus::Other("error-invalidRequest".into()),
            };
            let mut out = response::App::error(&app.app_id, status);
            if app.update_check {
                out.update_check = Some(UpdateCheck::error(UpdateCheckStatus::Internal));
            }
            out
        }
        AppAnswer::InternalError => {
            let mut out = response::App::ok(&app.app_id);
            if app.update_check {
                out.update_check = Some(UpdateCheck::error(UpdateCheckStatus::Internal));
            }
            out
        }
        AppAnswer::Ok { update } => {
            let mut out = response::App::ok(&app.app_id);
            out.ping = app.ping.then(response::Ack::ok);
            out.events = vec![response::Ack::ok(); app.events.len()];
            out.update_check = update.as_ref().map(|u| match u {
                UpdateAnswer::NoUpdate => UpdateCheck::no_update(),
                UpdateAnswer::Update(offer) => {
                    let check =
                        UpdateCheck::update([Codebase::new(&offer.codebase)], manifest(offer));
                    if offer.rollback {
                        check.as_rollback()
                    } else {
                        check
                    }
                }
                UpdateAnswer::Manifests(offers) => {
                    // One codebase per manifest, in the same order: the first URL and the
                    // first manifest (all update_engine reads) belong together.
                    let mut manifests = offers.iter().map(manifest);
                    match manifests.next() {
                        Some(first) => {
                            let mut check = UpdateCheck::update(
                                offers.iter().map(|o| Codebase::new(&o.codebase)),
                                first,
                            );
                            check.manifests.extend(manifests);
                            if offers.iter().any(|o| o.rollback) {
                                check.as_rollback()
                            } else {
                                check
                            }
                        }
                        None => UpdateCheck::no_update(),
                    }
                }
            });
            out
        }
    }
}

/// The manifest of one offer: the payload, its extra files, the postinstall action.
fn manifest(offer: &UpdateOffer) -> Manifest {
    let mut package = Package {
        name: offer.name.clone(),
        size: offer.size,
        required: offer.required,
        ..Package::default()
    };
    if let Some(sha1) = offer.sha1 {
        package.hash = Some(Sha1Digest(sha1).into());
    }
    let mut action = Action {
        event: Some(omaha_proto::codes::ActionEvent::PostInstall),
        disable_payload_backoff: Some(true),
        ..Action::default()
    };
    // `hash_sha256` in hex, or in base64 when the app asks for it; the action's `sha256`
    // (what update_engine checks) is always base64.
    let hash_sha256 = |d: [u8; 32]| {
        if offer.sha256_base64 {
            HashValue::Base64(Sha256Digest(d))
        } else {
            HashValue::Digest(Sha256Digest(d))
        }
    };
    if let Some(sha256) = offer.sha256 {
        package.hash_sha256 = Some(hash_sha256(sha256));
        action.sha256 = Some(Sha256Digest(sha256).into());
    }
    if !offer.metadata_size.is_empty() {
        action.metadata_size = Some(offer.metadata_size.clone());
    }
    if !offer.metadata_signature_rsa.is_empty() {
        action.metadata_signature_rsa = Some(offer.metadata_signature_rsa.clone());
    }
    let mut manifest = Manifest::new(&offer.version).with_package(package);
    // The extra files after the payload: update_engine reads only the
    // first package; Flatcar's postinstall (ue-rs) picks these by name.
    for file in &offer.extra_files {
        manifest = manifest.with_package(Package {
            name: file.name.clone(),
            size: file.size,
            required: false,
            hash: file.sha1.map(|d| Sha1Digest(d).into()),
            hash_sha256: file.sha256.map(hash_sha256),
            ..Package::default()
        });
    }
    let mut manifest = manifest.with_action(action);
    if let Some(reason) = &offer.floor_reason {
        manifest.is_floor = Some(true);
        manifest.floor_reason = Some(reason.clone());
    }
    if offer.is_target {
        manifest.is_target = Some(true);
    }
    manifest
}
