//! Drives one migration through its stages over HTTP as its people would: an engineer (erin)
//! checks, decides and advances; a release manager (rita) overrides soaks and approves
//! production changes.

use std::time::Duration;

use reqwest::StatusCode;
use rollout::Role;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, client};

pub struct Driver<'a> {
    pub app: &'a TestApp,
    pub flag: String,
    pub engineer: reqwest::Client,
    pub release_manager: reqwest::Client,
}

/// Versions that satisfy [`Driver::create`]'s requirements.
const DEPLOYED: (&str, &str) = ("16.3.2", "16.3.0-ee");
const INFRASTRUCTURE_ISSUE: &str =
    "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/17001";

/// Signs `username` in on a client of its own, adding the user if they are new.
pub async fn signed_in(app: &TestApp, username: &str, roles: &[Role]) -> reqwest::Client {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE username = $1)")
            .bind(username)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    if !exists {
        app.add_user(username, roles).await;
    }
    let http = client();
    let response = app.sign_in_with(&http, username, PASSWORD).await;
    assert!(response.status().is_success(), "{username} signs in");
    http
}

impl<'a> Driver<'a> {
    pub async fn new(app: &'a TestApp, flag: &str) -> Driver<'a> {
        Driver {
            app,
            flag: flag.to_owned(),
            engineer: signed_in(app, "erin", &[Role::Engineer]).await,
            release_manager: signed_in(app, "rita", &[Role::ReleaseManager]).await,
        }
    }

    /// The same people driving another migration, through `app`.
    pub fn other(&self, app: &'a TestApp, flag: &str) -> Driver<'a> {
        Driver {
            app,
            flag: flag.to_owned(),
            engineer: self.engineer.clone(),
            release_manager: self.release_manager.clone(),
        }
    }

    /// Calls a server function as `who`: the status and the JSON (or text) answered.
    pub async fn call(
        &self,
        who: &reqwest::Client,
        endpoint: &str,
        args: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let response = self.app.call_with(who, endpoint, args).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }

    /// Calls as `who` and insists on success.
    pub async fn ok(&self, who: &reqwest::Client, endpoint: &str, args: &[(&str, &str)]) {
        let (status, body) = self.call(who, endpoint, args).await;
        assert_eq!(status, StatusCode::OK, "{endpoint} {args:?}: {body}");
    }

    pub async fn detail(&self) -> Value {
        let (status, detail) = self
            .call(&self.engineer, "get_migration", &[("flag", &self.flag)])
            .await;
        assert_eq!(status, StatusCode::OK, "{detail}");
        detail
    }

    pub async fn version(&self) -> String {
        self.detail().await["version"].to_string()
    }

    /// The current stage's key.
    pub async fn stage(&self) -> String {
        self.detail().await["current"]["key"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Adds the migration with the default plan, and starts it.
    pub async fn create_and_start(&self) {
        let fields = [
            ("form[feature_flag]", self.flag.as_str()),
            ("form[grpc_method]", "CommitService::FindCommit"),
            ("form[gitaly_version]", "v16.3.2"),
            ("form[gitlab_version]", "v16.3"),
            (
                "form[routes]",
                "1. GET /api/v4/projects/:id/repository/commits/:sha",
            ),
            (
                "form[acceptance_issue]",
                "https://gitlab.com/gitlab-org/gitaly/-/issues/4821",
            ),
            ("form[conversation]", "#567"),
            ("form[owner]", ""),
            ("form[production_steps]", ""),
        ];
        self.ok(&self.engineer, "create_migration", &fields).await;
        let version = self.version().await;
        self.ok(
            &self.engineer,
            "start_migration",
            &[("flag", &self.flag), ("version", &version)],
        )
        .await;
    }

    /// Ticks every unticked item of the current stage but the decision.
    pub async fn tick_all(&self) {
        let detail = self.detail().await;
        for row in detail["current"]["checklist"].as_array().unwrap() {
            let item = row["item"].as_str().unwrap();
            if row["done"].is_null() && item != "continue_decision" {
                self.ok(
                    &self.engineer,
                    "record_check_in",
                    &[("flag", &self.flag), ("item", item)],
                )
                .await;
            }
        }
    }

    /// The codes of what holds the current stage.
    pub async fn blockers(&self) -> Vec<String> {
        self.detail().await["current"]["blockers"]
            .as_array()
            .map(|blockers| {
                blockers
                    .iter()
                    .filter_map(|b| b["code"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Everything the current stage asks, up to the production request: checks, the soak (a
    /// release manager's override), and "Continue?".
    pub async fn finish_stage(&self) {
        self.tick_all().await;
        let blockers = self.blockers().await;
        if blockers.iter().any(|b| b.starts_with("soak")) {
            let version = self.version().await;
            self.ok(
                &self.release_manager,
                "override_soak",
                &[
                    ("flag", &self.flag),
                    ("version", &version),
                    ("reason", "watched in the test"),
                ],
            )
            .await;
        }
        let current = self.detail().await["current"].clone();
        let asks = current["decision_question"].is_string();
        if asks && current["decision"]["outcome"] != "continue" {
            let version = self.version().await;
            self.ok(
                &self.engineer,
                "decide",
                &[
                    ("flag", &self.flag),
                    ("version", &version),
                    ("decision", "continue"),
                ],
            )
            .await;
        }
    }

    /// Asks for the production change into the next stage (as erin).
    pub async fn request(&self) {
        let version = self.version().await;
        self.ok(
            &self.engineer,
            "request_production_change",
            &[
                ("flag", &self.flag),
                ("version", &version),
                ("reason", "error rate flat, latency flat"),
                ("infrastructure_issue", INFRASTRUCTURE_ISSUE),
                ("gitaly_version", DEPLOYED.0),
                ("gitlab_version", DEPLOYED.1),
            ],
        )
        .await;
    }

    /// Approves the requested production change (as rita, or `who`), typing the flag's name.
    pub async fn approve_as(&self, who: &reqwest::Client) -> (StatusCode, Value) {
        let version = self.version().await;
        self.call(
            who,
            "approve_production_change",
            &[
                ("flag", &self.flag),
                ("version", &version),
                ("typed_flag", &self.flag),
            ],
        )
        .await
    }

    /// Moves one stage forward the proper way, and waits until its flag change is applied.
    pub async fn step(&self) {
        self.finish_stage().await;
        if self
            .blockers()
            .await
            .iter()
            .any(|b| b == "production_change_not_requested")
        {
            self.request().await;
            let (status, body) = self.approve_as(&self.release_manager).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        } else {
            let version = self.version().await;
            self.ok(
                &self.engineer,
                "advance_stage",
                &[
                    ("flag", &self.flag),
                    ("version", &version),
                    ("gitaly_version", DEPLOYED.0),
                    ("gitlab_version", DEPLOYED.1),
                ],
            )
            .await;
        }
        self.settled().await;
    }

    /// Waits until no flag change of the migration is waiting to be applied; the failed ones
    /// stay, for the test to look at.
    pub async fn settled(&self) -> Value {
        for _ in 0..600 {
            let detail = self.detail().await;
            let waiting = detail["pending_changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["progress"].get("Applying").is_some());
            if !waiting {
                return detail;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the flag changes of {} were not applied within a minute",
            self.flag
        );
    }
}
