//! What the dashboards show, on the migration's page: metrics from Prometheus (and what speaks
//! its API), log counts from Elasticsearch, error counts from Sentry. This is its beginning: the
//! PromQL the panels ask, built so that no name can change a query's shape.

pub mod coalesce;
pub mod prometheus;
pub mod promql;
