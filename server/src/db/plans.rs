//! Rollout plans (`plans`), stored once each, by the hash of their JSON, and never changed.

use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

/// The plan's row, made if no plan with this hash exists yet.
pub async fn store_plan(
    tx: &mut PgConnection,
    sha256: &[u8],
    plan: &Value,
) -> Result<i64, sqlx::Error> {
    let inserted = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO plans (sha256, plan) VALUES ($1, $2)
           ON CONFLICT (sha256) DO NOTHING
           RETURNING id"#,
        sha256,
        plan
    )
    .fetch_optional(&mut *tx)
    .await?;
    match inserted {
        Some(id) => Ok(id),
        None => {
            sqlx::query_scalar!(
                // language=PostgreSQL
                "SELECT id FROM plans WHERE sha256 = $1",
                sha256
            )
            .fetch_one(&mut *tx)
            .await
        }
    }
}

pub struct PlanRow {
    pub id: i64,
    pub plan: Value,
}

pub async fn fetch_plans(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> Result<Vec<PlanRow>, sqlx::Error> {
    sqlx::query_as!(
        PlanRow,
        // language=PostgreSQL
        "SELECT id, plan FROM plans WHERE id = ANY($1)",
        ids
    )
    .fetch_all(db)
    .await
}
