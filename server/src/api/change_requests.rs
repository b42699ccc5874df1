//! Production changes: asked for on a migration, approved or rejected by a release manager who
//! did not ask (the domain's four-eyes rule).

use app::api::migration::deployed_versions;
use axum::{Extension, Json, extract::State, http::StatusCode, response::IntoResponse};
use chrono::{DateTime, Utc};
use rollout::{Action, Permission};

use super::{
    Caller,
    error::ApiError,
    extract::{Body, Path},
    migrations::{act, migration},
    model::{ChangeRequest, Migration, NewChangeRequest, Rejection},
};
use crate::state::AppState;

/// A request's id: the flag, the stage it enters, and when it was asked for, so an id never
/// names a later request for the same stage.
pub fn request_id(flag: &str, stage: &str, requested_at: DateTime<Utc>) -> String {
    format!("{flag}@{stage}@{}", requested_at.timestamp_millis())
}

/// The flag an id names, and the whole id (to compare with the pending request's).
fn flag_of(id: &str) -> Result<&str, ApiError> {
    let mut parts = id.split('@');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(flag), Some(_), Some(millis), None)
            if !flag.is_empty() && millis.parse::<i64>().is_ok() =>
        {
            Ok(flag)
        }
        _ => Err(ApiError::not_found(format!(
            "there is no change request '{id}'"
        ))),
    }
}

/// Asks for production to move to the next stage's percentage.
#[utoipa::path(post, path = "/migrations/{flag}/change-requests", operation_id = "request_change", tag = "production", request_body = NewChangeRequest,
    params(("flag" = String, Path, description = "The migration's feature flag")),
    responses((status = 201, description = "Asked for; a release manager who did not ask approves it", body = ChangeRequest),
              (status = 404, description = "No such migration or pending request", body = super::error::ErrorBody),
              (status = 409, description = "A request is already pending, or the migration changed", body = super::error::ErrorBody),
              (status = 422, description = "Refused by a rule of the rollout", body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flag): Path<String>,
    Body(new): Body<NewChangeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Permission::Act(
        rollout::ActionKind::RequestProductionChange,
    ))?;
    let deployed = deployed_versions(new.gitaly_version.as_deref(), new.gitlab_version.as_deref())?;
    let action = Action::RequestProductionChange {
        reason: new.reason,
        infrastructure_issue: new.infrastructure_issue,
        deployed,
    };
    let migration = act(&state, &caller, &flag, new.version, action).await?;
    // Read back after the request was recorded; only someone deciding it in that instant leaves
    // nothing to show.
    let request = migration.change_request.ok_or_else(|| {
        ApiError::conflict(
            "request_decided",
            "the request was recorded and decided at once by someone else; the migration's audit log says how",
        )
    })?;
    Ok((StatusCode::CREATED, Json(request)))
}

/// The migration of request `id`, at the version on which that request is the current one: the
/// domain then decides whether it can be approved or rejected.
async fn current_request(state: &AppState, id: &str) -> Result<(String, i64), ApiError> {
    let flag = flag_of(id)?;
    let gone = || {
        ApiError::not_found(format!(
            "there is no change request '{id}' on its migration now: it was rejected, carried out, or replaced"
        ))
    };
    let current = migration(state, flag).await.map_err(|error| {
        if error.status == StatusCode::NOT_FOUND {
            gone()
        } else {
            error
        }
    })?;
    match &current.change_request {
        Some(request) if request.id == id => Ok((current.flag, current.version)),
        _ => Err(gone()),
    }
}

/// Approves the change: production moves to the requested percentage unless something else
/// still holds the stage.
#[utoipa::path(post, path = "/change-requests/{id}/approve", operation_id = "approve_change", tag = "production",
    params(("id" = String, Path, description = "The change request's id")),
    responses((status = 200, description = "Approved", body = Migration),
              (status = 404, description = "No such migration or pending request", body = super::error::ErrorBody), (status = 409, description = "The migration changed meanwhile", body = super::error::ErrorBody),
              (status = 422, description = "Refused: the requester cannot approve, …", body = super::error::ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Migration>, ApiError> {
    caller.may(Permission::Act(rollout::ActionKind::Approve))?;
    let (flag, version) = current_request(&state, &id).await?;
    Ok(Json(
        act(&state, &caller, &flag, Some(version), Action::Approve).await?,
    ))
}

/// Turns the change down, saying why.
#[utoipa::path(post, path = "/change-requests/{id}/reject", operation_id = "reject_change", tag = "production", request_body = Rejection,
    params(("id" = String, Path, description = "The change request's id")),
    responses((status = 200, description = "Rejected", body = Migration),
              (status = 404, description = "No such migration or pending request", body = super::error::ErrorBody), (status = 409, description = "The migration changed meanwhile", body = super::error::ErrorBody),
              (status = 422, description = "Refused by a rule of the rollout: no reason, …", body = super::error::ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(rejection): Body<Rejection>,
) -> Result<Json<Migration>, ApiError> {
    caller.may(Permission::Act(rollout::ActionKind::Reject))?;
    let (flag, version) = current_request(&state, &id).await?;
    let action = Action::Reject {
        reason: rejection.reason,
    };
    Ok(Json(
        act(&state, &caller, &flag, Some(version), action).await?,
    ))
}
