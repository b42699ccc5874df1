//! A migration's panels, assembled: the charts of its current stage's environment over the
//! chosen window, the stage's log and Sentry counts, the markers and the deep links. Every
//! question to a source is coalesced — one call per question per refresh interval, however many
//! people watch — and the window's end is rounded to that interval so that they ask the same
//! questions.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use rollout::Environment;

use app::api::{
    panels::{Chart, ChartWindow, CountTile, IssueSummary, Line, Marker, Panels, Sparkline, Unit},
    services::ObservabilityService,
};
use app::error::AppError;

use super::{
    QueryError,
    coalesce::Coalesce,
    errors::ErrorCount,
    logs::{Count, Kind},
    prometheus::RangeAnswer,
    promql::{Metric, step_for},
    sources::{ByEnvironment, SentryProject, Source, Span, Watched},
};
use crate::{
    clock::Clock,
    rollouts::{PgMigrationService, watch::WatchTarget},
};

/// About this many points per chart line: enough for a wide chart, little to send.
const POINTS: u64 = 240;

/// A sparkline: the last day, a point every half hour.
const SPARKLINE: TimeDelta = TimeDelta::hours(24);
const SPARKLINE_STEP: Duration = Duration::from_secs(1800);
/// How many sparklines are asked for at once: two hundred migrations must not become two
/// hundred simultaneous queries.
const SPARKLINES_AT_ONCE: usize = 8;
/// How long the portfolio waits for its sparklines. One its source has not answered by then is
/// left out of this read — the call goes on in its own task and serves the next read — so a slow
/// source never holds up the page.
const SPARKLINES_WAIT: Duration = Duration::from_secs(2);

/// The stage window starts this share of the stage's age before it (at least
/// [`MIN_CONTEXT`]), so the chart shows what the stage changed.
const CONTEXT_SHARE: i32 = 4;
const MIN_CONTEXT: TimeDelta = TimeDelta::minutes(30);

type Question = (Environment, String, Span);

pub struct Observatory {
    migrations: Arc<PgMigrationService>,
    clock: Arc<dyn Clock>,
    sources: ByEnvironment,
    refresh: Duration,
    metrics: Coalesce<(Metric, Question), Result<RangeAnswer, QueryError>>,
    counts: Coalesce<(Kind, Question), Result<Count, QueryError>>,
    issues: Coalesce<(SentryProject, Question), Result<ErrorCount, QueryError>>,
}

impl Observatory {
    pub fn new(
        migrations: Arc<PgMigrationService>,
        clock: Arc<dyn Clock>,
        sources: ByEnvironment,
        refresh: Duration,
    ) -> Observatory {
        Observatory {
            migrations,
            clock,
            sources,
            refresh,
            metrics: Coalesce::new(refresh),
            counts: Coalesce::new(refresh),
            issues: Coalesce::new(refresh),
        }
    }

