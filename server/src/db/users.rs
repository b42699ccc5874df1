//! Queries on `users` and `sign_in_failures`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    pub active: bool,
}

pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub roles: &'a [String],
}

/// The user with this name, whatever its case.
pub async fn fetch_user_by_username(
    executor: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(
        UserRow,
        // language=PostgreSQL
        r#"SELECT id, username, display_name, password_hash, roles, active
           FROM users WHERE lower(username) = lower($1)"#,
        username
    )
    .fetch_optional(executor)
    .await
}

pub async fn fetch_user(
    executor: impl PgExecutor<'_>,
    id: i64,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(
        UserRow,
        // language=PostgreSQL
        r#"SELECT id, username, display_name, password_hash, roles, active
           FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await
}

/// Inserts a user unless the name is taken (in any case); returns its id when it was inserted.
pub async fn insert_user(
    executor: impl PgExecutor<'_>,
    user: &NewUser<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO users (username, display_name, password_hash, roles)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT ((lower(username))) DO NOTHING
           RETURNING id"#,
        user.username,
        user.display_name,
        user.password_hash,
        user.roles
    )
    .fetch_optional(executor)
    .await
}

pub async fn count_users(executor: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    let count = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT count(*) AS "count!" FROM users"#
    )
    .fetch_one(executor)
    .await?;
    Ok(count)
}

/// Holds the sign-in locks of this account and this address for the rest of the transaction.
pub async fn lock_sign_in_attempts(
    executor: &mut sqlx::PgConnection,
    username_key: &str,
    address: &str,
) -> Result<(), sqlx::Error> {
    // Always the account first, then the address: one order, no deadlock.
    sqlx::query!(
        // language=PostgreSQL
        r#"SELECT pg_advisory_xact_lock(hashtext('rampart.sign_in.account:' || $1)),
                  pg_advisory_xact_lock(hashtext('rampart.sign_in.address:' || $2))"#,
        username_key,
        address
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Records an attempt as failed; returns its id, to forget it if the password proves right.
pub async fn record_sign_in_failure(
    executor: impl PgExecutor<'_>,
    username_key: &str,
    address: &str,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO sign_in_failures (username_key, address, at) VALUES ($1, $2, $3)
           RETURNING id"#,
        username_key,
        address,
        at
    )
    .fetch_one(executor)
    .await
}

pub async fn forget_sign_in_attempt(
    executor: impl PgExecutor<'_>,
    id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"DELETE FROM sign_in_failures WHERE id = $1"#,
        id
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Failures too old to count any more.
pub async fn delete_old_sign_in_failures(
    executor: impl PgExecutor<'_>,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query!(
        // language=PostgreSQL
        r#"DELETE FROM sign_in_failures WHERE at < $1"#,
        before
    )
    .execute(executor)
    .await?;
    Ok(deleted.rows_affected())
}

/// Failures since `since`, for the account and for the address, and when the oldest counted one of
/// each was (the limit lifts as it ages out).
pub struct RecentFailures {
    pub for_account: i64,
    pub for_address: i64,
    pub oldest_for_account: Option<DateTime<Utc>>,
    pub oldest_for_address: Option<DateTime<Utc>>,
}

pub async fn fetch_recent_failures(
    executor: impl PgExecutor<'_>,
    username_key: &str,
    address: &str,
    since: DateTime<Utc>,
) -> Result<RecentFailures, sqlx::Error> {
    sqlx::query_as!(
        RecentFailures,
        // language=PostgreSQL
        r#"SELECT
             count(*) FILTER (WHERE username_key = $1) AS "for_account!",
             count(*) FILTER (WHERE address = $2) AS "for_address!",
             min(at) FILTER (WHERE username_key = $1) AS "oldest_for_account: DateTime<Utc>",
             min(at) FILTER (WHERE address = $2) AS "oldest_for_address: DateTime<Utc>"
           FROM sign_in_failures
           WHERE at > $3 AND (username_key = $1 OR address = $2)"#,
        username_key,
        address,
        since
    )
    .fetch_one(executor)
    .await
}

pub struct UserListRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub active: bool,
    pub sso: bool,
    pub created_at: DateTime<Utc>,
}

/// Every user, active ones first, then by name.
pub async fn fetch_users(executor: impl PgExecutor<'_>) -> Result<Vec<UserListRow>, sqlx::Error> {
    sqlx::query_as!(
        UserListRow,
        // language=PostgreSQL
        r#"SELECT id, username, display_name, roles, active,
                  oidc_subject IS NOT NULL AS "sso!", created_at
           FROM users ORDER BY active DESC, lower(username)"#
    )
    .fetch_all(executor)
    .await
}

/// Locks the user's row for the rest of the transaction.
pub async fn lock_user_by_username(
    executor: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(
        UserRow,
        // language=PostgreSQL
        r#"SELECT id, username, display_name, password_hash, roles, active
           FROM users WHERE lower(username) = lower($1) FOR UPDATE"#,
        username
    )
    .fetch_optional(executor)
    .await
}

pub async fn update_roles(
    executor: impl PgExecutor<'_>,
    id: i64,
    roles: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE users SET roles = $2 WHERE id = $1"#,
        id,
        roles
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Deactivates the user and ends every session of theirs.
pub async fn deactivate(
    executor: &mut sqlx::PgConnection,
    id: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE users SET active = false, deactivated_at = $2 WHERE id = $1"#,
        id,
        at
    )
    .execute(&mut *executor)
    .await?;
    super::sessions::delete_user_sessions(&mut *executor, id).await?;
    Ok(())
}

/// Serialises changes that could take away the last admin, for the rest of the transaction.
pub async fn lock_admins(executor: impl PgExecutor<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"SELECT pg_advisory_xact_lock(hashtext('rampart.admins'))"#
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Active admins other than `id`: an installation keeps at least one.
pub async fn count_other_active_admins(
    executor: impl PgExecutor<'_>,
    id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT count(*) AS "count!" FROM users
           WHERE active AND 'admin' = ANY (roles) AND id <> $1"#,
        id
    )
    .fetch_one(executor)
    .await
}

/// The account the identity provider's subject signs in to, its row locked for the rest of the
/// transaction.
pub async fn lock_user_by_subject(
    executor: impl PgExecutor<'_>,
    subject: &str,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as!(
        UserRow,
        // language=PostgreSQL
        r#"SELECT id, username, display_name, password_hash, roles, active
           FROM users WHERE oidc_subject = $1 FOR UPDATE"#,
        subject
    )
    .fetch_optional(executor)
    .await
}

/// Inserts an account that signs in through the identity provider, unless the name is taken.
pub async fn insert_sso_user(
    executor: impl PgExecutor<'_>,
    username: &str,
    display_name: &str,
    subject: &str,
    roles: &[String],
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO users (username, display_name, oidc_subject, roles)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT ((lower(username))) DO NOTHING
           RETURNING id"#,
        username,
        display_name,
        subject,
        roles
    )
    .fetch_optional(executor)
    .await
}
