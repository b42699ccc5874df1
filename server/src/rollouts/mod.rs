//! Migrations over Postgres: the service the pages (and the REST API to come) call. It reads a
//! migration, lets the domain decide, and writes the new state, what happened and the audit
//! entries in one transaction, refusing an edit made on an older version.

pub mod change_lock;
pub mod deployments;
pub mod flag_changes;
mod in_flight;
pub mod plans;
pub mod record;
pub mod stored;
pub mod view;
pub mod watch;
pub mod words;

use std::sync::Arc;

use app::{
    api::{
        audit::AuditQuery,
        change_lock::ChangeLock,
        history::{HistoryColumn, HistoryRow},
        migration::{AuditRow, MigrationDetail},
        migration_form::{EditableMigration, MigrationForm},
        portfolio::{Portfolio, PortfolioStamp},
        services::{FlagChangeStep, MigrationService},
        session::CurrentUser,
    },
    error::AppError,
};
use chrono::{DateTime, Utc};
use rollout::{Action, Environment, LinkConfig, MigrationState, versions_needed_to_advance};
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::{
    changes::{Changes, Kept, Topic},
    clock::Clock,
    db::{self, audit::AuditEntry, migrations::MigrationRow},
    error::Error,
    flags::FlagBackends,
};
use deployments::{Deployments, KnownVersions};
use plans::Plans;
use record::{Recorder, subject};
use stored::{Loaded, StateColumns};

/// The actor of what Rampart's workers do, such as applying flag changes: in brackets, as the
/// audit log names Rampart itself, so no username can be taken for it.
pub const AUTOMATION: &str = "[rampart]";

/// How many audit entries a migration's page shows; the audit page has them all.
const AUDIT_SHOWN: i64 = 12;

pub struct PgMigrationService {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    links: Arc<LinkConfig>,
    deployments: Arc<dyn Deployments>,
    backends: FlagBackends,
    plans: Plans,
    in_flight: in_flight::InFlight,
    /// The change locks not lifted, as last read.
    change_locks: Kept<(), Vec<db::change_locks::ChangeLockRow>>,
}

impl PgMigrationService {
    pub fn new(
        pool: PgPool,
        clock: Arc<dyn Clock>,
        links: Arc<LinkConfig>,
        deployments: Arc<dyn Deployments>,
        backends: FlagBackends,
        changes: Changes,
    ) -> Self {
        Self {
            pool,
            clock,
            links,
            deployments,
            backends,
            plans: Plans::default(),
            change_locks: Kept::new(Topic::ChangeLocks, changes.clone(), 1),
            in_flight: in_flight::InFlight::new(changes),
        }
    }

    /// The template's links, as this installation fills them in.
    pub fn links(&self) -> &LinkConfig {
        &self.links
    }

    /// Applies `action` by `actor` at `now` in `tx`: the one write path of every stage change,
    /// also used by the demo data to replay rollouts at past times.
    pub async fn apply_in(
        &self,
        tx: &mut PgConnection,
        actor: &CurrentUser,
        flag: &str,
        version: Option<i64>,
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.apply_with(tx, actor, flag, version, action, None, now)
            .await
    }

    /// [`PgMigrationService::apply_in`], with the deployed versions `asked` of the systems before
    /// `tx` began: asking GitLab or Prometheus takes time, not to be spent holding the
    /// migration's lock (nor a second connection while holding one).
    #[allow(clippy::too_many_arguments)]
    async fn apply_with(
        &self,
        tx: &mut PgConnection,
        actor: &CurrentUser,
        flag: &str,
        version: Option<i64>,
        action: Action,
        asked: Option<(Environment, KnownVersions)>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let loaded = self.lock(tx, flag).await?;
        check_version(&loaded.row, version)?;
        if matches!(action, Action::Advance { .. }) && loaded.row.flag_change_pending {
            // The stage was entered on paper only until its flag change is made.
            return Err(AppError::Refused {
                code: "flag_change_pending".to_owned(),
                message: "the last flag change is not applied yet: wait for Rampart to make it, retry it if it failed, or, for flags set by hand, run its ChatOps line and confirm it".to_owned(),
            }
            .into());
        }
        let action = self.with_deployed_versions(&loaded, action, asked).await;
        let transition = rollout::apply(
            &loaded.state,
            &loaded.migration,
            &actor.actor(),
            &action,
            now,
        )
        .map_err(AppError::from)?;
        change_lock::check(tx, loaded.state.flags(), &transition.events, now).await?;
        let columns = StateColumns::of(&transition.state)?;
        db::migrations::update_state(tx, loaded.row.id, &columns.stored(), &actor.username, now)
            .await?;
        self.recorder(&loaded, &actor.username, now)
            .record(tx, &transition.events)
            .await?;
        Ok(())
    }

