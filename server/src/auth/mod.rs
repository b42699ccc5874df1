//! Who is asking: password sign-in, sessions in Postgres, and the signed-in user of each request.
//!
//! A request's session cookie names a row of `sessions`; the session holds only the user's id. A
//! script calls `/api/…` with `Authorization: Bearer <API token>` instead ([`tokens`]).
//! [`load_current_user`] takes the user as it is now on every request, so a deactivated user's
//! sessions stop working at once and role changes apply to the next click: each replica keeps
//! the users and sessions it read only until it hears of a change to any ([`crate::changes`]). The app's
//! server functions then check permissions with `app::api::session::require`.

pub mod accounts;
pub mod password;
pub mod service;
pub mod sso;
pub mod store;
pub mod tokens;
pub mod users;

use std::net::SocketAddr;

use app::api::session::{CurrentUser, local_destination, query_encode};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use rollout::{Role, Roles};
use tower_sessions::{Expiry, Session, SessionManagerLayer, cookie::SameSite};

use self::store::PgSessionStore;

use crate::{changes::Changes, config::Config, db, state::AppState};

/// The session key that holds the signed-in user's id.
pub(crate) const USER_ID: &str = "user_id";

/// The session cookie's name.
pub const COOKIE: &str = "rampart_session";

/// Sessions in Postgres, in a cookie that scripts cannot read, sent on top-level navigation from
/// other sites (Lax, so a link into Rampart keeps you signed in) but not on their forms, `Secure`
/// when people reach Rampart over https, and ending after `session_idle` without a request.
pub fn session_layer(
    pool: sqlx::PgPool,
    changes: Changes,
    config: &Config,
) -> SessionManagerLayer<PgSessionStore> {
    let idle = tower_sessions::cookie::time::Duration::try_from(config.session_idle)
        .unwrap_or(tower_sessions::cookie::time::Duration::hours(8));
    SessionManagerLayer::new(PgSessionStore::new(pool, changes))
        .with_name(COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.served_over_https())
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
}

/// How often a session in use has its expiry pushed back: an idle session ends `session_idle`
/// after its last request, give or take this much, without a write on every request.
const REFRESH_EVERY_SECONDS: i64 = 60;

/// The session key holding when the session's expiry was last pushed back.
const REFRESHED_AT: &str = "refreshed_at";

/// The client's address, for limiting sign-in attempts per address.
#[derive(Clone, Debug)]
pub struct ClientAddress(pub String);

pub use app::api::session::ViaApiToken;

/// Puts the signed-in [`CurrentUser`] (if any) and the [`ClientAddress`] into the request's
/// extensions. A session whose user is gone or deactivated is ended.
pub async fn load_current_user(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string());
    // Behind a proxy every request comes from the proxy: it says who the client was, in the
    // last X-Forwarded-For entry (the one it added; earlier ones the client could have written).
    let forwarded = state
        .trust_forwarded_for
        .then(|| request.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .map(|last| last.trim().to_owned())
        .filter(|last| !last.is_empty());
    request
        .extensions_mut()
        .insert(ClientAddress(forwarded.unwrap_or(peer)));

    // A script with an API token: the token alone says who it is, and a bad one is refused here
    // rather than treated as nobody.
    if request.uri().path().starts_with("/api/") {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.to_str().unwrap_or("?"));
        match tokens::user_of_bearer(&state.pool, authorization).await {
            Ok(Ok(Some(bearer))) => {
                match crate::api::limits::seconds_to_wait(&state, bearer.token_id).await {
                    Ok(None) => {}
                    Ok(Some(wait)) => return too_many_requests(wait),
                    Err(error) => {
                        tracing::error!(%error, "cannot count an API token's request");
                        return unavailable();
                    }
                }
                request.extensions_mut().insert(bearer.user);
                request.extensions_mut().insert(ViaApiToken);
                return next.run(request).await;
            }
            Ok(Ok(None)) => {}
            Ok(Err(tokens::InvalidToken)) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#)],
                    "The API token is malformed, unknown or revoked, or its user is deactivated.",
                )
                    .into_response();
            }
            Err(error) => {
                tracing::error!(error = %crate::error::chain(&error), "cannot check an API token");
                return unavailable();
            }
        }
    }
    match user_of_session(&state, &session).await {
        Ok(Some(user)) => {
            request.extensions_mut().insert(user);
        }
        Ok(None) => {}
        Err(error) => {
            tracing::error!(error = %crate::error::chain(&error), "cannot read the session's user");
            return unavailable();
        }
    }
    next.run(request).await
}

