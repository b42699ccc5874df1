//! Which overdue checks were told, so that each overdue interval is told once.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Claims the notice of `period` (whole cadence intervals late) of the stage that began at
/// `stage_started_at`; `true` when this caller is the one to send it.
pub async fn claim(
    db: impl PgExecutor<'_>,
    migration_id: i64,
    stage_started_at: DateTime<Utc>,
    period: i32,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO overdue_notices (migration_id, stage_started_at, period, noticed_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING
           RETURNING period"#,
        migration_id,
        stage_started_at,
        period,
        now,
    )
    .fetch_optional(db)
    .await?;
    Ok(claimed.is_some())
}