    /// Advances if nothing holds the stage: an approved production change is made at once. A
    /// refusal leaves the approval standing; the requester advances when the rest is done.
    async fn advance_if_clear(
        &self,
        tx: &mut PgConnection,
        actor: &CurrentUser,
        flag: &str,
        asked: Option<(Environment, KnownVersions)>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let advance = Action::Advance { deployed: None };
        match self
            .apply_with(tx, actor, flag, None, advance, asked, now)
            .await
        {
            Err(Error::App(AppError::Refused { code, .. })) => {
                tracing::info!(flag, %code, "approved; the change waits for the stage");
                Ok(())
            }
            other => other,
        }
    }

    /// The migration of `flag`, locked until `tx` ends.
    async fn lock(&self, tx: &mut PgConnection, flag: &str) -> Result<Loaded, Error> {
        let row = db::migrations::lock_by_flag(tx, flag)
            .await?
            .ok_or_else(|| AppError::not_found(format!("migration {flag}")))?;
        self.load(tx, row).await
    }

    /// The migration of `row`, with its plan.
    async fn load(&self, db: impl PgExecutor<'_>, row: MigrationRow) -> Result<Loaded, Error> {
        let plans = self.plans.get(db, &[row.plan_id]).await?;
        Ok(stored::load(row, &plans)?)
    }

    /// The migration of `flag` as `tx` sees it (the demo data reads what it just wrote).
    pub async fn read_in(&self, tx: &mut PgConnection, flag: &str) -> Result<Loaded, Error> {
        let row = db::migrations::fetch_by_flag(&mut *tx, flag)
            .await?
            .ok_or_else(|| AppError::not_found(format!("migration {flag}")))?;
        self.load(tx, row).await
    }

    /// The migration of `flag`, unlocked, for reading.
    async fn read(&self, flag: &str) -> Result<Loaded, Error> {
        let row = db::migrations::fetch_by_flag(&self.pool, flag)
            .await?
            .ok_or_else(|| AppError::not_found(format!("migration {flag}")))?;
        self.load(&self.pool, row).await
    }

