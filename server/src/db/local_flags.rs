//! The local flag backend's store (`local_flags`): one value per flag and environment, as the
//! Features API writes it.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub async fn set(
    db: impl PgExecutor<'_>,
    flag: &str,
    environment: &str,
    value: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO local_flags (flag, environment, value, updated_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (flag, environment)
           DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at"#,
        flag,
        environment,
        value,
        at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The stored value, or `None` for a flag never set.
pub async fn get(
    db: impl PgExecutor<'_>,
    flag: &str,
    environment: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT value FROM local_flags WHERE flag = $1 AND environment = $2"#,
        flag,
        environment
    )
    .fetch_optional(db)
    .await
}
