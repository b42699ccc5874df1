//! The clock of a stage: how much soak remains and how much of it was watched, when the next look
//! is due, how late it is.
//!
//! Everything is computed from the stage's start, its looks and a `now` the caller passes in;
//! nothing here reads a clock. A pause does not stop these clocks: while paused the flag still
//! serves traffic, so soak still accrues and looks are still owed.
//!
//! **A soak counts only while it was watched.** The template says "leave running while monitoring
//! for at least 15 minutes" and "Monitor (at least every 5 minutes)". The watched part of a soak is
//! the time covered by looks at the stage's cadence: from the stage's start to the first look, and
//! between consecutive looks, each gap at most one interval plus the cadence's grace. A longer gap
//! — anywhere in the stage, or since the last look once it is overdue beyond the grace — is a
//! [`Lapse`]. A stage may be left only when its soak was watched with no lapse at all: the trial
//! was not "monitored at least every 5 minutes" if nobody looked for 40, and no amount of watching
//! afterwards makes up for it. A release manager may judge what was seen enough and override the
//! soak with a reason.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::checklist::Look;
use crate::plan::{Cadence, Stage};

/// Time since the stage started; zero if `now` is before the start (clock skew between callers).
pub fn elapsed(started_at: DateTime<Utc>, now: DateTime<Utc>) -> TimeDelta {
    now.signed_duration_since(started_at).max(TimeDelta::zero())
}

/// Soak time still to run; zero once the soak's time is over (whether or not it was watched).
pub fn soak_remaining(stage: &Stage, started_at: DateTime<Utc>, now: DateTime<Utc>) -> TimeDelta {
    stage
        .soak
        .checked_sub(&elapsed(started_at, now))
        .unwrap_or(TimeDelta::zero())
        .max(TimeDelta::zero())
}

/// Share of the soak's time that has run, from 0.0 to 1.0 (1.0 for a stage without soak).
pub fn soak_progress(stage: &Stage, started_at: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    if stage.soak <= TimeDelta::zero() {
        return 1.0;
    }
    (elapsed(started_at, now).as_seconds_f64() / stage.soak.as_seconds_f64()).clamp(0.0, 1.0)
}

/// The latest look at or before `now`.
fn last_look(looks: &[Look], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    looks.iter().map(|l| l.at).filter(|at| *at <= now).max()
}

/// When the next look is due: `None` when nothing is owed (unmonitored stage, or the single look
/// of a `Once` stage has been taken).
pub fn next_look_due(
    stage: &Stage,
    started_at: DateTime<Utc>,
    looks: &[Look],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let last = last_look(looks, now);
    match stage.cadence {
        Cadence::Unmonitored => None,
        Cadence::Once => last.is_none().then_some(started_at),
        Cadence::Every { interval, .. } => {
            let since = last.map_or(started_at, |l| l.max(started_at));
            // An instant beyond chrono's range is as good as never.
            since.checked_add_signed(interval)
        }
    }
}

/// When a look taken by automation (the guardrail's evaluation that had the data) is next due:
/// as [`next_look_due`], for a stage looked at every so often only. A [`Cadence::Once`] stage's
/// one look, once the flag is set, is a person's.
pub fn next_automated_look_due(
    stage: &Stage,
    started_at: DateTime<Utc>,
    looks: &[Look],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    matches!(stage.cadence, Cadence::Every { .. })
        .then(|| next_look_due(stage, started_at, looks, now))
        .flatten()
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
    looks: &[Look],
    now: DateTime<Utc>,
) -> Option<TimeDelta> {
    if stage.cadence == Cadence::Once {
        return None;
    }
    let due = next_look_due(stage, started_at, looks, now)?;
    let late = now.signed_duration_since(due);
    (late > TimeDelta::zero()).then_some(late)
}

/// A stretch of a stage nobody watched: the stage's start and its first look, two looks, or the
/// last look and now, further apart than the cadence allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lapse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// No look has ended it yet: it runs until `now`, which `to` is.
    pub open: bool,
}

impl Lapse {
    pub fn duration(&self) -> TimeDelta {
        self.to.signed_duration_since(self.from)
    }
}

/// How much of a stage's soak was watched (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoakWatch {
    /// The time covered by looks at the cadence; for a stage without an interval its elapsed
    /// time: there is no cadence to watch it at, so time is all it takes.
    #[serde(with = "crate::duration::seconds")]
    pub watched: TimeDelta,
    /// Every gap too long to count, from the stage's start until now.
    pub lapses: Vec<Lapse>,
}

