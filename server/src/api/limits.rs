//! Per-token rate limits: each token may make so many requests a minute, counted in Postgres so
//! that the limit holds however many replicas share the load. The pages' server functions count
//! a token's requests the same way ([`seconds_to_wait`]), so the limit holds there too.

use std::time::Duration;

use axum::{
    Extension,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::{DurationRound, TimeDelta, Utc};
use sqlx::PgPool;

use super::{Caller, error::ApiError};
use crate::{db, state::AppState};

/// Counts a request of `token_id`: `Some(seconds)` to wait when it is over this minute's limit.
pub async fn seconds_to_wait(state: &AppState, token_id: i64) -> Result<Option<u64>, sqlx::Error> {
    let now = Utc::now();
    let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let count = db::api::count_request(&state.pool, token_id, minute).await?;
    if u32::try_from(count).unwrap_or(u32::MAX) <= state.api_requests_per_minute {
        return Ok(None);
    }
    // Whole seconds, rounded up: a client that waits exactly this long is in the next minute.
    let left = (minute + TimeDelta::minutes(1) - now).num_milliseconds();
    Ok(Some(
        u64::try_from((left + 999) / 1000).unwrap_or(60).max(1),
    ))
}

pub async fn count_request(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Request,
    next: Next,
) -> Response {
    match seconds_to_wait(&state, caller.token_id).await {
        Ok(Some(wait)) => ApiError::rate_limited(wait).into_response(),
        Ok(None) => next.run(request).await,
        Err(error) => {
            tracing::error!(%error, "cannot count an API request");
            ApiError::unavailable("Rampart cannot reach its database right now; try again")
                .into_response()
        }
    }
}

/// Forgets, every hour, idempotency keys older than a day and request counts older than an hour.
pub async fn sweep(pool: PgPool) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        let now = Utc::now();
        if let Err(error) =
            db::api::sweep(&pool, now - TimeDelta::days(1), now - TimeDelta::hours(1)).await
        {
            tracing::warn!(%error, "cannot sweep the API's idempotency keys and counts");
        }
    }
}
