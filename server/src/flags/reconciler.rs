//! The reconciler: every so often it reads each migration's flags from their backends and
//! records what it saw beside what Rampart had set (`flag_observations`). A difference is drift —
//! someone changed the flag outside Rampart — and the migration's page warns of it with both
//! values. One replica at a time does it (a transaction-scoped advisory lock); the others skip.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;

use super::{FlagBackends, value_text};
use crate::{clock::Clock, db::flag_observations, error::Error, rollouts::PgMigrationService};

pub struct Reconciler {
    pub pool: PgPool,
    pub backends: FlagBackends,
    pub migrations: Arc<PgMigrationService>,
    pub clock: Arc<dyn Clock>,
    pub interval: Duration,
}

impl Reconciler {
    pub async fn run(self) {
        loop {
            tokio::time::sleep(self.interval).await;
            if let Err(error) = self.pass().await {
                tracing::warn!(error = %crate::error::chain(&error), "flag reconciliation failed");
            }
        }
    }

    /// Reads every flag an automatic backend holds for a migration in flight, once.
    pub async fn pass(&self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        let mine: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtext('rampart.flag_reconciler'))",
        )
        .fetch_one(&mut *tx)
        .await?;
        if !mine {
            return Ok(());
        }
        for expected in self.migrations.expected_flags(&mut tx).await? {
            let Some(backend) = self.backends.backend(expected.environment) else {
                continue;
            };
            let observed: Result<String, String> = backend
                .get(&expected.flag)
                .await
                .map(value_text)
                .map_err(|error| error.to_string());
            flag_observations::record(
                &mut tx,
                expected.migration_id,
                expected.environment.as_str(),
                &value_text(expected.value),
                observed.as_deref().map_err(String::as_str),
                self.clock.now(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
