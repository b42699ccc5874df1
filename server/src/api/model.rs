//! What the API reads and writes: the app's types as a script sees them, in the domain's words
//! (flags, stage keys, refusal codes), with the schema the OpenAPI document publishes.
//!
//! Each response type is made from the app's own (`From`), so the API shows exactly what the
//! pages show and computes nothing of its own.

use app::api::{
    migration::{
        AuditRow, ChangeProgress, CheckInView, CurrentStage, MigrationDetail, PendingFlagChange,
        TimelineStage,
    },
    migration_form::MigrationForm,
    panels::{Chart, CountTile, Panels},
    portfolio::PortfolioRow,
};
use chrono::{DateTime, Utc};
use rollout::{Environment, FlagValue, Link};
use serde::{Deserialize, Serialize};
use utoipa::{
    ToSchema,
    openapi::{ObjectBuilder, RefOr, Schema, Type, schema::SchemaType},
};

/// A string schema whose values are the domain enum `E`'s words, listed from the enum itself.
fn words<E>() -> impl Into<RefOr<Schema>>
where
    E: strum::IntoEnumIterator + Into<&'static str>,
{
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(E::iter().map(Into::<&'static str>::into)))
}

fn status_words() -> impl Into<RefOr<Schema>> {
    words::<rollout::Status>()
}

fn health_words() -> impl Into<RefOr<Schema>> {
    words::<rollout::Health>()
}

fn environment_words() -> impl Into<RefOr<Schema>> {
    words::<Environment>()
}

fn optional_environment_words() -> impl Into<RefOr<Schema>> {
    let values = <Environment as strum::IntoEnumIterator>::iter()
        .map(|environment| serde_json::Value::from(environment.as_str()))
        .chain([serde_json::Value::Null]);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
}

fn item_words() -> impl Into<RefOr<Schema>> {
    words::<rollout::CheckItem>()
}

fn outcome_words() -> impl Into<RefOr<Schema>> {
    words::<rollout::CheckOutcome>()
}

/// A unit-like enum's serde name: `Place::Passed` is `passed`.
fn word(value: impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(word)) => word,
        _ => String::new(),
    }
}

/// A link to a dashboard, a search, an issue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiLink {
    pub label: String,
    pub url: String,
}

impl From<Link> for ApiLink {
    fn from(link: Link) -> Self {
        Self {
            label: link.label,
            url: link.url,
        }
    }
}

/// Where the trial runs now and the flag's setting there: `5` per cent, or on (100) / off (0).
#[derive(Debug, Serialize, ToSchema)]
pub struct Serving {
    #[schema(schema_with = environment_words)]
    pub environment: String,
    /// The share of calls that reach the new implementation.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    /// `on`, `off`, or `5 %`.
    pub setting: String,
}

fn serving(serving: Option<(Environment, FlagValue)>) -> Option<Serving> {
    serving.map(|(environment, value)| Serving {
        environment: environment.as_str().to_owned(),
        percent: value.serving_percentage(),
        setting: value.to_string(),
    })
}

