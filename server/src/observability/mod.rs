//! What the dashboards show, on the migration's page: metrics from Prometheus (and what speaks
//! its API), log counts from Elasticsearch, error counts from Sentry — or, in demo mode, from a
//! generator. The PromQL is built so that no name can change a query's shape; each system has
//! one client; one call serves every watcher (coalescing); the panels are assembled per
//! migration for the page.

use std::{sync::Arc, time::Duration};

use rollout::{Environment, LinkConfig};
use secrecy::SecretString;

pub mod coalesce;
pub mod demo;
pub mod errors;
pub mod logs;
pub mod panels;
pub mod prometheus;
pub mod promql;
pub mod sources;

/// Where the panels' data comes from (see `Config`'s variables).
#[derive(Debug, Clone)]
pub struct ObservabilityConfig {
    /// Generate what no system is configured for.
    pub demo: bool,
    pub timeout: Duration,
    /// How long an answer serves every watcher before a source is asked again.
    pub refresh: Duration,
    pub development: MetricsConfig,
    pub staging: MetricsConfig,
    pub production: MetricsConfig,
    pub logs: Option<LogsConfig>,
    pub sentry: Option<SentryConfig>,
}

#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    pub prometheus: Option<String>,
    /// The `$job` of Gitaly's series; the template's feature-status job by default.
    pub job: Option<String>,
    /// Templates that replace the defaults, checked.
    pub templates: Vec<(promql::Metric, String)>,
}

#[derive(Debug, Clone)]
pub struct LogsConfig {
    pub url: String,
    /// The index pattern; the template's (`gitaly-*`) by default.
    pub index: Option<String>,
    pub api_key: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct SentryConfig {
    pub url: String,
    pub token: SecretString,
    pub organization: String,
}

impl ObservabilityConfig {
    fn metrics(&self, environment: Environment) -> &MetricsConfig {
        match environment {
            Environment::Development => &self.development,
            Environment::Staging => &self.staging,
            Environment::Production => &self.production,
        }
    }

    /// Each environment's sources, the template's links filling in what is not configured
    /// (jobs, host filters, Sentry projects).
    pub fn sources(&self, links: &LinkConfig) -> Result<sources::ByEnvironment, reqwest::Error> {
        let logs = self
            .logs
            .as_ref()
            .map(|logs| {
                logs::LogCounts::new(
                    &logs.url,
                    logs.index.as_deref().unwrap_or(&links.kibana_index),
                    logs.api_key.clone(),
                    self.timeout,
                )
                .map(Arc::new)
            })
            .transpose()?;
        let sentry = self
            .sentry
            .as_ref()
            .map(|sentry| {
                errors::SentryErrors::new(
                    &sentry.url,
                    &sentry.organization,
                    sentry.token.clone(),
                    self.timeout,
                )
                .map(Arc::new)
            })
            .transpose()?;
        let fallback: Option<Arc<dyn sources::Source>> = self
            .demo
            .then(|| Arc::new(demo::DemoSource) as Arc<dyn sources::Source>);
        Environment::all()
            .map(|environment| {
                let config = self.metrics(environment);
                let env_links = links.environment(environment);
                let metrics = config
                    .prometheus
                    .as_ref()
                    .map(|url| {
                        Ok::<_, reqwest::Error>(sources::MetricsSource {
                            prometheus: prometheus::Prometheus::new(url, self.timeout)?,
                            job: config
                                .job
                                .clone()
                                .unwrap_or_else(|| env_links.feature_status_job.clone()),
                            templates: config.templates.clone(),
                        })
                    })
                    .transpose()?;
                let source: Arc<dyn sources::Source> = Arc::new(sources::Live {
                    environment,
                    metrics,
                    logs: logs.clone().map(|counts| sources::LogSource {
                        counts,
                        hosts: logs::Hosts::from_filter(&env_links.kibana_host_filter),
                    }),
                    sentry: sentry.clone().map(|sentry| sources::SentrySource {
                        sentry,
                        gitaly_project: env_links.gitaly_sentry_project.clone(),
                        gitlab_project: env_links.gitlab_sentry_project.clone(),
                    }),
                    fallback: fallback.clone(),
                });
                Ok((environment, source))
            })
            .collect()
    }
}

/// Why a source gave nothing, in words for the panel ("unavailable: …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Down, slow, overloaded: the next refresh may do better.
    #[error("{0}")]
    Unavailable(String),
    /// The question itself was refused (a bad query, a missing index): asking again changes
    /// nothing.
    #[error("{0}")]
    Refused(String),
}
