//! The stage machine: pure transitions from (state, action, actor, now) to a new state plus the
//! events to record, or a typed [`Refusal`] that explains itself.
//!
//! The rules, in one place:
//! - Who may take which action is [`crate::access`]'s rule: viewers change nothing; approve,
//!   reject, soak override and resuming at the last healthy percentage take a release manager.
//! - A stage is left only when [`advance_blockers`] is empty, and `Advance` refuses with the first
//!   blocker: the migration is active (not paused); every checklist item has a check-in; the soak
//!   was *watched* — with no lapse between the stage's start and now (see [`crate::timing`]) —
//!   unless a release manager overrode it with a reason; the last "Continue?" was answered after
//!   the soak ended (or after the override); and, when the next stage changes production, a
//!   request for it was approved by a release manager who is not the requester (the initial
//!   production step also needs the infrastructure issue).
//! - Versions gate trials: no entry into a trial in an environment whose deployed Gitaly or GitLab
//!   is below the requirement (checked on every entry, not only the first: a deployment can be
//!   rolled back between two stages), and a version-check stage is left only once its
//!   environment's versions meet them. Entering a version check needs nothing: checking is its job.
//! - The kill switch (`Disable`) is the template's "disable trial immediately". It is never
//!   refused to an engineer, from any status and on any state. It turns the flag off where the
//!   trial runs — the furthest environment whose flag is on, so production once the production
//!   ramp has begun — or everywhere when asked, forgets any pending approval, and holds the
//!   migration `Disabled` at its stage. Answering "Continue?" with stop does the same.
//! - `Resume` after a kill re-enters the stopped trial: in production its first step, once a
//!   request for it is approved by a release manager who did not make it, or — that release
//!   manager's call, with a reason — the last percentage below the killed one; in staging or
//!   development the stage it was stopped in. When the required versions changed since the kill,
//!   the new implementation starts again at the first trial. See [`reentry_stage`].
//! - Every other action is refused on a stored state that could not have come from this plan
//!   ([`MigrationState::validate`]): above all, a running migration remembers its stage's key, so
//!   a plan edited under it never silently moves it to another stage.
//!
//! Events say what happened, not who or when: the caller records each with the actor and `now`
//! it passed in. `FlagChange` events are the flag writes the server must perform.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::access::{Permission, Role, Roles};
use crate::checklist::{CheckIn, CheckItem, CheckOutcome, Look, LookSource};
use crate::guardrail::Verdict;
use crate::identity::{InfrastructureIssue, MigrationIdentity};
use crate::plan::{Environment, FlagValue, Plan, Stage, StageKey, StageKind, StageRef};
use crate::refusal::{LabelledItem, Refusal, SoakShortfall, StateError, VersionGate};
use crate::timing::{self, StageClock};
use crate::version::{DeployedVersions, VersionRequirements};

/// Who is acting, with the roles they hold. The caller has authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub username: String,
    pub roles: Roles,
}

impl Actor {
    pub fn new(username: impl Into<String>, roles: impl Into<Roles>) -> Actor {
        Actor {
            username: username.into(),
            roles: roles.into(),
        }
    }

    fn name(&self) -> String {
        self.username.trim().to_owned()
    }
}

/// Usernames compare without case (GitLab's usernames are case-insensitive), so `Alice` cannot
/// approve `alice`'s request.
fn same_person(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Whether `actor` may approve a production change `requested_by` asked for: a release manager
/// (or above), and not the requester.
pub fn may_approve(actor: &Actor, requested_by: &str) -> bool {
    actor
        .roles
        .allows(crate::Permission::Act(ActionKind::Approve))
        && !same_person(&actor.username, requested_by)
}

/// A migration as the machine needs it: who it is (for version requirements and routes) and its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub identity: MigrationIdentity,
    pub plan: Plan,
}

/// Where the migration is in its life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Status {
    NotStarted,
    Active,
    /// Held at the current stage: no advance. The flag stays as it is, so check-ins go on.
    Paused,
    /// Killed: the flag is off where the trial ran (see [`Kill`]), and the migration is held at
    /// its stage. Only `Resume` leaves this status, re-entering the stopped trial.
    Disabled,
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// "not started", "paused": the status in words.
    pub fn phrase(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Disabled => "disabled",
            Status::Completed => "completed",
        }
    }

    pub(crate) fn hint(self) -> &'static str {
        match self {
            Status::NotStarted => " Start it first.",
            Status::Active => "",
            Status::Paused => " Resume it first.",
            Status::Disabled => " Resume it to run the stopped trial again.",
            Status::Completed => " It is finished.",
        }
    }
}

/// The flag's setting in each environment, as Rampart last set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagStates {
    pub development: FlagValue,
    pub staging: FlagValue,
    pub production: FlagValue,
}

impl Default for FlagStates {
    fn default() -> FlagStates {
        FlagStates {
            development: FlagValue::Off,
            staging: FlagValue::Off,
            production: FlagValue::Off,
        }
    }
}

impl FlagStates {
    pub fn get(&self, environment: Environment) -> FlagValue {
        match environment {
            Environment::Development => self.development,
            Environment::Staging => self.staging,
            Environment::Production => self.production,
        }
    }

    fn set(&mut self, environment: Environment, value: FlagValue) {
        match environment {
            Environment::Development => self.development = value,
            Environment::Staging => self.staging = value,
            Environment::Production => self.production = value,
        }
    }
}

/// A release manager's yes to a production change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    /// The approver's role when they approved; checked again before production changes.
    pub role: Role,
    pub at: DateTime<Utc>,
}

/// A request to move production to the next stage's percentage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionChangeRequest {
    /// The stage the change enters.
    pub stage: StageRef,
    pub percent: u8,
    /// The requester's reason (empty in requests made before reasons were asked for).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_issue: Option<InfrastructureIssue>,
    /// The versions deployed when it was asked for, which met the requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<DeployedVersions>,
    /// What the stage still asked when the request was made, in the domain's sentences; empty
    /// when the soak, the checks and the decision were all done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outstanding: Vec<String>,
    /// The migration's required versions when it was asked for: an edit of them voids it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements: Option<VersionRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// The record of a kill: what was stopped, so that resuming knows what to re-enter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kill {
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the flag was turned off.
    pub environments: Vec<Environment>,
    /// The flags just before the kill: what the trial was serving when it was stopped.
    pub flags_before: FlagStates,
    /// The migration's version requirements at the kill. Different ones at the resume mean a
    /// new implementation, which runs the development and staging trials again.
    pub requirements: VersionRequirements,
}

/// A release manager's decision to let the current stage end before its soak.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoakOverride {
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Where a started migration stands within its current stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePosition {
    pub index: usize,
    /// The key of stage `index` when it was entered. If the plan's stage at `index` has another
    /// key now, the plan was edited under the migration and the state no longer fits it.
    pub key: StageKey,
    pub started_at: DateTime<Utc>,
    /// Check-ins of this stage only, oldest first.
    pub check_ins: Vec<CheckIn>,
    /// Looks by automation (the guardrail's evaluations that had data), oldest first. People's
    /// looks are their check-ins; see [`StagePosition::looks`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub automated_looks: Vec<Look>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_override: Option<SoakOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_change: Option<ProductionChangeRequest>,
    /// The guardrail's standing on this stage, as of its last change of verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<GuardrailStanding>,
}

