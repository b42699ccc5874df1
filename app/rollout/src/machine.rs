//! The stage machine: pure transitions from (state, action, actor, now) to a new state plus the
//! events to record, or a typed refusal that explains itself.
//!
//! The rules, in one place:
//! - Viewers change nothing. Approve, reject and soak override take a release manager.
//! - No advance before the stage's soak has run, unless a release manager overrode it with a reason.
//! - No advance while the last "Continue?" said stop, while a look is overdue by more than one
//!   cadence interval, or while a checklist item has no check-in.
//! - No production percentage change without a request approved by a release manager who is not
//!   the requester; the initial production step also needs the infrastructure issue.
//! - No entry into an environment whose deployed Gitaly or GitLab is below the requirement
//!   (checked on every entry into a stage that runs in an environment, not only the first: a
//!   deployment can be rolled back between two stages).
//! - The kill switch (`Disable`) is never refused to an engineer, from any status: it turns the
//!   flag off in every environment, forgets any pending approval, and leaves the migration
//!   `Disabled`. Only `Start` leaves `Disabled`, and it restarts from the first stage.
//!
//! Events say what happened, not who or when: the caller records each with the actor and `now`
//! it passed in. `FlagChange` events are the flag writes the server must perform.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::checklist::{CheckIn, CheckItem, CheckOutcome};
use crate::duration::format_duration;
use crate::identity::MigrationIdentity;
use crate::plan::{Cadence, Environment, FlagValue, Plan, Stage};
use crate::timing::{self, StageClock};
use crate::version::{DeployedVersions, Shortfall};

/// What a person may do. Ordered: each role may do everything the roles below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Engineer,
    ReleaseManager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Engineer => "engineer",
            Role::ReleaseManager => "release_manager",
        }
    }

    fn with_article(self) -> &'static str {
        match self {
            Role::Viewer => "a viewer",
            Role::Engineer => "an engineer",
            Role::ReleaseManager => "a release manager",
        }
    }
}

/// Who is acting. The caller has authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub username: String,
    pub role: Role,
}

impl Actor {
    pub fn new(username: impl Into<String>, role: Role) -> Actor {
        Actor {
            username: username.into(),
            role,
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

/// A migration as the machine needs it: who it is (for version requirements and routes) and its plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub identity: MigrationIdentity,
    pub plan: Plan,
}

/// Where the migration is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NotStarted,
    Active,
    /// Held at the current stage: no advance. The flag stays as it is, so check-ins go on.
    Paused,
    /// Killed: every flag off. Only `Start` (a restart from the first stage) leaves this status.
    Disabled,
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Disabled => "disabled",
            Status::Completed => "completed",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Disabled => "disabled",
            Status::Completed => "completed",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Status::NotStarted => " Start it first.",
            Status::Active => "",
            Status::Paused => " Resume it first.",
            Status::Disabled => " Start it again to restart from the first stage.",
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
    pub at: DateTime<Utc>,
}

/// A request to move production to the next stage's percentage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionChangeRequest {
    /// Index of the stage the change enters.
    pub stage: usize,
    pub percent: u8,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_issue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
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
    pub started_at: DateTime<Utc>,
    /// Check-ins of this stage only, oldest first.
    pub check_ins: Vec<CheckIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_override: Option<SoakOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_change: Option<ProductionChangeRequest>,
}

/// A migration's state. Change it only through [`apply`]; store it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationState {
    status: Status,
    /// `None` until the first start. Kept when disabled, to show where the kill happened.
    position: Option<StagePosition>,
    flags: FlagStates,
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
    pub fn current_stage<'p>(&self, plan: &'p Plan) -> Option<&'p Stage> {
        self.stage_index().and_then(|i| plan.stage(i))
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

    /// The latest answer to "Continue?" in this stage.
    pub fn last_decision(&self) -> Option<&CheckIn> {
        self.check_ins()
            .iter()
            .rfind(|c| c.item == CheckItem::ContinueDecision)
    }

    /// Checklist items of `stage` with no check-in yet, in checklist order.
    pub fn missing_items(&self, stage: &Stage) -> Vec<CheckItem> {
        missing_items(stage, self.check_ins())
    }

    /// The current stage's clock, if started and the state fits the plan.
    pub fn clock(&self, plan: &Plan, now: DateTime<Utc>) -> Option<StageClock> {
        let position = self.position.as_ref()?;
        let stage = plan.stage(position.index)?;
        Some(StageClock::new(
            stage,
            position.started_at,
            &position.check_ins,
            now,
        ))
    }
}

