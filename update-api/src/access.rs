//! The admin API's permission model, as every operation declares it: a [`Role`] of a user or
//! a token, the [`Permission`] an operation needs, and where the operation names the
//! application it concerns ([`AppIn`]), which a principal scoped to some applications must be
//! allowed. Each entry of [`crate::openapi::OPERATIONS`] carries its [`Access`].
//!
//! These are descriptions only: the server decides (its `access::authorize`), a client may
//! read them to know what a token needs before it asks.

/// A role. Each one includes the permissions of the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything it is scoped to; changes nothing.
    Viewer,
    /// Also changes apps, packages, channels, groups and rollouts (pause, resume, percent).
    Operator,
    /// Everything: also users, tokens, upstreams, webhooks and backups.
    Admin,
}

/// A role's name that is not `admin`, `operator` or `viewer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected admin, operator or viewer")]
pub struct UnknownRole(pub String);

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// Its name in the API, the database and on the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// The role a name names (surrounding white space ignored).
    ///
    /// # Errors
    /// [`UnknownRole`] for any other name.
    pub fn parse(name: &str) -> Result<Self, UnknownRole> {
        match name.trim() {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }

    /// Whether this role grants `permission`.
    #[must_use]
    pub const fn grants(self, permission: Permission) -> bool {
        self as u8 >= permission.least_role() as u8
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Reading (every role).
    Read,
    /// Changing apps, packages, channels, groups, rollouts (operator and admin).
    Operate,
    /// Users, tokens, upstreams, webhooks, backups (admin).
    Admin,
}

impl Permission {
    /// The least role that has it.
    #[must_use]
    pub const fn least_role(self) -> Role {
        match self {
            Self::Read => Role::Viewer,
            Self::Operate => Role::Operator,
            Self::Admin => Role::Admin,
        }
    }
}

/// Where an operation names the application it concerns, which a principal scoped to some
/// applications must be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppIn {
    /// A path parameter (`{appId}`, `{app}`): the segment at that place of the request's path.
    Path(&'static str),
    /// A query parameter (`?appId=`). A scoped principal must name an app in its scope; an
    /// unscoped one may leave it out (every app).
    Query(&'static str),
    /// A listing whose handler keeps only the apps of the principal's scope (`GET apps`).
    Listing,
    /// About no app in particular and harmless to everyone (`util/uuid`).
    None,
    /// About the whole service (users, tokens, upstreams, webhooks, backups, creating an
    /// app): refused to a principal scoped to some applications, whatever its role.
    Global,
}

/// What an operation or a panel action requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The permission.
    pub permission: Permission,
    /// Where the app is named.
    pub app: AppIn,
}

impl Access {
    /// An access, in a `const` context.
    #[must_use]
    pub const fn new(permission: Permission, app: AppIn) -> Self {
        Self { permission, app }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_below() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert!(role.grants(Permission::Read));
        }
        assert!(!Role::Viewer.grants(Permission::Operate));
        assert!(Role::Operator.grants(Permission::Operate));
        assert!(!Role::Operator.grants(Permission::Admin));
        assert!(Role::Admin.grants(Permission::Admin));
        assert_eq!(Role::parse(" admin\n"), Ok(Role::Admin));
        assert_eq!(
            Role::parse("root").unwrap_err().to_string(),
            "unknown role \"root\": expected admin, operator or viewer"
        );
    }

    #[test]
    fn each_permission_names_its_least_role() {
        assert_eq!(Permission::Read.least_role(), Role::Viewer);
        assert_eq!(Permission::Operate.least_role(), Role::Operator);
        assert_eq!(Permission::Admin.least_role(), Role::Admin);
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }
}