/// What the guardrail last concluded about a stage, kept when the verdict changes: a stage the
/// guardrail could not judge, or found regressed, is not left on its word alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailStanding {
    pub verdict: Verdict,
    pub at: DateTime<Utc>,
    /// Why, in the guardrail's words: the failing signals, or what it lacked.
    pub summary: String,
}

impl StagePosition {
    /// Every look at this stage, people's check-ins and automation's, oldest first.
    pub fn looks(&self) -> Vec<Look> {
        let mut looks: Vec<Look> = self
            .check_ins
            .iter()
            .filter_map(CheckIn::as_look)
            .chain(self.automated_looks.iter().cloned())
            .collect();
        looks.sort_by_key(|look| look.at);
        looks
    }
}

/// A migration's state. Change it only through [`apply`]; store it as JSON, and check it with
/// [`MigrationState::validate`] when reading it back if you use it other than through [`apply`]
/// (which checks it itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationState {
    status: Status,
    /// `None` until the start. Kept when disabled: the migration is held where the kill happened.
    position: Option<StagePosition>,
    flags: FlagStates,
    /// Set while `Disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kill: Option<Kill>,
}

impl Default for MigrationState {
    fn default() -> MigrationState {
        MigrationState::new()
    }
}

impl MigrationState {
    pub fn new() -> MigrationState {
        MigrationState {
            status: Status::NotStarted,
            position: None,
            flags: FlagStates::default(),
            kill: None,
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }
    pub fn position(&self) -> Option<&StagePosition> {
        self.position.as_ref()
    }
    pub fn stage_index(&self) -> Option<usize> {
        self.position.as_ref().map(|p| p.index)
    }
    pub fn stage_key(&self) -> Option<&StageKey> {
        self.position.as_ref().map(|p| &p.key)
    }
    /// The current stage, if started and the stage at the position still has the stored key.
    pub fn current_stage<'p>(&self, plan: &'p Plan) -> Option<&'p Stage> {
        let position = self.position.as_ref()?;
        plan.stage(position.index)
            .filter(|stage| stage.key == position.key)
    }
    pub fn flags(&self) -> FlagStates {
        self.flags
    }
    pub fn check_ins(&self) -> &[CheckIn] {
        self.position.as_ref().map_or(&[], |p| &p.check_ins)
    }
    pub fn production_change(&self) -> Option<&ProductionChangeRequest> {
        self.position.as_ref()?.production_change.as_ref()
    }
    pub fn soak_override(&self) -> Option<&SoakOverride> {
        self.position.as_ref()?.soak_override.as_ref()
    }
    /// What the kill switch stopped, while `Disabled`.
    pub fn kill(&self) -> Option<&Kill> {
        self.kill.as_ref()
    }

    /// The latest answer to "Continue?" in this stage.
    pub fn last_decision(&self) -> Option<&CheckIn> {
        last_decision(self.check_ins())
    }

    /// Checklist items of `stage` with no check-in yet, in checklist order.
    pub fn missing_items(&self, stage: &Stage) -> Vec<CheckItem> {
        missing_items(stage, self.check_ins())
    }

    /// The current stage's clock, if started and the state fits the plan.
    pub fn clock(&self, plan: &Plan, now: DateTime<Utc>) -> Option<StageClock> {
        let position = self.position.as_ref()?;
        let stage = self.current_stage(plan)?;
        Some(StageClock::new(
            stage,
            position.started_at,
            &position.looks(),
            now,
        ))
    }

    /// Whether this state could have come from [`apply`] under `plan`. A state read back from
    /// storage can fail when its row was edited by hand or — the case that matters — when the
    /// plan was changed under a running migration: the stage at the stored index must still have
    /// the stored key.
    pub fn validate(&self, plan: &Plan) -> Result<(), StateError> {
        match self.status {
            Status::NotStarted => {
                if self.position.is_some() {
                    return Err(StateError::PositionBeforeStart);
                }
                match Environment::all().find(|e| self.flags.get(*e) != FlagValue::Off) {
                    Some(environment) => Err(StateError::FlagOnWhileStopped {
                        status: self.status,
                        environment,
                        value: self.flags.get(environment),
                    }),
                    None => Ok(()),
                }
            }
            Status::Disabled => {
                if self.position.is_none() {
                    return Err(StateError::NoCurrentStage {
                        status: self.status,
                    });
                }
                let kill = self.kill.as_ref().ok_or(StateError::KillNotRecorded)?;
                if let Some(&environment) = kill
                    .environments
                    .iter()
                    .find(|e| self.flags.get(**e) != FlagValue::Off)
                {
                    return Err(StateError::FlagOnWhereKilled {
                        environment,
                        value: self.flags.get(environment),
                    });
                }
                // A disabled migration's stage need not fit the plan any more: resuming finds its
                // way back from the plan (the plan may be changed after a kill, to add a step, say).
                // Where it still fits, the kill left each other environment as the stage runs it.
                let Ok((index, stage)) = self.fitting_stage(plan) else {
                    return Ok(());
                };
                let expected = flags_at(plan, index);
                self.flags_match(
                    stage,
                    index,
                    |e, found| found == expected.get(e) || found == FlagValue::Off,
                    expected,
                )
            }
            Status::Active | Status::Paused | Status::Completed => {
                let (index, stage) = self.fitting_stage(plan)?;
                if self.status == Status::Completed && !stage.is_done() {
                    return Err(StateError::CompletedBeforeLastStage {
                        stage: stage.reference(index),
                    });
                }
                // Answering stop disables the trial at once, so a running stage never holds one.
                if self
                    .last_decision()
                    .is_some_and(|c| c.outcome == CheckOutcome::Stop)
                {
                    return Err(StateError::StopNotActedOn {
                        stage: stage.reference(index),
                    });
                }
                let expected = flags_at(plan, index);
                self.flags_match(stage, index, |e, found| found == expected.get(e), expected)
            }
        }
    }

    /// The stage the position names, if it is in the plan with the stored key.
    fn fitting_stage<'p>(&self, plan: &'p Plan) -> Result<(usize, &'p Stage), StateError> {
        let position = self.position.as_ref().ok_or(StateError::NoCurrentStage {
            status: self.status,
        })?;
        let stage = plan
            .stage(position.index)
            .ok_or(StateError::StageOutOfRange {
                index: position.index,
                stages: plan.len(),
            })?;
        if stage.key != position.key {
            return Err(StateError::StageKeyMismatch {
                index: position.index,
                stored: position.key.clone(),
                planned: stage.key.clone(),
            });
        }
        Ok((position.index, stage))
    }

    fn flags_match(
        &self,
        stage: &Stage,
        index: usize,
        fits: impl Fn(Environment, FlagValue) -> bool,
        expected: FlagStates,
    ) -> Result<(), StateError> {
        match Environment::all().find(|e| !fits(*e, self.flags.get(*e))) {
            Some(environment) => Err(StateError::FlagDoesNotMatchStage {
                stage: stage.reference(index),
                environment,
                expected: expected.get(environment),
                found: self.flags.get(environment),
            }),
            None => Ok(()),
        }
    }
}

