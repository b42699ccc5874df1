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

/// A change not applied yet: waiting (for the worker, or for a person with the manual backend)
/// or given up on.
pub struct UnsettledChange {
    pub id: i64,
    pub environment: String,
    pub value: String,
    pub command: String,
    pub channel: String,
    pub backend: String,
    pub status: String,
    pub attempts: i32,
    /// The last failure: being retried while pending, the reason while failed.
    pub error: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
}

/// A change the worker holds until its transaction ends.
pub struct ClaimedChange {
    pub id: i64,
    pub migration_id: i64,
    pub flag: String,
    pub environment: String,
    pub value: String,
    pub backend: String,
    pub attempts: i32,
}

pub struct NewFlagChange<'a> {
    pub migration_id: i64,
    pub environment: &'a str,
    pub value: &'a str,
    pub command: &'a str,
    pub channel: &'a str,
    pub backend: &'a str,
    /// The kill switch's changes go ahead of every other.
    pub urgent: bool,
}

/// The channel `NOTIFY` wakes the workers on when there is a change to apply.
pub const WAKE_CHANNEL: &str = "rampart_flag_changes";

/// Records the intent; an unsettled change for the same environment is superseded by it, so only
/// the latest is ever applied. The workers hear of it when the transaction commits.
pub async fn insert_intent(
    tx: &mut PgConnection,
    change: &NewFlagChange<'_>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE flag_changes SET status = 'superseded', settled_at = $3, settled_by = $4
           WHERE migration_id = $1 AND environment = $2 AND status IN ('pending', 'failed')"#,
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
                                     requested_at, requested_by, priority)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
        change.migration_id,
        change.environment,
        change.value,
        change.command,
        change.channel,
        change.backend,
        at,
        by,
        if change.urgent { 0_i16 } else { 1 },
    )
    .execute(&mut *tx)
    .await?;
    wake_workers(tx).await?;
    Ok(())
}

/// A migration's changes not applied yet, oldest first.
pub async fn fetch_unsettled(
    db: impl PgExecutor<'_>,
    migration_id: i64,
) -> Result<Vec<UnsettledChange>, sqlx::Error> {
    sqlx::query_as!(
        UnsettledChange,
        // language=PostgreSQL
        r#"SELECT id, environment, value, command, channel, backend, status, attempts, error,
                  requested_at, requested_by
           FROM flag_changes
           WHERE migration_id = $1 AND status IN ('pending', 'failed')
           ORDER BY id"#,
        migration_id
    )
    .fetch_all(db)
    .await
}

/// Marks a pending change of the migration, for `backend`, applied; returns it, or `None` if
/// there is no such pending change (already applied, superseded, another migration's, or
/// another backend's).
pub async fn mark_applied(
    tx: &mut PgConnection,
    migration_id: i64,
    id: i64,
    backend: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Option<FlagChangeRow>, sqlx::Error> {
    sqlx::query_as!(
        FlagChangeRow,
        // language=PostgreSQL
        r#"UPDATE flag_changes SET status = 'applied', settled_at = $3, settled_by = $4, error = NULL
           WHERE migration_id = $1 AND id = $2 AND status = 'pending' AND backend = $5
           RETURNING id, environment, value, command, channel, requested_at, requested_by"#,
        migration_id,
        id,
        at,
        by,
        backend
    )
    .fetch_optional(tx)
    .await
}

/// Changes a backend is to apply now, kills first, then oldest: the candidates a worker tries to
/// hold (see [`try_hold`]).
pub async fn due(
    db: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ClaimedChange>, sqlx::Error> {
    sqlx::query_as!(
        ClaimedChange,
        // language=PostgreSQL
        r#"SELECT c.id, c.migration_id, m.flag_name AS flag, c.environment, c.value, c.backend,
                  c.attempts
           FROM flag_changes c JOIN migrations m ON m.id = c.migration_id
           WHERE c.status = 'pending' AND c.backend <> 'manual'
             AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= $1)
           ORDER BY c.priority, c.id
           LIMIT $2"#,
        now,
        limit
    )
    .fetch_all(db)
    .await
}

/// Takes the right to change `environment`'s flag of the migration: a session-level advisory lock
/// on `conn`, so no other worker changes the same flag meanwhile, while no row stays locked (a
/// person's action never waits for a backend). Postgres releases it if the process dies. `false`
/// when another worker holds it.
pub async fn try_hold(
    conn: &mut PgConnection,
    migration_id: i64,
    environment: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT pg_try_advisory_lock(hashtext('rampart.flag_change'),
                                       hashtext($1::bigint::text || ':' || $2)) AS "held!""#,
        migration_id,
        environment
    )
    .fetch_one(conn)
    .await
}

