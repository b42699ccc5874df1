//! The local backend: flags kept in Rampart's own database (`local_flags`), one row per flag
//! and environment. The demo runs on it, so a newcomer sees flag changes happen.

use async_trait::async_trait;
use chrono::Utc;
use rollout::{Environment, FlagValue};
use sqlx::PgPool;

use super::{BackendError, FlagBackend, parse_value, value_text};
use crate::db::local_flags;

pub struct LocalFlags {
    pool: PgPool,
    environment: Environment,
}

impl LocalFlags {
    pub fn new(pool: PgPool, environment: Environment) -> LocalFlags {
        LocalFlags { pool, environment }
    }
}

fn unavailable(error: sqlx::Error) -> BackendError {
    BackendError::Transient(format!("the local flag store failed: {error}"))
}

#[async_trait]
impl FlagBackend for LocalFlags {
    async fn set(&self, flag: &str, value: FlagValue) -> Result<(), BackendError> {
        let environment = self.environment.as_str();
        local_flags::set(
            &self.pool,
            flag,
            environment,
            &value_text(value),
            Utc::now(),
        )
        .await
        .map_err(unavailable)
    }

    async fn get(&self, flag: &str) -> Result<FlagValue, BackendError> {
        let environment = self.environment.as_str();
        match local_flags::get(&self.pool, flag, environment)
            .await
            .map_err(unavailable)?
        {
            None => Ok(FlagValue::Off),
            Some(text) => parse_value(&text).ok_or_else(|| {
                BackendError::Permanent(format!("the local flag store holds {text:?} for {flag}"))
            }),
        }
    }
}
