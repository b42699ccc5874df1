//! The Unleash Admin API: per environment a project and Unleash's environment name. A flag is
//! created when missing; its percentage is a `flexibleRollout` strategy's `rollout`, and off is the
//! environment switched off (the strategy keeps the last percentage, as Unleash's UI does).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, StatusCode, Url};
use rollout::FlagValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{BackendError, FlagBackend, exchange, redact};
use crate::outbound;

const SYSTEM: &str = "Unleash";
const STRATEGY: &str = "flexibleRollout";

pub struct UnleashFlags {
    client: Client,
    base: Url,
    token: SecretString,
    project: String,
    environment: String,
}

/// A feature as `GET /api/admin/projects/{project}/features/{name}` answers.
#[derive(Debug, Deserialize)]
struct Feature {
    #[serde(default)]
    environments: Vec<FeatureEnvironment>,
}

#[derive(Debug, Deserialize)]
struct FeatureEnvironment {
    name: String,
    enabled: bool,
    #[serde(default)]
    strategies: Vec<Strategy>,
}

#[derive(Debug, Deserialize)]
struct Strategy {
    id: String,
    name: String,
    #[serde(default)]
    parameters: serde_json::Map<String, serde_json::Value>,
}

impl Strategy {
    /// The `rollout` parameter: Unleash keeps it as a string.
    fn rollout(&self) -> Option<u8> {
        match self.parameters.get("rollout")? {
            serde_json::Value::String(text) => text.trim().parse().ok(),
            serde_json::Value::Number(number) => number.as_u64()?.try_into().ok(),
            _ => None,
        }
    }
}

impl FeatureEnvironment {
    fn rollout_strategy(&self) -> Option<&Strategy> {
        self.strategies.iter().find(|s| s.name == STRATEGY)
    }

    /// What the environment serves. Enabled without a gradual rollout serves everyone.
    fn value(&self) -> FlagValue {
        if !self.enabled {
            return FlagValue::Off;
        }
        match self.rollout_strategy().and_then(Strategy::rollout) {
            None | Some(100..) => FlagValue::On,
            Some(0) => FlagValue::Off,
            Some(percent) => FlagValue::Percent(percent),
        }
    }
}

impl UnleashFlags {
    pub fn new(
        url: &str,
        token: SecretString,
        project: &str,
        environment: &str,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        Ok(UnleashFlags {
            client: outbound::client(timeout)?,
            base: outbound::endpoint(url, &[]),
            token,
            project: project.to_owned(),
            environment: environment.to_owned(),
        })
    }

    /// `/api/admin/projects/{project}/features` and then `segments`.
    fn url(&self, segments: &[&str]) -> Url {
        let prefix = ["api", "admin", "projects", &self.project, "features"];
        let all: Vec<&str> = prefix
            .iter()
            .copied()
            .chain(segments.iter().copied())
            .collect();
        outbound::endpoint(self.base.as_str(), &all)
    }

