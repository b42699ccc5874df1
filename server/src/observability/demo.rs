//! The demo's metrics, log counts and Sentry issues: generated, not measured, so the default run
//! shows live charts with nothing else installed. Every value is a function of the migration,
//! the series and the time alone, so a chart looks the same on every refresh and every replica.
//! One migration regresses: its error rate climbs after its flag last changed, as a bad rollout
//! looks.

use std::f64::consts::TAU;

use chrono::{DateTime, Utc};

use super::{
    QueryError,
    errors::{ErrorCount, SentryIssue},
    logs::{Count, Kind},
    prometheus::{RangeAnswer, Series},
    promql::Metric,
    sources::{SentryProject, Source, Span, Watched},
};

/// The demo migration whose error rate rises after its last step.
pub const REGRESSING_FLAG: &str = "gitaly_list_refs_pagination";

pub struct DemoSource;

/// A number in [0, 1) from the inputs, the same every time (SplitMix64 over an FNV-1a hash).
fn noise(parts: &[&str], at: i64) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts
        .iter()
        .flat_map(|p| p.bytes().chain([0]))
        .chain(at.to_le_bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The method's usual traffic, calls per second at `at`: its own level, a daily swing, jitter.
fn call_rate(watched: &Watched, at: i64) -> f64 {
    let level = 40.0 + 400.0 * noise(&[&watched.full_method, "level"], 0);
    let day = (at as f64 / 86_400.0 * TAU).sin();
    let jitter = noise(&[&watched.full_method, "calls"], at) - 0.5;
    level * (1.0 + 0.3 * day + 0.12 * jitter)
}

/// The share of calls failing at `at`: a fraction of a percent, unless this is the regressing
/// migration after its flag changed.
fn error_ratio(watched: &Watched, at: i64) -> f64 {
    let base = 0.002 + 0.003 * noise(&[&watched.full_method, "errors"], at);
    match watched.changed_at {
        Some(changed) if watched.flag == REGRESSING_FLAG && at >= changed.timestamp() => {
            // Climbs to about 6 % over the first twenty minutes after the change.
            let minutes = (at - changed.timestamp()) as f64 / 60.0;
            base + 0.06 * (minutes / 20.0).min(1.0)
        }
        _ => base,
    }
}

fn latency(watched: &Watched, quantile: f64, at: i64) -> f64 {
    let typical = 0.008 + 0.02 * noise(&[&watched.full_method, "latency"], 0);
    let tail = match quantile {
        q if q >= 0.99 => 9.0,
        q if q >= 0.95 => 4.0,
        _ => 1.0,
    };
    let jitter = noise(
        &[&watched.full_method, "latency", &quantile.to_string()],
        at,
    );
    typical * tail * (0.85 + 0.3 * jitter)
}

fn cpu(watched: &Watched, at: i64) -> f64 {
    let level = 1.5 + 3.0 * noise(&[watched.environment.as_str(), "cpu"], 0);
    let jitter = noise(&[watched.environment.as_str(), "cpu"], at) - 0.5;
    level * (1.0 + 0.1 * jitter)
}

/// The points of `value` over `span`, one per step from its start, as Prometheus evaluates a
/// range query (so the last point is the span's end whenever the span is whole steps).
fn series(span: &Span, value: impl Fn(i64) -> f64) -> Vec<(DateTime<Utc>, f64)> {
    let step = span.step.as_secs().max(1) as i64;
    let first = span.from.timestamp();
    (0..)
        .map(|n| first + n * step)
        .take_while(|at| *at <= span.until.timestamp())
        .filter_map(|at| Some((DateTime::from_timestamp(at, 0)?, value(at))))
        .collect()
}

/// The generator of a metric that is one value at a time (a gauge): its value at unix second
/// `at`. `None` for the counts and the flag split.
fn gauge(metric: Metric) -> Option<fn(&Watched, i64) -> f64> {
    Some(match metric {
        Metric::CallRate => call_rate,
        Metric::ErrorRate => error_ratio,
        Metric::LatencyP50 => |watched, at| latency(watched, 0.5, at),
        Metric::LatencyP95 => |watched, at| latency(watched, 0.95, at),
        Metric::LatencyP99 => |watched, at| latency(watched, 0.99, at),
        Metric::Cpu => cpu,
        Metric::FlagSplit
        | Metric::Calls
        | Metric::Errors
        | Metric::CohortCalls
        | Metric::CohortErrors => return None,
    })
}

fn one(points: Vec<(DateTime<Utc>, f64)>) -> Vec<Series> {
    vec![Series {
        labels: Default::default(),
        points,
    }]
}

#[async_trait::async_trait]
impl Source for DemoSource {
    fn watches_metrics(&self) -> bool {
        true
    }

    fn describe(&self, metric: Metric, _watched: &Watched, window: std::time::Duration) -> String {
        format!(
            "the demo's generated {} over {} s",
            metric.key().to_ascii_lowercase(),
            window.as_secs()
        )
    }

    async fn instant(
        &self,
        metric: Metric,
        watched: &Watched,
        at: DateTime<Utc>,
        window: std::time::Duration,
    ) -> Result<RangeAnswer, QueryError> {
        let from = at - chrono::TimeDelta::seconds(window.as_secs() as i64);
        let minutes = Span {
            from,
            until: at,
            step: std::time::Duration::from_secs(60),
        };
        // Calls in each minute of the window, added up.
        let total = |per_call: &dyn Fn(i64) -> f64| -> f64 {
            series(&minutes, |t| call_rate(watched, t) * 60.0 * per_call(t))
                .iter()
                .map(|(_, v)| v)
                .sum()
        };
        let value = match metric {
            Metric::Calls => total(&|_| 1.0),
            Metric::Errors => total(&|t| error_ratio(watched, t)),
            // The demo's counters carry no flag state: the guardrail compares with the time
            // before the stage instead.
            Metric::CohortCalls | Metric::CohortErrors => {
                return Ok(RangeAnswer::default());
            }
            Metric::FlagSplit => return self.metrics(metric, watched, &minutes).await,
            Metric::CallRate
            | Metric::ErrorRate
            | Metric::LatencyP50
            | Metric::LatencyP95
            | Metric::LatencyP99
            | Metric::Cpu => gauge(metric).map_or(0.0, |value| value(watched, at.timestamp())),
        };
        Ok(RangeAnswer {
            series: one(vec![(at, value)]),
            warnings: Vec::new(),
        })
    }

    async fn metrics(
        &self,
        panel: Metric,
        watched: &Watched,
        span: &Span,
    ) -> Result<RangeAnswer, QueryError> {
        let series = match panel {
            Metric::CallRate
            | Metric::ErrorRate
            | Metric::LatencyP50
            | Metric::LatencyP95
            | Metric::LatencyP99
            | Metric::Cpu => gauge(panel)
                .map(|value| one(series(span, |at| value(watched, at))))
                .unwrap_or_default(),
            Metric::Calls | Metric::Errors | Metric::CohortCalls | Metric::CohortErrors => {
                // Counts are asked at an instant (see `instant`), never charted.
                Vec::new()
            }
            Metric::FlagSplit => {
                // Gitaly checks the flag on every call; the share on follows the flag, and only
                // from when it was set.
                let on_share = |at: i64| match watched.changed_at {
                    Some(changed) if at >= changed.timestamp() => {
                        f64::from(watched.serving.serving_percentage()) / 100.0
                    }
                    _ => 0.0,
                };
                [("true", true), ("false", false)]
                    .into_iter()
                    .map(|(label, on)| Series {
                        labels: [("enabled".to_owned(), label.to_owned())].into(),
                        points: series(span, |at| {
                            let share = on_share(at);
                            call_rate(watched, at) * if on { share } else { 1.0 - share }
                        }),
                    })
                    .collect()
            }
        };
        Ok(RangeAnswer {
            series,
            warnings: Vec::new(),
        })
    }

    async fn log_count(
        &self,
        kind: Kind,
        watched: &Watched,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Count, QueryError> {
        // The calls of each minute, added up; errors are the failing share of them.
        let minute = Span {
            from,
            until,
            step: std::time::Duration::from_secs(60),
        };
        let count: f64 = series(&minute, |at| {
            let calls = call_rate(watched, at) * 60.0;
            match kind {
                Kind::Invocations => calls,
                Kind::Errors => calls * error_ratio(watched, at),
            }
        })
        .iter()
        .map(|(_, value)| value)
        .sum();
        Ok(Count {
            count: count.round() as u64,
            partial: None,
        })
    }

    async fn sentry(
        &self,
        project: SentryProject,
        watched: &Watched,
        _hours: u32,
    ) -> Result<ErrorCount, QueryError> {
        let titles: &[&str] = match (project, watched.flag == REGRESSING_FLAG) {
            (SentryProject::Gitaly, true) => &[
                "GRPC::Internal: ListRefs: pagination token does not decode",
                "GRPC::DeadlineExceeded: ListRefs",
                "GRPC::Internal: ListRefs: reference iterator closed",
            ],
            (SentryProject::Gitlab, true) => &["GRPC::Internal: 13:ListRefs: pagination token"],
            _ => &[],
        };
        let top: Vec<SentryIssue> = titles
            .iter()
            .enumerate()
            .map(|(n, title)| SentryIssue {
                title: (*title).to_owned(),
                count: 40 / (n as u64 + 1),
                last_seen: Utc::now().format("%Y-%m-%dT%H:%M:00Z").to_string(),
                permalink: format!("https://sentry.example.com/demo/issues/{}/", 1000 + n),
            })
            .collect();
        Ok(ErrorCount {
            issues: top.len() as u64,
            top,
            more: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use rollout::Environment;

    use super::*;

    fn watched(flag: &str, changed_at: DateTime<Utc>) -> Watched {
        Watched {
            flag: flag.to_owned(),
            service: "gitaly.RefService".to_owned(),
            method: "ListRefs".to_owned(),
            full_method: "/gitaly.RefService/ListRefs".to_owned(),
            environment: Environment::Production,
            serving: rollout::FlagValue::Percent(1),
            changed_at: Some(changed_at),
        }
    }

    fn mean_error_ratio(watched: &Watched, from: DateTime<Utc>, until: DateTime<Utc>) -> f64 {
        let span = Span {
            from,
            until,
            step: std::time::Duration::from_secs(60),
        };
        let points = series(&span, |at| error_ratio(watched, at));
        points.iter().map(|(_, v)| v).sum::<f64>() / points.len() as f64
    }

    #[test]
    fn the_regressing_migration_fails_more_after_its_change_and_the_others_do_not() {
        let changed = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let hour = TimeDelta::hours(1);
        for (flag, regresses) in [(REGRESSING_FLAG, true), ("gitaly_find_commit_v2", false)] {
            let watched = watched(flag, changed);
            let before = mean_error_ratio(&watched, changed - hour, changed);
            let after = mean_error_ratio(&watched, changed + hour / 2, changed + hour);
            assert!(before < 0.006, "{flag}: {before}");
            assert_eq!(after > 0.03, regresses, "{flag}: {after}");
        }
    }

    #[test]
    fn a_series_runs_from_the_start_of_its_span_to_its_end() {
        let until = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let span = Span {
            from: until - TimeDelta::hours(24),
            until,
            step: std::time::Duration::from_secs(1800),
        };
        let points = series(&span, |_| 1.0);
        assert_eq!(points.len(), 49);
        assert_eq!(points.last().unwrap().0, until);
    }

    #[test]
    fn the_same_question_gets_the_same_answer() {
        let at = 1_790_000_123;
        let watched = watched("gitaly_find_commit_v2", DateTime::UNIX_EPOCH);
        assert_eq!(call_rate(&watched, at), call_rate(&watched, at));
        assert_ne!(call_rate(&watched, at), call_rate(&watched, at + 60));
        assert!((0.0..1.0).contains(&noise(&["x"], at)));
    }
}
