//! Why the stage machine said no: a [`Refusal`] is a full sentence for people (`Display`) and a
//! stable code for programs (`code()`, also the serde tag), and carries the data a page needs to
//! say more (which stage, how long, who).
//!
//! Refusals that name a stage carry a [`StageRef`]: the key for programs, the name for the
//! sentence.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::checklist::{CheckItem, CheckOutcome};
use crate::duration::format_duration;
use crate::machine::{ActionKind, Role, Status};
use crate::plan::{Cadence, Environment, FlagValue, StageKey, StageRef};
use crate::version::Shortfall;

/// A checklist item with its label as the stage shows it (see [`CheckItem::label_in`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledItem {
    pub item: CheckItem,
    pub label: String,
}

/// Why a stored state cannot belong to its plan (see
/// [`MigrationState::validate`](crate::machine::MigrationState::validate)). Each message is a
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum StateError {
    #[error(
        "The migration is marked as {} but has no current stage; its stored state is damaged.",
        status.phrase()
    )]
    NoCurrentStage { status: Status },
    #[error("The migration is not started but has a current stage; its stored state is damaged.")]
    PositionBeforeStart,
    #[error(
        "The migration is at stage {} but its plan has only {stages} stages; the plan was changed under a running migration.",
        .index + 1
    )]
    StageOutOfRange { index: usize, stages: usize },
    #[error(
        "The migration is at stage {} (‘{stored}’) but that stage of its plan is now ‘{planned}’; the plan was changed under a running migration.",
        .index + 1
    )]
    StageKeyMismatch {
        index: usize,
        stored: StageKey,
        planned: StageKey,
    },
    #[error(
        "The migration is {} but its flag is {value} in {environment}; its stored state is damaged.",
        status.phrase()
    )]
    FlagOnWhileStopped {
        status: Status,
        environment: Environment,
        value: FlagValue,
    },
    #[error(
        "At stage ‘{stage}’ the flag in {environment} should be {expected} but the stored state says {found}; its stored state is damaged."
    )]
    FlagDoesNotMatchStage {
        stage: StageRef,
        environment: Environment,
        expected: FlagValue,
        found: FlagValue,
    },
    #[error(
        "The migration is marked as completed at ‘{stage}’, which is not its last stage; its stored state is damaged."
    )]
    CompletedBeforeLastStage { stage: StageRef },
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
        problem: StateError,
    },
    SoakNotElapsed {
        stage: StageRef,
        #[serde(with = "crate::duration::seconds")]
        soak: TimeDelta,
        #[serde(with = "crate::duration::seconds")]
        remaining: TimeDelta,
    },
    ContinueSaidStop {
        stage: StageRef,
        /// "Continue?", or "Success?" at 100 %.
        question: String,
        by: String,
        at: DateTime<Utc>,
    },
    /// The last answer was "continue", but it was given before the soak ended (and not after a
    /// soak override), so it does not count.
    DecisionBeforeSoakEnd {
        stage: StageRef,
        question: String,
        decided_at: DateTime<Utc>,
        /// When the soak ended, or was overridden, whichever came first.
        soak_ended_at: DateTime<Utc>,
    },
    CheckOverdue {
        stage: StageRef,
        cadence: Cadence,
        #[serde(with = "crate::duration::seconds")]
        overdue_by: TimeDelta,
    },
    ChecklistIncomplete {
        stage: StageRef,
        missing: Vec<LabelledItem>,
    },
    ProductionChangeNotRequested {
        stage: StageRef,
        percent: u8,
    },
    ProductionChangeNotApproved {
        stage: StageRef,
        percent: u8,
        requested_by: String,
    },
    SelfApproval {
        username: String,
    },
    /// A stored approval by someone who was not a release manager (only possible if the stored
    /// state was edited: `Approve` itself takes a release manager).
    ApproverNotReleaseManager {
        username: String,
        role: Role,
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
        next_stage: Option<StageRef>,
    },
    InfrastructureIssueRequired {
        stage: StageRef,
    },
    InfrastructureIssueInvalid {
        /// Reads after "The infrastructure issue": "'infra#99' must be an https:// URL".
        problem: String,
    },
    ReasonRequired {
        action: ActionKind,
    },
    DeployedVersionsUnknown {
        stage: StageRef,
        environment: Environment,
    },
    VersionsBelowRequired {
        stage: StageRef,
        environment: Environment,
        shortfalls: Vec<Shortfall>,
    },
    NoNextStage {
        stage: StageRef,
    },
    NotAtFinalStage {
        stage: StageRef,
    },
    ItemNotInStage {
        item: CheckItem,
        stage: StageRef,
    },
    OutcomeDoesNotFitItem {
        item: CheckItem,
        /// The item's label in its stage.
        label: String,
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
            Refusal::DecisionBeforeSoakEnd { .. } => "decision_before_soak_end",
            Refusal::CheckOverdue { .. } => "check_overdue",
            Refusal::ChecklistIncomplete { .. } => "checklist_incomplete",
            Refusal::ProductionChangeNotRequested { .. } => "production_change_not_requested",
            Refusal::ProductionChangeNotApproved { .. } => "production_change_not_approved",
            Refusal::SelfApproval { .. } => "self_approval",
            Refusal::ApproverNotReleaseManager { .. } => "approver_not_release_manager",
            Refusal::NoPendingRequest { .. } => "no_pending_request",
            Refusal::RequestAlreadyPending { .. } => "request_already_pending",
            Refusal::AlreadyApproved { .. } => "already_approved",
            Refusal::NoProductionChangeAhead { .. } => "no_production_change_ahead",
            Refusal::InfrastructureIssueRequired { .. } => "infrastructure_issue_required",
            Refusal::InfrastructureIssueInvalid { .. } => "infrastructure_issue_invalid",
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

fn minute(at: &DateTime<Utc>) -> impl fmt::Display + '_ {
    at.format("%Y-%m-%d %H:%M UTC")
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
            Refusal::StateDoesNotFitPlan { problem } => problem.fmt(f),
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
            Refusal::ContinueSaidStop {
                stage,
                question,
                by,
                at,
            } => write!(
                f,
                "The last “{question}” in stage ‘{stage}’ said stop ({by}, {}). Record a new decision to continue, or disable the flag.",
                minute(at)
            ),
            Refusal::DecisionBeforeSoakEnd {
                stage,
                question,
                decided_at,
                soak_ended_at,
            } => write!(
                f,
                "“{question}” in stage ‘{stage}’ was answered at {}, before the soak ended at {}; it is asked after watching the stage for its whole soak, so answer it again.",
                minute(decided_at),
                minute(soak_ended_at)
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
                let items: Vec<String> = missing.iter().map(|i| format!("‘{}’", i.label)).collect();
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
            Refusal::ApproverNotReleaseManager { username, role } => write!(
                f,
                "This production change was approved by {username}, {}; only a release manager's approval counts.",
                role.with_article()
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
                "Stage ‘{stage}’ needs an issue in the infrastructure tracker before production changes; create it and give its https://…/issues/N link with the request."
            ),
            Refusal::InfrastructureIssueInvalid { problem } => {
                write!(f, "The infrastructure issue {problem}.")
            }
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
            Refusal::OutcomeDoesNotFitItem {
                item,
                label,
                outcome,
            } => {
                if *item == CheckItem::ContinueDecision {
                    write!(
                        f,
                        "“{label}” is answered with continue or stop, not {}.",
                        outcome.as_str()
                    )
                } else {
                    write!(
                        f,
                        "‘{label}’ is recorded as checked; only “Continue?” (“Success?” at 100 %) is answered with {}.",
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