    /// Sends `request`; the answer's status and body.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, String), BackendError> {
        let request = request.header("Authorization", self.token.expose_secret());
        let (status, body) = exchange(SYSTEM, request).await?;
        Ok((status, redact(body, &self.token)))
    }

    /// Sends `request` and fails unless it succeeded.
    async fn expect_success(&self, request: reqwest::RequestBuilder) -> Result<(), BackendError> {
        match self.send(request).await? {
            (status, _) if status.is_success() => Ok(()),
            (status, body) => Err(BackendError::answered(SYSTEM, status, &body)),
        }
    }

    /// The feature, or `None` when Unleash does not know it.
    async fn feature(&self, flag: &str) -> Result<Option<Feature>, BackendError> {
        match self.send(self.client.get(self.url(&[flag]))).await? {
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) if status.is_success() => {
                serde_json::from_str(&body).map(Some).map_err(|e| {
                    BackendError::Permanent(format!("{SYSTEM}'s answer is unreadable: {e}"))
                })
            }
            (status, body) => Err(BackendError::answered(SYSTEM, status, &body)),
        }
    }

    /// The flag's state in the configured environment. Unleash lists every environment of the
    /// project with each flag, so a missing one is a configuration mistake, never "off".
    fn environment_of<'f>(
        &self,
        feature: &'f Feature,
    ) -> Result<&'f FeatureEnvironment, BackendError> {
        feature
            .environments
            .iter()
            .find(|e| e.name == self.environment)
            .ok_or_else(|| {
                BackendError::Permanent(format!(
                    "{SYSTEM} has no environment {} in project {}",
                    self.environment, self.project
                ))
            })
    }

    /// The feature, created (as a release flag) if Unleash does not know it yet.
    async fn feature_or_create(&self, flag: &str) -> Result<Feature, BackendError> {
        if let Some(feature) = self.feature(flag).await? {
            return Ok(feature);
        }
        let create = self
            .client
            .post(self.url(&[]))
            .json(&json!({"name": flag, "type": "release"}));
        match self.send(create).await? {
            // 409: another request created it in between.
            (status, _) if status.is_success() || status == StatusCode::CONFLICT => {}
            (status, body) => return Err(BackendError::answered(SYSTEM, status, &body)),
        }
        self.feature(flag).await?.ok_or_else(|| {
            BackendError::Transient(format!("{SYSTEM} does not show {flag} after creating it"))
        })
    }

    /// Makes the gradual rollout serve `percent`.
    async fn set_rollout(
        &self,
        flag: &str,
        environment: &FeatureEnvironment,
        percent: u8,
    ) -> Result<(), BackendError> {
        let rollout = percent.to_string();
        match environment.rollout_strategy() {
            Some(strategy) if strategy.rollout() == Some(percent) => Ok(()),
            Some(strategy) => {
                let url = self.url(&[
                    flag,
                    "environments",
                    &self.environment,
                    "strategies",
                    &strategy.id,
                ]);
                let patch =
                    json!([{"op": "replace", "path": "/parameters/rollout", "value": rollout}]);
                self.expect_success(self.client.patch(url).json(&patch))
                    .await
            }
            None => {
                let url = self.url(&[flag, "environments", &self.environment, "strategies"]);
                let strategy = json!({
                    "name": STRATEGY,
                    "constraints": [],
                    "parameters": {"rollout": rollout, "stickiness": "default", "groupId": flag},
                });
                self.expect_success(self.client.post(url).json(&strategy))
                    .await
            }
        }
    }

    async fn switch(&self, flag: &str, on: bool) -> Result<(), BackendError> {
        let state = if on { "on" } else { "off" };
        let url = self.url(&[flag, "environments", &self.environment, state]);
        self.expect_success(self.client.post(url)).await
    }
}

#[async_trait]
impl FlagBackend for UnleashFlags {
    async fn set(&self, flag: &str, value: FlagValue) -> Result<(), BackendError> {
        // Unleash takes any rollout, 150 included: the range is ours to keep.
        let percent = value.serving_percentage();
        if let FlagValue::Percent(p) = value
            && p > 100
        {
            return Err(BackendError::Permanent(format!(
                "{p} % is not a percentage from 0 to 100"
            )));
        }
        if percent == 0 {
            // A flag Unleash does not know is off already.
            return match self.feature(flag).await? {
                Some(_) => self.switch(flag, false).await,
                None => Ok(()),
            };
        }
        let feature = self.feature_or_create(flag).await?;
        self.set_rollout(flag, self.environment_of(&feature)?, percent)
            .await?;
        self.switch(flag, true).await
    }

    async fn get(&self, flag: &str) -> Result<FlagValue, BackendError> {
        match self.feature(flag).await? {
            // A flag Unleash does not know serves nobody.
            None => Ok(FlagValue::Off),
            Some(feature) => Ok(self.environment_of(&feature)?.value()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(enabled: bool, rollout: Option<&str>) -> FeatureEnvironment {
        let strategies = rollout.map_or_else(Vec::new, |r| {
            vec![json!({"id": "s1", "name": STRATEGY, "parameters": {"rollout": r}})]
        });
        serde_json::from_value(json!({
            "name": "production", "enabled": enabled, "strategies": strategies
        }))
        .unwrap()
    }

    #[test]
    fn an_environment_serves_its_rollout_only_when_enabled() {
        assert_eq!(environment(true, Some("5")).value(), FlagValue::Percent(5));
        assert_eq!(environment(true, Some("100")).value(), FlagValue::On);
        assert_eq!(environment(true, None).value(), FlagValue::On);
        assert_eq!(environment(false, Some("50")).value(), FlagValue::Off);
        assert_eq!(environment(true, Some("0")).value(), FlagValue::Off);
    }

    #[test]
    fn the_flag_and_project_are_path_segments_of_their_own() {
        let flags = UnleashFlags::new(
            "http://127.0.0.1:4242/",
            SecretString::from("t"),
            "default",
            "production",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            flags.url(&["gitaly_x", "environments"]).as_str(),
            "http://127.0.0.1:4242/api/admin/projects/default/features/gitaly_x/environments"
        );
    }
}
