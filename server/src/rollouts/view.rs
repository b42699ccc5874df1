//! What the pages show, computed on the server from the domain: the portfolio's rows and a
//! migration's detail. Every judgement (health, blockers, clocks, links) is the domain's.

use app::api::{
    history::{HistoryRow, Outcome, StageTime},
    migration::{
        AuditRow, Blocker, ChangeProgress, CheckInView, ChecklistRow, CurrentStage, FlagDrift,
        KillReview, KillView, MigrationDetail, NextProduction, Override, PendingFlagChange,
        ProductionRequestView, StageVisit, TimelineStage, VersionsNeeded, ViewerRights,
    },
    portfolio::{CheckDue, Place, PortfolioRow, SoakProgress, TrialMark},
};
use chrono::{DateTime, TimeDelta, Utc};
use rollout::{
    CheckIn, CheckItem, Environment, FlagValue, LinkConfig, MigrationState, Plan,
    ProductionChangeRequest, Stage, StageClock, Status, acceptance_issue, advance_blockers,
    flag_command, health, item_link, overview_links, trial_environment, versions_needed_to_advance,
};

use crate::db::{
    audit::AuditRecord, flag_changes::UnsettledChange, flag_observations::Observation,
    kill_reviews::KillRow, stages::StageRow,
};
use crate::flags::{parse_value, same_serving};
use crate::rollouts::{deployments::KnownVersions, stored::Loaded, words};

pub fn portfolio_row(loaded: &Loaded, now: DateTime<Utc>) -> PortfolioRow {
    let (plan, state, row) = (&loaded.migration.plan, &loaded.state, &loaded.row);
    let stage = state.current_stage(plan);
    let clock = state.clock(plan, now);
    PortfolioRow {
        flag: row.flag_name.clone(),
        grpc_service: row.grpc_service.clone(),
        grpc_method: row.grpc_method.clone(),
        owner: row.owner.clone(),
        status: state.status(),
        health: health(state, plan, now),
        stage_key: stage.map(|s| s.key.to_string()).unwrap_or_default(),
        stage_name: stage_name(state, plan),
        serving: serving(state),
        trials: plan
            .stages()
            .iter()
            .enumerate()
            .filter_map(|(index, stage)| {
                Some(TrialMark {
                    label: short_label(stage)?,
                    place: place(index, state),
                })
            })
            .collect(),
        soak: clock.as_ref().and_then(soak_progress),
        next_check: check_due(stage, clock.as_ref()),
        ready_to_advance: state.status() == Status::Active
            && advance_blockers(state, &loaded.migration, now).is_empty(),
        flag_change_pending: row.flag_change_pending,
        created_at: row.created_at,
    }
}

fn stage_name(state: &MigrationState, plan: &Plan) -> String {
    match (state.status(), state.current_stage(plan), state.stage_key()) {
        (Status::NotStarted, ..) => "Not started".to_owned(),
        (_, Some(stage), _) => stage.name.clone(),
        // A stage the (edited) plan no longer has still shows, by its key.
        (_, None, Some(key)) => key.to_string(),
        (_, None, None) => "Unknown stage".to_owned(),
    }
}

fn serving(state: &MigrationState) -> Option<(Environment, FlagValue)> {
    let flags = state.flags();
    trial_environment(flags).map(|environment| (environment, flags.get(environment)))
}

/// "dev", "stg", "5%": a trial on the compact timeline; `None` for stages that set no flag.
fn short_label(stage: &Stage) -> Option<String> {
    let (environment, value) = stage.flag()?;
    Some(match environment {
        Environment::Development => "dev".to_owned(),
        Environment::Staging => "stg".to_owned(),
        Environment::Production => format!("{}%", value.serving_percentage()),
    })
}

fn place(index: usize, state: &MigrationState) -> Place {
    if state.status() == Status::Completed {
        return Place::Passed;
    }
    match state.stage_index() {
        Some(current) if index < current => Place::Passed,
        Some(current) if index == current => Place::Current,
        _ => Place::Ahead,
    }
}

fn check_due(stage: Option<&Stage>, clock: Option<&StageClock>) -> Option<CheckDue> {
    Some(CheckDue {
        at: clock?.next_look_due?,
        // A cadence with an interval repeats, and so can fall behind; a single look cannot.
        can_be_late: stage?.cadence.interval().is_some(),
    })
}