impl SoakWatch {
    /// The soak was watched in full, with no lapse.
    pub fn is_complete(&self, soak: TimeDelta) -> bool {
        self.lapses.is_empty() && self.watched >= soak
    }
}

/// The watching of `stage`'s soak, from its start, its looks (in any order; those outside
/// `[started_at, now]` are ignored) and `now`.
pub fn watch(
    stage: &Stage,
    started_at: DateTime<Utc>,
    looks: &[Look],
    now: DateTime<Utc>,
) -> SoakWatch {
    let Some(longest_gap) = stage.cadence.longest_gap() else {
        return SoakWatch {
            watched: elapsed(started_at, now),
            lapses: Vec::new(),
        };
    };
    let mut times: Vec<DateTime<Utc>> = looks
        .iter()
        .map(|l| l.at)
        .filter(|at| *at >= started_at && *at <= now)
        .collect();
    times.sort_unstable();

    let mut watch = SoakWatch {
        watched: TimeDelta::zero(),
        lapses: Vec::new(),
    };
    let mut previous = started_at;
    for at in times {
        let gap = at.signed_duration_since(previous);
        if gap > longest_gap {
            watch.lapses.push(Lapse {
                from: previous,
                to: at,
                open: false,
            });
        } else {
            watch.watched += gap;
        }
        previous = at;
    }
    // Nobody has looked for longer than the cadence allows: that is a lapse already, and the
    // next look cannot undo it.
    if now.signed_duration_since(previous) > longest_gap {
        watch.lapses.push(Lapse {
            from: previous,
            to: now,
            open: true,
        });
    }
    watch
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
    /// How much of the soak was watched, and where it was not.
    pub watch: SoakWatch,
    pub last_look: Option<DateTime<Utc>>,
    pub next_look_due: Option<DateTime<Utc>>,
    #[serde(with = "crate::duration::optional_seconds")]
    pub overdue_by: Option<TimeDelta>,
}

