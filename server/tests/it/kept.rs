//! What each replica keeps between requests — sessions, users, the migrations in flight, the
//! change locks, the portfolio as rendered — follows what changes elsewhere: through another
//! replica, or in the database itself.

use reqwest::StatusCode;
use rollout::Role;

use crate::helpers::{PASSWORD, Spawn, TestApp, client, eventually, spawn_app_with};

/// A page as a browser asks for it: its status, where it sends the browser, and its HTML.
async fn page(app: &TestApp, client: &reqwest::Client, path: &str) -> (StatusCode, String, String) {
    let response = client
        .get(format!("{}{path}", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .expect("the request is answered");
    let location = response
        .headers()
        .get("location")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status(), location, response.text().await.unwrap())
}

async fn execute(app: &TestApp, sql: &str) {
    sqlx::query(sql).execute(&app.pool).await.unwrap();
}

#[tokio::test]
async fn the_portfolio_follows_migrations_and_change_locks_changed_elsewhere() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    let (status, _, html) = page(&app, &app.client, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("gitaly_find_commit_v2"), "{html}");
    assert!(!html.contains("Changes are locked"), "{html}");

    // Written as every change to a migration is: its version moves.
    execute(
        &app,
        "UPDATE migrations SET owner = 'olga_elsewhere', version = version + 1
         WHERE flag_name = 'gitaly_find_commit_v2'",
    )
    .await;
    let shows = async |text: &str| page(&app, &app.client, "/").await.2.contains(text);
    eventually(async || shows("olga_elsewhere").await, |shown| *shown).await;

    execute(
        &app,
        "INSERT INTO change_locks (reason, until, declared_by, declared_at)
         VALUES ('incident declared elsewhere', now() + interval '1 hour', 'ada', now())",
    )
    .await;
    eventually(
        async || shows("incident declared elsewhere").await,
        |shown| *shown,
    )
    .await;
    execute(
        &app,
        "UPDATE change_locks SET lifted_at = now(), lifted_by = 'ada'",
    )
    .await;
    eventually(async || shows("Changes are locked").await, |shown| !*shown).await;
}

#[tokio::test]
async fn pages_stop_for_a_user_deactivated_or_a_session_ended_elsewhere() {
    let app = spawn_app_with(Spawn::default()).await;
    let signed_out = |(status, location): &(StatusCode, String)| {
        status.is_redirection() && location.starts_with("/sign-in")
    };
    let answer = async |client| {
        let (status, location, _) = page(&app, client, "/").await;
        (status, location)
    };
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    assert_eq!(page(&app, &app.client, "/").await.0, StatusCode::OK);
    execute(
        &app,
        "UPDATE users SET active = false, deactivated_at = now() WHERE username = 'vicky'",
    )
    .await;
    eventually(async || answer(&app.client).await, signed_out).await;

    let other = client();
    app.add_user("vera", &[Role::Viewer]).await;
    app.sign_in_with(&other, "vera", PASSWORD).await;
    assert_eq!(page(&app, &other, "/").await.0, StatusCode::OK);
    execute(&app, "DELETE FROM sessions").await;
    eventually(async || answer(&other).await, signed_out).await;
}
