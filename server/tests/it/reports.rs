//! The manager's history and the audit log, on their pages' server functions and as downloads.

use app::api::history::{HistoryRow, Outcome, history_csv};
use reqwest::StatusCode;
use rollout::Role;
use serde_json::Value;

use crate::helpers::{Spawn, TestApp, spawn_app_with};

async fn demo_app(role: Role) -> TestApp {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("someone", &[role]).await;
    app
}

#[tokio::test]
async fn the_history_counts_what_happened_and_its_csv_holds_the_same_rows() {
    let app = demo_app(Role::Manager).await;
    let response = app.call(&app.client, "get_history").await;
    assert_eq!(response.status(), StatusCode::OK);
    let rows: Vec<HistoryRow> = response.json().await.unwrap();
    assert_eq!(rows.len(), 6, "five completed and one rolled back");
    let row = |flag: &str| rows.iter().find(|r| r.flag == flag).unwrap();
    assert_eq!(
        row("gitaly_get_tree_entries_v3").outcome,
        Outcome::RolledBack
    );
    assert_eq!(row("gitaly_get_blobs_batched").overrides, 1);
    assert!(
        row("gitaly_get_blobs_batched")
            .stages
            .iter()
            .any(|s| s.key == "production_5" && s.actual_seconds < s.required_seconds),
        "the overridden stage ended early"
    );
    assert_eq!(row("gitaly_list_files_paginated").pauses, 1);
    assert_eq!(row("gitaly_commit_is_ancestor_graph").rollbacks, 1);
    let lead = row("gitaly_find_branch_v2").lead_time_seconds.unwrap();
    // 15 min + 2 h + 24 h of soak at least, between 1 % and 100 %.
    assert!(lead >= (26 * 3600 + 15 * 60), "{lead}");

    let csv = app.get("/history.csv").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert_eq!(
        text,
        history_csv(&rows),
        "the download is the page's rows, in its order"
    );
    assert!(text.starts_with("Flag,Method,Owner,Outcome,Started,Ended,Lead time (h)"));
}

#[tokio::test]
async fn the_history_is_for_managers() {
    let app = demo_app(Role::Engineer).await;
    assert_eq!(
        app.call(&app.client, "get_history").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/history.csv").await.status(),
        StatusCode::FORBIDDEN
    );
    let anonymous = crate::helpers::client()
        .get(format!("{}/history.csv", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_audit_log_filters_and_exports_what_it_shows() {
    let app = demo_app(Role::Viewer).await;
    let flag = "gitaly_find_branch_v2";
    let response = app
        .call_with(
            &app.client,
            "search_audit",
            &[
                ("filter[migration]", flag),
                ("filter[action]", "migration.advanced"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let shown: Vec<Value> = response.json().await.unwrap();
    assert_eq!(
        shown.len(),
        8,
        "one advance into each stage after the first"
    );
    assert!(
        shown
            .iter()
            .all(|e| e["subject"] == format!("migration:{flag}"))
    );

    let json: Vec<Value> = app
        .get(&format!(
            "/audit.json?migration={flag}&action=migration.advanced"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(json, shown);
    let csv = app
        .get(&format!(
            "/audit.csv?migration={flag}&action=migration.advanced"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 9, "{csv}");
    assert!(csv.starts_with("at,actor,action,subject,summary\r\n"));

    let bad = app.get("/audit.csv?from=yesterday").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("'yesterday' is not a date")
    );
}
