//! Why the stage machine said no: a [`Refusal`] is a full sentence for people (`Display`) and a
//! stable code for programs (`code()`, also the serde tag), and carries the data a page needs to
//! say more (which stage, how long, who).
//!
//! Refusals that name a stage carry a [`StageRef`]: the key for programs, the name for the
//! sentence.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::checklist::{CheckItem, CheckOutcome};
use crate::duration::format_duration;
use crate::guardrail::Verdict;
use crate::machine::{ActionKind, Status};
use crate::plan::{Cadence, Environment, FlagValue, StageKey, StageRef};
use crate::timing::Lapse;
use crate::version::Shortfall;

/// Which side of a stage the versions are checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionGate {
    /// A trial is entered only where the required versions run.
    Enter,
    /// A version check is left only once they do: checking them is what the stage is for.
    Leave,
}

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
    #[error("The migration is disabled but no kill is recorded; its stored state is damaged.")]
    KillNotRecorded,
    #[error(
        "The migration was killed in {environment} but its flag there is {value}; its stored state is damaged."
    )]
    FlagOnWhereKilled {
        environment: Environment,
        value: FlagValue,
    },
    #[error(
        "Stage ‘{stage}’ is running although its last “Continue?” said stop, which disables it; its stored state is damaged."
    )]
    StopNotActedOn { stage: StageRef },
}

/// How a soak fell short of being watched (boxed in [`Refusal::SoakNotWatched`] to keep every
/// refusal small).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoakShortfall {
    #[serde(with = "crate::duration::seconds")]
    pub soak: TimeDelta,
    pub cadence: Cadence,
    #[serde(with = "crate::duration::seconds")]
    pub watched: TimeDelta,
    pub lapses: Vec<Lapse>,
}