/// Share of calls in `environment` that reach the new implementation (0–100).
pub fn serving_percentage(state: &MigrationState, environment: Environment) -> u8 {
    state.flags.get(environment).serving_percentage()
}

fn missing_items(stage: &Stage, check_ins: &[CheckIn]) -> Vec<CheckItem> {
    stage
        .checklist
        .iter()
        .copied()
        .filter(|item| !check_ins.iter().any(|c| c.item == *item))
        .collect()
}

/// What someone asks the machine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Enter the first stage. From `NotStarted`, or from `Disabled` as a restart.
    /// `deployed`: versions in the first stage's environment, if it has one.
    Start {
        deployed: Option<DeployedVersions>,
    },
    CheckIn {
        item: CheckItem,
        outcome: CheckOutcome,
        #[serde(default)]
        note: Option<String>,
    },
    /// Enter the next stage. `deployed`: versions in its environment, if it has one.
    Advance {
        deployed: Option<DeployedVersions>,
    },
    /// Ask to move production to the next stage's percentage. The initial production step needs
    /// the infrastructure issue's `https://` link.
    RequestProductionChange {
        #[serde(default)]
        infrastructure_issue: Option<String>,
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
    Resume,
    /// The kill switch.
    Disable {
        #[serde(default)]
        reason: Option<String>,
    },
    Complete,
}

/// An [`Action`] without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Start,
    CheckIn,
    Advance,
    RequestProductionChange,
    Approve,
    Reject,
    OverrideSoak,
    Pause,
    Resume,
    Disable,
    Complete,
}