    /// Every row of `rows` with its plan; an unreadable one is logged and left out, so it cannot
    /// hide the others.
    async fn load_all(&self, rows: Vec<MigrationRow>) -> Result<Vec<Loaded>, Error> {
        let ids: Vec<i64> = rows.iter().map(|row| row.plan_id).collect();
        let plans = self.plans.get(&self.pool, &ids).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| match stored::load(row, &plans) {
                Ok(loaded) => Some(loaded),
                Err(error) => {
                    tracing::error!(%error, "a migration is left out");
                    None
                }
            })
            .collect())
    }

    /// The versions deployed where `flag`'s next stage needs them, as far as Rampart can tell,
    /// read without a lock.
    async fn versions_for(&self, flag: &str) -> Option<(Environment, KnownVersions)> {
        let loaded = self.read(flag).await.ok()?;
        let environment = versions_needed_to_advance(&loaded.state, &loaded.migration.plan)?;
        Some((environment, self.deployments.deployed(environment).await))
    }

    /// An advance (or a production change request) that brings no versions gets the
    /// environment's, where Rampart can tell them (`asked` before the lock, if it was for the
    /// same environment); what a person typed always wins.
    async fn with_deployed_versions(
        &self,
        loaded: &Loaded,
        action: Action,
        asked: Option<(Environment, KnownVersions)>,
    ) -> Action {
        let Some(environment) = versions_needed_to_advance(&loaded.state, &loaded.migration.plan)
        else {
            return action;
        };
        let known = match asked {
            Some((asked_for, known)) if asked_for == environment => known,
            _ => self.deployments.deployed(environment).await,
        };
        match action {
            Action::Advance { deployed: None } => Action::Advance {
                deployed: known.complete(),
            },
            Action::RequestProductionChange {
                reason,
                infrastructure_issue,
                deployed: None,
            } => Action::RequestProductionChange {
                reason,
                infrastructure_issue,
                deployed: known.complete(),
            },
            action => action,
        }
    }

    fn recorder<'a>(
        &'a self,
        loaded: &'a Loaded,
        actor: &'a str,
        at: DateTime<Utc>,
    ) -> Recorder<'a> {
        Recorder {
            migration_id: loaded.row.id,
            migration: &loaded.migration,
            links: &self.links,
            backends: &self.backends,
            actor,
            at,
            environment: loaded
                .state
                .current_stage(&loaded.migration.plan)
                .and_then(|stage| stage.environment()),
        }
    }

    /// Adds a migration at `now` in `tx`; the demo data adds its own in the past.
    pub async fn create_in(
        &self,
        tx: &mut PgConnection,
        actor: &CurrentUser,
        form: &MigrationForm,
        now: DateTime<Utc>,
    ) -> Result<String, Error> {
        let (identity, plan) = form.parse()?;
        let owner = self.owner(tx, form, actor).await?;
        let plan_id = self.plans.store(tx, &plan).await?;
        let fields = stored::fields(&identity, plan_id, &owner);
        let state = StateColumns::of(&MigrationState::new())?;
        let inserted = db::migrations::insert_migration(
            &mut *tx,
            &fields,
            &state.stored(),
            &actor.username,
            now,
        )
        .await?;
        if inserted.is_none() {
            return Err(AppError::invalid(
                "feature_flag",
                format!("a migration of {} already exists", identity.feature_flag),
            )
            .into());
        }
        audit(
            tx,
            actor,
            "migration.created",
            &fields.flag_name,
            None,
            Some(form),
            now,
        )
        .await?;
        Ok(fields.flag_name)
    }

    /// The owner the form names (an active user), or the person adding it.
    async fn owner(
        &self,
        tx: &mut PgConnection,
        form: &MigrationForm,
        actor: &CurrentUser,
    ) -> Result<String, Error> {
        let named = form.owner.trim();
        if named.is_empty() {
            return Ok(actor.username.clone());
        }
        match db::users::fetch_user_by_username(&mut *tx, named).await? {
            Some(user) if user.active => Ok(user.username),
            _ => Err(
                AppError::invalid("owner", format!("there is no active user named {named}")).into(),
            ),
        }
    }
}

/// Refuses a change made on an older version, saying who changed it since and when.
fn check_version(row: &MigrationRow, seen: Option<i64>) -> Result<(), AppError> {
    match seen {
        Some(seen) if seen != row.version => Err(AppError::Conflict {
            message: format!(
                "{} was changed by {} at {} since you loaded it; reload to see the change, then try again",
                row.flag_name,
                row.updated_by,
                row.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
            ),
        }),
        _ => Ok(()),
    }
}

async fn audit(
    tx: &mut PgConnection,
    actor: &CurrentUser,
    action: &str,
    flag: &str,
    before: Option<&MigrationForm>,
    after: Option<&MigrationForm>,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let entry = AuditEntry {
        actor: &actor.username,
        action,
        subject: subject(flag),
        before: before.map(serde_json::to_value).transpose()?,
        after: after.map(serde_json::to_value).transpose()?,
    };
    db::audit::insert_audit(tx, &entry, at).await?;
    Ok(())
}

fn form_of(loaded: &Loaded) -> MigrationForm {
    let identity = &loaded.migration.identity;
    MigrationForm {
        feature_flag: identity.feature_flag.to_string(),
        grpc_method: identity.grpc_method.to_string(),
        gitaly_version: identity.gitaly_version.to_string(),
        gitlab_version: identity.gitlab_version.to_string(),
        routes: identity.routes.as_slice().join("\n"),
        acceptance_issue: identity.acceptance_issue.url().to_owned(),
        conversation: identity.conversation.to_string(),
        owner: loaded.row.owner.clone(),
        production_steps: MigrationForm::production_steps_of(&loaded.migration.plan),
    }
}

#[async_trait::async_trait]
impl MigrationService for PgMigrationService {
    #[tracing::instrument(skip(self))]
    async fn portfolio(&self) -> Result<Portfolio, AppError> {
        let now = self.clock.now();
        let reading = self.in_flight.read(&self.pool, self).await?;
        Ok(Portfolio {
            as_of: now,
            reading: reading.number,
            rows: reading
                .loaded
                .iter()
                .map(|loaded| view::portfolio_row(loaded, now))
                .collect(),
        })
    }