fn soak_progress(clock: &StageClock) -> Option<SoakProgress> {
    (clock.soak > TimeDelta::zero()).then(|| SoakProgress {
        progress: clock.soak_progress,
        ends_at: clock.started_at + clock.soak,
    })
}

/// What the detail page needs besides the migration itself.
pub struct DetailParts {
    pub stages: Vec<StageRow>,
    pub pending: Vec<UnsettledChange>,
    pub audit: Vec<AuditRecord>,
    /// What the reconciler last read from the backends.
    pub observations: Vec<Observation>,
    /// The migration's kills, with their reviews.
    pub kills: Vec<KillRow>,
    /// The versions deployed where advancing needs them, as far as Rampart can tell.
    pub deployed: KnownVersions,
    pub guardrail: app::api::migration::GuardrailView,
}

pub fn detail(
    loaded: &Loaded,
    parts: DetailParts,
    links: &LinkConfig,
    now: DateTime<Utc>,
) -> MigrationDetail {
    let (migration, state, row) = (&loaded.migration, &loaded.state, &loaded.row);
    let plan = &migration.plan;
    let stages = plan
        .stages()
        .iter()
        .enumerate()
        .map(|(index, stage)| TimelineStage {
            key: stage.key.to_string(),
            name: stage.name.clone(),
            required_soak_seconds: stage.soak.num_seconds(),
            cadence: stage.cadence.to_string(),
            place: place(index, state),
            visits: parts
                .stages
                .iter()
                .filter(|visit| visit.stage_key == stage.key.as_str())
                .map(visit)
                .collect(),
        })
        .collect();
    let drift = parts
        .observations
        .into_iter()
        .filter_map(|o| drift(o, &parts.pending))
        .collect();
    MigrationDetail {
        as_of: now,
        version: row.version,
        flag: row.flag_name.clone(),
        grpc_service: row.grpc_service.clone(),
        grpc_method: row.grpc_method.clone(),
        gitaly_version: migration.identity.gitaly_version.to_string(),
        gitlab_version: migration.identity.gitlab_version.to_string(),
        routes: migration.identity.routes.as_slice().to_vec(),
        owner: row.owner.clone(),
        status: state.status(),
        health: health(state, plan, now),
        serving: serving(state),
        links: overview_links(&migration.identity, links),
        stages,
        current: current_stage(loaded, parts.deployed, links, now),
        pending_changes: parts.pending.into_iter().filter_map(pending).collect(),
        audit: parts.audit.into_iter().map(audit_row).collect(),
        acceptance_issue_text: acceptance_issue(&migration.identity, plan, links),
        created_at: row.created_at,
        updated_at: row.updated_at,
        updated_by: row.updated_by.clone(),
        viewer: ViewerRights::default(),
        drift,
        kills: parts.kills.into_iter().map(kill).collect(),
        guardrail: parts.guardrail,
    }
}

fn visit(row: &StageRow) -> StageVisit {
    let soak_override = match (&row.override_by, &row.override_reason, row.override_at) {
        (Some(by), Some(reason), Some(at)) => Some(Override {
            by: by.clone(),
            reason: reason.clone(),
            at,
        }),
        _ => None,
    };
    StageVisit {
        started_at: row.started_at,
        started_by: row.started_by.clone(),
        ended_at: row.ended_at,
        ended_by: row.ended_by.clone(),
        soak_override,
    }
}

fn kill(row: KillRow) -> KillView {
    let event = row
        .after
        .and_then(|after| serde_json::from_value::<rollout::Event>(after).ok());
    let (reason, environments) = match event {
        Some(rollout::Event::Disabled {
            reason,
            environments,
        }) => (reason, environments),
        _ => (None, Vec::new()),
    };
    KillView {
        id: row.id,
        at: row.at,
        by: row.actor,
        reason,
        environments,
        review: row
            .reviewed_by
            .zip(row.reviewed_at)
            .map(|(by, at)| KillReview {
                by,
                at,
                note: row.note.unwrap_or_default(),
            }),
    }
}

