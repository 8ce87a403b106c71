//! Every operation of the admin API, and its OpenAPI 3.0 document, which the server serves
//! at [`PATH`].
//!
//! The operations are listed once, in [`OPERATIONS`]: method, path, summary, the schema
//! names of the bodies and the [`Access`] each needs. The server authorizes every request
//! against its entry (a request matching no entry is refused); a test of the server checks
//! the table against its router. With the `openapi` feature, `document()` generates the
//! document from the table and the wire types in [`crate::api`] (their JSON schemas), so
//! the document cannot drift from the JSON the server reads and writes.
//!
//! ```
//! use update_api::access::{Permission, Role};
//! use update_api::openapi::operation;
//!
//! let delete = operation("DELETE", "/_ah/api/update/v1/apps/my-app").unwrap();
//! let access = delete.access.unwrap();
//! assert_eq!(access.permission, Permission::Operate);
//! assert!(!Role::Viewer.grants(access.permission));
//! assert_eq!(delete.app_named("/_ah/api/update/v1/apps/my-app", None).as_deref(), Some("my-app"));
//! ```

use crate::access::{Access, AppIn, Permission};
#[cfg(feature = "openapi")]
use crate::api;
#[cfg(feature = "openapi")]
use schemars::generate::SchemaSettings;
#[cfg(feature = "openapi")]
use schemars::{JsonSchema, SchemaGenerator};
#[cfg(feature = "openapi")]
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
    /// What it requires (the server's authorization decides); `None`: public, no
    /// credentials needed.
    pub access: Option<Access>,
}

impl Operation {
    /// Whether it needs credentials (Hawk, Basic or Bearer).
    #[must_use]
    pub const fn authenticated(&self) -> bool {
        self.access.is_some()
    }

    /// Whether `path` (as requested, without the query) is this operation's path: the same
    /// segments, a `{param}` matching any one non-empty segment.
    #[must_use]
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut ours = self.path.split('/');
        let mut theirs = path.split('/');
        loop {
            match (ours.next(), theirs.next()) {
                (None, None) => return true,
                (Some(o), Some(t)) if o.starts_with('{') => {
                    if t.is_empty() {
                        return false;
                    }
                }
                (Some(o), Some(t)) if o == t => {}
                _ => return false,
            }
        }
    }

    /// How many segments of its path are literal: of two operations matching a path (the
    /// literal `upstream/sync` and `upstream/{id}`), the more literal one is meant.
    fn literal_segments(&self) -> usize {
        self.path.split('/').filter(|s| !s.starts_with('{')).count()
    }

    /// The app a request of this operation names where its access says: the path segment
    /// in the place of the parameter (percent-decoded), or the query parameter.
    #[must_use]
    pub fn app_named(&self, path: &str, query: Option<&str>) -> Option<String> {
        match self.access?.app {
            AppIn::Path(name) => {
                let placeholder = format!("{{{name}}}");
                let index = self.path.split('/').position(|s| s == placeholder)?;
                let segment = path.split('/').nth(index)?;
                Some(percent_decoded(segment))
            }
            AppIn::Query(name) => {
                let mut values = query?
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .filter(|(key, _)| percent_decoded(key) == name)
                    .map(|(_, value)| percent_decoded(&value.replace('+', " ")));
                let first = values.next()?;
                // A repeated parameter may name one app here and another to the handler:
                // such a request names no single app (empty), which a scoped principal is
                // refused.
                if values.any(|other| other != first) {
                    return Some(String::new());
                }
                Some(first)
            }
            AppIn::Listing | AppIn::None | AppIn::Global => None,
        }
    }
}

/// The operation a request is (`None`: no operation of the table; such a request is refused
/// by the authorization, never allowed).
#[must_use]
pub fn operation(method: &str, path: &str) -> Option<&'static Operation> {
    find(OPERATIONS, method, path)
}

