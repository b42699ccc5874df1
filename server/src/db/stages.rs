//! The stages each migration went through (`migration_stages`) and its check-ins (`check_ins`):
//! the history the stage machine's state, which holds only the current stage, does not keep.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

pub struct StageRow {
    pub migration_id: i64,
    pub stage_index: i32,
    pub stage_key: String,
    pub started_at: DateTime<Utc>,
    pub started_by: String,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<String>,
    pub override_by: Option<String>,
    pub override_reason: Option<String>,
    pub override_at: Option<DateTime<Utc>>,
}

pub struct EnteredStage<'a> {
    pub migration_id: i64,
    pub index: i32,
    pub key: &'a str,
    pub name: &'a str,
    pub required_soak_seconds: i64,
}

pub struct NewCheckIn<'a> {
    pub migration_id: i64,
    pub stage_index: i32,
    pub stage_key: &'a str,
    pub item: &'a str,
    pub outcome: &'a str,
    pub by: &'a str,
    pub at: DateTime<Utc>,
    pub note: Option<&'a str>,
}

/// Every stage visit of these migrations, oldest first.
pub async fn fetch_stages(
    db: impl PgExecutor<'_>,
    migration_ids: &[i64],
) -> Result<Vec<StageRow>, sqlx::Error> {
    sqlx::query_as!(
        StageRow,
        // language=PostgreSQL
        r#"SELECT migration_id, stage_index, stage_key, started_at, started_by, ended_at, ended_by,
                  override_by, override_reason, override_at
           FROM migration_stages
           WHERE migration_id = ANY($1)
           ORDER BY started_at, id"#,
        migration_ids
    )
    .fetch_all(db)
    .await
}

/// Ends the stage the migration is in, if any.
pub async fn end_open_stage(
    tx: &mut PgConnection,
    migration_id: i64,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE migration_stages SET ended_at = $2, ended_by = $3
           WHERE migration_id = $1 AND ended_at IS NULL"#,
        migration_id,
        at,
        by
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Ends the open stage and opens `stage`.
pub async fn enter_stage(
    tx: &mut PgConnection,
    stage: &EnteredStage<'_>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    end_open_stage(tx, stage.migration_id, by, at).await?;
    sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO migration_stages (migration_id, stage_index, stage_key, stage_name,
                                         required_soak_seconds, started_at, started_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
        stage.migration_id,
        stage.index,
        stage.key,
        stage.name,
        stage.required_soak_seconds,
        at,
        by
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Records a release manager's soak override on the open stage.
pub async fn record_override(
    tx: &mut PgConnection,
    migration_id: i64,
    by: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE migration_stages SET override_by = $2, override_reason = $3, override_at = $4
           WHERE migration_id = $1 AND ended_at IS NULL"#,
        migration_id,
        by,
        reason,
        at
    )
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn insert_check_in(
    db: impl PgExecutor<'_>,
    check_in: &NewCheckIn<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO check_ins (migration_id, stage_index, stage_key, item, outcome, by_user, at, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        check_in.migration_id,
        check_in.stage_index,
        check_in.stage_key,
        check_in.item,
        check_in.outcome,
        check_in.by,
        check_in.at,
        check_in.note
    )
    .execute(db)
    .await?;
    Ok(())
}
