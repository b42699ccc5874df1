//! The PromQL behind each metrics panel. A query is a template with placeholders (`$service`,
//! `$method`, `$flag`, `$job`, `$window`); names enter only as escaped string literals, so a method
//! or flag name with quotes, braces or newlines matches nothing rather than rewriting the query.
//! The defaults fit Gitaly's series (go-grpc-prometheus naming); an admin may set others per
//! environment, checked to use only known placeholders.

use std::{fmt, time::Duration};

/// What Rampart asks Prometheus, each one query: the charts of a migration's page (latency: one
/// per quantile), and the counts the guardrail judges by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Metric {
    CallRate,
    ErrorRate,
    LatencyP50,
    LatencyP95,
    LatencyP99,
    Cpu,
    /// Call rate split by the flag's checks, one series per `enabled` value.
    FlagSplit,
    /// Calls in the window, and failed calls: the guardrail's error rate against a baseline.
    Calls,
    Errors,
    /// Calls and failed calls per flag state (`enabled`), where the handled counter carries the
    /// flag's state: the guardrail's flag-on against flag-off.
    CohortCalls,
    CohortErrors,
}

impl Metric {
    /// As configuration names it: `RAMPART_PROMQL_<ENVIRONMENT>_<KEY>`.
    pub fn key(self) -> &'static str {
        self.into()
    }

    /// Gitaly's series, as it exports them.
    pub fn default_template(self) -> &'static str {
        match self {
            Metric::CallRate => {
                "sum(rate(grpc_server_handled_total{job=$job,grpc_service=$service,grpc_method=$method}[$window]))"
            }
            Metric::ErrorRate => {
                "sum(rate(grpc_server_handled_total{job=$job,grpc_service=$service,grpc_method=$method,grpc_code!=\"OK\"}[$window])) / sum(rate(grpc_server_handled_total{job=$job,grpc_service=$service,grpc_method=$method}[$window]))"
            }
            Metric::LatencyP50 => {
                "histogram_quantile(0.5, sum by (le) (rate(grpc_server_handling_seconds_bucket{job=$job,grpc_service=$service,grpc_method=$method}[$window])))"
            }
            Metric::LatencyP95 => {
                "histogram_quantile(0.95, sum by (le) (rate(grpc_server_handling_seconds_bucket{job=$job,grpc_service=$service,grpc_method=$method}[$window])))"
            }
            Metric::LatencyP99 => {
                "histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{job=$job,grpc_service=$service,grpc_method=$method}[$window])))"
            }
            Metric::Cpu => "sum(rate(process_cpu_seconds_total{job=$job}[$window]))",
            Metric::FlagSplit => {
                "sum by (enabled) (rate(gitaly_feature_flag_checks_total{job=$job,flag=$flag}[$window]))"
            }
            Metric::Calls => {
                "sum(increase(grpc_server_handled_total{job=$job,grpc_service=$service,grpc_method=$method}[$window]))"
            }
            Metric::Errors => {
                "sum(increase(grpc_server_handled_total{job=$job,grpc_service=$service,grpc_method=$method,grpc_code!=\"OK\"}[$window]))"
            }
            Metric::CohortCalls => {
                "sum by (enabled) (increase(grpc_server_handled_total{job=$job,grpc_service=$service,grpc_method=$method,flag=$flag}[$window]))"
            }
            Metric::CohortErrors => {
                "sum by (enabled) (increase(grpc_server_handled_total{job=$job,grpc_service=$service,grpc_method=$method,flag=$flag,grpc_code!=\"OK\"}[$window]))"
            }
        }
    }
}

/// What a query is about; each value is escaped into a string literal.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// As the series label it: `gitaly.CommitService`.
    pub service: &'a str,
    pub method: &'a str,
    pub flag: &'a str,
    /// The environment's Gitaly job: `gitaly`.
    pub job: &'a str,
}

/// A template names a placeholder Rampart does not fill.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown placeholder ${0} (known: $service, $method, $flag, $job, $window)")]
pub struct UnknownPlaceholder(pub String);

const PLACEHOLDERS: [&str; 5] = ["service", "method", "flag", "job", "window"];

/// Checks that `template` uses only the placeholders Rampart fills.
pub fn check_template(template: &str) -> Result<(), UnknownPlaceholder> {
    placeholders(template)
        .find(|name| !PLACEHOLDERS.contains(name))
        .map_or(Ok(()), |name| Err(UnknownPlaceholder(name.to_owned())))
}

fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split('$').skip(1).map(|rest| {
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

/// `template` with its placeholders filled: names as escaped string literals, the window as a
/// PromQL duration.
pub fn render(
    template: &str,
    subject: &Subject<'_>,
    window: Duration,
) -> Result<String, UnknownPlaceholder> {
    check_template(template)?;
    let mut query = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        query.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        match &after[..end] {
            "service" => query.push_str(&literal(subject.service)),
            "method" => query.push_str(&literal(subject.method)),
            "flag" => query.push_str(&literal(subject.flag)),
            "job" => query.push_str(&literal(subject.job)),
            "window" => query.push_str(&PromDuration(window).to_string()),
            other => return Err(UnknownPlaceholder(other.to_owned())),
        }
        rest = &after[end..];
    }
    query.push_str(rest);
    Ok(query)
}

/// `value` as a PromQL string literal: double-quoted, with backslashes, quotes and control
/// characters escaped, so it can only ever be a value to match.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A whole number of seconds as PromQL writes durations: `5m`, `90s`, `1h`.
struct PromDuration(Duration);

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs().max(1);
        match seconds {
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

/// Prometheus refuses a range query with more points than this per series.
pub const MAX_POINTS: u64 = 11_000;

/// Steps a chart may use: round, so that points line up across panels and refreshes.
const STEPS: [u64; 13] = [
    15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400,
];

/// The step for a chart of `window` with at most about `points` points (and never more than
/// Prometheus allows): the smallest round step that fits.
pub fn step_for(window: Duration, points: u64) -> Duration {
    let points = points.clamp(1, MAX_POINTS);
    let seconds = window.as_secs().max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|step| seconds.div_ceil(*step) <= points)
        .unwrap_or_else(|| seconds.div_ceil(points).max(STEPS[STEPS.len() - 1]));
    Duration::from_secs(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(method: &'a str, flag: &'a str) -> Subject<'a> {
        Subject {
            service: "gitaly.CommitService",
            method,
            flag,
            job: "gitaly",
        }
    }

    #[test]
    fn the_default_queries_name_the_method_and_the_window() {
        let query = render(
            Metric::CallRate.default_template(),
            &subject("FindCommit", "gitaly_find_commit_v2"),
            Duration::from_secs(300),
        )
        .unwrap();
        assert_eq!(
            query,
            r#"sum(rate(grpc_server_handled_total{job="gitaly",grpc_service="gitaly.CommitService",grpc_method="FindCommit"}[5m]))"#
        );
        for panel in <Metric as strum::IntoEnumIterator>::iter() {
            assert_eq!(
                check_template(panel.default_template()),
                Ok(()),
                "{panel:?}"
            );
        }
    }

    #[test]
    fn keys_are_the_configuration_names() {
        let keys: Vec<&str> = <Metric as strum::IntoEnumIterator>::iter()
            .map(Metric::key)
            .collect();
        assert_eq!(
            keys,
            [
                "CALL_RATE",
                "ERROR_RATE",
                "LATENCY_P50",
                "LATENCY_P95",
                "LATENCY_P99",
                "CPU",
                "FLAG_SPLIT",
                "CALLS",
                "ERRORS",
                "COHORT_CALLS",
                "COHORT_ERRORS",
            ]
        );
    }

    #[test]
    fn hostile_names_stay_inside_their_string_literal() {
        for hostile in [
            r#"FindCommit"}"#,
            "FindCommit\"} or vector(1) or x{a=\"",
            "Find\nCommit",
            r"back\slash\",
            "{{}}$job",
        ] {
            let query = render(
                Metric::ErrorRate.default_template(),
                &subject(hostile, hostile),
                Duration::from_secs(60),
            )
            .unwrap();
            let quoted = literal(hostile);
            // The name appears only as its literal, and the query keeps the template's shape:
            // removing every literal of the name leaves exactly the query of an empty name.
            assert!(query.contains(&quoted), "{query}");
            let shape = query.replace(&quoted, "\"\"");
            let empty = render(
                Metric::ErrorRate.default_template(),
                &subject("", ""),
                Duration::from_secs(60),
            )
            .unwrap();
            assert_eq!(shape, empty, "{hostile:?} changed the query: {query}");
            assert!(!query.contains('\n'));
        }
    }

    #[test]
    fn a_template_with_an_unknown_placeholder_is_refused() {
        assert_eq!(
            check_template("rate(x{a=$metod}[5m])"),
            Err(UnknownPlaceholder("metod".to_owned()))
        );
    }

    #[test]
    fn the_step_keeps_every_chart_within_its_points_and_prometheus_limit() {
        let hour = Duration::from_secs(3600);
        assert_eq!(step_for(hour, 250), Duration::from_secs(15));
        assert_eq!(step_for(hour * 24, 250), Duration::from_secs(600));
        assert_eq!(step_for(hour * 24 * 7, 250), Duration::from_secs(3600));
        for window in [60, 3600, 86_400, 604_800, 31_536_000 * 3] {
            let window = Duration::from_secs(window);
            let step = step_for(window, 250);
            assert!(window.as_secs().div_ceil(step.as_secs()) <= MAX_POINTS);
        }
    }
}
