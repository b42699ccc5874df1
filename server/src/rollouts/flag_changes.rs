//! A flag change after its intent was written: applied (by a person with the manual backend, or
//! by the flag worker through a backend), failed, or put back in the queue. Each is recorded on
//! the migration with an audit entry, in the caller's transaction.

use app::{api::session::CurrentUser, error::AppError};
use chrono::{DateTime, Utc};
use rollout::{Action, Environment, FlagValue};
use sqlx::PgConnection;

use super::{
    AUTOMATION, PgMigrationService,
    record::{self, subject},
    stored::Loaded,
};
use crate::{
    db::{self, audit::AuditEntry, flag_changes::FlagChangeRow},
    error::Error,
    flags::{BackendKind, value_text},
};

/// Rampart itself, as the actor of what its workers do (applying flag changes).
pub fn automation() -> CurrentUser {
    automation_as(AUTOMATION, "Rampart")
}

/// A part of Rampart as an actor, named in brackets (`[guardrail]`) so no username can be
/// taken for it.
pub fn automation_as(username: &str, display_name: &str) -> CurrentUser {
    CurrentUser {
        id: 0,
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        roles: rollout::Roles::from(rollout::Role::Engineer),
    }
}

/// A migration's flag as Rampart set it, for the reconciler to compare with its backend.
pub struct ExpectedFlag {
    pub migration_id: i64,
    pub flag: String,
    pub environment: Environment,
    pub value: FlagValue,
}

impl PgMigrationService {
    /// Every flag of every migration in flight as Rampart last set it, except where a change is
    /// still on its way.
    pub async fn expected_flags(&self, tx: &mut PgConnection) -> Result<Vec<ExpectedFlag>, Error> {
        let rows = db::migrations::fetch_in_flight(&mut *tx).await?;
        let changing = db::flag_observations::fetch_changing(&mut *tx).await?;
        let loaded = self.load_all(rows).await?;
        Ok(loaded
            .iter()
            .flat_map(|loaded| {
                let flags = loaded.state.flags();
                Environment::all().map(move |environment| ExpectedFlag {
                    migration_id: loaded.row.id,
                    flag: loaded.row.flag_name.clone(),
                    environment,
                    value: flags.get(environment),
                })
            })
            .filter(|expected| {
                !changing.iter().any(|(id, env)| {
                    *id == expected.migration_id && env == expected.environment.as_str()
                })
            })
            .collect())
    }

    /// Records that a pending flag change was applied with the manual backend: someone ran its
    /// ChatOps line.
    pub async fn confirm_in(
        &self,
        tx: &mut PgConnection,
        actor: &CurrentUser,
        flag: &str,
        change: i64,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.settle_as(tx, actor, flag, change, BackendKind::Manual.as_str(), now)
            .await
    }

    /// Records that a backend applied a pending flag change: the flag worker's half of
    /// [`PgMigrationService::confirm_in`].
    pub async fn settle_in(
        &self,
        tx: &mut PgConnection,
        flag: &str,
        change: i64,
        backend: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.settle_as(tx, &automation(), flag, change, backend, now)
            .await
    }

