//! What the reconciler read from the flag backends (`flag_observations`), beside what Rampart had
//! set: where they differ, someone changed the flag outside Rampart.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

pub struct Observation {
    pub environment: String,
    pub expected: String,
    pub observed: Option<String>,
    pub error: Option<String>,
    pub observed_at: DateTime<Utc>,
}

/// What was read (`Ok`) or why nothing could be (`Err`), as of a pass that started `at` —
/// unless a change of that flag was made since: the pass's `expected` is then out of date, and
/// the next pass says what holds.
pub async fn record(
    tx: &mut PgConnection,
    migration_id: i64,
    environment: &str,
    expected: &str,
    observed: Result<&str, &str>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let (observed, error) = match observed {
        Ok(value) => (Some(value), None),
        Err(error) => (None, Some(error)),
    };
    sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO flag_observations (migration_id, environment, expected, observed, error,
                                          observed_at)
           SELECT $1, $2, $3, $4, $5, $6
           WHERE NOT EXISTS (SELECT 1 FROM flag_changes
                             WHERE migration_id = $1 AND environment = $2
                               AND (status IN ('pending', 'failed') OR settled_at >= $6))
           ON CONFLICT (migration_id, environment)
           DO UPDATE SET expected = EXCLUDED.expected, observed = EXCLUDED.observed,
                         error = EXCLUDED.error, observed_at = EXCLUDED.observed_at"#,
        migration_id,
        environment,
        expected,
        observed,
        error,
        at
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Forgets the observation of an environment whose flag Rampart is changing: it is not drift
/// while the change is under way.
pub async fn forget(
    tx: &mut PgConnection,
    migration_id: i64,
    environment: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        "DELETE FROM flag_observations WHERE migration_id = $1 AND environment = $2",
        migration_id,
        environment
    )
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn fetch_for(
    db: impl PgExecutor<'_>,
    migration_id: i64,
) -> Result<Vec<Observation>, sqlx::Error> {
    sqlx::query_as!(
        Observation,
        // language=PostgreSQL
        r#"SELECT environment, expected, observed, error, observed_at
           FROM flag_observations WHERE migration_id = $1 ORDER BY environment"#,
        migration_id
    )
    .fetch_all(db)
    .await
}

/// `(migration id, environment)` of every change not applied yet: those environments are not
/// compared, their flag is on its way.
pub async fn fetch_changing(db: impl PgExecutor<'_>) -> Result<Vec<(i64, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"SELECT DISTINCT migration_id, environment FROM flag_changes
           WHERE status IN ('pending', 'failed')"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.migration_id, row.environment))
        .collect())
}
