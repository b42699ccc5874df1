//! Change locks: while one holds (an incident, a freeze), no flag's exposure is raised anywhere;
//! turning flags off stays allowed. Admins declare and lift them; everyone sees them.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeLock {
    pub reason: String,
    pub until: DateTime<Utc>,
    pub declared_by: String,
    pub declared_at: DateTime<Utc>,
}

/// The lock that holds now, and whether the reader may declare or lift one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeLockStatus {
    pub lock: Option<ChangeLock>,
    pub may_manage: bool,
}

/// The longest a lock may be declared for: two weeks. Longer freezes are declared again.
pub const MAX_LOCK_HOURS: u32 = 336;

#[server(endpoint = "get_change_lock")]
pub async fn get_change_lock() -> Result<ChangeLockStatus, AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Read)?;
    Ok(ChangeLockStatus {
        lock: services()?.migrations.change_lock().await?,
        may_manage: user.may(rollout::Permission::Administer),
    })
}

/// Declares a lock for `hours` from now, with the reason people will read.
#[server(endpoint = "declare_change_lock")]
pub async fn declare_change_lock(reason: String, hours: String) -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Administer)?;
    let hours = hours
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|h| (1..=MAX_LOCK_HOURS).contains(h))
        .ok_or_else(|| {
            AppError::invalid(
                "hours",
                format!("give the lock's length in whole hours, from 1 to {MAX_LOCK_HOURS}"),
            )
        })?;
    if reason.trim().is_empty() {
        return Err(AppError::invalid(
            "reason",
            "say why changes are locked: people whose changes are refused read it",
        ));
    }
    services()?
        .migrations
        .declare_change_lock(&user, reason.trim(), hours)
        .await
}

#[server(endpoint = "lift_change_lock")]
pub async fn lift_change_lock() -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::Administer)?;
    services()?.migrations.lift_change_lock(&user).await
}
