//! The reconciler: every so often it reads each migration's flags from their backends and
//! records what it saw beside what Rampart had set (`flag_observations`). A difference is drift —
//! someone changed the flag outside Rampart — and the migration's page warns of it with both
//! values. One replica at a time does it; the others skip.

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;

use super::{FlagBackends, value_text};
use crate::{
    clock::Clock,
    db::flag_observations,
    error::Error,
    rollouts::{PgMigrationService, flag_changes::ExpectedFlag},
};

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

    /// Reads every flag an automatic backend holds for a migration in flight, once. The backends
    /// are read outside any transaction and each observation is written on its own, so a slow
    /// backend holds up nobody; one replica at a time does it (a session-level advisory lock on a
    /// connection of its own).
    pub async fn pass(&self) -> Result<(), Error> {
        let mut conn = self.pool.acquire().await?;
        let mine: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('rampart.flag_reconciler'))")
                .fetch_one(&mut *conn)
                .await?;
        if !mine {
            return Ok(());
        }
        let outcome = self.observe_all().await;
        sqlx::query("SELECT pg_advisory_unlock(hashtext('rampart.flag_reconciler'))")
            .execute(&mut *conn)
            .await?;
        outcome
    }

    async fn observe_all(&self) -> Result<(), Error> {
        let started = self.clock.now();
        let expected = {
            let mut conn = self.pool.acquire().await?;
            self.migrations.expected_flags(&mut conn).await?
        };
        // One read per environment where the backend can answer for every flag at once.
        for environment in rollout::Environment::all() {
            let Some(backend) = self.backends.backend(environment) else {
                continue;
            };
            let here: Vec<&ExpectedFlag> = expected
                .iter()
                .filter(|e| e.environment == environment)
                .collect();
            let flags: Vec<String> = here.iter().map(|e| e.flag.clone()).collect();
            let values = backend.get_many(&flags).await;
            for (expected, value) in here.into_iter().zip(values) {
                let observed: Result<String, String> =
                    value.map(value_text).map_err(|error| error.to_string());
                let mut conn = self.pool.acquire().await?;
                flag_observations::record(
                    &mut conn,
                    expected.migration_id,
                    environment.as_str(),
                    &value_text(expected.value),
                    observed.as_deref().map_err(String::as_str),
                    started,
                )
                .await?;
            }
        }
        Ok(())
    }
}
