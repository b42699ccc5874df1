//! The guardrail: Rampart watches every running trial so that a person does not have to, and
//! acts on a regression without waiting for one. Each poll interval, every migration in flight
//! whose environment has metrics is evaluated by exactly one replica (the evaluation's row is
//! the claim); the judgement is the domain's (`rollout::guardrail`); the evaluation is stored
//! with its evidence.
//!
//! What follows a verdict:
//! - a verdict that differs from the stage's standing is recorded on the stage (an inconclusive
//!   or failing stage is not left on the guardrail's word alone);
//! - an evaluation that had the data is a look at the stage, recorded when the stage's cadence
//!   would otherwise run out (so people need not look every five minutes);
//! - the configured number of failures in a row disables the flag in production (the kill
//!   switch, as `[guardrail]`) or pauses a dev or staging trial — or, for a migration in
//!   observe-only mode, is only recorded as what would have been done.

pub mod measure;
pub mod view;

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use rollout::{
    Action, Environment, FlagValue, Status,
    guardrail::{self, Response, Thresholds, Verdict},
};
use sqlx::PgPool;

use app::api::services::MigrationService;

use crate::{
    clock::Clock,
    db,
    observability::sources::{ByEnvironment, Source},
    rollouts::{PgMigrationService, flag_changes::automation_as, watch::Guarded},
};

/// The actor of what the guardrail does, in brackets as the audit log names Rampart itself.
pub const GUARDRAIL: &str = "[guardrail]";

#[derive(Debug, Clone)]
pub struct GuardrailConfig {
    /// How often every migration is evaluated.
    pub interval: Duration,
    /// How much of the stage each evaluation looks at.
    pub window: Duration,
    pub thresholds: Thresholds,
}

pub struct Guardrail {
    pub pool: PgPool,
    pub migrations: Arc<PgMigrationService>,
    pub sources: ByEnvironment,
    pub clock: Arc<dyn Clock>,
    pub config: GuardrailConfig,
    /// This replica's name in the claims.
    pub replica: String,
}

