//! Demo migrations and demo users, loaded into an empty database so a newcomer sees a populated
//! dashboard and can sign in as every role.
//!
//! The migrations are not written as rows: each is rehearsed through the same write path people
//! use ([`PgMigrationService::apply_in`]), at past times, by the demo's people — so the stage
//! rows, check-ins, flag changes and audit trail are exactly what a real rollout leaves, and the
//! domain's rules (soaks, watched cadences, four eyes) hold for every one of them.

use app::api::{migration_form::MigrationForm, session::CurrentUser};
use chrono::{DateTime, TimeDelta, Utc};
use rollout::{Action, CheckItem, CheckOutcome, Role, Roles, Stage};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{PgConnection, PgPool};

use crate::{
    auth::{
        accounts::{self, NewAccount},
        password,
    },
    db::{self, migrations::any_exist, users::count_users},
    error::Error,
    flags::BackendKind,
    rollouts::{PgMigrationService, stored},
};

const fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

const fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

const fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

/// How a demo migration stands at the end of its rehearsal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Added, never started.
    NotStarted,
    /// In the stage, looked at on time until now.
    Watched,
    /// In the stage, its last look this long past due.
    Overdue(TimeDelta),
    /// In the stage, soak watched, checklist done, "Continue?" answered: ready to advance.
    Ready,
    /// Paused by a release manager, this long ago.
    Paused(TimeDelta),
    /// Killed this long ago: the flag is off where the trial ran.
    Killed(TimeDelta),
    /// The flag change into the stage was never confirmed.
    FlagChangePending,
    /// Through every stage and completed, this long ago.
    Completed(TimeDelta),
}

/// Something that happened on the way, to give the history page its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Detour {
    None,
    /// A release manager let the 5 % stage end early.
    SoakOverride,
    /// Paused for a while in the 50 % stage, then resumed.
    PauseAt50,
    /// Killed at 5 % and resumed from production's first step.
    KillAt5,
}

struct Demo {
    flag: &'static str,
    method: &'static str,
    owner: &'static str,
    /// The stage it ends in (for `Completed`, `done`).
    stage: &'static str,
    /// How long it has been in that stage.
    in_stage: TimeDelta,
    ending: Ending,
    detour: Detour,
}

#[rustfmt::skip]
const DEMO: [Demo; 17] = [
    Demo { flag: "gitaly_list_commits_by_oid_batch", method: "CommitService::ListCommitsByOid", owner: "erin", stage: "preparation",       in_stage: minutes(0),  ending: Ending::NotStarted,                detour: Detour::None },
    Demo { flag: "gitaly_user_merge_branch_hooks",   method: "OperationService::UserMergeBranch", owner: "erin", stage: "preparation",     in_stage: hours(3),    ending: Ending::Watched,                   detour: Detour::None },
    Demo { flag: "gitaly_find_all_tags_lazy",        method: "RefService::FindAllTags",         owner: "rob",  stage: "development",       in_stage: minutes(4),  ending: Ending::FlagChangePending,         detour: Detour::None },
    Demo { flag: "gitaly_search_files_by_name_v2",   method: "RepositoryService::SearchFilesByName", owner: "erin", stage: "staging",      in_stage: minutes(8),  ending: Ending::Watched,                   detour: Detour::None },
    Demo { flag: "gitaly_commit_stats_batched",      method: "CommitService::CommitStats",      owner: "rita", stage: "staging",           in_stage: minutes(25), ending: Ending::Ready,                     detour: Detour::None },
    Demo { flag: "gitaly_tree_entries_cache",        method: "CommitService::TreeEntries",      owner: "erin", stage: "production_check",  in_stage: minutes(40), ending: Ending::Watched,                   detour: Detour::None },
    Demo { flag: "gitaly_list_refs_pagination",      method: "RefService::ListRefs",            owner: "rob",  stage: "production_1",      in_stage: minutes(30), ending: Ending::Overdue(minutes(12)),      detour: Detour::None },
    Demo { flag: "gitaly_find_commit_v2",            method: "CommitService::FindCommit",       owner: "erin", stage: "production_5",      in_stage: minutes(75), ending: Ending::Watched,                   detour: Detour::None },
    Demo { flag: "gitaly_diff_stats_large",          method: "DiffService::DiffStats",          owner: "rita", stage: "production_5",      in_stage: minutes(60), ending: Ending::Paused(minutes(20)),       detour: Detour::None },
    Demo { flag: "gitaly_get_tree_entries_v3",       method: "CommitService::GetTreeEntries",   owner: "erin", stage: "production_5",      in_stage: minutes(50), ending: Ending::Killed(minutes(6)),        detour: Detour::None },
    Demo { flag: "gitaly_get_blob_streaming",        method: "BlobService::GetBlob",            owner: "rob",  stage: "production_50",     in_stage: hours(19),   ending: Ending::Watched,                   detour: Detour::None },
    Demo { flag: "gitaly_repository_size_du",        method: "RepositoryService::RepositorySize", owner: "erin", stage: "production_100",  in_stage: days(3),     ending: Ending::Watched,                   detour: Detour::None },
    Demo { flag: "gitaly_find_branch_v2",            method: "RefService::FindBranch",          owner: "erin", stage: "done",              in_stage: hours(2),    ending: Ending::Completed(days(4)),        detour: Detour::None },
    Demo { flag: "gitaly_get_blobs_batched",         method: "BlobService::GetBlobs",           owner: "rob",  stage: "done",              in_stage: hours(5),    ending: Ending::Completed(days(12)),       detour: Detour::SoakOverride },
    Demo { flag: "gitaly_list_files_paginated",      method: "RepositoryService::ListFiles",    owner: "rita", stage: "done",              in_stage: hours(1),    ending: Ending::Completed(days(19)),       detour: Detour::PauseAt50 },
    Demo { flag: "gitaly_commit_is_ancestor_graph",  method: "CommitService::CommitIsAncestor", owner: "erin", stage: "done",              in_stage: hours(3),    ending: Ending::Completed(days(27)),       detour: Detour::KillAt5 },
    Demo { flag: "gitaly_raw_blame_incremental",     method: "CommitService::RawBlame",         owner: "rob",  stage: "done",              in_stage: hours(6),    ending: Ending::Completed(days(40)),       detour: Detour::None },
];

