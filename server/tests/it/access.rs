//! Who may call what. The authorization matrix: every server function the app registers — read
//! from the registry itself, so a new one cannot be forgotten — called by an anonymous caller and
//! by a user of each role, against the table below. Then the users page's rules.

use std::collections::BTreeSet;

use crate::helpers::{PASSWORD, TestApp, client, spawn_app};
use reqwest::StatusCode;
use rollout::{ActionKind, Permission, Role, Roles};

/// Who may call a server function.
#[derive(Clone, Copy, Debug)]
enum Allowed {
    Anyone,
    With(Permission),
}

/// A server function's name, form arguments that pass its parsing, and who may call it.
type Row = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Allowed,
);

/// Every server function.
const MATRIX: &[Row] = &[
    ("get_session_info", &[], Allowed::Anyone),
    (
        "sign_in",
        &[("username", "nobody"), ("password", "wrong"), ("next", "/")],
        Allowed::Anyone,
    ),
    ("sign_out", &[], Allowed::Anyone),
    ("list_migrations", &[], Allowed::With(Permission::Read)),
    ("get_history", &[], Allowed::With(Permission::Export)),
    (
        "search_audit",
        &[("filter[migration]", "")],
        Allowed::With(Permission::Read),
    ),
    (
        "get_migration",
        &[("flag", "gitaly_nothing")],
        Allowed::With(Permission::Read),
    ),
    (
        "error_rate_sparklines",
        &[],
        Allowed::With(Permission::Read),
    ),
    (
        "set_guardrail_mode",
        &[("flag", "gitaly_nothing"), ("observe_only", "true")],
        Allowed::With(Permission::Act(ActionKind::OverrideSoak)),
    ),
    (
        "migration_panels",
        &[("flag", "gitaly_nothing"), ("window", "Hour")],
        Allowed::With(Permission::Read),
    ),
    (
        "record_check_in",
        &[("flag", "gitaly_nothing"), ("item", "grafana_checked")],
        Allowed::With(Permission::Act(ActionKind::CheckIn)),
    ),
    (
        "decide",
        &[
            ("flag", "gitaly_nothing"),
            ("version", "1"),
            ("decision", "continue"),
        ],
        Allowed::With(Permission::Act(ActionKind::CheckIn)),
    ),
    (
        "start_migration",
        &[("flag", "gitaly_nothing"), ("version", "1")],
        Allowed::With(Permission::Act(ActionKind::Start)),
    ),
    (
        "advance_stage",
        &[("flag", "gitaly_nothing"), ("version", "1")],
        Allowed::With(Permission::Act(ActionKind::Advance)),
    ),
    (
        "pause_migration",
        &[("flag", "gitaly_nothing"), ("version", "1")],
        Allowed::With(Permission::Act(ActionKind::Pause)),
    ),
    (
        "resume_migration",
        &[("flag", "gitaly_nothing"), ("version", "1")],
        Allowed::With(Permission::Act(ActionKind::Resume)),
    ),
    (
        "complete_migration",
        &[("flag", "gitaly_nothing"), ("version", "1")],
        Allowed::With(Permission::Act(ActionKind::Complete)),
    ),
    (
        "confirm_flag_change",
        &[("flag", "gitaly_nothing"), ("change", "1")],
        Allowed::With(Permission::Act(ActionKind::Advance)),
    ),
    (
        "request_production_change",
        &[
            ("flag", "gitaly_nothing"),
            ("version", "1"),
            ("reason", "quiet"),
        ],
        Allowed::With(Permission::Act(ActionKind::RequestProductionChange)),
    ),
    (
        "approve_production_change",
        &[
            ("flag", "gitaly_nothing"),
            ("version", "1"),
            ("typed_flag", "gitaly_nothing"),
        ],
        Allowed::With(Permission::Act(ActionKind::Approve)),
    ),
    (
        "reject_production_change",
        &[
            ("flag", "gitaly_nothing"),
            ("version", "1"),
            ("reason", "no"),
        ],
        Allowed::With(Permission::Act(ActionKind::Reject)),
    ),
    (
        "override_soak",
        &[
            ("flag", "gitaly_nothing"),
            ("version", "1"),
            ("reason", "seen"),
        ],
        Allowed::With(Permission::Act(ActionKind::OverrideSoak)),
    ),
    (
        "kill_switch",
        &[("flag", "gitaly_nothing"), ("reason", "errors")],
        Allowed::With(Permission::Act(ActionKind::Disable)),
    ),
    (
        "review_kill",
        &[("flag", "gitaly_nothing"), ("kill", "1"), ("note", "fine")],
        Allowed::With(Permission::Act(ActionKind::OverrideSoak)),
    ),
    (
        "retry_flag_change",
        &[("flag", "gitaly_nothing"), ("change", "1")],
        Allowed::With(Permission::Act(ActionKind::Advance)),
    ),
    (
        "create_migration",
        &[
            ("form[feature_flag]", "bad flag"),
            ("form[grpc_method]", ""),
            ("form[gitaly_version]", ""),
            ("form[gitlab_version]", ""),
            ("form[routes]", ""),
            ("form[acceptance_issue]", ""),
            ("form[conversation]", ""),
            ("form[owner]", ""),
            ("form[production_steps]", ""),
        ],
        Allowed::With(Permission::EditMigrations),
    ),
    (
        "get_migration_form",
        &[("flag", "gitaly_nothing")],
        Allowed::With(Permission::EditMigrations),
    ),
    (
        "update_migration",
        &[
            ("flag", "gitaly_nothing"),
            ("version", "1"),
            ("form[grpc_method]", ""),
            ("form[gitaly_version]", ""),
            ("form[gitlab_version]", ""),
            ("form[routes]", ""),
            ("form[acceptance_issue]", ""),
            ("form[conversation]", ""),
            ("form[owner]", ""),
            ("form[production_steps]", ""),
        ],
        Allowed::With(Permission::EditMigrations),
    ),
    ("get_change_lock", &[], Allowed::With(Permission::Read)),
    (
        "declare_change_lock",
        &[("reason", "matrix"), ("hours", "1")],
        Allowed::With(Permission::Administer),
    ),
    (
        "lift_change_lock",
        &[],
        Allowed::With(Permission::Administer),
    ),
    ("list_tokens", &[], Allowed::With(Permission::Read)),
    (
        "create_token",
        &[("name", "matrix")],
        Allowed::With(Permission::Read),
    ),
    (
        "revoke_token",
        &[("id", "999999")],
        Allowed::With(Permission::Read),
    ),
    ("list_users", &[], Allowed::With(Permission::Administer)),
    (
        "create_user",
        &[
            ("username", "made_in_matrix"),
            ("display_name", "Made"),
            ("viewer", "on"),
        ],
        Allowed::With(Permission::Administer),
    ),
    (
        "set_user_roles",
        &[("username", "target"), ("engineer", "on")],
        Allowed::With(Permission::Administer),
    ),
    (
        "deactivate_user",
        &[("username", "target")],
        Allowed::With(Permission::Administer),
    ),
];

