//! The OpenAPI 3.0 document of the admin API, served at [`PATH`].
//!
//! The operations are listed once, in [`OPERATIONS`]; the JSON schemas of the bodies are
//! generated from the wire types in [`crate::api`], so the document cannot drift from the
//! JSON the server reads and writes. A test checks the operations against the router.

use crate::api;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

/// Where the document is served.
pub const PATH: &str = "/_ah/api/openapi.json";

/// One operation of the API.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// `get`, `post`, ...
    pub method: &'static str,
    /// The path, with `{param}` placeholders.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// The request body's schema name, if it takes one.
    pub request: Option<&'static str>,
    /// The response body's schema name (`None`: not JSON).
    pub response: Option<&'static str>,
    /// Whether it needs Hawk or Basic credentials.
    pub authenticated: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    response: Option<&'static str>,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        request,
        response,
        authenticated: true,
    }
}

const fn public(mut operation: Operation) -> Operation {
    operation.authenticated = false;
    operation
}

const V1: &str = "/_ah/api/update/v1";

macro_rules! v1 {
    ($path:literal) => {
        concat!("/_ah/api/update/v1", $path)
    };
}

/// Every operation of the admin API (CoreUpdate's and the extensions).
pub const OPERATIONS: &[Operation] = &[
    op("get", v1!("/apps"), "List apps", None, Some("AppList")),
    op(
        "post",
        v1!("/apps"),
        "Create an app (an id is generated when none is given)",
        Some("App"),
        Some("App"),
    ),
    op("get", v1!("/apps/{appId}"), "Get an app", None, Some("App")),
    op(
        "patch",
        v1!("/apps/{appId}"),
        "Replace an app's label and description",
        Some("App"),
        Some("App"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}"),
        "Delete an app with its channels, groups and packages",
        None,
        Some("App"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/packages"),
        "List an app's packages, newest first (limit, skip, version)",
        None,
        Some("PackageList"),
    ),
    op(
        "post",
        v1!("/apps/{appId}/packages/{version}"),
        "Register a package: with a URL (size above 0, sha256Sum, a URL ending in a file name), \
         or without one for the server's own hosting (payloadMissing until uploaded); 409 if \
         the version exists",
        Some("Package"),
        Some("Package"),
    ),
    op(
        "patch",
        v1!("/apps/{appId}/packages/{version}"),
        "Replace an existing package (the whole object, as POST takes it)",
        Some("Package"),
        Some("Package"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}/packages/{version}"),
        "Delete a package",
        None,
        Some("Package"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/packages/{version}/arches"),
        "List a version's packages for named architectures (404 without its default package)",
        None,
        Some("PackageList"),
    ),
    op(
        "put",
        v1!("/apps/{appId}/packages/{version}/arches/{arch}"),
        "Create or replace a version's package for an architecture (amd64, arm64, ...; \
         aliases such as x86_64 and aarch64 are folded): instances naming that architecture \
         (board amd64-usr/arm64-usr, or os arch) get it instead of the default package. \
         Needs the version's default package and a URL (size above 0, sha256Sum)",
        Some("Package"),
        Some("Package"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}/packages/{version}/arches/{arch}"),
        "Delete a version's package for an architecture",
        None,
        Some("Package"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/packages/{version}/files"),
        "List a package's extra files (arch: of the version's package for that architecture)",
        None,
        Some("PackageFileList"),
    ),
    op(
        "put",
        v1!("/apps/{appId}/packages/{version}/files/{name}"),
        "Create or replace an extra file of a package (oem-qemu.gz, flatcar-<ext>.gz; size \
         above 0, sha256Sum; arch: of the version's package for that architecture), listed \
         after the payload in the same Omaha answer and downloaded from its codebase",
        Some("PackageFile"),
        Some("PackageFile"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}/packages/{version}/files/{name}"),
        "Delete an extra file of a package (arch: of the version's package for that \
         architecture)",
        None,
        Some("PackageFile"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/channels"),
        "List an app's channels",
        None,
        Some("ChannelList"),
    ),
    op(
        "post",
        v1!("/apps/{appId}/channels"),
        "Create a channel (the body's appId is used when the path names no app)",
        Some("ChannelRequest"),
        Some("AppChannel"),
    ),
    op(
        "patch",
        v1!("/apps/{appId}/channels/{label}"),
        "Point a channel at a version, publish it",
        Some("ChannelRequest"),
        Some("AppChannel"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}/channels/{label}"),
        "Delete a channel",
        None,
        Some("ChannelRequest"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/channels/{label}/floors"),
        "List a channel's floors, lowest first",
        None,
        Some("ChannelFloorList"),
    ),
    op(
        "put",
        v1!("/apps/{appId}/channels/{label}/floors/{version}"),
        "Make a version a floor of the channel (arch: for one architecture only), with a \
         reason: an instance below it installs it before any later version; a client sending \
         multi_manifest_ok gets every floor on its way and the target in one answer. 409 when \
         the version is blacklisted on the channel",
        Some("ChannelFloor"),
        Some("ChannelFloor"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}/channels/{label}/floors/{version}"),
        "Delete a floor of the channel (arch: the floor for that architecture)",
        None,
        Some("ChannelFloor"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/channels/{label}/blacklist"),
        "List the versions never offered on the channel",
        None,
        Some("BlacklistList"),
    ),
    op(
        "put",
        v1!("/apps/{appId}/channels/{label}/blacklist/{version}"),
        "Blacklist a version on the channel: never offered, even if the channel points at it; \
         409 while the channel points at it or it is a floor",
        None,
        Some("BlacklistedVersion"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}/channels/{label}/blacklist/{version}"),
        "Take a version off the channel's blacklist",
        None,
        Some("BlacklistedVersion"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups"),
        "List an app's groups",
        None,
        Some("GroupList"),
    ),
    op(
        "post",
        v1!("/apps/{appId}/groups"),
        "Create a group",
        Some("Group"),
        Some("Group"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups/{groupId}"),
        "Get a group (with its effective percentage)",
        None,
        Some("Group"),
    ),
    op(
        "patch",
        v1!("/apps/{appId}/groups/{groupId}"),
        "Replace a group's settings (fields one CLI generation does not know keep their value when absent)",
        Some("Group"),
        Some("Group"),
    ),
    op(
        "post",
        v1!("/apps/{appId}/groups/{groupId}"),
        "Set a group's percentage; stops a running timed rollout (rolloutStopped)",
        Some("GroupPercent"),
        Some("GroupPercent"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}/groups/{groupId}"),
        "Delete a group",
        None,
        Some("Group"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups/{groupId}/requests/{kind}/{dateStart}/{dateEnd}"),
        "A graph: requests per version (kind=versions), events per version, type and result (kind=events; 3/2 counts completed updates only), routine 3/2 check-ins per version (kind=checkins, an extension), or instances per version at the end of each bucket (kind=instances, an extension), in buckets of `resolution` seconds (60, 3600, 86400)",
        None,
        Some("RequestsRollup"),
    ),
    op(
        "delete",
        v1!("/apps/{appId}/groups/{groupId}/retry"),
        "Extension: clear the retry delay after failures of the group's instances, or of one (clientId), so they are offered the update at their next check",
        None,
        Some("RetryCleared"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups/{groupId}/rollout"),
        "A group's timed rollout frames",
        None,
        Some("Rollout"),
    ),
    op(
        "post",
        v1!("/apps/{appId}/groups/{groupId}/rollout"),
        "Set and start a timed rollout",
        Some("Rollout"),
        Some("Rollout"),
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups/{groupId}/rollout/active"),
        "Whether the timed rollout runs",
        None,
        Some("RolloutActive"),
    ),
    op(
        "post",
        v1!("/apps/{appId}/groups/{groupId}/rollout/active"),
        "Activate the timed rollout (from its first frame unless it runs) or deactivate it (the percentage in force stays)",
        Some("RolloutActive"),
        Some("RolloutActive"),
    ),
    op(
        "get",
        v1!("/appversions"),
        "Instance counts per app, group and version",
        None,
        Some("AppVersionList"),
    ),
    op(
        "get",
        v1!("/clientupdates"),
        "The latest state of each instance (filters, limit, skip)",
        None,
        Some("ClientUpdateList"),
    ),
    op(
        "get",
        v1!("/clientupdatecount"),
        "The number of instances matching the filters",
        None,
        Some("ClientCount"),
    ),
    op(
        "get",
        v1!("/client/history"),
        "An instance's events and grants (clientId)",
        None,
        Some("ClientHistory"),
    ),
    op(
        "get",
        v1!("/instances"),
        "Search instances by id prefix, version, status and group, paginated",
        None,
        Some("ClientUpdateList"),
    ),
    op(
        "get",
        v1!("/activity"),
        "The activity log, newest first",
        None,
        Some("ActivityList"),
    ),
    op(
        "get",
        v1!("/overview"),
        "Every group's rollout state (updating, auto_paused, paused, no_target, finished), \
         progress toward the target, rate, estimated end and what needs attention \
         (auto_paused, failing, stalled), what needs attention first (appId)",
        None,
        Some("Overview"),
    ),
    op(
        "get",
        v1!("/errors"),
        "Failed attempts (3/0) per instance, version and error code, the most recent first, \
         with their count and first and last time (appId, groupId, version, since: RFC 3339 \
         or unix seconds, default a day ago; limit up to 1000, skip)",
        None,
        Some("InstanceErrorList"),
    ),
    op(
        "get",
        v1!("/upstream"),
        "List upstreams",
        None,
        Some("UpstreamList"),
    ),
    op(
        "post",
        v1!("/upstream"),
        "Create an upstream: `kind` `admin` (another server of this kind) or `omaha` (an Omaha server followed as a client: `appId`, `tracks`, `arches`, `download`)",
        Some("Upstream"),
        Some("Upstream"),
    ),
    op(
        "put",
        v1!("/upstream/{id}"),
        "Replace an upstream",
        Some("Upstream"),
        Some("Upstream"),
    ),
    op(
        "delete",
        v1!("/upstream/{id}"),
        "Delete an upstream",
        None,
        Some("Upstream"),
    ),
    op(
        "post",
        v1!("/upstream/sync"),
        "Sync from every upstream now: published channels and packages (`admin`), or releases, floors, extra files and payloads over Omaha (`omaha`); each upstream's result is also in its `lastSync`, `lastStatus`, `lastDetail`",
        None,
        Some("UpstreamSync"),
    ),
    op(
        "get",
        v1!("/webhooks"),
        "List webhooks (`?appId=`: of one app, and the global ones), without their secrets",
        None,
        Some("WebhookList"),
    ),
    op(
        "post",
        v1!("/webhooks"),
        "Create a webhook; the answer carries its signing secret, shown only then",
        Some("Webhook"),
        Some("Webhook"),
    ),
    op(
        "get",
        v1!("/webhooks/{id}"),
        "Get a webhook (without its secret)",
        None,
        Some("Webhook"),
    ),
    op(
        "put",
        v1!("/webhooks/{id}"),
        "Replace a webhook's settings (its secret stays)",
        Some("Webhook"),
        Some("Webhook"),
    ),
    op(
        "delete",
        v1!("/webhooks/{id}"),
        "Delete a webhook and its deliveries",
        None,
        Some("Webhook"),
    ),
    op(
        "post",
        v1!("/webhooks/{id}/test"),
        "Enqueue a test delivery",
        None,
        Some("WebhookDelivery"),
    ),
    op(
        "get",
        v1!("/webhooks/{id}/deliveries"),
        "A webhook's deliveries, newest first (`?limit=`, at most 1000): status, attempts, last error",
        None,
        Some("WebhookDeliveryList"),
    ),
    op(
        "get",
        v1!("/util/uuid"),
        "A fresh UUID",
        None,
        Some("GeneratedUuid"),
    ),
    op(
        "get",
        v1!("/admin/user"),
        "List users (without keys)",
        None,
        Some("AdminUserList"),
    ),
    op(
        "post",
        v1!("/admin/user"),
        "Create a user; the answer carries its key",
        Some("AdminUserRequest"),
        Some("AdminUser"),
    ),
    op(
        "get",
        v1!("/admin/user/{userName}"),
        "Get a user (without its key)",
        None,
        Some("AdminUser"),
    ),
    op(
        "delete",
        v1!("/admin/user/{userName}"),
        "Delete a user; 403 for oneself, 409 for the last user",
        None,
        Some("AdminUser"),
    ),
    op(
        "put",
        v1!("/admin/user/{userName}/token/new"),
        "Give a user a new key",
        None,
        Some("AdminUser"),
    ),
    public(op(
        "get",
        v1!("/public/packages"),
        "Published packages per app",
        None,
        Some("PublicPackageList"),
    )),
    public(op(
        "get",
        v1!("/public/channels"),
        "Published channels",
        None,
        Some("ChannelList"),
    )),
    Operation {
        method: "post",
        path: "/package-upload",
        summary: "Upload a payload (multipart/form-data, part `file`; `appId` and `version` name its package, and `arch` its package for that architecture, else it fills the packages registered without a URL that match its size and SHA-256); answers its name, size, hashes and URL",
        request: None,
        response: None,
        authenticated: true,
    },
    public(op(
        "get",
        "/packages/{name}",
        "Download a payload (HTTP Range supported); `<name>.sig` is its detached ed25519 signature",
        None,
        None,
    )),
    public(op(
        "get",
        "/packages/{appId}/{version}/{name}",
        "Download the payload of an app's version (HTTP Range supported); `<name>.sig` is its detached ed25519 signature",
        None,
        None,
    )),
    public(op(
        "get",
        "/packages/{appId}/{version}/{arch}/{name}",
        "Download a file of the package of an app's version for an architecture (HTTP Range supported)",
        None,
        None,
    )),
    op(
        "get",
        "/db/backup",
        "A consistent backup of the database and payloads (tar.gz)",
        None,
        None,
    ),
    public(op(
        "get",
        "/admin/v1/init",
        "First-run initialisation (answers `ok`)",
        None,
        None,
    )),
];

fn schemas() -> Map<String, Value> {
    let mut generator: SchemaGenerator = SchemaSettings::openapi3().into_generator();
    fn add<T: JsonSchema>(generator: &mut SchemaGenerator) {
        generator.subschema_for::<T>();
    }
    add::<api::App>(&mut generator);
    add::<api::AppList>(&mut generator);
    add::<api::AppChannel>(&mut generator);
    add::<api::ChannelRequest>(&mut generator);
    add::<api::ChannelList>(&mut generator);
    add::<api::Group>(&mut generator);
    add::<api::GroupList>(&mut generator);
    add::<api::GroupPercent>(&mut generator);
    add::<api::Rollout>(&mut generator);
    add::<api::RolloutActive>(&mut generator);
    add::<api::Package>(&mut generator);
    add::<api::PackageList>(&mut generator);
    add::<api::PackageFile>(&mut generator);
    add::<api::PackageFileList>(&mut generator);
    add::<api::ChannelFloor>(&mut generator);
    add::<api::ChannelFloorList>(&mut generator);
    add::<api::BlacklistedVersion>(&mut generator);
    add::<api::BlacklistList>(&mut generator);
    add::<api::PublicPackageList>(&mut generator);
    add::<api::ClientUpdateList>(&mut generator);
    add::<api::ClientCount>(&mut generator);
    add::<api::ClientHistory>(&mut generator);
    add::<api::AppVersionList>(&mut generator);
    add::<api::RequestsRollup>(&mut generator);
    add::<api::RetryCleared>(&mut generator);
    add::<api::AdminUser>(&mut generator);
    add::<api::AdminUserRequest>(&mut generator);
    add::<api::AdminUserList>(&mut generator);
    add::<api::Upstream>(&mut generator);
    add::<api::UpstreamList>(&mut generator);
    add::<api::UpstreamSync>(&mut generator);
    add::<api::GeneratedUuid>(&mut generator);
    add::<api::ActivityList>(&mut generator);
    add::<api::Overview>(&mut generator);
    add::<api::InstanceErrorList>(&mut generator);
    add::<api::Webhook>(&mut generator);
    add::<api::WebhookList>(&mut generator);
    add::<api::WebhookDelivery>(&mut generator);
    add::<api::WebhookDeliveryList>(&mut generator);
    add::<api::ErrorBody>(&mut generator);
    generator.take_definitions(true).into_iter().collect()
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for operation in OPERATIONS {
        let parameters: Vec<Value> = operation
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let ok = match operation.response {
            Some(name) => json!({
                "description": "OK",
                "content": {"application/json": {"schema": reference(name)}}
            }),
            None => {
                json!({"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}})
            }
        };
        let error = json!({
            "description": "CoreUpdate's error body",
            "content": {"application/json": {"schema": reference("ErrorBody")}}
        });
        let mut item = json!({
            "summary": operation.summary,
            "parameters": parameters,
            "responses": {"200": ok, "default": error},
        });
        if let Some(name) = operation.request {
            item["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": reference(name)}}
            });
        }
        if operation.authenticated {
            item["security"] = json!([{"hawk": []}, {"basic": []}]);
        }
        paths
            .entry(operation.path.to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path items are objects")
            .insert(operation.method.to_owned(), item);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Update service admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": concat!(
                "CoreUpdate's update/v1 API as updateservicectl calls it, with this server's ",
                "extensions. Clients omit false, 0 and empty strings: absent fields read as ",
                "zero. int64 fields travel as strings."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "hawk": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "Hawk (HMAC-SHA256 over the normalized string; id = user, key = API key)"
                },
                "basic": {"type": "http", "scheme": "basic", "description": "user:key"}
            }
        }
    })
}

/// The prefix every CoreUpdate path starts with.
pub const API_PREFIX: &str = V1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_document_with_its_schemas() {
        let doc = document();
        for operation in OPERATIONS {
            let item = &doc["paths"][operation.path][operation.method];
            assert!(item.is_object(), "{} {}", operation.method, operation.path);
            for name in operation.request.iter().chain(operation.response.iter()) {
                assert!(
                    doc["components"]["schemas"][name].is_object(),
                    "schema {name} is missing"
                );
            }
        }
        let group = &doc["components"]["schemas"]["Group"]["properties"];
        assert!(group["updatePercent"].is_object() && group["maxInFlight"].is_object());
        let frame = &doc["components"]["schemas"]["Frame"]["properties"];
        assert_eq!(frame["duration"]["type"], "string", "int64 as a string");
    }
}
