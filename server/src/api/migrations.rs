//! `/api/v1/migrations`: list, read, add and edit migrations, and act on their stages. Every
//! action is the stage machine's, run by the same service the pages use.

use app::api::{
    migration::{deployed_versions, kill_action},
    portfolio::PortfolioView,
};
use axum::{
    Extension, Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use rollout::{Action, ActionKind, CheckItem, CheckOutcome, Permission, Status};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    Caller,
    error::ApiError,
    extract::{Body, Path, Query},
    model::{
        Advance, Kill, Migration, MigrationPage, MigrationPatch, MigrationSummary, NewCheckIn,
        NewMigration, PanelValues,
    },
};
use crate::state::AppState;

/// A page holds this many migrations unless asked for fewer.
const DEFAULT_PAGE: usize = 50;
const LONGEST_PAGE: usize = 200;

/// The portfolio's filters, and paging. Empty means "any".
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Part of the flag or of `Service::Method`, any case.
    q: String,
    /// A stage key: `staging`, `production_5`.
    stage: String,
    /// Where the trial runs now: `development`, `staging`, `production`.
    environment: String,
    /// `healthy`, `attention`, `failing` or `unknown`.
    health: String,
    owner: String,
    /// A gRPC service: `CommitService`.
    service: String,
    /// At most this many (1–200, 50 by default).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
}

pub(super) fn page_size(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=LONGEST_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("give a limit from 1 to {LONGEST_PAGE}"),
        )),
    }
}

/// Every migration in flight, by flag, in pages.
#[utoipa::path(get, path = "/migrations", operation_id = "list_migrations", tag = "migrations", params(ListParams),
    responses((status = 200, description = "A page of migrations in flight, by flag", body = MigrationPage)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<ListParams>,
) -> Result<Json<MigrationPage>, ApiError> {
    caller.may(Permission::Read)?;
    let limit = page_size(params.limit)?;
    let view = PortfolioView {
        q: params.q,
        stage: params.stage,
        environment: params.environment,
        health: params.health,
        owner: params.owner,
        service: params.service,
        sort: Default::default(),
    };
    let portfolio = state.services.migrations.portfolio().await?;
    let mut rows: Vec<_> = portfolio
        .rows
        .iter()
        .filter(|row| view.matches(row))
        .filter(|row| {
            params
                .cursor
                .as_deref()
                .is_none_or(|after| row.flag.as_str() > after)
        })
        .collect();
    rows.sort_by(|a, b| a.flag.cmp(&b.flag));
    let next_cursor = (rows.len() > limit).then(|| rows[limit - 1].flag.clone());
    Ok(Json(MigrationPage {
        items: rows
            .into_iter()
            .take(limit)
            .map(MigrationSummary::from)
            .collect(),
        next_cursor,
    }))
}

/// The migration, read afresh: what a change answers with.
pub(super) async fn migration(state: &AppState, flag: &str) -> Result<Migration, ApiError> {
    let detail = state.services.migrations.detail(flag).await?;
    Ok(Migration::from_detail(detail))
}

/// One migration: where it stands, what holds it, what is asked of it.
#[utoipa::path(get, path = "/migrations/{flag}", operation_id = "get_migration", tag = "migrations",
    params(("flag" = String, Path, description = "The migration's feature flag")),
    responses((status = 200, description = "The migration, its stages and what holds it", body = Migration),
              (status = 404, description = "No such migration", body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flag): Path<String>,
) -> Result<Json<Migration>, ApiError> {
    caller.may(Permission::Read)?;
    Ok(Json(migration(&state, &flag).await?))
}

/// Adds a migration, not started yet.
#[utoipa::path(post, path = "/migrations", operation_id = "create_migration", tag = "migrations", request_body = NewMigration,
    responses((status = 201, description = "Added; `Location` names it", body = Migration),
              (status = 400, description = "Malformed, or a field the domain refuses (a flag already taken is `feature_flag`'s)", body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(new): Body<NewMigration>,
) -> Result<impl IntoResponse, ApiError> {
    let user = caller.may(Permission::EditMigrations)?;
    let flag = state.services.migrations.create(user, &new.into()).await?;
    let location = format!("/api/v1/migrations/{flag}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(migration(&state, &flag).await?),
    ))
}

/// Changes the fields given.
#[utoipa::path(patch, path = "/migrations/{flag}", operation_id = "update_migration", tag = "migrations", request_body = MigrationPatch,
    params(("flag" = String, Path, description = "The migration's feature flag")),
    responses((status = 200, description = "Changed", body = Migration), (status = 404, description = "No such migration", body = super::error::ErrorBody),
              (status = 409, description = "Changed since `version`", body = super::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flag): Path<String>,
    Body(patch): Body<MigrationPatch>,
) -> Result<Json<Migration>, ApiError> {
    let user = caller.may(Permission::EditMigrations)?;
    let saved = state.services.migrations.form(&flag).await?;
    let version = patch.version;
    let form = patch.apply(saved.form);
    state
        .services
        .migrations
        .update(user, &flag, version, &form)
        .await?;
    Ok(Json(migration(&state, &flag).await?))
}

