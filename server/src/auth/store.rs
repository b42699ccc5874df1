//! tower-sessions' records in our own `sessions` table, as JSON with chrono times: the schema
//! lives with the others in `migrations/`, and each row names its user so that one user's
//! sessions can be ended together. A row is keyed by the SHA-256 of the session id, so the table
//! (a backup, a query result) holds nothing a browser could present as a cookie.
//!
//! Each replica keeps the sessions it read while it hears of no change to any session or user
//! ([`crate::changes`]), so a page's request does not wait on Postgres for them: ending a
//! session, or a user's, reaches every replica as its transaction commits.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

use sha2::{Digest, Sha256};

use super::USER_ID;
use crate::{
    changes::{Changes, Kept, Topic},
    db::{sessions, users},
};

/// The key of a session's row: the SHA-256 of its id, in hex.
fn key(id: &Id) -> String {
    Sha256::digest(id.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How many sessions a replica keeps at most.
const SESSIONS_KEPT: usize = 10_000;

#[derive(Clone)]
pub struct PgSessionStore {
    pool: PgPool,
    kept: Arc<Kept<String, Record>>,
}

impl std::fmt::Debug for PgSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSessionStore").finish_non_exhaustive()
    }
}

impl PgSessionStore {
    pub fn new(pool: PgPool, changes: Changes) -> Self {
        Self {
            pool,
            kept: Arc::new(Kept::new(Topic::Identity, changes, SESSIONS_KEPT)),
        }
    }

    /// Deletes expired sessions, and sign-in failures too old to count, every `period`, forever.
    /// Every replica may run it: each sweep is an idempotent DELETE.
    pub async fn sweep(self, period: std::time::Duration) {
        let mut interval = tokio::time::interval(period);
        loop {
            interval.tick().await;
            let now = Utc::now();
            if let Err(error) = sessions::delete_expired_sessions(&self.pool, now).await {
                tracing::warn!(%error, "could not delete expired sessions");
            }
            let day_ago = now - chrono::TimeDelta::days(1);
            if let Err(error) = users::delete_old_sign_in_failures(&self.pool, day_ago).await {
                tracing::warn!(%error, "could not delete old sign-in failures");
            }
        }
    }
}

fn backend(error: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

fn expiry(record: &Record) -> session_store::Result<DateTime<Utc>> {
    DateTime::from_timestamp(record.expiry_date.unix_timestamp(), 0)
        .ok_or_else(|| session_store::Error::Encode("expiry out of range".to_owned()))
}

fn parts(record: &Record) -> session_store::Result<(serde_json::Value, Option<i64>)> {
    let data = serde_json::to_value(&record.data)
        .map_err(|error| session_store::Error::Encode(error.to_string()))?;
    let user_id = record.data.get(USER_ID).and_then(serde_json::Value::as_i64);
    Ok((data, user_id))
}

#[async_trait::async_trait]
impl SessionStore for PgSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let (data, user_id) = parts(record)?;
        let expires_at = expiry(record)?;
        // 128 random bits rarely collide, but a collision must not hand over someone's session.
        while !sessions::insert_session(&self.pool, &key(&record.id), &data, user_id, expires_at)
            .await
            .map_err(backend)?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (data, user_id) = parts(record)?;
        let key = key(&record.id);
        sessions::upsert_session(&self.pool, &key, &data, user_id, expiry(record)?)
            .await
            .map_err(backend)?;
        // Every replica hears of the change; this one reads the session afresh until then.
        self.kept.forget(&key);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = Utc::now();
        let key = key(id);
        let record = self
            .kept
            .get_or_read(key.clone(), async {
                let Some(row) = sessions::fetch_session(&self.pool, &key, now)
                    .await
                    .map_err(backend)?
                else {
                    return Ok(None);
                };
                let data = serde_json::from_value(row.data)
                    .map_err(|error| session_store::Error::Decode(error.to_string()))?;
                let expiry_date =
                    tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(
                        row.expires_at.timestamp(),
                    )
                    .map_err(|error| session_store::Error::Decode(error.to_string()))?;
                Ok(Some(Record {
                    id: *id,
                    data,
                    expiry_date,
                }))
            })
            .await?;
        // A kept session may have ended since it was read (one pushed back meanwhile, anywhere,
        // was heard of and read again).
        Ok(record.filter(|record| record.expiry_date.unix_timestamp() > now.timestamp()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let key = key(id);
        sessions::delete_session(&self.pool, &key)
            .await
            .map_err(backend)?;
        self.kept.forget(&key);
        Ok(())
    }
}