/// Loads the demo migrations if the database has no migration at all; returns how many it added.
///
/// Replicas starting together race for this: an advisory lock held for the transaction makes one
/// of them load the data and the others see it is there. All of it lands, or none.
pub async fn load_if_empty(
    pool: &PgPool,
    service: &PgMigrationService,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('rampart.demo_data'))")
        .execute(&mut *tx)
        .await?;
    if any_exist(&mut *tx).await? {
        return Ok(0);
    }
    for (index, demo) in DEMO.iter().enumerate() {
        Rehearsal::new(service, &mut tx, demo, index, now)
            .run()
            .await?;
    }
    // The regressing demo keeps running for people to look at: its guardrail judges it, shows
    // why, and says what it would have done.
    let regressing = service
        .read_in(&mut tx, crate::observability::demo::REGRESSING_FLAG)
        .await?;
    db::guardrail::set_observe_only(&mut *tx, regressing.row.id, true, "[demo]", now).await?;
    tx.commit().await?;
    Ok(DEMO.len())
}

fn person(username: &str, role: Role) -> CurrentUser {
    CurrentUser {
        id: 0,
        username: username.to_owned(),
        display_name: username.to_owned(),
        roles: Roles::from(role),
    }
}

/// One demo migration played out at past times.
struct Rehearsal<'a> {
    service: &'a PgMigrationService,
    tx: &'a mut PgConnection,
    demo: &'a Demo,
    /// Distinguishes the demo's issue numbers.
    number: usize,
    /// The rehearsal's clock: never past `end`.
    at: DateTime<Utc>,
    end: DateTime<Utc>,
    engineer: CurrentUser,
    approver: CurrentUser,
    /// Whether the operator confirms flag changes (all but the last of one demo).
    confirming: bool,
}

impl<'a> Rehearsal<'a> {
    fn new(
        service: &'a PgMigrationService,
        tx: &'a mut PgConnection,
        demo: &'a Demo,
        number: usize,
        now: DateTime<Utc>,
    ) -> Self {
        let end = match demo.ending {
            Ending::Completed(ago) => now - ago,
            _ => now,
        };
        let approver = if demo.owner == "rita" { "rob" } else { "rita" };
        Rehearsal {
            service,
            tx,
            demo,
            number,
            at: end,
            end,
            engineer: person(demo.owner, Role::Engineer),
            approver: person(approver, Role::ReleaseManager),
            confirming: true,
        }
    }