/// The entry of `table` a request is (the panel's actions are a table of the same kind).
#[must_use]
pub fn find(table: &'static [Operation], method: &str, path: &str) -> Option<&'static Operation> {
    table
        .iter()
        .filter(|o| o.matches(method, path))
        .max_by_key(|o| o.literal_segments())
}

/// A path segment or query value, percent-decoded (an invalid escape or non-UTF-8 result
/// stays as sent).
fn percent_decoded(text: &str) -> String {
    String::from_utf8(crate::percent::decode(text)).unwrap_or_else(|_| text.to_owned())
}

/// An [`Access`], in a `const` context.
#[must_use]
pub const fn needs(permission: Permission, app: AppIn) -> Access {
    Access::new(permission, app)
}

/// Reads one app, named in the path.
const APP_READ: Access = needs(Permission::Read, AppIn::Path("appId"));
/// Changes one app, named in the path.
const APP_OPERATE: Access = needs(Permission::Operate, AppIn::Path("appId"));
/// Reads across apps, `?appId=` naming one (required of a scoped principal).
const QUERY_READ: Access = needs(Permission::Read, AppIn::Query("appId"));
/// Lists apps: the handler keeps those of the principal's scope.
const LISTING_READ: Access = needs(Permission::Read, AppIn::Listing);
/// Reads something of the whole service.
const GLOBAL_READ: Access = needs(Permission::Read, AppIn::Global);
/// Changes the set of apps (creating one).
const GLOBAL_OPERATE: Access = needs(Permission::Operate, AppIn::Global);
/// Administers the service: users, tokens, upstreams, webhooks, backups.
const GLOBAL_ADMIN: Access = needs(Permission::Admin, AppIn::Global);
/// Harmless to anyone authenticated.
const ANY_READ: Access = needs(Permission::Read, AppIn::None);

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    response: Option<&'static str>,
    access: Access,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        request,
        response,
        access: Some(access),
    }
}