impl StageClock {
    pub fn new(
        stage: &Stage,
        started_at: DateTime<Utc>,
        looks: &[Look],
        now: DateTime<Utc>,
    ) -> StageClock {
        StageClock {
            started_at,
            elapsed: elapsed(started_at, now),
            soak: stage.soak,
            soak_remaining: soak_remaining(stage, started_at, now),
            soak_progress: soak_progress(stage, started_at, now),
            watch: watch(stage, started_at, looks, now),
            last_look: last_look(looks, now),
            next_look_due: next_look_due(stage, started_at, looks, now),
            overdue_by: overdue_by(stage, started_at, looks, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checklist::{CheckIn, CheckItem, CheckOutcome, LookSource};
    use crate::plan::Plan;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 4, 9, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("valid date"))
    }

    fn m(minutes: i64) -> TimeDelta {
        TimeDelta::minutes(minutes)
    }

    fn looks_at(minutes: &[i64]) -> Vec<Look> {
        minutes
            .iter()
            .map(|&minute| Look {
                at: t0() + m(minute),
                by: "alice".into(),
                source: LookSource::Person,
                note: None,
            })
            .collect()
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
    fn next_look_and_overdue_follow_the_cadence() {
        let plan = Plan::gitaly_default();
        let staging = &plan.stages()[2]; // every 5 min, 1 min grace
        assert_eq!(next_look_due(staging, t0(), &[], t0()), Some(t0() + m(5)));
        assert_eq!(overdue_by(staging, t0(), &[], t0() + m(4)), None);
        assert_eq!(overdue_by(staging, t0(), &[], t0() + m(7)), Some(m(2)));

        // Only looks at the dashboards (and the decision) count as looks.
        let looks: Vec<Look> = [
            check(CheckItem::GitalyVersionChecked, t0() + m(20)),
            check(CheckItem::GrafanaChecked, t0() + m(8)),
        ]
        .iter()
        .filter_map(CheckIn::as_look)
        .collect();
        let now = t0() + m(25);
        assert_eq!(last_look(&looks, now), Some(t0() + m(8)));
        assert_eq!(
            next_look_due(staging, t0(), &looks, now),
            Some(t0() + m(13))
        );
        let clock = StageClock::new(staging, t0(), &looks, now);
        assert_eq!(clock.overdue_by, Some(m(12)));
        assert_eq!(
            clock.watch.lapses.len(),
            2,
            "0–8 and 8–25 are both too long"
        );
        assert_eq!(clock.soak_remaining, TimeDelta::zero());
        // A look dated after `now` (another server's clock ahead) is not one yet.
        assert_eq!(last_look(&looks, t0() + m(7)), None);

        // Dev: one look "initially", due as soon as the flag is on, then nothing more; never
        // overdue and never blocking, however long nobody looks.
        let dev = &plan.stages()[1];
        assert_eq!(dev.cadence, Cadence::Once);
        assert_eq!(next_look_due(dev, t0(), &[], t0()), Some(t0()));
        for late in [TimeDelta::seconds(1), m(30), TimeDelta::days(3)] {
            assert_eq!(overdue_by(dev, t0(), &[], t0() + late), None);
            let clock = StageClock::new(dev, t0(), &[], t0() + late);
            assert_eq!(clock.next_look_due, Some(t0()));
            assert_eq!(clock.overdue_by, None);
            assert!(clock.watch.lapses.is_empty(), "no cadence, no lapse");
        }
        assert_eq!(next_look_due(dev, t0(), &looks_at(&[1]), t0() + m(2)), None);

        // Automation takes the periodic looks only: the dev trial's one look is a person's.
        assert_eq!(next_automated_look_due(dev, t0(), &[], t0()), None);
        assert_eq!(
            next_automated_look_due(staging, t0(), &looks, now),
            Some(t0() + m(13))
        );

        // Unmonitored stages owe nothing.
        assert_eq!(next_look_due(&plan.stages()[0], t0(), &[], t0()), None);
        assert_eq!(
            next_automated_look_due(&plan.stages()[0], t0(), &[], t0()),
            None
        );

        // Daily at 100 %.
        let full = &plan.stages()[7];
        assert_eq!(
            next_look_due(full, t0(), &[], t0()),
            Some(t0() + TimeDelta::days(1))
        );
    }

    #[test]
    fn overdue_boundaries_are_exact_to_the_second() {
        let plan = Plan::gitaly_default();
        let staging = &plan.stages()[2]; // every 5 min, 1 min grace
        let s = TimeDelta::seconds;
        // Due at one interval: on time at that instant, late one second after.
        assert_eq!(overdue_by(staging, t0(), &[], t0() + m(5)), None);
        assert_eq!(
            overdue_by(staging, t0(), &[], t0() + m(5) + s(1)),
            Some(s(1))
        );
        // Late by exactly the grace is not a lapse yet; one second more is.
        assert_eq!(overdue_by(staging, t0(), &[], t0() + m(6)), Some(m(1)));
        assert!(watch(staging, t0(), &[], t0() + m(6)).lapses.is_empty());
        assert_eq!(
            watch(staging, t0(), &[], t0() + m(6) + s(1)).lapses,
            [Lapse {
                from: t0(),
                to: t0() + m(6) + s(1),
                open: true
            }]
        );
        // Soak time: one second left, then none.
        assert_eq!(soak_remaining(staging, t0(), t0() + m(15) - s(1)), s(1));
        assert_eq!(
            soak_remaining(staging, t0(), t0() + m(15)),
            TimeDelta::zero()
        );
    }

    /// The watched soak of the staging trial (15 min, every 5 min, 1 min grace: looks at most
    /// 6 min apart), as a table: looks in minutes after the start, `now`, then what is watched,
    /// the lapses (from, to, open) and whether the soak is complete.
    #[test]
    fn watched_soak_table() {
        let plan = Plan::gitaly_default();
        let staging = &plan.stages()[2];
        type Row = (
            &'static [i64],
            i64,
            i64,
            &'static [(i64, i64, bool)],
            bool,
            &'static str,
        );
        let rows: &[Row] = &[
            (&[5, 10, 15], 15, 15, &[], true, "a look every 5 min"),
            (
                &[6, 12, 15],
                15,
                15,
                &[],
                true,
                "each look a minute late is within the grace",
            ),
            (
                &[15],
                15,
                0,
                &[(0, 15, false)],
                false,
                "one look at the end watched nothing",
            ),
            (
                &[],
                16,
                0,
                &[(0, 16, true)],
                false,
                "no look at all: open since the start",
            ),
            (
                &[],
                6,
                0,
                &[],
                false,
                "no look yet, but none is late beyond the grace",
            ),
            (
                &[5, 45, 50],
                50,
                10,
                &[(5, 45, false)],
                false,
                "40 min unwatched, 10:05–10:45",
            ),
            (
                &[5, 10],
                20,
                10,
                &[(10, 20, true)],
                false,
                "the watch lapsed after 10 min",
            ),
            (
                &[5, 10],
                16,
                10,
                &[],
                false,
                "10 min watched; the next look is not late yet",
            ),
            (
                &[5, 12, 17],
                17,
                10,
                &[(5, 12, false)],
                false,
                "7 min is one minute too long",
            ),
            (
                &[5, 10, 15, 60],
                60,
                15,
                &[(15, 60, false)],
                false,
                "a gap after the soak is still a gap in the watching",
            ),
            (
                &[5, 10, 15],
                20,
                15,
                &[],
                true,
                "the next look is not late yet at 20",
            ),
            (
                &[3, 3, 9, 15, 21],
                21,
                21,
                &[],
                true,
                "duplicates and any spacing up to 6 min",
            ),
            (&[20, 5, 10, 15], 20, 20, &[], true, "looks in any order"),
            (
                &[5, 10, 15, 30],
                20,
                15,
                &[],
                true,
                "a look dated after now is not one yet",
            ),
        ];
        for (looks, now, watched, lapses, complete, why) in rows {
            let result = watch(staging, t0(), &looks_at(looks), t0() + m(*now));
            let expected_lapses: Vec<Lapse> = lapses
                .iter()
                .map(|&(from, to, open)| Lapse {
                    from: t0() + m(from),
                    to: t0() + m(to),
                    open,
                })
                .collect();
            assert_eq!(result.lapses, expected_lapses, "{why}");
            assert_eq!(result.watched, m(*watched), "{why}");
            assert_eq!(result.is_complete(staging.soak), *complete, "{why}");
        }
        let boundary = watch(
            staging,
            t0(),
            &looks_at(&[6]),
            t0() + m(6) + TimeDelta::seconds(1),
        );
        assert!(
            boundary.lapses.is_empty(),
            "exactly interval + grace is watched"
        );
        let just_over = [Look {
            at: t0() + m(6) + TimeDelta::seconds(1),
            by: "guardrail".into(),
            source: LookSource::Automation,
            note: None,
        }];
        assert_eq!(
            watch(staging, t0(), &just_over, t0() + m(7)).lapses.len(),
            1,
            "one second over is a lapse, whoever looked"
        );
    }

    /// The grace is the plan's: none at all, or as long as the interval.
    #[test]
    fn the_grace_comes_from_the_plan() {
        let plan = Plan::gitaly_default();
        let mut staging = plan.stages()[2].clone();
        for (grace, gap, lapsed) in [(0, 5, false), (0, 6, true), (5, 10, false), (5, 11, true)] {
            staging.cadence = Cadence::Every {
                interval: m(5),
                grace: m(grace),
            };
            let result = watch(&staging, t0(), &looks_at(&[gap]), t0() + m(gap));
            assert_eq!(
                !result.lapses.is_empty(),
                lapsed,
                "grace {grace}, gap {gap}"
            );
        }
    }

    /// A stage looked at once (or never) has no cadence to keep: its soak is plain time.
    #[test]
    fn without_an_interval_the_soak_is_time() {
        let plan = Plan::gitaly_default();
        let mut dev = plan.stages()[1].clone();
        assert_eq!(dev.cadence, Cadence::Once);
        dev.soak = m(30);
        let before = watch(&dev, t0(), &[], t0() + m(30) - TimeDelta::seconds(1));
        assert!(!before.is_complete(dev.soak));
        assert_eq!(before.watched, m(30) - TimeDelta::seconds(1));
        let at = watch(&dev, t0(), &[], t0() + m(30));
        assert!(at.is_complete(dev.soak) && at.lapses.is_empty());
    }

    #[test]
    fn clock_serialises_durations_as_seconds() {
        let plan = Plan::gitaly_default();
        let clock = StageClock::new(&plan.stages()[2], t0(), &[], t0() + m(7));
        let json = serde_json::to_value(&clock).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["overdue_by"], 120);
        assert_eq!(json["soak_remaining"], 480);
        assert_eq!(json["watch"]["watched"], 0);
        let back: StageClock = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, clock);
    }
}
