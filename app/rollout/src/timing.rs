//! The clock of a stage: how much soak remains, when the next check is due, how late it is.
//!
//! Everything is computed from the stage's start, its check-ins and a `now` the caller passes in;
//! nothing here reads a clock. A pause does not stop these clocks: while paused the flag still
//! serves traffic, so soak still accrues and checks are still owed.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::checklist::CheckIn;
use crate::plan::{Cadence, Stage};

/// Time since the stage started; zero if `now` is before the start (clock skew between callers).
pub fn elapsed(started_at: DateTime<Utc>, now: DateTime<Utc>) -> TimeDelta {
    now.signed_duration_since(started_at).max(TimeDelta::zero())
}

/// Soak still to run; zero once the soak is over.
pub fn soak_remaining(stage: &Stage, started_at: DateTime<Utc>, now: DateTime<Utc>) -> TimeDelta {
    stage
        .soak
        .checked_sub(&elapsed(started_at, now))
        .unwrap_or(TimeDelta::zero())
        .max(TimeDelta::zero())
}

/// Share of the soak that has run, from 0.0 to 1.0 (1.0 for a stage without soak).
pub fn soak_progress(stage: &Stage, started_at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    if stage.soak <= TimeDelta::zero() {
        return 1.0;
    }
    (elapsed(started_at, now).as_seconds_f64() / stage.soak.as_seconds_f64()).clamp(0.0, 1.0)
}

/// The latest check-in that counts as a look for the cadence.
pub fn last_check(check_ins: &[CheckIn]) -> Option<DateTime<Utc>> {
    check_ins
        .iter()
        .filter(|c| c.item.counts_for_cadence())
        .map(|c| c.at)
        .max()
}

/// When the next look is due: `None` when nothing is owed (unmonitored stage, or the single look
/// of a `Once` stage has been taken).
pub fn next_check_due(
    stage: &Stage,
    started_at: DateTime<Utc>,
    check_ins: &[CheckIn],
) -> Option<DateTime<Utc>> {
    let last = last_check(check_ins);
    match stage.cadence {
        Cadence::Unmonitored => None,
        Cadence::Once => last.is_none().then_some(started_at),
        Cadence::Every(interval) => {
            let since = last.map_or(started_at, |l| l.max(started_at));
            // An instant beyond chrono's range is as good as never.
            since.checked_add_signed(interval)
        }
    }
}

/// How late the next look is; `None` when it is not yet due (or nothing is owed).
///
/// A [`Cadence::Once`] stage is never overdue. The template's dev trial says only "Monitor
/// (initially )": look once after the flag is on, with no interval to be late against. Its look
/// is due at the stage's start (so a page can show it as due) and its items are on the checklist,
/// which already keeps the stage from being left until they are checked; calling it "overdue by
/// 3 h" would invent a deadline the template does not set.
pub fn overdue_by(
    stage: &Stage,
    started_at: DateTime<Utc>,
    check_ins: &[CheckIn],
    now: DateTime<Utc>,
) -> Option<TimeDelta> {
    if stage.cadence == Cadence::Once {
        return None;
    }
    let due = next_check_due(stage, started_at, check_ins)?;
    let late = now.signed_duration_since(due);
    (late > TimeDelta::zero()).then_some(late)
}

/// Whether a late look blocks advancing: only when it is late by more than one whole interval.
/// A `Once` stage never blocks on time (see [`overdue_by`]).
pub fn blocks_advance(stage: &Stage, overdue: Option<TimeDelta>) -> bool {
    match (stage.cadence.interval(), overdue) {
        (Some(interval), Some(late)) => late > interval,
        _ => false,
    }
}

/// Everything a page shows about a stage's time, in one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageClock {
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::duration::seconds")]
    pub elapsed: TimeDelta,
    #[serde(with = "crate::duration::seconds")]
    pub soak: TimeDelta,
    #[serde(with = "crate::duration::seconds")]
    pub soak_remaining: TimeDelta,
    pub soak_progress: f64,
    pub last_check: Option<DateTime<Utc>>,
    pub next_check_due: Option<DateTime<Utc>>,
    #[serde(with = "optional_seconds")]
    pub overdue_by: Option<TimeDelta>,
    /// Overdue by more than one interval: advancing is refused until someone checks in.
    pub blocks_advance: bool,
}

impl StageClock {
    pub fn new(
        stage: &Stage,
        started_at: DateTime<Utc>,
        check_ins: &[CheckIn],
        now: DateTime<Utc>,
    ) -> StageClock {
        let overdue = overdue_by(stage, started_at, check_ins, now);
        StageClock {
            started_at,
            elapsed: elapsed(started_at, now),
            soak: stage.soak,
            soak_remaining: soak_remaining(stage, started_at, now),
            soak_progress: soak_progress(stage, started_at, now),
            last_check: last_check(check_ins),
            next_check_due: next_check_due(stage, started_at, check_ins),
            overdue_by: overdue,
            blocks_advance: blocks_advance(stage, overdue),
        }
    }
}