/// A server function's refusal, in its error's JSON, for a token over its limit.
fn too_many_requests(wait: u64) -> Response {
    let error = app::error::AppError::TooManyRequests {
        message: format!("this token has made too many requests; try again in {wait} s"),
    };
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, wait.to_string())],
        axum::Json(error),
    )
        .into_response()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Rampart cannot reach its database right now; try again in a moment.",
    )
        .into_response()
}

async fn user_of_session(
    state: &AppState,
    session: &Session,
) -> Result<Option<CurrentUser>, crate::error::Error> {
    let Some(id) = session.get::<i64>(USER_ID).await? else {
        return Ok(None);
    };
    let user = state
        .signed_in
        .get_or_read(id, async {
            let row = db::users::fetch_user(&state.pool, id).await?;
            Ok::<_, crate::error::Error>(row.filter(|row| row.active).map(current_user))
        })
        .await?;
    match user {
        Some(user) => {
            // Still in use: the session ends `session_idle` after this request, not after
            // sign-in. Changing the session is what makes the store save its new expiry.
            let now = chrono::Utc::now().timestamp();
            let refreshed = session.get::<i64>(REFRESHED_AT).await?.unwrap_or(0);
            if now - refreshed >= REFRESH_EVERY_SECONDS {
                session.insert(REFRESHED_AT, now).await?;
            }
            Ok(Some(user))
        }
        None => {
            // Deactivated or removed: this session is over.
            session.flush().await?;
            Ok(None)
        }
    }
}

pub(crate) fn current_user(row: db::users::UserRow) -> CurrentUser {
    CurrentUser {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        roles: row
            .roles
            .iter()
            .filter_map(|name| Role::parse(name))
            .collect::<Roles>(),
    }
}

/// Pages need a signed-in user: a browser asking for one anonymously is sent to the sign-in page,
/// which sends it back afterwards. Only a convenience — every server function checks for itself.
pub async fn sign_in_for_pages(request: Request, next: Next) -> Response {
    let wants_page = request.method() == Method::GET
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    let path = request.uri().path();
    let open = path == "/sign-in" || path.starts_with("/auth/");
    if !wants_page || open || request.extensions().get::<CurrentUser>().is_some() {
        return next.run(request).await;
    }
    let next_path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| local_destination(p.as_str()));
    let target = format!("/sign-in?next={}", query_encode(next_path));
    Redirect::to(&target).into_response()
}

/// Refuses a state-changing request from another site: its `Origin` (or, without one, its
/// `Referer`) must be Rampart's own — the host the request was sent to, or `RAMPART_PUBLIC_URL`'s.
/// That covers requests with the session cookie and without: a cross-site form posting to the
/// sign-in function would otherwise sign the victim's browser in as the attacker. Scripts that
/// send an `Authorization` header carry no ambient credential and are not asked.
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // A page on another site cannot make a browser send an Authorization header, and Rampart
    // accepts no ambient one (no Basic auth): such a request is a script's, and its token is
    // checked further in.
    let scripted = request.headers().contains_key(header::AUTHORIZATION);
    if !changes_state || scripted || same_site(&request, &state.public_url) {
        return next.run(request).await;
    }
    tracing::warn!(method = %request.method(), path = %request.uri().path(), "refused a cross-site request");
    (
        StatusCode::FORBIDDEN,
        "Refused: this request came from another site.",
    )
        .into_response()
}

fn same_site(request: &Request, public_url: &str) -> bool {
    let headers = request.headers();
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok());
    let Some(source) = source else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let source_host = origin_host(source);
    let public = source
        .strip_prefix(public_url)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']));
    public || (source_host.is_some() && source_host == host)
}

/// `host[:port]` of an `Origin` or `Referer` value.
fn origin_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_name_their_host() {
        assert_eq!(origin_host("http://127.0.0.1:3000"), Some("127.0.0.1:3000"));
        assert_eq!(
            origin_host("https://rampart.example.com/sign-in?next=/"),
            Some("rampart.example.com")
        );
        assert_eq!(origin_host("null"), None);
        assert_eq!(origin_host("https://"), None);
    }
}
