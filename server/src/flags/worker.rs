//! The worker that applies flag changes: every replica runs one. It claims the next pending
//! change (kills first) with its migration locked, reads the backend, writes only if the flag
//! is not already where it should be, reads it back, and records the outcome in the same
//! transaction. A replica that dies mid-apply releases its locks; the next claim reads the
//! backend first, so a change that had landed is recorded, not applied again.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use rollout::{Environment, FlagValue};
use sqlx::{PgPool, postgres::PgListener};

use super::{BackendError, FlagBackends, parse_value, same_serving};
use crate::{
    clock::Clock,
    db::flag_changes::{self, ClaimedChange, WAKE_CHANNEL},
    error::Error,
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

pub struct FlagWorker {
    pub pool: PgPool,
    pub backends: FlagBackends,
    pub migrations: Arc<PgMigrationService>,
    pub clock: Arc<dyn Clock>,
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
            match self.drain().await {
                Ok(()) => {}
                Err(error) => tracing::error!(%error, "flag changes: applying failed"),
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

    /// How long to sleep: until the next retry is due, at most [`IDLE`].
    async fn wait(&self) -> Duration {
        match flag_changes::next_retry_at(&self.pool).await {
            Ok(Some(at)) => (at - self.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(50), IDLE),
            _ => IDLE,
        }
    }

    /// Applies every change that is due.
    pub async fn drain(&self) -> Result<(), Error> {
        while self.apply_next().await? {}
        Ok(())
    }

    /// Claims and applies the next change that is due; `false` when there is none.
    pub async fn apply_next(&self) -> Result<bool, Error> {
        let mut tx = self.pool.begin().await?;
        let Some(change) = flag_changes::claim_next(&mut tx, self.clock.now()).await? else {
            return Ok(false);
        };
        let outcome = self.apply(&change).await;
        let now = self.clock.now();
        match outcome {
            Ok(()) => {
                self.migrations
                    .settle_in(&mut tx, &change.flag, change.id, &change.backend, now)
                    .await?;
                tracing::info!(flag = %change.flag, environment = %change.environment, value = %change.value, "flag change applied");
            }
            Err(BackendError::Transient(error)) if change.attempts + 1 < MAX_ATTEMPTS => {
                let next_at = later(now, backoff(change.attempts));
                flag_changes::retry_later(&mut tx, change.id, &error, next_at).await?;
                tracing::warn!(flag = %change.flag, %error, attempts = change.attempts + 1, "flag change failed; retrying");
            }
            Err(error) => {
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
        Ok(true)
    }

    /// Brings the backend to the change's value, unless it is there already.
    async fn apply(&self, change: &ClaimedChange) -> Result<(), BackendError> {
        let (environment, desired) = what(change)?;
        let kind = self.backends.kind(environment);
        let backend = self
            .backends
            .backend(environment)
            .filter(|_| kind.as_str() == change.backend)
            .ok_or_else(|| {
                BackendError::Permanent(format!(
                    "{} flags are now set through {}, not {}: make this change there",
                    environment.label(),
                    kind.as_str(),
                    change.backend
                ))
            })?;
        // After a restart mid-apply, the write may have landed: it is not made twice.
        if same_serving(backend.get(&change.flag).await?, desired) {
            return Ok(());
        }
        backend.set(&change.flag, desired).await?;
        let now = backend.get(&change.flag).await?;
        if same_serving(now, desired) {
            Ok(())
        } else {
            Err(BackendError::Transient(format!(
                "the flag reads {now} after it was set to {desired}"
            )))
        }
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
