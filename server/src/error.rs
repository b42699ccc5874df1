//! Server-side failures, and how they cross into the app's [`AppError`].
//!
//! Use [`Error`] (with `?`) inside the server. At the edge — a service method the app calls, or an
//! axum handler — convert with `AppError::from`: that logs the whole cause chain once and hands the
//! browser only the safe message. Never turn a `sqlx::Error` into text for the browser.

use std::error::Error as StdError;

use app::error::AppError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database query failed")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("could not listen on the configured address")]
    Bind(#[source] std::io::Error),
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    #[error("password hashing failed: {0}")]
    Password(String),
    #[error("single sign-on cannot be set up: {0}")]
    Sso(String),
    #[error("a stored migration could not be read")]
    Unreadable(#[from] crate::rollouts::stored::Unreadable),
    #[error("the HTTP clients for the flag backends and version sources cannot be made")]
    HttpClients(#[source] reqwest::Error),
    #[error("the demo data could not be loaded: {0}")]
    Demo(String),
    #[error("could not write JSON")]
    Json(#[from] serde_json::Error),
    #[error("the session store failed")]
    Session(#[from] tower_sessions::session::Error),
    /// A failure that already has the right user-facing meaning.
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        match error {
            Error::App(app_error) => app_error,
            Error::Database(sqlx::Error::RowNotFound) => AppError::not_found("that record"),
            other => {
                tracing::error!(error = %chain(&other), "request failed");
                AppError::Internal
            }
        }
    }
}

/// The error and its causes on one line: "outer: inner: innermost".
pub fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_every_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use");
        assert_eq!(
            chain(&Error::Bind(io)),
            "could not listen on the configured address: address in use"
        );
    }

    #[test]
    fn internal_causes_never_reach_the_browser() {
        let error = Error::Database(sqlx::Error::Protocol(
            "password authentication failed for secret".into(),
        ));
        let app_error = AppError::from(error);
        assert_eq!(app_error, AppError::Internal);
        assert!(!app_error.to_string().contains("secret"));
    }

    #[test]
    fn app_errors_pass_through_unchanged() {
        let error = Error::App(AppError::invalid("flag", "must start with a letter"));
        assert_eq!(
            AppError::from(error),
            AppError::invalid("flag", "must start with a letter")
        );
    }
}
