//! Log counts from Elasticsearch or OpenSearch (`_count`): how often a method was invoked, and
//! how often it failed, in a window — the template's two Kibana searches, as numbers. Names enter
//! the query as JSON values, never as query-string syntax, so no name can change its shape. A
//! count that some shards could not give is partial, and says so.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Client, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::QueryError;
use crate::outbound;

/// Which hosts count: the template's per-environment filter on `hostname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    All,
    Only(String),
    AllBut(String),
}

impl Hosts {
    /// The template's Kibana host filter (`hostname:dev`, `NOT hostname:dev`) as hosts; no
    /// filter, or one Rampart does not read, counts every host.
    pub fn from_filter(filter: &str) -> Hosts {
        let filter = filter.trim();
        let (negated, rest) = match filter.strip_prefix("NOT ") {
            Some(rest) => (true, rest.trim()),
            None => (false, filter),
        };
        match rest.strip_prefix("hostname:") {
            Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
                let host = host.to_owned();
                if negated {
                    Hosts::AllBut(host)
                } else {
                    Hosts::Only(host)
                }
            }
            _ => Hosts::All,
        }
    }
}

/// What the count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Every finished call of the method.
    Invocations,
    /// Finished calls whose gRPC code is not OK.
    Errors,
}

/// A count, and whether it is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub count: u64,
    /// `(failed, total)` shards, when some failed: the count is a lower bound.
    pub partial: Option<(u64, u64)>,
}

pub struct LogCounts {
    client: Client,
    /// `…/<index pattern>/_count`.
    url: Url,
    /// `Authorization: ApiKey …`, when the cluster wants one.
    api_key: Option<SecretString>,
}

#[derive(Deserialize)]
struct Answer {
    count: u64,
    #[serde(rename = "_shards")]
    shards: Option<Shards>,
}

#[derive(Deserialize)]
struct Shards {
    total: u64,
    #[serde(default)]
    failed: u64,
}

/// The `_count` body for `method`'s `kind` on `hosts` between `from` and `until`.
pub fn count_query(
    method: &str,
    kind: Kind,
    hosts: &Hosts,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Value {
    let mut filter = vec![
        json!({"term": {"grpc.method.keyword": method}}),
        json!({"match_phrase": {"message": "finished"}}),
        json!({"range": {"@timestamp": {
            "gte": from.to_rfc3339_opts(SecondsFormat::Secs, true),
            "lte": until.to_rfc3339_opts(SecondsFormat::Secs, true),
        }}}),
    ];
    let mut must_not = Vec::new();
    match hosts {
        Hosts::All => {}
        Hosts::Only(host) => filter.push(json!({"term": {"hostname.keyword": host}})),
        Hosts::AllBut(host) => must_not.push(json!({"term": {"hostname.keyword": host}})),
    }
    if kind == Kind::Errors {
        must_not.push(json!({"term": {"grpc.code.keyword": "OK"}}));
    }
    let mut bool_query = json!({"filter": filter});
    if !must_not.is_empty() {
        bool_query["must_not"] = Value::Array(must_not);
    }
    json!({"query": {"bool": bool_query}})
}

impl LogCounts {
    /// `base`: the cluster; `index`: the pattern to count in (`gitaly-*`).
    pub fn new(
        base: &str,
        index: &str,
        api_key: Option<SecretString>,
        timeout: Duration,
    ) -> Result<LogCounts, reqwest::Error> {
        Ok(LogCounts {
            client: outbound::client(timeout)?,
            url: outbound::endpoint(base, &[index, "_count"]),
            api_key,
        })
    }

    pub async fn count(
        &self,
        method: &str,
        kind: Kind,
        hosts: &Hosts,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Count, QueryError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .json(&count_query(method, kind, hosts, from, until));
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("ApiKey {}", key.expose_secret()));
        }
        let response = request.send().await.map_err(|error| {
            QueryError::Unavailable(if error.is_timeout() {
                "the log search did not answer in time".to_owned()
            } else {
                "the log search could not be reached".to_owned()
            })
        })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|_| QueryError::Unavailable("the log search's answer broke off".to_owned()))?;
        if !status.is_success() {
            let reason = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| {
                    let error = v.get("error")?;
                    Some(
                        error
                            .get("reason")
                            .or_else(|| error.get("type"))?
                            .as_str()?
                            .to_owned(),
                    )
                })
                .unwrap_or_else(|| body.chars().take(200).collect());
            let message = format!("the log search answered {status}: {reason}");
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    QueryError::Unavailable(message)
                } else {
                    QueryError::Refused(message)
                },
            );
        }
        let answer: Answer = serde_json::from_str(&body).map_err(|_| {
            QueryError::Refused("the log search answered something that is not a count".to_owned())
        })?;
        Ok(Count {
            count: answer.count,
            partial: answer
                .shards
                .filter(|s| s.failed > 0)
                .map(|s| (s.failed, s.total)),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn errors_are_the_invocations_whose_code_is_not_ok_on_the_same_hosts() {
        let from = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let until = Utc.timestamp_opt(1_700_003_600, 0).unwrap();
        let query = count_query(
            "FindCommit",
            Kind::Errors,
            &Hosts::AllBut("dev".to_owned()),
            from,
            until,
        );
        assert_eq!(
            query,
            json!({"query": {"bool": {
                "filter": [
                    {"term": {"grpc.method.keyword": "FindCommit"}},
                    {"match_phrase": {"message": "finished"}},
                    {"range": {"@timestamp": {"gte": "2023-11-14T22:13:20Z", "lte": "2023-11-14T23:13:20Z"}}},
                ],
                "must_not": [
                    {"term": {"hostname.keyword": "dev"}},
                    {"term": {"grpc.code.keyword": "OK"}},
                ],
            }}})
        );
    }

    #[test]
    fn the_templates_host_filters_read_as_hosts() {
        assert_eq!(
            Hosts::from_filter("hostname:dev"),
            Hosts::Only("dev".to_owned())
        );
        assert_eq!(
            Hosts::from_filter("NOT hostname:dev"),
            Hosts::AllBut("dev".to_owned())
        );
        assert_eq!(Hosts::from_filter(""), Hosts::All);
        assert_eq!(Hosts::from_filter("hostname:a OR hostname:b"), Hosts::All);
    }

    #[test]
    fn a_hostile_method_name_is_only_ever_a_value() {
        let hostile = r#"FindCommit"}},{"match_all":{}}"#;
        let now = Utc::now();
        let query = count_query(hostile, Kind::Invocations, &Hosts::All, now, now);
        assert_eq!(
            query["query"]["bool"]["filter"][0]["term"]["grpc.method.keyword"],
            hostile
        );
        assert_eq!(
            query["query"]["bool"]["filter"].as_array().unwrap().len(),
            3
        );
    }
}
