//! API tokens: made random, shown once, kept as SHA-256, and accepted as `Authorization: Bearer`
//! on `/api/…` in place of a session.

use app::{
    api::{
        services::TokenService,
        session::CurrentUser,
        tokens::{CreatedToken, TokenSummary},
    },
    error::AppError,
};
use chrono::Utc;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::current_user;
use crate::{
    db::{
        audit::{AuditEntry, insert_audit},
        tokens, users,
    },
    error::Error,
};

/// Every token starts so, which tells people (and secret scanners) what it is.
const PREFIX: &str = "rpt_";
/// Random characters after the prefix: 40 of 62 is about 238 bits.
const RANDOM_CHARS: usize = 40;
/// How much of a token the page shows to tell tokens apart.
const SHOWN: usize = 12;

fn generate() -> Result<String, Error> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut token = String::from(PREFIX);
    // Rejection sampling keeps every character equally likely.
    while token.len() < PREFIX.len() + RANDOM_CHARS {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).map_err(|error| Error::Password(error.to_string()))?;
        token.extend(
            bytes
                .iter()
                .filter(|b| usize::from(**b) < 248)
                .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
                .take(PREFIX.len() + RANDOM_CHARS - token.len()),
        );
    }
    Ok(token)
}

fn sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Why a bearer token was not accepted. Said to the caller as one sentence, whatever the cause.
#[derive(Debug)]
pub struct InvalidToken;

/// A bearer token's user, and the token.
pub struct Bearer {
    pub user: CurrentUser,
    pub token_id: i64,
}

/// The user a bearer token acts for. `Ok(None)` without an `Authorization` header; an error for a
/// header that is malformed or a token that is unknown, revoked, or whose user is deactivated.
pub async fn user_of_bearer(
    pool: &PgPool,
    authorization: Option<&str>,
) -> Result<Result<Option<Bearer>, InvalidToken>, Error> {
    let Some(value) = authorization else {
        return Ok(Ok(None));
    };
    // The scheme's name is case-insensitive (RFC 9110).
    let scheme = value.get(..7).filter(|s| s.eq_ignore_ascii_case("bearer "));
    let Some(token) = scheme
        .and_then(|_| value.get(7..))
        .map(str::trim)
        .filter(|t| t.starts_with(PREFIX) && t.len() == PREFIX.len() + RANDOM_CHARS)
        .filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    else {
        return Ok(Err(InvalidToken));
    };
    let Some(used) = tokens::use_token(pool, &sha256(token), Utc::now()).await? else {
        return Ok(Err(InvalidToken));
    };
    Ok(match users::fetch_user(pool, used.user_id).await? {
        Some(row) if row.active => Ok(Some(Bearer {
            user: current_user(row),
            token_id: used.token_id,
        })),
        _ => Err(InvalidToken),
    })
}

pub struct PgTokenService {
    pool: PgPool,
}

impl PgTokenService {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl TokenService for PgTokenService {
    async fn list_tokens(&self, user: &CurrentUser) -> Result<Vec<TokenSummary>, AppError> {
        let rows = tokens::fetch_tokens(&self.pool, user.id)
            .await
            .map_err(Error::from)?;
        Ok(rows
            .into_iter()
            .map(|row| TokenSummary {
                id: row.id,
                name: row.name,
                prefix: row.prefix,
                created_at: row.created_at,
                last_used_at: row.last_used_at,
                revoked_at: row.revoked_at,
            })
            .collect())
    }

    #[tracing::instrument(skip(self, user), fields(user = user.username))]
    async fn create_token(&self, user: &CurrentUser, name: &str) -> Result<CreatedToken, AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AppError::invalid(
                "name",
                "must be 1 to 100 characters, e.g. \"CI pipeline\"",
            ));
        }
        let token = generate()?;
        let prefix: String = token.chars().take(SHOWN).collect();
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        tokens::insert_token(&mut *tx, user.id, name, &sha256(&token), &prefix)
            .await
            .map_err(Error::from)?;
        let entry = AuditEntry {
            actor: &user.username,
            action: "token.created",
            subject: format!("user:{}", user.username),
            before: None,
            after: Some(json!({ "name": name, "prefix": prefix })),
        };
        insert_audit(&mut *tx, &entry, Utc::now())
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(CreatedToken {
            name: name.to_owned(),
            token,
        })
    }

    #[tracing::instrument(skip(self, user), fields(user = user.username))]
    async fn revoke_token(&self, user: &CurrentUser, id: i64) -> Result<(), AppError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await.map_err(Error::from)?;
        let name = tokens::revoke_token(&mut *tx, user.id, id, now)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| AppError::not_found("that token"))?;
        let entry = AuditEntry {
            actor: &user.username,
            action: "token.revoked",
            subject: format!("user:{}", user.username),
            before: Some(json!({ "name": name, "revoked": false })),
            after: Some(json!({ "name": name, "revoked": true })),
        };
        insert_audit(&mut *tx, &entry, now)
            .await
            .map_err(Error::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_recognisable() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("rpt_"));
        assert_eq!(a.len(), 44);
        assert!(a[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(sha256(&a).len(), 32);
    }
}
