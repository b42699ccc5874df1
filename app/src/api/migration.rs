//! One migration: everything its page shows, and the stage actions people take on it.
//!
//! Each action names the version of the migration the person saw (except ticking a checklist
//! item, which cannot overwrite anything): if someone else changed it since, the action is
//! refused with who and when, rather than applied to a state the person never saw.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use rollout::{
    ChatOpsCommand, CheckItem, CheckOutcome, Environment, FlagValue, Health, Link, Status,
};
use serde::{Deserialize, Serialize};

use crate::api::portfolio::{CheckDue, Place, SoakProgress};
use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MigrationDetail {
    /// The server's clock when this was read; the page keeps it ticking.
    pub as_of: DateTime<Utc>,
    /// Send it back with every action (see the module's note).
    pub version: i64,
    pub flag: String,
    pub grpc_service: String,
    pub grpc_method: String,
    pub gitaly_version: String,
    pub gitlab_version: String,
    pub routes: Vec<String>,
    pub owner: String,
    pub status: Status,
    pub health: Health,
    pub serving: Option<(Environment, FlagValue)>,
    /// The acceptance issue, Conversation issue and process documentation.
    pub links: Vec<Link>,
    pub stages: Vec<TimelineStage>,
    pub current: Option<CurrentStage>,
    /// Flag changes Rampart asked for that nobody has confirmed yet, oldest first.
    pub pending_changes: Vec<PendingFlagChange>,
    /// Newest first.
    pub audit: Vec<AuditRow>,
    /// The acceptance issue's text: the template filled in for this migration and its plan, to
    /// open the issue that tracks the rollout.
    pub acceptance_issue_text: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    /// What the person reading may do here (the server checks again on every action).
    pub viewer: ViewerRights,
    /// Where a backend holds the flag otherwise than Rampart set it, or could not be read.
    pub drift: Vec<FlagDrift>,
    /// Every kill of the migration, newest first, with its review.
    pub kills: Vec<KillView>,
    pub guardrail: GuardrailView,
}

/// What the guardrail concluded, and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GuardrailView {
    /// Judge and tell, never act.
    pub observe_only: bool,
    pub latest: Option<GuardrailEvaluation>,
    /// The latest evaluation that acted (or, observing only, would have), when not the latest.
    pub acted: Option<GuardrailEvaluation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuardrailEvaluation {
    pub at: DateTime<Utc>,
    pub stage: String,
    pub verdict: rollout::guardrail::Verdict,
    /// Failing evaluations in a row, this one included.
    pub streak: u32,
    /// "disabled the flag in production", "would have paused the trial (observe only)".
    pub action: Option<String>,
    /// Each signal's comparison, in words.
    pub signals: Vec<String>,
    /// Each query asked, and what it answered.
    pub queries: Vec<(String, String)>,
}

/// A kill, and a release manager's review of it afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillView {
    /// Its audit entry.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub by: String,
    pub reason: Option<String>,
    pub environments: Vec<Environment>,
    pub review: Option<KillReview>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillReview {
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: String,
}

/// A flag found otherwise than Rampart set it: someone changed it outside Rampart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagDrift {
    pub environment: Environment,
    /// What Rampart set, in words: "5 %", "on".
    pub expected: String,
    /// What the backend holds; `None` when it could not be read (see `error`).
    pub observed: Option<String>,
    pub error: Option<String>,
    pub observed_at: DateTime<Utc>,
}

/// What the signed-in person may do on a migration's page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerRights {
    /// Act on the rollout: start, pause, resume, check in, answer "Continue?", advance, request
    /// production changes, confirm or retry a flag change, complete, use the kill switch. The
    /// stage machine asks an engineer for each (`ActionKind::required_role`).
    pub act: bool,
    /// Edit the migration's details and plan.
    pub edit: bool,
    /// Approve or reject the production change asked for: a release manager who did not ask.
    pub approve: bool,
    /// Let a stage end before its soak, and review kills: a release manager.
    pub override_soak: bool,
}

impl MigrationDetail {
    pub fn method_name(&self) -> String {
        format!("{}::{}", self.grpc_service, self.grpc_method)
    }
}

