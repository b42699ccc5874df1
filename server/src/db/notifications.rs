//! The chat notifications' outbox.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Queues `text` for `environment`'s chat, in the caller's transaction.
pub async fn enqueue(
    db: impl PgExecutor<'_>,
    environment: &str,
    text: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO notifications (environment, text, created_at, next_attempt_at)
           VALUES ($1, $2, $3, $3)"#,
        environment,
        text,
        at,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub struct Due {
    pub id: i64,
    pub environment: String,
    pub text: String,
    pub attempts: i32,
}

/// Claims up to `limit` notifications due at `now`, oldest first, for `lease_seconds`: no other
/// replica takes them meanwhile, and one whose replica died is taken again after the lease.
pub async fn claim_due(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    lease_seconds: f64,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as!(
        Due,
        // language=PostgreSQL
        r#"UPDATE notifications n SET next_attempt_at = $1 + make_interval(secs => $2)
           FROM (SELECT id FROM notifications
                 WHERE delivered_at IS NULL AND dropped_at IS NULL AND next_attempt_at <= $1
                 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) due
           WHERE n.id = due.id
           RETURNING n.id, n.environment, n.text, n.attempts"#,
        now,
        lease_seconds,
        limit,
    )
    .fetch_all(db)
    .await
}

pub async fn delivered(
    db: impl PgExecutor<'_>,
    id: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        "UPDATE notifications SET delivered_at = $2, attempts = attempts + 1 WHERE id = $1",
        id,
        at,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A failed attempt: tried again at `retry_at`, or dropped when `None`.
pub async fn failed(
    db: impl PgExecutor<'_>,
    id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE notifications
           SET attempts = attempts + 1, last_error = $2,
               next_attempt_at = COALESCE($3, next_attempt_at),
               dropped_at = CASE WHEN $3::timestamptz IS NULL THEN $4::timestamptz END
           WHERE id = $1"#,
        id,
        error,
        retry_at,
        at,
    )
    .execute(db)
    .await?;
    Ok(())
}
