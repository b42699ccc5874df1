//! Error counts from Sentry: the unresolved issues matching a method in a project (Gitaly's, or
//! GitLab's with `gitaly`), how many there are (`X-Hits`, or the pages counted where a server
//! does not send it) and the top few, with their links. The method enters Sentry's search as
//! one quoted term, so a name cannot add filters of its own.

use std::time::Duration;

use reqwest::{Client, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::QueryError;
use crate::outbound;

/// How many issues a panel lists; the count covers all of them.
pub const TOP: usize = 5;

/// Without `X-Hits`, at most this many pages are counted; past them the count is a lower bound.
const MAX_PAGES: usize = 10;

/// The template's search in GitLab's project: anything about Gitaly.
pub const GITLAB_SEARCH: &str = "is:unresolved gitaly";

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
    /// Pages were left uncounted: `issues` is a lower bound.
    pub more: bool,
}

pub struct SentryErrors {
    client: Client,
    base: String,
    organization: String,
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
pub fn method_search(method: &str) -> String {
    let quoted = method.replace('\\', "\\\\").replace('"', "\\\"");
    format!("is:unresolved grpc.method:\"{quoted}\"")
}

impl SentryErrors {
    pub fn new(
        base: &str,
        organization: &str,
        token: SecretString,
        timeout: Duration,
    ) -> Result<SentryErrors, reqwest::Error> {
        Ok(SentryErrors {
            client: outbound::client(timeout)?,
            base: base.to_owned(),
            organization: organization.to_owned(),
            token,
        })
    }

    /// The unresolved issues of `project` matching `search`, seen within `period` (Sentry's
    /// `statsPeriod`: `24h`).
    pub async fn unresolved(
        &self,
        project: &str,
        search: &str,
        period: &str,
    ) -> Result<ErrorCount, QueryError> {
        // The trailing empty segment: Sentry's API paths end with a slash.
        let url = outbound::endpoint(
            &self.base,
            &[
                "api",
                "0",
                "projects",
                &self.organization,
                project,
                "issues",
                "",
            ],
        );
        let mut cursor: Option<String> = None;
        let mut found = ErrorCount {
            issues: 0,
            top: Vec::new(),
            more: false,
        };
        for page in 0..MAX_PAGES {
            let answer = self.page(&url, search, period, cursor.as_deref()).await?;
            if page == 0 {
                found.top = answer.issues.iter().take(TOP).cloned().collect();
                if let Some(hits) = answer.hits {
                    found.issues = hits;
                    return Ok(found);
                }
            }
            found.issues += answer.issues.len() as u64;
            match answer.next {
                Some(next) if !answer.issues.is_empty() => cursor = Some(next),
                _ => return Ok(found),
            }
        }
        found.more = true;
        Ok(found)
    }

    async fn page(
        &self,
        url: &Url,
        search: &str,
        period: &str,
        cursor: Option<&str>,
    ) -> Result<Page, QueryError> {
        let mut query = vec![("query", search), ("statsPeriod", period)];
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        let response = self
            .client
            .get(url.clone())
            .query(&query)
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
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let hits = header("X-Hits").and_then(|v| v.trim().parse::<u64>().ok());
        let next = header("Link").and_then(|link| next_cursor(&link));
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
        Ok(Page { issues, hits, next })
    }
}

struct Page {
    issues: Vec<SentryIssue>,
    hits: Option<u64>,
    /// The cursor of the next page, when Sentry says it has results.
    next: Option<String>,
}

/// The cursor of `rel="next"` in a `Link` header, when its `results` is `"true"`:
/// `<…>; rel="next"; results="true"; cursor="0:100:0"`.
fn next_cursor(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let attributes: Vec<(&str, &str)> = part
            .split(';')
            .skip(1)
            .filter_map(|attribute| {
                let (name, value) = attribute.split_once('=')?;
                Some((name.trim(), value.trim().trim_matches('"')))
            })
            .collect();
        let get = |name: &str| attributes.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        (get("rel") == Some("next") && get("results") == Some("true"))
            .then(|| get("cursor").map(str::to_owned))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_is_one_quoted_term_of_the_search() {
        assert_eq!(
            method_search("/gitaly.CommitService/FindCommit"),
            r#"is:unresolved grpc.method:"/gitaly.CommitService/FindCommit""#
        );
        assert_eq!(
            method_search(r#"x" is:resolved"#),
            r#"is:unresolved grpc.method:"x\" is:resolved""#
        );
    }

    #[test]
    fn the_next_page_is_read_from_the_link_header_only_when_it_has_results() {
        let link = r#"<https://sentry.example.com/api/0/projects/gitlab/gitaly/issues/?cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", <https://sentry.example.com/api/0/projects/gitlab/gitaly/issues/?cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0""#;
        assert_eq!(next_cursor(link), Some("0:100:0".to_owned()));
        let last = link.replace(r#"results="true""#, r#"results="false""#);
        assert_eq!(next_cursor(&last), None);
    }
}
