//! `Idempotency-Key`: a `POST` sent again with the key it was first sent with is applied once.
//!
//! The first request with a key claims it in Postgres (so replicas agree) and runs; its answer
//! is kept a day. A retry while it runs waits for that answer; a retry afterwards gets it at
//! once, marked `Idempotent-Replayed: true`. The same key with a different request is refused.
//! An answer that says "try again" (429, 5xx) is not kept: the key is let go, so the retry runs.

use std::time::Duration;

use axum::{
    Extension,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::{Caller, LARGEST_BODY, error::ApiError};
use crate::{db, state::AppState};

pub const HEADER: &str = "idempotency-key";

/// How long a retry waits for the first request's answer before it is told to try later.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
/// A claim this old without an answer was abandoned (its replica stopped): a retry takes it.
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// An answer kept is at most this large; API answers are far smaller.
const LARGEST_ANSWER: usize = 1024 * 1024;

pub async fn apply_once(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let key = match key.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            key.to_owned()
        }
        _ => {
            return ApiError::invalid(
                "Idempotency-Key",
                "an Idempotency-Key is 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, LARGEST_BODY).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is too large",
        )
        .into_response();
    };
    let fingerprint = {
        let mut hash = Sha256::new();
        hash.update(parts.method.as_str());
        hash.update([0]);
        hash.update(parts.uri.path());
        hash.update([0]);
        hash.update(&body);
        hash.finalize().to_vec()
    };
    let user = caller.user.id;
    match wait_for_turn(&state, user, &key, &fingerprint).await {
        Ok(Turn::Run) => {}
        Ok(Turn::Answered(response)) => return response,
        Err(refusal) => return refusal.into_response(),
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    keep(&state, user, &key, response).await
}

enum Turn {
    /// This request holds the key: run it.
    Run,
    /// The key's first request answered; this is its answer.
    Answered(Response),
}

async fn wait_for_turn(
    state: &AppState,
    user: i64,
    key: &str,
    fingerprint: &[u8],
) -> Result<Turn, ApiError> {
    let unavailable = |error: sqlx::Error| {
        tracing::error!(%error, "cannot read or claim an idempotency key");
        ApiError::unavailable("Rampart cannot reach its database right now; try again")
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = Utc::now();
        let claimed = db::api::claim_key(
            &state.pool,
            user,
            key,
            fingerprint,
            now,
            now - ABANDONED_AFTER,
        )
        .await
        .map_err(unavailable)?;
        if claimed {
            return Ok(Turn::Run);
        }
        let Some(first) = db::api::keyed_request(&state.pool, user, key)
            .await
            .map_err(unavailable)?
        else {
            // Let go between the two reads: claim it again.
            continue;
        };
        if first.fingerprint != fingerprint {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was sent with a different request; use a new key for a new change",
            ));
        }
        if let (Some(status), Some(body)) = (first.status, first.body) {
            return Ok(Turn::Answered(replay(status, first.content_type, body)));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::conflict(
                "idempotency_key_in_use",
                format!(
                    "the first request with this Idempotency-Key (at {}) is still running; try again shortly",
                    first.claimed_at.to_rfc3339()
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn replay(status: i16, content_type: Option<String>, body: Vec<u8>) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if let Some(value) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Keeps the answer under the key (or lets the key go), and gives the answer back.
async fn keep(state: &AppState, user: i64, key: &str, response: Response) -> Response {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let retry = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
    let Ok(bytes) = to_bytes(body, LARGEST_ANSWER).await else {
        let _ = db::api::release_key(&state.pool, user, key).await;
        return ApiError::internal().into_response();
    };
    let kept = if retry {
        db::api::release_key(&state.pool, user, key).await
    } else {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        db::api::keep_answer(
            &state.pool,
            user,
            key,
            i16::try_from(status.as_u16()).unwrap_or(500),
            content_type,
            &bytes,
        )
        .await
    };
    if let Err(error) = kept {
        // The change is made; only a retry's answer is at stake, and the claim expires.
        tracing::error!(%error, "cannot keep the answer to an idempotent request");
    }
    Response::from_parts(parts, Body::from(bytes))
}