/// A stage of the plan on the timeline: what it requires, and each time it was run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineStage {
    pub key: String,
    pub name: String,
    pub required_soak_seconds: i64,
    /// "every 5 min", "once", "not monitored".
    pub cadence: String,
    pub place: Place,
    /// Oldest first; more than one when it was entered again after a kill.
    pub visits: Vec<StageVisit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageVisit {
    pub started_at: DateTime<Utc>,
    pub started_by: String,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<String>,
    pub soak_override: Option<Override>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The stage the migration is in, and what is left to leave it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentStage {
    /// The plan's key of the stage: `production_5`.
    pub key: String,
    pub name: String,
    pub cadence: String,
    pub started_at: DateTime<Utc>,
    pub checklist: Vec<ChecklistRow>,
    pub soak: Option<SoakProgress>,
    pub next_check: Option<CheckDue>,
    /// The latest "Continue?" answer in this stage.
    pub decision: Option<CheckInView>,
    /// Whether this stage asks "Continue?" (trials do), and how it words it.
    pub decision_question: Option<String>,
    /// Everything that keeps the stage from being left, in the domain's words.
    pub blockers: Vec<Blocker>,
    pub next_stage: Option<String>,
    /// The environment whose deployed versions advancing needs, with what Rampart knows of them.
    pub versions_needed: Option<VersionsNeeded>,
    /// The ChatOps line advancing will ask someone to run, if the next stage changes the flag.
    pub next_flag_change: Option<ChatOpsCommand>,
    /// The production change asked for, while it waits or once approved.
    pub production_request: Option<ProductionRequestView>,
    /// When the next stage changes production: what asking for it takes.
    pub next_production: Option<NextProduction>,
}

/// A production change asked for, as the release manager judges it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionRequestView {
    pub stage: String,
    pub percent: u8,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub infrastructure_issue: Option<String>,
    /// "Gitaly v16.3.2, GitLab 16.3.0-ee", as shown with the request.
    pub deployed: Option<String>,
    /// What the stage still asked when the request was made, in the domain's sentences.
    pub outstanding: Vec<String>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
}

/// What asking for the next production step takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextProduction {
    pub stage: String,
    pub percent: u8,
    /// The template's "create issue" link, when this step needs the infrastructure issue.
    pub infrastructure_issue: Option<Link>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistRow {
    pub item: CheckItem,
    pub label: String,
    pub link: Option<Link>,
    pub done: Option<CheckInView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInView {
    pub by: String,
    pub at: DateTime<Utc>,
    pub outcome: CheckOutcome,
    pub note: Option<String>,
}

/// A refusal: its stable code and its sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    pub code: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionsNeeded {
    pub environment: Environment,
    /// Deployed versions as last reported by the environment, to prefill the form.
    pub gitaly: Option<String>,
    pub gitlab: Option<String>,
    /// The dashboards that show them, for whoever types them.
    pub evidence: Vec<Link>,
}

/// A flag change not applied yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFlagChange {
    pub id: i64,
    pub environment: Environment,
    pub value: String,
    /// Its ChatOps equivalent, shown whoever applies it.
    pub command: String,
    pub channel: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub progress: ChangeProgress,
}

/// Where a flag change not applied yet stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeProgress {
    /// The manual backend: a person runs the ChatOps line and confirms.
    ByHand,
    /// Rampart is applying it through `backend`; `failures` attempts failed so far, the last
    /// with `last_error`.
    Applying {
        backend: String,
        failures: i32,
        last_error: Option<String>,
    },
    /// The backend could not make it; a person retries it.
    Failed { backend: String, error: String },
}

/// One entry of an audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// What happened, in words.
    pub summary: String,
}

#[server(endpoint = "get_migration")]
pub async fn get_migration(flag: String) -> Result<MigrationDetail, AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Read)?;
    let mut detail = services()?.migrations.detail(&flag).await?;
    let request = detail
        .current
        .as_ref()
        .and_then(|c| c.production_request.as_ref());
    detail.viewer = ViewerRights {
        act: user.may(rollout::Permission::Act(rollout::ActionKind::Advance)),
        edit: user.may(rollout::Permission::EditMigrations),
        approve: request.is_some_and(|r| {
            r.approved_by.is_none() && rollout::may_approve(&user.actor(), &r.requested_by)
        }),
        override_soak: user.may(rollout::Permission::Act(rollout::ActionKind::OverrideSoak)),
    };
    Ok(detail)
}

/// Runs a stage-machine action as the signed-in user. The machine checks the role itself; the
/// permission here lets the server refuse a viewer before reading anything.
#[cfg(feature = "ssr")]
async fn act(flag: &str, version: Option<i64>, action: rollout::Action) -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Act(action.kind()))?;
    services()?
        .migrations
        .act(&user, flag, version, action)
        .await
}

