//! Signing in and out, sessions, and who may call what: over HTTP, as a browser does it.

use crate::helpers::{PASSWORD, Spawn, client, session_cookie, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use rollout::Role;

async fn failures(app: &crate::helpers::TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sign_in_failures")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_browser_asking_for_a_page_anonymously_is_sent_to_sign_in_and_back() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/?filter=x", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/sign-in?next=/%3Ffilter%3Dx"
    );
    let page = app
        .client
        .get(format!("{}/sign-in?next=/", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in to Rampart"), "{html}");
    // Not the demo: no note about demo users.
    assert!(!html.contains("This is a demo"));
}

#[tokio::test]
async fn server_functions_answer_anonymous_callers_with_401() {
    let app = spawn_app().await;
    let response = app.call(&app.client, "list_migrations").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("Unauthorized"));
}

#[tokio::test]
async fn signing_in_sets_a_strict_session_cookie_and_lets_the_user_in() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    let response = app.sign_in_with(&app.client, "Erin", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The page's script follows this to the destination.
    assert_eq!(response.headers()["location"], "/");
    let cookie = session_cookie(&response).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "served over http here: {cookie}"
    );

    let listed = app.call(&app.client, "list_migrations").await;
    assert_eq!(listed.status(), StatusCode::OK);
    let info: serde_json::Value = app
        .call(&app.client, "get_session_info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["user"]["username"], "erin");
    assert_eq!(info["user"]["roles"], serde_json::json!(["engineer"]));
    assert!(
        info["user"].get("password_hash").is_none(),
        "no hash reaches the browser: {info}"
    );

    // Signing out ends the session: the same cookie no longer works.
    let out = app.call(&app.client, "sign_out").await;
    assert!(out.status().is_success() || out.status().is_redirection());
    let after = app.call(&app.client, "list_migrations").await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    let first =
        session_cookie(&app.sign_in_with(&app.client, "erin", PASSWORD).await).expect("a cookie");
    let second =
        session_cookie(&app.sign_in_with(&app.client, "erin", PASSWORD).await).expect("a cookie");
    assert_ne!(first, second, "a new id at every sign-in");
    // The old id is worthless: a client presenting it is anonymous.
    let old_id = first.split(';').next().unwrap().to_owned();
    let stale = client()
        .post(format!("{}/api/list_migrations", app.address))
        .header("cookie", old_id)
        .header("origin", &app.address)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_names_and_wrong_passwords_get_the_same_answer() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    let wrong_password = app
        .sign_in_with(&client(), "erin", "not the password")
        .await;
    let unknown_user = app
        .sign_in_with(&client(), "nobody", "not the password")
        .await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_user.status(), StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&wrong_password).is_none());
    let (a, b) = (
        wrong_password.text().await.unwrap(),
        unknown_user.text().await.unwrap(),
    );
    assert_eq!(a, b, "no account enumeration");
    assert!(a.contains("WrongCredentials"), "{a}");
}