/// A migration as the portfolio lists it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "flag": "gitaly_find_commit_v2", "method": "CommitService::FindCommit", "owner": "erin",
    "status": "active", "health": "healthy", "stage": "staging", "stage_name": "Staging",
    "serving": {"environment": "staging", "percent": 100, "setting": "on"},
    "soak_ends_at": "2026-11-26T12:00:00Z", "next_check_due": "2026-11-26T10:30:00Z",
    "ready_to_advance": false, "flag_change_pending": false,
    "created_at": "2026-11-25T09:00:00Z"
}))]
pub struct MigrationSummary {
    pub flag: String,
    /// `Service::Method`.
    pub method: String,
    pub owner: String,
    #[schema(schema_with = status_words)]
    pub status: String,
    #[schema(schema_with = health_words)]
    pub health: String,
    /// The current stage's key; `null` before the start.
    pub stage: Option<String>,
    pub stage_name: Option<String>,
    pub serving: Option<Serving>,
    pub soak_ends_at: Option<DateTime<Utc>>,
    pub next_check_due: Option<DateTime<Utc>>,
    /// Nothing holds the current stage.
    pub ready_to_advance: bool,
    /// A flag change Rampart asked for is not applied yet.
    pub flag_change_pending: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&PortfolioRow> for MigrationSummary {
    fn from(row: &PortfolioRow) -> Self {
        let stage = (!row.stage_key.is_empty()).then(|| row.stage_key.clone());
        Self {
            flag: row.flag.clone(),
            method: row.method_name(),
            owner: row.owner.clone(),
            status: row.status.as_str().to_owned(),
            health: row.health.as_str().to_owned(),
            stage_name: stage.as_ref().map(|_| row.stage_name.clone()),
            stage,
            serving: serving(row.serving),
            soak_ends_at: row.soak.map(|soak| soak.ends_at),
            next_check_due: row.next_check.map(|due| due.at),
            ready_to_advance: row.ready_to_advance,
            flag_change_pending: row.flag_change_pending,
            created_at: row.created_at,
        }
    }
}

/// A page of migrations. `next_cursor` fetches the next page; `null` on the last.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "items": [{
        "flag": "gitaly_find_commit_v2", "method": "CommitService::FindCommit", "owner": "erin",
        "status": "active", "health": "healthy", "stage": "production_5", "stage_name": "Production 5 %",
        "serving": {"environment": "production", "percent": 5, "setting": "5 %"},
        "soak_ends_at": "2026-11-27T10:00:00Z", "next_check_due": "2026-11-26T11:00:00Z",
        "ready_to_advance": false, "flag_change_pending": false,
        "created_at": "2026-11-20T09:00:00Z"
    }],
    "next_cursor": "gitaly_find_commit_v2"
}))]
pub struct MigrationPage {
    pub items: Vec<MigrationSummary>,
    pub next_cursor: Option<String>,
}