/// Gives back what [`try_hold`] took.
pub async fn release(
    conn: &mut PgConnection,
    migration_id: i64,
    environment: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT pg_advisory_unlock(hashtext('rampart.flag_change'),
                                     hashtext($1::bigint::text || ':' || $2)) AS "released!""#,
        migration_id,
        environment
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// Whether the change still waits to be applied (another worker may have settled it, or a person
/// superseded it, since it was listed).
pub async fn is_pending(db: impl PgExecutor<'_>, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT EXISTS (SELECT 1 FROM flag_changes WHERE id = $1 AND status = 'pending')
           AS "pending!""#,
        id
    )
    .fetch_one(db)
    .await
}

/// Holds the change back until `until` without counting an attempt (a change lock holds).
pub async fn hold_back(
    tx: &mut PgConnection,
    id: i64,
    reason: &str,
    until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE flag_changes SET error = $2, next_attempt_at = $3
           WHERE id = $1 AND status = 'pending'"#,
        id,
        reason,
        until
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// When the next change that is waiting out a backoff is due, if any.
pub async fn next_retry_at(db: impl PgExecutor<'_>) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT min(next_attempt_at) FROM flag_changes
           WHERE status = 'pending' AND backend <> 'manual'"#
    )
    .fetch_one(db)
    .await
}

/// A transient failure: try again at `next_at`.
pub async fn retry_later(
    tx: &mut PgConnection,
    id: i64,
    error: &str,
    next_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE flag_changes SET attempts = attempts + 1, error = $2, next_attempt_at = $3
           WHERE id = $1 AND status = 'pending'"#,
        id,
        error,
        next_at
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Gives a pending change up, with the reason: its environment, or `None` if it was not pending.
pub async fn mark_failed(
    tx: &mut PgConnection,
    id: i64,
    error: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"UPDATE flag_changes
           SET status = 'failed', attempts = attempts + 1, error = $2, settled_at = $4,
               settled_by = $3
           WHERE id = $1 AND status = 'pending'
           RETURNING environment"#,
        id,
        error,
        by,
        at
    )
    .fetch_optional(tx)
    .await
}

/// Puts a failed change of the migration back in the queue, for the backend that now sets its
/// environment's flags (`backend` of the environment: a change the configuration moved to manual
/// becomes one to confirm by hand); returns it, or `None` if there is no such failed change.
pub async fn retry(
    tx: &mut PgConnection,
    migration_id: i64,
    id: i64,
    backend: impl Fn(&str) -> String,
) -> Result<Option<FlagChangeRow>, sqlx::Error> {
    let environment = sqlx::query_scalar!(
        // language=PostgreSQL
        "SELECT environment FROM flag_changes WHERE migration_id = $1 AND id = $2",
        migration_id,
        id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(environment) = environment else {
        return Ok(None);
    };
    let row = sqlx::query_as!(
        FlagChangeRow,
        // language=PostgreSQL
        r#"UPDATE flag_changes
           SET status = 'pending', attempts = 0, next_attempt_at = NULL, settled_at = NULL,
               settled_by = NULL, error = NULL, backend = $3
           WHERE migration_id = $1 AND id = $2 AND status = 'failed'
           RETURNING id, environment, value, command, channel, requested_at, requested_by"#,
        migration_id,
        id,
        backend(&environment)
    )
    .fetch_optional(&mut *tx)
    .await?;
    wake_workers(tx).await?;
    Ok(row)
}

/// Tells every replica's worker, when the transaction commits, that there is a change to apply.
async fn wake_workers(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        "SELECT pg_notify($1, '')",
        WAKE_CHANNEL
    )
    .execute(tx)
    .await?;
    Ok(())
}