mod optional_seconds {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(
        value: &Option<TimeDelta>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_some(&d.num_seconds()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<TimeDelta>, D::Error> {
        Option::<i64>::deserialize(deserializer)?
            .map(|s| {
                TimeDelta::try_seconds(s).ok_or_else(|| D::Error::custom("duration out of range"))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checklist::{CheckItem, CheckOutcome};
    use crate::plan::Plan;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 4, 9, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("valid date"))
    }

    fn check(item: CheckItem, at: DateTime<Utc>) -> CheckIn {
        CheckIn {
            item,
            by: "alice".into(),
            at,
            outcome: if item == CheckItem::ContinueDecision {
                CheckOutcome::Continue
            } else {
                CheckOutcome::Checked
            },
            note: None,
        }
    }

    #[test]
    fn soak_remaining_and_progress() {
        let plan = Plan::gitaly_default();
        let low = &plan.stages()[5]; // 2 h
        let m = TimeDelta::minutes;
        assert_eq!(soak_remaining(low, t0(), t0()), TimeDelta::hours(2));
        assert_eq!(soak_remaining(low, t0(), t0() + m(48)), m(72));
        assert_eq!(
            soak_remaining(low, t0(), t0() + TimeDelta::hours(3)),
            TimeDelta::zero()
        );
        assert_eq!(soak_remaining(low, t0(), t0() - m(5)), TimeDelta::hours(2));
        assert!((soak_progress(low, t0(), t0() + m(30)) - 0.25).abs() < 1e-9);
        assert!((soak_progress(low, t0(), t0() + TimeDelta::days(1)) - 1.0).abs() < 1e-9);
        assert!(soak_progress(low, t0(), t0() - m(1)).abs() < 1e-9);
        let dev = &plan.stages()[1];
        assert!((soak_progress(dev, t0(), t0()) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn next_check_and_overdue_follow_the_cadence() {
        let plan = Plan::gitaly_default();
        let staging = &plan.stages()[2]; // every 5 min
        let m = TimeDelta::minutes;
        assert_eq!(next_check_due(staging, t0(), &[]), Some(t0() + m(5)));
        assert_eq!(overdue_by(staging, t0(), &[], t0() + m(4)), None);
        assert_eq!(overdue_by(staging, t0(), &[], t0() + m(7)), Some(m(2)));
        assert!(!blocks_advance(staging, Some(m(5))));
        assert!(blocks_advance(staging, Some(m(6))));

        // Only looks at the dashboards (and the decision) count as checks.
        let checks = [
            check(CheckItem::GitalyVersionChecked, t0() + m(20)),
            check(CheckItem::GrafanaChecked, t0() + m(8)),
        ];
        assert_eq!(last_check(&checks), Some(t0() + m(8)));
        assert_eq!(next_check_due(staging, t0(), &checks), Some(t0() + m(13)));
        let clock = StageClock::new(staging, t0(), &checks, t0() + m(25));
        assert_eq!(clock.overdue_by, Some(m(12)));
        assert!(clock.blocks_advance);
        assert_eq!(clock.soak_remaining, TimeDelta::zero());

        // Dev: one look "initially", due as soon as the flag is on, then nothing more; never
        // overdue and never blocking, however long nobody looks.
        let dev = &plan.stages()[1];
        assert_eq!(dev.cadence, Cadence::Once);
        assert_eq!(next_check_due(dev, t0(), &[]), Some(t0()));
        for late in [TimeDelta::seconds(1), m(30), TimeDelta::days(3)] {
            assert_eq!(overdue_by(dev, t0(), &[], t0() + late), None);
            let clock = StageClock::new(dev, t0(), &[], t0() + late);
            assert_eq!(clock.next_check_due, Some(t0()));
            assert_eq!((clock.overdue_by, clock.blocks_advance), (None, false));
        }
        assert!(!blocks_advance(dev, Some(TimeDelta::days(3))));
        let looked = [check(CheckItem::KibanaErrorsInspected, t0() + m(1))];
        assert_eq!(next_check_due(dev, t0(), &looked), None);

        // Unmonitored stages owe nothing.
        assert_eq!(next_check_due(&plan.stages()[0], t0(), &[]), None);

        // Daily at 100 %.
        let full = &plan.stages()[7];
        assert_eq!(
            next_check_due(full, t0(), &[]),
            Some(t0() + TimeDelta::days(1))
        );
    }

    #[test]
    fn overdue_boundaries_are_exact_to_the_second() {
        let plan = Plan::gitaly_default();
        let staging = &plan.stages()[2]; // every 5 min
        let m = TimeDelta::minutes;
        let s = TimeDelta::seconds;
        // Due at one interval: on time at that instant, late one second after.
        assert_eq!(overdue_by(staging, t0(), &[], t0() + m(5)), None);
        assert_eq!(
            overdue_by(staging, t0(), &[], t0() + m(5) + s(1)),
            Some(s(1))
        );
        // Late by exactly one interval does not block yet; one second more does.
        let at_one_interval = overdue_by(staging, t0(), &[], t0() + m(10));
        assert_eq!(at_one_interval, Some(m(5)));
        assert!(!blocks_advance(staging, at_one_interval));
        let just_over = overdue_by(staging, t0(), &[], t0() + m(10) + s(1));
        assert!(blocks_advance(staging, just_over));
        // Soak: one second left, then none.
        assert_eq!(soak_remaining(staging, t0(), t0() + m(15) - s(1)), s(1));
        assert_eq!(
            soak_remaining(staging, t0(), t0() + m(15)),
            TimeDelta::zero()
        );
    }

    #[test]
    fn clock_serialises_durations_as_seconds() {
        let plan = Plan::gitaly_default();
        let clock = StageClock::new(&plan.stages()[2], t0(), &[], t0() + TimeDelta::minutes(7));
        let json = serde_json::to_value(&clock).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["overdue_by"], 120);
        assert_eq!(json["soak_remaining"], 480);
        let back: StageClock = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, clock);
    }
}