/// One migration in full.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "as_of": "2026-11-26T10:12:00Z", "flag": "gitaly_find_commit_v2",
    "method": "CommitService::FindCommit", "version": 14,
    "gitaly_version": "v16.3.2", "gitlab_version": "v16.3",
    "routes": ["GET /api/v4/projects/:id/repository/commits/:sha"], "owner": "erin",
    "status": "active", "health": "healthy",
    "serving": {"environment": "staging", "percent": 100, "setting": "on"},
    "stages": [{
        "key": "staging", "name": "Staging trial", "required_soak_seconds": 900,
        "cadence": "every 5 min", "place": "current",
        "visits": [{"started_at": "2026-11-26T10:00:00Z", "started_by": "erin",
                    "ended_at": null, "ended_by": null, "soak_override": null}]
    }],
    "current": {
        "stage": "staging", "name": "Staging trial", "started_at": "2026-11-26T10:00:00Z",
        "cadence": "every 5 min", "soak_ends_at": "2026-11-26T10:15:00Z",
        "next_check_due": "2026-11-26T10:15:00Z",
        "checklist": [{
            "item": "grafana_checked", "label": "Grafana dashboard checked", "watches_soak": true,
            "link": {"label": "Gitaly feature status", "url": "https://dashboards.gitlab.net/d/gitaly-feature-status"},
            "done": {"by": "erin", "at": "2026-11-26T10:10:00Z", "outcome": "checked", "note": null}
        }],
        "decision_question": "Continue?", "decision": null,
        "blockers": [{"code": "soak_not_elapsed", "message": "The soak of ‘Staging trial’ has 3 min left."}],
        "next_stage": "production_version_check"
    },
    "change_request": null, "flag_changes": [],
    "links": [{"label": "Acceptance issue", "url": "https://gitlab.com/gitlab-org/gitaly/-/issues/4821"}],
    "created_at": "2026-11-25T09:00:00Z", "updated_at": "2026-11-26T10:10:00Z", "updated_by": "erin"
}))]
pub struct Migration {
    /// Rampart's clock when this was read: what the times below are relative to.
    pub as_of: DateTime<Utc>,
    pub flag: String,
    /// `Service::Method`.
    pub method: String,
    /// Send it back with a change, so a change made since is refused (409) rather than
    /// overwritten.
    pub version: i64,
    pub gitaly_version: String,
    pub gitlab_version: String,
    pub routes: Vec<String>,
    pub owner: String,
    #[schema(schema_with = status_words)]
    pub status: String,
    #[schema(schema_with = health_words)]
    pub health: String,
    pub serving: Option<Serving>,
    /// Every stage of the plan, in order.
    pub stages: Vec<Stage>,
    /// The stage the migration is in, and what holds it there; `null` before the start and
    /// after the end.
    pub current: Option<Current>,
    /// The production change asked for, while it waits or once approved.
    pub change_request: Option<ChangeRequest>,
    /// Flag changes Rampart asked for that are not applied yet, oldest first.
    pub flag_changes: Vec<FlagChange>,
    /// The acceptance issue, the Conversation issue, the process.
    pub links: Vec<ApiLink>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// A stage of the plan: what it requires, and each time it ran.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stage {
    /// `development`, `staging`, `production_5`, …
    pub key: String,
    pub name: String,
    pub required_soak_seconds: i64,
    /// `every 5 min`, `once`, `not monitored`.
    pub cadence: String,
    /// `passed`, `current` or `ahead`.
    pub place: String,
    pub visits: Vec<Visit>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Visit {
    pub started_at: DateTime<Utc>,
    pub started_by: String,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<String>,
    /// Why the stage was let end before its soak, and by whom.
    pub soak_override: Option<String>,
}

impl From<TimelineStage> for Stage {
    fn from(stage: TimelineStage) -> Self {
        Self {
            key: stage.key,
            name: stage.name,
            required_soak_seconds: stage.required_soak_seconds,
            cadence: stage.cadence,
            place: word(stage.place),
            visits: stage
                .visits
                .into_iter()
                .map(|visit| Visit {
                    started_at: visit.started_at,
                    started_by: visit.started_by,
                    ended_at: visit.ended_at,
                    ended_by: visit.ended_by,
                    soak_override: visit
                        .soak_override
                        .map(|o| format!("{} at {}: {}", o.by, o.at.to_rfc3339(), o.reason)),
                })
                .collect(),
        }
    }
}

/// The current stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct Current {
    pub stage: String,
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub cadence: String,
    pub soak_ends_at: Option<DateTime<Utc>>,
    pub next_check_due: Option<DateTime<Utc>>,
    pub checklist: Vec<ChecklistItem>,
    /// The stage's "Continue?", in its words, when it asks one (trials do): answer it with a
    /// check-in of `continue_decision`, `continue` or `stop`.
    pub decision_question: Option<String>,
    /// The latest answer in this stage.
    pub decision: Option<CheckIn>,
    /// Everything that keeps the stage from being left, as the domain's refusals.
    pub blockers: Vec<Refusal>,
    /// The stage that advancing enters.
    pub next_stage: Option<String>,
}

/// A rule that holds the stage: its stable code and its sentence.
#[derive(Debug, Serialize, ToSchema)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChecklistItem {
    #[schema(schema_with = item_words)]
    pub item: String,
    pub label: String,
    /// A check-in of it is a look at the stage: the soak is watched by such looks, at the
    /// stage's cadence.
    pub watches_soak: bool,
    pub link: Option<ApiLink>,
    pub done: Option<CheckIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckIn {
    pub by: String,
    pub at: DateTime<Utc>,
    #[schema(schema_with = outcome_words)]
    pub outcome: String,
    pub note: Option<String>,
}

impl From<CheckInView> for CheckIn {
    fn from(check: CheckInView) -> Self {
        Self {
            by: check.by,
            at: check.at,
            outcome: check.outcome.as_str().to_owned(),
            note: check.note,
        }
    }
}

impl From<CurrentStage> for Current {
    fn from(current: CurrentStage) -> Self {
        Self {
            stage: current.key,
            name: current.name,
            started_at: current.started_at,
            cadence: current.cadence,
            soak_ends_at: current.soak.map(|soak| soak.ends_at),
            next_check_due: current.next_check.map(|due| due.at),
            checklist: current
                .checklist
                .into_iter()
                .map(|row| ChecklistItem {
                    item: row.item.key().to_owned(),
                    label: row.label,
                    watches_soak: row.item.counts_for_cadence(),
                    link: row.link.map(ApiLink::from),
                    done: row.done.map(CheckIn::from),
                })
                .collect(),
            decision_question: current.decision_question,
            decision: current.decision.map(CheckIn::from),
            blockers: current
                .blockers
                .into_iter()
                .map(|blocker| Refusal {
                    code: blocker.code,
                    message: blocker.message,
                })
                .collect(),
            next_stage: current.next_stage,
        }
    }
}

