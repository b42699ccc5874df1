//! What every HTTP client of Rampart's shares: the systems it calls (GitLab, Unleash,
//! Prometheus, Elasticsearch) are reached with one client each, bounded in time, never following a
//! redirect (a credential would go along to wherever it points), at an address the configuration
//! checked.

use std::time::Duration;

use reqwest::{Client, Url};

/// A client that gives up after `timeout` and answers a redirect as it is.
pub fn client(timeout: Duration) -> Result<Client, reqwest::Error> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// `base` (an `http(s)://` address the configuration checked) with `segments` appended, each one
/// a path segment of its own (escaped, so a name cannot reach another path).
pub fn endpoint(base: &str, segments: &[&str]) -> Url {
    let mut url = Url::parse(base).unwrap_or_else(|_| Url::parse("http://invalid").expect("a URL"));
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_join_the_base_path_and_stay_segments() {
        assert_eq!(
            endpoint("https://example.com/prom/", &["api", "v1", "query"]).as_str(),
            "https://example.com/prom/api/v1/query"
        );
        assert_eq!(
            endpoint("https://example.com", &["features", "a/../b"]).as_str(),
            "https://example.com/features/a%2F..%2Fb"
        );
    }
}