/// Calls `endpoint` as the app's script does, and says whether the answer was a refusal: the
/// error body `"Unauthorized"` (401) or `"Forbidden"` (403). Any other answer — data, a validation
/// error, a conflict — got past the check.
async fn refused(
    app: &TestApp,
    http: &reqwest::Client,
    endpoint: &str,
    args: &[(&str, &str)],
) -> Option<StatusCode> {
    let response = app.call_with(http, endpoint, args).await;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match body.trim() {
        r#""Unauthorized""# => Some(StatusCode::UNAUTHORIZED).filter(|_| status == 401),
        r#""Forbidden""# => Some(StatusCode::FORBIDDEN).filter(|_| status == 403),
        _ => None,
    }
}

async fn signed_in(app: &TestApp, username: &str) -> reqwest::Client {
    let http = client();
    let response = app.sign_in_with(&http, username, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "{username} signs in");
    http
}

#[tokio::test]
async fn every_server_function_answers_exactly_the_roles_allowed() {
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/api/").to_owned())
        .collect();
    let listed: BTreeSet<String> = MATRIX.iter().map(|(name, ..)| (*name).to_owned()).collect();
    assert_eq!(
        registered, listed,
        "every registered server function needs a row in MATRIX, and every row a function"
    );

    let app = spawn_app().await;
    for role in Role::all() {
        app.add_user(role.as_str(), &[role]).await;
    }
    app.add_user("target", &[Role::Viewer]).await;

    for (endpoint, args, allowed) in MATRIX {
        // Anonymous.
        let expected = match allowed {
            Allowed::Anyone => None,
            Allowed::With(_) => Some(StatusCode::UNAUTHORIZED),
        };
        assert_eq!(
            refused(&app, &client(), endpoint, args).await,
            expected,
            "anonymous {endpoint}"
        );
        // Each role, in a session of its own (sign_out ends one).
        for role in Role::all() {
            let http = signed_in(&app, role.as_str()).await;
            let expected = match allowed {
                Allowed::Anyone => None,
                Allowed::With(permission) if Roles::from(role).allows(*permission) => None,
                Allowed::With(_) => Some(StatusCode::FORBIDDEN),
            };
            assert_eq!(
                refused(&app, &http, endpoint, args).await,
                expected,
                "{role:?} calling {endpoint}"
            );
        }
    }
}

