//! `POST /test/clock?minutes=N`: moves Rampart's clock forward, for browser tests that must wait
//! out a soak. Routed only when `RAMPART_TEST_CLOCK` is set.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::IntoResponse,
};
use chrono::TimeDelta;
use serde::Deserialize;

use crate::state::AppState;

#[derive(Deserialize)]
pub struct Advance {
    minutes: i64,
}

pub async fn advance(
    State(state): State<AppState>,
    Query(by): Query<Advance>,
) -> impl IntoResponse {
    let Some(clock) = state.test_clock else {
        return (StatusCode::NOT_FOUND, String::new());
    };
    if !(0..=60 * 24 * 60).contains(&by.minutes) {
        return (
            StatusCode::BAD_REQUEST,
            "minutes must be between 0 and 86400 (60 days)".to_owned(),
        );
    }
    let now = clock.advance(TimeDelta::minutes(by.minutes));
    (StatusCode::OK, now.to_rfc3339())
}