/// A flag change on its way: made by hand (the manual backend: run `command`, then confirm it
/// on the migration's page), being applied by a backend, or failed there.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlagChange {
    #[schema(schema_with = environment_words)]
    pub environment: String,
    /// `on`, `off`, `5 %`.
    pub setting: String,
    /// `by_hand`, `applying` or `failed`.
    pub state: String,
    /// Why the backend could not make it, when it could not.
    pub error: Option<String>,
    /// The ChatOps line that makes it.
    pub command: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
}

impl From<PendingFlagChange> for FlagChange {
    fn from(change: PendingFlagChange) -> Self {
        let (state, error) = match change.progress {
            ChangeProgress::ByHand => ("by_hand", None),
            ChangeProgress::Applying { last_error, .. } => ("applying", last_error),
            ChangeProgress::Failed { error, .. } => ("failed", Some(error)),
        };
        Self {
            environment: change.environment.as_str().to_owned(),
            setting: change.value,
            state: state.to_owned(),
            error,
            command: change.command,
            requested_by: change.requested_by,
            requested_at: change.requested_at,
        }
    }
}

/// A production change asked for: moving production to the next stage's percentage, which a
/// release manager who did not ask approves or rejects.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "gitaly_find_commit_v2@production_5@1764151200000", "flag": "gitaly_find_commit_v2",
    "stage": "production_5", "percent": 5, "reason": "error rate flat at 1 %",
    "requested_by": "erin", "requested_at": "2026-11-26T10:00:00Z", "state": "pending",
    "approved_by": null, "approved_at": null, "outstanding": []
}))]
pub struct ChangeRequest {
    /// Names this request, for approving or rejecting it.
    pub id: String,
    pub flag: String,
    /// The stage the change enters.
    pub stage: String,
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// `pending` or `approved`.
    pub state: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// What the stage still asked when the request was made, in the domain's sentences.
    pub outstanding: Vec<String>,
}

impl Migration {
    pub fn from_detail(detail: MigrationDetail) -> Self {
        let flag = detail.flag.clone();
        let change_request = detail
            .current
            .as_ref()
            .and_then(|current| current.production_request.clone())
            .map(|request| ChangeRequest {
                id: super::change_requests::request_id(&flag, &request.stage, request.requested_at),
                flag: flag.clone(),
                stage: request.stage,
                percent: request.percent,
                reason: request.reason,
                requested_by: request.requested_by,
                requested_at: request.requested_at,
                state: if request.approved_by.is_some() {
                    "approved"
                } else {
                    "pending"
                }
                .to_owned(),
                approved_by: request.approved_by,
                approved_at: request.approved_at,
                outstanding: request.outstanding,
            });
        Self {
            as_of: detail.as_of,
            method: detail.method_name(),
            flag,
            version: detail.version,
            gitaly_version: detail.gitaly_version,
            gitlab_version: detail.gitlab_version,
            routes: detail.routes,
            owner: detail.owner,
            status: detail.status.as_str().to_owned(),
            health: detail.health.as_str().to_owned(),
            serving: serving(detail.serving),
            stages: detail.stages.into_iter().map(Stage::from).collect(),
            current: detail.current.map(Current::from),
            change_request,
            flag_changes: detail
                .pending_changes
                .into_iter()
                .map(FlagChange::from)
                .collect(),
            links: detail.links.into_iter().map(ApiLink::from).collect(),
            created_at: detail.created_at,
            updated_at: detail.updated_at,
            updated_by: detail.updated_by,
        }
    }
}