/// Ticks a checklist item of the current stage.
#[server(endpoint = "record_check_in")]
pub async fn record_check_in(flag: String, item: String) -> Result<(), AppError> {
    let item = CheckItem::from_key(&item)
        .ok_or_else(|| AppError::invalid("item", format!("'{item}' is not a checklist item")))?;
    let action = rollout::Action::CheckIn {
        item,
        outcome: CheckOutcome::Checked,
        note: None,
    };
    act(&flag, None, action).await
}

/// Answers the stage's "Continue?": go on, or stop — which turns the flag off at once.
#[server(endpoint = "decide")]
pub async fn decide(
    flag: String,
    version: i64,
    decision: String,
    reason: Option<String>,
) -> Result<(), AppError> {
    let outcome = match decision.as_str() {
        "continue" => CheckOutcome::Continue,
        "stop" => CheckOutcome::Stop,
        other => {
            return Err(AppError::invalid(
                "decision",
                format!("'{other}' is not an answer; expected continue or stop"),
            ));
        }
    };
    let note = reason.filter(|r| !r.trim().is_empty());
    let action = rollout::Action::CheckIn {
        item: CheckItem::ContinueDecision,
        outcome,
        note,
    };
    act(&flag, Some(version), action).await
}

/// Starts the migration at its first stage.
#[server(endpoint = "start_migration")]
pub async fn start_migration(flag: String, version: i64) -> Result<(), AppError> {
    act(
        &flag,
        Some(version),
        rollout::Action::Start { deployed: None },
    )
    .await
}

/// Moves to the next stage. The deployed versions are what the operator read off the
/// environment, for stages that need them; left blank, Rampart asks the environment itself where
/// it can.
#[server(endpoint = "advance_stage")]
pub async fn advance_stage(
    flag: String,
    version: i64,
    gitaly_version: Option<String>,
    gitlab_version: Option<String>,
) -> Result<(), AppError> {
    let deployed = deployed_versions(gitaly_version.as_deref(), gitlab_version.as_deref())?;
    act(&flag, Some(version), rollout::Action::Advance { deployed }).await
}

/// Both versions, or neither; each checked by the domain's parser.
pub fn deployed_versions(
    gitaly: Option<&str>,
    gitlab: Option<&str>,
) -> Result<Option<rollout::DeployedVersions>, AppError> {
    use std::collections::BTreeMap;
    let (gitaly, gitlab) = (
        gitaly.unwrap_or_default().trim(),
        gitlab.unwrap_or_default().trim(),
    );
    if gitaly.is_empty() && gitlab.is_empty() {
        return Ok(None);
    }
    let mut fields = BTreeMap::new();
    let mut parse = |field: &str, text: &str| {
        let parsed = if text.is_empty() {
            Err("give both deployed versions, or neither".to_owned())
        } else {
            rollout::Version::parse(text).map_err(|error| error.to_string())
        };
        parsed
            .map_err(|message| fields.insert(field.to_owned(), message))
            .ok()
    };
    let versions = (
        parse("gitaly_version", gitaly),
        parse("gitlab_version", gitlab),
    );
    match versions {
        (Some(gitaly), Some(gitlab)) => Ok(Some(rollout::DeployedVersions { gitaly, gitlab })),
        _ => Err(AppError::Validation { fields }),
    }
}

#[server(endpoint = "pause_migration")]
pub async fn pause_migration(
    flag: String,
    version: i64,
    reason: Option<String>,
) -> Result<(), AppError> {
    let reason = reason.filter(|r| !r.trim().is_empty());
    act(&flag, Some(version), rollout::Action::Pause { reason }).await
}

#[server(endpoint = "resume_migration")]
pub async fn resume_migration(flag: String, version: i64) -> Result<(), AppError> {
    act(
        &flag,
        Some(version),
        rollout::Action::Resume { deployed: None },
    )
    .await
}

#[server(endpoint = "complete_migration")]
pub async fn complete_migration(flag: String, version: i64) -> Result<(), AppError> {
    act(&flag, Some(version), rollout::Action::Complete).await
}