#[tokio::test]
async fn an_admin_adds_a_user_who_then_signs_in_with_the_password_shown_once() {
    let app = spawn_app().await;
    app.add_user("adam", &[Role::Admin]).await;
    let admin = signed_in(&app, "adam").await;
    let created: serde_json::Value = app
        .call_with(
            &admin,
            "create_user",
            &[
                ("username", "Erin"),
                ("display_name", "Erin E."),
                ("engineer", "on"),
                ("manager", "on"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let password = created["password"].as_str().expect("a password").to_owned();
    assert!(password.len() >= 12);
    let erin = client();
    assert_eq!(
        app.sign_in_with(&erin, "erin", &password).await.status(),
        StatusCode::OK
    );
    let info: serde_json::Value = app
        .call(&erin, "get_session_info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["user"]["roles"],
        serde_json::json!(["engineer", "manager"])
    );

    // Listed, never with a hash; the audit log names the admin.
    let list = app.call(&admin, "list_users").await.text().await.unwrap();
    assert!(list.contains("\"Erin\""), "{list}");
    assert!(!list.contains("argon2") && !list.contains(&password));
    let (actor, action): (String, String) =
        sqlx::query_as("SELECT actor, action FROM audit_log WHERE subject = 'user:Erin'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((actor.as_str(), action.as_str()), ("adam", "user.created"));

    // The same name in another case is taken; bad input is named.
    for (args, words) in [
        (
            vec![
                ("username", "ERIN"),
                ("display_name", "x"),
                ("viewer", "on"),
            ],
            "already exists",
        ),
        (
            vec![
                ("username", "no spaces"),
                ("display_name", "x"),
                ("viewer", "on"),
            ],
            "username",
        ),
        (
            vec![("username", "noroles"), ("display_name", "x")],
            "at least one role",
        ),
        (
            vec![
                ("username", "noname"),
                ("display_name", " "),
                ("viewer", "on"),
            ],
            "display_name",
        ),
    ] {
        let response = app.call_with(&admin, "create_user", &args).await;
        assert!(response.status().is_client_error(), "{args:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(words), "{args:?}: {body}");
    }
}

async fn post(
    app: &TestApp,
    http: &reqwest::Client,
    endpoint: &str,
    args: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = app.call_with(http, endpoint, args).await;
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn roles_change_at_once_and_the_last_admin_stays() {
    let app = spawn_app().await;
    app.add_user("adam", &[Role::Admin]).await;
    app.add_user("erin", &[Role::Viewer]).await;
    let admin = signed_in(&app, "adam").await;
    let erin = signed_in(&app, "erin").await;

    let (status, _) = post(
        &app,
        &admin,
        "set_user_roles",
        &[("username", "erin"), ("engineer", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Erin's session sees the new role on her next request.
    let info: serde_json::Value = app
        .call(&erin, "get_session_info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["user"]["roles"], serde_json::json!(["engineer"]));
    let (before, after): (serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT before, after FROM audit_log WHERE action = 'user.roles_changed'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (before["roles"].clone(), after["roles"].clone()),
        (
            serde_json::json!(["viewer"]),
            serde_json::json!(["engineer"])
        )
    );

    // The only admin cannot lose the role, nor deactivate themselves.
    let (status, body) = post(
        &app,
        &admin,
        "set_user_roles",
        &[("username", "adam"), ("viewer", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("at least one active admin"), "{body}");
    let (status, body) = post(&app, &admin, "deactivate_user", &[("username", "adam")]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("your own account"), "{body}");
    let (status, _) = post(
        &app,
        &admin,
        "set_user_roles",
        &[("username", "nobody"), ("viewer", "on")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_deactivated_user_is_signed_out_everywhere_and_cannot_sign_in() {
    let app = spawn_app().await;
    app.add_user("adam", &[Role::Admin]).await;
    app.add_user("erin", &[Role::Engineer]).await;
    let admin = signed_in(&app, "adam").await;
    let laptop = signed_in(&app, "erin").await;
    let phone = signed_in(&app, "erin").await;
    let sessions = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'erin'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(sessions(app.pool.clone()).await, 2);

    let (status, _) = post(&app, &admin, "deactivate_user", &[("username", "erin")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sessions(app.pool.clone()).await, 0, "her sessions are gone");
    for http in [&laptop, &phone] {
        assert_eq!(
            app.call(http, "list_migrations").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.sign_in_with(&client(), "erin", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let list: serde_json::Value = app.call(&admin, "list_users").await.json().await.unwrap();
    let erin = list["users"]
        .as_array()
        .expect("the users")
        .iter()
        .find(|u| u["username"] == "erin")
        .expect("listed");
    assert_eq!(erin["active"], false);
}

fn bearer(app: &TestApp, token: &str) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/api/list_migrations", app.address))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json")
}

#[tokio::test]
async fn api_tokens_act_for_their_user_until_revoked() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    app.add_user("adam", &[Role::Admin]).await;
    let erin = signed_in(&app, "erin").await;
    let created: serde_json::Value = app
        .call_with(&erin, "create_token", &[("name", "CI pipeline")])
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("rpt_"), "{token}");

    // A script: the token, no cookie, no Origin.
    let response = bearer(&app, &token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let listed = app.call(&erin, "list_tokens").await.text().await.unwrap();
    assert!(
        listed.contains("CI pipeline") && listed.contains(&token[..12]),
        "{listed}"
    );
    assert!(
        !listed.contains(&token),
        "the token itself is never shown again"
    );
    assert!(
        listed.contains("last_used_at\":\"20"),
        "last use recorded: {listed}"
    );
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_sha256 FROM api_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32, "only a hash is kept");

    // Malformed, unknown: refused with 401, and nothing is answered as anonymous instead.
    for bad in [
        "Bearer",
        "Bearer rpt_short",
        "Basic dXNlcjpwYXNz",
        "Bearer rpt_0000000000000000000000000000000000000000",
        "Bearer rpt_00000000000000000000000000000000000000\u{e9}",
    ] {
        let response = client()
            .post(format!("{}/api/get_session_info", app.address))
            .header("authorization", bad)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
    }

    // Revoked: refused from then on.
    let id = serde_json::from_str::<serde_json::Value>(&listed).unwrap()[0]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let (status, _) = post(&app, &erin, "revoke_token", &[("id", &id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        bearer(&app, &token).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Someone else's token cannot be revoked by id: a live one, still working afterwards.
    let live: serde_json::Value = app
        .call_with(&erin, "create_token", &[("name", "live")])
        .await
        .json()
        .await
        .unwrap();
    let live = live["token"].as_str().unwrap().to_owned();
    let live_id: i64 = sqlx::query_scalar("SELECT max(id) FROM api_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let adam = signed_in(&app, "adam").await;
    let (status, _) = post(&app, &adam, "revoke_token", &[("id", &live_id.to_string())]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        bearer(&app, &live).send().await.unwrap().status(),
        StatusCode::OK
    );

    // A token cannot make more tokens: a leaked one would outlive its revocation through them.
    let minted = client()
        .post(format!("{}/api/create_token", app.address))
        .header("authorization", format!("bearer {live}"))
        .header("accept", "application/json")
        .form(&[("name", "minted")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        minted.status(),
        StatusCode::FORBIDDEN,
        "(the scheme's case does not matter)"
    );

    // A deactivated user's tokens stop working too.
    let second: serde_json::Value = app
        .call_with(&erin, "create_token", &[("name", "second")])
        .await
        .json()
        .await
        .unwrap();
    let second = second["token"].as_str().unwrap().to_owned();
    assert_eq!(
        bearer(&app, &second).send().await.unwrap().status(),
        StatusCode::OK
    );
    post(&app, &adam, "deactivate_user", &[("username", "erin")]).await;
    assert_eq!(
        bearer(&app, &second).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'token.%' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        actions,
        [
            "token.created",
            "token.revoked",
            "token.created",
            "token.created"
        ]
    );
}
