//! Overdue checks, told: when a running stage's looks fall behind its cadence (the template's
//! "at least every 5 minutes"), its owner hears of it in the environment's channel — once per
//! interval it stays overdue, however many replicas notice.

use chrono::{DateTime, Utc};
use rollout::{Status, duration::format_duration};
use sqlx::PgPool;

use crate::{db, error::Error, rollouts::watch::Guarded};

/// Queues a notice for each of `running` whose check is overdue and not yet told for this
/// interval; how many. The guardrail's pass calls it with the migrations it has just read.
pub async fn tell_overdue(
    pool: &PgPool,
    running: &[Guarded],
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let mut told = 0;
    for guarded in running {
        let (Some(late), Some(cadence)) = (guarded.overdue_by, guarded.cadence) else {
            continue;
        };
        if guarded.status != Status::Active || cadence <= chrono::TimeDelta::zero() {
            continue;
        }
        let period =
            i32::try_from(late.num_seconds() / cadence.num_seconds().max(1)).unwrap_or(i32::MAX);
        let mut tx = pool.begin().await?;
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
            db::notifications::enqueue(&mut *tx, guarded.watched.environment.as_str(), &text, now)
                .await?;
            told += 1;
        }
        tx.commit().await?;
    }
    Ok(told)
}
