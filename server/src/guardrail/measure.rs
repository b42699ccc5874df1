//! What the guardrail measures for one evaluation, and its judgement with the evidence: every
//! query asked, over which windows, the values, the thresholds and the tests.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rollout::guardrail::{self, Calls, Comparison, Signal, SignalReport, Thresholds, Verdict};
use serde::Serialize;

use crate::observability::{
    QueryError,
    promql::Metric,
    sources::{Source, Span, Watched},
};

/// One evaluation's verdict and everything that backs it.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub verdict: Verdict,
    /// The windows compared: the stage's (ending now), the cohorts' where they were told
    /// apart, and the one before the stage where it was used.
    pub window: (DateTime<Utc>, DateTime<Utc>),
    pub cohort_window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub baseline: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub reports: Vec<SignalReport>,
    /// Every query asked, with the signal it served and what it answered (or why not).
    pub queries: Vec<Asked>,
    pub thresholds: Thresholds,
}

#[derive(Debug, Clone, Serialize)]
pub struct Asked {
    pub signal: Signal,
    pub query: String,
    pub at: DateTime<Utc>,
    pub answer: String,
}

/// The stage's window: the `window` before `until`, not reaching back past the stage's start.
fn stage_window(
    until: DateTime<Utc>,
    window: Duration,
    stage_started: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let span = TimeDelta::from_std(window).unwrap_or(TimeDelta::minutes(10));
    ((until - span).max(stage_started).min(until), until)
}

fn seconds(from: DateTime<Utc>, until: DateTime<Utc>) -> Duration {
    Duration::from_secs(
        u64::try_from((until - from).num_seconds())
            .unwrap_or(0)
            .max(1),
    )
}

