//! The users page's service: listing, creating, changing roles and deactivating accounts, each
//! change with its audit entry in the same transaction. No change made here takes away the last
//! active admin, and an admin cannot deactivate themselves. (Single sign-on's role sync is the
//! identity provider's word and is not held back: see the README.)

use app::{
    api::{
        services::UserService,
        session::CurrentUser,
        users::{CreatedUser, UserSummary},
    },
    error::AppError,
};
use chrono::Utc;
use rollout::{Role, Roles};
use serde_json::json;
use sqlx::PgPool;

use super::{
    accounts::{self, NewAccount, roles_of},
    password,
};
use crate::{
    db::{
        audit::{AuditEntry, insert_audit},
        users,
    },
    error::Error,
};

pub struct PgUserService {
    pool: PgPool,
}

impl PgUserService {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Refuses a change that would leave no active admin but `id`: nobody could manage users then.
async fn keep_an_admin(tx: &mut sqlx::PgConnection, id: i64) -> Result<(), AppError> {
    // One such change at a time: two admins removing each other at once would otherwise each
    // count the other and leave none.
    users::lock_admins(&mut *tx).await.map_err(Error::from)?;
    let others = users::count_other_active_admins(tx, id)
        .await
        .map_err(Error::from)?;
    if others == 0 {
        return Err(AppError::Conflict {
            message: "Rampart needs at least one active admin: make someone else an admin first."
                .to_owned(),
        });
    }
    Ok(())
}

/// A username as the database accepts it: a letter or digit, then letters, digits, '.', '_'
/// and '-', at most 64 in all.
pub(crate) fn check_username(username: &str) -> Result<(), AppError> {
    let mut chars = username.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && username.len() <= 64;
    if valid {
        Ok(())
    } else {
        Err(AppError::invalid(
            "username",
            "must start with a letter or digit and use only letters, digits, '.', '_' and '-', at most 64",
        ))
    }
}

#[async_trait::async_trait]
impl UserService for PgUserService {
    async fn list_users(&self) -> Result<Vec<UserSummary>, AppError> {
        let rows = users::fetch_users(&self.pool).await.map_err(Error::from)?;
        Ok(rows
            .into_iter()
            .map(|row| UserSummary {
                id: row.id,
                roles: roles_of(&row.roles),
                username: row.username,
                display_name: row.display_name,
                active: row.active,
                sso: row.sso,
                created_at: row.created_at,
            })
            .collect())
    }

    #[tracing::instrument(skip(self, actor), fields(by = actor.username))]
    async fn create_user(
        &self,
        actor: &CurrentUser,
        username: &str,
        display_name: &str,
        roles: &Roles,
    ) -> Result<CreatedUser, AppError> {
        let username = username.trim();
        let display_name = display_name.trim();
        check_username(username)?;
        if display_name.is_empty() || display_name.chars().count() > 200 {
            return Err(AppError::invalid(
                "display_name",
                "must be 1 to 200 characters",
            ));
        }
        if roles.is_empty() {
            return Err(AppError::invalid("roles", "choose at least one role"));
        }
        let password = password::generate()?;
        let account = NewAccount {
            username,
            display_name,
            password: &password,
            roles,
        };
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let created = accounts::create(&mut tx, &account, &actor.username).await?;
        tx.commit().await.map_err(Error::from)?;
        match created {
            Some(_) => Ok(CreatedUser {
                username: username.to_owned(),
                password,
            }),
            None => Err(AppError::Conflict {
                message: format!("A user named {username} already exists."),
            }),
        }
    }

    #[tracing::instrument(skip(self, actor), fields(by = actor.username))]
    async fn set_roles(
        &self,
        actor: &CurrentUser,
        username: &str,
        roles: &Roles,
    ) -> Result<(), AppError> {
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let user = users::lock_user_by_username(&mut *tx, username)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| AppError::not_found(format!("user {username}")))?;
        let losing_admin =
            roles_of(&user.roles).contains(Role::Admin) && !roles.contains(Role::Admin);
        if losing_admin && user.active {
            keep_an_admin(&mut tx, user.id).await?;
        }
        let at = Utc::now();
        accounts::change_roles(
            &mut tx,
            &user,
            roles,
            &actor.username,
            "user.roles_changed",
            at,
        )
        .await
        .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }

    #[tracing::instrument(skip(self, actor), fields(by = actor.username))]
    async fn deactivate(&self, actor: &CurrentUser, username: &str) -> Result<(), AppError> {
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let user = users::lock_user_by_username(&mut *tx, username)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| AppError::not_found(format!("user {username}")))?;
        if !user.active {
            return Ok(());
        }
        if user.id == actor.id {
            return Err(AppError::Conflict {
                message: "You cannot deactivate your own account; another admin can.".to_owned(),
            });
        }
        if roles_of(&user.roles).contains(Role::Admin) {
            keep_an_admin(&mut tx, user.id).await?;
        }
        let now = Utc::now();
        users::deactivate(&mut tx, user.id, now)
            .await
            .map_err(Error::from)?;
        let entry = AuditEntry {
            actor: &actor.username,
            action: "user.deactivated",
            subject: format!("user:{}", user.username),
            before: Some(json!({ "active": true })),
            after: Some(json!({ "active": false })),
        };
        insert_audit(&mut *tx, &entry, now)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
}