impl ActionKind {
    pub const ALL: [ActionKind; 11] = [
        ActionKind::Start,
        ActionKind::CheckIn,
        ActionKind::Advance,
        ActionKind::RequestProductionChange,
        ActionKind::Approve,
        ActionKind::Reject,
        ActionKind::OverrideSoak,
        ActionKind::Pause,
        ActionKind::Resume,
        ActionKind::Disable,
        ActionKind::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Start => "start",
            ActionKind::CheckIn => "check_in",
            ActionKind::Advance => "advance",
            ActionKind::RequestProductionChange => "request_production_change",
            ActionKind::Approve => "approve",
            ActionKind::Reject => "reject",
            ActionKind::OverrideSoak => "override_soak",
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Disable => "disable",
            ActionKind::Complete => "complete",
        }
    }

    /// "advance to the next stage": fits after "cannot".
    pub fn phrase(self) -> &'static str {
        match self {
            ActionKind::Start => "start the migration",
            ActionKind::CheckIn => "record a check-in",
            ActionKind::Advance => "advance to the next stage",
            ActionKind::RequestProductionChange => "request a production change",
            ActionKind::Approve => "approve a production change",
            ActionKind::Reject => "reject a production change",
            ActionKind::OverrideSoak => "override the soak",
            ActionKind::Pause => "pause the migration",
            ActionKind::Resume => "resume the migration",
            ActionKind::Disable => "disable the flag",
            ActionKind::Complete => "complete the migration",
        }
    }

    /// The least role allowed to take this action.
    pub fn required_role(self) -> Role {
        match self {
            ActionKind::Approve | ActionKind::Reject | ActionKind::OverrideSoak => {
                Role::ReleaseManager
            }
            _ => Role::Engineer,
        }
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Start { .. } => ActionKind::Start,
            Action::CheckIn { .. } => ActionKind::CheckIn,
            Action::Advance { .. } => ActionKind::Advance,
            Action::RequestProductionChange { .. } => ActionKind::RequestProductionChange,
            Action::Approve => ActionKind::Approve,
            Action::Reject { .. } => ActionKind::Reject,
            Action::OverrideSoak { .. } => ActionKind::OverrideSoak,
            Action::Pause { .. } => ActionKind::Pause,
            Action::Resume => ActionKind::Resume,
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
        stage: usize,
    },
    /// A start from `Disabled`: back to the first stage.
    Restarted {
        stage: usize,
    },
    CheckedIn {
        stage: usize,
        check_in: CheckIn,
    },
    Advanced {
        from: usize,
        to: usize,
    },
    ProductionChangeRequested {
        stage: usize,
        percent: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        infrastructure_issue: Option<String>,
    },
    ProductionChangeApproved {
        stage: usize,
        percent: u8,
        requested_by: String,
    },
    ProductionChangeRejected {
        stage: usize,
        percent: u8,
        reason: String,
    },
    SoakOverridden {
        stage: usize,
        reason: String,
    },
    Paused {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Resumed,
    Disabled {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
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

/// Why an action was refused. `Display` is a full sentence for people; `code()` (also the serde
/// tag) is stable for programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Refusal {
    RoleRequired {
        action: ActionKind,
        required: Role,
        actual: Role,
    },
    ActorUnnamed {
        action: ActionKind,
    },
    NotAllowedInStatus {
        action: ActionKind,
        status: Status,
    },
    StateDoesNotFitPlan {
        stage: Option<usize>,
        stages: usize,
    },
    SoakNotElapsed {
        stage: String,
        #[serde(with = "crate::duration::seconds")]
        soak: TimeDelta,
        #[serde(with = "crate::duration::seconds")]
        remaining: TimeDelta,
    },
    ContinueSaidStop {
        stage: String,
        by: String,
        at: DateTime<Utc>,
    },
    CheckOverdue {
        stage: String,
        cadence: Cadence,
        #[serde(with = "crate::duration::seconds")]
        overdue_by: TimeDelta,
    },
    ChecklistIncomplete {
        stage: String,
        missing: Vec<CheckItem>,
    },
    ProductionChangeNotRequested {
        stage: String,
        percent: u8,
    },
    ProductionChangeNotApproved {
        stage: String,
        percent: u8,
        requested_by: String,
    },
    SelfApproval {
        username: String,
    },
    NoPendingRequest {
        action: ActionKind,
    },
    RequestAlreadyPending {
        percent: u8,
        requested_by: String,
    },
    AlreadyApproved {
        approved_by: String,
    },
    NoProductionChangeAhead {
        next_stage: Option<String>,
    },
    InfrastructureIssueRequired {
        stage: String,
    },
    ReasonRequired {
        action: ActionKind,
    },
    DeployedVersionsUnknown {
        stage: String,
        environment: Environment,
    },
    VersionsBelowRequired {
        stage: String,
        environment: Environment,
        shortfalls: Vec<Shortfall>,
    },
    NoNextStage {
        stage: String,
    },
    NotAtFinalStage {
        stage: String,
    },
    ItemNotInStage {
        item: CheckItem,
        stage: String,
    },
    OutcomeDoesNotFitItem {
        item: CheckItem,
        outcome: CheckOutcome,
    },
    NoRoutesListed,
}

impl Refusal {
    /// Stable machine-readable code; the same string serde writes as `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::RoleRequired { .. } => "role_required",
            Refusal::ActorUnnamed { .. } => "actor_unnamed",
            Refusal::NotAllowedInStatus { .. } => "not_allowed_in_status",
            Refusal::StateDoesNotFitPlan { .. } => "state_does_not_fit_plan",
            Refusal::SoakNotElapsed { .. } => "soak_not_elapsed",
            Refusal::ContinueSaidStop { .. } => "continue_said_stop",
            Refusal::CheckOverdue { .. } => "check_overdue",
            Refusal::ChecklistIncomplete { .. } => "checklist_incomplete",
            Refusal::ProductionChangeNotRequested { .. } => "production_change_not_requested",
            Refusal::ProductionChangeNotApproved { .. } => "production_change_not_approved",
            Refusal::SelfApproval { .. } => "self_approval",
            Refusal::NoPendingRequest { .. } => "no_pending_request",
            Refusal::RequestAlreadyPending { .. } => "request_already_pending",
            Refusal::AlreadyApproved { .. } => "already_approved",
            Refusal::NoProductionChangeAhead { .. } => "no_production_change_ahead",
            Refusal::InfrastructureIssueRequired { .. } => "infrastructure_issue_required",
            Refusal::ReasonRequired { .. } => "reason_required",
            Refusal::DeployedVersionsUnknown { .. } => "deployed_versions_unknown",
            Refusal::VersionsBelowRequired { .. } => "versions_below_required",
            Refusal::NoNextStage { .. } => "no_next_stage",
            Refusal::NotAtFinalStage { .. } => "not_at_final_stage",
            Refusal::ItemNotInStage { .. } => "item_not_in_stage",
            Refusal::OutcomeDoesNotFitItem { .. } => "outcome_does_not_fit_item",
            Refusal::NoRoutesListed => "no_routes_listed",
        }
    }
}

