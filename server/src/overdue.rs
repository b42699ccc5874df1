//! Overdue checks, told: when a running stage's looks fall behind its cadence (the template's
//! "at least every 5 minutes"), its owner hears of it in the environment's channel — once per
//! interval it stays overdue, however many replicas notice.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use rollout::{Status, duration::format_duration};
use sqlx::PgPool;

use crate::{clock::Clock, db, error::Error, rollouts::PgMigrationService};

pub struct OverdueWatch {
    pub pool: PgPool,
    pub migrations: Arc<PgMigrationService>,
    pub clock: Arc<dyn Clock>,
    pub interval: Duration,
}

impl OverdueWatch {
    pub async fn run(self) {
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + self.interval, self.interval);
        loop {
            ticks.tick().await;
            if let Err(error) = self.tell_overdue(self.clock.now()).await {
                tracing::warn!(%error, "could not look for overdue checks");
            }
        }
    }

    /// Queues a notice for each running stage whose check is overdue and not yet told for this
    /// interval; how many.
    pub async fn tell_overdue(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        let mut told = 0;
        for guarded in self.migrations.guarded_in_flight(now).await? {
            let (Some(late), Some(cadence)) = (guarded.overdue_by, guarded.cadence) else {
                continue;
            };
            if guarded.status != Status::Active || cadence <= chrono::TimeDelta::zero() {
                continue;
            }
            let period = i32::try_from(late.num_seconds() / cadence.num_seconds().max(1))
                .unwrap_or(i32::MAX);
            let mut tx = self.pool.begin().await?;
            if db::overdue::claim(
                &mut *tx,
                guarded.migration_id,
                guarded.stage_started,
                period,
                now,
            )
            .await?
            {
                let text = format!(
                    "{}: @{}, the look at {} is overdue by {} (every {})",
                    guarded.watched.flag,
                    guarded.owner,
                    guarded.stage_name,
                    format_duration(late),
                    format_duration(cadence),
                );
                db::notifications::enqueue(
                    &mut *tx,
                    guarded.watched.environment.as_str(),
                    &text,
                    now,
                )
                .await?;
                told += 1;
            }
            tx.commit().await?;
        }
        Ok(told)
    }
}