/// The flags of a migration at stage `index`: each trial entered so far set its own.
fn flags_at(plan: &Plan, index: usize) -> FlagStates {
    let mut flags = FlagStates::default();
    for (environment, value) in plan.stages().iter().take(index + 1).filter_map(Stage::flag) {
        flags.set(environment, value);
    }
    flags
}

/// Whether `events` send more calls to the new implementation somewhere than `before` did: what
/// a change lock forbids (turning a flag down or off is always allowed).
pub fn raises_exposure(before: FlagStates, events: &[Event]) -> bool {
    events.iter().any(|event| match event {
        Event::FlagChange { environment, value } => {
            value.serving_percentage() > before.get(*environment).serving_percentage()
        }
        _ => false,
    })
}

/// Where a trial runs with these flags: the furthest environment whose flag is on. `None` when
/// the flag is off everywhere.
pub fn trial_environment(flags: FlagStates) -> Option<Environment> {
    Environment::all()
        .rev()
        .find(|e| flags.get(*e) != FlagValue::Off)
}

/// Share of calls in `environment` that reach the new implementation (0–100).
pub fn serving_percentage(state: &MigrationState, environment: Environment) -> u8 {
    state.flags.get(environment).serving_percentage()
}

fn last_decision(check_ins: &[CheckIn]) -> Option<&CheckIn> {
    check_ins
        .iter()
        .rfind(|c| c.item == CheckItem::ContinueDecision)
}

fn missing_items(stage: &Stage, check_ins: &[CheckIn]) -> Vec<CheckItem> {
    stage
        .checklist
        .iter()
        .copied()
        .filter(|item| !check_ins.iter().any(|c| c.item == *item))
        .collect()
}

/// What a production change request brings into the stage it enters: the infrastructure issue
/// was created before the flag changed, as the template orders it, so it enters already checked.
fn carried_check_ins(next: &Stage, position: &StagePosition) -> Vec<CheckIn> {
    let mut carried = Vec::new();
    if next.requires_infrastructure_issue()
        && let Some(request) = &position.production_change
        && let Some(issue) = &request.infrastructure_issue
    {
        carried.push(CheckIn {
            item: CheckItem::InfrastructureIssueCreated,
            by: request.requested_by.clone(),
            at: request.requested_at,
            outcome: CheckOutcome::Checked,
            note: Some(issue.url().to_owned()),
        });
    }
    carried
}

fn labelled(stage: &Stage, items: Vec<CheckItem>) -> Vec<LabelledItem> {
    items
        .into_iter()
        .map(|item| LabelledItem {
            item,
            label: item.label_in(stage).to_owned(),
        })
        .collect()
}

/// What someone asks the machine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Enter the first stage, from `NotStarted`. `deployed`: versions in the first stage's
    /// environment, if it is a trial.
    Start {
        deployed: Option<DeployedVersions>,
    },
    /// A person's check-in. Answering "Continue?" with stop is the kill switch.
    CheckIn {
        item: CheckItem,
        outcome: CheckOutcome,
        #[serde(default)]
        note: Option<String>,
    },
    /// An automated evaluation that had the data to judge counts as a look at the stage.
    AutomatedLook {
        #[serde(default)]
        note: Option<String>,
    },
    /// The guardrail's verdict on the current stage changed.
    GuardrailVerdict {
        verdict: Verdict,
        summary: String,
    },
    /// Enter the next stage. `deployed`: versions in its environment, when it is a trial or the
    /// current stage is its version check.
    Advance {
        deployed: Option<DeployedVersions>,
    },
    /// Ask to move production to the next stage's percentage. The initial production step needs
    /// the infrastructure issue's `https://…/issues/N` link. Kept as text here and parsed by
    /// [`apply`], so a bad link is refused with a sentence rather than failing to deserialise.
    RequestProductionChange {
        /// Why now: what the requester saw that makes the next percentage safe.
        #[serde(default)]
        reason: String,
        #[serde(default)]
        infrastructure_issue: Option<String>,
        /// The versions deployed in production, as evidence: checked now, and used by the
        /// advance that follows the approval unless it brings its own.
        #[serde(default)]
        deployed: Option<DeployedVersions>,
    },
    Approve,
    Reject {
        reason: String,
    },
    OverrideSoak {
        reason: String,
    },
    Pause {
        #[serde(default)]
        reason: Option<String>,
    },
    /// Leave `Paused` where it is, or leave `Disabled` by re-entering the stopped trial
    /// ([`reentry_stage`]). `deployed`: versions in the re-entered trial's environment.
    Resume {
        #[serde(default)]
        deployed: Option<DeployedVersions>,
    },
    /// After a kill in production: re-enter at the last percentage below the killed one, which
    /// was healthy. A release manager's call, with a reason.
    ResumeAtLastHealthy {
        reason: String,
        #[serde(default)]
        deployed: Option<DeployedVersions>,
    },
    /// The kill switch: the flag off where the trial runs, or in every environment.
    Disable {
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        everywhere: bool,
    },
    Complete,
}

/// An [`Action`] without its data.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ActionKind {
    Start,
    CheckIn,
    AutomatedLook,
    GuardrailVerdict,
    Advance,
    RequestProductionChange,
    Approve,
    Reject,
    OverrideSoak,
    Pause,
    Resume,
    ResumeAtLastHealthy,
    Disable,
    Complete,
}

impl ActionKind {
    /// Every variant, in declaration order.
    pub fn all() -> impl DoubleEndedIterator<Item = ActionKind> {
        <ActionKind as strum::IntoEnumIterator>::iter()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// "advance to the next stage": fits after "cannot".
    pub fn phrase(self) -> &'static str {
        match self {
            ActionKind::Start => "start the migration",
            ActionKind::CheckIn => "record a check-in",
            ActionKind::AutomatedLook => "record an automated look",
            ActionKind::GuardrailVerdict => "record the guardrail's verdict",
            ActionKind::Advance => "advance to the next stage",
            ActionKind::RequestProductionChange => "request a production change",
            ActionKind::Approve => "approve a production change",
            ActionKind::Reject => "reject a production change",
            ActionKind::OverrideSoak => "override the soak",
            ActionKind::Pause => "pause the migration",
            ActionKind::Resume => "resume the migration",
            ActionKind::ResumeAtLastHealthy => "resume at the last healthy percentage",
            ActionKind::Disable => "disable the flag",
            ActionKind::Complete => "complete the migration",
        }
    }

    /// The least role on the rollout ladder allowed to take this action (see
    /// [`crate::access`]).
    pub fn required_role(self) -> Role {
        match self {
            ActionKind::Approve
            | ActionKind::Reject
            | ActionKind::OverrideSoak
            | ActionKind::ResumeAtLastHealthy => Role::ReleaseManager,
            _ => Role::Engineer,
        }
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Start { .. } => ActionKind::Start,
            Action::CheckIn { .. } => ActionKind::CheckIn,
            Action::AutomatedLook { .. } => ActionKind::AutomatedLook,
            Action::GuardrailVerdict { .. } => ActionKind::GuardrailVerdict,
            Action::Advance { .. } => ActionKind::Advance,
            Action::RequestProductionChange { .. } => ActionKind::RequestProductionChange,
            Action::Approve => ActionKind::Approve,
            Action::Reject { .. } => ActionKind::Reject,
            Action::OverrideSoak { .. } => ActionKind::OverrideSoak,
            Action::Pause { .. } => ActionKind::Pause,
            Action::Resume { .. } => ActionKind::Resume,
            Action::ResumeAtLastHealthy { .. } => ActionKind::ResumeAtLastHealthy,
            Action::Disable { .. } => ActionKind::Disable,
            Action::Complete => ActionKind::Complete,
        }
    }
}

