//! Access control: who may do what, decided in one place.
//!
//! Every authenticated request is made by a [`Principal`]: a user (Hawk, Basic, or a panel
//! session) or an API token (Basic or Bearer), with a [`Role`] and optionally a scope, the
//! set of applications it may touch. Every operation of the admin API, the payload upload,
//! `/db/backup` ([`crate::openapi::OPERATIONS`]) and every panel action
//! ([`crate::panel::ACTIONS`]) declares an [`Access`]: the [`Permission`] it needs and where
//! the application it concerns is named ([`AppIn`]). Those descriptions are
//! [`update_api::access`], published with the operation table. [`authorize`] is the one function that
//! decides; the admin API's authentication middleware and the panel's session extractor call
//! it before any handler runs, so a handler never sees a request its principal may not make.
//!
//! A refusal says what was needed, never whether the thing asked about exists: an operator
//! scoped to app `a` asking about app `b` gets the same 403 whether `b` exists or not, since
//! the decision is made from the request alone, before anything is read.

use std::collections::BTreeSet;

pub use update_api::access::{Access, AppIn, Permission, Role, UnknownRole};

/// Who made a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user (its API key, or a panel session).
    User,
    /// An API token.
    Token,
    /// A panel session opened by single sign-on ([`crate::sso`]): its name is the
    /// provider's subject (or the configured name claim).
    Sso,
    /// The server itself (upstream syncs, timed rollouts).
    System,
}

/// The authenticated maker of a request, as the auth layer resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User or token.
    pub kind: PrincipalKind,
    /// The user's or the token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The apps it may touch (canonical ids); `None`: every app.
    pub apps: Option<BTreeSet<String>>,
}

/// The actor of the activity entries the service writes by itself.
pub const SYSTEM_ACTOR: &str = "system";

impl Principal {
    /// The server itself: an unscoped administrator, recorded as `system`.
    #[must_use]
    pub fn system() -> Self {
        Self {
            kind: PrincipalKind::System,
            name: SYSTEM_ACTOR.to_owned(),
            role: Role::Admin,
            apps: None,
        }
    }

    /// How the activity log records it: a user by its name, a token as `token:<name>`, an
    /// SSO subject as `sso:<name>` (user names cannot hold a `:`, so these never meet), the
    /// server as `system`.
    #[must_use]
    pub fn actor(&self) -> String {
        match self.kind {
            PrincipalKind::Token => format!("{TOKEN_ACTOR_PREFIX}{}", self.name),
            PrincipalKind::Sso => format!("{SSO_ACTOR_PREFIX}{}", self.name),
            PrincipalKind::User | PrincipalKind::System => self.name.clone(),
        }
    }

    /// Whether it may touch app `app` (any spelling of the id).
    #[must_use]
    pub fn may_see_app(&self, app: &str) -> bool {
        self.apps
            .as_ref()
            .is_none_or(|apps| apps.contains(&crate::store::canonical_app_id(app)))
    }
}

/// How the activity log names a token's changes: this prefix, then the token's name.
pub const TOKEN_ACTOR_PREFIX: &str = "token:";

/// How the activity log names the changes of an SSO subject: this prefix, then its name.
pub const SSO_ACTOR_PREFIX: &str = "sso:";

/// A refusal (403). Its message says what the request needed, in terms of the principal's
/// role and scope only: never whether what it named exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The role is too low.
    #[error("forbidden: this needs the {needed} role; {who} has the {has} role")]
    Role {
        /// The least role that would do.
        needed: Role,
        /// The principal's role.
        has: Role,
        /// The principal, as the message names it.
        who: String,
    },
    /// The app named is outside the principal's scope (or not named at all).
    #[error("forbidden: {who} is limited to some applications, and {what}")]
    Scope {
        /// The principal.
        who: String,
        /// What was wrong.
        what: &'static str,
    },
    /// The operation concerns the whole service.
    #[error("forbidden: {who} is limited to some applications and cannot {what}")]
    Global {
        /// The principal.
        who: String,
        /// The operation, in words.
        what: &'static str,
    },
    /// Nothing declares what the request needs (a route without an entry in the table):
    /// refused rather than allowed.
    #[error("forbidden: no permission is declared for this request")]
    Undeclared,
}

/// Decides whether `principal` may make a request that needs `access`, `app` being the app
/// the request names where `access.app` says (`None` when it names none).
///
/// # Errors
/// [`Denied`]: the reason, fit to send.
pub fn authorize(principal: &Principal, access: Access, app: Option<&str>) -> Result<(), Denied> {
    let who = match principal.kind {
        PrincipalKind::Token => format!("token {}", principal.name),
        PrincipalKind::Sso => format!("SSO user {}", principal.name),
        PrincipalKind::User | PrincipalKind::System => format!("user {}", principal.name),
    };
    if !principal.role.grants(access.permission) {
        return Err(Denied::Role {
            needed: access.permission.least_role(),
            has: principal.role,
            who,
        });
    }
    if principal.apps.is_none() {
        return Ok(());
    }
    let app = app.map(str::trim).filter(|a| !a.is_empty());
    match access.app {
        AppIn::None | AppIn::Listing => Ok(()),
        AppIn::Global => Err(Denied::Global {
            who,
            what: "make changes or reads that concern the whole service",
        }),
        AppIn::Path(_) | AppIn::Query(_) => match app {
            Some(app) if principal.may_see_app(app) => Ok(()),
            Some(_) => Err(Denied::Scope {
                who,
                what: "this application is not one of them",
            }),
            None => Err(Denied::Scope {
                who,
                what: "the request must name one of them (appId)",
            }),
        },
    }
}

