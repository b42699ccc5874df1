//! Between the `migrations` row and the domain: identity, plan and state read back through the
//! domain's parsers, and written from the domain's types.

use std::collections::HashMap;
use std::sync::Arc;

use rollout::{Migration, MigrationIdentity, MigrationState, Plan, RawIdentity};

use crate::db::migrations::{MigrationFields, MigrationRow, StoredState};

/// A stored migration as the domain sees it, with its row.
pub struct Loaded {
    pub row: MigrationRow,
    pub migration: Migration,
    pub state: MigrationState,
}

/// Why a stored row could not be read: only a hand-edited row or a bug gets here.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    #[error("the stored identity of {flag} does not parse: {errors}")]
    Identity { flag: String, errors: String },
    #[error("stored plan {id} does not parse: {error}")]
    Plan { id: i64, error: serde_json::Error },
    #[error("the plan of {flag} is missing")]
    PlanMissing { flag: String },
    #[error("the stored state of {flag} does not parse: {error}")]
    State {
        flag: String,
        error: serde_json::Error,
    },
}

/// The migration of `row`, with its plan from `plans` (by the row's `plan_id`).
pub fn load(mut row: MigrationRow, plans: &HashMap<i64, Arc<Plan>>) -> Result<Loaded, Unreadable> {
    let raw = RawIdentity {
        feature_flag: row.flag_name.clone(),
        grpc_method: format!("{}::{}", row.grpc_service, row.grpc_method),
        gitaly_version: row.gitaly_version.clone(),
        gitlab_version: row.gitlab_version.clone(),
        routes: row.routes.clone(),
        acceptance_issue: row.acceptance_issue.clone(),
        conversation: row.conversation_issue.to_string(),
    };
    // The row keeps everything but the state's JSON, which becomes the state.
    let state = row.state.take();
    let flag = || row.flag_name.clone();
    let identity = MigrationIdentity::parse(&raw).map_err(|errors| Unreadable::Identity {
        flag: flag(),
        errors: errors.to_string(),
    })?;
    let plan = plans
        .get(&row.plan_id)
        .map(|plan| Plan::clone(plan))
        .ok_or_else(|| Unreadable::PlanMissing { flag: flag() })?;
    let state: MigrationState =
        serde_json::from_value(state).map_err(|error| Unreadable::State {
            flag: flag(),
            error,
        })?;
    Ok(Loaded {
        row,
        migration: Migration { identity, plan },
        state,
    })
}

pub fn fields(identity: &MigrationIdentity, plan_id: i64, owner: &str) -> MigrationFields {
    MigrationFields {
        flag_name: identity.feature_flag.to_string(),
        grpc_service: identity.grpc_method.service().to_owned(),
        grpc_method: identity.grpc_method.method().to_owned(),
        gitaly_version: identity.gitaly_version.to_string(),
        gitlab_version: identity.gitlab_version.to_string(),
        routes: identity.routes.as_slice().to_vec(),
        acceptance_issue: identity.acceptance_issue.url().to_owned(),
        conversation_issue: i64::try_from(identity.conversation.number()).unwrap_or(i64::MAX),
        owner: owner.to_owned(),
        plan_id,
    }
}

/// The state as JSON, with its status and stage key for the columns that copy them.
pub struct StateColumns {
    json: serde_json::Value,
    status: &'static str,
    stage_key: Option<String>,
}

impl StateColumns {
    pub fn of(state: &MigrationState) -> Result<StateColumns, serde_json::Error> {
        Ok(StateColumns {
            json: serde_json::to_value(state)?,
            status: state.status().as_str(),
            stage_key: state.stage_key().map(|key| key.as_str().to_owned()),
        })
    }

    pub fn stored(&self) -> StoredState<'_> {
        StoredState {
            state: &self.json,
            status: self.status,
            stage_key: self.stage_key.as_deref(),
        }
    }
}
