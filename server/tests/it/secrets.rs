//! Secrets never reach the browser: every page and every server function's answer, to an admin and
//! to a viewer, is searched for the secrets Rampart holds — password hashes, other sessions' ids,
//! API tokens and their hashes, the OpenID client's secret.

use crate::helpers::{PASSWORD, Spawn, TestApp, client, session_cookie, spawn_app_with};
use reqwest::StatusCode;
use rollout::Role;

/// A response's headers as text, but for `Set-Cookie`: each browser's own session id comes back
/// there, and only there.
fn headers_but_cookies(response: &reqwest::Response) -> String {
    response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "set-cookie")
        .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a browser signed in as `username` gets from every page and every server function.
async fn everything_seen_by(app: &TestApp, username: &str) -> Vec<String> {
    let http = client();
    let response = app.sign_in_with(&http, username, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut seen = Vec::new();
    for page in ["/", "/sign-in", "/users", "/profile", "/nope"] {
        let response = http
            .get(format!("{}{page}", app.address))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        seen.push(headers_but_cookies(&response));
        seen.push(response.text().await.unwrap());
    }
    for (path, _) in leptos::server_fn::axum::server_fn_paths() {
        let endpoint = path.trim_start_matches("/api/");
        if endpoint == "sign_out" {
            continue;
        }
        let args: &[(&str, &str)] = match endpoint {
            "create_token" => &[("name", "seen")],
            "revoke_token" => &[("id", "1")],
            "sign_in" => &[
                ("username", username),
                ("password", PASSWORD),
                ("next", "/"),
            ],
            _ => &[],
        };
        let response = app.call_with(&http, endpoint, args).await;
        seen.push(headers_but_cookies(&response));
        seen.push(response.text().await.unwrap());
    }
    seen
}

#[tokio::test]
async fn no_page_or_server_function_shows_a_secret() {
    let app = spawn_app_with(Spawn {
        sso: true,
        ..Spawn::default()
    })
    .await;
    app.add_user("adam", &[Role::Admin]).await;
    app.add_user("vera", &[Role::Viewer]).await;
    // Other people's sessions and tokens exist while the pages are read.
    let other = client();
    app.add_user("erin", &[Role::Engineer]).await;
    let erins_cookie = session_cookie(&app.sign_in_with(&other, "erin", PASSWORD).await)
        .expect("erin's session cookie");
    // The id itself, as her browser holds it (the table keeps only its hash).
    let erins_session = erins_cookie["rampart_session=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let erins: serde_json::Value = app
        .call_with(&other, "create_token", &[("name", "erin's")])
        .await
        .json()
        .await
        .unwrap();
    let erins_token = erins["token"].as_str().unwrap().to_owned();

    let mut seen = everything_seen_by(&app, "adam").await;
    seen.extend(everything_seen_by(&app, "vera").await);
    let seen = seen.join("\n");

    let mut secrets: Vec<String> = vec![
        "rampart-test-secret".to_owned(),
        PASSWORD.to_owned(),
        erins_token,
        erins_session,
    ];
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE password_hash IS NOT NULL")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(hashes.len(), 3);
    secrets.extend(hashes);
    // Every session's stored key too: each browser's own id comes back only in its Set-Cookie,
    // which the search leaves out, so none may appear.
    let sessions: Vec<String> = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(sessions.len() >= 3);
    let token_hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_sha256 FROM api_tokens")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    secrets.extend(
        token_hashes
            .iter()
            .map(|h| h.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    );

    for secret in secrets.iter().chain(&sessions) {
        assert!(
            !seen.contains(secret.as_str()),
            "a secret reached the browser: {}…",
            &secret[..secret.len().min(12)]
        );
    }
    assert!(!seen.contains("$argon2id$"), "no password hash of any kind");
    assert!(
        seen.contains("adam") && seen.contains("In-flight migrations"),
        "the pages were read"
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_behind_https() {
    let app = spawn_app_with(Spawn {
        public_url: Some("https://rampart.example.com".to_owned()),
        ..Spawn::default()
    })
    .await;
    app.add_user("erin", &[Role::Engineer]).await;
    // The test talks plain http to the server behind the (imagined) proxy.
    let response = app.sign_in_with(&client(), "erin", PASSWORD).await;
    let cookie = session_cookie(&response).expect("a session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
}
