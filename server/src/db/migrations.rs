//! Queries on the `migrations` table.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};

pub struct MigrationRow {
    pub id: i64,
    pub flag_name: String,
    pub grpc_service: String,
    pub grpc_method: String,
    /// The stage's key in the plan.
    pub stage: String,
    pub stage_started_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
}

pub struct NewMigration<'a> {
    pub flag_name: &'a str,
    pub grpc_service: &'a str,
    pub grpc_method: &'a str,
    pub stage: &'a str,
    pub stage_started_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
}

/// Every migration not yet completed, oldest first.
pub async fn fetch_in_flight(pool: &PgPool) -> Result<Vec<MigrationRow>, sqlx::Error> {
    sqlx::query_as!(
        MigrationRow,
        // language=PostgreSQL
        r#"SELECT id, flag_name, grpc_service, grpc_method, stage, stage_started_at, started_at
           FROM migrations
           WHERE completed_at IS NULL
           ORDER BY started_at, flag_name"#
    )
    .fetch_all(pool)
    .await
}

/// Inserts a migration unless one with the same flag exists; returns its id when it was inserted.
pub async fn insert_migration(
    db: impl PgExecutor<'_>,
    migration: &NewMigration<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO migrations (flag_name, grpc_service, grpc_method, stage, stage_started_at, started_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (flag_name) DO NOTHING
           RETURNING id"#,
        migration.flag_name,
        migration.grpc_service,
        migration.grpc_method,
        migration.stage,
        migration.stage_started_at,
        migration.started_at,
    )
    .fetch_optional(db)
    .await
}

/// Whether any migration exists, completed or not.
pub async fn any_exist(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let exists = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM migrations) AS "exists!""#)
        .fetch_one(db)
        .await?;
    Ok(exists)
}
