//! Server functions for the users page: who may use Rampart, with which roles. Admins only.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use rollout::{Role, Roles};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One row of the users page. Never a password hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Roles,
    pub active: bool,
    /// Signs in through the identity provider rather than with a password.
    pub sso: bool,
    pub created_at: DateTime<Utc>,
}

/// The users page's rows, and which of them is the admin reading it (who cannot deactivate
/// themselves, so is offered no button for it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDirectory {
    pub you: i64,
    pub users: Vec<UserSummary>,
}

/// A new account and its first password, which is shown this once and stored only as a hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedUser {
    pub username: String,
    pub password: String,
}

/// The roles ticked on a form: one checkbox per role, sent as "on" when ticked (a form without
/// JavaScript sends nothing for an unticked box).
pub fn ticked_roles(
    viewer: Option<String>,
    engineer: Option<String>,
    release_manager: Option<String>,
    manager: Option<String>,
    admin: Option<String>,
) -> Roles {
    [
        (Role::Viewer, viewer),
        (Role::Engineer, engineer),
        (Role::ReleaseManager, release_manager),
        (Role::Manager, manager),
        (Role::Admin, admin),
    ]
    .into_iter()
    .filter(|(_, ticked)| ticked.is_some())
    .map(|(role, _)| role)
    .collect()
}

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<UserDirectory, AppError> {
    use crate::api::{services::services, session::require};
    let you = require(rollout::Permission::Administer)?.id;
    let users = services()?.users.list_users().await?;
    Ok(UserDirectory { you, users })
}

#[server(endpoint = "create_user")]
pub async fn create_user(
    username: String,
    display_name: String,
    viewer: Option<String>,
    engineer: Option<String>,
    release_manager: Option<String>,
    manager: Option<String>,
    admin: Option<String>,
) -> Result<CreatedUser, AppError> {
    use crate::api::{services::services, session::require_in_person};
    let actor = require_in_person(rollout::Permission::Administer)?;
    let roles = ticked_roles(viewer, engineer, release_manager, manager, admin);
    services()?
        .users
        .create_user(&actor, &username, &display_name, &roles)
        .await
}

#[server(endpoint = "set_user_roles")]
pub async fn set_user_roles(
    username: String,
    viewer: Option<String>,
    engineer: Option<String>,
    release_manager: Option<String>,
    manager: Option<String>,
    admin: Option<String>,
) -> Result<(), AppError> {
    use crate::api::{services::services, session::require_in_person};
    let actor = require_in_person(rollout::Permission::Administer)?;
    let roles = ticked_roles(viewer, engineer, release_manager, manager, admin);
    services()?.users.set_roles(&actor, &username, &roles).await
}

/// Deactivates an account: its sessions end at once and it cannot sign in again.
#[server(endpoint = "deactivate_user")]
pub async fn deactivate_user(username: String) -> Result<(), AppError> {
    use crate::api::{services::services, session::require_in_person};
    let actor = require_in_person(rollout::Permission::Administer)?;
    services()?.users.deactivate(&actor, &username).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticked_boxes_are_the_roles() {
        let on = || Some("on".to_owned());
        assert_eq!(
            ticked_roles(None, on(), None, None, on()),
            Roles::new([Role::Engineer, Role::Admin])
        );
        assert!(ticked_roles(None, None, None, None, None).is_empty());
    }
}
