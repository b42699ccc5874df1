//! Queries on `sessions`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

pub struct SessionRow {
    pub data: Value,
    pub expires_at: DateTime<Utc>,
}

/// Inserts a new session; false when the id is taken.
pub async fn insert_session(
    executor: impl PgExecutor<'_>,
    id: &str,
    data: &Value,
    user_id: Option<i64>,
    expires_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO sessions (id, data, user_id, expires_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO NOTHING"#,
        id,
        data,
        user_id,
        expires_at
    )
    .execute(executor)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn upsert_session(
    executor: impl PgExecutor<'_>,
    id: &str,
    data: &Value,
    user_id: Option<i64>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO sessions (id, data, user_id, expires_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE
           SET data = excluded.data, user_id = excluded.user_id, expires_at = excluded.expires_at"#,
        id,
        data,
        user_id,
        expires_at
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// The session, unless it has expired.
pub async fn fetch_session(
    executor: impl PgExecutor<'_>,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as!(
        SessionRow,
        // language=PostgreSQL
        r#"SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2"#,
        id,
        now
    )
    .fetch_optional(executor)
    .await
}

pub async fn delete_session(executor: impl PgExecutor<'_>, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"DELETE FROM sessions WHERE id = $1"#,
        id
    )
    .execute(executor)
    .await?;
    Ok(())
}

pub async fn delete_expired_sessions(
    executor: impl PgExecutor<'_>,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query!(
        // language=PostgreSQL
        r#"DELETE FROM sessions WHERE expires_at <= $1"#,
        now
    )
    .execute(executor)
    .await?;
    Ok(deleted.rows_affected())
}

/// Ends every session of a user.
pub async fn delete_user_sessions(
    executor: impl PgExecutor<'_>,
    user_id: i64,
) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query!(
        // language=PostgreSQL
        r#"DELETE FROM sessions WHERE user_id = $1"#,
        user_id
    )
    .execute(executor)
    .await?;
    Ok(deleted.rows_affected())
}