    async fn portfolio_stamp(&self) -> Result<PortfolioStamp, AppError> {
        let now = self.clock.now();
        let reading = self.in_flight.read(&self.pool, self).await?;
        Ok(PortfolioStamp {
            reading: reading.number,
            second: now.timestamp(),
        })
    }

    #[tracing::instrument(skip(self))]
    async fn detail(&self, flag: &str) -> Result<MigrationDetail, AppError> {
        let now = self.clock.now();
        let loaded = self.read(flag).await?;
        let (id, subject) = (loaded.row.id, subject(flag));
        let ids = [id];
        let (stages, pending, audit, observations, kills, evaluations, observe_only) =
            tokio::try_join!(
                db::stages::fetch_stages(&self.pool, &ids),
                db::flag_changes::fetch_unsettled(&self.pool, id),
                db::audit::fetch_for_subject(&self.pool, &subject, AUDIT_SHOWN),
                db::flag_observations::fetch_for(&self.pool, id),
                db::kill_reviews::fetch_for_subject(&self.pool, &subject),
                db::guardrail::latest(&self.pool, id),
                db::guardrail::observe_only(&self.pool, id),
            )
            .map_err(Error::from)?;
        let deployed = match versions_needed_to_advance(&loaded.state, &loaded.migration.plan) {
            Some(environment) => self.deployments.deployed(environment).await,
            None => KnownVersions::default(),
        };
        let parts = view::DetailParts {
            stages,
            pending,
            audit,
            observations,
            kills,
            deployed,
            guardrail: crate::guardrail::view::view(evaluations, observe_only),
        };
        Ok(view::detail(&loaded, parts, &self.links, now))
    }

    async fn form(&self, flag: &str) -> Result<EditableMigration, AppError> {
        let loaded = self.read(flag).await?;
        Ok(EditableMigration {
            version: loaded.row.version,
            form: form_of(&loaded),
        })
    }

    #[tracing::instrument(skip(self, form), fields(actor = %actor.username))]
    async fn create(&self, actor: &CurrentUser, form: &MigrationForm) -> Result<String, AppError> {
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let flag = self
            .create_in(&mut tx, actor, form, self.clock.now())
            .await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(flag)
    }

    #[tracing::instrument(skip(self, form), fields(actor = %actor.username))]
    async fn update(
        &self,
        actor: &CurrentUser,
        flag: &str,
        version: i64,
        form: &MigrationForm,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let (identity, plan) = form.parse()?;
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let loaded = self.lock(&mut tx, flag).await?;
        check_version(&loaded.row, Some(version))?;
        if identity.feature_flag != loaded.migration.identity.feature_flag {
            return Err(AppError::invalid(
                "feature_flag",
                "the flag names the migration and cannot change; add a new migration instead",
            ));
        }
        // A running migration keeps its stage: the new plan must still have it where it is.
        if loaded.state.status() != rollout::Status::Disabled
            && let Err(problem) = loaded.state.validate(&plan)
        {
            return Err(AppError::invalid(
                "production_steps",
                format!("this plan does not fit where the migration stands: {problem}"),
            ));
        }
        let owner = self.owner(&mut tx, form, actor).await?;
        let plan_id = self.plans.store(&mut tx, &plan).await?;
        let fields = stored::fields(&identity, plan_id, &owner);
        db::migrations::update_fields(&mut tx, loaded.row.id, &fields, &actor.username, now)
            .await
            .map_err(Error::from)?;
        let before = form_of(&loaded);
        audit(
            &mut tx,
            actor,
            "migration.updated",
            flag,
            Some(&before),
            Some(form),
            now,
        )
        .await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }

