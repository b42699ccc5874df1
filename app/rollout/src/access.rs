//! Who may do what: the roles people hold, and the one rule that decides what they allow.
//!
//! Rollout actions follow a ladder — a viewer reads, an engineer runs trials, a release manager
//! also approves production changes and overrides soaks — which the stage machine checks through
//! [`Roles::allows`]. Managers and admins stand beside the ladder: a manager reads and exports
//! reports, an admin runs the installation (users, roles, backends). Neither may act on a rollout
//! by that role alone; a person who needs both holds both roles.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::machine::ActionKind;

/// A role a person holds. A person may hold several.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    Viewer,
    Engineer,
    ReleaseManager,
    Manager,
    Admin,
}

impl Role {
    /// Every variant, in declaration order.
    pub fn all() -> impl DoubleEndedIterator<Item = Role> {
        <Role as strum::IntoEnumIterator>::iter()
    }

    /// The stable name, as stored and as serde writes it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(name: &str) -> Option<Role> {
        name.trim().parse().ok()
    }

    /// For people: "Release manager".
    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Engineer => "Engineer",
            Role::ReleaseManager => "Release manager",
            Role::Manager => "Manager",
            Role::Admin => "Admin",
        }
    }

    pub(crate) fn with_article(self) -> &'static str {
        match self {
            Role::Viewer => "a viewer",
            Role::Engineer => "an engineer",
            Role::ReleaseManager => "a release manager",
            Role::Manager => "a manager",
            Role::Admin => "an admin",
        }
    }

    /// The role's step on the rollout ladder; off the ladder, a reader's.
    fn rung(self) -> u8 {
        match self {
            Role::Viewer | Role::Manager | Role::Admin => 0,
            Role::Engineer => 1,
            Role::ReleaseManager => 2,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What a person may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "permission", content = "action")]
pub enum Permission {
    /// See migrations, their stages, checks and history.
    Read,
    /// Create migrations and edit their identity and plan.
    EditMigrations,
    /// Reports and exports of completed migrations.
    Export,
    /// Users, their roles, and the backends' configuration.
    Administer,
    /// An action of the stage machine; see [`ActionKind::required_role`].
    Act(ActionKind),
}

/// The roles one person holds. Serialised as the list of role names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Roles(BTreeSet<Role>);

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Roles {
        Roles(roles.into_iter().collect())
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In the order of [`Role::all`].
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }

    /// The highest rollout role held — release manager, engineer or viewer: what the stage
    /// machine counts, and what its refusals name.
    pub fn rollout_role(&self) -> Role {
        self.iter()
            .max_by_key(|role| role.rung())
            .filter(|role| role.rung() > 0)
            .unwrap_or(Role::Viewer)
    }

    /// The rule. Anyone with a role reads; a person without one (not yet given any) does nothing.
    pub fn allows(&self, permission: Permission) -> bool {
        if self.is_empty() {
            return false;
        }
        let rung = self.rollout_role().rung();
        match permission {
            Permission::Read => true,
            Permission::EditMigrations => rung >= Role::Engineer.rung(),
            Permission::Export => self.contains(Role::Manager),
            Permission::Administer => self.contains(Role::Admin),
            Permission::Act(action) => rung >= action.required_role().rung(),
        }
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Roles {
        Roles::new(iter)
    }
}

impl From<Role> for Roles {
    fn from(role: Role) -> Roles {
        Roles::new([role])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of roles, as (roles, permission, allowed).
    #[test]
    fn what_each_role_allows() {
        use ActionKind as A;
        use Permission as P;
        let checks = [
            P::Read,
            P::EditMigrations,
            P::Export,
            P::Administer,
            P::Act(A::CheckIn),
            P::Act(A::Advance),
            P::Act(A::RequestProductionChange),
            P::Act(A::Disable),
            P::Act(A::Approve),
            P::Act(A::Reject),
            P::Act(A::OverrideSoak),
            P::Act(A::ResumeAtLastHealthy),
        ];
        // One row per role: which of `checks` it allows, in order.
        let table: [(Role, [bool; 12]); 5] = [
            (
                Role::Viewer,
                [
                    true, false, false, false, false, false, false, false, false, false, false,
                    false,
                ],
            ),
            (
                Role::Engineer,
                [
                    true, true, false, false, true, true, true, true, false, false, false, false,
                ],
            ),
            (
                Role::ReleaseManager,
                [
                    true, true, false, false, true, true, true, true, true, true, true, true,
                ],
            ),
            (
                Role::Manager,
                [
                    true, false, true, false, false, false, false, false, false, false, false,
                    false,
                ],
            ),
            (
                Role::Admin,
                [
                    true, false, false, true, false, false, false, false, false, false, false,
                    false,
                ],
            ),
        ];
        for (role, allowed) in table {
            for (permission, expected) in checks.iter().zip(allowed) {
                assert_eq!(
                    Roles::from(role).allows(*permission),
                    expected,
                    "{role:?} {permission:?}"
                );
            }
        }
        // Roles add up.
        let both = Roles::new([Role::Engineer, Role::Admin]);
        assert!(both.allows(P::Administer) && both.allows(P::Act(A::Disable)));
        assert!(!both.allows(P::Act(A::Approve)));
        assert_eq!(both.rollout_role(), Role::Engineer);
        // No role, no access.
        assert!(!Roles::default().allows(P::Read));
        assert_eq!(Roles::new([Role::Admin]).rollout_role(), Role::Viewer);
        // Every action of the machine is covered by the rule.
        for action in ActionKind::all() {
            assert!(
                !Roles::from(Role::Viewer).allows(P::Act(action)),
                "{action:?}"
            );
            assert!(
                Roles::from(Role::ReleaseManager).allows(P::Act(action)),
                "{action:?}"
            );
        }
    }

    #[test]
    fn roles_read_and_write_as_names() {
        for role in Role::all() {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_value(role).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(json, role.as_str());
        }
        assert_eq!(Role::parse("root"), None);
        let roles = Roles::new([Role::Admin, Role::Viewer]);
        let json = serde_json::to_value(&roles).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, serde_json::json!(["viewer", "admin"]));
        let back: Roles = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, roles);
    }
}