    fn form(&self) -> MigrationForm {
        MigrationForm {
            feature_flag: self.demo.flag.to_owned(),
            grpc_method: self.demo.method.to_owned(),
            gitaly_version: "v18.2.0".to_owned(),
            gitlab_version: "v18.2".to_owned(),
            routes:
                "GET /:namespace/:project/-/tree/:ref\nGET /api/v4/projects/:id/repository/tree"
                    .to_owned(),
            acceptance_issue: format!(
                "https://gitlab.com/gitlab-org/gitaly/-/issues/{}",
                4800 + self.number
            ),
            conversation: format!("#{}", 2200 + self.number),
            // Blank: the owner is whoever adds it, the demo's engineer — who need not have an
            // account yet (the demo people are made separately).
            owner: String::new(),
            production_steps: String::new(),
        }
    }

    async fn run(mut self) -> Result<(), Error> {
        let plan = rollout::Plan::gitaly_default();
        let (target, _) = plan
            .stage_by_key(self.demo.stage)
            .ok_or_else(|| Error::Demo(format!("no stage {}", self.demo.stage)))?;
        // Start early enough for every stage before the target to run its soak (and some).
        let detours = match self.demo.detour {
            Detour::None | Detour::SoakOverride => TimeDelta::zero(),
            Detour::PauseAt50 => hours(2),
            Detour::KillAt5 => days(1),
        };
        let budget: TimeDelta = plan.stages()[..target]
            .iter()
            .map(|stage| stage.soak + minutes(40))
            .sum::<TimeDelta>()
            + detours;
        self.at = self.end - self.demo.in_stage - budget - hours(1);
        let engineer = self.engineer.clone();
        self.service
            .create_in(self.tx, &engineer, &self.form(), self.at)
            .await?;
        if self.demo.ending == Ending::NotStarted {
            return Ok(());
        }
        self.wait(minutes(30));
        self.act(&engineer, Action::Start { deployed: None })
            .await?;
        while self.stage_index().await? < target {
            let last = self.stage_index().await? + 1 == target;
            self.finish_stage(last).await?;
        }
        self.end_in_target().await
    }

    async fn loaded(&mut self) -> Result<stored::Loaded, Error> {
        self.service.read_in(self.tx, self.demo.flag).await
    }

    async fn stage_index(&mut self) -> Result<usize, Error> {
        Ok(self.loaded().await?.state.stage_index().unwrap_or(0))
    }

    async fn stage(&mut self) -> Result<Stage, Error> {
        let loaded = self.loaded().await?;
        loaded
            .state
            .current_stage(&loaded.migration.plan)
            .cloned()
            .ok_or_else(|| Error::Demo(format!("{} has no current stage", self.demo.flag)))
    }

    fn wait(&mut self, by: TimeDelta) {
        self.at = (self.at + by).min(self.end);
    }

    /// Applies `action`, then confirms the flag changes it asked for, as the operator would.
    async fn act(&mut self, who: &CurrentUser, action: Action) -> Result<(), Error> {
        self.service
            .apply_in(self.tx, who, self.demo.flag, None, action, self.at)
            .await?;
        if self.confirming {
            self.confirm_flag_changes(who).await?;
        }
        Ok(())
    }

    /// Applies the flag changes `who` asked for as they were then: by hand with manual flags,
    /// by Rampart otherwise (the demo's own flag store holds the result).
    async fn confirm_flag_changes(&mut self, who: &CurrentUser) -> Result<(), Error> {
        let id = self.loaded().await?.row.id;
        for change in db::flag_changes::fetch_unsettled(&mut *self.tx, id).await? {
            self.wait(minutes(1));
            if change.backend == BackendKind::Manual.as_str() {
                self.service
                    .confirm_in(self.tx, who, self.demo.flag, change.id, self.at)
                    .await?;
                continue;
            }
            if change.backend == BackendKind::Local.as_str() {
                let flag = self.demo.flag;
                db::local_flags::set(
                    &mut *self.tx,
                    flag,
                    &change.environment,
                    &change.value,
                    self.at,
                )
                .await?;
            }
            self.service
                .settle_in(self.tx, self.demo.flag, change.id, &change.backend, self.at)
                .await?;
        }
        Ok(())
    }

    async fn check(&mut self, item: CheckItem, outcome: CheckOutcome) -> Result<(), Error> {
        let engineer = self.engineer.clone();
        self.act(
            &engineer,
            Action::CheckIn {
                item,
                outcome,
                note: None,
            },
        )
        .await
    }

    /// Looks at the dashboards at the stage's cadence until `until`, the last look at most one
    /// interval before it.
    async fn watch_until(&mut self, until: DateTime<Utc>) -> Result<(), Error> {
        let until = until.min(self.end);
        let Some(interval) = self.stage().await?.cadence.interval() else {
            self.at = self.at.max(until);
            return Ok(());
        };
        let step = interval - minutes(1);
        while self.at + step <= until {
            self.wait(step);
            self.check(CheckItem::GrafanaChecked, CheckOutcome::Checked)
                .await?;
        }
        self.at = self.at.max(until);
        Ok(())
    }

