//! `Idempotency-Key`: a `POST` sent again with the key it was first sent with is applied once.
//!
//! The first request with a key claims it in Postgres (so replicas agree) and runs; its answer
//! — whatever it is, an error included, since an error may come after the change was made — is
//! kept a day. A retry while it runs waits for that answer; a retry afterwards gets it at once,
//! marked `Idempotent-Replayed: true`. The same key with a different request is refused. The
//! request runs to its end and its answer is kept even if the client goes away meanwhile.

use std::time::Duration;

use axum::{
    Extension,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Caller, LARGEST_BODY, error::ApiError};
use crate::{db, state::AppState};

pub const HEADER: &str = "idempotency-key";

/// How long a retry waits for the first request's answer before it is told to try later.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
/// A claim this old without an answer was abandoned (its replica stopped mid-request): a retry
/// takes it over. Far longer than any request takes: backends time out within seconds.
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(5);
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
    let claimed_at = match wait_for_turn(&state, user, &key, &fingerprint).await {
        Ok(Turn::Run { claimed_at }) => claimed_at,
        Ok(Turn::Answered(response)) => return response,
        Err(refusal) => return refusal.into_response(),
    };
    // A task of its own: a client that goes away does not stop the change half-recorded, and
    // its retry gets the answer.
    let request = Request::from_parts(parts, Body::from(body));
    let run = tokio::spawn(async move {
        let response = next.run(request).await;
        keep(&state, user, &key, claimed_at, response).await
    });
    run.await
        .unwrap_or_else(|_| ApiError::internal().into_response())
}

enum Turn {
    /// This request holds the key, claimed at `claimed_at`: run it.
    Run { claimed_at: DateTime<Utc> },
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
        // To the microsecond, as Postgres keeps it: the claim's time names it.
        let now = Utc::now();
        let now = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
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
            return Ok(Turn::Run { claimed_at: now });
        }
        let Some(first) = db::api::keyed_request(&state.pool, user, key)
            .await
            .map_err(unavailable)?
        else {
            // Swept between the two reads: claim it again.
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
            return Ok(Turn::Answered(replay(
                status,
                first.content_type,
                first.location,
                body,
            )));
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

fn replay(
    status: i16,
    content_type: Option<String>,
    location: Option<String>,
    body: Vec<u8>,
) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::LOCATION, location),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Keeps the answer under the key, and gives it back.
async fn keep(
    state: &AppState,
    user: i64,
    key: &str,
    claimed_at: DateTime<Utc>,
    response: Response,
) -> Response {
    let (parts, body) = response.into_parts();
    let (parts, bytes) = match to_bytes(body, LARGEST_ANSWER).await {
        Ok(bytes) => (parts, bytes),
        Err(error) => {
            tracing::error!(%error, "cannot read an idempotent request's answer");
            let (parts, body) = ApiError::internal().into_response().into_parts();
            let bytes = to_bytes(body, LARGEST_ANSWER).await.unwrap_or_default();
            (parts, bytes)
        }
    };
    let text = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let answer = db::api::Answer {
        status: i16::try_from(parts.status.as_u16()).unwrap_or(500),
        content_type: text(header::CONTENT_TYPE),
        location: text(header::LOCATION),
        body: &bytes,
    };
    if let Err(error) = db::api::keep_answer(&state.pool, user, key, claimed_at, &answer).await {
        // The change is made; a retry is told the first is still running, and once the claim
        // counts as abandoned (ABANDONED_AFTER) it would run again: the one case this does not
        // cover, the database failing between the change and this write.
        tracing::error!(%error, "cannot keep the answer to an idempotent request");
    }
    Response::from_parts(parts, Body::from(bytes))
}