/// A new migration: the template's Details and Preparation fields, checked by the domain.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "feature_flag": "gitaly_find_commit_v2", "grpc_method": "CommitService::FindCommit",
    "gitaly_version": "v16.3.2", "gitlab_version": "v16.3",
    "routes": ["GET /api/v4/projects/:id/repository/commits/:sha"],
    "acceptance_issue": "https://gitlab.com/gitlab-org/gitaly/-/issues/4821",
    "conversation": "#567", "owner": "erin", "production_steps": [1, 5, 50, 100]
}))]
pub struct NewMigration {
    pub feature_flag: String,
    /// `Service::Method`.
    pub grpc_method: String,
    /// The Gitaly version that carries the new implementation.
    pub gitaly_version: String,
    pub gitlab_version: String,
    #[serde(default)]
    pub routes: Vec<String>,
    pub acceptance_issue: String,
    #[serde(default)]
    pub conversation: String,
    /// The engineer who answers for the rollout; the token's user when left out.
    #[serde(default)]
    pub owner: Option<String>,
    /// The production percentages in order; the template's 1, 5, 50, 100 when left out.
    #[serde(default)]
    pub production_steps: Option<Vec<u8>>,
}

impl From<NewMigration> for MigrationForm {
    fn from(new: NewMigration) -> Self {
        MigrationForm {
            feature_flag: new.feature_flag,
            grpc_method: new.grpc_method,
            gitaly_version: new.gitaly_version,
            gitlab_version: new.gitlab_version,
            routes: new.routes.join("\n"),
            acceptance_issue: new.acceptance_issue,
            conversation: new.conversation,
            owner: new.owner.unwrap_or_default(),
            production_steps: steps_text(new.production_steps.as_deref()),
        }
    }
}

fn steps_text(steps: Option<&[u8]>) -> String {
    steps
        .unwrap_or_default()
        .iter()
        .map(u8::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Changes to a migration: the fields given replace the saved ones; the flag cannot change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": 7, "owner": "rob", "production_steps": [1, 10, 50, 100]}))]
pub struct MigrationPatch {
    /// The version the change is made on (from `GET`): a change made since is refused (409).
    pub version: i64,
    pub grpc_method: Option<String>,
    pub gitaly_version: Option<String>,
    pub gitlab_version: Option<String>,
    pub routes: Option<Vec<String>>,
    pub acceptance_issue: Option<String>,
    pub conversation: Option<String>,
    pub owner: Option<String>,
    pub production_steps: Option<Vec<u8>>,
}

impl MigrationPatch {
    /// `saved` with this patch's fields put in.
    pub fn apply(self, saved: MigrationForm) -> MigrationForm {
        MigrationForm {
            feature_flag: saved.feature_flag,
            grpc_method: self.grpc_method.unwrap_or(saved.grpc_method),
            gitaly_version: self.gitaly_version.unwrap_or(saved.gitaly_version),
            gitlab_version: self.gitlab_version.unwrap_or(saved.gitlab_version),
            routes: self.routes.map_or(saved.routes, |routes| routes.join("\n")),
            acceptance_issue: self.acceptance_issue.unwrap_or(saved.acceptance_issue),
            conversation: self.conversation.unwrap_or(saved.conversation),
            owner: self.owner.unwrap_or(saved.owner),
            production_steps: self
                .production_steps
                .map_or(saved.production_steps, |steps| steps_text(Some(&steps))),
        }
    }
}

/// A check-in on the current stage: an item of its checklist looked at, or the answer to
/// "Continue?" (`continue_decision` with `continue` or `stop`; `stop` turns the flag off).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"item": "grafana_checked", "note": "call rate flat"}))]
pub struct NewCheckIn {
    #[schema(schema_with = item_words)]
    pub item: String,
    /// `checked` by default; `continue` or `stop` for the decision.
    #[schema(schema_with = outcome_words)]
    pub outcome: Option<String>,
    pub note: Option<String>,
    /// The version seen; a change made since is refused (409). Optional.
    pub version: Option<i64>,
}

/// Versions deployed where the next stage runs, read off the environment by the caller; when
/// left out, Rampart asks the environment itself where it can.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"version": 7, "gitaly_version": "16.3.2", "gitlab_version": "16.3.0-ee"}))]
pub struct Advance {
    /// The version seen; a change made since is refused (409). Optional.
    pub version: Option<i64>,
    pub gitaly_version: Option<String>,
    pub gitlab_version: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "reason": "error rate flat, latency flat",
    "infrastructure_issue": "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/17001",
    "gitaly_version": "16.3.2", "gitlab_version": "16.3.0-ee"
}))]
pub struct NewChangeRequest {
    /// What makes the next percentage safe.
    pub reason: String,
    /// The infrastructure issue; the first production step needs it.
    pub infrastructure_issue: Option<String>,
    pub gitaly_version: Option<String>,
    pub gitlab_version: Option<String>,
    pub version: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "the 1 % step showed a latency rise; look again first"}))]
