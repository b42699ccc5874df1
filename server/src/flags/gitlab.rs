//! The GitLab Features API (`/api/v4/features`), one instance per environment, with an admin
//! token. GitLab refuses a percentage on a fully-enabled flag ("disable first"), so setting one
//! on such a flag disables it first, as a person at the ChatOps prompt would.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Url};
use rollout::FlagValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{BackendError, FlagBackend, exchange, redact, value_text};
use crate::outbound;

const SYSTEM: &str = "GitLab";

pub struct GitLabFlags {
    client: Client,
    base: Url,
    token: SecretString,
}

/// One feature as `GET /api/v4/features` lists it.
#[derive(Debug, Deserialize)]
struct Feature {
    name: String,
    #[serde(default)]
    gates: Vec<Gate>,
}

#[derive(Debug, Deserialize)]
struct Gate {
    key: String,
    value: serde_json::Value,
}

impl Feature {
    /// What the gates serve: the boolean gate on is everyone; otherwise a percentage gate.
    fn value(&self) -> FlagValue {
        let gate = |key: &str| self.gates.iter().find(|g| g.key == key).map(|g| &g.value);
        if gate("boolean").and_then(serde_json::Value::as_bool) == Some(true) {
            return FlagValue::On;
        }
        let percent = gate("percentage_of_time")
            .or_else(|| gate("percentage_of_actors"))
            .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()));
        match percent {
            // GitLab keeps fractions; Rampart's stages are whole percentages.
            Some(p) if p > 0.0 => FlagValue::Percent(p.round().clamp(1.0, 100.0) as u8),
            _ => FlagValue::Off,
        }
    }
}

/// What `flag` serves in the list; a flag GitLab does not list is off.
fn value_of(features: &[Feature], flag: &str) -> FlagValue {
    features
        .iter()
        .find(|feature| feature.name == flag)
        .map_or(FlagValue::Off, Feature::value)
}

impl GitLabFlags {
    pub fn new(url: &str, token: SecretString, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(GitLabFlags {
            client: outbound::client(timeout)?,
            base: outbound::endpoint(url, &["api", "v4"]),
            token,
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        outbound::endpoint(self.base.as_str(), segments)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<String, BackendError> {
        let request = request.header("PRIVATE-TOKEN", self.token.expose_secret());
        let (status, body) = exchange(SYSTEM, request).await?;
        let body = redact(body, &self.token);
        if status.is_success() {
            Ok(body)
        } else {
            Err(BackendError::answered(SYSTEM, status, &body))
        }
    }

    async fn post(&self, flag: &str, value: &str) -> Result<(), BackendError> {
        let request = self
            .client
            .post(self.url(&["features", flag]))
            .form(&[("value", value)]);
        self.send(request).await.map(drop)
    }

    /// Every feature GitLab knows (`GET /api/v4/features`).
    async fn features(&self) -> Result<Vec<Feature>, BackendError> {
        let body = self.send(self.client.get(self.url(&["features"]))).await?;
        serde_json::from_str(&body).map_err(|e| {
            BackendError::Permanent(format!("{SYSTEM}'s feature list is unreadable: {e}"))
        })
    }

    /// The deployed GitLab version (`GET /api/v4/version`), as it says it: `18.1.1-ee`.
    pub async fn version(&self) -> Result<String, BackendError> {
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        let body = self.send(self.client.get(self.url(&["version"]))).await?;
        serde_json::from_str::<Version>(&body)
            .map(|v| v.version)
            .map_err(|e| BackendError::Permanent(format!("{SYSTEM}'s version is unreadable: {e}")))
    }
}

#[async_trait]
impl FlagBackend for GitLabFlags {
    async fn set(&self, flag: &str, value: FlagValue) -> Result<(), BackendError> {
        let value = match value {
            FlagValue::Percent(0) => FlagValue::Off,
            FlagValue::Percent(100) => FlagValue::On,
            other => other,
        };
        if matches!(value, FlagValue::Percent(_)) && self.get(flag).await? == FlagValue::On {
            self.post(flag, "false").await?;
        }
        self.post(flag, &value_text(value)).await
    }

    async fn get(&self, flag: &str) -> Result<FlagValue, BackendError> {
        let features = self.features().await?;
        Ok(value_of(&features, flag))
    }

    /// GitLab lists every feature in one answer: one request for all of them.
    async fn get_many(&self, flags: &[String]) -> Vec<Result<FlagValue, BackendError>> {
        match self.features().await {
            Ok(features) => flags.iter().map(|f| Ok(value_of(&features, f))).collect(),
            Err(error) => flags.iter().map(|_| Err(error.clone())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(gates: serde_json::Value) -> Feature {
        serde_json::from_value(serde_json::json!({"name": "f", "state": "on", "gates": gates}))
            .unwrap()
    }

    #[test]
    fn gates_read_as_the_value_they_serve() {
        let on = feature(serde_json::json!([{"key": "boolean", "value": true}]));
        assert_eq!(on.value(), FlagValue::On);
        let percent = feature(serde_json::json!([
            {"key": "boolean", "value": false},
            {"key": "percentage_of_time", "value": 30}
        ]));
        assert_eq!(percent.value(), FlagValue::Percent(30));
        let actors = feature(serde_json::json!([{"key": "percentage_of_actors", "value": "5"}]));
        assert_eq!(actors.value(), FlagValue::Percent(5));
        let off = feature(serde_json::json!([{"key": "boolean", "value": false}]));
        assert_eq!(off.value(), FlagValue::Off);
    }

    #[test]
    fn the_api_lives_under_api_v4_whatever_the_base() {
        for base in ["https://gitlab.example.com", "https://gitlab.example.com/"] {
            let flags =
                GitLabFlags::new(base, SecretString::from("t"), Duration::from_secs(1)).unwrap();
            assert_eq!(
                flags.url(&["features", "gitaly_x"]).as_str(),
                "https://gitlab.example.com/api/v4/features/gitaly_x"
            );
        }
    }
}