/// An operation open to anyone (its access, which nobody is asked for, is dropped).
const fn public(mut operation: Operation) -> Operation {
    operation.access = None;
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
    op(
        "get",
        v1!("/apps"),
        "List apps",
        None,
        Some("AppList"),
        LISTING_READ,
    ),
    op(
        "post",
        v1!("/apps"),
        "Create an app (an id is generated when none is given)",
        Some("App"),
        Some("App"),
        GLOBAL_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}"),
        "Get an app",
        None,
        Some("App"),
        APP_READ,
    ),
    op(
        "patch",
        v1!("/apps/{appId}"),
        "Replace an app's label and description",
        Some("App"),
        Some("App"),
        APP_OPERATE,
    ),
    op(
        "delete",
        v1!("/apps/{appId}"),
        "Delete an app with its channels, groups and packages",
        None,
        Some("App"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/packages"),
        "List an app's packages, newest first (limit, skip, version)",
        None,
        Some("PackageList"),
        APP_READ,
    ),
    op(
        "post",
        v1!("/apps/{appId}/packages/{version}"),
        "Register a package: with a URL (size above 0, sha256Sum, a URL ending in a file name), \
         or without one for the server's own hosting (payloadMissing until uploaded); 409 if \
         the version exists",
        Some("Package"),
        Some("Package"),
        APP_OPERATE,
    ),
    op(
        "patch",
        v1!("/apps/{appId}/packages/{version}"),
        "Replace an existing package (the whole object, as POST takes it)",
        Some("Package"),
        Some("Package"),
        APP_OPERATE,
    ),
    op(
        "delete",
        v1!("/apps/{appId}/packages/{version}"),
        "Delete a package",
        None,
        Some("Package"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/packages/{version}/arches"),
        "List a version's packages for named architectures (404 without its default package)",
        None,
        Some("PackageList"),
        APP_READ,
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
        APP_OPERATE,
    ),
    op(
        "delete",
        v1!("/apps/{appId}/packages/{version}/arches/{arch}"),
        "Delete a version's package for an architecture",
        None,
        Some("Package"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/packages/{version}/files"),
        "List a package's extra files (arch: of the version's package for that architecture)",
        None,
        Some("PackageFileList"),
        APP_READ,
    ),
    op(
        "put",
        v1!("/apps/{appId}/packages/{version}/files/{name}"),
        "Create or replace an extra file of a package (oem-qemu.gz, flatcar-<ext>.gz; size \
         above 0, sha256Sum; arch: of the version's package for that architecture), listed \
         after the payload in the same Omaha answer and downloaded from its codebase",
        Some("PackageFile"),
        Some("PackageFile"),
        APP_OPERATE,
    ),
    op(
        "delete",
        v1!("/apps/{appId}/packages/{version}/files/{name}"),
        "Delete an extra file of a package (arch: of the version's package for that \
         architecture)",
        None,
        Some("PackageFile"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/channels"),
        "List an app's channels",
        None,
        Some("ChannelList"),
        APP_READ,
    ),
    op(
        "post",
        v1!("/apps/{appId}/channels"),
        "Create a channel (the body's appId is used when the path names no app)",
        Some("ChannelRequest"),
        Some("AppChannel"),
        APP_OPERATE,
    ),
    op(
        "patch",
        v1!("/apps/{appId}/channels/{label}"),
        "Point a channel at a version, publish it",
        Some("ChannelRequest"),
        Some("AppChannel"),
        APP_OPERATE,
    ),
    op(
        "delete",
        v1!("/apps/{appId}/channels/{label}"),
        "Delete a channel",
        None,
        Some("ChannelRequest"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/channels/{label}/floors"),
        "List a channel's floors, lowest first",
        None,
        Some("ChannelFloorList"),
        APP_READ,
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
        APP_OPERATE,
    ),
    op(
        "delete",
        v1!("/apps/{appId}/channels/{label}/floors/{version}"),
        "Delete a floor of the channel (arch: the floor for that architecture)",
        None,
        Some("ChannelFloor"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/channels/{label}/blacklist"),
        "List the versions never offered on the channel",
        None,
        Some("BlacklistList"),
        APP_READ,
    ),
    op(
        "put",
        v1!("/apps/{appId}/channels/{label}/blacklist/{version}"),
        "Blacklist a version on the channel: never offered, even if the channel points at it; \
         409 while the channel points at it or it is a floor",
        None,
        Some("BlacklistedVersion"),
        APP_OPERATE,
    ),
    op(
        "delete",
        v1!("/apps/{appId}/channels/{label}/blacklist/{version}"),
        "Take a version off the channel's blacklist",
        None,
        Some("BlacklistedVersion"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups"),
        "List an app's groups",
        None,
        Some("GroupList"),
        APP_READ,
    ),
    op(
        "post",
        v1!("/apps/{appId}/groups"),
        "Create a group",
        Some("Group"),
        Some("Group"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups/{groupId}"),
        "Get a group (with its effective percentage)",
        None,
        Some("Group"),
        APP_READ,
    ),
    op(
        "patch",
        v1!("/apps/{appId}/groups/{groupId}"),
        "Replace a group's settings (fields one CLI generation does not know keep their value when absent)",
        Some("Group"),
        Some("Group"),
        APP_OPERATE,
    ),
    op(
        "post",
        v1!("/apps/{appId}/groups/{groupId}"),
        "Set a group's percentage; stops a running timed rollout (rolloutStopped)",
        Some("GroupPercent"),
        Some("GroupPercent"),
        APP_OPERATE,
    ),
    op(
        "delete",
        v1!("/apps/{appId}/groups/{groupId}"),
        "Delete a group",
        None,
        Some("Group"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups/{groupId}/requests/{kind}/{dateStart}/{dateEnd}"),
        "A graph: requests per version (kind=versions), events per version, type and result (kind=events; 3/2 counts completed updates only), routine 3/2 check-ins per version (kind=checkins, an extension), or instances per version at the end of each bucket (kind=instances, an extension), in buckets of `resolution` seconds (60, 3600, 86400)",
        None,
        Some("RequestsRollup"),
        APP_READ,
    ),
    op(
        "delete",
        v1!("/apps/{appId}/groups/{groupId}/retry"),
        "Extension: clear the retry delay after failures of the group's instances, or of one (clientId), so they are offered the update at their next check",
        None,
        Some("RetryCleared"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups/{groupId}/rollout"),
        "A group's timed rollout frames",
        None,
        Some("Rollout"),
        APP_READ,
    ),
    op(
        "post",
        v1!("/apps/{appId}/groups/{groupId}/rollout"),
        "Set and start a timed rollout",
        Some("Rollout"),
        Some("Rollout"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/apps/{appId}/groups/{groupId}/rollout/active"),
        "Whether the timed rollout runs",
        None,
        Some("RolloutActive"),
        APP_READ,
    ),
    op(
        "post",
        v1!("/apps/{appId}/groups/{groupId}/rollout/active"),
        "Activate the timed rollout (from its first frame unless it runs) or deactivate it (the percentage in force stays)",
        Some("RolloutActive"),
        Some("RolloutActive"),
        APP_OPERATE,
    ),
    op(
        "get",
        v1!("/appversions"),
        "Instance counts per app, group and version",
        None,
        Some("AppVersionList"),
        QUERY_READ,
    ),
    op(
        "get",
        v1!("/clientupdates"),
        "The latest state of each instance (filters, limit, skip)",
        None,
        Some("ClientUpdateList"),
        QUERY_READ,
    ),
    op(
        "get",
        v1!("/clientupdatecount"),
        "The number of instances matching the filters",
        None,
        Some("ClientCount"),
        QUERY_READ,
    ),
    op(
        "get",
        v1!("/client/history"),
        "An instance's events and grants (clientId)",
        None,
        Some("ClientHistory"),
        QUERY_READ,
    ),
    op(
        "get",
        v1!("/instances"),
        "Search instances by id prefix, version, status and group, paginated",
        None,
        Some("ClientUpdateList"),
        QUERY_READ,
    ),
    op(
        "get",
        v1!("/activity"),
        "The activity log, newest first",
        None,
        Some("ActivityList"),
        QUERY_READ,
    ),
    op(
        "get",
        v1!("/overview"),
        "Every group's rollout state (updating, auto_paused, paused, no_target, no_instances, finished), \
         progress toward the target, rate, estimated end and what needs attention \
         (auto_paused, failing, stalled), what needs attention first (appId)",
        None,
        Some("Overview"),
        QUERY_READ,
    ),
    op(
        "get",
        v1!("/errors"),
        "Failed attempts (3/0) per instance, version and error code, the most recent first, \
         with their count and first and last time (appId, groupId, version, since: RFC 3339 \
         or unix seconds, default a day ago; limit up to 1000, skip)",
        None,
        Some("InstanceErrorList"),
        QUERY_READ,
    ),
    op(
        "get",
        v1!("/upstream"),
        "List upstreams",
        None,
        Some("UpstreamList"),
        GLOBAL_READ,
    ),
    op(
        "post",
        v1!("/upstream"),
        "Create an upstream: `kind` `admin` (another server of this kind) or `omaha` (an Omaha server followed as a client: `appId`, `tracks`, `arches`, `download`)",
        Some("Upstream"),
        Some("Upstream"),
        GLOBAL_ADMIN,
    ),
    op(
        "put",
        v1!("/upstream/{id}"),
        "Replace an upstream",
        Some("Upstream"),
        Some("Upstream"),
        GLOBAL_ADMIN,
    ),
    op(
        "delete",
        v1!("/upstream/{id}"),
        "Delete an upstream",
        None,
        Some("Upstream"),
        GLOBAL_ADMIN,
    ),
    op(
        "post",
        v1!("/upstream/sync"),
        "Sync from every upstream now: published channels and packages (`admin`), or releases, floors, extra files and payloads over Omaha (`omaha`); each upstream's result is also in its `lastSync`, `lastStatus`, `lastDetail`",
        None,
        Some("UpstreamSync"),
        GLOBAL_ADMIN,
    ),
    op(
        "get",
        v1!("/webhooks"),
        "List webhooks (`?appId=`: of one app, and the global ones), without their secrets",
        None,
        Some("WebhookList"),
        GLOBAL_READ,
    ),
    op(
        "post",
        v1!("/webhooks"),
        "Create a webhook; the answer carries its signing secret, shown only then",
        Some("Webhook"),
        Some("Webhook"),
        GLOBAL_ADMIN,
    ),
    op(
        "get",
        v1!("/webhooks/{id}"),
        "Get a webhook (without its secret)",
        None,
        Some("Webhook"),
        GLOBAL_READ,
    ),
    op(
        "put",
        v1!("/webhooks/{id}"),
        "Replace a webhook's settings (its secret stays)",
        Some("Webhook"),
        Some("Webhook"),
        GLOBAL_ADMIN,
    ),
    op(
        "delete",
        v1!("/webhooks/{id}"),
        "Delete a webhook and its deliveries",
        None,
        Some("Webhook"),
        GLOBAL_ADMIN,
    ),
    op(
        "post",
        v1!("/webhooks/{id}/test"),
        "Enqueue a test delivery",
        None,
        Some("WebhookDelivery"),
        GLOBAL_ADMIN,
    ),
    op(
        "get",
        v1!("/webhooks/{id}/deliveries"),
        "A webhook's deliveries, newest first (`?limit=`, at most 1000): status, attempts, last error",
        None,
        Some("WebhookDeliveryList"),
        GLOBAL_READ,
    ),
    op(
        "get",
        v1!("/util/uuid"),
        "A fresh UUID",
        None,
        Some("GeneratedUuid"),
        ANY_READ,
    ),
    op(
        "get",
        v1!("/admin/user"),
        "List users (without keys)",
        None,
        Some("AdminUserList"),
        GLOBAL_ADMIN,
    ),
    op(
        "post",
        v1!("/admin/user"),
        "Create a user (role: admin, operator or viewer, admin when absent; apps: the \
         applications it is limited to, every one when empty); the answer carries its key",
        Some("AdminUserRequest"),
        Some("AdminUser"),
        GLOBAL_ADMIN,
    ),
    op(
        "get",
        v1!("/admin/user/{userName}"),
        "Get a user (without its key)",
        None,
        Some("AdminUser"),
        GLOBAL_ADMIN,
    ),
    op(
        "delete",
        v1!("/admin/user/{userName}"),
        "Delete a user; 403 for oneself, 409 for the last administrator of every app",
        None,
        Some("AdminUser"),
        GLOBAL_ADMIN,
    ),
    op(
        "patch",
        v1!("/admin/user/{userName}"),
        "Change a user's role and applications; 409 when that leaves no administrator of \
         every app",
        Some("AdminUserRequest"),
        Some("AdminUser"),
        GLOBAL_ADMIN,
    ),
    op(
        "get",
        v1!("/admin/tokens"),
        "List API tokens (name, role, applications, expiry, last use; never the secret)",
        None,
        Some("ApiTokenList"),
        GLOBAL_ADMIN,
    ),
    op(
        "post",
        v1!("/admin/tokens"),
        "Create an API token (name, role, apps, expiresAt); the answer carries the token, \
         shown once, for Basic (name:token) or Bearer",
        Some("ApiTokenRequest"),
        Some("ApiToken"),
        GLOBAL_ADMIN,
    ),
    op(
        "delete",
        v1!("/admin/tokens/{tokenName}"),
        "Revoke an API token",
        None,
        Some("ApiToken"),
        GLOBAL_ADMIN,
    ),
    op(
        "put",
        v1!("/admin/user/{userName}/token/new"),
        "Give a user a new key",
        None,
        Some("AdminUser"),
        GLOBAL_ADMIN,
    ),
    public(op(
        "get",
        v1!("/public/packages"),
        "Published packages per app",
        None,
        Some("PublicPackageList"),
        ANY_READ,
    )),
    public(op(
        "get",
        v1!("/public/channels"),
        "Published channels",
        None,
        Some("ChannelList"),
        ANY_READ,
    )),
    Operation {
        method: "post",
        path: "/package-upload",
        summary: "Upload a payload (multipart/form-data, part `file`; `appId` and `version` name its package, and `arch` its package for that architecture, else it fills the packages registered without a URL that match its size and SHA-256); answers its name, size, hashes and URL",
        request: None,
        response: None,
        access: Some(needs(Permission::Operate, AppIn::Query("appId"))),
    },
    public(op(
        "get",
        "/packages/{name}",
        "Download a payload (HTTP Range supported); `<name>.sig` is its detached ed25519 signature",
        None,
        None,
        ANY_READ,
    )),
    public(op(
        "get",
        "/packages/{appId}/{version}/{name}",
        "Download the payload of an app's version (HTTP Range supported); `<name>.sig` is its detached ed25519 signature",
        None,
        None,
        ANY_READ,
    )),
    public(op(
        "get",
        "/packages/{appId}/{version}/{arch}/{name}",
        "Download a file of the package of an app's version for an architecture (HTTP Range supported)",
        None,
        None,
        ANY_READ,
    )),
    op(
        "get",
        "/db/backup",
        "A consistent backup of the database and payloads (tar.gz)",
        None,
        None,
        GLOBAL_ADMIN,
    ),
    public(op(
        "get",
        "/admin/v1/init",
        "First-run initialisation (answers `ok`)",
        None,
        None,
        ANY_READ,
    )),
];

#[cfg(feature = "openapi")]
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
    add::<api::ApiToken>(&mut generator);
    add::<api::ApiTokenRequest>(&mut generator);
    add::<api::ApiTokenList>(&mut generator);
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

#[cfg(feature = "openapi")]
fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The document.
#[cfg(feature = "openapi")]
#[must_use]
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
        if let Some(access) = operation.access {
            item["security"] = json!([{"hawk": []}, {"basic": []}, {"bearer": []}]);
            item["x-required-role"] = json!(access.permission.least_role().as_str());
            item["x-app-scope"] = json!(match access.app {
                AppIn::Path(name) => format!("path parameter {name}"),
                AppIn::Query(name) => format!("query parameter {name} (required when scoped)"),
                AppIn::Listing => "listing: only the apps of the principal's scope".to_owned(),
                AppIn::None => "none".to_owned(),
                AppIn::Global => "the whole service: refused to a scoped principal".to_owned(),
            });
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
                "basic": {"type": "http", "scheme": "basic", "description": "user:key, or token name:token"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token"}
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
    fn requests_find_their_operation_and_app() {
        let sync = operation("POST", "/_ah/api/update/v1/upstream/sync").unwrap();
        assert_eq!(
            sync.path, "/_ah/api/update/v1/upstream/sync",
            "the literal wins"
        );
        assert!(operation("PUT", "/_ah/api/update/v1/upstream/sync").is_some());
        assert!(operation("GET", "/_ah/api/update/v1/nothing").is_none());
        assert!(operation("GET", "/_ah/api/update/v1/apps//packages").is_none());
        let group = operation("PATCH", "/_ah/api/update/v1/apps/%7BABC%7D/groups/g").unwrap();
        assert_eq!(
            group.app_named("/_ah/api/update/v1/apps/%7BABC%7D/groups/g", None),
            Some("{ABC}".to_owned())
        );
        let errors = operation("GET", "/_ah/api/update/v1/errors").unwrap();
        let path = "/_ah/api/update/v1/errors";
        assert_eq!(
            errors.app_named(path, Some("limit=5&appId=a%2Bb")),
            Some("a+b".into())
        );
        assert_eq!(
            errors.app_named(path, Some("appId=a&appId=a")),
            Some("a".into())
        );
        assert_eq!(
            errors.app_named(path, Some("appId=a&appId=b")),
            Some(String::new()),
            "two different apps name no single one"
        );
        assert_eq!(errors.app_named(path, Some("limit=5")), None);
        assert_eq!(errors.app_named(path, None), None);
    }

    #[test]
    #[cfg(feature = "openapi")]
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