impl Guardrail {
    pub async fn run(self) {
        // The first evaluation one interval after start-up, as every later one: a replica that
        // starts does not add a pass of its own to the others'.
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + self.config.interval,
            self.config.interval,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = self.evaluate_all().await {
                tracing::warn!(%error, "the guardrail could not evaluate; trying again next interval");
            }
        }
    }

    /// One pass: every migration it may judge, each by whichever replica claims it first.
    pub async fn evaluate_all(&self) -> Result<(), crate::error::Error> {
        let now = self.clock.now();
        let interval = self.config.interval.as_secs().max(1) as i64;
        let period_start =
            DateTime::from_timestamp(now.timestamp().div_euclid(interval) * interval, 0)
                .unwrap_or(now);
        let running = self.migrations.guarded_in_flight(now).await?;
        // The same read serves the overdue checks' notices.
        if let Err(error) = crate::overdue::tell_overdue(&self.pool, &running, now).await {
            tracing::warn!(%error, "could not tell overdue checks");
        }
        for guarded in &running {
            // A trial, running or held: where the flag is off (a version check) there is
            // nothing of the new code to judge.
            if !matches!(guarded.status, Status::Active | Status::Paused)
                || guarded.watched.serving == FlagValue::Off
            {
                continue;
            }
            let Some(source) = self.source(guarded.watched.environment) else {
                continue;
            };
            if !source.watches_metrics() {
                continue;
            }
            let Some(claim) = db::guardrail::claim(
                &self.pool,
                guarded.migration_id,
                period_start,
                &self.replica,
                now,
            )
            .await?
            else {
                continue;
            };
            if let Err(error) = self.evaluate(claim, guarded, now).await {
                tracing::warn!(%error, flag = %guarded.watched.flag, "the guardrail's evaluation failed");
            }
        }
        Ok(())
    }

    fn source(&self, environment: Environment) -> Option<&Arc<dyn Source>> {
        self.sources
            .iter()
            .find(|(e, _)| *e == environment)
            .map(|(_, s)| s)
    }

    async fn evaluate(
        &self,
        claim: i64,
        guarded: &Guarded,
        now: DateTime<Utc>,
    ) -> Result<(), crate::error::Error> {
        let Some(source) = self.source(guarded.watched.environment) else {
            return Ok(());
        };
        let describe = |metric, window| source.describe(metric, &guarded.watched, window);
        let evaluation = measure::evaluate(
            source.as_ref(),
            &describe,
            &guarded.watched,
            guarded.stage_started,
            now,
            self.config.window,
            &self.config.thresholds,
        )
        .await;
        let previous =
            db::guardrail::last_streak(&self.pool, guarded.migration_id, &guarded.stage_key)
                .await?;
        let streak = guardrail::streak(previous, evaluation.verdict);
        let summary = guardrail::summary(&evaluation.reports, streak);
        let observe_only = db::guardrail::observe_only(&self.pool, guarded.migration_id).await?;
        let response = Response::to(
            evaluation.verdict,
            streak,
            &self.config.thresholds,
            guarded.status == Status::Active,
            guarded.watched.environment == Environment::Production,
            observe_only,
        );
        let responded = self
            .respond(guarded, evaluation.verdict, &summary, response, now)
            .await;
        // What was done, as it was done: a response that failed is not recorded as made (the
        // next evaluation, failing again, makes it again).
        let action = response.filter(|_| responded.is_ok());
        db::guardrail::record(
            &self.pool,
            db::guardrail::Evaluated {
                id: claim,
                at: now,
                stage_key: &guarded.stage_key,
                environment: guarded.watched.environment.as_str(),
                verdict: &evaluation.verdict.to_string(),
                failing_streak: streak,
                evidence: serde_json::to_value(&evaluation).unwrap_or_default(),
                action: action.map(Response::as_str),
            },
        )
        .await?;
        responded
    }

    /// What follows an evaluation: its verdict on the stage, the look it counts as, and the
    /// response to a regression.
    async fn respond(
        &self,
        guarded: &Guarded,
        verdict: Verdict,
        summary: &str,
        response: Option<Response>,
        now: DateTime<Utc>,
    ) -> Result<(), crate::error::Error> {
        let actor = automation_as(GUARDRAIL, "Guardrail");
        let flag = &guarded.watched.flag;
        if guarded.standing != Some(verdict) {
            self.migrations
                .act(
                    &actor,
                    flag,
                    None,
                    Action::GuardrailVerdict {
                        verdict,
                        summary: summary.to_owned(),
                    },
                )
                .await?;
        }
        if verdict.had_data()
            && look_runs_out(guarded.next_automated_look_due, now, self.config.interval)
        {
            self.migrations
                .act(
                    &actor,
                    flag,
                    None,
                    Action::AutomatedLook {
                        note: Some(summary.to_owned()),
                    },
                )
                .await?;
        }
        let reason = format!("guardrail: {summary}");
        match response {
            Some(Response::Disabled) => {
                tracing::warn!(%flag, %summary, "the guardrail disables the flag");
                self.migrations
                    .act(
                        &actor,
                        flag,
                        None,
                        Action::Disable {
                            reason: Some(reason),
                            everywhere: false,
                        },
                    )
                    .await?;
            }
            Some(Response::Paused) => {
                tracing::warn!(%flag, %summary, "the guardrail pauses the migration");
                self.migrations
                    .act(
                        &actor,
                        flag,
                        None,
                        Action::Pause {
                            reason: Some(reason),
                        },
                    )
                    .await?;
            }
            Some(Response::WouldDisable | Response::WouldPause) => {
                tracing::warn!(%flag, %summary, "observe only: the guardrail would have acted")
            }
            None => {}
        }
        Ok(())
    }
}

/// Whether a stage's look, due at `due`, falls due before the next poll: the evaluation that had
/// the data is then recorded as the look, so that it is not overdue by the time anyone could
/// look again (and a person need not look every five minutes).
fn look_runs_out(due: Option<DateTime<Utc>>, now: DateTime<Utc>, poll: Duration) -> bool {
    let poll = TimeDelta::from_std(poll).unwrap_or(TimeDelta::minutes(1));
    due.is_some_and(|due| due <= now + poll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_is_recorded_when_it_falls_due_before_the_next_poll() {
        let now = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::hours(1);
        let poll = Duration::from_secs(60);
        let due_in = |seconds| Some(now + TimeDelta::seconds(seconds));
        assert!(
            look_runs_out(due_in(30), now, poll),
            "due before the next poll"
        );
        assert!(look_runs_out(due_in(60), now, poll), "due at the next poll");
        assert!(look_runs_out(due_in(-600), now, poll), "already overdue");
        assert!(
            !look_runs_out(due_in(61), now, poll),
            "the next poll comes first"
        );
        assert!(!look_runs_out(None, now, poll), "no look owed");
    }
}
