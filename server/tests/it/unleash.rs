//! Flag control against a real Unleash (the open-source server `make test` starts): a migration
//! walks from development to 100 %, and Unleash's own Admin API shows the gradual rollout and the
//! environment's state at every step; the kill switch turns the environment off.
//!
//! The open-source server has two environments, development and production (more are an
//! Enterprise feature), so staging's flags live in Rampart's local store here.

use reqwest::StatusCode;
use serde_json::Value;

use crate::drive::Driver;
use crate::helpers::{Spawn, spawn_app_with};

/// The Unleash `make test` starts, and its admin token.
fn unleash() -> (String, String) {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} must be set; `make test` starts Unleash and sets it")
        })
    };
    (
        var("RAMPART_TEST_UNLEASH_URL"),
        var("RAMPART_TEST_UNLEASH_TOKEN"),
    )
}

/// `(enabled, rollout)` of the flag's gradual rollout in an Unleash environment, as Unleash
/// itself reports it.
async fn unleash_state(flag: &str, environment: &str) -> (bool, Option<String>) {
    let (url, token) = unleash();
    let response = reqwest::Client::new()
        .get(format!("{url}/api/admin/projects/default/features/{flag}"))
        .header("Authorization", token)
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::NOT_FOUND {
        return (false, None);
    }
    let feature: Value = response.json().await.unwrap();
    let environment = feature["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == environment)
        .cloned()
        .unwrap_or_else(|| panic!("no {environment} in {feature}"));
    let rollout = environment["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "flexibleRollout")
        .map(|s| s["parameters"]["rollout"].as_str().unwrap().to_owned());
    (environment["enabled"].as_bool().unwrap(), rollout)
}

#[tokio::test]
async fn a_migration_walks_to_100_percent_on_unleash_and_the_kill_switch_turns_production_off() {
    let (url, token) = unleash();
    let app = spawn_app_with(Spawn {
        env: vec![
            ("RAMPART_FLAGS_DEVELOPMENT", "unleash".to_owned()),
            ("RAMPART_UNLEASH_DEVELOPMENT_URL", url.clone()),
            ("RAMPART_UNLEASH_DEVELOPMENT_TOKEN", token.clone()),
            ("RAMPART_FLAGS_STAGING", "local".to_owned()),
            ("RAMPART_FLAGS_PRODUCTION", "unleash".to_owned()),
            ("RAMPART_UNLEASH_PRODUCTION_URL", url),
            ("RAMPART_UNLEASH_PRODUCTION_TOKEN", token),
        ],
        ..Spawn::default()
    })
    .await;
    // Unleash outlives a test run's databases: a name of this run's own.
    let flag = format!("gitaly_unleash_{}", uuid::Uuid::new_v4().simple());
    let drive = Driver::new(&app, &flag).await;
    drive.create_and_start().await;
    assert_eq!(unleash_state(&flag, "development").await, (false, None));

    let on = |rollout: &str| (true, Some(rollout.to_owned()));
    let off = (false, None);
    let expected = [
        ("development", on("100"), off.clone()),
        ("staging", on("100"), off.clone()),
        ("production_check", on("100"), off.clone()),
        ("production_1", on("100"), on("1")),
        ("production_5", on("100"), on("5")),
        ("production_50", on("100"), on("50")),
        ("production_100", on("100"), on("100")),
    ];
    for (stage, development, production) in expected {
        drive.step().await;
        assert_eq!(drive.stage().await, stage);
        assert_eq!(
            unleash_state(&flag, "development").await,
            development,
            "{stage}"
        );
        assert_eq!(
            unleash_state(&flag, "production").await,
            production,
            "{stage}"
        );
    }

    let (status, body) = drive
        .call(
            &drive.engineer,
            "kill_switch",
            &[("flag", &flag), ("reason", "latency p99 doubled")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let detail = drive.settled().await;
    assert_eq!(detail["pending_changes"], Value::Array(vec![]), "{detail}");
    // Off, with the strategy kept at the last percentage, as Unleash's own switch leaves it.
    assert_eq!(
        unleash_state(&flag, "production").await,
        (false, Some("100".to_owned()))
    );
    assert_eq!(unleash_state(&flag, "development").await, on("100"));
}
