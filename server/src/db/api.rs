//! The REST API's bookkeeping: request counts per token, and idempotency keys.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Counts a request of `token_id` in the minute starting at `window_start`; the count so far,
/// this one included.
pub async fn count_request(
    db: impl PgExecutor<'_>,
    token_id: i64,
    window_start: DateTime<Utc>,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO api_request_counts (token_id, window_start, requests)
           VALUES ($1, $2, 1)
           ON CONFLICT (token_id, window_start)
           DO UPDATE SET requests = api_request_counts.requests + 1
           RETURNING requests"#,
        token_id,
        window_start,
    )
    .fetch_one(db)
    .await
}

/// A request sent before with the same key.
pub struct KeyedRequest {
    pub fingerprint: Vec<u8>,
    pub claimed_at: DateTime<Utc>,
    pub status: Option<i16>,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Option<Vec<u8>>,
}

/// An answer kept for a retry: what a client reads of it.
pub struct Answer<'a> {
    pub status: i16,
    pub content_type: Option<&'a str>,
    pub location: Option<&'a str>,
    pub body: &'a [u8],
}

/// Claims `key` for a request made at `now` (which names the claim): `true` when no request had
/// it (or the one that had it was abandoned before `stale_before` without an answer), so this
/// one runs.
pub async fn claim_key(
    db: impl PgExecutor<'_>,
    user_id: i64,
    key: &str,
    fingerprint: &[u8],
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO api_idempotency_keys (user_id, key, fingerprint, claimed_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_id, key) DO UPDATE
             SET fingerprint = EXCLUDED.fingerprint, claimed_at = EXCLUDED.claimed_at
             WHERE api_idempotency_keys.status IS NULL
               AND api_idempotency_keys.claimed_at < $5
               AND api_idempotency_keys.fingerprint = EXCLUDED.fingerprint
           RETURNING user_id"#,
        user_id,
        key,
        fingerprint,
        now,
        stale_before,
    )
    .fetch_optional(db)
    .await?;
    Ok(claimed.is_some())
}

pub async fn keyed_request(
    db: impl PgExecutor<'_>,
    user_id: i64,
    key: &str,
) -> Result<Option<KeyedRequest>, sqlx::Error> {
    sqlx::query_as!(
        KeyedRequest,
        // language=PostgreSQL
        r#"SELECT fingerprint, claimed_at, status, content_type, location, body
           FROM api_idempotency_keys WHERE user_id = $1 AND key = $2"#,
        user_id,
        key,
    )
    .fetch_optional(db)
    .await
}

/// Keeps the answer to the request that claimed `key` at `claimed_at` (not to one that took the
/// claim over since).
pub async fn keep_answer(
    db: impl PgExecutor<'_>,
    user_id: i64,
    key: &str,
    claimed_at: DateTime<Utc>,
    answer: &Answer<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE api_idempotency_keys
           SET status = $4, content_type = $5, location = $6, body = $7
           WHERE user_id = $1 AND key = $2 AND claimed_at = $3"#,
        user_id,
        key,
        claimed_at,
        answer.status,
        answer.content_type,
        answer.location,
        answer.body,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets keys claimed before `keys_before` and counts of minutes before `counts_before`.
pub async fn sweep(
    db: impl PgExecutor<'_> + Copy,
    keys_before: DateTime<Utc>,
    counts_before: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        "DELETE FROM api_idempotency_keys WHERE claimed_at < $1",
        keys_before,
    )
    .execute(db)
    .await?;
    sqlx::query!(
        // language=PostgreSQL
        "DELETE FROM api_request_counts WHERE window_start < $1",
        counts_before,
    )
    .execute(db)
    .await?;
    Ok(())
}