    async fn settle_as(
        &self,
        tx: &mut PgConnection,
        actor: &CurrentUser,
        flag: &str,
        change: i64,
        backend: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let loaded = self.lock(tx, flag).await?;
        let applied =
            db::flag_changes::mark_applied(tx, loaded.row.id, change, backend, &actor.username, now)
                .await?
                .ok_or_else(|| AppError::Conflict {
                    message: "this flag change is no longer waiting for a person: it was applied, replaced by a newer one, or is Rampart's to make; reload to see it".to_owned(),
                })?;
        // What the reconciler saw before this change no longer says anything.
        db::flag_observations::forget(tx, loaded.row.id, &applied.environment).await?;
        let after = serde_json::json!({
            "environment": applied.environment,
            "value": applied.value,
            "command": applied.command,
            "backend": backend,
        });
        let told_in = Some(applied.environment.as_str());
        note(
            tx,
            &loaded,
            actor,
            "flag_change.applied",
            after,
            told_in,
            now,
        )
        .await?;
        // Setting the stage's flag is what its "Flag enabled" / "Flag percentage set" item asks:
        // the change ticks it, by whoever made it.
        if let Some(item) = flag_item_done_by(&loaded, &applied) {
            let action = Action::CheckIn {
                item,
                outcome: rollout::CheckOutcome::Checked,
                note: Some(applied.command.clone()),
            };
            // The change is made whatever the checklist says; a refused tick is only not ticked.
            match self.apply_in(tx, actor, flag, None, action, now).await {
                Err(Error::App(AppError::Refused { code, .. })) => {
                    tracing::info!(flag, %code, "the flag item was not ticked");
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Records that the backend could not apply a change: it waits for a person to retry it,
    /// and nothing advances meanwhile.
    pub async fn fail_in(
        &self,
        tx: &mut PgConnection,
        flag: &str,
        change: i64,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let loaded = self.lock(tx, flag).await?;
        let actor = automation();
        let environment =
            db::flag_changes::mark_failed(tx, change, reason, &actor.username, now).await?;
        let after =
            serde_json::json!({ "change": change, "error": reason, "environment": environment });
        let told_in = environment.as_deref();
        note(
            tx,
            &loaded,
            &actor,
            "flag_change.failed",
            after,
            told_in,
            now,
        )
        .await
    }

    /// Puts a failed flag change back in the worker's queue.
    pub async fn retry_in(
        &self,
        tx: &mut PgConnection,
        actor: &CurrentUser,
        flag: &str,
        change: i64,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let loaded = self.lock(tx, flag).await?;
        // For whoever sets the environment's flags now: a change moved to manual is confirmed
        // by hand; one moved to a backend is made there.
        let backend = |environment: &str| {
            environment
                .parse::<Environment>()
                .map_or(BackendKind::Manual, |e| self.backends.kind(e))
                .as_str()
                .to_owned()
        };
        let retried = db::flag_changes::retry(tx, loaded.row.id, change, backend)
            .await?
            .ok_or_else(|| AppError::Conflict {
                message: "this flag change has not failed: it is being applied, was applied, or was replaced by a newer one; reload to see it".to_owned(),
            })?;
        let after = serde_json::json!({
            "environment": retried.environment,
            "value": retried.value,
        });
        let told_in = Some(retried.environment.as_str());
        note(
            tx,
            &loaded,
            actor,
            "flag_change.retried",
            after,
            told_in,
            now,
        )
        .await
    }
}

/// Marks the migration changed by `actor`, writes the audit entry, and tells it in the chat of
/// `told_in`, the environment whose flag it is.
async fn note(
    tx: &mut PgConnection,
    loaded: &Loaded,
    actor: &CurrentUser,
    action: &str,
    after: serde_json::Value,
    told_in: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    db::migrations::touch(tx, loaded.row.id, &actor.username, now).await?;
    let entry = AuditEntry {
        actor: &actor.username,
        action,
        subject: subject(&loaded.row.flag_name),
        before: None,
        after: Some(after),
    };
    db::audit::insert_audit(&mut *tx, &entry, now).await?;
    if let Some(environment) = told_in {
        let sentence = crate::rollouts::words::summary(action, entry.after.as_ref());
        record::tell(
            tx,
            environment,
            &loaded.row.flag_name,
            &actor.username,
            &sentence,
            now,
        )
        .await?;
    }
    Ok(())
}

/// The current stage's unticked flag item, when `applied` is the flag change that stage makes.
fn flag_item_done_by(loaded: &Loaded, applied: &FlagChangeRow) -> Option<rollout::CheckItem> {
    let stage = loaded.state.current_stage(&loaded.migration.plan)?;
    let (environment, value) = stage.flag()?;
    let this_change =
        environment.as_str() == applied.environment && value_text(value) == applied.value;
    let item = stage.flag_item().filter(|_| this_change)?;
    let ticked = loaded.state.check_ins().iter().any(|c| c.item == item);
    (!ticked).then_some(item)
}
