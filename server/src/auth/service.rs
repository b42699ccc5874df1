//! Signing in and out, as the app's [`AuthService`]: passwords checked against Argon2id hashes,
//! failures limited per account and per address, the session id rotated at sign-in.

use app::{
    api::{services::AuthService, session::CurrentUser},
    error::AppError,
};
use chrono::{TimeDelta, Utc};
use sqlx::PgPool;
use tower_sessions::Session;

use super::{ClientAddress, USER_ID, current_user, password};
use crate::{db, error::Error};

/// Failed sign-ins allowed per account, and per address, within [`WINDOW`]. Five wrong guesses
/// are plenty for a person who mistyped; the address limit is higher because an office shares
/// one address.
const PER_ACCOUNT: i64 = 5;
const PER_ADDRESS: i64 = 20;
const WINDOW: TimeDelta = TimeDelta::minutes(15);

/// Longest username accepted (the database allows 64 characters).
const USERNAME_MAX: usize = 64;

pub struct PgAuthService {
    pool: PgPool,
}

impl PgAuthService {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    async fn check(&self, username: &str, password: &str) -> Result<CurrentUser, Error> {
        let username = username.trim();
        if username.chars().count() > USERNAME_MAX {
            return Err(AppError::invalid(
                "username",
                format!("is longer than {USERNAME_MAX} characters"),
            )
            .into());
        }
        if password.chars().count() > password::MAX_LENGTH {
            return Err(AppError::invalid(
                "password",
                format!("is longer than {} characters", password::MAX_LENGTH),
            )
            .into());
        }
        let address = leptos::prelude::use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<ClientAddress>().cloned())
            .map_or_else(|| "unknown".to_owned(), |a| a.0);
        let key = username.to_lowercase();
        let now = Utc::now();

        // Counted and recorded before the (slow) password check, under a lock per account and
        // per address: a burst of parallel guesses queues here and each sees the ones before it.
        // The attempt is counted as a failure until the password proves right.
        let mut tx = self.pool.begin().await?;
        db::users::lock_sign_in_attempts(&mut tx, &key, &address).await?;
        let recent =
            db::users::fetch_recent_failures(&mut *tx, &key, &address, now - WINDOW).await?;
        let blocked_since = if recent.for_account >= PER_ACCOUNT {
            recent.oldest_for_account
        } else if recent.for_address >= PER_ADDRESS {
            recent.oldest_for_address
        } else {
            None
        };
        if let Some(oldest) = blocked_since {
            let wait = (oldest + WINDOW - now).max(TimeDelta::minutes(1));
            return Err(AppError::TooManyRequests {
                message: format!(
                    "Too many failed sign-ins. Try again in {}.",
                    rollout::duration::format_duration(wait)
                ),
            }
            .into());
        }
        let attempt = db::users::record_sign_in_failure(&mut *tx, &key, &address, now).await?;
        tx.commit().await?;

        let user = db::users::fetch_user_by_username(&self.pool, username)
            .await?
            .filter(|user| user.active);
        let hash = user.as_ref().and_then(|user| user.password_hash.clone());
        if !password::verify(password.to_owned(), hash).await? {
            tracing::info!(address, "a sign-in failed");
            return Err(AppError::WrongCredentials.into());
        }
        db::users::forget_sign_in_attempt(&self.pool, attempt).await?;
        // `verify` is false without a user, so there is one.
        user.map(current_user)
            .ok_or(Error::App(AppError::WrongCredentials))
    }
}

#[async_trait::async_trait]
impl AuthService for PgAuthService {
    // The typed name is not recorded: people sometimes type their password there.
    #[tracing::instrument(skip_all)]
    async fn sign_in(&self, username: &str, password: &str) -> Result<CurrentUser, AppError> {
        let user = self.check(username, password).await?;
        let session: Session = leptos_axum::extract().await.map_err(|error| {
            tracing::error!(%error, "no session layer around the server functions");
            AppError::Internal
        })?;
        // A new id at sign-in: an id planted before (session fixation) is worthless after.
        session.cycle_id().await.map_err(Error::from)?;
        session
            .insert(USER_ID, user.id)
            .await
            .map_err(Error::from)?;
        tracing::info!(user = user.username, "signed in");
        Ok(user)
    }

    async fn sign_out(&self) -> Result<(), AppError> {
        let session: Session = leptos_axum::extract().await.map_err(|error| {
            tracing::error!(%error, "no session layer around the server functions");
            AppError::Internal
        })?;
        session.flush().await.map_err(Error::from)?;
        Ok(())
    }
}
