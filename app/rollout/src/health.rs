//! How a migration is doing, in one word for the portfolio's dot: from its status, the looks
//! people (and the guardrail) recorded, and the guardrail's verdict on the stage's metrics.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::guardrail::Verdict;
use crate::machine::{MigrationState, Status};
use crate::plan::{Cadence, Plan};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Health {
    /// The trial was stopped (the kill switch, or "Continue?" answered stop), or the guardrail
    /// found the stage regressed and has not found it clear since.
    Failing,
    /// Someone should look: a check is overdue, the migration is paused, or its stored state no
    /// longer fits its plan.
    Attention,
    /// Watched on time and going on.
    Healthy,
    /// Nothing to judge yet: not started, no look in this stage yet, or a stage nobody watches.
    Unknown,
}

impl Health {
    /// Every variant, worst first.
    pub fn all() -> impl DoubleEndedIterator<Item = Health> {
        <Health as strum::IntoEnumIterator>::iter()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn label(self) -> &'static str {
        match self {
            Health::Failing => "Failing",
            Health::Attention => "Needs attention",
            Health::Healthy => "Healthy",
            Health::Unknown => "Unknown",
        }
    }
}

/// The health of a migration in `state` under `plan` at `now`, from its status, its looks and
/// the guardrail's verdict.
pub fn health(state: &MigrationState, plan: &Plan, now: DateTime<Utc>) -> Health {
    match state.status() {
        Status::Disabled => return Health::Failing,
        Status::NotStarted | Status::Completed => return Health::Unknown,
        Status::Active | Status::Paused => {}
    }
    // A regression the guardrail found is failing whatever was done about it: observing only,
    // it has not acted; in development or staging it paused the trial; a release manager's
    // override lets the stage be left, but does not make the numbers good.
    let regressed = state
        .position()
        .and_then(|position| position.guardrail.as_ref())
        .is_some_and(|standing| standing.verdict == Verdict::Fail);
    if regressed {
        return Health::Failing;
    }
    if state.status() == Status::Paused {
        return Health::Attention;
    }
    if state.validate(plan).is_err() {
        return Health::Attention;
    }
    let (Some(stage), Some(clock)) = (state.current_stage(plan), state.clock(plan, now)) else {
        return Health::Attention;
    };
    if clock.overdue_by.is_some() {
        Health::Attention
    } else if stage.cadence == Cadence::Unmonitored || clock.last_look.is_none() {
        Health::Unknown
    } else {
        Health::Healthy
    }
}
