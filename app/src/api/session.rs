//! Who is signed in: signing in and out, the signed-in user, and the one check every server
//! function makes first ([`require`]).
//!
//! The server puts the [`CurrentUser`] of each request into the request's extensions (from its
//! session cookie); server functions read it from there. Pages hide what a user may not do, but
//! that is a convenience: the check that protects is `require` in the server function.

use leptos::prelude::*;
use rollout::{Actor, Permission, Role, Roles};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The signed-in user, as the browser may see them: never a password hash or a session id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: Roles,
}

impl CurrentUser {
    pub fn may(&self, permission: Permission) -> bool {
        self.roles.allows(permission)
    }

    /// This user as the stage machine's actor.
    pub fn actor(&self) -> Actor {
        Actor::new(self.username.clone(), self.roles.clone())
    }

    /// "Engineer, Admin".
    pub fn roles_label(&self) -> String {
        let labels: Vec<&str> = self.roles.iter().map(Role::label).collect();
        if labels.is_empty() {
            "no role yet".to_owned()
        } else {
            labels.join(", ")
        }
    }
}

/// Marks a request authenticated by an API token rather than a session: some things — making
/// more tokens, managing users — take a person at a browser, so a leaked token cannot mint
/// others or lock people out.
#[derive(Clone, Copy, Debug)]
pub struct ViaApiToken;

/// The user of the current request, if signed in.
#[cfg(feature = "ssr")]
pub fn current_user() -> Option<CurrentUser> {
    use_context::<http::request::Parts>()?
        .extensions
        .get::<CurrentUser>()
        .cloned()
}

/// The signed-in user, for a page deciding what to offer them. Pages render on the server (the
/// browser runs only islands), so in the browser this is `None`.
pub fn page_viewer() -> Option<CurrentUser> {
    #[cfg(feature = "ssr")]
    {
        current_user()
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// The first line of every server function: the signed-in user, if they may do `permission`.
/// Anonymous callers get 401, signed-in ones without the permission 403.
#[cfg(feature = "ssr")]
pub fn require(permission: Permission) -> Result<CurrentUser, AppError> {
    authorize(current_user(), permission)
}

/// `user`, if they may do `permission`: 401 for nobody, 403 for someone without it. [`require`]
/// for server functions; plain axum handlers (downloads) pass the user they were given.
pub fn authorize(
    user: Option<CurrentUser>,
    permission: Permission,
) -> Result<CurrentUser, AppError> {
    match user {
        None => Err(AppError::Unauthorized),
        Some(user) if user.may(permission) => Ok(user),
        Some(_) => Err(AppError::Forbidden),
    }
}

/// As [`require`], and refused (403) to a script using an API token.
#[cfg(feature = "ssr")]
pub fn require_in_person(permission: Permission) -> Result<CurrentUser, AppError> {
    let user = require(permission)?;
    let via_token = use_context::<http::request::Parts>()
        .is_some_and(|parts| parts.extensions.get::<ViaApiToken>().is_some());
    if via_token {
        return Err(AppError::Forbidden);
    }
    Ok(user)
}

/// Where to go after signing in: a path on this site, or the portfolio. Anything else (another
/// host, a scheme, `//evil.example`) would make the sign-in page an open redirect.
pub fn local_destination(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(char::is_control);
    if local { next } else { "/" }
}

/// What every page's frame needs: who is signed in, and whether this is the demo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: Option<CurrentUser>,
    pub demo: bool,
    /// The identity provider's name, when people may sign in through it.
    pub sso: Option<String>,
}

/// Open to anyone: it tells an anonymous caller only that nobody is signed in.
#[server(endpoint = "get_session_info")]
pub async fn get_session_info() -> Result<SessionInfo, AppError> {
    use crate::api::services::services;
    let services = services()?;
    Ok(SessionInfo {
        user: current_user(),
        demo: services.demo,
        sso: services.sso_name.clone(),
    })
}

/// Signs in with a username and password, then goes to `next`. Every failure — unknown name or
/// wrong password — gets the same answer, so the form cannot be used to find accounts.
#[server(endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String, next: String) -> Result<(), AppError> {
    use crate::api::services::services;
    let result = services()?.auth.sign_in(&username, &password).await;
    if let Err(error) = &result
        && plain_form_post()
    {
        // Posted by the form without JavaScript: back to the form, which says what went wrong.
        let failed = SignInFailure::of(error).as_str();
        let next = local_destination(&next);
        leptos_axum::redirect(&format!(
            "/sign-in?failed={failed}&next={}",
            query_encode(next)
        ));
        return Ok(());
    }
    result?;
    leptos_axum::redirect(local_destination(&next));
    Ok(())
}

/// A browser's own form submission (it accepts HTML), not the app's script.
#[cfg(feature = "ssr")]
fn plain_form_post() -> bool {
    use_context::<http::request::Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
    })
}

/// Percent-encodes `text` for a query string, keeping `/` readable.
pub fn query_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Why a sign-in failed, as the sign-in page's address carries it after a form post without
/// JavaScript (the script shows the server's message instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum SignInFailure {
    Credentials,
    TooMany,
    Invalid,
    Other,
}

impl SignInFailure {
    pub fn of(error: &AppError) -> Self {
        match error {
            AppError::WrongCredentials => Self::Credentials,
            AppError::TooManyRequests { .. } => Self::TooMany,
            AppError::Validation { .. } => Self::Invalid,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Anything else in the address (typed or tampered with) is [`Self::Other`].
    pub fn parse(text: &str) -> Self {
        text.parse().unwrap_or(Self::Other)
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Credentials => "The username or the password is wrong.",
            Self::TooMany => "Too many failed sign-ins. Wait a few minutes and try again.",
            Self::Invalid => "The username or the password is too long.",
            Self::Other => "Signing in failed. Try again in a moment.",
        }
    }
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::api::services::services;
    services()?.auth.sign_out().await?;
    leptos_axum::redirect("/sign-in");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_round_trip_through_the_address() {
        for error in [
            AppError::WrongCredentials,
            AppError::TooManyRequests {
                message: "x".into(),
            },
            AppError::invalid("password", "too long"),
            AppError::Internal,
        ] {
            let failure = SignInFailure::of(&error);
            assert_eq!(SignInFailure::parse(failure.as_str()), failure);
            assert!(failure.message().ends_with('.'));
        }
        assert_eq!(SignInFailure::parse("<script>"), SignInFailure::Other);
        assert_eq!(query_encode("/?a=b c"), "/%3Fa%3Db%20c");
        assert_eq!(query_encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
    }

    #[test]
    fn only_local_paths_are_destinations() {
        for (next, expected) in [
            ("/", "/"),
            (
                "/migrations/gitaly_x?tab=checks",
                "/migrations/gitaly_x?tab=checks",
            ),
            ("", "/"),
            ("https://evil.example/", "/"),
            ("//evil.example/", "/"),
            ("/\\evil.example", "/"),
            ("javascript:alert(1)", "/"),
            ("/ok\nSet-Cookie: x", "/"),
        ] {
            assert_eq!(local_destination(next), expected, "{next:?}");
        }
    }
}
