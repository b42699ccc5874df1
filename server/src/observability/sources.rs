//! Where one environment's panels come from: its Prometheus, the log search and Sentry where
//! configured, the demo's generator in demo mode, and otherwise nothing — which the panel says.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rollout::{Environment, FlagValue};

use super::{
    QueryError,
    errors::{ErrorCount, GITLAB_SEARCH, SentryErrors, method_search},
    logs::{Count, Hosts, Kind, LogCounts},
    prometheus::{Prometheus, RangeAnswer},
    promql::{self, Metric, Subject},
};

/// The migration a panel is about, in one environment.
#[derive(Debug, Clone)]
pub struct Watched {
    pub flag: String,
    /// As Gitaly's series label it: `gitaly.CommitService`.
    pub service: String,
    pub method: String,
    /// As logs and Sentry record it: `/gitaly.CommitService/FindCommit`.
    pub full_method: String,
    pub environment: Environment,
    /// What the flag serves there now.
    pub serving: FlagValue,
    /// When the flag last changed there (the current stage's start), if it did.
    pub changed_at: Option<DateTime<Utc>>,
}

/// A chart's span and resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub step: std::time::Duration,
}

/// The two Sentry projects the template checks per environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SentryProject {
    /// The method's issues in Gitaly's project.
    Gitaly,
    /// Anything about Gitaly in GitLab's project.
    Gitlab,
}

/// Each environment's sources.
pub type ByEnvironment = Vec<(Environment, Arc<dyn Source>)>;

/// One environment's sources.
#[async_trait::async_trait]
pub trait Source: Send + Sync {
    /// Whether this environment's metrics can be asked at all (configured, or generated): the
    /// guardrail watches only what it can see.
    fn watches_metrics(&self) -> bool;
    /// The query `metric` is for `watched` over `window`, as evidence of what was asked.
    fn describe(&self, metric: Metric, watched: &Watched, window: std::time::Duration) -> String;
    /// `metric` over the `window` ending at `at`: one value per series.
    async fn instant(
        &self,
        metric: Metric,
        watched: &Watched,
        at: DateTime<Utc>,
        window: std::time::Duration,
    ) -> Result<RangeAnswer, QueryError>;
    async fn metrics(
        &self,
        panel: Metric,
        watched: &Watched,
        span: &Span,
    ) -> Result<RangeAnswer, QueryError>;
    async fn log_count(
        &self,
        kind: Kind,
        watched: &Watched,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Count, QueryError>;
    /// Unresolved issues seen within `hours`.
    async fn sentry(
        &self,
        project: SentryProject,
        watched: &Watched,
        hours: u32,
    ) -> Result<ErrorCount, QueryError>;
}

/// An environment's Prometheus and what to ask it.
pub struct MetricsSource {
    pub prometheus: Prometheus,
    /// The `$job` of its Gitaly series.
    pub job: String,
    /// Each panel's PromQL template (checked when configured).
    pub templates: Vec<(Metric, String)>,
}

impl MetricsSource {
    fn template(&self, panel: Metric) -> &str {
        self.templates
            .iter()
            .find(|(p, _)| *p == panel)
            .map_or_else(|| panel.default_template(), |(_, t)| t.as_str())
    }

    /// The PromQL of `metric` for `watched`, its rate window one step (at least a minute), so
    /// each point covers the time since the last.
    pub fn query(&self, metric: Metric, watched: &Watched, span: &Span) -> String {
        self.query_over(
            metric,
            watched,
            span.step.max(std::time::Duration::from_secs(60)),
        )
    }

