//! Shared fixtures of the integration tests: a sample migration, people, times, versions, and a
//! driver that walks a migration through its plan the way a careful team would.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rollout::{
    Action, Actor, CheckItem, CheckOutcome, DeployedVersions, Event, Migration, MigrationIdentity,
    MigrationState, Plan, RawIdentity, Refusal, Role, Transition, Version, apply,
};

pub fn raw_identity() -> RawIdentity {
    RawIdentity {
        feature_flag: "gitaly_find_commit_v2".into(),
        grpc_method: "CommitService::FindCommit".into(),
        gitaly_version: "v16.3.2".into(),
        gitlab_version: "v16.3".into(),
        routes: vec!["GET /api/v4/projects/:id/repository/commits/:sha".into()],
        acceptance_issue: "https://gitlab.com/gitlab-org/gitaly/issues/1234".into(),
        conversation: "#567".into(),
    }
}

pub fn identity() -> MigrationIdentity {
    MigrationIdentity::parse(&raw_identity()).unwrap_or_else(|e| panic!("sample identity: {e}"))
}

pub fn migration(plan: Plan) -> Migration {
    Migration {
        identity: identity(),
        plan,
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 4, 9, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("valid date"))
}

pub fn version(text: &str) -> Version {
    Version::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Versions that satisfy the sample requirements (Gitaly v16.3.2, GitLab v16.3).
pub fn good_versions() -> DeployedVersions {
    DeployedVersions {
        gitaly: version("v16.3.2"),
        gitlab: version("16.3.0-ee"),
    }
}

pub fn old_versions() -> DeployedVersions {
    DeployedVersions {
        gitaly: version("16.3.1"),
        gitlab: version("16.2.5-ee"),
    }
}

pub fn alice() -> Actor {
    Actor::new("alice", Role::Engineer)
}
pub fn bob() -> Actor {
    Actor::new("bob", Role::Engineer)
}
pub fn carol() -> Actor {
    Actor::new("carol", Role::ReleaseManager)
}
pub fn dave() -> Actor {
    Actor::new("dave", Role::ReleaseManager)
}
pub fn victor() -> Actor {
    Actor::new("victor", Role::Viewer)
}

/// A migration being driven, with its clock.
pub struct Run {
    pub migration: Migration,
    pub state: MigrationState,
    pub now: DateTime<Utc>,
    pub events: Vec<Event>,
}

impl Run {
    pub fn new(plan: Plan) -> Run {
        Run {
            migration: migration(plan),
            state: MigrationState::new(),
            now: t0(),
            events: Vec::new(),
        }
    }

    pub fn try_apply(&mut self, actor: &Actor, action: Action) -> Result<Transition, Refusal> {
        let result = apply(&self.state, &self.migration, actor, &action, self.now);
        if let Ok(transition) = &result {
            self.state = transition.state.clone();
            self.events.extend(transition.events.iter().cloned());
        }
        result
    }

    /// Apply an action that must be allowed.
    pub fn ok(&mut self, actor: &Actor, action: Action) -> Transition {
        let shown = format!("{action:?}");
        self.try_apply(actor, action)
            .unwrap_or_else(|refusal| panic!("{shown} was refused: {refusal}"))
    }

    /// Apply an action that must be refused; the state must not change.
    pub fn refused(&mut self, actor: &Actor, action: Action) -> Refusal {
        let before = self.state.clone();
        let shown = format!("{action:?}");
        let refusal = self
            .try_apply(actor, action)
            .err()
            .unwrap_or_else(|| panic!("{shown} was allowed"));
        assert_eq!(self.state, before, "a refusal changes nothing");
        refusal
    }

    pub fn wait(&mut self, duration: TimeDelta) {
        self.now += duration;
    }

    /// Check in every item of the current stage, answering "Continue?" with continue.
    pub fn check_everything(&mut self, actor: &Actor) {
        let Some(stage) = self.state.current_stage(&self.migration.plan).cloned() else {
            panic!("not started");
        };
        for item in stage.checklist {
            if self.state.check_ins().iter().any(|c| c.item == item) {
                continue;
            }
            let outcome = if item == CheckItem::ContinueDecision {
                CheckOutcome::Continue
            } else {
                CheckOutcome::Checked
            };
            self.ok(
                actor,
                Action::CheckIn {
                    item,
                    outcome,
                    note: None,
                },
            );
        }
    }

    /// Wait out the soak, checking in at the stage's cadence, then check everything.
    pub fn soak_and_check(&mut self, actor: &Actor) {
        let Some(clock) = self.state.clock(&self.migration.plan, self.now) else {
            panic!("not started");
        };
        let step = self
            .state
            .current_stage(&self.migration.plan)
            .and_then(|s| s.cadence.interval())
            .unwrap_or(clock.soak_remaining);
        let mut remaining = clock.soak_remaining;
        while remaining > TimeDelta::zero() {
            let slice = step.min(remaining);
            self.wait(slice);
            remaining -= slice;
            self.ok(
                actor,
                Action::CheckIn {
                    item: CheckItem::GrafanaChecked,
                    outcome: CheckOutcome::Checked,
                    note: None,
                },
            );
        }
        self.check_everything(actor);
    }

    /// Walk one stage forward the proper way: soak, checks, approval when production changes.
    pub fn advance_properly(&mut self) {
        let plan = self.migration.plan.clone();
        let Some(index) = self.state.stage_index() else {
            panic!("not started");
        };
        let current = plan.stages()[index].clone();
        if current.flag().is_some() {
            self.soak_and_check(&alice());
        } else {
            self.check_everything(&alice());
        }
        let next = &plan.stages()[index + 1];
        if next.production_percent().is_some() {
            let issue = next
                .requires_infrastructure_issue()
                .then(|| "https://gitlab.com/gitlab-com/infrastructure/issues/99".to_owned());
            self.ok(
                &alice(),
                Action::RequestProductionChange {
                    reason: "the dashboards are quiet".to_owned(),
                    infrastructure_issue: issue,
                    deployed: None,
                },
            );
            self.ok(&carol(), Action::Approve);
        }
        self.ok(
            &alice(),
            Action::Advance {
                deployed: Some(good_versions()),
            },
        );
    }

    /// Start and walk until the current stage is `index`.
    pub fn drive_to(&mut self, index: usize) {
        if self.state.stage_index().is_none() {
            self.ok(
                &alice(),
                Action::Start {
                    deployed: Some(good_versions()),
                },
            );
        }
        while self.state.stage_index().is_some_and(|i| i < index) {
            self.advance_properly();
        }
    }
}
