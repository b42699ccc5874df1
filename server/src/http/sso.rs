//! `/auth/oidc/start` and `/auth/oidc/callback`: the two legs of single sign-on (see
//! [`crate::auth::sso`]). The first time someone signs in, their account is made; every time,
//! their roles follow their provider groups.

use app::api::session::local_destination;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::Utc;
use rollout::Roles;
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;

use crate::{
    auth::{
        self, accounts,
        sso::{PendingLogin, Sso, SsoError, SsoIdentity},
    },
    db::{
        audit::{AuditEntry, insert_audit},
        users,
    },
    error::Error,
    state::AppState,
};

/// The session key that holds a sign-in under way.
const PENDING: &str = "oidc_pending";

/// Who the audit log names for changes the identity provider's answer makes, and the action.
const SSO_ACTOR: &str = "[sso]";
const SYNCED: &str = "user.roles_synced";

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
    /// Passed on to the provider: which account to suggest.
    login_hint: Option<String>,
}

pub async fn start(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<StartQuery>,
) -> Response {
    let Some(sso) = state.sso.as_deref() else {
        return failure(
            None,
            StatusCode::NOT_FOUND,
            "single sign-on is not configured here",
        );
    };
    let next = local_destination(query.next.as_deref().unwrap_or("/")).to_owned();
    match sso.start(&next, query.login_hint.as_deref()).await {
        Ok((url, pending)) => match session.insert(PENDING, pending).await {
            Ok(()) => Redirect::to(&url).into_response(),
            Err(error) => internal(sso, &Error::from(error)),
        },
        Err(error) => sso_failure(sso, &error),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(sso) = state.sso.as_deref() else {
        return failure(
            None,
            StatusCode::NOT_FOUND,
            "single sign-on is not configured here",
        );
    };
    // One use: whatever happens next, this attempt is over.
    let pending = match session.remove::<PendingLogin>(PENDING).await {
        Ok(pending) => pending,
        Err(error) => return internal(sso, &Error::from(error)),
    };
    if let Some(error) = query.error {
        // Anyone can send a browser here with any error text: only a known code is shown.
        let description: String = query
            .error_description
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let code: String = error.chars().take(40).collect();
        tracing::warn!(error = %code, description, "the provider refused a sign-in");
        return sso_failure(sso, &SsoError::Refused(refusal_words(&error).to_owned()));
    }
    let (Some(pending), Some(code), Some(returned_state)) = (pending, query.code, query.state)
    else {
        return sso_failure(sso, &SsoError::StateMismatch);
    };
    let next = pending.next.clone();
    let identity = match sso.finish(pending, &code, &returned_state).await {
        Ok(identity) => identity,
        Err(error) => return sso_failure(sso, &error),
    };
    let roles = sso.config.roles_for(&identity.groups);
    if roles.is_empty() {
        tracing::info!(
            subject = identity.subject,
            "single sign-on refused: no mapped group"
        );
        // Someone who had an account here and has left every mapped group keeps no role.
        let revoked = revoke_roles(&state, &identity).await;
        state.changes.wrote_here();
        if let Err(error) = revoked {
            return internal(sso, &error);
        }
        return failure(
            Some(sso),
            StatusCode::FORBIDDEN,
            &format!(
                "your {} account is in none of the groups Rampart admits; ask an admin to map one of your groups to a role",
                sso.config.name
            ),
        );
    }
    let account = account(&state, &identity, &roles).await;
    state.changes.wrote_here();
    match account {
        Ok(Some(user)) => {
            if let Err(error) = sign_in(&session, user.id).await {
                return internal(sso, &error);
            }
            tracing::info!(user = user.username, "signed in through single sign-on");
            Redirect::to(local_destination(&next)).into_response()
        }
        Ok(None) => failure(
            Some(sso),
            StatusCode::FORBIDDEN,
            "this account is deactivated; ask an admin",
        ),
        Err(error) => internal(sso, &error),
    }
}

/// The OAuth error codes a provider sends back, in words; anything else as a general refusal.
fn refusal_words(code: &str) -> &'static str {
    match code {
        "access_denied" => "access was denied",
        "login_required" | "interaction_required" => "it needs you to sign in there first",
        "consent_required" => "it needs your consent for Rampart first",
        "temporarily_unavailable" | "server_error" => "it is not available right now",
        _ => "it refused the request",
    }
}

