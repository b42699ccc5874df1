//! Chat notifications against a receiving webhook (an in-test HTTP server): each change is told
//! once in its environment's channel; a webhook that is down neither delays nor fails the flag
//! change, and its notifications wait, with the reason, to be tried again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Json, Router, routing::post};
use serde_json::Value;

use crate::drive::Driver;
use crate::helpers::{Spawn, free_port, spawn_app_with};

/// A webhook that keeps what it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = received.clone();
    let router = Router::new().route(
        "/hooks/development",
        post(move |Json(body): Json<Value>| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hooks/development",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, received)
}

fn texts(received: &Arc<Mutex<Vec<Value>>>) -> Vec<String> {
    received
        .lock()
        .unwrap()
        .iter()
        .map(|body| body["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn each_change_is_told_once_and_a_dead_webhook_holds_nothing_up() {
    let (url, received) = receiver().await;
    let app = spawn_app_with(Spawn {
        env: vec![
            ("RAMPART_FLAGS_DEVELOPMENT", "local".to_owned()),
            ("RAMPART_FLAGS_STAGING", "local".to_owned()),
            ("RAMPART_CHAT_WEBHOOK_DEVELOPMENT", url),
            // Nothing listens there.
            (
                "RAMPART_CHAT_WEBHOOK_STAGING",
                format!("http://127.0.0.1:{}/hooks/staging", free_port()),
            ),
        ],
        ..Spawn::default()
    })
    .await;
    let driver = Driver::new(&app, "gitaly_told").await;
    driver.create_and_start().await;
    driver.step().await;
    assert_eq!(driver.stage().await, "development");

    let expected = [
        "gitaly_told: erin advanced from Preparation to Development trial",
        "gitaly_told: [rampart] made !feature-set gitaly_told true through Rampart's local flag store",
    ];
    for _ in 0..100 {
        if texts(&received).len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment more: nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let told = texts(&received);
    for line in expected {
        assert_eq!(
            told.iter().filter(|t| t.as_str() == line).count(),
            1,
            "{line:?} once in {told:#?}"
        );
    }
    assert_eq!(told.len(), expected.len(), "{told:#?}");
    // A pause (the guardrail's, or a person's) is told where the trial runs.
    let version = driver.version().await;
    driver
        .ok(
            &driver.engineer,
            "pause_migration",
            &[("flag", "gitaly_told"), ("version", &version)],
        )
        .await;
    let version = driver.version().await;
    driver
        .ok(
            &driver.engineer,
            "resume_migration",
            &[("flag", "gitaly_told"), ("version", &version)],
        )
        .await;
    for _ in 0..100 {
        if texts(&received).len() >= expected.len() + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let told = texts(&received);
    assert_eq!(
        &told[expected.len()..],
        ["gitaly_told: erin paused", "gitaly_told: erin resumed"],
        "{told:#?}"
    );
    assert!(
        received
            .lock()
            .unwrap()
            .iter()
            .all(|b| b["channel"] == "#dev-gitlab"),
        "the template's channel"
    );

    // Staging's webhook is down: the step and its flag change go through all the same.
    driver.step().await;
    assert_eq!(driver.stage().await, "staging");
    let detail = driver.settled().await;
    assert!(
        detail["pending_changes"].as_array().unwrap().is_empty(),
        "{detail}"
    );
    let mut waiting: Vec<(i32, Option<String>)> = Vec::new();
    for _ in 0..100 {
        waiting = sqlx::query_as(
            "SELECT attempts, last_error FROM notifications
             WHERE environment = 'staging' AND delivered_at IS NULL AND dropped_at IS NULL",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        if !waiting.is_empty() && waiting.iter().all(|(attempts, _)| *attempts > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!waiting.is_empty(), "staging's notifications wait");
    for (attempts, error) in &waiting {
        assert!(*attempts >= 1);
        assert_eq!(
            error.as_deref(),
            Some("the chat webhook could not be reached"),
            "the reason, and never the webhook's address"
        );
    }
    assert_eq!(
        texts(&received).len(),
        expected.len() + 2,
        "staging's went nowhere else"
    );
}
