//! `server add-migration`: the way the empty portfolio tells people to add a migration.

mod common;

use std::process::{Command, Output};

use common::create_database;

fn add_migration(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_server"))
        .env_clear()
        .env("DATABASE_URL", database_url)
        .arg("add-migration")
        .args(args)
        .output()
        .expect("the server binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn add_migration_adds_it_once_at_the_first_stage() {
    let (_, url) = create_database().await;

    let output = add_migration(
        &url,
        &["gitaly_find_commit_v2", "/gitaly.CommitService/FindCommit"],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        "added gitaly_find_commit_v2 (CommitService::FindCommit) at its first stage, Preparation"
    );

    let again = add_migration(
        &url,
        &["gitaly_find_commit_v2", "CommitService::FindCommit"],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("a migration for flag gitaly_find_commit_v2 already exists")
    );

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT flag_name, grpc_service, grpc_method, stage FROM migrations")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![(
            "gitaly_find_commit_v2".into(),
            "CommitService".into(),
            "FindCommit".into(),
            "preparation".into()
        )]
    );
}

#[tokio::test]
async fn add_migration_names_the_bad_field_and_adds_nothing() {
    let (_, url) = create_database().await;

    let output = add_migration(&url, &["Gitaly-Flag", "CommitService::FindCommit"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("rampart: flag must start with a lowercase letter"),
        "{}",
        text(&output.stderr)
    );

    let output = add_migration(&url, &["gitaly_flag", "FindCommit"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with("rampart: gRPC method 'FindCommit' is neither"),
        "{}",
        text(&output.stderr)
    );

    let output = add_migration(&url, &["find_commit_v2", "CommitService::FindCommit"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr)
            .starts_with("rampart: flag 'find_commit_v2' does not start with gitaly_"),
        "{}",
        text(&output.stderr)
    );

    let output = add_migration(&url, &["gitaly_flag"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("usage: server add-migration FLAG SERVICE::METHOD"));
}
