//! What the dashboards show, on the migration's page: metrics from Prometheus (and what speaks
//! its API), log counts from Elasticsearch, error counts from Sentry. This is its beginning: the
//! PromQL the panels ask, built so that no name can change a query's shape; the clients of
//! Prometheus, Elasticsearch and Sentry; and the coalescing that makes one call serve every
//! watcher.

pub mod coalesce;
pub mod errors;
pub mod logs;
pub mod prometheus;
pub mod promql;

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