/// Asks a release manager to move production to the next stage's percentage. The first
/// production step needs the infrastructure issue's link. The deployed versions are the
/// evidence that production runs what the migration needs; left blank, Rampart asks production
/// itself where it can.
#[server(endpoint = "request_production_change")]
pub async fn request_production_change(
    flag: String,
    version: i64,
    reason: String,
    infrastructure_issue: Option<String>,
    gitaly_version: Option<String>,
    gitlab_version: Option<String>,
) -> Result<(), AppError> {
    let deployed = deployed_versions(gitaly_version.as_deref(), gitlab_version.as_deref())?;
    let action = rollout::Action::RequestProductionChange {
        reason,
        infrastructure_issue,
        deployed,
    };
    act(&flag, Some(version), action).await
}

/// A release manager who did not ask approves the production change by typing the flag's name;
/// the change is made at once unless something else still holds the stage.
#[server(endpoint = "approve_production_change")]
pub async fn approve_production_change(
    flag: String,
    version: i64,
    typed_flag: String,
) -> Result<(), AppError> {
    crate::api::session::require(rollout::Permission::Act(rollout::ActionKind::Approve))?;
    if typed_flag.trim() != flag {
        return Err(AppError::invalid(
            "typed_flag",
            format!("type the flag's name, {flag}, to approve"),
        ));
    }
    act(&flag, Some(version), rollout::Action::Approve).await
}

/// A release manager turns the production change down, saying why.
#[server(endpoint = "reject_production_change")]
pub async fn reject_production_change(
    flag: String,
    version: i64,
    reason: String,
) -> Result<(), AppError> {
    act(&flag, Some(version), rollout::Action::Reject { reason }).await
}

/// A release manager lets the stage end before its soak, saying why.
#[server(endpoint = "override_soak")]
pub async fn override_soak(flag: String, version: i64, reason: String) -> Result<(), AppError> {
    act(
        &flag,
        Some(version),
        rollout::Action::OverrideSoak { reason },
    )
    .await
}

/// The kill switch: the flag off where the trial runs (or everywhere), at once. It takes no
/// version: whatever changed since the page was loaded, stopping is right.
#[server(endpoint = "kill_switch")]
pub async fn kill_switch(
    flag: String,
    reason: String,
    everywhere: Option<String>,
) -> Result<(), AppError> {
    crate::api::session::require(rollout::Permission::Act(rollout::ActionKind::Disable))?;
    act(&flag, None, kill_action(reason, everywhere.is_some())?).await
}

/// The kill switch's action. It takes a reason: the people reviewing the kill need it.
pub fn kill_action(reason: String, everywhere: bool) -> Result<rollout::Action, AppError> {
    if reason.trim().is_empty() {
        return Err(AppError::invalid(
            "reason",
            "say why the flag is turned off: the people reviewing the kill need it",
        ));
    }
    Ok(rollout::Action::Disable {
        reason: Some(reason),
        everywhere,
    })
}

/// A release manager reviews a kill afterwards: what happened, and whether it was right.
/// Lets the guardrail act on a regression, or only judge and tell (a release manager's call).
#[server(endpoint = "set_guardrail_mode")]
pub async fn set_guardrail_mode(flag: String, observe_only: bool) -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Act(rollout::ActionKind::OverrideSoak))?;
    services()?
        .migrations
        .set_guardrail_mode(&user, &flag, observe_only)
        .await
}

#[server(endpoint = "review_kill")]
pub async fn review_kill(flag: String, kill: i64, note: String) -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Act(rollout::ActionKind::OverrideSoak))?;
    if note.trim().is_empty() {
        return Err(AppError::invalid(
            "note",
            "say what the review found: was the kill right, and what follows",
        ));
    }
    services()?
        .migrations
        .review_kill(&user, &flag, kill, note.trim())
        .await
}

/// The operator ran a flag change's ChatOps line: Rampart records it as applied.
#[server(endpoint = "confirm_flag_change")]
pub async fn confirm_flag_change(flag: String, change: i64) -> Result<(), AppError> {
    flag_change_step(&flag, change, crate::api::services::FlagChangeStep::Confirm).await
}

/// A flag change the backend could not make goes back to the worker.
#[server(endpoint = "retry_flag_change")]
pub async fn retry_flag_change(flag: String, change: i64) -> Result<(), AppError> {
    flag_change_step(&flag, change, crate::api::services::FlagChangeStep::Retry).await
}

#[cfg(feature = "ssr")]
async fn flag_change_step(
    flag: &str,
    change: i64,
    step: crate::api::services::FlagChangeStep,
) -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Act(rollout::ActionKind::Advance))?;
    services()?
        .migrations
        .flag_change(&user, flag, change, step)
        .await
}
