//! Creating accounts, with the audit entry in the same transaction.

use chrono::Utc;
use rollout::Roles;
use serde_json::json;
use sqlx::PgPool;

use super::password;
use crate::{
    db::{
        audit::{AuditEntry, insert_audit},
        users::{NewUser, insert_user},
    },
    error::Error,
};

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password: &'a str,
    pub roles: &'a Roles,
}

/// Creates a password account unless the name is taken; returns its id when it was created.
/// `actor` is who did it, for the audit log.
pub async fn create(
    pool: &PgPool,
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
    let roles: Vec<String> = account
        .roles
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    let mut tx = pool.begin().await?;
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
    tx.commit().await?;
    Ok(Some(id))
}
