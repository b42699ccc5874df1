//! Prometheus' HTTP API (and what speaks it: Thanos, Mimir, VictoriaMetrics): range queries for
//! the charts, instant queries for what is true now (Gitaly's deployed version). An answer that
//! is an error says whether asking again may help.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Client, StatusCode, Url};
use serde::Deserialize;

use super::QueryError;
use crate::outbound;

/// One series of a range query: its labels and its points, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// What a query gave: its series, and the warnings Prometheus attached.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RangeAnswer {
    pub series: Vec<Series>,
    pub warnings: Vec<String>,
}

pub struct Prometheus {
    client: Client,
    /// `…/api/v1/query_range`.
    range_url: Url,
    /// `…/api/v1/query`.
    instant_url: Url,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<RawSeries>,
}

/// A series of either answer: a matrix's `values`, or a vector's one `value`.
#[derive(Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
    #[serde(default)]
    value: Option<(f64, String)>,
}

impl Prometheus {
    pub fn new(base: &str, timeout: Duration) -> Result<Prometheus, reqwest::Error> {
        Ok(Prometheus {
            client: outbound::client(timeout)?,
            range_url: outbound::endpoint(base, &["api", "v1", "query_range"]),
            instant_url: outbound::endpoint(base, &["api", "v1", "query"]),
        })
    }

    /// `query` from `start` to `end`, a point every `step`.
    pub async fn query_range(
        &self,
        query: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<RangeAnswer, QueryError> {
        let form = [
            ("query", query.to_owned()),
            ("start", start.timestamp().to_string()),
            ("end", end.timestamp().to_string()),
            ("step", step.as_secs().max(1).to_string()),
        ];
        self.ask(&self.range_url, &form).await
    }

    /// `query` at `at` (now, when `None`): each series with its one point.
    pub async fn query(
        &self,
        query: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<RangeAnswer, QueryError> {
        let mut form = vec![("query", query.to_owned())];
        if let Some(at) = at {
            form.push(("time", at.timestamp().to_string()));
        }
        self.ask(&self.instant_url, &form).await
    }

    async fn ask(&self, url: &Url, form: &[(&str, String)]) -> Result<RangeAnswer, QueryError> {
        let response = self
            .client
            .post(url.clone())
            .form(form)
            .send()
            .await
            .map_err(|error| {
                QueryError::Unavailable(if error.is_timeout() {
                    "Prometheus did not answer in time".to_owned()
                } else {
                    "Prometheus could not be reached".to_owned()
                })
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|_| QueryError::Unavailable("Prometheus's answer broke off".to_owned()))?;
        let envelope: Envelope = serde_json::from_str(&body).map_err(|_| {
            let short: String = body.chars().take(200).collect();
            let message = format!(
                "Prometheus answered {status} with something that is not its API's: {short}"
            );
            if status.is_server_error() {
                QueryError::Unavailable(message)
            } else {
                QueryError::Refused(message)
            }
        })?;
        if envelope.status != "success" {
            let kind = envelope
                .error_type
                .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_owned))
                .unwrap_or_default();
            let message = format!(
                "Prometheus: {}",
                envelope
                    .error
                    .unwrap_or_else(|| format!("{kind} ({status})"))
            );
            // bad_data is the query's fault; timeouts, cancels and overload are not.
            return Err(match (status, kind.as_str()) {
                (StatusCode::BAD_REQUEST, _) | (_, "bad_data") => QueryError::Refused(message),
                _ => QueryError::Unavailable(message),
            });
        }
        let series = envelope
            .data
            .map(|data| data.result)
            .unwrap_or_default()
            .into_iter()
            .map(|raw| Series {
                labels: raw.metric,
                points: raw
                    .values
                    .into_iter()
                    .chain(raw.value)
                    .filter_map(|(at, value)| Some((instant(at)?, value.parse().ok()?)))
                    .collect(),
            })
            .collect();
        Ok(RangeAnswer {
            series,
            warnings: envelope.warnings,
        })
    }
}

/// Prometheus' timestamps: seconds, with a fraction.
fn instant(seconds: f64) -> Option<DateTime<Utc>> {
    let millis = (seconds * 1000.0).round();
    if !millis.is_finite() {
        return None;
    }
    Utc.timestamp_millis_opt(millis as i64).single()
}
