//! Writes what a transition did, in the transaction that saves its state: the stage rows,
//! check-ins, flag-change intents and one audit entry per event.

use chrono::{DateTime, Utc};
use rollout::{Environment, Event, LinkConfig, Migration, StageRef, flag_command};
use sqlx::PgConnection;

use crate::db::{
    audit::{AuditEntry, insert_audit},
    flag_changes::{NewFlagChange, insert_intent},
    notifications,
    stages::{
        EnteredStage, NewCheckIn, end_open_stage, enter_stage, insert_check_in, record_override,
    },
};
use crate::error::Error;
use crate::flags::{FlagBackends, value_text};

/// What the events are about, and who caused them when.
pub struct Recorder<'a> {
    pub migration_id: i64,
    pub migration: &'a Migration,
    pub links: &'a LinkConfig,
    /// Which backend applies each environment's changes.
    pub backends: &'a FlagBackends,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
    /// The environment the migration's stage watched before the events: where a pause or a
    /// resumption is told.
    pub environment: Option<Environment>,
}

/// Queues a chat notification of what `actor` did to `flag`, in the caller's transaction.
pub async fn tell(
    tx: &mut PgConnection,
    environment: &str,
    flag: &str,
    actor: &str,
    sentence: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let text = format!("{flag}: {actor} {sentence}");
    notifications::enqueue(tx, environment, &text, at).await
}

/// How a migration is named in the audit log.
pub fn subject(flag: &str) -> String {
    format!("migration:{flag}")
}

impl Recorder<'_> {
    pub async fn record(&self, tx: &mut PgConnection, events: &[Event]) -> Result<(), Error> {
        // The kill switch's flag changes go ahead of every other.
        let urgent = events.iter().any(|e| matches!(e, Event::Disabled { .. }));
        for event in events {
            self.apply(tx, event, urgent).await?;
            let action = format!("migration.{}", event_name(event));
            insert_audit(
                &mut *tx,
                &AuditEntry {
                    actor: self.actor,
                    action: &action,
                    subject: subject(self.migration.identity.feature_flag.as_str()),
                    before: None,
                    after: Some(serde_json::to_value(event)?),
                },
                self.at,
            )
            .await?;
            for environment in self.told_in(event) {
                tell(
                    tx,
                    environment.as_str(),
                    self.migration.identity.feature_flag.as_str(),
                    self.actor,
                    &crate::rollouts::words::describe(event),
                    self.at,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The environments whose channel hears of `event`: stage changes where the stage runs,
    /// production's four eyes in production, a kill where it disabled the flag, the guardrail's
    /// verdicts where it judged, a pause or resumption where the stage runs.
    fn told_in(&self, event: &Event) -> Vec<Environment> {
        let environment_of = |stage: &StageRef| {
            self.migration
                .plan
                .stage(stage.index)
                .and_then(|s| s.environment())
        };
        match event {
            Event::Advanced { from, to } => environment_of(to)
                .or_else(|| environment_of(from))
                .into_iter()
                .collect(),
            Event::ProductionChangeRequested { .. }
            | Event::ProductionChangeApproved { .. }
            | Event::ProductionChangeRejected { .. } => vec![Environment::Production],
            Event::Disabled { environments, .. } => environments.clone(),
            Event::GuardrailVerdict { stage, .. } | Event::SoakOverridden { stage, .. } => {
                environment_of(stage).into_iter().collect()
            }
            Event::Paused { .. } | Event::Resumed => self.environment.into_iter().collect(),
            _ => Vec::new(),
        }
    }

    async fn apply(&self, tx: &mut PgConnection, event: &Event, urgent: bool) -> Result<(), Error> {
        match event {
            Event::Started { stage }
            | Event::Advanced { to: stage, .. }
            | Event::Reentered { stage, .. } => self.enter(tx, stage).await?,
            Event::Completed => end_open_stage(tx, self.migration_id, self.actor, self.at).await?,
            Event::SoakOverridden { reason, .. } => {
                record_override(tx, self.migration_id, self.actor, reason, self.at).await?;
            }
            Event::CheckedIn { stage, check_in } => {
                insert_check_in(
                    &mut *tx,
                    &NewCheckIn {
                        migration_id: self.migration_id,
                        stage_index: index(stage),
                        stage_key: stage.key.as_str(),
                        item: check_in.item.key(),
                        outcome: check_in.outcome.as_str(),
                        by: &check_in.by,
                        at: check_in.at,
                        note: check_in.note.as_deref(),
                    },
                )
                .await?;
            }
            Event::FlagChange { environment, value } => {
                let line = flag_command(
                    &self.migration.identity.feature_flag,
                    *environment,
                    *value,
                    self.links,
                );
                insert_intent(
                    tx,
                    &NewFlagChange {
                        migration_id: self.migration_id,
                        environment: environment.as_str(),
                        value: &value_text(*value),
                        command: &line.command,
                        channel: &line.channel.name,
                        backend: self.backends.kind(*environment).as_str(),
                        urgent,
                    },
                    self.actor,
                    self.at,
                )
                .await?;
            }
            Event::AutomatedLook { .. }
            | Event::GuardrailVerdict { .. }
            | Event::ProductionChangeRequested { .. }
            | Event::ProductionChangeApproved { .. }
            | Event::ProductionChangeRejected { .. }
            | Event::Paused { .. }
            | Event::Resumed
            | Event::Disabled { .. } => {}
        }
        Ok(())
    }

    async fn enter(&self, tx: &mut PgConnection, stage: &StageRef) -> Result<(), Error> {
        let soak = self
            .migration
            .plan
            .stage(stage.index)
            .map_or(0, |s| s.soak.num_seconds());
        let entered = EnteredStage {
            migration_id: self.migration_id,
            index: index(stage),
            key: stage.key.as_str(),
            name: &stage.name,
            required_soak_seconds: soak,
        };
        enter_stage(tx, &entered, self.actor, self.at).await?;
        Ok(())
    }
}

fn index(stage: &StageRef) -> i32 {
    i32::try_from(stage.index).unwrap_or(i32::MAX)
}

/// The event's `type` as serde writes it: `checked_in`, `flag_change`.
fn event_name(event: &Event) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|json| json.get("type")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "event".to_owned())
}
