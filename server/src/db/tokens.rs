//! Queries on `api_tokens`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert_token(
    executor: impl PgExecutor<'_>,
    user_id: i64,
    name: &str,
    sha256: &[u8],
    prefix: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO api_tokens (user_id, name, token_sha256, prefix) VALUES ($1, $2, $3, $4)
           RETURNING id"#,
        user_id,
        name,
        sha256,
        prefix
    )
    .fetch_one(executor)
    .await
}

/// The user's tokens, newest first.
pub async fn fetch_tokens(
    executor: impl PgExecutor<'_>,
    user_id: i64,
) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as!(
        TokenRow,
        // language=PostgreSQL
        r#"SELECT id, name, prefix, created_at, last_used_at, revoked_at
           FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC"#,
        user_id
    )
    .fetch_all(executor)
    .await
}

/// Revokes one of the user's own tokens; returns its name when it was theirs and still valid.
pub async fn revoke_token(
    executor: impl PgExecutor<'_>,
    user_id: i64,
    id: i64,
    at: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"UPDATE api_tokens SET revoked_at = $3
           WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL
           RETURNING name"#,
        user_id,
        id,
        at
    )
    .fetch_optional(executor)
    .await
}

/// A token in use: which, and whose.
pub struct TokenUse {
    pub token_id: i64,
    pub user_id: i64,
}

/// The valid token with this hash and its user, marking the token used.
pub async fn use_token(
    executor: impl PgExecutor<'_>,
    sha256: &[u8],
    at: DateTime<Utc>,
) -> Result<Option<TokenUse>, sqlx::Error> {
    sqlx::query_as!(
        TokenUse,
        // language=PostgreSQL
        r#"UPDATE api_tokens SET last_used_at = $2
           WHERE token_sha256 = $1 AND revoked_at IS NULL
           RETURNING id AS token_id, user_id"#,
        sha256,
        at
    )
    .fetch_optional(executor)
    .await
}
