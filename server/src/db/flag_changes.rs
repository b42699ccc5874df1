//! Flag changes the stage machine decided on (`flag_changes`): written as intents with the
//! transition, settled when a backend (or, with the manual one, a person) applied them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

pub struct FlagChangeRow {
    pub id: i64,
    pub environment: String,
    pub value: String,
    pub command: String,
    pub channel: String,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
}

pub struct NewFlagChange<'a> {
    pub migration_id: i64,
    pub environment: &'a str,
    pub value: &'a str,
    pub command: &'a str,
    pub channel: &'a str,
    pub backend: &'a str,
}

/// Records the intent; a pending change for the same environment is superseded by it, so only
/// the latest is ever applied.
pub async fn insert_intent(
    tx: &mut PgConnection,
    change: &NewFlagChange<'_>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE flag_changes SET status = 'superseded', settled_at = $3, settled_by = $4
           WHERE migration_id = $1 AND environment = $2 AND status = 'pending'"#,
        change.migration_id,
        change.environment,
        at,
        by
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO flag_changes (migration_id, environment, value, command, channel, backend,
                                     requested_at, requested_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        change.migration_id,
        change.environment,
        change.value,
        change.command,
        change.channel,
        change.backend,
        at,
        by
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A migration's unconfirmed changes, oldest first.
pub async fn fetch_pending(
    db: impl PgExecutor<'_>,
    migration_id: i64,
) -> Result<Vec<FlagChangeRow>, sqlx::Error> {
    sqlx::query_as!(
        FlagChangeRow,
        // language=PostgreSQL
        r#"SELECT id, environment, value, command, channel, requested_at, requested_by
           FROM flag_changes
           WHERE migration_id = $1 AND status = 'pending'
           ORDER BY id"#,
        migration_id
    )
    .fetch_all(db)
    .await
}

/// Marks a pending change of the migration applied; returns it, or `None` if there is no such
/// pending change (already confirmed, superseded, or another migration's).
pub async fn mark_applied(
    tx: &mut PgConnection,
    migration_id: i64,
    id: i64,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Option<FlagChangeRow>, sqlx::Error> {
    sqlx::query_as!(
        FlagChangeRow,
        // language=PostgreSQL
        r#"UPDATE flag_changes SET status = 'applied', settled_at = $3, settled_by = $4
           WHERE migration_id = $1 AND id = $2 AND status = 'pending'
           RETURNING id, environment, value, command, channel, requested_at, requested_by"#,
        migration_id,
        id,
        at,
        by
    )
    .fetch_optional(tx)
    .await
}