fn capitalised(phrase: &str) -> String {
    let mut chars = phrase.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::RoleRequired {
                action,
                required,
                actual,
            } => {
                let who = if *required == Role::Engineer {
                    "an engineer or a release manager"
                } else {
                    required.with_article()
                };
                write!(
                    f,
                    "{} cannot {}; that takes {who}.",
                    capitalised(actual.with_article()),
                    action.phrase()
                )
            }
            Refusal::ActorUnnamed { action } => write!(
                f,
                "Cannot {} without knowing who is asking: the request has no username.",
                action.phrase()
            ),
            Refusal::NotAllowedInStatus { action, status } => write!(
                f,
                "Cannot {} while the migration is {}.{}",
                action.phrase(),
                status.phrase(),
                status.hint()
            ),
            Refusal::StateDoesNotFitPlan { stage, stages } => match stage {
                Some(stage) => write!(
                    f,
                    "The migration is at stage {} but its plan has only {stages} stages; the plan was changed under a running migration.",
                    stage + 1
                ),
                None => f.write_str(
                    "The migration is marked as running but has no current stage; its stored state is damaged.",
                ),
            },
            Refusal::SoakNotElapsed {
                stage,
                soak,
                remaining,
            } => write!(
                f,
                "Stage ‘{stage}’ needs {} of soak; {} remain. A release manager may override the soak with a reason.",
                format_duration(*soak),
                format_duration(*remaining)
            ),
            Refusal::ContinueSaidStop { stage, by, at } => write!(
                f,
                "The last “Continue?” in stage ‘{stage}’ said stop ({by}, {}). Record a new decision to continue, or disable the flag.",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            Refusal::CheckOverdue {
                stage,
                cadence,
                overdue_by,
            } => write!(
                f,
                "Stage ‘{stage}’ must be checked {cadence} and its next check is {} overdue; record a check-in before advancing.",
                format_duration(*overdue_by)
            ),
            Refusal::ChecklistIncomplete { stage, missing } => {
                let items: Vec<String> = missing.iter().map(|i| format!("‘{}’", i.label())).collect();
                write!(
                    f,
                    "Stage ‘{stage}’ still has unchecked items: {}. Check them in before leaving the stage.",
                    items.join(", ")
                )
            }
            Refusal::ProductionChangeNotRequested { stage, percent } => write!(
                f,
                "Moving production to {percent} % (stage ‘{stage}’) needs a change request approved by a release manager; nobody has requested it yet."
            ),
            Refusal::ProductionChangeNotApproved {
                stage,
                percent,
                requested_by,
            } => write!(
                f,
                "Moving production to {percent} % (stage ‘{stage}’) was requested by {requested_by} and is waiting for a release manager's approval."
            ),
            Refusal::SelfApproval { username } => write!(
                f,
                "This production change was requested by {username}, who cannot also approve it; another release manager must."
            ),
            Refusal::NoPendingRequest { action } => write!(
                f,
                "Cannot {}: there is no pending production change request.",
                action.phrase()
            ),
            Refusal::RequestAlreadyPending {
                percent,
                requested_by,
            } => write!(
                f,
                "Moving production to {percent} % was already requested by {requested_by}; approve or reject that request first."
            ),
            Refusal::AlreadyApproved { approved_by } => write!(
                f,
                "This production change was already approved by {approved_by}."
            ),
            Refusal::NoProductionChangeAhead { next_stage } => match next_stage {
                Some(next) => write!(
                    f,
                    "The next stage, ‘{next}’, does not change production, so there is nothing to request; advance instead."
                ),
                None => f.write_str(
                    "There is no next stage, so there is no production change to request.",
                ),
            },
            Refusal::InfrastructureIssueRequired { stage } => write!(
                f,
                "Stage ‘{stage}’ needs an issue in the infrastructure tracker before production changes; create it and give its https:// link with the request."
            ),
            Refusal::ReasonRequired { action } => {
                write!(f, "To {}, give a reason.", action.phrase())
            }
            Refusal::DeployedVersionsUnknown { stage, environment } => write!(
                f,
                "Stage ‘{stage}’ runs in {environment}; the Gitaly and GitLab versions deployed there are needed to check them against the requirements."
            ),
            Refusal::VersionsBelowRequired {
                stage,
                environment,
                shortfalls,
            } => {
                let parts: Vec<String> = shortfalls.iter().map(Shortfall::to_string).collect();
                write!(
                    f,
                    "Stage ‘{stage}’ cannot start in {environment}: {}.",
                    parts.join("; ")
                )
            }
            Refusal::NoNextStage { stage } => write!(
                f,
                "Stage ‘{stage}’ is the last one; complete the migration instead."
            ),
            Refusal::NotAtFinalStage { stage } => write!(
                f,
                "The migration can only be completed from its last stage; it is at ‘{stage}’."
            ),
            Refusal::ItemNotInStage { item, stage } => write!(
                f,
                "‘{}’ is not on the checklist of stage ‘{stage}’.",
                item.label()
            ),
            Refusal::OutcomeDoesNotFitItem { item, outcome } => {
                if *item == CheckItem::ContinueDecision {
                    write!(
                        f,
                        "“Continue?” is answered with continue or stop, not {}.",
                        outcome.as_str()
                    )
                } else {
                    write!(
                        f,
                        "‘{}’ is recorded as checked; only “Continue?” is answered with {}.",
                        item.label(),
                        outcome.as_str()
                    )
                }
            }
            Refusal::NoRoutesListed => f.write_str(
                "The routes cannot be checked off: the migration lists no routes yet. Add the routes that use this endpoint first.",
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// Apply `action` by `actor` at `now` to `state`. Pure: the same inputs give the same answer.
pub fn apply(
    state: &MigrationState,
    migration: &Migration,
    actor: &Actor,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<Transition, Refusal> {
    let kind = action.kind();
    let required = kind.required_role();
    if actor.role < required {
        return Err(Refusal::RoleRequired {
            action: kind,
            required,
            actual: actor.role,
        });
    }
    // The kill switch must work even when bookkeeping is broken; everything else needs a name
    // for the audit log and the four-eyes rule.
    if kind != ActionKind::Disable && actor.username.trim().is_empty() {
        return Err(Refusal::ActorUnnamed { action: kind });
    }
    let mut step = Step {
        state: state.clone(),
        migration,
        actor,
        now,
        events: Vec::new(),
    };
    match action {
        Action::Disable { reason } => step.disable(reason.as_deref()),
        Action::Start { deployed } => step.start(deployed.as_ref())?,
        Action::CheckIn {
            item,
            outcome,
            note,
        } => step.check_in(*item, *outcome, note.as_deref())?,
        Action::Advance { deployed } => step.advance(deployed.as_ref())?,
        Action::RequestProductionChange {
            infrastructure_issue,
        } => step.request(infrastructure_issue.as_deref())?,
        Action::Approve => step.approve()?,
        Action::Reject { reason } => step.reject(reason)?,
        Action::OverrideSoak { reason } => step.override_soak(reason)?,
        Action::Pause { reason } => step.pause(reason.as_deref())?,
        Action::Resume => step.resume()?,
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

fn looks_like_https_link(text: &str) -> bool {
    text.strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.chars().any(char::is_whitespace))
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

    /// The current position and stage; refuses a state that does not fit the plan.
    fn current(&self) -> Result<(StagePosition, &'a Stage), Refusal> {
        let plan = self.plan();
        let position = self
            .state
            .position
            .clone()
            .ok_or(Refusal::StateDoesNotFitPlan {
                stage: None,
                stages: plan.len(),
            })?;
        let stage = plan
            .stage(position.index)
            .ok_or(Refusal::StateDoesNotFitPlan {
                stage: Some(position.index),
                stages: plan.len(),
            })?;
        Ok((position, stage))
    }

    fn set_position(&mut self, position: StagePosition) {
        self.state.position = Some(position);
    }

    fn check_versions(
        &self,
        stage: &Stage,
        deployed: Option<&DeployedVersions>,
    ) -> Result<(), Refusal> {
        let Some(environment) = stage.environment() else {
            return Ok(());
        };
        let deployed = deployed.ok_or_else(|| Refusal::DeployedVersionsUnknown {
            stage: stage.name.clone(),
            environment,
        })?;
        let shortfalls = self.migration.identity.requirements().shortfalls(deployed);
        if shortfalls.is_empty() {
            Ok(())
        } else {
            Err(Refusal::VersionsBelowRequired {
                stage: stage.name.clone(),
                environment,
                shortfalls,
            })
        }
    }

    /// Enter stage `index`: a fresh position, and the stage's flag setting applied.
    fn enter(&mut self, index: usize, carried: Vec<CheckIn>) {
        self.set_position(StagePosition {
            index,
            started_at: self.now,
            check_ins: carried,
            soak_override: None,
            production_change: None,
        });
        if let Some((environment, value)) = self.plan().stage(index).and_then(Stage::flag)
            && self.state.flags.get(environment) != value
        {
            self.state.flags.set(environment, value);
            self.events.push(Event::FlagChange { environment, value });
        }
    }

    fn disable(&mut self, reason: Option<&str>) {
        self.state.status = Status::Disabled;
        if let Some(position) = self.state.position.as_mut() {
            // An approval given before the kill must not carry over to whatever comes after.
            position.production_change = None;
            position.soak_override = None;
        }
        self.events.push(Event::Disabled {
            reason: non_empty(reason),
        });
        // Written for every environment even if Rampart believes it is already off: the kill
        // switch must also undo a change made by hand outside Rampart.
        for environment in Environment::ALL {
            self.state.flags.set(environment, FlagValue::Off);
            self.events.push(Event::FlagChange {
                environment,
                value: FlagValue::Off,
            });
        }
    }

    fn start(&mut self, deployed: Option<&DeployedVersions>) -> Result<(), Refusal> {
        self.require_status(ActionKind::Start, &[Status::NotStarted, Status::Disabled])?;
        let plan = self.plan();
        let first = plan.stage(0).ok_or(Refusal::StateDoesNotFitPlan {
            stage: Some(0),
            stages: 0,
        })?;
        self.check_versions(first, deployed)?;
        let restart = self.state.status == Status::Disabled;
        self.state.status = Status::Active;
        self.state.flags = FlagStates::default();
        self.events.push(if restart {
            Event::Restarted { stage: 0 }
        } else {
            Event::Started { stage: 0 }
        });
        self.enter(0, Vec::new());
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
                stage: stage.name.clone(),
            });
        }
        if !item.accepts(outcome) {
            return Err(Refusal::OutcomeDoesNotFitItem { item, outcome });
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
            stage: position.index,
            check_in,
        });
        self.set_position(position);
        Ok(())
    }

    fn advance(&mut self, deployed: Option<&DeployedVersions>) -> Result<(), Refusal> {
        self.require_status(ActionKind::Advance, &[Status::Active])?;
        let (position, stage) = self.current()?;
        let next_index = position.index + 1;
        let next = self
            .plan()
            .stage(next_index)
            .ok_or_else(|| Refusal::NoNextStage {
                stage: stage.name.clone(),
            })?;

        if let Some(stop) = self
            .state
            .last_decision()
            .filter(|c| c.outcome == CheckOutcome::Stop)
        {
            return Err(Refusal::ContinueSaidStop {
                stage: stage.name.clone(),
                by: stop.by.clone(),
                at: stop.at,
            });
        }
        let overdue = timing::overdue_by(stage, position.started_at, &position.check_ins, self.now);
        if let (true, Some(overdue_by)) = (timing::blocks_advance(stage, overdue), overdue) {
            return Err(Refusal::CheckOverdue {
                stage: stage.name.clone(),
                cadence: stage.cadence,
                overdue_by,
            });
        }
        let missing = missing_items(stage, &position.check_ins);
        if !missing.is_empty() {
            return Err(Refusal::ChecklistIncomplete {
                stage: stage.name.clone(),
                missing,
            });
        }
        let remaining = timing::soak_remaining(stage, position.started_at, self.now);
        if remaining > TimeDelta::zero() && position.soak_override.is_none() {
            return Err(Refusal::SoakNotElapsed {
                stage: stage.name.clone(),
                soak: stage.soak,
                remaining,
            });
        }
        let mut carried = Vec::new();
        if let Some(percent) = next.production_percent() {
            let request = position
                .production_change
                .as_ref()
                .filter(|r| r.stage == next_index && r.percent == percent)
                .ok_or_else(|| Refusal::ProductionChangeNotRequested {
                    stage: next.name.clone(),
                    percent,
                })?;
            let approval =
                request
                    .approval
                    .as_ref()
                    .ok_or_else(|| Refusal::ProductionChangeNotApproved {
                        stage: next.name.clone(),
                        percent,
                        requested_by: request.requested_by.clone(),
                    })?;
            // Checked again here because a stored state could have been edited by hand.
            if same_person(&approval.by, &request.requested_by) {
                return Err(Refusal::SelfApproval {
                    username: approval.by.clone(),
                });
            }
            if next.requires_infrastructure_issue() {
                let issue = request
                    .infrastructure_issue
                    .clone()
                    .filter(|i| looks_like_https_link(i))
                    .ok_or_else(|| Refusal::InfrastructureIssueRequired {
                        stage: next.name.clone(),
                    })?;
                // The issue was created before the flag changed, as the template orders it:
                // it enters the new stage already checked.
                carried.push(CheckIn {
                    item: CheckItem::InfrastructureIssueCreated,
                    by: request.requested_by.clone(),
                    at: request.requested_at,
                    outcome: CheckOutcome::Checked,
                    note: Some(issue),
                });
            }
        }
        self.check_versions(next, deployed)?;

        self.events.push(Event::Advanced {
            from: position.index,
            to: next_index,
        });
        for check_in in &carried {
            self.events.push(Event::CheckedIn {
                stage: next_index,
                check_in: check_in.clone(),
            });
        }
        self.enter(next_index, carried);
        Ok(())
    }

    fn request(&mut self, infrastructure_issue: Option<&str>) -> Result<(), Refusal> {
        self.require_status(
            ActionKind::RequestProductionChange,
            &[Status::Active, Status::Paused],
        )?;
        let (mut position, _) = self.current()?;
        let next_index = position.index + 1;
        let next = self.plan().stage(next_index);
        let Some((next, percent)) = next.and_then(|s| s.production_percent().map(|p| (s, p)))
        else {
            return Err(Refusal::NoProductionChangeAhead {
                next_stage: next.map(|s| s.name.clone()),
            });
        };
        if let Some(pending) = &position.production_change {
            return Err(Refusal::RequestAlreadyPending {
                percent: pending.percent,
                requested_by: pending.requested_by.clone(),
            });
        }
        let issue = non_empty(infrastructure_issue);
        if next.requires_infrastructure_issue()
            && !issue.as_deref().is_some_and(looks_like_https_link)
        {
            return Err(Refusal::InfrastructureIssueRequired {
                stage: next.name.clone(),
            });
        }
        position.production_change = Some(ProductionChangeRequest {
            stage: next_index,
            percent,
            requested_by: self.actor.name(),
            requested_at: self.now,
            infrastructure_issue: issue.clone(),
            approval: None,
        });
        self.events.push(Event::ProductionChangeRequested {
            stage: next_index,
            percent,
            infrastructure_issue: issue,
        });
        self.set_position(position);
        Ok(())
    }

    fn approve(&mut self) -> Result<(), Refusal> {
        self.require_status(ActionKind::Approve, &[Status::Active, Status::Paused])?;
        let (mut position, _) = self.current()?;
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
        request.approval = Some(Approval {
            by: self.actor.name(),
            at: self.now,
        });
        self.events.push(Event::ProductionChangeApproved {
            stage: request.stage,
            percent: request.percent,
            requested_by: request.requested_by.clone(),
        });
        self.set_position(position);
        Ok(())
    }

    fn reject(&mut self, reason: &str) -> Result<(), Refusal> {
        self.require_status(ActionKind::Reject, &[Status::Active, Status::Paused])?;
        let (mut position, _) = self.current()?;
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
        let (mut position, _) = self.current()?;
        let reason = non_empty(Some(reason)).ok_or(Refusal::ReasonRequired {
            action: ActionKind::OverrideSoak,
        })?;
        position.soak_override = Some(SoakOverride {
            by: self.actor.name(),
            reason: reason.clone(),
            at: self.now,
        });
        self.events.push(Event::SoakOverridden {
            stage: position.index,
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

    fn resume(&mut self) -> Result<(), Refusal> {
        self.require_status(ActionKind::Resume, &[Status::Paused])?;
        self.current()?;
        self.state.status = Status::Active;
        self.events.push(Event::Resumed);
        Ok(())
    }

    fn complete(&mut self) -> Result<(), Refusal> {
        self.require_status(ActionKind::Complete, &[Status::Active])?;
        let (position, stage) = self.current()?;
        if position.index + 1 != self.plan().len() {
            return Err(Refusal::NotAtFinalStage {
                stage: stage.name.clone(),
            });
        }
        let missing = missing_items(stage, &position.check_ins);
        if !missing.is_empty() {
            return Err(Refusal::ChecklistIncomplete {
                stage: stage.name.clone(),
                missing,
            });
        }
        self.state.status = Status::Completed;
        self.events.push(Event::Completed);
        Ok(())
    }
}
