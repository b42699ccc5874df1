//! Migrations through the server functions people's pages call: adding one, walking it through
//! development and staging with the manual flag backend, the domain's refusals, conflicting
//! edits, and what each change leaves in the audit log.

use reqwest::StatusCode;
use rollout::Role;
use serde_json::Value;

use crate::helpers::{Spawn, TestApp, spawn_app_with};

const FLAG: &str = "gitaly_find_commit_v2";

fn form(flag: &str, gitaly_version: &str) -> Vec<(String, String)> {
    [
        ("feature_flag", flag),
        ("grpc_method", "CommitService::FindCommit"),
        ("gitaly_version", gitaly_version),
        ("gitlab_version", "v16.3"),
        (
            "routes",
            "1. GET /api/v4/projects/:id/repository/commits/:sha",
        ),
        (
            "acceptance_issue",
            "https://gitlab.com/gitlab-org/gitaly/-/issues/4821",
        ),
        ("conversation", "#567"),
        ("owner", ""),
        ("production_steps", ""),
    ]
    .into_iter()
    .map(|(name, value)| (format!("form[{name}]"), value.to_owned()))
    .collect()
}

async fn call(app: &TestApp, endpoint: &str, args: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app.call_with(&app.client, endpoint, args).await;
    let status = response.status();
    let body = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// As [`call`], with owned `(name, value)` pairs such as [`form`] makes.
async fn call_fields(
    app: &TestApp,
    endpoint: &str,
    fields: &[(String, String)],
) -> (StatusCode, Value) {
    let args: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    call(app, endpoint, &args).await
}

async fn create(app: &TestApp, fields: &[(String, String)]) -> (StatusCode, Value) {
    call_fields(app, "create_migration", fields).await
}

async fn detail(app: &TestApp) -> Value {
    let (status, detail) = call(app, "get_migration", &[("flag", FLAG)]).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    detail
}

async fn version(app: &TestApp) -> String {
    detail(app).await["version"].to_string()
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT action FROM audit_log WHERE subject = $1 ORDER BY id")
        .bind(format!("migration:{FLAG}"))
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Ticks every unticked item of the current stage.
async fn tick_all(app: &TestApp) {
    let detail = detail(app).await;
    for row in detail["current"]["checklist"].as_array().unwrap() {
        if row["done"].is_null() {
            let item = row["item"].as_str().unwrap();
            let (status, body) =
                call(app, "record_check_in", &[("flag", FLAG), ("item", item)]).await;
            assert_eq!(status, StatusCode::OK, "{item}: {body}");
        }
    }
}

async fn advance(app: &TestApp, versions: Option<(&str, &str)>) -> (StatusCode, Value) {
    let version = version(app).await;
    let (gitaly, gitlab) = versions.unwrap_or(("", ""));
    call(
        app,
        "advance_stage",
        &[
            ("flag", FLAG),
            ("version", &version),
            ("gitaly_version", gitaly),
            ("gitlab_version", gitlab),
        ],
    )
    .await
}

async fn confirm_pending(app: &TestApp) {
    let detail = detail(app).await;
    for change in detail["pending_changes"].as_array().unwrap() {
        let id = change["id"].to_string();
        let (status, body) = call(
            app,
            "confirm_flag_change",
            &[("flag", FLAG), ("change", &id)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn start(app: &TestApp) {
    let v = version(app).await;
    let (status, body) = call(app, "start_migration", &[("flag", FLAG), ("version", &v)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Saves `fields` as an edit made on `version`; the flag names the migration and is not a field.
async fn update(
    app: &TestApp,
    mut fields: Vec<(String, String)>,
    version: String,
) -> (StatusCode, Value) {
    fields.retain(|(name, _)| name != "form[feature_flag]");
    fields.push(("flag".to_owned(), FLAG.to_owned()));
    fields.push(("version".to_owned(), version));
    let args: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    call(app, "update_migration", &args).await
}

async fn engineer_app() -> TestApp {
    let app = spawn_app_with(Spawn {
        test_clock: true,
        ..Spawn::default()
    })
    .await;
    app.sign_in_as("erin", &[Role::Engineer]).await;
    app
}

#[tokio::test]
async fn a_bad_form_names_every_bad_field_and_saves_nothing() {
    let app = engineer_app().await;
    let mut fields = form("Find Commit", "sixteen");
    fields.retain(|(name, _)| name != "form[conversation]");
    let (status, error) = create(&app, &fields).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let fields = &error["Validation"]["fields"];
    assert!(fields["feature_flag"].is_string(), "{error}");
    assert!(fields["gitaly_version"].is_string(), "{error}");
    assert!(
        fields["conversation"].is_string(),
        "a missing field is an empty one: {error}"
    );
    assert!(fields.get("grpc_method").is_none(), "{error}");
    let saved: i64 = sqlx::query_scalar("SELECT count(*) FROM migrations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(saved, 0);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE subject LIKE 'migration:%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, 0);

    let (status, _) = create(&app, &form(FLAG, "v16.3.2")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, again) = create(&app, &form(FLAG, "v16.3.2")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.to_string().contains("already exists"), "{again}");
}

#[tokio::test]
async fn a_migration_walks_through_development_and_staging_with_the_manual_flag_backend() {
    let app = engineer_app().await;
    assert_eq!(create(&app, &form(FLAG, "v16.3.2")).await.0, StatusCode::OK);
    start(&app).await;
    tick_all(&app).await;

    // Entering the development trial needs the versions deployed there; the manual backend
    // cannot tell them, so the person advancing must.
    let (status, refused) = advance(&app, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["Refused"]["code"], "deployed_versions_unknown");
    let (status, refused) = advance(&app, Some(("16.3.1", "16.3.0-ee"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused["Refused"]["code"], "versions_below_required",
        "{refused}"
    );
    let (status, body) = advance(&app, Some(("16.3.2", "16.3.0-ee"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The flag change waits for someone to run it; nothing advances past it meanwhile.
    let now = detail(&app).await;
    assert_eq!(now["current"]["name"], "Development trial");
    let pending = now["pending_changes"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["command"], format!("!feature-set {FLAG} true"));
    let (status, refused) = advance(&app, Some(("16.3.2", "16.3.0-ee"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["Refused"]["code"], "flag_change_pending");
    confirm_pending(&app).await;
    let issue = now["acceptance_issue_text"].as_str().unwrap();
    assert!(issue.starts_with("~Conversation: #567\n"), "{issue}");
    assert!(issue.contains(&format!("`{FLAG}`")), "{issue}");
    let flag_item = detail(&app).await["current"]["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["item"] == "flag_enabled")
        .cloned()
        .unwrap();
    assert_eq!(
        flag_item["done"]["by"], "erin",
        "confirming ticks “Flag enabled”"
    );

    // Development: one look and the decision, then staging.
    tick_all(&app).await;
    let v = version(&app).await;
    let (status, body) = call(
        &app,
        "decide",
        &[
            ("flag", FLAG),
            ("version", &v),
            ("decision", "continue"),
            ("reason", "quiet"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        advance(&app, Some(("16.3.2", "16.3.0-ee"))).await.0,
        StatusCode::OK
    );
    confirm_pending(&app).await;
    assert_eq!(detail(&app).await["current"]["name"], "Staging trial");

    // Staging soaks 15 minutes, watched every 5: too early, then after.
    tick_all(&app).await;
    let (status, refused) = advance(&app, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused["Refused"]["code"], "checklist_incomplete",
        "{refused}"
    );
    // The page lists every blocker at once, in the domain's words.
    let blockers = detail(&app).await["current"]["blockers"].clone();
    let soak = blockers
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["code"] == "soak_not_watched")
        .unwrap_or_else(|| panic!("{blockers}"));
    assert!(
        soak["message"].as_str().unwrap().contains("15 min left"),
        "{soak}"
    );
    for _ in 0..4 {
        app.advance_clock(4).await;
        let (status, _) = call(
            &app,
            "record_check_in",
            &[("flag", FLAG), ("item", "grafana_checked")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let v = version(&app).await;
    assert_eq!(
        call(
            &app,
            "decide",
            &[("flag", FLAG), ("version", &v), ("decision", "continue")]
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, body) = advance(&app, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let now = detail(&app).await;
    assert_eq!(now["current"]["name"], "Production version check");
    let staging = now["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "staging")
        .cloned()
        .unwrap();
    let visit = &staging["visits"][0];
    assert_eq!(visit["started_by"], "erin");
    assert_eq!(visit["ended_by"], "erin");

    let actions = audit_actions(&app).await;
    for expected in [
        "migration.created",
        "migration.started",
        "migration.checked_in",
        "migration.advanced",
        "migration.flag_change",
        "flag_change.applied",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} in {actions:?}"
        );
    }
    // Refusals change nothing, so they leave nothing in the log.
    let advances = actions
        .iter()
        .filter(|a| *a == "migration.advanced")
        .count();
    assert_eq!(advances, 3, "{actions:?}");
}

#[tokio::test]
async fn a_save_made_on_an_older_version_is_refused_with_who_changed_it() {
    let app = engineer_app().await;
    assert_eq!(create(&app, &form(FLAG, "v16.3.2")).await.0, StatusCode::OK);
    let seen = version(&app).await;
    let (status, body) = update(&app, form(FLAG, "v16.4.0"), seen.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, conflict) = update(&app, form(FLAG, "v16.5.0"), seen).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    let message = conflict["Conflict"]["message"].as_str().unwrap();
    assert!(message.contains("was changed by erin at"), "{message}");
    assert!(message.contains("reload"), "{message}");
    assert_eq!(
        detail(&app).await["gitaly_version"],
        "v16.4.0",
        "the first save stands"
    );

    // A stage action on a stale page is refused the same way.
    let (status, _) = call(&app, "start_migration", &[("flag", FLAG), ("version", "1")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn the_production_steps_can_change_while_the_migration_is_before_production() {
    let app = engineer_app().await;
    assert_eq!(create(&app, &form(FLAG, "v16.3.2")).await.0, StatusCode::OK);
    start(&app).await;
    let mut fields = form(FLAG, "v16.3.2");
    for (name, value) in &mut fields {
        if name == "form[production_steps]" {
            *value = "1, 10, 100".to_owned();
        }
    }
    let (status, body) = update(&app, fields, version(&app).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let steps: Vec<String> = detail(&app).await["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(steps.contains(&"production_10".to_owned()), "{steps:?}");
}