/// Why a scope given to a user or a token is not acceptable (a role that is not one is an
/// [`UnknownRole`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// An app id of the scope is empty or too long.
    #[error("app ids in a scope must be 1 to 512 characters without control characters")]
    BadApp,
    /// Too many apps in a scope.
    #[error("a scope holds at most {MAX_SCOPE_APPS} applications")]
    TooManyApps,
    /// The stored scope is not a JSON array of strings.
    #[error("stored scope is malformed: {0}")]
    Corrupt(String),
}

/// The most applications one scope names.
pub const MAX_SCOPE_APPS: usize = 256;

/// A scope from the API's list of app ids: `None` (every app) when empty; the ids canonical.
///
/// # Errors
/// [`AccessError`] for an empty, overlong or control-character id, or too many.
pub fn scope_from_list(apps: &[String]) -> Result<Option<BTreeSet<String>>, AccessError> {
    if apps.is_empty() {
        return Ok(None);
    }
    if apps.len() > MAX_SCOPE_APPS {
        return Err(AccessError::TooManyApps);
    }
    let mut set = BTreeSet::new();
    for app in apps {
        let app = app.trim();
        if app.is_empty() || app.len() > 512 || app.chars().any(char::is_control) {
            return Err(AccessError::BadApp);
        }
        set.insert(crate::store::canonical_app_id(app));
    }
    Ok(Some(set))
}

/// The stored form of a scope: a JSON array of canonical ids, `[]` for every app.
#[must_use]
pub fn scope_to_stored(apps: Option<&BTreeSet<String>>) -> String {
    let list: Vec<&String> = apps.map(|a| a.iter().collect()).unwrap_or_default();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
}

/// A scope from its stored form.
///
/// # Errors
/// [`AccessError::Corrupt`] when it is not a JSON array of strings.
pub fn scope_from_stored(text: &str) -> Result<Option<BTreeSet<String>>, AccessError> {
    let list: Vec<String> =
        serde_json::from_str(text).map_err(|e| AccessError::Corrupt(e.to_string()))?;
    Ok((!list.is_empty()).then(|| list.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, apps: &[&str]) -> Principal {
        Principal {
            kind: PrincipalKind::User,
            name: "u".into(),
            role,
            apps: (!apps.is_empty()).then(|| apps.iter().map(|a| (*a).to_owned()).collect()),
        }
    }

    const fn access(permission: Permission, app: AppIn) -> Access {
        Access { permission, app }
    }

    #[test]
    fn a_scope_limits_apps_and_refuses_the_whole_service() {
        let scoped = principal(Role::Admin, &["a"]);
        let path = access(Permission::Operate, AppIn::Path("appId"));
        assert!(authorize(&scoped, path, Some("a")).is_ok());
        assert!(
            authorize(&scoped, path, Some("{A}")).is_ok(),
            "any spelling"
        );
        let outside = authorize(&scoped, path, Some("b")).unwrap_err();
        assert_eq!(
            outside.to_string(),
            "forbidden: user u is limited to some applications, and this application is not one of them"
        );
        let query = access(Permission::Read, AppIn::Query("appId"));
        assert!(authorize(&scoped, query, None).is_err());
        assert!(authorize(&scoped, query, Some("a")).is_ok());
        assert!(authorize(&scoped, access(Permission::Admin, AppIn::Global), None).is_err());
        assert!(authorize(&scoped, access(Permission::Read, AppIn::Listing), None).is_ok());
        let everywhere = principal(Role::Admin, &[]);
        assert!(authorize(&everywhere, query, None).is_ok());
        assert!(authorize(&everywhere, access(Permission::Admin, AppIn::Global), None).is_ok());
    }

    #[test]
    fn the_role_is_checked_before_the_scope() {
        let viewer = principal(Role::Viewer, &["a"]);
        let denied = authorize(
            &viewer,
            access(Permission::Operate, AppIn::Path("appId")),
            Some("b"),
        )
        .unwrap_err();
        assert!(matches!(
            denied,
            Denied::Role {
                needed: Role::Operator,
                ..
            }
        ));
    }

    #[test]
    fn scopes_are_stored_as_json_arrays() {
        let scope = scope_from_list(&["{ABC}".into(), "b".into()]).unwrap();
        let stored = scope_to_stored(scope.as_ref());
        assert_eq!(stored, r#"["abc","b"]"#);
        assert_eq!(scope_from_stored(&stored).unwrap(), scope);
        assert_eq!(scope_from_list(&[]).unwrap(), None);
        assert_eq!(scope_to_stored(None), "[]");
        assert_eq!(scope_from_stored("[]").unwrap(), None);
        assert!(scope_from_stored("nope").is_err());
        assert!(scope_from_list(&[" ".into()]).is_err());
        assert!(scope_from_list(&vec!["a".to_owned(); MAX_SCOPE_APPS + 1]).is_err());
    }
}