    /// Everything on the checklist but the decision, then (where asked) "Continue?" — once the
    /// soak has been watched through.
    async fn complete_stage(&mut self) -> Result<(), Error> {
        let stage = self.stage().await?;
        let started = self.at;
        self.watch_until(started + stage.soak).await?;
        self.check_everything(&stage).await
    }

    async fn check_everything(&mut self, stage: &Stage) -> Result<(), Error> {
        let state = self.loaded().await?.state;
        let done = |item: CheckItem| state.check_ins().iter().any(|c| c.item == item);
        for item in stage.checklist.iter().copied() {
            if item != CheckItem::ContinueDecision && !done(item) {
                self.check(item, CheckOutcome::Checked).await?;
            }
        }
        if stage.checklist.contains(&CheckItem::ContinueDecision) {
            self.wait(minutes(2));
            self.check(CheckItem::ContinueDecision, CheckOutcome::Continue)
                .await?;
        }
        Ok(())
    }

    /// A release manager ends the stage before its soak, with a reason.
    async fn override_soak(&mut self) -> Result<(), Error> {
        let stage = self.stage().await?;
        let started = self.at;
        self.watch_until(started + minutes(50)).await?;
        let approver = self.approver.clone();
        let reason = "same code path as gitaly_get_blob_v2, which ran a week at 5 %".to_owned();
        self.act(&approver, Action::OverrideSoak { reason }).await?;
        self.check_everything(&stage).await
    }

    /// Completes the current stage and moves on; `last`: the next stage is the target, entered
    /// `in_stage` before the end.
    async fn finish_stage(&mut self, last: bool) -> Result<(), Error> {
        let key = self.stage().await?.key.to_string();
        if self.demo.detour == Detour::SoakOverride && key == "production_5" {
            self.override_soak().await?;
        } else {
            self.complete_stage().await?;
        }
        self.detour_in_stage(&key).await?;
        if last {
            self.confirming = self.demo.ending != Ending::FlagChangePending;
            let entry = self.end - self.demo.in_stage;
            self.watch_until(entry - minutes(2)).await?;
        }
        self.wait(minutes(2));
        self.enter_next().await
    }

    /// Advances, with the four-eyes request first when the next stage changes production.
    async fn enter_next(&mut self) -> Result<(), Error> {
        let loaded = self.loaded().await?;
        let index = loaded.state.stage_index().unwrap_or(0);
        let next = loaded.migration.plan.stage(index + 1).cloned();
        let (engineer, approver) = (self.engineer.clone(), self.approver.clone());
        if let Some(next) = next.filter(|n| n.production_percent().is_some()) {
            let issue = next.requires_infrastructure_issue().then(|| {
                format!(
                    "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/{}",
                    17000 + self.number
                )
            });
            self.act(
                &engineer,
                Action::RequestProductionChange {
                    reason: "the dashboards are quiet at this percentage".to_owned(),
                    infrastructure_issue: issue,
                    deployed: None,
                },
            )
            .await?;
            self.act(&approver, Action::Approve).await?;
        }
        self.act(&engineer, Action::Advance { deployed: None })
            .await
    }

