//! `/api/v1/audit`: the audit log, filtered as on its page, newest first, in pages.

use app::api::audit::AuditFilter;
use axum::{Extension, Json, extract::State};
use chrono::{DateTime, Datelike};
use rollout::Permission;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    Caller,
    error::ApiError,
    extract::Query,
    migrations::page_size,
    model::{AuditEntry, AuditPage},
};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// A migration's flag.
    migration: String,
    /// Who acted.
    actor: String,
    /// An action, or every action under it: `migration.advanced`, `migration`.
    action: String,
    /// The first day, in UTC: `2026-11-01`.
    from: String,
    /// The last day, inclusive.
    to: String,
    /// At most this many (1–200, 50 by default).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A cursor names the last entry of a page: when it was written and its number.
fn cursor(entry: &AuditEntry) -> String {
    format!("{}_{}", entry.at.timestamp_micros(), entry.id)
}

fn parse_cursor(text: &str) -> Result<(DateTime<chrono::Utc>, i64), ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor this API gave");
    let (micros, id) = text.split_once('_').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .filter(|at| (1970..=9999).contains(&at.year()))
        .ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// Entries of the audit log, newest first.
#[utoipa::path(get, path = "/audit", operation_id = "list_audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "A page of entries, newest first", body = AuditPage)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.may(Permission::Read)?;
    let limit = page_size(params.limit)?;
    let filter = AuditFilter {
        migration: params.migration.trim().to_owned(),
        actor: params.actor.trim().to_owned(),
        action: params.action.trim().to_owned(),
        from: params.from.trim().to_owned(),
        to: params.to.trim().to_owned(),
    };
    let mut query = filter.parse()?;
    query.before = params.cursor.as_deref().map(parse_cursor).transpose()?;
    // One more than asked, to know whether another page follows.
    query.limit = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let rows = state.services.migrations.audit(&query).await?;
    let mut items: Vec<AuditEntry> = rows.into_iter().map(AuditEntry::from).collect();
    let next_cursor = (items.len() > limit).then(|| cursor(&items[limit - 1]));
    items.truncate(limit);
    Ok(Json(AuditPage { items, next_cursor }))
}