/// The observation as a warning, when the backend differs from what Rampart set (or could not
/// be read) and no change of that environment is under way.
fn drift(observation: Observation, pending: &[UnsettledChange]) -> Option<FlagDrift> {
    let environment: Environment = observation.environment.parse().ok()?;
    if pending
        .iter()
        .any(|p| p.environment == observation.environment)
    {
        return None;
    }
    let expected = parse_value(&observation.expected)?;
    let observed = observation.observed.as_deref().and_then(parse_value);
    if observed.is_some_and(|o| same_serving(o, expected)) {
        return None;
    }
    Some(FlagDrift {
        environment,
        expected: expected.to_string(),
        observed: observed.map(|o| o.to_string()),
        error: observation.error,
        observed_at: observation.observed_at,
    })
}

fn production_request(plan: &Plan, request: &ProductionChangeRequest) -> ProductionRequestView {
    ProductionRequestView {
        stage: plan
            .stage(request.stage.index)
            .map_or_else(|| request.stage.name.clone(), |s| s.name.clone()),
        percent: request.percent,
        reason: request.reason.clone(),
        requested_by: request.requested_by.clone(),
        requested_at: request.requested_at,
        infrastructure_issue: request
            .infrastructure_issue
            .as_ref()
            .map(|issue| issue.url().to_owned()),
        deployed: request
            .deployed
            .as_ref()
            .map(|d| format!("Gitaly {}, GitLab {}", d.gitaly, d.gitlab)),
        outstanding: request.outstanding.clone(),
        approved_by: request.approval.as_ref().map(|a| a.by.clone()),
        approved_at: request.approval.as_ref().map(|a| a.at),
    }
}

fn current_stage(
    loaded: &Loaded,
    deployed: KnownVersions,
    links: &LinkConfig,
    now: DateTime<Utc>,
) -> Option<CurrentStage> {
    let (migration, state) = (&loaded.migration, &loaded.state);
    let plan = &migration.plan;
    let stage = state.current_stage(plan)?;
    let index = state.stage_index()?;
    let clock = state.clock(plan, now)?;
    let next = plan.stage(index + 1);
    let checklist = stage
        .checklist
        .iter()
        .filter(|item| **item != CheckItem::ContinueDecision)
        .map(|&item| ChecklistRow {
            item,
            label: item.label_in(stage).to_owned(),
            link: item_link(&migration.identity, stage, item, links),
            done: state
                .check_ins()
                .iter()
                .rfind(|c| c.item == item)
                .map(check_in_view),
        })
        .collect();
    let asks_decision = stage.checklist.contains(&CheckItem::ContinueDecision);
    Some(CurrentStage {
        key: stage.key.to_string(),
        name: stage.name.clone(),
        cadence: stage.cadence.to_string(),
        started_at: clock.started_at,
        checklist,
        soak: soak_progress(&clock),
        next_check: check_due(Some(stage), Some(&clock)),
        decision: state.last_decision().map(check_in_view),
        decision_question: asks_decision
            .then(|| CheckItem::ContinueDecision.label_in(stage).to_owned()),
        blockers: advance_blockers(state, migration, now)
            .into_iter()
            .map(|refusal| Blocker {
                code: refusal.code().to_owned(),
                message: refusal.to_string(),
            })
            .collect(),
        next_stage: next.map(|s| s.name.clone()),
        versions_needed: versions_needed_to_advance(state, plan).map(|environment| {
            VersionsNeeded {
                environment,
                gitaly: deployed.gitaly.as_ref().map(ToString::to_string),
                gitlab: deployed.gitlab.as_ref().map(ToString::to_string),
                // Where a person reads them: the stage that runs there (or checks them).
                evidence: [next, Some(stage)]
                    .into_iter()
                    .flatten()
                    .find(|s| s.environment() == Some(environment))
                    .map(|s| {
                        [
                            CheckItem::GitalyVersionChecked,
                            CheckItem::GitlabVersionChecked,
                        ]
                        .into_iter()
                        .filter_map(|item| item_link(&migration.identity, s, item, links))
                        .collect()
                    })
                    .unwrap_or_default(),
            }
        }),
        production_request: state
            .production_change()
            .map(|request| production_request(plan, request)),
        next_production: next.and_then(|next| {
            let percent = next.production_percent()?;
            Some(NextProduction {
                stage: next.name.clone(),
                percent,
                infrastructure_issue: next
                    .requires_infrastructure_issue()
                    .then(|| {
                        item_link(
                            &migration.identity,
                            next,
                            CheckItem::InfrastructureIssueCreated,
                            links,
                        )
                    })
                    .flatten(),
            })
        }),
        next_flag_change: next.and_then(Stage::flag).map(|(environment, value)| {
            flag_command(&migration.identity.feature_flag, environment, value, links)
        }),
    })
}

