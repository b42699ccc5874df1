//! Change locks (`change_locks`): while one holds, no flag's exposure is raised.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

#[derive(Clone, Debug)]
pub struct ChangeLockRow {
    pub id: i64,
    pub reason: String,
    pub until: DateTime<Utc>,
    pub declared_by: String,
    pub declared_at: DateTime<Utc>,
}

/// The lock that holds at `now`, if any (the one lasting longest, should two overlap).
pub async fn holding(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
) -> Result<Option<ChangeLockRow>, sqlx::Error> {
    sqlx::query_as!(
        ChangeLockRow,
        // language=PostgreSQL
        r#"SELECT id, reason, until, declared_by, declared_at FROM change_locks
           WHERE lifted_at IS NULL AND declared_at <= $1 AND until > $1
           ORDER BY until DESC
           LIMIT 1"#,
        now
    )
    .fetch_optional(db)
    .await
}

/// Every lock not lifted and not over at `now`: the ones that hold then or will.
pub async fn fetch_unlifted(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<ChangeLockRow>, sqlx::Error> {
    sqlx::query_as!(
        ChangeLockRow,
        // language=PostgreSQL
        r#"SELECT id, reason, until, declared_by, declared_at FROM change_locks
           WHERE lifted_at IS NULL AND until > $1"#,
        now
    )
    .fetch_all(db)
    .await
}

pub async fn declare(
    tx: &mut PgConnection,
    reason: &str,
    until: DateTime<Utc>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO change_locks (reason, until, declared_by, declared_at)
           VALUES ($1, $2, $3, $4) RETURNING id"#,
        reason,
        until,
        by,
        at
    )
    .fetch_one(tx)
    .await
}

/// Lifts every lock holding at `at`; returns how many.
pub async fn lift(tx: &mut PgConnection, by: &str, at: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE change_locks SET lifted_by = $1, lifted_at = $2
           WHERE lifted_at IS NULL AND declared_at <= $2 AND until > $2"#,
        by,
        at
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected())
}
