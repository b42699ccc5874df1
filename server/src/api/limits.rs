//! Per-token rate limits: each token may make so many requests a minute, counted in Postgres so
//! that the limit holds however many replicas share the load.

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

pub async fn count_request(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Request,
    next: Next,
) -> Response {
    let now = Utc::now();
    let minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    match db::api::count_request(&state.pool, caller.token_id, minute).await {
        Ok(count) if u32::try_from(count).unwrap_or(u32::MAX) > state.api_requests_per_minute => {
            // Whole seconds, rounded up: a client that waits exactly this long is in the next
            // minute.
            let left = (minute + TimeDelta::minutes(1) - now).num_milliseconds();
            let wait = u64::try_from((left + 999) / 1000).unwrap_or(60).max(1);
            ApiError::rate_limited(wait).into_response()
        }
        Ok(_) => next.run(request).await,
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
