//! Single sign-on against a real OpenID provider on loopback (the npm package oidc-provider,
//! started by `make test`; see end2end/oidc/provider.mjs). Its interaction signs in the account
//! named by `login_hint` at once, so the whole code flow runs over plain HTTP here.

use crate::helpers::{Spawn, TestApp, client, oidc_issuer, session_cookie, spawn_app_with};
use reqwest::StatusCode;
use secrecy::SecretString;
use server::auth::sso::{Sso, SsoConfig, SsoError, parse_group_roles};

async fn sso_app() -> TestApp {
    spawn_app_with(Spawn {
        sso: true,
        ..Spawn::default()
    })
    .await
}

/// Follows redirects through the provider until one leads to `stop_at` (not followed); returns
/// that URL.
async fn through_provider(http: &reqwest::Client, start: &str, stop_at: &str) -> String {
    let mut url = start.to_owned();
    for _ in 0..10 {
        let response = http.get(&url).send().await.expect("the provider answers");
        assert!(
            response.status().is_redirection(),
            "{url}: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let next = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", oidc_issuer())
        };
        if next.starts_with(stop_at) {
            return next;
        }
        url = next;
    }
    panic!("no way back to {stop_at}");
}

/// Signs `account` in through Rampart's single sign-on; the callback's response.
async fn sign_in_through_provider(
    app: &TestApp,
    http: &reqwest::Client,
    account: &str,
) -> reqwest::Response {
    let start = http
        .get(format!(
            "{}/auth/oidc/start?next=/users&login_hint={account}",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.starts_with(&oidc_issuer()), "{authorize}");
    for part in [
        "code_challenge=",
        "code_challenge_method=S256",
        "state=",
        "nonce=",
    ] {
        assert!(authorize.contains(part), "{part} in {authorize}");
    }
    let callback = through_provider(http, &authorize, &app.address).await;
    http.get(callback).send().await.unwrap()
}

#[tokio::test]
async fn a_first_sign_in_makes_the_account_with_the_roles_of_its_groups() {
    let app = sso_app().await;
    let http = client();
    let done = sign_in_through_provider(&app, &http, "alice").await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        done.text().await
    );
    assert_eq!(done.headers()["location"], "/users");
    let info: serde_json::Value = app
        .call(&http, "get_session_info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["user"]["username"], "alice");
    assert_eq!(info["user"]["display_name"], "Alice SSO");
    assert_eq!(
        info["user"]["roles"],
        serde_json::json!(["engineer", "release_manager"])
    );
    assert_eq!(info["sso"], "GitLab");

    // Again, from another browser: the same account, not a second one.
    let again = client();
    assert_eq!(
        sign_in_through_provider(&app, &again, "alice")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let (count, subject): (i64, String) =
        sqlx::query_as("SELECT count(*), max(oidc_subject) FROM users")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(count, 1);
    assert_eq!(subject, format!("{}|alice", oidc_issuer()));
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM audit_log WHERE action = 'user.created'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(actor, "[sso]");
}

#[tokio::test]
async fn someone_in_no_mapped_group_is_refused_and_nothing_is_written() {
    let app = sso_app().await;
    let done = sign_in_through_provider(&app, &client(), "carl").await;
    assert_eq!(done.status(), StatusCode::FORBIDDEN);
    let page = done.text().await.unwrap();
    assert!(page.contains("none of the groups Rampart admits"), "{page}");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn a_callback_that_was_not_started_here_is_refused() {
    let app = sso_app().await;
    let http = client();
    let forged = http
        .get(format!(
            "{}/auth/oidc/callback?code=abc&state=xyz",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(forged.text().await.unwrap().contains("not started here"));

    // Started here, but the state that comes back is not the one sent.
    let start = http
        .get(format!("{}/auth/oidc/start?login_hint=alice", app.address))
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = through_provider(&http, &authorize, &app.address).await;
    let tampered = callback.replace("state=", "state=x");
    assert_eq!(
        http.get(tampered).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(users, 0, "nothing written");
}

/// An `Sso` as another client of the same provider, whose callback is never visited.
fn client_sso(client_id: &str, secret: &str) -> Sso {
    Sso::new(SsoConfig {
        issuer: oidc_issuer(),
        client_id: client_id.to_owned(),
        client_secret: SecretString::from(secret.to_owned()),
        redirect_url: "http://127.0.0.1:9/callback".to_owned(),
        group_roles: parse_group_roles("gitlab-org/gitaly=engineer").unwrap(),
        name: "GitLab".to_owned(),
        scopes: vec!["profile".to_owned(), "groups".to_owned()],
    })
    .unwrap()
}

/// A real ID token for `sso`'s client, and its nonce.
async fn id_token_for(sso: &Sso) -> (String, String) {
    let http = client();
    let (authorize, pending) = sso.start("/", Some("bob")).await.unwrap();
    let callback = through_provider(&http, &authorize, "http://127.0.0.1:9/").await;
    let query = url_query(&callback);
    let nonce = pending.nonce.clone();
    let token = sso
        .exchange(pending, &query["code"], &query["state"])
        .await
        .unwrap();
    (token, nonce)
}

fn url_query(url: &str) -> std::collections::HashMap<String, String> {
    url.split_once('?')
        .map(|(_, query)| query)
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%2F", "/").replace("%3D", "=")))
        .collect()
}

#[tokio::test]
async fn id_tokens_for_another_audience_or_expired_are_refused() {
    let rampart = client_sso("rampart", "rampart-test-secret");

    // Meant for another application: the audience is wrong.
    let other = client_sso("other-app", "other-app-secret");
    let (token, nonce) = id_token_for(&other).await;
    assert!(
        other.verify(&token, &nonce).await.is_ok(),
        "valid for its own client"
    );
    let error = rampart
        .verify(&token, &nonce)
        .await
        .expect_err("wrong audience");
    assert!(matches!(error, SsoError::InvalidIdToken(_)), "{error}");
    assert!(
        error.to_string().to_lowercase().contains("audience"),
        "{error}"
    );

    // Expired: this client's tokens live a second.
    let short = client_sso("rampart-short", "rampart-test-secret");
    let (token, nonce) = id_token_for(&short).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let error = short.verify(&token, &nonce).await.expect_err("expired");
    assert!(
        error.to_string().to_lowercase().contains("expired"),
        "{error}"
    );

    // A nonce other than the one sent.
    let (token, nonce) = id_token_for(&rampart).await;
    let error = rampart
        .verify(&token, "another-nonce")
        .await
        .expect_err("wrong nonce");
    assert!(
        error.to_string().to_lowercase().contains("nonce"),
        "{error}"
    );
    // A token whose claims were changed (more groups) but whose signature was kept.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    claims["groups"] = serde_json::json!(["gitlab-org/release-managers"]);
    parts[1] = b64.encode(serde_json::to_vec(&claims).unwrap());
    let error = rampart
        .verify(&parts.join("."), &nonce)
        .await
        .expect_err("a forged claim");
    assert!(
        error.to_string().to_lowercase().contains("signature"),
        "{error}"
    );
    assert!(
        rampart.verify(&token, &nonce).await.is_ok(),
        "the untouched token is fine"
    );
}

#[tokio::test]
async fn the_providers_error_text_is_not_shown() {
    let app = sso_app().await;
    let page = client()
        .get(format!(
            "{}/auth/oidc/callback?error=access_denied&error_description=Call%20us%20at%20555",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    let text = page.text().await.unwrap();
    assert!(text.contains("access was denied"), "{text}");
    assert!(!text.contains("555"), "{text}");
}

#[tokio::test]
async fn leaving_every_mapped_group_takes_the_roles_away() {
    let app = sso_app().await;
    let http = client();
    assert_eq!(
        sign_in_through_provider(&app, &http, "bob").await.status(),
        StatusCode::SEE_OTHER
    );
    // Bob's groups change at the provider: as if he had left gitlab-org/gitaly.
    sqlx::query("UPDATE users SET oidc_subject = replace(oidc_subject, '|bob', '|carl')")
        .execute(&app.pool)
        .await
        .unwrap();
    let refused = sign_in_through_provider(&app, &client(), "carl").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let roles: Vec<String> = sqlx::query_scalar("SELECT roles FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(roles.is_empty(), "{roles:?}");
    assert_eq!(
        app.call(&http, "list_migrations").await.status(),
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
}

#[tokio::test]
async fn a_provider_name_taken_here_gets_a_name_of_its_own() {
    let app = sso_app().await;
    // A local admin already called bob: the provider's bob must not become them.
    app.add_user("bob", &[rollout::Role::Admin]).await;
    let http = client();
    assert_eq!(
        sign_in_through_provider(&app, &http, "bob").await.status(),
        StatusCode::SEE_OTHER
    );
    let info: serde_json::Value = app
        .call(&http, "get_session_info")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["user"]["username"], "bob-2");
    assert_eq!(info["user"]["roles"], serde_json::json!(["engineer"]));
    let admins: Vec<String> =
        sqlx::query_scalar("SELECT username FROM users WHERE 'admin' = ANY (roles) ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(admins, ["bob"], "the local admin is untouched");
}

#[tokio::test]
async fn a_session_made_before_signing_in_is_not_the_one_signed_in() {
    let app = sso_app().await;
    let http = client();
    // Starting single sign-on makes an anonymous session (it holds the pending login).
    let start = http
        .get(format!("{}/auth/oidc/start?login_hint=alice", app.address))
        .send()
        .await
        .unwrap();
    let planted = session_cookie(&start).expect("an anonymous session");
    let planted = planted.split(';').next().unwrap_or_default().to_owned();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let callback = through_provider(&http, &authorize, &app.address).await;
    let done = http.get(callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    // The id from before signing in does not carry the signed-in user.
    let with_planted = client()
        .post(format!("{}/api/list_migrations", app.address))
        .header("cookie", planted)
        .header("origin", &app.address)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(with_planted.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.call(&http, "list_migrations").await.status(),
        StatusCode::OK
    );
}