    #[tracing::instrument(skip(self), fields(actor = %actor.username))]
    async fn act(
        &self,
        actor: &CurrentUser,
        flag: &str,
        version: Option<i64>,
        action: Action,
    ) -> Result<(), AppError> {
        // An approval advances at once: it needs the versions as an advance does.
        let asked = match &action {
            Action::Advance { deployed: None }
            | Action::RequestProductionChange { deployed: None, .. }
            | Action::Approve => self.versions_for(flag).await,
            _ => None,
        };
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let now = self.clock.now();
        let approving = matches!(action, Action::Approve);
        self.apply_with(&mut tx, actor, flag, version, action, asked.clone(), now)
            .await?;
        if approving {
            self.advance_if_clear(&mut tx, actor, flag, asked, now)
                .await?;
        }
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn history(&self) -> Result<Vec<HistoryRow>, AppError> {
        let rows = db::migrations::fetch_finished(&self.pool)
            .await
            .map_err(Error::from)?;
        let loaded = self.load_all(rows).await?;
        let ids: Vec<i64> = loaded.iter().map(|l| l.row.id).collect();
        let subjects: Vec<String> = loaded.iter().map(|l| subject(&l.row.flag_name)).collect();
        let (stages, counts) = tokio::try_join!(
            db::stages::fetch_stages(&self.pool, &ids),
            db::audit::count_actions(&self.pool, &subjects, view::HISTORY_COUNTED),
        )
        .map_err(Error::from)?;
        let mut rows: Vec<HistoryRow> = loaded
            .iter()
            .map(|l| view::history_row(l, &stages, &counts))
            .collect();
        HistoryColumn::Ended.sort(&mut rows);
        Ok(rows)
    }

    #[tracing::instrument(skip(self))]
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, AppError> {
        let search = db::audit::AuditSearch {
            subject: query.subject.as_deref(),
            actor: query.actor.as_deref(),
            action: query.action.as_deref(),
            from: query.from,
            until: query.until,
            before: query.before,
            limit: query.limit,
        };
        let records = db::audit::search(&self.pool, &search)
            .await
            .map_err(Error::from)?;
        Ok(records.into_iter().map(view::audit_row).collect())
    }

    #[tracing::instrument(skip(self, note), fields(actor = %actor.username))]
    async fn review_kill(
        &self,
        actor: &CurrentUser,
        flag: &str,
        kill: i64,
        note: &str,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let subject = subject(flag);
        if !db::kill_reviews::insert(&mut tx, &subject, kill, &actor.username, note, now)
            .await
            .map_err(Error::from)?
        {
            return Err(AppError::Conflict {
                message: "this kill was reviewed already, or is not one of this migration's; reload to see it".to_owned(),
            });
        }
        let entry = AuditEntry {
            actor: &actor.username,
            action: "kill.reviewed",
            subject,
            before: None,
            after: Some(serde_json::json!({ "kill": kill, "note": note })),
        };
        db::audit::insert_audit(&mut *tx, &entry, now)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }

    async fn change_lock(&self) -> Result<Option<ChangeLock>, AppError> {
        Ok(self.holding_lock().await?)
    }

    #[tracing::instrument(skip(self), fields(actor = %actor.username))]
    async fn declare_change_lock(
        &self,
        actor: &CurrentUser,
        reason: &str,
        hours: u32,
    ) -> Result<(), AppError> {
        Ok(self.declare_lock(actor, reason, hours).await?)
    }

    #[tracing::instrument(skip(self), fields(actor = %actor.username))]
    async fn set_guardrail_mode(
        &self,
        actor: &CurrentUser,
        flag: &str,
        observe_only: bool,
    ) -> Result<(), AppError> {
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let now = self.clock.now();
        let loaded = self.lock(&mut tx, flag).await?;
        let id = loaded.row.id;
        let before = db::guardrail::observe_only(&mut *tx, id)
            .await
            .map_err(Error::from)?;
        if before != observe_only {
            db::guardrail::set_observe_only(&mut *tx, id, observe_only, &actor.username, now)
                .await
                .map_err(Error::from)?;
            db::audit::insert_audit(
                &mut *tx,
                &db::audit::AuditEntry {
                    actor: &actor.username,
                    action: "guardrail.mode_changed",
                    subject: subject(flag),
                    before: Some(serde_json::json!({ "observe_only": before })),
                    after: Some(serde_json::json!({ "observe_only": observe_only })),
                },
                now,
            )
            .await
            .map_err(Error::from)?;
        }
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }

    #[tracing::instrument(skip(self), fields(actor = %actor.username))]
    async fn lift_change_lock(&self, actor: &CurrentUser) -> Result<(), AppError> {
        Ok(self.lift_lock(actor).await?)
    }

    #[tracing::instrument(skip(self), fields(actor = %actor.username))]
    async fn flag_change(
        &self,
        actor: &CurrentUser,
        flag: &str,
        change: i64,
        step: FlagChangeStep,
    ) -> Result<(), AppError> {
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let now = self.clock.now();
        match step {
            FlagChangeStep::Confirm => self.confirm_in(&mut tx, actor, flag, change, now).await?,
            FlagChangeStep::Retry => self.retry_in(&mut tx, actor, flag, change, now).await?,
        }
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
}
