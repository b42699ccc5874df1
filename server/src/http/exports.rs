//! Downloads: the history as CSV (`/history.csv`), the audit log as CSV or JSON
//! (`/audit.csv`, `/audit.json`). The same rows as their pages, from the same services, with the
//! same permission checks.

use std::collections::HashMap;

use app::{
    api::{
        audit::AuditFilter,
        history::{HistoryColumn, csv_line, history_csv},
        migration::AuditRow,
        session::{CurrentUser, authorize},
    },
    error::AppError,
};
use axum::{
    Extension, Json,
    extract::{Query, State},
    http::header,
    response::{IntoResponse, Response},
};
use rollout::Permission;

use crate::{http::errors::refusal, state::AppState};

/// An export holds every matching entry, up to this many.
const EXPORT_LIMIT: i64 = 100_000;

fn require(user: Option<Extension<CurrentUser>>, permission: Permission) -> Result<(), AppError> {
    authorize(user.map(|Extension(user)| user), permission).map(|_| ())
}

fn attachment(content_type: &'static str, name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn history_csv_file(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = require(user, Permission::Export) {
        return refusal(&refused);
    }
    let sort = params
        .get("sort")
        .and_then(|s| s.parse::<HistoryColumn>().ok())
        .unwrap_or_default();
    match state.services.migrations.history().await {
        Ok(mut rows) => {
            sort.sort(&mut rows);
            attachment(
                "text/csv; charset=utf-8",
                "rampart-history.csv",
                history_csv(&rows),
            )
        }
        Err(error) => refusal(&error),
    }
}

async fn audit_rows(
    state: &AppState,
    user: Option<Extension<CurrentUser>>,
    params: &HashMap<String, String>,
) -> Result<Vec<AuditRow>, AppError> {
    require(user, Permission::Read)?;
    let filter = AuditFilter::from_query(|name| params.get(name).cloned());
    let mut query = filter.parse()?;
    query.limit = EXPORT_LIMIT;
    state.services.migrations.audit(&query).await
}

pub async fn audit_csv_file(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match audit_rows(&state, user, &params).await {
        Ok(rows) => {
            let header = ["at", "actor", "action", "subject", "summary"].map(str::to_owned);
            let mut lines = vec![csv_line(header.into_iter())];
            lines.extend(rows.into_iter().map(|row| {
                csv_line(
                    [
                        row.at.to_rfc3339(),
                        row.actor,
                        row.action,
                        row.subject,
                        row.summary,
                    ]
                    .into_iter(),
                )
            }));
            attachment(
                "text/csv; charset=utf-8",
                "rampart-audit.csv",
                lines.join("\r\n") + "\r\n",
            )
        }
        Err(error) => refusal(&error),
    }
}

pub async fn audit_json_file(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match audit_rows(&state, user, &params).await {
        Ok(rows) => (
            [(
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"rampart-audit.json\"",
            )],
            Json(rows),
        )
            .into_response(),
        Err(error) => refusal(&error),
    }
}
