//! Change locks on the server: declaring and lifting them (admins, audited), and the check that
//! refuses a transition raising a flag's exposure while one holds.

use app::{
    api::{change_lock::ChangeLock, session::CurrentUser},
    error::AppError,
};
use chrono::{DateTime, TimeDelta, Utc};
use rollout::{Event, FlagStates, raises_exposure};
use sqlx::PgConnection;

use super::PgMigrationService;
use crate::{
    db::{self, audit::AuditEntry, change_locks::ChangeLockRow},
    error::Error,
};

/// How change locks are named in the audit log.
const SUBJECT: &str = "change_lock";

/// Refuses `events` if they raise a flag's exposure while a lock holds.
pub async fn check(
    tx: &mut PgConnection,
    before: FlagStates,
    events: &[Event],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if !raises_exposure(before, events) {
        return Ok(());
    }
    match db::change_locks::holding(&mut *tx, now).await? {
        None => Ok(()),
        Some(lock) => Err(AppError::Refused {
            code: "change_locked".to_owned(),
            message: format!(
                "changes are locked until {} ({}, declared by {}): no flag is raised meanwhile; turning flags off is still allowed",
                lock.until.format("%Y-%m-%d %H:%M UTC"),
                lock.reason,
                lock.declared_by,
            ),
        }
        .into()),
    }
}

/// Of `locks`, the one holding at `now` (the one lasting longest, should two overlap), as
/// `db::change_locks::holding` picks it.
fn holding_at(locks: &[ChangeLockRow], now: DateTime<Utc>) -> Option<&ChangeLockRow> {
    locks
        .iter()
        .filter(|lock| lock.declared_at <= now && now < lock.until)
        .max_by_key(|lock| lock.until)
}

fn view(row: ChangeLockRow) -> ChangeLock {
    ChangeLock {
        reason: row.reason,
        until: row.until,
        declared_by: row.declared_by,
        declared_at: row.declared_at,
    }
}

impl PgMigrationService {
    /// The lock that holds now, for the pages: from the locks this replica keeps while it hears
    /// of no change to any. What refuses a change reads the database in its own transaction.
    pub async fn holding_lock(&self) -> Result<Option<ChangeLock>, Error> {
        let now = self.clock.now();
        let unlifted = self
            .change_locks
            .get_or_read((), async {
                Ok::<_, Error>(Some(
                    db::change_locks::fetch_unlifted(&self.pool, now).await?,
                ))
            })
            .await?
            .unwrap_or_default();
        Ok(holding_at(&unlifted, now).cloned().map(view))
    }

    pub async fn declare_lock(
        &self,
        actor: &CurrentUser,
        reason: &str,
        hours: u32,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let until = now + TimeDelta::hours(i64::from(hours));
        let mut tx = self.pool.begin().await?;
        let id = db::change_locks::declare(&mut tx, reason, until, &actor.username, now).await?;
        let after = serde_json::json!({ "id": id, "reason": reason, "until": until });
        audit(&mut tx, actor, "change_lock.declared", after, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn lift_lock(&self, actor: &CurrentUser) -> Result<(), Error> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        if db::change_locks::lift(&mut tx, &actor.username, now).await? == 0 {
            return Err(AppError::Conflict {
                message: "no change lock holds now: it ended or was lifted already".to_owned(),
            }
            .into());
        }
        audit(
            &mut tx,
            actor,
            "change_lock.lifted",
            serde_json::json!({}),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn audit(
    tx: &mut PgConnection,
    actor: &CurrentUser,
    action: &str,
    after: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let entry = AuditEntry {
        actor: &actor.username,
        action,
        subject: SUBJECT.to_owned(),
        before: None,
        after: Some(after),
    };
    db::audit::insert_audit(tx, &entry, at).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(id: i64, declared_at: i64, until: i64) -> ChangeLockRow {
        let at = |hour| DateTime::<Utc>::UNIX_EPOCH + TimeDelta::hours(hour);
        ChangeLockRow {
            id,
            reason: "incident".to_owned(),
            until: at(until),
            declared_by: "ada".to_owned(),
            declared_at: at(declared_at),
        }
    }

    #[test]
    fn the_lock_holding_is_the_longest_of_those_begun_and_not_over() {
        let locks = [lock(1, 0, 4), lock(2, 1, 8), lock(3, 5, 6)];
        let at = |hour| {
            holding_at(&locks, DateTime::<Utc>::UNIX_EPOCH + TimeDelta::hours(hour)).map(|l| l.id)
        };
        assert_eq!(at(0), Some(1));
        assert_eq!(at(2), Some(2), "the one lasting longest");
        assert_eq!(at(8), None, "over at its end");
        assert!(holding_at(&[], DateTime::<Utc>::UNIX_EPOCH).is_none());
    }
}