/// Something to record in the audit log (with the actor and `now` of the action), or to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Started {
        stage: StageRef,
    },
    CheckedIn {
        stage: StageRef,
        check_in: CheckIn,
    },
    AutomatedLook {
        stage: StageRef,
        look: Look,
    },
    GuardrailVerdict {
        stage: StageRef,
        verdict: Verdict,
        summary: String,
    },
    Advanced {
        from: StageRef,
        to: StageRef,
    },
    ProductionChangeRequested {
        stage: StageRef,
        percent: u8,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        infrastructure_issue: Option<InfrastructureIssue>,
    },
    ProductionChangeApproved {
        stage: StageRef,
        percent: u8,
        requested_by: String,
    },
    ProductionChangeRejected {
        stage: StageRef,
        percent: u8,
        reason: String,
    },
    SoakOverridden {
        stage: StageRef,
        reason: String,
    },
    Paused {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Out of `Paused`, where it was.
    Resumed,
    /// Out of `Disabled`, into `stage` afresh (its flags follow as `FlagChange` events). `reason`:
    /// a release manager's, for the last healthy percentage.
    Reentered {
        stage: StageRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The kill switch, or "Continue?" answered stop: the flag off in `environments`.
    Disabled {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        environments: Vec<Environment>,
    },
    Completed,
    /// A flag write the server must perform (and show as its ChatOps line).
    FlagChange {
        environment: Environment,
        value: FlagValue,
    },
}

/// The result of an allowed action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub state: MigrationState,
    pub events: Vec<Event>,
}

/// Every reason the current stage cannot be left yet, in the order [`apply`] checks them; an
/// `Advance` is refused with the first. A page lists them all, so people see everything that is
/// left to do at once rather than one refusal at a time.
///
/// Empty means an engineer's `Advance` goes through, provided the versions deployed where the
/// next stage runs meet the requirements: those arrive with the `Advance` itself.
pub fn advance_blockers(
    state: &MigrationState,
    migration: &Migration,
    now: DateTime<Utc>,
) -> Vec<Refusal> {
    let plan = &migration.plan;
    if let Err(problem) = state.validate(plan) {
        return vec![Refusal::StateDoesNotFitPlan { problem }];
    }
    let mut blockers = Vec::new();
    match state.status {
        Status::Active => {}
        // A paused stage is held, but what else is left to do is still worth showing.
        Status::Paused => blockers.push(Refusal::NotAllowedInStatus {
            action: ActionKind::Advance,
            status: Status::Paused,
        }),
        status => {
            return vec![Refusal::NotAllowedInStatus {
                action: ActionKind::Advance,
                status,
            }];
        }
    }
    // `validate` guarantees both for an active or paused migration.
    let Some((position, stage)) = state
        .position
        .as_ref()
        .and_then(|p| plan.stage(p.index).map(|s| (p, s)))
    else {
        return vec![Refusal::StateDoesNotFitPlan {
            problem: StateError::NoCurrentStage {
                status: state.status,
            },
        }];
    };
    let here = stage.reference(position.index);
    let Some(next) = plan.stage(position.index + 1) else {
        blockers.push(Refusal::NoNextStage { stage: here });
        return blockers;
    };
    blockers.extend(stage_blockers(stage, &here, position, now));
    blockers.extend(production_blockers(
        next,
        &next.reference(position.index + 1),
        position,
        migration,
    ));
    blockers
}

/// The environment whose deployed versions an `Advance` from the current stage must bring: the
/// version check's own when leaving one, the next trial's when entering one. `None` when it needs
/// none, so a page asks for versions only where the rule will check them.
pub fn versions_needed_to_advance(state: &MigrationState, plan: &Plan) -> Option<Environment> {
    let index = state.stage_index()?;
    if let StageKind::VersionCheck { environment } = plan.stage(index)?.kind {
        return Some(environment);
    }
    plan.stage(index + 1)?
        .flag()
        .map(|(environment, _)| environment)
}

/// What keeps the current stage from ending: its checklist, its watched soak, its decision.
fn stage_blockers(
    stage: &Stage,
    here: &StageRef,
    position: &StagePosition,
    now: DateTime<Utc>,
) -> Vec<Refusal> {
    let mut blockers = Vec::new();
    let question = || CheckItem::ContinueDecision.label_in(stage).to_owned();
    let decision = last_decision(&position.check_ins);
    let looks = position.looks();
    let missing = missing_items(stage, &position.check_ins);
    if !missing.is_empty() {
        blockers.push(Refusal::ChecklistIncomplete {
            stage: here.clone(),
            missing: labelled(stage, missing),
        });
    }
    // An override is a release manager's judgement that what was watched until then is enough;
    // the watching goes on from there, so a lapse after it still keeps the stage.
    let watch = match &position.soak_override {
        None => Some(timing::watch(stage, position.started_at, &looks, now))
            .filter(|watch| !watch.is_complete(stage.soak)),
        Some(done) => Some(timing::watch(
            stage,
            done.at.max(position.started_at),
            &looks,
            now,
        ))
        .filter(|watch| !watch.lapses.is_empty()),
    };
    if let Some(watch) = watch {
        blockers.push(Refusal::SoakNotWatched {
            stage: here.clone(),
            shortfall: Box::new(SoakShortfall {
                soak: stage.soak,
                cadence: stage.cadence,
                watched: watch.watched,
                lapses: watch.lapses,
            }),
        });
    }
    // The guardrail's word is needed too: a stage it could not judge (thin traffic, no data) or
    // found regressed is left only once it judges again, or on a release manager's override
    // given after its verdict.
    if let Some(standing) = position.guardrail.as_ref().filter(|g| {
        g.verdict != Verdict::Pass
            && position
                .soak_override
                .as_ref()
                .is_none_or(|done| done.at < g.at)
    }) {
        blockers.push(Refusal::GuardrailNotClear {
            stage: here.clone(),
            verdict: standing.verdict,
            summary: standing.summary.clone(),
        });
    }
    // The template asks "Continue?" after "leave running while monitoring for at least …": it is
    // a judgement on the traffic watched during the soak. An answer given before the soak was
    // over judged less than that, so it counts only if given once the soak ended, or after a
    // release manager overrode the soak (the override is the judgement that it has been enough).
    if let Some(go_on) = decision.filter(|c| c.outcome == CheckOutcome::Continue) {
        let soak_end = position
            .started_at
            .checked_add_signed(stage.soak)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let ended_at = position
            .soak_override
            .as_ref()
            .map_or(soak_end, |o| o.at.min(soak_end));
        if go_on.at < ended_at {
            blockers.push(Refusal::DecisionBeforeSoakEnd {
                stage: here.clone(),
                question: question(),
                decided_at: go_on.at,
                soak_ended_at: ended_at,
            });
        }
    }
    blockers
}

