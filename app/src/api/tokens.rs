//! Server functions for API tokens: each user makes, lists and revokes their own. A token acts
//! with its user's roles, as they are when it is used.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A token as its owner sees it later: never the token itself, nor its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSummary {
    pub id: i64,
    pub name: String,
    /// The token's first characters, to tell it apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new token, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub name: String,
    pub token: String,
}

#[server(endpoint = "list_tokens")]
pub async fn list_tokens() -> Result<Vec<TokenSummary>, AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Read)?;
    services()?.tokens.list_tokens(&user).await
}

#[server(endpoint = "create_token")]
pub async fn create_token(name: String) -> Result<CreatedToken, AppError> {
    use crate::api::{services::services, session::require_in_person};
    let user = require_in_person(rollout::Permission::Read)?;
    services()?.tokens.create_token(&user, &name).await
}

#[server(endpoint = "revoke_token")]
pub async fn revoke_token(id: i64) -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Read)?;
    services()?.tokens.revoke_token(&user, id).await
}
