//! The services the app's server functions call, implemented over the Postgres store.

use app::{
    api::{migrations::MigrationSummary, services::MigrationService},
    error::AppError,
};
use rollout::Plan;
use sqlx::PgPool;

use crate::{db, error::Error};

pub struct PgMigrationService {
    pool: PgPool,
}

impl PgMigrationService {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl MigrationService for PgMigrationService {
    #[tracing::instrument(skip(self))]
    async fn list_migrations(&self) -> Result<Vec<MigrationSummary>, AppError> {
        let rows = db::migrations::fetch_in_flight(&self.pool)
            .await
            .map_err(Error::from)?;
        let plan = Plan::gitaly_default();
        Ok(rows.into_iter().map(|row| summary(row, &plan)).collect())
    }
}

fn summary(row: db::migrations::MigrationRow, plan: &Plan) -> MigrationSummary {
    // A key the plan does not know still shows, as itself, rather than hiding the migration.
    let stage = plan
        .stage_by_key(&row.stage)
        .map_or_else(|| row.stage.clone(), |(_, stage)| stage.name.clone());
    MigrationSummary {
        id: row.id,
        flag: row.flag_name,
        grpc_method: format!("{}::{}", row.grpc_service, row.grpc_method),
        stage,
        stage_started_at: row.stage_started_at,
        started_at: row.started_at,
    }
}