/// What keeps production from moving to `next`'s percentage: the four-eyes request.
fn production_blockers(
    next: &Stage,
    next_ref: &StageRef,
    position: &StagePosition,
    migration: &Migration,
) -> Vec<Refusal> {
    let Some(percent) = next.production_percent() else {
        return Vec::new();
    };
    let Some(request) = position.production_change.as_ref().filter(|r| {
        r.stage.index == next_ref.index && r.stage.key == next_ref.key && r.percent == percent
    }) else {
        return vec![Refusal::ProductionChangeNotRequested {
            stage: next_ref.clone(),
            percent,
        }];
    };
    if is_outdated(request, migration) {
        return vec![Refusal::RequestOutdated {
            percent,
            requested_by: request.requested_by.clone(),
        }];
    }
    let mut blockers = Vec::new();
    match &request.approval {
        None => blockers.push(Refusal::ProductionChangeNotApproved {
            stage: next_ref.clone(),
            percent,
            requested_by: request.requested_by.clone(),
        }),
        // `Approve` enforces both; checked again because a stored state can be edited by hand.
        Some(approval) => {
            if same_person(&approval.by, &request.requested_by) {
                blockers.push(Refusal::SelfApproval {
                    username: approval.by.clone(),
                });
            }
            if approval.role != Role::ReleaseManager {
                blockers.push(Refusal::ApproverNotReleaseManager {
                    username: approval.by.clone(),
                    role: approval.role,
                });
            }
        }
    }
    if next.requires_infrastructure_issue() && request.infrastructure_issue.is_none() {
        blockers.push(Refusal::InfrastructureIssueRequired {
            stage: next_ref.clone(),
        });
    }
    blockers
}

/// Whether the migration's required versions changed since `request` was made (a request from
/// before requirements were recorded is taken as it is).
fn is_outdated(request: &ProductionChangeRequest, migration: &Migration) -> bool {
    request
        .requirements
        .as_ref()
        .is_some_and(|then| *then != migration.identity.requirements())
}

/// Whether `refusal` is the four-eyes gate itself rather than something the stage still asks.
fn is_production_gate(refusal: &Refusal) -> bool {
    matches!(
        refusal,
        Refusal::ProductionChangeNotRequested { .. }
            | Refusal::ProductionChangeNotApproved { .. }
            | Refusal::SelfApproval { .. }
            | Refusal::ApproverNotReleaseManager { .. }
            | Refusal::InfrastructureIssueRequired { .. }
            | Refusal::RequestOutdated { .. }
    )
}

/// Where `Resume` takes a killed migration (see [`Action::Resume`]), or with `at_last_healthy`
/// where `ResumeAtLastHealthy` does; the refusal when there is no such stage. For a migration
/// killed while nothing served, its current stage: it carries on where it was.
pub fn reentry_stage(
    state: &MigrationState,
    migration: &Migration,
    at_last_healthy: bool,
) -> Result<StageRef, Refusal> {
    let index = match reentry(state, migration, at_last_healthy)? {
        Reentry::InPlace(index) | Reentry::Afresh(index) => index,
    };
    migration
        .plan
        .stage_ref(index)
        .ok_or(Refusal::StateDoesNotFitPlan {
            problem: StateError::StageOutOfRange {
                index,
                stages: migration.plan.len(),
            },
        })
}

/// Where a resume goes: the one answer for [`reentry_stage`] and for applying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reentry {
    /// Nothing was serving when it was killed, and its stage still fits: it carries on there.
    InPlace(usize),
    /// This stage, entered afresh with its flags.
    Afresh(usize),
}

/// The stage a resume re-enters.
///
/// - Required versions changed since the kill: a new implementation, so the first trial again
///   (development, then staging, before production sees it).
/// - Killed in production: the production ramp's first step, or at the last healthy percentage
///   the step below the killed one. Either is a production change that needs four eyes.
/// - Killed in staging or development: the stage it was stopped in, afresh (the trial, or the
///   version check that followed it).
fn reentry(
    state: &MigrationState,
    migration: &Migration,
    at_last_healthy: bool,
) -> Result<Reentry, Refusal> {
    let action = if at_last_healthy {
        ActionKind::ResumeAtLastHealthy
    } else {
        ActionKind::Resume
    };
    let (Some(kill), Some(position)) = (state.kill.as_ref(), state.position.as_ref()) else {
        return Err(Refusal::NotAllowedInStatus {
            action,
            status: state.status,
        });
    };
    let plan = &migration.plan;
    let trials = || {
        plan.stages()
            .iter()
            .enumerate()
            .filter_map(|(index, stage)| stage.flag().map(|(e, value)| (index, e, value)))
    };
    // A valid plan has trials; this only answers a damaged one.
    let no_trial = || Refusal::StateDoesNotFitPlan {
        problem: StateError::NoCurrentStage {
            status: state.status,
        },
    };
    // Where the kill happened, in this plan: the stored stage if it still fits, else the stage
    // with its key, if the plan still has one.
    let here = plan
        .stage(position.index)
        .filter(|stage| stage.key == position.key)
        .map(|_| position.index)
        .or_else(|| plan.stage_by_key(position.key.as_str()).map(|(i, _)| i));
    let Some(stopped) = trial_environment(kill.flags_before) else {
        if at_last_healthy {
            return Err(Refusal::NoHealthyPercentage {
                killed_percent: None,
            });
        }
        let fits =
            state.fitting_stage(plan).is_ok() && state.flags == flags_at(plan, position.index);
        // If the plan changed under it: that stage afresh, wherever it is now.
        return Ok(match (fits, here) {
            (true, _) => Reentry::InPlace(position.index),
            (false, here) => Reentry::Afresh(here.unwrap_or(0)),
        });
    };
    if kill.requirements != migration.identity.requirements() {
        let first = trials().next().ok_or_else(no_trial)?.0;
        return if at_last_healthy {
            Err(Refusal::RequirementsChanged {
                restart: plan.stage_ref(first).ok_or_else(no_trial)?,
            })
        } else {
            Ok(Reentry::Afresh(first))
        };
    }
    if stopped == Environment::Production {
        let killed = kill.flags_before.production.serving_percentage();
        let mut steps = trials().filter(|(_, e, _)| *e == Environment::Production);
        let target = if at_last_healthy {
            steps
                .rfind(|(_, _, value)| value.serving_percentage() < killed)
                .ok_or(Refusal::NoHealthyPercentage {
                    killed_percent: Some(killed),
                })?
        } else {
            steps.next().ok_or_else(no_trial)?
        };
        return Ok(Reentry::Afresh(target.0));
    }
    if at_last_healthy {
        return Err(Refusal::NoHealthyPercentage {
            killed_percent: None,
        });
    }
    // Staging or development: the stage it was stopped in, afresh — the trial itself, or the
    // version check that followed it (the trial was over; it is not run again).
    match here {
        Some(index) => Ok(Reentry::Afresh(index)),
        None => trials()
            .find(|(_, e, _)| *e == stopped)
            .map(|(index, ..)| Reentry::Afresh(index))
            .ok_or_else(no_trial),
    }
}