fn check_in_view(check_in: &CheckIn) -> CheckInView {
    CheckInView {
        by: check_in.by.clone(),
        at: check_in.at,
        outcome: check_in.outcome,
        note: check_in.note.clone(),
    }
}

fn pending(row: UnsettledChange) -> Option<PendingFlagChange> {
    let progress = match (row.status.as_str(), row.backend.as_str()) {
        (_, "manual") => ChangeProgress::ByHand,
        ("failed", _) => ChangeProgress::Failed {
            backend: words::backend_name(&row.backend).to_owned(),
            error: row.error.unwrap_or_default(),
        },
        _ => ChangeProgress::Applying {
            backend: words::backend_name(&row.backend).to_owned(),
            failures: row.attempts,
            last_error: row.error,
        },
    };
    Some(PendingFlagChange {
        id: row.id,
        environment: row.environment.parse().ok()?,
        value: row.value,
        command: row.command,
        channel: row.channel,
        requested_by: row.requested_by,
        requested_at: row.requested_at,
        progress,
    })
}

/// The audit actions the history counts: pauses and kills (rollbacks).
pub const HISTORY_COUNTED: &[&str] = &["migration.paused", "migration.disabled"];

/// A finished migration's history, from its stage rows (of every migration; this one's are
/// picked out) and the counts of [`HISTORY_COUNTED`] actions.
pub fn history_row(
    loaded: &Loaded,
    stages: &[StageRow],
    counts: &[(String, String, i64)],
) -> HistoryRow {
    let (plan, state, row) = (&loaded.migration.plan, &loaded.state, &loaded.row);
    let visits: Vec<&StageRow> = stages.iter().filter(|s| s.migration_id == row.id).collect();
    let plan_stage = |visit: &StageRow| plan.stage_by_key(&visit.stage_key).map(|(_, s)| s);
    let first_entry = |wanted: &dyn Fn(&Stage) -> bool| {
        visits
            .iter()
            .filter(|v| plan_stage(v).is_some_and(wanted))
            .map(|v| v.started_at)
            .min()
    };
    let production = first_entry(&|s| s.production_percent().is_some());
    let full = first_entry(&|s| s.production_percent() == Some(100));
    let count = |action: &str| {
        let subject = crate::rollouts::record::subject(&row.flag_name);
        counts
            .iter()
            .find(|(s, a, _)| *s == subject && a == action)
            .map_or(0, |(_, _, n)| *n)
    };
    let (outcome, ended_at) = match state.kill() {
        Some(kill) if state.status() == Status::Disabled => (Outcome::RolledBack, kill.at),
        _ => (Outcome::Completed, row.updated_at),
    };
    let stage_times = plan
        .stages()
        .iter()
        .filter_map(|stage| {
            let ran: Vec<&&StageRow> = visits
                .iter()
                .filter(|v| v.stage_key == stage.key.as_str())
                .collect();
            (!ran.is_empty()).then(|| StageTime {
                key: stage.key.to_string(),
                name: stage.name.clone(),
                actual_seconds: ran
                    .iter()
                    .map(|v| (v.ended_at.unwrap_or(ended_at) - v.started_at).num_seconds())
                    .sum(),
                required_seconds: stage.soak.num_seconds(),
            })
        })
        .collect();
    HistoryRow {
        flag: row.flag_name.clone(),
        method: format!("{}::{}", row.grpc_service, row.grpc_method),
        owner: row.owner.clone(),
        outcome,
        started_at: visits.first().map_or(row.created_at, |v| v.started_at),
        ended_at,
        lead_time_seconds: production
            .zip(full)
            .map(|(from, to)| (to - from).num_seconds()),
        stages: stage_times,
        pauses: count("migration.paused"),
        rollbacks: count("migration.disabled"),
        overrides: visits.iter().filter(|v| v.override_by.is_some()).count() as i64,
    }
}

pub fn audit_row(record: AuditRecord) -> AuditRow {
    AuditRow {
        summary: words::summary(&record.action, record.after.as_ref()),
        id: record.id,
        at: record.at,
        actor: record.actor,
        action: record.action,
        subject: record.subject,
    }
}
