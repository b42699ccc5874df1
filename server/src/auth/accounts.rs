//! Creating accounts and changing their roles, each with its audit entry in the caller's
//! transaction.

use chrono::{DateTime, Utc};
use rollout::{Role, Roles};
use serde_json::json;
use sqlx::PgConnection;

use super::password;
use crate::{
    db::{
        audit::{AuditEntry, insert_audit},
        users::{self, NewUser, UserRow, insert_user},
    },
    error::Error,
};

/// Roles as the `users.roles` column holds them.
pub fn role_names(roles: &Roles) -> Vec<String> {
    roles.iter().map(|role| role.as_str().to_owned()).collect()
}

/// The roles a `users.roles` column holds; a name no longer known is dropped.
pub fn roles_of(names: &[String]) -> Roles {
    names.iter().filter_map(|name| Role::parse(name)).collect()
}

/// Gives `user` exactly `roles`, recording `action` by `actor`; `false` when they already had
/// them. Rules about who may lose which role are the caller's.
pub async fn change_roles(
    tx: &mut PgConnection,
    user: &UserRow,
    roles: &Roles,
    actor: &str,
    action: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let before = roles_of(&user.roles);
    if before == *roles {
        return Ok(false);
    }
    let names = role_names(roles);
    users::update_roles(&mut *tx, user.id, &names).await?;
    let entry = AuditEntry {
        actor,
        action,
        subject: format!("user:{}", user.username),
        before: Some(json!({ "roles": role_names(&before) })),
        after: Some(json!({ "roles": names })),
    };
    insert_audit(&mut *tx, &entry, at).await?;
    Ok(true)
}

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password: &'a str,
    pub roles: &'a Roles,
}

/// Creates a password account unless the name is taken; returns its id when it was created.
/// `actor` is who did it, for the audit log.
pub async fn create(
    tx: &mut PgConnection,
    account: &NewAccount<'_>,
    actor: &str,
) -> Result<Option<i64>, Error> {
    let length = account.password.chars().count();
    if !(password::MIN_LENGTH..=password::MAX_LENGTH).contains(&length) {
        return Err(app::error::AppError::invalid(
            "password",
            format!(
                "must be {} to {} characters long",
                password::MIN_LENGTH,
                password::MAX_LENGTH
            ),
        )
        .into());
    }
    let hash = password::hash(account.password.to_owned()).await?;
    let roles = role_names(account.roles);
    let user = NewUser {
        username: account.username,
        display_name: account.display_name,
        password_hash: Some(&hash),
        roles: &roles,
    };
    let Some(id) = insert_user(&mut *tx, &user).await? else {
        return Ok(None);
    };
    let entry = AuditEntry {
        actor,
        action: "user.created",
        subject: format!("user:{}", account.username),
        before: None,
        // Never the hash: the audit log is read by people.
        after: Some(json!({
            "username": account.username,
            "display_name": account.display_name,
            "roles": roles,
            "active": true,
        })),
    };
    insert_audit(&mut *tx, &entry, Utc::now()).await?;
    Ok(Some(id))
}