/// Apply `action` by `actor` at `now` to `state`. Pure: the same inputs give the same answer.
pub fn apply(
    state: &MigrationState,
    migration: &Migration,
    actor: &Actor,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<Transition, Refusal> {
    let kind = action.kind();
    if !actor.roles.allows(Permission::Act(kind)) {
        return Err(Refusal::RoleRequired {
            action: kind,
            required: kind.required_role(),
            actual: actor.roles.rollout_role(),
        });
    }
    // The kill switch must work even when bookkeeping is broken; everything else needs a name
    // for the audit log and the four-eyes rule, and a state that fits the plan.
    if kind != ActionKind::Disable {
        if actor.username.trim().is_empty() {
            return Err(Refusal::ActorUnnamed { action: kind });
        }
        state
            .validate(&migration.plan)
            .map_err(|problem| Refusal::StateDoesNotFitPlan { problem })?;
    }
    let mut step = Step {
        state: state.clone(),
        migration,
        actor,
        now,
        events: Vec::new(),
    };
    match action {
        Action::Disable { reason, everywhere } => step.disable(reason.as_deref(), *everywhere),
        Action::Start { deployed } => step.start(deployed.as_ref())?,
        Action::CheckIn {
            item,
            outcome,
            note,
        } => step.check_in(*item, *outcome, note.as_deref())?,
        Action::AutomatedLook { note } => step.automated_look(note.as_deref())?,
        Action::GuardrailVerdict { verdict, summary } => {
            step.guardrail_verdict(*verdict, summary)?;
        }
        Action::Advance { deployed } => step.advance(deployed.as_ref())?,
        Action::RequestProductionChange {
            reason,
            infrastructure_issue,
            deployed,
        } => step.request(reason, infrastructure_issue.as_deref(), deployed.as_ref())?,
        Action::Approve => step.approve()?,
        Action::Reject { reason } => step.reject(reason)?,
        Action::OverrideSoak { reason } => step.override_soak(reason)?,
        Action::Pause { reason } => step.pause(reason.as_deref())?,
        Action::Resume { deployed } => step.resume(deployed.as_ref())?,
        Action::ResumeAtLastHealthy { reason, deployed } => {
            step.resume_at_last_healthy(reason, deployed.as_ref())?;
        }
        Action::Complete => step.complete()?,
    }
    Ok(Transition {
        state: step.state,
        events: step.events,
    })
}

/// One application of an action: the state being built and the events so far.
struct Step<'a> {
    state: MigrationState,
    migration: &'a Migration,
    actor: &'a Actor,
    now: DateTime<Utc>,
    events: Vec<Event>,
}

fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