    /// The history page's variety: an override, a pause, a kill.
    async fn detour_in_stage(&mut self, key: &str) -> Result<(), Error> {
        let (engineer, approver) = (self.engineer.clone(), self.approver.clone());
        match (self.demo.detour, key) {
            (Detour::PauseAt50, "production_50") => {
                self.act(
                    &approver,
                    Action::Pause {
                        reason: Some("holding over the weekend".to_owned()),
                    },
                )
                .await?;
                self.wait(hours(1));
                self.act(&approver, Action::Resume { deployed: None })
                    .await?;
                let started = self.at;
                self.watch_until(started + minutes(30)).await?;
            }
            (Detour::KillAt5, "production_5") => {
                self.act(
                    &engineer,
                    Action::Disable {
                        reason: Some("error rate up on gitaly-02".to_owned()),
                        everywhere: false,
                    },
                )
                .await?;
                self.wait(hours(20));
                self.act(
                    &engineer,
                    Action::RequestProductionChange {
                        reason: "the dashboards are quiet at this percentage".to_owned(),
                        infrastructure_issue: Some(format!(
                            "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/{}",
                            18000 + self.number
                        )),
                        deployed: None,
                    },
                )
                .await?;
                self.act(&approver, Action::Approve).await?;
                let deployed = crate::rollouts::deployments::Demo::versions();
                self.act(&engineer, Action::Resume { deployed }).await?;
                // Back in at 1 %: through it again.
                self.complete_stage().await?;
                self.wait(minutes(2));
                self.enter_next().await?;
                self.complete_stage().await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// How the migration stands at the end: see [`Ending`].
    async fn end_in_target(&mut self) -> Result<(), Error> {
        let engineer = self.engineer.clone();
        let approver = self.approver.clone();
        let stage = self.stage().await?;
        let interval = stage.cadence.interval().unwrap_or(minutes(5));
        match self.demo.ending {
            Ending::NotStarted => {}
            Ending::Watched => {
                if stage.key.as_str() == "preparation" {
                    self.wait(minutes(20));
                    self.check(CheckItem::RoutesListed, CheckOutcome::Checked)
                        .await?;
                }
                self.watch_until(self.end).await?;
            }
            Ending::Overdue(late) => {
                self.watch_until(self.end - late - interval).await?;
            }
            Ending::Ready => {
                self.complete_stage().await?;
                self.watch_until(self.end).await?;
            }
            Ending::Paused(ago) => {
                self.watch_until(self.end - ago).await?;
                self.act(
                    &approver,
                    Action::Pause {
                        reason: Some("waiting for the 18.6 deployment to settle".to_owned()),
                    },
                )
                .await?;
                self.watch_until(self.end).await?;
            }
            Ending::Killed(ago) => {
                self.watch_until(self.end - ago).await?;
                self.check(CheckItem::KibanaErrorsInspected, CheckOutcome::Checked)
                    .await?;
                self.act(
                    &engineer,
                    Action::Disable {
                        reason: Some("error rate 4 % on the new path".to_owned()),
                        everywhere: false,
                    },
                )
                .await?;
            }
            Ending::FlagChangePending => {
                // The advance into this stage asked for the flag change; nobody ran it yet.
                let id = self.loaded().await?.row.id;
                let pending = db::flag_changes::fetch_unsettled(&mut *self.tx, id).await?;
                if pending.is_empty() {
                    return Err(Error::Demo(format!(
                        "{}: no pending flag change",
                        self.demo.flag
                    )));
                }
            }
            Ending::Completed(_) => {
                self.complete_stage().await?;
                self.act(&engineer, Action::Complete).await?;
            }
        }
        Ok(())
    }
}

/// The demo's people: one for each role, and a second release manager so that one can approve
/// the other's production change. Username, name, roles.
const DEMO_USERS: [(&str, &str, &[Role]); 6] = [
    ("vera", "Vera Viewer", &[Role::Viewer]),
    ("erin", "Erin Engineer", &[Role::Engineer]),
    ("rita", "Rita Release-Manager", &[Role::ReleaseManager]),
    ("rob", "Rob Release-Manager", &[Role::ReleaseManager]),
    ("mona", "Mona Manager", &[Role::Manager]),
    ("adam", "Adam Admin", &[Role::Admin]),
];

/// In demo mode, creates the demo users when there are no users at all, and prints their
/// passwords once, to the terminal that started Rampart (not to the log). With
/// `RAMPART_DEMO_PASSWORD` set they all get that one instead, for scripted tests.
pub async fn create_users_if_none(
    pool: &PgPool,
    fixed_password: Option<&SecretString>,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('rampart.demo_users'))")
        .execute(&mut *tx)
        .await?;
    if count_users(&mut *tx).await? > 0 {
        return Ok(());
    }
    let mut printed = Vec::new();
    for (username, name, roles) in DEMO_USERS {
        let password = match fixed_password {
            Some(password) => password.expose_secret().to_owned(),
            None => password::generate()?,
        };
        let roles = Roles::new(roles.iter().copied());
        let account = NewAccount {
            username,
            display_name: name,
            password: &password,
            roles: &roles,
        };
        // In the one transaction: all the demo users, or none (and so another try next start).
        accounts::create(&mut tx, &account, "[demo]").await?;
        printed.push(format!(
            "  {username:<6} {:<16} {password}",
            roles_text(&roles)
        ));
    }
    tx.commit().await?;
    if fixed_password.is_none() {
        println!(
            "Demo users (their passwords are shown this once):\n{}",
            printed.join("\n")
        );
    }
    Ok(())
}

fn roles_text(roles: &Roles) -> String {
    roles.iter().map(Role::as_str).collect::<Vec<_>>().join(",")
}
