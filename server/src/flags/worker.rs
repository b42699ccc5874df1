//! The worker that applies flag changes: every replica runs one. It takes the next pending change
//! (kills first) whose flag no other worker is changing — a session-level advisory lock on a
//! connection of its own, held while it talks to the backend and released by Postgres if the
//! process dies — and holds no row lock meanwhile, so people's actions (a kill above all) never
//! wait for a slow backend. It reads the backend first and writes only if the flag is not already
//! where it should be (a change that landed before a crash is recorded, not made again), reads it
//! back, and records the outcome in one short transaction.

use std::{sync::Arc, time::Duration};

use app::error::AppError;
use chrono::{DateTime, Utc};
use rollout::{Environment, FlagValue};
use sqlx::{PgPool, postgres::PgListener};

use super::{BackendError, FlagBackends, parse_value, same_serving};
use crate::{
    clock::Clock,
    db::{
        change_locks,
        flag_changes::{self, ClaimedChange, WAKE_CHANNEL},
    },
    error::{Error, chain},
    rollouts::PgMigrationService,
};

/// After this many transient failures in a row a change is given up (marked failed) and waits
/// for a person to retry it: about ten minutes of backoff.
pub const MAX_ATTEMPTS: i32 = 12;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(120);

/// How long the worker sleeps when nothing wakes it: changes arrive with a notification, so
/// this only bounds how long a missed one waits.
const IDLE: Duration = Duration::from_secs(5);

/// The shortest sleep: a due change another worker is applying is looked at again after it.
const BUSY: Duration = Duration::from_millis(250);

/// How many due changes a worker looks through for one no other worker holds.
const CANDIDATES: i64 = 20;

pub struct FlagWorker {
    pub pool: PgPool,
    pub backends: FlagBackends,
    pub migrations: Arc<PgMigrationService>,
    pub clock: Arc<dyn Clock>,
}

/// What became of one attempt at a change.
enum Attempt {
    Applied,
    Failed(BackendError),
    /// A change lock holds and the change would raise the flag: it waits, uncounted.
    HeldBack {
        until: DateTime<Utc>,
        reason: String,
    },
}

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s … up to [`MAX_BACKOFF`].
pub fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

