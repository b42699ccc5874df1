//! `/healthz` says the process is up; `/readyz` says it can serve: database reachable, schema current.

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use crate::{db, state::AppState};

/// A readiness probe must answer even when the database hangs.
const READINESS_DEADLINE: Duration = Duration::from_secs(5);

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let problem = match tokio::time::timeout(READINESS_DEADLINE, db::schema_is_current(&state.pool))
        .await
    {
        Ok(Ok(true)) => None,
        Ok(Ok(false)) => Some("database schema is behind this version of Rampart"),
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::error::chain(&error), "readiness check: database unreachable");
            Some("database unreachable")
        }
        Err(_) => Some("database did not answer in time"),
    };
    match problem {
        None => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": reason })),
        ),
    }
}