/// Runs `action` on `flag` as the caller, and answers with the migration after it.
pub(super) async fn act(
    state: &AppState,
    caller: &Caller,
    flag: &str,
    version: Option<i64>,
    action: Action,
) -> Result<Migration, ApiError> {
    let user = caller.may(Permission::Act(action.kind()))?;
    state
        .services
        .migrations
        .act(user, flag, version, action)
        .await?;
    migration(state, flag).await
}

/// Records a look at an item of the current stage's checklist, or answers its "Continue?".
#[utoipa::path(post, path = "/migrations/{flag}/check-ins", operation_id = "check_in", tag = "stages", request_body = NewCheckIn,
    params(("flag" = String, Path, description = "The migration's feature flag")),
    responses((status = 201, description = "Recorded", body = Migration), (status = 404, description = "No such migration", body = super::error::ErrorBody),
              (status = 409, description = "Changed since `version`", body = super::error::ErrorBody),
              (status = 422, description = "Refused by a rule of the rollout", body = super::error::ErrorBody)))]
pub async fn check_in(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flag): Path<String>,
    Body(check): Body<NewCheckIn>,
) -> Result<impl IntoResponse, ApiError> {
    caller.may(Permission::Act(ActionKind::CheckIn))?;
    let item = CheckItem::from_key(&check.item).ok_or_else(|| {
        ApiError::invalid("item", format!("'{}' is not a checklist item", check.item))
    })?;
    let outcome = match check.outcome.as_deref() {
        None => CheckOutcome::Checked,
        Some(word) => word.parse::<CheckOutcome>().map_err(|_| {
            ApiError::invalid(
                "outcome",
                format!("'{word}' is not an outcome; expected checked, continue or stop"),
            )
        })?,
    };
    let note = check.note.filter(|note| !note.trim().is_empty());
    let action = Action::CheckIn {
        item,
        outcome,
        note,
    };
    let migration = act(&state, &caller, &flag, check.version, action).await?;
    Ok((StatusCode::CREATED, Json(migration)))
}

/// Moves a migration into its next stage: starts one not started, and advances through
/// development and staging. A production percentage is asked for instead (change requests).
#[utoipa::path(post, path = "/migrations/{flag}/advance", operation_id = "advance", tag = "stages", request_body = Advance,
    params(("flag" = String, Path, description = "The migration's feature flag")),
    responses((status = 200, description = "In its next stage", body = Migration), (status = 404, description = "No such migration", body = super::error::ErrorBody),
              (status = 409, description = "Changed since `version`", body = super::error::ErrorBody),
              (status = 422, description = "Refused by a rule of the rollout: the soak, a check, the decision, production", body = super::error::ErrorBody)))]
pub async fn advance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flag): Path<String>,
    Body(advance): Body<Advance>,
) -> Result<Json<Migration>, ApiError> {
    caller.may(Permission::Act(ActionKind::Advance))?;
    let deployed = deployed_versions(
        advance.gitaly_version.as_deref(),
        advance.gitlab_version.as_deref(),
    )?;
    let current = state.services.migrations.detail(&flag).await?;
    let action = if current.status == Status::NotStarted {
        Action::Start { deployed }
    } else {
        Action::Advance { deployed }
    };
    Ok(Json(
        act(&state, &caller, &flag, advance.version, action).await?,
    ))
}

/// The kill switch: the flag off at once where the trial runs, or everywhere.
#[utoipa::path(post, path = "/migrations/{flag}/kill", operation_id = "kill", tag = "stages", request_body = Kill,
    params(("flag" = String, Path, description = "The migration's feature flag")),
    responses((status = 200, description = "Disabled; the flag changes are on their way", body = Migration),
              (status = 404, description = "No such migration", body = super::error::ErrorBody), (status = 409, description = "Changed since `version`", body = super::error::ErrorBody),
              (status = 422, description = "Refused by a rule of the rollout", body = super::error::ErrorBody)))]
pub async fn kill(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flag): Path<String>,
    Body(kill): Body<Kill>,
) -> Result<Json<Migration>, ApiError> {
    caller.may(Permission::Act(ActionKind::Disable))?;
    let action = kill_action(kill.reason, kill.everywhere)?;
    Ok(Json(act(&state, &caller, &flag, None, action).await?))
}

/// The latest value of each of the migration's panels, where its trial runs now.
#[utoipa::path(get, path = "/migrations/{flag}/panels", operation_id = "get_panels", tag = "migrations",
    params(("flag" = String, Path, description = "The migration's feature flag")),
    responses((status = 200, description = "Each chart's latest values and each count", body = PanelValues),
              (status = 404, description = "No such migration", body = super::error::ErrorBody)))]
pub async fn panels(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flag): Path<String>,
) -> Result<Json<PanelValues>, ApiError> {
    caller.may(Permission::Read)?;
    let panels = state
        .services
        .observability
        .panels(&flag, app::api::panels::ChartWindow::Hour)
        .await?;
    Ok(Json(panels.into()))
}
