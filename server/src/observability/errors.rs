//! Error counts from Sentry: the unresolved issues matching a method in a project (Gitaly's, or
//! GitLab's with `gitaly`), how many there are (`X-Hits`) and the top few, with their links. The
//! method enters Sentry's search as one quoted term, so a name cannot add filters of its own.

use std::time::Duration;

use reqwest::{Client, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::QueryError;
use crate::outbound;

/// How many issues a panel lists; the count covers all of them.
pub const TOP: usize = 5;

/// One Sentry issue, as the panel lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SentryIssue {
    pub title: String,
    /// Events; Sentry sends it as a string.
    #[serde(deserialize_with = "count_from_text")]
    pub count: u64,
    #[serde(rename = "lastSeen")]
    pub last_seen: String,
    pub permalink: String,
}

/// What Sentry holds for a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCount {
    /// Unresolved issues matching, all pages together.
    pub issues: u64,
    /// The first few, most recent first (Sentry's order).
    pub top: Vec<SentryIssue>,
}

pub struct SentryErrors {
    client: Client,
    /// `…/api/0/projects/{org}/{project}/issues/`.
    url: Url,
    token: SecretString,
}

fn count_from_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Text(String),
        Plain(u64),
    }
    match Number::deserialize(deserializer)? {
        Number::Plain(n) => Ok(n),
        Number::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

/// Sentry's search for unresolved issues whose `grpc.method` is `method`, quoted so that spaces,
/// colons or quotes in it stay part of the value.
pub fn search(method: &str) -> String {
    let quoted = method.replace('\\', "\\\\").replace('"', "\\\"");
    format!("is:unresolved grpc.method:\"{quoted}\"")
}

impl SentryErrors {
    pub fn new(
        base: &str,
        organization: &str,
        project: &str,
        token: SecretString,
        timeout: Duration,
    ) -> Result<SentryErrors, reqwest::Error> {
        Ok(SentryErrors {
            client: outbound::client(timeout)?,
            // The trailing empty segment: Sentry's API paths end with a slash.
            url: outbound::endpoint(
                base,
                &["api", "0", "projects", organization, project, "issues", ""],
            ),
            token,
        })
    }

    /// The unresolved issues of `method` seen within `period` (Sentry's `statsPeriod`: `24h`).
    pub async fn unresolved(&self, method: &str, period: &str) -> Result<ErrorCount, QueryError> {
        let response = self
            .client
            .get(self.url.clone())
            .query(&[("query", search(method).as_str()), ("statsPeriod", period)])
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|error| {
                QueryError::Unavailable(if error.is_timeout() {
                    "Sentry did not answer in time".to_owned()
                } else {
                    "Sentry could not be reached".to_owned()
                })
            })?;
        let status = response.status();
        let hits = response
            .headers()
            .get("X-Hits")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = response
            .text()
            .await
            .map_err(|_| QueryError::Unavailable("Sentry's answer broke off".to_owned()))?;
        if !status.is_success() {
            let detail = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("detail")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| body.chars().take(200).collect());
            let message = format!("Sentry answered {status}: {detail}");
            return Err(
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    QueryError::Unavailable(message)
                } else {
                    QueryError::Refused(message)
                },
            );
        }
        let issues: Vec<SentryIssue> = serde_json::from_str(&body).map_err(|_| {
            QueryError::Refused("Sentry answered something that is not a list of issues".to_owned())
        })?;
        Ok(ErrorCount {
            // Without X-Hits, this page is all Rampart knows: a lower bound.
            issues: hits.unwrap_or(issues.len() as u64),
            top: issues.into_iter().take(TOP).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_is_one_quoted_term_of_the_search() {
        assert_eq!(
            search("/gitaly.CommitService/FindCommit"),
            r#"is:unresolved grpc.method:"/gitaly.CommitService/FindCommit""#
        );
        assert_eq!(
            search(r#"x" is:resolved"#),
            r#"is:unresolved grpc.method:"x\" is:resolved""#
        );
    }
}