/// Takes every role from the account of `identity`, if there is one, and ends its sessions.
async fn revoke_roles(state: &AppState, identity: &SsoIdentity) -> Result<(), Error> {
    let mut tx = state.pool.begin().await?;
    let Some(user) = users::lock_user_by_subject(&mut *tx, &identity.subject).await? else {
        return Ok(());
    };
    if accounts::change_roles(
        &mut tx,
        &user,
        &Roles::default(),
        SSO_ACTOR,
        SYNCED,
        Utc::now(),
    )
    .await?
    {
        crate::db::sessions::delete_user_sessions(&mut *tx, user.id).await?;
        tx.commit().await?;
    }
    Ok(())
}

async fn sign_in(session: &Session, user_id: i64) -> Result<(), Error> {
    session.cycle_id().await?;
    session.insert(auth::USER_ID, user_id).await?;
    Ok(())
}

/// The account of `identity`, made on first sign-in, its roles set from its groups; `None` when
/// it is deactivated.
async fn account(
    state: &AppState,
    identity: &SsoIdentity,
    roles: &Roles,
) -> Result<Option<users::UserRow>, Error> {
    let names = accounts::role_names(roles);
    let now = Utc::now();
    let mut tx = state.pool.begin().await?;
    if let Some(mut user) = users::lock_user_by_subject(&mut *tx, &identity.subject).await? {
        if !user.active {
            return Ok(None);
        }
        accounts::change_roles(&mut tx, &user, roles, SSO_ACTOR, SYNCED, now).await?;
        tx.commit().await?;
        user.roles = names;
        return Ok(Some(user));
    }
    // First sign-in. The provider's username, made valid for Rampart; if another account has
    // it, the first free "name-2", "name-3", ….
    let base = valid_username(&identity.username);
    let mut id = None;
    let mut username = base.clone();
    for n in 1..=20 {
        if n > 1 {
            username = format!("{base}-{n}");
        }
        id = users::insert_sso_user(
            &mut *tx,
            &username,
            &identity.display_name,
            &identity.subject,
            &names,
        )
        .await?;
        if id.is_some() {
            break;
        }
    }
    let Some(id) = id else {
        return Err(Error::App(app::error::AppError::Conflict {
            message: format!("no free username like {base}"),
        }));
    };
    let entry = AuditEntry {
        actor: SSO_ACTOR,
        action: "user.created",
        subject: format!("user:{username}"),
        before: None,
        after: Some(json!({
            "username": username,
            "display_name": identity.display_name,
            "roles": names,
            "sso": true,
        })),
    };
    insert_audit(&mut *tx, &entry, now).await?;
    let user = users::fetch_user(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Letters, digits, '.', '_' and '-' kept, anything else made '-', starting with a letter or
/// digit, at most 60 (room for a "-N").
fn valid_username(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(60)
        .collect();
    if cleaned.is_empty() {
        "user".to_owned()
    } else {
        cleaned
    }
}

fn sso_failure(sso: &Sso, error: &SsoError) -> Response {
    let status = match error {
        SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
        SsoError::StateMismatch => StatusCode::BAD_REQUEST,
        SsoError::Refused(_) | SsoError::ExchangeFailed(_) | SsoError::InvalidIdToken(_) => {
            StatusCode::UNAUTHORIZED
        }
        SsoError::UnusableUsername(_) => StatusCode::FORBIDDEN,
    };
    // The page gets the error's words; the log also gets the detail behind them.
    tracing::warn!(%error, detail = ?error, "single sign-on failed");
    failure(Some(sso), status, &error.to_string())
}

fn internal(sso: &Sso, error: &Error) -> Response {
    tracing::error!(error = %crate::error::chain(error), "single sign-on failed");
    failure(
        Some(sso),
        StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong on our side; it has been logged",
    )
}

/// A small page that says what went wrong and leads back to the sign-in page.
fn failure(sso: Option<&Sso>, status: StatusCode, message: &str) -> Response {
    let provider = sso.map_or("single sign-on", |sso| sso.config.name.as_str());
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in failed · Rampart</title></head>\
         <body><h1>Sign-in failed</h1><p>Signing in with {} failed: {}.</p>\
         <p><a href=\"/sign-in\">Back to sign-in</a></p></body></html>",
        escape(provider),
        escape(message)
    );
    (status, Html(body)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_become_valid_usernames() {
        assert_eq!(valid_username("alice"), "alice");
        assert_eq!(valid_username("Alice Smith"), "Alice-Smith");
        assert_eq!(valid_username("_x"), "x");
        assert_eq!(valid_username("@@@"), "user");
        assert_eq!(escape("<b>&\""), "&lt;b&gt;&amp;&quot;");
    }
}