/// Why an action was refused. `Display` is a full sentence for people; `code()` (also the serde
/// tag) is stable for programs.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumDiscriminants,
)]
#[serde(tag = "code", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[strum_discriminants(
    name(RefusalCode),
    derive(strum::IntoStaticStr, strum::EnumIter, Hash),
    strum(serialize_all = "snake_case")
)]
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
    /// The soak was not watched in full: too little so far, or lapses (gaps between looks
    /// longer than the cadence allows) that no later watching makes up for.
    SoakNotWatched {
        stage: StageRef,
        #[serde(flatten)]
        shortfall: Box<SoakShortfall>,
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
    ChecklistIncomplete {
        stage: StageRef,
        missing: Vec<LabelledItem>,
    },
    /// The guardrail's last verdict on the stage was inconclusive or a regression.
    GuardrailNotClear {
        stage: StageRef,
        verdict: Verdict,
        summary: String,
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
    /// The migration's required versions changed after the request was made: its evidence was
    /// about another migration.
    RequestOutdated {
        percent: u8,
        requested_by: String,
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
        gate: VersionGate,
    },
    VersionsBelowRequired {
        stage: StageRef,
        environment: Environment,
        gate: VersionGate,
        shortfalls: Vec<Shortfall>,
    },
    /// Resuming at the last healthy percentage needs a production percentage below the killed
    /// one; `None` when the kill was not in production.
    NoHealthyPercentage {
        killed_percent: Option<u8>,
    },
    /// The required versions changed since the kill: a new implementation, which starts again at
    /// `restart`, not at a percentage the old one reached.
    RequirementsChanged {
        restart: StageRef,
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
    /// Stable machine-readable code; the same string serde writes as `code` (both derive it from
    /// the variant's name).
    pub fn code(&self) -> &'static str {
        self.into()
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

/// Lapses as people read them: "40 min unwatched, 10:05–10:45 UTC"; the first three, then how
/// many more, as a list ("…, … and …"). Times are to the minute; with the date when a lapse spans
/// midnight or the stage's soak is a day or more (on a week-long stage, "10:05" says little).
fn lapse_list(lapses: &[Lapse], soak: TimeDelta) -> String {
    const SHOWN: usize = 3;
    let mut parts: Vec<String> = lapses
        .iter()
        .take(SHOWN)
        .map(|lapse| {
            let dated =
                lapse.from.date_naive() != lapse.to.date_naive() || soak >= TimeDelta::days(1);
            let format = if dated { "%Y-%m-%d %H:%M" } else { "%H:%M" };
            let until = if lapse.open { " (no look since)" } else { "" };
            format!(
                "{} unwatched, {}–{} UTC{until}",
                format_duration(lapse.duration()),
                lapse.from.format(format),
                lapse.to.format(format)
            )
        })
        .collect();
    if lapses.len() > SHOWN {
        parts.push(format!("{} more lapses", lapses.len() - SHOWN));
    }
    match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => parts.concat(),
    }
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
            Refusal::SoakNotWatched { stage, shortfall } => {
                let SoakShortfall {
                    soak,
                    cadence,
                    watched,
                    lapses,
                } = shortfall.as_ref();
                let needed = format_duration(*soak);
                match (cadence.longest_gap(), lapses.as_slice()) {
                    (None, _) => write!(
                        f,
                        "Stage ‘{stage}’ needs {needed} of soak; {} remain.",
                        format_duration(*soak - *watched)
                    )?,
                    (Some(_), []) => write!(
                        f,
                        "Stage ‘{stage}’ needs {needed} of soak watched {cadence}; {} is watched so far, {} left.",
                        format_duration(*watched),
                        format_duration(*soak - *watched)
                    )?,
                    (Some(longest), lapses) => write!(
                        f,
                        "Stage ‘{stage}’ needs {needed} of soak watched {cadence}, looks at most {} apart; {}. Watching longer does not make up for {}.",
                        format_duration(longest),
                        lapse_list(lapses, *soak),
                        if lapses.len() == 1 { "it" } else { "them" }
                    )?,
                }
                f.write_str(" A release manager may override the soak with a reason.")
            }
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
            Refusal::ChecklistIncomplete { stage, missing } => {
                let items: Vec<String> = missing.iter().map(|i| format!("‘{}’", i.label)).collect();
                write!(
                    f,
                    "Stage ‘{stage}’ still has unchecked items: {}. Check them in before leaving the stage.",
                    items.join(", ")
                )
            }
            Refusal::GuardrailNotClear {
                stage,
                verdict: Verdict::Fail,
                summary,
            } => write!(
                f,
                "The guardrail found stage ‘{stage}’ regressed: {summary}. It goes on once the guardrail finds it clear again."
            ),
            Refusal::GuardrailNotClear { stage, summary, .. } => write!(
                f,
                "The guardrail could not judge stage ‘{stage}’: {summary}. It goes on once the guardrail can, or a release manager overrides the soak with a reason."
            ),
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
            Refusal::RequestOutdated {
                percent,
                requested_by,
            } => write!(
                f,
                "The migration was edited after {requested_by} asked for {percent} %: that request judged the old one, so it is void; ask again."
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
            Refusal::DeployedVersionsUnknown {
                stage,
                environment,
                gate,
            } => {
                let why = match gate {
                    VersionGate::Enter => "runs in",
                    VersionGate::Leave => "checks the versions of",
                };
                write!(
                    f,
                    "Stage ‘{stage}’ {why} {environment}; the Gitaly and GitLab versions deployed there are needed to check them against the requirements."
                )
            }
            Refusal::VersionsBelowRequired {
                stage,
                environment,
                gate,
                shortfalls,
            } => {
                let parts: Vec<String> = shortfalls.iter().map(Shortfall::to_string).collect();
                match gate {
                    VersionGate::Enter => write!(
                        f,
                        "Stage ‘{stage}’ cannot start in {environment}: {}.",
                        parts.join("; ")
                    ),
                    VersionGate::Leave => write!(
                        f,
                        "Stage ‘{stage}’ cannot end until {environment} runs the required versions: {}.",
                        parts.join("; ")
                    ),
                }
            }
            Refusal::NoHealthyPercentage { killed_percent } => match killed_percent {
                Some(percent) => write!(
                    f,
                    "Production was killed at {percent} %, its first step, so no lower percentage was healthy; resume at the first step instead."
                ),
                None => f.write_str(
                    "The trial was not killed in production, so there is no healthy production percentage to return to; resume instead.",
                ),
            },
            Refusal::RequirementsChanged { restart } => write!(
                f,
                "The required versions changed since the kill, so this is a new implementation: it starts again at ‘{restart}’ rather than at a percentage the old one reached. Resume without choosing a percentage."
            ),
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