pub struct Rejection {
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "error rate 4 % in production", "everywhere": false}))]
pub struct Kill {
    /// Why: the people reviewing the kill need it.
    pub reason: String,
    /// Off in every environment, not only where the trial runs.
    #[serde(default)]
    pub everywhere: bool,
}

/// An entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Who acted: a user name, or `[guardrail]` and the like for Rampart itself.
    pub actor: String,
    /// `migration.advanced`, `production.approved`, …
    pub action: String,
    /// The migration's flag, or what else the action was on.
    pub subject: String,
    pub summary: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: row.at,
            actor: row.actor,
            action: row.action,
            subject: row.subject,
            summary: row.summary,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "items": [{
        "id": 812, "at": "2026-11-26T10:02:00Z", "actor": "rita",
        "action": "migration.production_change_approved", "subject": "migration:gitaly_find_commit_v2",
        "summary": "approved production at 5 %"
    }],
    "next_cursor": "1764151320000000_812"
}))]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// Each panel's latest reading over the current stage.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "environment": "production",
    "charts": [{
        "key": "error_rate", "title": "Error rate", "unit": "ratio",
        "latest": [{"label": "flag on", "at": "2026-11-26T10:12:00Z", "value": 0.004},
                   {"label": "flag off", "at": "2026-11-26T10:12:00Z", "value": 0.0038}],
        "unavailable": null,
        "link": {"label": "Gitaly feature status", "url": "https://dashboards.gitlab.net/d/gitaly-feature-status"}
    }],
    "counts": [{"key": "sentry_gitaly", "label": "Gitaly Sentry issues", "count": 0,
                "partial": null, "unavailable": null, "link": null}]
}))]
pub struct PanelValues {
    /// The environment watched; `null` before the rollout reaches one.
    #[schema(schema_with = optional_environment_words)]
    pub environment: Option<String>,
    pub charts: Vec<ChartValue>,
    /// Log counts and Sentry issues over the stage's window.
    pub counts: Vec<CountValue>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChartValue {
    /// `call_rate`, `error_rate`, `latency`, `cpu`, …
    pub key: String,
    pub title: String,
    /// `per_second`, `ratio`, `seconds` or `cores`.
    pub unit: String,
    /// Each line's last point.
    pub latest: Vec<LineValue>,
    /// Why the chart has no data, when it has none.
    pub unavailable: Option<String>,
    pub link: Option<ApiLink>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LineValue {
    pub label: String,
    pub at: DateTime<Utc>,
    pub value: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountValue {
    pub key: String,
    pub label: String,
    pub count: Option<u64>,
    /// Set when the count is a lower bound.
    pub partial: Option<String>,
    pub unavailable: Option<String>,
    pub link: Option<ApiLink>,
}

impl From<Chart> for ChartValue {
    fn from(chart: Chart) -> Self {
        Self {
            key: chart.key,
            title: chart.title,
            unit: word(chart.unit),
            latest: chart
                .lines
                .into_iter()
                .filter_map(|line| {
                    let (at, value) = *line.points.last()?;
                    Some(LineValue {
                        label: line.label,
                        at: DateTime::from_timestamp(at, 0)?,
                        value,
                    })
                })
                .filter(|line| line.value.is_finite())
                .collect(),
            unavailable: chart.unavailable,
            link: chart.link.map(ApiLink::from),
        }
    }
}

impl From<CountTile> for CountValue {
    fn from(tile: CountTile) -> Self {
        Self {
            key: tile.key,
            label: tile.label,
            count: tile.count,
            partial: tile.partial,
            unavailable: tile.unavailable,
            link: tile.link.map(ApiLink::from),
        }
    }
}

impl From<Panels> for PanelValues {
    fn from(panels: Panels) -> Self {
        Self {
            environment: panels.environment.map(|e| e.as_str().to_owned()),
            charts: panels.charts.into_iter().map(ChartValue::from).collect(),
            counts: panels.counts.into_iter().map(CountValue::from).collect(),
        }
    }
}