impl FlagWorker {
    /// Applies changes until the process ends.
    pub async fn run(self) {
        let mut listener = match self.listen().await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "flag changes: no notifications, polling instead");
                None
            }
        };
        loop {
            if let Err(error) = self.drain().await {
                tracing::error!(error = %chain(&error), "flag changes: applying failed");
            }
            let wait = self.wait().await;
            match listener.as_mut() {
                Some(listener) => {
                    // A notification or the time, whichever first; a dropped connection is
                    // re-established by the next `recv`.
                    let _ = tokio::time::timeout(wait, listener.recv()).await;
                }
                None => tokio::time::sleep(wait).await,
            }
        }
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(WAKE_CHANNEL).await?;
        Ok(listener)
    }

    /// How long to sleep: until the next retry is due, between [`BUSY`] and [`IDLE`].
    async fn wait(&self) -> Duration {
        match flag_changes::next_retry_at(&self.pool).await {
            Ok(Some(at)) => (at - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(BUSY, IDLE),
            _ => IDLE,
        }
    }

    /// Applies every change that is due and free.
    pub async fn drain(&self) -> Result<(), Error> {
        while self.apply_next().await? {}
        Ok(())
    }

    /// Applies the next change that is due and that no other worker holds; `false` when there
    /// is none.
    pub async fn apply_next(&self) -> Result<bool, Error> {
        let mut conn = self.pool.acquire().await?;
        for change in flag_changes::due(&mut *conn, self.clock.now(), CANDIDATES).await? {
            if !flag_changes::try_hold(&mut conn, change.migration_id, &change.environment).await? {
                continue;
            }
            // Listed before the hold: another worker may have finished it in between.
            let pending = flag_changes::is_pending(&mut *conn, change.id).await;
            if matches!(pending, Ok(true)) {
                self.attempt(&change).await;
            }
            flag_changes::release(&mut conn, change.migration_id, &change.environment).await?;
            if pending? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Applies `change` and records what happened. A failure to record is itself recorded as a
    /// transient failure, so one change can never hold up the queue.
    async fn attempt(&self, change: &ClaimedChange) {
        let attempt = self.apply(change).await;
        let now = self.clock.now();
        if let Err(error) = self.record(change, attempt, now).await {
            let error = chain(&error);
            tracing::error!(flag = %change.flag, %error, "flag change: the outcome could not be recorded");
            let later_on = later(now, backoff(change.attempts));
            let message = format!("Rampart could not record the outcome: {error}");
            let recorded = async {
                let mut tx = self.pool.begin().await?;
                flag_changes::retry_later(&mut tx, change.id, &message, later_on).await?;
                tx.commit().await
            };
            if let Err(error) = recorded.await {
                tracing::error!(%error, "flag change: not even the failure could be recorded");
            }
        }
    }

    async fn record(
        &self,
        change: &ClaimedChange,
        attempt: Attempt,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        match attempt {
            Attempt::Applied => {
                let settled = self
                    .migrations
                    .settle_in(&mut tx, &change.flag, change.id, &change.backend, now)
                    .await;
                match settled {
                    Ok(()) => {
                        tracing::info!(flag = %change.flag, environment = %change.environment, value = %change.value, "flag change applied")
                    }
                    // A person replaced it while it was being made; theirs comes next.
                    Err(Error::App(AppError::Conflict { .. })) => {
                        tracing::info!(flag = %change.flag, "flag change replaced while it was being made");
                    }
                    Err(error) => return Err(error),
                }
            }
            Attempt::HeldBack { until, reason } => {
                flag_changes::hold_back(&mut tx, change.id, &reason, until).await?;
            }
            Attempt::Failed(BackendError::Transient(error))
                if change.attempts + 1 < MAX_ATTEMPTS =>
            {
                let next_at = later(now, backoff(change.attempts));
                flag_changes::retry_later(&mut tx, change.id, &error, next_at).await?;
                tracing::warn!(flag = %change.flag, %error, attempts = change.attempts + 1, "flag change failed; retrying");
            }
            Attempt::Failed(error) => {
                let reason = match error {
                    BackendError::Transient(error) => {
                        format!("gave up after {MAX_ATTEMPTS} attempts: {error}")
                    }
                    BackendError::Permanent(error) => error,
                };
                self.migrations
                    .fail_in(&mut tx, &change.flag, change.id, &reason, now)
                    .await?;
                tracing::error!(flag = %change.flag, %reason, "flag change failed");
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Brings the backend to the change's value, unless it is there already.
    async fn apply(&self, change: &ClaimedChange) -> Attempt {
        match self.try_apply(change).await {
            Ok(attempt) => attempt,
            Err(error) => Attempt::Failed(error),
        }
    }

    async fn try_apply(&self, change: &ClaimedChange) -> Result<Attempt, BackendError> {
        let (environment, desired) = what(change)?;
        let kind = self.backends.kind(environment);
        let backend = self
            .backends
            .backend(environment)
            .filter(|_| kind.as_str() == change.backend)
            .ok_or_else(|| {
                BackendError::Permanent(format!(
                    "{} flags are now set through {}, not {}: try again to move the change there",
                    environment.label(),
                    kind.as_str(),
                    change.backend
                ))
            })?;
        let now = backend.get(&change.flag).await?;
        // After a restart mid-apply, the write may have landed: it is not made twice.
        if same_serving(now, desired) {
            return Ok(Attempt::Applied);
        }
        // A change lock holds every raise, whenever it was decided.
        if desired.serving_percentage() > now.serving_percentage()
            && let Some(lock) = self.holding_lock().await?
        {
            return Ok(Attempt::HeldBack {
                until: lock.until,
                reason: format!("held back by the change lock until then: {}", lock.reason),
            });
        }
        backend.set(&change.flag, desired).await?;
        let now = backend.get(&change.flag).await?;
        if same_serving(now, desired) {
            Ok(Attempt::Applied)
        } else {
            Err(BackendError::Transient(format!(
                "the flag reads {now} after it was set to {desired}"
            )))
        }
    }

    /// The change lock holding now. Not knowing is no licence to raise a flag: it is retried.
    async fn holding_lock(&self) -> Result<Option<change_locks::ChangeLockRow>, BackendError> {
        change_locks::holding(&self.pool, self.clock.now())
            .await
            .map_err(|error| BackendError::Transient(format!("change locks unreadable: {error}")))
    }
}

fn what(change: &ClaimedChange) -> Result<(Environment, FlagValue), BackendError> {
    let environment = change.environment.parse::<Environment>().ok();
    let value = parse_value(&change.value);
    environment.zip(value).ok_or_else(|| {
        BackendError::Permanent(format!(
            "the change {} in {} cannot be read",
            change.value, change.environment
        ))
    })
}

fn later(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(11), MAX_BACKOFF);
        assert_eq!(backoff(-1), Duration::from_secs(1));
    }
}