    /// The PromQL of `metric` for `watched` with `window` as its `$window`.
    pub fn query_over(
        &self,
        metric: Metric,
        watched: &Watched,
        window: std::time::Duration,
    ) -> String {
        let subject = Subject {
            service: &watched.service,
            method: &watched.method,
            flag: &watched.flag,
            job: &self.job,
        };
        // Templates are checked when configured; the defaults are checked by their tests.
        promql::render(self.template(metric), &subject, window)
            .unwrap_or_else(|error| format!("vector(0) # {error}"))
    }
}

/// The log search, and which hosts are this environment's.
pub struct LogSource {
    pub counts: Arc<LogCounts>,
    pub hosts: Hosts,
}

/// Sentry, and this environment's two projects.
pub struct SentrySource {
    pub sentry: Arc<SentryErrors>,
    pub gitaly_project: String,
    pub gitlab_project: String,
}

/// The configured systems of one environment; what is missing is "not configured".
pub struct Live {
    pub environment: Environment,
    pub metrics: Option<MetricsSource>,
    pub logs: Option<LogSource>,
    pub sentry: Option<SentrySource>,
    /// Answers for what is not configured (the demo's generator in demo mode).
    pub fallback: Option<Arc<dyn Source>>,
}

impl Live {
    fn no_prometheus(&self) -> QueryError {
        self.missing(
            "Prometheus",
            &format!(
                "RAMPART_PROMETHEUS_{}_URL",
                self.environment.as_str().to_ascii_uppercase()
            ),
        )
    }

    fn missing(&self, what: &str, variable: &str) -> QueryError {
        QueryError::Unavailable(format!(
            "no {what} is configured for {} (set {variable})",
            self.environment.label()
        ))
    }
}

#[async_trait::async_trait]
impl Source for Live {
    fn watches_metrics(&self) -> bool {
        self.metrics.is_some() || self.fallback.as_ref().is_some_and(|f| f.watches_metrics())
    }

    fn describe(&self, metric: Metric, watched: &Watched, window: std::time::Duration) -> String {
        match (&self.metrics, &self.fallback) {
            (Some(source), _) => source.query_over(metric, watched, window),
            (None, Some(fallback)) => fallback.describe(metric, watched, window),
            (None, None) => "not configured".to_owned(),
        }
    }

    async fn instant(
        &self,
        metric: Metric,
        watched: &Watched,
        at: DateTime<Utc>,
        window: std::time::Duration,
    ) -> Result<RangeAnswer, QueryError> {
        match (&self.metrics, &self.fallback) {
            (Some(source), _) => {
                let query = source.query_over(metric, watched, window);
                source.prometheus.query(&query, Some(at)).await
            }
            (None, Some(fallback)) => fallback.instant(metric, watched, at, window).await,
            (None, None) => Err(self.no_prometheus()),
        }
    }

    async fn metrics(
        &self,
        panel: Metric,
        watched: &Watched,
        span: &Span,
    ) -> Result<RangeAnswer, QueryError> {
        match (&self.metrics, &self.fallback) {
            (Some(source), _) => {
                let query = source.query(panel, watched, span);
                source
                    .prometheus
                    .query_range(&query, span.from, span.until, span.step)
                    .await
            }
            (None, Some(fallback)) => fallback.metrics(panel, watched, span).await,
            (None, None) => Err(self.no_prometheus()),
        }
    }

    async fn log_count(
        &self,
        kind: Kind,
        watched: &Watched,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Count, QueryError> {
        match (&self.logs, &self.fallback) {
            (Some(logs), _) => {
                logs.counts
                    .count(&watched.method, kind, &logs.hosts, from, until)
                    .await
            }
            (None, Some(fallback)) => fallback.log_count(kind, watched, from, until).await,
            (None, None) => Err(self.missing("log search", "RAMPART_ELASTICSEARCH_URL")),
        }
    }

    async fn sentry(
        &self,
        project: SentryProject,
        watched: &Watched,
        hours: u32,
    ) -> Result<ErrorCount, QueryError> {
        match (&self.sentry, &self.fallback) {
            (Some(source), _) => {
                let (project, search) = match project {
                    SentryProject::Gitaly => {
                        (&source.gitaly_project, method_search(&watched.full_method))
                    }
                    SentryProject::Gitlab => (&source.gitlab_project, GITLAB_SEARCH.to_owned()),
                };
                source
                    .sentry
                    .unresolved(project, &search, &format!("{hours}h"))
                    .await
            }
            (None, Some(fallback)) => fallback.sentry(project, watched, hours).await,
            (None, None) => Err(self.missing("Sentry", "RAMPART_SENTRY_URL")),
        }
    }
}