#[tokio::test]
async fn repeated_failures_are_limited_per_account_and_per_address() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    for _ in 0..5 {
        let response = app.sign_in_with(&client(), "erin", "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now.
    let limited = app.sign_in_with(&client(), "erin", PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let message = limited.text().await.unwrap();
    assert!(
        message.contains("Too many failed sign-ins. Try again in 15 min."),
        "{message}"
    );
    // An unknown account is limited the same way.
    for _ in 0..5 {
        app.sign_in_with(&client(), "ghost", "guess").await;
    }
    let ghost = app.sign_in_with(&client(), "ghost", "guess").await;
    assert_eq!(ghost.status(), StatusCode::TOO_MANY_REQUESTS);

    // Per address: twenty failures over many names stop this address.
    for n in 0..10 {
        app.sign_in_with(&client(), &format!("someone{n}"), "guess")
            .await;
    }
    app.add_user("rita", &[Role::ReleaseManager]).await;
    let other_account = app.sign_in_with(&client(), "rita", PASSWORD).await;
    assert_eq!(other_account.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn overlong_input_is_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let long_password = "x".repeat(257);
    let response = app.sign_in_with(&client(), "erin", &long_password).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("longer than 256"));
    let long_name = "e".repeat(65);
    let response = app.sign_in_with(&client(), &long_name, "pw").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        failures(&app).await,
        0,
        "no failure recorded for refused input"
    );
}

#[tokio::test]
async fn a_tampered_or_unknown_session_cookie_is_anonymous() {
    let app = spawn_app().await;
    for cookie in [
        "rampart_session=AAAAAAAAAAAAAAAAAAAAAA",
        "rampart_session=not-base64!",
        "rampart_session=",
    ] {
        let response = client()
            .post(format!("{}/api/list_migrations", app.address))
            .header("cookie", cookie)
            .header("origin", &app.address)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{cookie}");
    }
}

#[tokio::test]
async fn a_deactivated_users_sessions_stop_at_once() {
    let app = spawn_app().await;
    app.sign_in_as("erin", &[Role::Engineer]).await;
    assert_eq!(
        app.call(&app.client, "list_migrations").await.status(),
        StatusCode::OK
    );
    sqlx::query("UPDATE users SET active = false, deactivated_at = now() WHERE username = 'erin'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.call(&app.client, "list_migrations").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // And a deactivated user cannot sign in again.
    let again = app.sign_in_with(&client(), "erin", PASSWORD).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cross_site_request_riding_on_the_cookie_is_refused() {
    let app = spawn_app().await;
    app.sign_in_as("erin", &[Role::Engineer]).await;
    for origin in ["https://evil.example", "null"] {
        let forged = app
            .client
            .post(format!("{}/api/sign_out", app.address))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{origin}");
    }
    // Without Origin or Referer, a request carrying the cookie is refused too.
    let bare = app
        .client
        .post(format!("{}/api/sign_out", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    // Still signed in: none of them got through.
    assert_eq!(
        app.call(&app.client, "list_migrations").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_audit_log_cannot_be_rewritten() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    let (actor, action, after): (String, String, serde_json::Value) =
        sqlx::query_as("SELECT actor, action, after FROM audit_log")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (actor.as_str(), action.as_str()),
        ("[test]", "user.created")
    );
    assert_eq!(after["roles"], serde_json::json!(["engineer"]));
    assert!(!after.to_string().contains("argon2"), "no hash in the log");
    for statement in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let error = sqlx::query(statement)
            .execute(&app.pool)
            .await
            .expect_err(statement);
        assert!(error.to_string().contains("append-only"), "{error}");
    }
}

#[tokio::test]
async fn the_demo_has_a_user_for_every_role_and_says_so_on_the_sign_in_page() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    let roles: Vec<(String, Vec<String>)> =
        sqlx::query_as("SELECT username, roles FROM users ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let names: Vec<&str> = roles.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["vera", "erin", "rita", "rob", "mona", "adam"]);
    let mut all: Vec<&str> = roles
        .iter()
        .flat_map(|(_, roles)| roles.iter().map(String::as_str))
        .collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all,
        ["admin", "engineer", "manager", "release_manager", "viewer"]
    );
    let html = app.get("/sign-in").await.text().await.unwrap();
    assert!(html.contains("This is a demo."), "{html}");
    assert!(!html.contains(PASSWORD), "the page never shows a password");
    let response = app.sign_in_with(&client(), "rita", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_is_limited_like_a_sequence() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    let guesses = (0..12).map(|n| {
        let app = &app;
        async move {
            app.sign_in_with(&client(), "erin", &format!("guess {n}"))
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((wrong, limited), (5, 7), "{statuses:?}");
}

#[tokio::test]
async fn a_cross_site_sign_in_is_refused_even_without_a_cookie() {
    let app = spawn_app().await;
    app.add_user("mallory", &[Role::Viewer]).await;
    // Another site's page posting its own account into the victim's browser (login CSRF).
    for origin in ["https://evil.example", "null"] {
        let forged = client()
            .post(format!("{}/api/sign_in", app.address))
            .header("origin", origin)
            .header("accept", "application/json")
            .form(&[
                ("username", "mallory"),
                ("password", PASSWORD),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{origin}");
        assert!(session_cookie(&forged).is_none());
    }
    // Rampart's own origin, as RAMPART_PUBLIC_URL names it, is fine.
    assert_eq!(
        app.sign_in_with(&client(), "mallory", PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_session_in_use_lasts_its_idle_time_after_the_last_request() {
    let app = spawn_app().await;
    app.sign_in_as("erin", &[Role::Engineer]).await;
    // As if the last refresh were long ago and the session about to end.
    sqlx::query(
        "UPDATE sessions SET expires_at = now() + interval '30 seconds',
                data = jsonb_set(data, '{refreshed_at}', '0')",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        app.call(&app.client, "list_migrations").await.status(),
        StatusCode::OK
    );
    let left: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    // The default idle time is 8 h: pushed back to about that.
    assert!(left > 7.9 * 3600.0, "{left} s left");
}

#[tokio::test]
async fn the_session_table_holds_no_cookie_value() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    let response = app.sign_in_with(&app.client, "erin", PASSWORD).await;
    let cookie = session_cookie(&response).unwrap();
    let id = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, id)| id.to_owned())
        .unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], id);
    assert_eq!(stored[0].len(), 64, "a SHA-256 in hex");
}

#[tokio::test]
async fn health_and_metrics_never_read_the_session() {
    let app = spawn_app().await;
    app.add_user("erin", &[Role::Engineer]).await;
    let signed_in = app.sign_in_with(&app.client, "erin", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    // Without the sessions table, whatever reads the session fails…
    sqlx::query("DROP TABLE sessions")
        .execute(&app.pool)
        .await
        .unwrap();
    let page = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_server_error(), "{}", page.status());
    // …but these, asked with the same session cookie, never touch it.
    for path in ["/healthz", "/metrics"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}