    /// The end of every span: now, rounded down to the refresh interval, so that everyone
    /// asking within one interval asks the same question.
    fn until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let refresh = self.refresh.as_secs().max(1) as i64;
        DateTime::from_timestamp(now.timestamp().div_euclid(refresh) * refresh, 0).unwrap_or(now)
    }

    fn source(&self, environment: Environment) -> Option<&Arc<dyn Source>> {
        self.sources
            .iter()
            .find(|(e, _)| *e == environment)
            .map(|(_, s)| s)
    }

    /// The charts' span: `window` back from `now` rounded down to the refresh interval, its
    /// start a whole number of steps before its end.
    fn span(&self, window: ChartWindow, target: &WatchTarget) -> Span {
        let until = self.until(target.now);
        let seconds = window.seconds().unwrap_or_else(|| {
            let age = target
                .stage_started
                .map_or(TimeDelta::hours(1), |started| until - started);
            let context = (age / CONTEXT_SHARE).max(MIN_CONTEXT);
            (age + context).num_seconds()
        });
        let step = step_for(Duration::from_secs(seconds.max(60) as u64), POINTS);
        let step_s = step.as_secs() as i64;
        let points = (seconds + step_s - 1) / step_s;
        Span {
            from: until - TimeDelta::seconds(points * step_s),
            until,
            step,
        }
    }

    async fn metric(
        &self,
        source: &Arc<dyn Source>,
        watched: &Watched,
        panel: Metric,
        span: &Span,
    ) -> Result<RangeAnswer, QueryError> {
        let key = (panel, question(watched, span));
        let (source, watched, span) = (Arc::clone(source), watched.clone(), *span);
        self.metrics
            .get(key, move || async move {
                source.metrics(panel, &watched, &span).await
            })
            .await
    }

    async fn charts(
        &self,
        source: &Arc<dyn Source>,
        watched: &Watched,
        span: &Span,
        links: &crate::rollouts::watch::PanelLinks,
    ) -> Vec<Chart> {
        let ask = |panel| self.metric(source, watched, panel, span);
        let (calls, split, errors, p50, p95, p99, cpu) = tokio::join!(
            ask(Metric::CallRate),
            ask(Metric::FlagSplit),
            ask(Metric::ErrorRate),
            ask(Metric::LatencyP50),
            ask(Metric::LatencyP95),
            ask(Metric::LatencyP99),
            ask(Metric::Cpu),
        );
        let split_lines: Vec<Line> = split
            .ok()
            .map(|answer| {
                ["true", "false"]
                    .into_iter()
                    .filter_map(|enabled| {
                        let series = answer.series.iter().find(|s| {
                            s.labels.get("enabled").map(String::as_str) == Some(enabled)
                        })?;
                        Some(line(
                            if enabled == "true" {
                                "flag on"
                            } else {
                                "flag off"
                            },
                            &series.points,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let call_rate = if split_lines.is_empty() {
            chart(
                "call_rate",
                "Call rate",
                Unit::PerSecond,
                vec![("calls", calls)],
            )
        } else {
            Chart {
                key: "call_rate".to_owned(),
                title: "Call rate, flag on vs off".to_owned(),
                unit: Unit::PerSecond,
                lines: split_lines,
                unavailable: None,
                link: None,
            }
        };
        let mut charts = vec![
            call_rate,
            chart(
                "error_rate",
                "Error rate",
                Unit::Ratio,
                vec![("errors", errors)],
            ),
            chart(
                "latency",
                "Latency p50 / p95 / p99",
                Unit::Seconds,
                vec![("p50", p50), ("p95", p95), ("p99", p99)],
            ),
            chart("cpu", "Gitaly CPU", Unit::Cores, vec![("cpu", cpu)]),
        ];
        for chart in &mut charts {
            chart.link = links.grafana.clone();
        }
        charts
    }

    async fn counts(
        &self,
        source: &Arc<dyn Source>,
        watched: &Watched,
        target: &WatchTarget,
        until: DateTime<Utc>,
    ) -> Vec<CountTile> {
        let hours = target.log_window.as_hours();
        let from = until - TimeDelta::hours(i64::from(hours));
        let window = Span {
            from,
            until,
            step: Duration::from_secs(3600),
        };
        let count = |kind| {
            let key = (kind, question(watched, &window));
            let (source, watched) = (Arc::clone(source), watched.clone());
            self.counts.get(key, move || async move {
                source.log_count(kind, &watched, from, until).await
            })
        };
        let issues = |project| {
            let key = (project, question(watched, &window));
            let (source, watched) = (Arc::clone(source), watched.clone());
            self.issues.get(key, move || async move {
                source.sentry(project, &watched, hours).await
            })
        };
        let (invocations, errors, gitaly, gitlab) = tokio::join!(
            count(Kind::Invocations),
            count(Kind::Errors),
            issues(SentryProject::Gitaly),
            issues(SentryProject::Gitlab),
        );
        let links = &target.links;
        vec![
            count_tile(
                "invocations",
                "invocations",
                invocations,
                &links.kibana_invocations,
            ),
            count_tile("errors", "errors", errors, &links.kibana_errors),
            issue_tile(
                "gitaly_sentry",
                "Gitaly Sentry issues",
                gitaly,
                &links.gitaly_sentry,
            ),
            issue_tile(
                "gitlab_sentry",
                "GitLab Sentry issues",
                gitlab,
                &links.gitlab_sentry,
            ),
        ]
    }
}

/// What identifies a question to a source, besides its kind.
fn question(watched: &Watched, span: &Span) -> Question {
    (
        watched.environment,
        format!("{}\n{}", watched.flag, watched.full_method),
        *span,
    )
}

fn line(label: &str, points: &[(DateTime<Utc>, f64)]) -> Line {
    Line {
        label: label.to_owned(),
        points: points
            .iter()
            .filter(|(_, value)| value.is_finite())
            .map(|(at, value)| (at.timestamp(), *value))
            .collect(),
    }
}

/// A chart of one line per answer; unavailable when every answer failed.
fn chart(
    key: &str,
    title: &str,
    unit: Unit,
    answers: Vec<(&str, Result<RangeAnswer, QueryError>)>,
) -> Chart {
    let mut lines = Vec::new();
    let mut failure = None;
    for (label, answer) in answers {
        match answer {
            Ok(answer) => {
                if let Some(series) = answer.series.first() {
                    lines.push(line(label, &series.points));
                }
            }
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    let unavailable = match (&failure, lines.is_empty()) {
        (Some(error), true) => Some(format!("unavailable: {error}")),
        _ => None,
    };
    Chart {
        key: key.to_owned(),
        title: title.to_owned(),
        unit,
        lines,
        unavailable,
        link: None,
    }
}

fn count_tile(
    key: &str,
    label: &str,
    answer: Result<Count, QueryError>,
    link: &Option<rollout::Link>,
) -> CountTile {
    let (count, partial, unavailable) = match answer {
        Ok(count) => (
            Some(count.count),
            count.partial.map(|(failed, total)| {
                format!("partial: {failed} of {total} shards failed, so at least this many")
            }),
            None,
        ),
        Err(error) => (None, None, Some(format!("unavailable: {error}"))),
    };
    CountTile {
        key: key.to_owned(),
        label: label.to_owned(),
        count,
        partial,
        unavailable,
        link: link.clone(),
        issues: Vec::new(),
    }
}

fn issue_tile(
    key: &str,
    label: &str,
    answer: Result<ErrorCount, QueryError>,
    link: &Option<rollout::Link>,
) -> CountTile {
    match answer {
        Ok(found) => CountTile {
            key: key.to_owned(),
            label: label.to_owned(),
            count: Some(found.issues),
            partial: found.more.then(|| {
                "partial: more pages than Rampart counts, so at least this many".to_owned()
            }),
            unavailable: None,
            link: link.clone(),
            issues: found
                .top
                .into_iter()
                .map(|issue| IssueSummary {
                    title: issue.title,
                    events: issue.count,
                    last_seen: DateTime::parse_from_rfc3339(&issue.last_seen)
                        .ok()
                        .map(|at| at.with_timezone(&Utc)),
                    link: issue.permalink,
                })
                .collect(),
        },
        Err(error) => CountTile {
            key: key.to_owned(),
            label: label.to_owned(),
            count: None,
            partial: None,
            unavailable: Some(format!("unavailable: {error}")),
            link: link.clone(),
            issues: Vec::new(),
        },
    }
}

impl Observatory {
    async fn sparkline(&self, watched: Watched, until: DateTime<Utc>) -> Sparkline {
        let span = Span {
            from: until - SPARKLINE,
            until,
            step: SPARKLINE_STEP,
        };
        let answer = match self.source(watched.environment) {
            Some(source) => {
                self.metric(source, &watched, Metric::ErrorRate, &span)
                    .await
            }
            None => Err(QueryError::Unavailable("no source".to_owned())),
        };
        let (points, unavailable) = match answer {
            Ok(answer) => (
                answer
                    .series
                    .first()
                    .map(|series| {
                        series
                            .points
                            .iter()
                            .map(|(_, v)| *v)
                            .filter(|v| v.is_finite())
                            .collect()
                    })
                    .unwrap_or_default(),
                None,
            ),
            Err(error) => (Vec::new(), Some(format!("unavailable: {error}"))),
        };
        Sparkline {
            flag: watched.flag,
            environment: watched.environment,
            points,
            unavailable,
        }
    }
}

#[async_trait::async_trait]
impl ObservabilityService for Observatory {
    async fn sparklines(&self) -> Result<Vec<Sparkline>, AppError> {
        use futures_util::StreamExt;
        let until = self.until(self.clock.now());
        let watched = self.migrations.watched_in_flight().await?;
        let deadline = tokio::time::Instant::now() + SPARKLINES_WAIT;
        Ok(futures_util::stream::iter(watched)
            .map(|watched| async move {
                let (flag, environment) = (watched.flag.clone(), watched.environment);
                tokio::time::timeout_at(deadline, self.sparkline(watched, until))
                    .await
                    .unwrap_or_else(|_| Sparkline {
                        flag,
                        environment,
                        points: Vec::new(),
                        unavailable: Some("still being read: the next read shows it".to_owned()),
                    })
            })
            .buffered(SPARKLINES_AT_ONCE)
            .collect()
            .await)
    }

    async fn panels(&self, flag: &str, window: ChartWindow) -> Result<Panels, AppError> {
        let target = self.migrations.watch_target(flag).await?;
        let span = self.span(window, &target);
        let markers = target
            .markers
            .iter()
            .filter(|(at, _)| (span.from..=span.until).contains(at))
            .map(|(at, label)| Marker {
                at: *at,
                label: label.clone(),
            })
            .collect();
        let mut panels = Panels {
            environment: target.watched.as_ref().map(|w| w.environment),
            window,
            from: span.from,
            until: span.until,
            charts: Vec::new(),
            markers,
            counts_label: target.log_window.label(),
            counts: Vec::new(),
            refresh_seconds: u32::try_from(self.refresh.as_secs()).unwrap_or(u32::MAX),
        };
        let Some(watched) = &target.watched else {
            return Ok(panels);
        };
        let Some(source) = self.source(watched.environment) else {
            return Ok(panels);
        };
        let (charts, counts) = tokio::join!(
            self.charts(source, watched, &span, &target.links),
            self.counts(source, watched, &target, span.until),
        );
        panels.charts = charts;
        panels.counts = counts;
        Ok(panels)
    }
}