/// Measures `watched` through `source` and judges it. `describe` gives the query text for the
/// evidence (the source renders it the same way).
pub async fn evaluate(
    source: &dyn Source,
    describe: &(dyn Fn(Metric, Duration) -> String + Send + Sync),
    watched: &Watched,
    stage_started: DateTime<Utc>,
    until: DateTime<Utc>,
    window: Duration,
    thresholds: &Thresholds,
) -> Evaluation {
    let (from, until) = stage_window(until, window, stage_started);
    let length = until - from;
    let baseline = (stage_started - length, stage_started);
    let mut queries = Vec::new();
    let mut reports = Vec::new();

    // Error rate: flag-on against flag-off where the counters tell them apart, else the stage
    // against the time before it.
    let span = seconds(from, until);
    let mut ask = async |metric: Metric, at: DateTime<Utc>, over: Duration, signal: Signal| {
        let answer = source.instant(metric, watched, at, over).await;
        queries.push(Asked {
            signal,
            query: describe(metric, over),
            at,
            answer: match &answer {
                Ok(answer) => answer
                    .series
                    .iter()
                    .map(|s| {
                        let value = s.points.last().map_or(f64::NAN, |(_, v)| *v);
                        match s.labels.get("enabled") {
                            Some(enabled) => format!("enabled={enabled}: {value:.1}"),
                            None => format!("{value:.1}"),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(error) => format!("unavailable: {error}"),
            },
        });
        answer
    };
    // Each call carries its flag state, so the cohorts may look back the whole window, past the
    // stage's start: the flag-on calls then were the same code.
    let cohort_span = window.max(Duration::from_secs(60));
    let cohort_calls = ask(Metric::CohortCalls, until, cohort_span, Signal::ErrorRate).await;
    let cohort_errors = ask(Metric::CohortErrors, until, cohort_span, Signal::ErrorRate).await;
    let cohorts = match (&cohort_calls, &cohort_errors) {
        (Ok(calls), Ok(errors)) => {
            let by = |answer: &crate::observability::prometheus::RangeAnswer, enabled: &str| {
                answer
                    .series
                    .iter()
                    .find(|s| s.labels.get("enabled").map(String::as_str) == Some(enabled))
                    .and_then(|s| s.points.last().map(|(_, v)| *v))
            };
            match (by(calls, "true"), by(calls, "false")) {
                (Some(on), Some(off)) => Some((
                    Calls {
                        calls: on,
                        errors: by(errors, "true").unwrap_or(0.0),
                    },
                    Calls {
                        calls: off,
                        errors: by(errors, "false").unwrap_or(0.0),
                    },
                )),
                _ => None,
            }
        }
        _ => None,
    };
    let mut used_baseline = false;
    let mut cohort_window = None;
    let error_report = match cohorts {
        Some((on, off)) => {
            cohort_window = Some((
                until - TimeDelta::from_std(cohort_span).unwrap_or(TimeDelta::minutes(10)),
                until,
            ));
            guardrail::judge_errors(on, off, Comparison::Cohorts, thresholds)
        }
        None => {
            used_baseline = true;
            let now_calls = ask(Metric::Calls, until, span, Signal::ErrorRate).await;
            let now_errors = ask(Metric::Errors, until, span, Signal::ErrorRate).await;
            let before_calls = ask(Metric::Calls, baseline.1, span, Signal::ErrorRate).await;
            let before_errors = ask(Metric::Errors, baseline.1, span, Signal::ErrorRate).await;
            match (
                total(&now_calls),
                total(&now_errors),
                total(&before_calls),
                total(&before_errors),
            ) {
                (Ok(calls), Ok(errors), Ok(before), Ok(before_errors)) => guardrail::judge_errors(
                    Calls { calls, errors },
                    Calls {
                        calls: before,
                        errors: before_errors,
                    },
                    Comparison::Baseline,
                    thresholds,
                ),
                (Err(error), ..) | (_, Err(error), ..) | (.., Err(error), _) | (.., Err(error)) => {
                    unavailable(Signal::ErrorRate, Comparison::Baseline, &error)
                }
            }
        }
    };
    reports.push(error_report);

    // Levels: the stage's window against the same length before the stage, point by point.
    let step = Duration::from_secs(60);
    for (signal, metric) in [
        (Signal::LatencyP95, Metric::LatencyP95),
        (Signal::LatencyP99, Metric::LatencyP99),
        (Signal::Cpu, Metric::Cpu),
        (Signal::CallRate, Metric::CallRate),
    ] {
        used_baseline = true;
        let now = Span { from, until, step };
        let before = Span {
            from: baseline.0,
            until: baseline.1,
            step,
        };
        let (current, earlier) = tokio::join!(
            source.metrics(metric, watched, &now),
            source.metrics(metric, watched, &before),
        );
        for (span, answer) in [(&now, &current), (&before, &earlier)] {
            queries.push(Asked {
                signal,
                query: describe(metric, step),
                at: span.until,
                answer: match answer {
                    Ok(answer) => format!(
                        "{} points from {} to {}",
                        answer.series.first().map_or(0, |s| s.points.len()),
                        span.from.format("%H:%M"),
                        span.until.format("%H:%M")
                    ),
                    Err(error) => format!("unavailable: {error}"),
                },
            });
        }
        fn points(
            answer: &Result<crate::observability::prometheus::RangeAnswer, QueryError>,
        ) -> Result<Vec<f64>, &QueryError> {
            answer.as_ref().map(|a| {
                a.series
                    .first()
                    .map(|s| s.points.iter().map(|(_, v)| *v).collect())
                    .unwrap_or_default()
            })
        }
        reports.push(match (points(&current), points(&earlier)) {
            (Ok(now), Ok(before)) => guardrail::judge_level(signal, &now, &before, thresholds),
            (Err(error), _) | (_, Err(error)) => unavailable(signal, Comparison::Baseline, error),
        });
    }
    Evaluation {
        verdict: guardrail::overall(&reports),
        window: (from, until),
        cohort_window,
        baseline: used_baseline.then_some(baseline),
        reports,
        queries,
        thresholds: *thresholds,
    }
}

/// The one value of an instant answer summed over its series; no series is zero calls.
fn total(
    answer: &Result<crate::observability::prometheus::RangeAnswer, QueryError>,
) -> Result<f64, QueryError> {
    answer.as_ref().map_err(Clone::clone).map(|answer| {
        answer
            .series
            .iter()
            .filter_map(|s| s.points.last().map(|(_, v)| *v))
            .filter(|v| v.is_finite())
            .sum()
    })
}

fn unavailable(signal: Signal, comparison: Comparison, error: &QueryError) -> SignalReport {
    SignalReport {
        signal,
        comparison,
        subject: None,
        reference: None,
        threshold: String::new(),
        test: "not run".to_owned(),
        verdict: Verdict::Inconclusive,
        reason: Some(format!("no data: {error}")),
    }
}
