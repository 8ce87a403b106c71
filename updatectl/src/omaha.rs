//! The Omaha exchange shared by `instance fake`, `instance bench` and `watch`: post a
//! request to the update endpoint of its wire protocol (`{server}/v1/update/` for XML,
//! `{server}/v1/update/json` for JSON, see [`UpdateProtocol`]), decode the answer, read
//! what it offers.

use omaha_proto::appid::same_app_id;
use omaha_proto::codes::UpdateCheckStatus;
use omaha_proto::{Request, Response};
use reqwest::Url;
use update_api::endpoint::UpdateProtocol;

use crate::Error;

/// Which way a traced document went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// To the server.
    Request,
    /// From the server.
    Response,
}

/// Posts an encoded Omaha request with the `Content-Type` of its wire protocol and returns
/// the status and body.
///
/// # Errors
/// The transport's.
pub async fn post(
    http: &reqwest::Client,
    url: &Url,
    protocol: UpdateProtocol,
    body: Vec<u8>,
) -> Result<(reqwest::StatusCode, bytes::Bytes), reqwest::Error> {
    let response = http
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, protocol.content_type())
        .body(body)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.bytes().await?))
}

/// Posts an Omaha request in `protocol` (which sets its `protocol` version) and decodes the
/// answer; `trace` sees both documents.
///
/// # Errors
/// [`Error::Transport`], or [`Error::Omaha`] for an error status or an undecodable answer.
pub async fn exchange(
    http: &reqwest::Client,
    url: &Url,
    protocol: UpdateProtocol,
    mut request: Request,
    trace: impl Fn(Direction, &[u8]),
) -> Result<Response, Error> {
    let body = protocol.encode(&mut request);
    trace(Direction::Request, &body);
    let (status, bytes) = post(http, url, protocol, body).await?;
    trace(Direction::Response, &bytes);
    if !status.is_success() {
        return Err(Error::Omaha(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes).trim()
        )));
    }
    protocol
        .decode_response(&bytes)
        .map_err(|e| Error::Omaha(e.to_string()))
}

/// An update the server offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// `manifest@version`.
    pub version: String,
    /// The first codebase followed by the first package's name (empty without either).
    pub url: String,
}

/// What an update-check answer says: `Ok(Some(offer))` for an update, `Ok(None)` for
/// `noupdate`.
///
/// # Errors
/// The app's or the update check's error status (`error-unknownApplication`, ...), or why
/// the answer is unusable, as text.
pub fn read_answer(response: &Response, app_id: &str) -> Result<Option<Offer>, String> {
    let app = response
        .apps
        .iter()
        .find(|a| same_app_id(&a.appid, app_id))
        .ok_or_else(|| "the response has no <app> for this app".to_owned())?;
    if let Some(status) = &app.status
        && status.as_str() != "ok"
    {
        return Err(status.as_str().to_owned());
    }
    let check = app
        .update_check
        .as_ref()
        .ok_or_else(|| "no <updatecheck> in the response".to_owned())?;
    match &check.status {
        Some(UpdateCheckStatus::NoUpdate) => Ok(None),
        Some(UpdateCheckStatus::Ok) => {
            let manifest = check
                .manifests
                .first()
                .ok_or_else(|| "an update without <manifest>".to_owned())?;
            let url = match (check.urls.first(), manifest.packages.first()) {
                (Some(base), Some(package)) => {
                    format!("{}{}", base.codebase.as_str(), package.name)
                }
                _ => String::new(),
            };
            Ok(Some(Offer {
                version: manifest.version.clone(),
                url,
            }))
        }
        Some(other) => Err(other.as_str().to_owned()),
        None => Err("<updatecheck> without status".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omaha_proto::response::{self, Codebase, Manifest};

    fn answer(check: response::UpdateCheck) -> Response {
        Response::new("test").with_app(response::App::ok("{APP}").with_update_check(check))
    }

    #[test]
    fn offers_carry_the_version_and_the_payload_url() {
        let mut manifest = Manifest::new("1.1.0");
        manifest.packages.push(response::Package {
            name: "update.gz".to_owned(),
            ..response::Package::default()
        });
        let offered = answer(response::UpdateCheck::update(
            [Codebase::new("http://h/pkgs")],
            manifest,
        ));
        assert_eq!(
            read_answer(&offered, "app"),
            Ok(Some(Offer {
                version: "1.1.0".to_owned(),
                url: "http://h/pkgs/update.gz".to_owned()
            }))
        );
        let none = answer(response::UpdateCheck::no_update());
        assert_eq!(read_answer(&none, "APP"), Ok(None));
        assert!(read_answer(&none, "other").is_err());
    }
}
