//! Pages rendered on the server: what a browser without JavaScript gets.

use crate::helpers::{Spawn, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use rollout::Role;

#[tokio::test]
async fn the_portfolio_lists_the_demo_migrations_in_the_first_html() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("gitaly_find_commit_v2"), "{html}");
    assert!(html.contains("CommitService::FindCommit"));
    assert!(html.contains("12 in flight"), "{html}");
}

#[tokio::test]
async fn an_empty_portfolio_says_so_and_offers_a_new_migration_to_who_may_add_one() {
    let app = spawn_app().await;
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("No migrations in flight"), "{html}");
    assert!(!html.contains(r#"href="/migrations/new""#), "{html}");
    app.sign_in_as("erin", &[Role::Engineer]).await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("No migrations in flight"), "{html}");
    assert!(html.contains(r#"href="/migrations/new""#), "{html}");
}

/// Adding, editing and acting on migrations (starting, pausing, checking in, answering
/// "Continue?") take an engineer or a release manager: the pages offer them to them only, and
/// say so to anyone else who finds the new-migration form's address.
#[tokio::test]
async fn adding_editing_and_acting_are_offered_to_who_may_do_them() {
    // Flags set by hand in development: the demo's change there waits for a person.
    let app = spawn_app_with(Spawn {
        demo_data: true,
        env: vec![("RAMPART_FLAGS_DEVELOPMENT", "manual".to_owned())],
        ..Spawn::default()
    })
    .await;
    let detail = "/migrations/gitaly_find_commit_v2";
    let waiting_change = "/migrations/gitaly_find_all_tags_lazy";
    let confirm = r#"action="/api/confirm_flag_change""#;
    let form = r#"action="/api/create_migration""#;
    for (user, roles, label) in [
        ("a_viewer", [Role::Viewer], "Viewer"),
        ("an_admin", [Role::Admin], "Admin"),
    ] {
        app.sign_in_as(user, &roles).await;
        let portfolio = app.get("/").await.text().await.unwrap();
        assert!(portfolio.contains("gitaly_find_commit_v2"), "{portfolio}");
        assert!(!portfolio.contains(r#"href="/migrations/new""#), "{user}");
        let page = app.get(detail).await.text().await.unwrap();
        assert!(page.contains("gitaly_find_commit_v2"), "{page}");
        assert!(!page.contains(r#"/edit""#), "{user}: {page}");
        for action in ["pause_migration", "record_check_in", "decide"] {
            let form = format!(r#"action="/api/{action}""#);
            assert!(!page.contains(&form), "{user}, {action}: {page}");
        }
        // A flag change waiting for a person to run it: its command shows, its "Done" does not.
        let waiting = app.get(waiting_change).await.text().await.unwrap();
        assert!(
            waiting.contains("Run it in the channel, then confirm here."),
            "{waiting}"
        );
        assert!(!waiting.contains(confirm), "{user}: {waiting}");
        let new = app.get("/migrations/new").await.text().await.unwrap();
        assert!(!new.contains(form), "{user}: {new}");
        let told = format!(
            "Adding a migration takes the Engineer or Release manager role; you have {label}."
        );
        assert!(new.contains(&told), "{user}: {new}");
    }
    app.sign_in_as("an_engineer", &[Role::Engineer]).await;
    let portfolio = app.get("/").await.text().await.unwrap();
    assert!(
        portfolio.contains(r#"href="/migrations/new""#),
        "{portfolio}"
    );
    let page = app.get(detail).await.text().await.unwrap();
    assert!(
        page.contains(r#"href="/migrations/gitaly_find_commit_v2/edit""#),
        "{page}"
    );
    for action in ["pause_migration", "record_check_in", "decide"] {
        let form = format!(r#"action="/api/{action}""#);
        assert!(page.contains(&form), "{action}: {page}");
    }
    let waiting = app.get(waiting_change).await.text().await.unwrap();
    assert!(waiting.contains(confirm), "{waiting}");
    let new = app.get("/migrations/new").await.text().await.unwrap();
    assert!(new.contains(form), "{new}");
    assert!(!new.contains("Adding a migration takes"), "{new}");
}

#[tokio::test]
async fn an_unknown_url_renders_the_not_found_page_with_status_404() {
    let app = spawn_app().await;
    let response = app.get("/nope").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
}

#[tokio::test]
async fn the_hydration_script_carries_the_nonce_of_the_policy() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_string();
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
        "{html}"
    );
    assert!(!policy.contains("unsafe-inline"));

    // A fresh nonce for every response.
    let again = app.get("/").await.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(again, policy);
}

#[tokio::test]
async fn pages_are_compressed_for_browsers_that_accept_it() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    let response = app
        .client
        .get(format!("{}/", app.address))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let vary: Vec<_> = response.headers().get_all("vary").iter().collect();
    assert_eq!(vary, ["accept-encoding"]);
    // The portfolio's table is compressed apart from the page around it: one stream all the same.
    let body = response.bytes().await.unwrap();
    let mut page = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut page)
        .expect("one whole gzip stream");
    assert!(page.contains("12 in flight"), "{page}");
    assert!(page.contains("gitaly_find_commit_v2"), "{page}");
    assert!(page.contains("</html>"), "{page}");
    assert!(!page.contains("rampart:shared-html"), "{page}");
}

#[tokio::test]
async fn the_list_server_function_answers_json() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    let response = app.call(&app.client, "list_migrations").await;
    assert_eq!(response.status(), StatusCode::OK);
    let portfolio: serde_json::Value = response.json().await.unwrap();
    let rows = portfolio["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().any(|row| row["flag"] == "gitaly_find_commit_v2"
        && row["grpc_service"] == "CommitService"
        && row["grpc_method"] == "FindCommit"));
    // The replica's own count of its readings is not for anyone else.
    assert!(portfolio.get("reading").is_none(), "{portfolio}");
}

#[tokio::test]
async fn a_database_failure_shows_a_safe_message_with_status_503() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    app.drop_database().await;

    // The session cannot be read without the database: the request stops there, safely.
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Rampart cannot reach its database right now; try again in a moment."),
        "{html}"
    );
    // Nothing of the cause reaches the browser.
    assert!(!html.contains(&app.database), "{html}");
    assert!(!html.to_lowercase().contains("sqlx"), "{html}");
    assert!(!html.contains("does not exist"), "{html}");
}

#[tokio::test]
async fn a_failed_load_shows_a_safe_message_with_status_500() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    // The session still reads; the migrations do not.
    sqlx::query("DROP TABLE migrations CASCADE")
        .execute(&app.pool)
        .await
        .unwrap();

    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let html = response.text().await.unwrap();
    assert!(html.contains("Could not load this."), "{html}");
    assert!(
        html.contains("Something went wrong on our side; it has been logged."),
        "{html}"
    );
    assert!(!html.contains("does not exist"), "{html}");
    assert!(!html.to_lowercase().contains("sqlx"), "{html}");
}

#[tokio::test]
async fn a_migration_page_reads_without_javascript_and_an_unknown_one_is_404() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("vicky", &[Role::Viewer]).await;
    let response = app.get("/migrations/gitaly_find_commit_v2").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    for expected in [
        "Stage timeline",
        "Low impact 5 %",
        "Grafana feature status dashboard checked",
        "Acceptance issue #",
        "/chatops run feature set gitaly_find_commit_v2 50",
    ] {
        assert!(html.contains(expected), "{expected} in {html}");
    }

    let missing = app.get("/migrations/gitaly_no_such_flag").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("Migration gitaly_no_such_flag was not found.")
    );
}

#[tokio::test]
async fn the_history_and_audit_pages_read_without_javascript() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("mo", &[Role::Manager]).await;
    let history = app
        .get("/history?sort=lead_time")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        history.contains("gitaly_commit_is_ancestor_graph"),
        "{history}"
    );
    assert!(history.contains("Lead time, first production percentage to 100 %"));
    let audit = app
        .get("/audit?migration=gitaly_find_branch_v2&action=migration.completed")
        .await
        .text()
        .await
        .unwrap();
    assert!(audit.contains("completed the migration"), "{audit}");
    assert!(
        !audit.contains("gitaly_raw_blame_incremental"),
        "only the one migration"
    );
}