impl<'a> Step<'a> {
    fn plan(&self) -> &'a Plan {
        &self.migration.plan
    }

    fn require_status(&self, action: ActionKind, allowed: &[Status]) -> Result<(), Refusal> {
        if allowed.contains(&self.state.status) {
            Ok(())
        } else {
            Err(Refusal::NotAllowedInStatus {
                action,
                status: self.state.status,
            })
        }
    }

    /// The current position, whether or not its stage still fits the plan (a disabled
    /// migration's need not).
    fn position(&self) -> Result<StagePosition, Refusal> {
        self.state
            .position
            .clone()
            .ok_or(Refusal::StateDoesNotFitPlan {
                problem: StateError::NoCurrentStage {
                    status: self.state.status,
                },
            })
    }

    /// The current position and stage. `apply` validated the state, so for an active or paused
    /// migration this cannot fail; it still refuses rather than panics.
    fn current(&self) -> Result<(StagePosition, &'a Stage), Refusal> {
        let plan = self.plan();
        let position = self.position()?;
        let stage = plan
            .stage(position.index)
            .ok_or(Refusal::StateDoesNotFitPlan {
                problem: StateError::StageOutOfRange {
                    index: position.index,
                    stages: plan.len(),
                },
            })?;
        Ok((position, stage))
    }

    fn set_position(&mut self, position: StagePosition) {
        self.state.position = Some(position);
    }

    /// The versions deployed in `stage`'s environment must meet the migration's requirements,
    /// to enter it (a trial) or to leave it (a version check).
    fn check_versions(
        &self,
        stage: &Stage,
        index: usize,
        gate: VersionGate,
        deployed: Option<&DeployedVersions>,
    ) -> Result<(), Refusal> {
        let Some(environment) = stage.environment() else {
            return Ok(());
        };
        let deployed = deployed.ok_or_else(|| Refusal::DeployedVersionsUnknown {
            stage: stage.reference(index),
            environment,
            gate,
        })?;
        let shortfalls = self.migration.identity.requirements().shortfalls(deployed);
        if shortfalls.is_empty() {
            Ok(())
        } else {
            Err(Refusal::VersionsBelowRequired {
                stage: stage.reference(index),
                environment,
                gate,
                shortfalls,
            })
        }
    }

    /// Enter `stage`, number `index`: a fresh position, and the stage's flag setting applied.
    fn enter(&mut self, index: usize, stage: &Stage, carried: Vec<CheckIn>) {
        self.set_position(StagePosition {
            index,
            key: stage.key.clone(),
            started_at: self.now,
            check_ins: carried,
            automated_looks: Vec::new(),
            soak_override: None,
            production_change: None,
            guardrail: None,
        });
        if let Some((environment, value)) = stage.flag()
            && self.state.flags.get(environment) != value
        {
            self.state.flags.set(environment, value);
            self.events.push(Event::FlagChange { environment, value });
        }
    }

    /// The kill switch. Never refused: see the module documentation.
    fn disable(&mut self, reason: Option<&str>, everywhere: bool) {
        let reason = non_empty(reason);
        // A second kill of a disabled migration repeats the first one's writes (or widens them),
        // and keeps what the first one stopped: that is what resuming re-enters.
        let earlier = self.state.kill.take();
        let flags_before = earlier
            .as_ref()
            .map_or(self.state.flags, |k| k.flags_before);
        let environments: Vec<Environment> = match (&earlier, everywhere) {
            (_, true) => Environment::all().collect::<Vec<_>>(),
            (Some(kill), false) => kill.environments.clone(),
            (None, false) => trial_environment(self.state.flags)
                .map_or_else(|| Environment::all().collect::<Vec<_>>(), |e| vec![e]),
        };
        self.events.push(Event::Disabled {
            reason: reason.clone(),
            environments: environments.clone(),
        });
        // Written even where Rampart believes the flag is already off: the kill switch must also
        // undo a change made by hand outside Rampart.
        for &environment in &environments {
            self.state.flags.set(environment, FlagValue::Off);
            self.events.push(Event::FlagChange {
                environment,
                value: FlagValue::Off,
            });
        }
        if self.state.status == Status::NotStarted {
            // Nothing runs yet, so nothing is held; the writes above still make sure.
            return;
        }
        self.state.status = Status::Disabled;
        if let Some(position) = self.state.position.as_mut() {
            // An approval given before the kill must not carry over to whatever comes after.
            position.production_change = None;
            position.soak_override = None;
        }
        self.state.kill = Some(Kill {
            by: self.actor.name(),
            at: self.now,
            reason,
            environments,
            flags_before,
            requirements: earlier.map_or_else(
                || self.migration.identity.requirements(),
                |k| k.requirements,
            ),
        });
    }

    fn start(&mut self, deployed: Option<&DeployedVersions>) -> Result<(), Refusal> {
        self.require_status(ActionKind::Start, &[Status::NotStarted])?;
        let plan = self.plan();
        // A valid plan has at least its Done stage.
        let first = plan.stage(0).ok_or(Refusal::StateDoesNotFitPlan {
            problem: StateError::StageOutOfRange {
                index: 0,
                stages: 0,
            },
        })?;
        if first.flag().is_some() {
            self.check_versions(first, 0, VersionGate::Enter, deployed)?;
        }
        self.state.status = Status::Active;
        self.events.push(Event::Started {
            stage: first.reference(0),
        });
        self.enter(0, first, Vec::new());
        Ok(())
    }

    fn check_in(
        &mut self,
        item: CheckItem,
        outcome: CheckOutcome,
        note: Option<&str>,
    ) -> Result<(), Refusal> {
        self.require_status(ActionKind::CheckIn, &[Status::Active, Status::Paused])?;
        let (mut position, stage) = self.current()?;
        if !stage.checklist.contains(&item) {
            return Err(Refusal::ItemNotInStage {
                item,
                stage: stage.reference(position.index),
            });
        }
        if !item.accepts(outcome) {
            return Err(Refusal::OutcomeDoesNotFitItem {
                item,
                label: item.label_in(stage).to_owned(),
                outcome,
            });
        }
        if item == CheckItem::RoutesListed && self.migration.identity.routes.is_empty() {
            return Err(Refusal::NoRoutesListed);
        }
        let check_in = CheckIn {
            item,
            by: self.actor.name(),
            at: self.now,
            outcome,
            note: non_empty(note),
        };
        position.check_ins.push(check_in.clone());
        self.events.push(Event::CheckedIn {
            stage: stage.reference(position.index),
            check_in,
        });
        self.set_position(position);
        // The template: "On unexpectedly high call rates, error rates, CPU activity, etc,
        // disable trial immediately … otherwise leave running and proceed". A "no" is that
        // disabling, not a note to act on later.
        if outcome == CheckOutcome::Stop {
            self.disable(note, false);
        }
        Ok(())
    }

    fn guardrail_verdict(&mut self, verdict: Verdict, summary: &str) -> Result<(), Refusal> {
        self.require_status(
            ActionKind::GuardrailVerdict,
            &[Status::Active, Status::Paused, Status::Disabled],
        )?;
        let (mut position, stage) = self.current()?;
        position.guardrail = Some(GuardrailStanding {
            verdict,
            at: self.now,
            summary: summary.to_owned(),
        });
        self.events.push(Event::GuardrailVerdict {
            stage: stage.reference(position.index),
            verdict,
            summary: summary.to_owned(),
        });
        self.set_position(position);
        Ok(())
    }

    fn automated_look(&mut self, note: Option<&str>) -> Result<(), Refusal> {
        self.require_status(ActionKind::AutomatedLook, &[Status::Active, Status::Paused])?;
        let (mut position, stage) = self.current()?;
        let look = Look {
            at: self.now,
            by: self.actor.name(),
            source: LookSource::Automation,
            note: non_empty(note),
        };
        position.automated_looks.push(look.clone());
        self.events.push(Event::AutomatedLook {
            stage: stage.reference(position.index),
            look,
        });
        self.set_position(position);
        Ok(())
    }

    fn advance(&mut self, deployed: Option<&DeployedVersions>) -> Result<(), Refusal> {
        if let Some(first) = advance_blockers(&self.state, self.migration, self.now)
            .into_iter()
            .next()
        {
            return Err(first);
        }
        let (position, stage) = self.current()?;
        let next_index = position.index + 1;
        let next = self
            .plan()
            .stage(next_index)
            .ok_or_else(|| Refusal::NoNextStage {
                stage: stage.reference(position.index),
            })?;
        // Into production, the versions the approved request showed serve unless new ones came.
        let requested = position
            .production_change
            .as_ref()
            .and_then(|request| request.deployed.as_ref());
        let deployed = deployed.or(requested);
        if matches!(stage.kind, StageKind::VersionCheck { .. }) {
            self.check_versions(stage, position.index, VersionGate::Leave, deployed)?;
        }
        if next.flag().is_some() {
            self.check_versions(next, next_index, VersionGate::Enter, deployed)?;
        }

        let carried = carried_check_ins(next, &position);
        let to = next.reference(next_index);
        self.events.push(Event::Advanced {
            from: stage.reference(position.index),
            to: to.clone(),
        });
        for check_in in &carried {
            self.events.push(Event::CheckedIn {
                stage: to.clone(),
                check_in: check_in.clone(),
            });
        }
        self.enter(next_index, next, carried);
        Ok(())
    }

    fn request(
        &mut self,
        reason: &str,
        infrastructure_issue: Option<&str>,
        deployed: Option<&DeployedVersions>,
    ) -> Result<(), Refusal> {
        self.require_status(
            ActionKind::RequestProductionChange,
            &[Status::Active, Status::Paused, Status::Disabled],
        )?;
        let mut position = self.position()?;
        // After a kill, the change is the resume into production; otherwise the next stage.
        let next_index = if self.state.status == Status::Disabled {
            match reentry(&self.state, self.migration, false)? {
                Reentry::Afresh(index) => index,
                Reentry::InPlace(_) => {
                    return Err(Refusal::NoProductionChangeAhead { next_stage: None });
                }
            }
        } else {
            position.index + 1
        };
        let next = self.plan().stage(next_index);
        let Some((next, percent)) = next.and_then(|s| s.production_percent().map(|p| (s, p)))
        else {
            return Err(Refusal::NoProductionChangeAhead {
                next_stage: next.map(|s| s.reference(next_index)),
            });
        };
        // What the release manager judges: what the stage still asked when the request was made
        // (soak, checks, the decision), besides the approval itself.
        let outstanding = if self.state.status == Status::Disabled {
            Vec::new()
        } else {
            advance_blockers(&self.state, self.migration, self.now)
                .into_iter()
                .filter(|refusal| !is_production_gate(refusal))
                .map(|refusal| refusal.to_string())
                .collect()
        };
        if let Some(pending) = position
            .production_change
            .as_ref()
            .filter(|pending| !is_outdated(pending, self.migration))
        {
            return Err(Refusal::RequestAlreadyPending {
                percent: pending.percent,
                requested_by: pending.requested_by.clone(),
            });
        }
        let reason = non_empty(Some(reason)).ok_or(Refusal::ReasonRequired {
            action: ActionKind::RequestProductionChange,
        })?;
        let issue = non_empty(infrastructure_issue)
            .map(|text| InfrastructureIssue::parse(&text))
            .transpose()
            .map_err(|error| Refusal::InfrastructureIssueInvalid {
                problem: error.to_string(),
            })?;
        let stage = next.reference(next_index);
        if next.requires_infrastructure_issue() && issue.is_none() {
            return Err(Refusal::InfrastructureIssueRequired { stage });
        }
        if deployed.is_some() {
            self.check_versions(next, next_index, VersionGate::Enter, deployed)?;
        }
        position.production_change = Some(ProductionChangeRequest {
            stage: stage.clone(),
            percent,
            reason: reason.clone(),
            requested_by: self.actor.name(),
            requested_at: self.now,
            infrastructure_issue: issue.clone(),
            deployed: deployed.cloned(),
            outstanding,
            requirements: Some(self.migration.identity.requirements()),
            approval: None,
        });
        self.events.push(Event::ProductionChangeRequested {
            stage,
            percent,
            reason,
            infrastructure_issue: issue,
        });
        self.set_position(position);
        Ok(())
    }

    fn approve(&mut self) -> Result<(), Refusal> {
        self.require_status(
            ActionKind::Approve,
            &[Status::Active, Status::Paused, Status::Disabled],
        )?;
        let mut position = self.position()?;
        let request = position
            .production_change
            .as_mut()
            .ok_or(Refusal::NoPendingRequest {
                action: ActionKind::Approve,
            })?;
        if let Some(approval) = &request.approval {
            return Err(Refusal::AlreadyApproved {
                approved_by: approval.by.clone(),
            });
        }
        if same_person(&self.actor.username, &request.requested_by) {
            return Err(Refusal::SelfApproval {
                username: self.actor.name(),
            });
        }
        if is_outdated(request, self.migration) {
            return Err(Refusal::RequestOutdated {
                percent: request.percent,
                requested_by: request.requested_by.clone(),
            });
        }
        request.approval = Some(Approval {
            by: self.actor.name(),
            role: self.actor.roles.rollout_role(),
            at: self.now,
        });
        self.events.push(Event::ProductionChangeApproved {
            stage: request.stage.clone(),
            percent: request.percent,
            requested_by: request.requested_by.clone(),
        });
        self.set_position(position);
        Ok(())
    }

    fn reject(&mut self, reason: &str) -> Result<(), Refusal> {
        self.require_status(
            ActionKind::Reject,
            &[Status::Active, Status::Paused, Status::Disabled],
        )?;
        let mut position = self.position()?;
        let request = position
            .production_change
            .take()
            .ok_or(Refusal::NoPendingRequest {
                action: ActionKind::Reject,
            })?;
        let reason = non_empty(Some(reason)).ok_or(Refusal::ReasonRequired {
            action: ActionKind::Reject,
        })?;
        self.events.push(Event::ProductionChangeRejected {
            stage: request.stage,
            percent: request.percent,
            reason,
        });
        self.set_position(position);
        Ok(())
    }

    fn override_soak(&mut self, reason: &str) -> Result<(), Refusal> {
        self.require_status(ActionKind::OverrideSoak, &[Status::Active, Status::Paused])?;
        let (mut position, stage) = self.current()?;
        let reason = non_empty(Some(reason)).ok_or(Refusal::ReasonRequired {
            action: ActionKind::OverrideSoak,
        })?;
        position.soak_override = Some(SoakOverride {
            by: self.actor.name(),
            reason: reason.clone(),
            at: self.now,
        });
        self.events.push(Event::SoakOverridden {
            stage: stage.reference(position.index),
            reason,
        });
        self.set_position(position);
        Ok(())
    }

    fn pause(&mut self, reason: Option<&str>) -> Result<(), Refusal> {
        self.require_status(ActionKind::Pause, &[Status::Active])?;
        self.current()?;
        self.state.status = Status::Paused;
        self.events.push(Event::Paused {
            reason: non_empty(reason),
        });
        Ok(())
    }

    fn resume(&mut self, deployed: Option<&DeployedVersions>) -> Result<(), Refusal> {
        match self.state.status {
            Status::Paused => {
                self.current()?;
                self.state.status = Status::Active;
                self.events.push(Event::Resumed);
                Ok(())
            }
            Status::Disabled => self.reenter(None, deployed),
            status => Err(Refusal::NotAllowedInStatus {
                action: ActionKind::Resume,
                status,
            }),
        }
    }

    fn resume_at_last_healthy(
        &mut self,
        reason: &str,
        deployed: Option<&DeployedVersions>,
    ) -> Result<(), Refusal> {
        self.require_status(ActionKind::ResumeAtLastHealthy, &[Status::Disabled])?;
        let reason = non_empty(Some(reason)).ok_or(Refusal::ReasonRequired {
            action: ActionKind::ResumeAtLastHealthy,
        })?;
        self.reenter(Some(reason), deployed)
    }

    /// Out of `Disabled`: into the stage [`reentry`] names, afresh, with its flags. `reason`:
    /// given for the last healthy percentage. Needs no stage that fits: a disabled migration's
    /// may be gone from an edited plan.
    fn reenter(
        &mut self,
        reason: Option<String>,
        deployed: Option<&DeployedVersions>,
    ) -> Result<(), Refusal> {
        let position = self.position()?;
        let plan = self.plan();
        let index = match reentry(&self.state, self.migration, reason.is_some())? {
            Reentry::InPlace(_) => {
                self.state.kill = None;
                self.state.status = Status::Active;
                self.events.push(Event::Resumed);
                return Ok(());
            }
            Reentry::Afresh(index) => index,
        };
        let stage = plan.stage(index).ok_or(Refusal::StateDoesNotFitPlan {
            problem: StateError::StageOutOfRange {
                index,
                stages: plan.len(),
            },
        })?;
        let here = stage.reference(index);
        if let Some(percent) = stage.production_percent() {
            // Back into production is a production change like any other: someone asked for it
            // and a release manager who is not them agreed — by approving the request, or by
            // choosing the last healthy percentage themselves.
            match &reason {
                None => {
                    if let Some(first) =
                        production_blockers(stage, &here, &position, self.migration)
                            .into_iter()
                            .next()
                    {
                        return Err(first);
                    }
                }
                Some(_) => {
                    let request = position.production_change.as_ref().ok_or(
                        Refusal::ProductionChangeNotRequested {
                            stage: here.clone(),
                            percent,
                        },
                    )?;
                    if same_person(&self.actor.username, &request.requested_by) {
                        return Err(Refusal::SelfApproval {
                            username: self.actor.name(),
                        });
                    }
                }
            }
        }
        if stage.flag().is_some() {
            self.check_versions(stage, index, VersionGate::Enter, deployed)?;
        }
        let carried = carried_check_ins(stage, &position);
        self.state.kill = None;
        self.state.status = Status::Active;
        self.events.push(Event::Reentered {
            stage: here.clone(),
            reason,
        });
        for check_in in &carried {
            self.events.push(Event::CheckedIn {
                stage: here.clone(),
                check_in: check_in.clone(),
            });
        }
        self.enter(index, stage, carried);
        // Every environment back to what this stage runs with: a kill everywhere turned off the
        // earlier environments too, and a new implementation starts again with them off.
        let expected = flags_at(plan, index);
        for environment in Environment::all() {
            let value = expected.get(environment);
            if self.state.flags.get(environment) != value {
                self.state.flags.set(environment, value);
                self.events.push(Event::FlagChange { environment, value });
            }
        }
        Ok(())
    }

    fn complete(&mut self) -> Result<(), Refusal> {
        self.require_status(ActionKind::Complete, &[Status::Active])?;
        let (position, stage) = self.current()?;
        if position.index + 1 != self.plan().len() {
            return Err(Refusal::NotAtFinalStage {
                stage: stage.reference(position.index),
            });
        }
        let missing = missing_items(stage, &position.check_ins);
        if !missing.is_empty() {
            return Err(Refusal::ChecklistIncomplete {
                stage: stage.reference(position.index),
                missing: labelled(stage, missing),
            });
        }
        self.state.status = Status::Completed;
        self.events.push(Event::Completed);
        Ok(())
    }
}
