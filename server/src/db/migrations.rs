//! Queries on the `migrations` table: identity, plan and state, with the version that detects
//! concurrent edits.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

/// A migration as stored. The service turns it into the domain's types.
pub struct MigrationRow {
    pub id: i64,
    pub flag_name: String,
    pub grpc_service: String,
    pub grpc_method: String,
    pub gitaly_version: String,
    pub gitlab_version: String,
    pub routes: Vec<String>,
    pub acceptance_issue: String,
    pub conversation_issue: i64,
    pub owner: String,
    pub plan_id: i64,
    pub state: Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    /// Whether a flag change Rampart asked for is not applied yet (waiting or failed).
    pub flag_change_pending: bool,
}

/// What identifies a migration and how it rolls out, as written by a create or an edit.
pub struct MigrationFields {
    pub flag_name: String,
    pub grpc_service: String,
    pub grpc_method: String,
    pub gitaly_version: String,
    pub gitlab_version: String,
    pub routes: Vec<String>,
    pub acceptance_issue: String,
    pub conversation_issue: i64,
    pub owner: String,
    pub plan_id: i64,
}

/// The stage machine's state and its copies in columns.
pub struct StoredState<'a> {
    pub state: &'a Value,
    pub status: &'a str,
    pub stage_key: Option<&'a str>,
}

/// Every migration not yet completed, oldest first.
pub async fn fetch_in_flight(db: impl PgExecutor<'_>) -> Result<Vec<MigrationRow>, sqlx::Error> {
    sqlx::query_as!(
        MigrationRow,
        // language=PostgreSQL
        r#"SELECT m.id, m.flag_name, m.grpc_service, m.grpc_method, m.gitaly_version,
                  m.gitlab_version, m.routes, m.acceptance_issue, m.conversation_issue, m.owner,
                  m.plan_id, m.state, m.version, m.created_at, m.updated_at, m.updated_by,
                  EXISTS (SELECT 1 FROM flag_changes c
                          WHERE c.migration_id = m.id AND c.status IN ('pending', 'failed')) AS "flag_change_pending!"
           FROM migrations m
           WHERE m.completed_at IS NULL
           ORDER BY m.created_at, m.flag_name"#
    )
    .fetch_all(db)
    .await
}

/// What changes with every change to an in-flight migration's portfolio row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightVersion {
    pub id: i64,
    pub version: i64,
    pub flag_change_pending: bool,
}

impl InFlightVersion {
    pub fn of(row: &MigrationRow) -> Self {
        Self {
            id: row.id,
            version: row.version,
            flag_change_pending: row.flag_change_pending,
        }
    }
}

/// Each in-flight migration's [`InFlightVersion`], in [`fetch_in_flight`]'s order.
pub async fn fetch_in_flight_versions(
    db: impl PgExecutor<'_>,
) -> Result<Vec<InFlightVersion>, sqlx::Error> {
    sqlx::query_as!(
        InFlightVersion,
        // language=PostgreSQL
        r#"SELECT m.id, m.version,
                  EXISTS (SELECT 1 FROM flag_changes c
                          WHERE c.migration_id = m.id AND c.status IN ('pending', 'failed')) AS "flag_change_pending!"
           FROM migrations m
           WHERE m.completed_at IS NULL
           ORDER BY m.created_at, m.flag_name"#
    )
    .fetch_all(db)
    .await
}

/// Every migration that is over: completed, or stopped by the kill switch and not resumed
/// (rolled back).
pub async fn fetch_finished(db: impl PgExecutor<'_>) -> Result<Vec<MigrationRow>, sqlx::Error> {
    sqlx::query_as!(
        MigrationRow,
        // language=PostgreSQL
        r#"SELECT m.id, m.flag_name, m.grpc_service, m.grpc_method, m.gitaly_version,
                  m.gitlab_version, m.routes, m.acceptance_issue, m.conversation_issue, m.owner,
                  m.plan_id, m.state, m.version, m.created_at, m.updated_at, m.updated_by,
                  false AS "flag_change_pending!"
           FROM migrations m
           WHERE m.completed_at IS NOT NULL OR m.status = 'disabled'
           ORDER BY m.flag_name"#
    )
    .fetch_all(db)
    .await
}

/// One migration by its flag.
pub async fn fetch_by_flag(
    db: impl PgExecutor<'_>,
    flag: &str,
) -> Result<Option<MigrationRow>, sqlx::Error> {
    sqlx::query_as!(
        MigrationRow,
        // language=PostgreSQL
        r#"SELECT m.id, m.flag_name, m.grpc_service, m.grpc_method, m.gitaly_version,
                  m.gitlab_version, m.routes, m.acceptance_issue, m.conversation_issue, m.owner,
                  m.plan_id, m.state, m.version, m.created_at, m.updated_at, m.updated_by,
                  EXISTS (SELECT 1 FROM flag_changes c
                          WHERE c.migration_id = m.id AND c.status IN ('pending', 'failed')) AS "flag_change_pending!"
           FROM migrations m
           WHERE m.flag_name = $1"#,
        flag
    )
    .fetch_optional(db)
    .await
}

/// One migration by its flag, locked until the transaction ends: the one way to change it.
pub async fn lock_by_flag(
    tx: &mut PgConnection,
    flag: &str,
) -> Result<Option<MigrationRow>, sqlx::Error> {
    // language=PostgreSQL
    let locked = sqlx::query_scalar!(
        "SELECT id FROM migrations WHERE flag_name = $1 FOR UPDATE",
        flag
    )
    .fetch_optional(&mut *tx)
    .await?;
    match locked {
        Some(_) => fetch_by_flag(tx, flag).await,
        None => Ok(None),
    }
}

/// Inserts a migration unless one with the same flag exists; returns its id when it was inserted.
pub async fn insert_migration(
    db: impl PgExecutor<'_>,
    fields: &MigrationFields,
    state: &StoredState<'_>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO migrations (flag_name, grpc_service, grpc_method, gitaly_version,
                                   gitlab_version, routes, acceptance_issue, conversation_issue,
                                   owner, plan_id, state, status, stage_key,
                                   created_at, created_by, updated_at, updated_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $14, $15)
           ON CONFLICT (flag_name) DO NOTHING
           RETURNING id"#,
        fields.flag_name,
        fields.grpc_service,
        fields.grpc_method,
        fields.gitaly_version,
        fields.gitlab_version,
        &fields.routes,
        fields.acceptance_issue,
        fields.conversation_issue,
        fields.owner,
        fields.plan_id,
        state.state,
        state.status,
        state.stage_key,
        at,
        by,
    )
    .fetch_optional(db)
    .await
}

/// Writes an edit of a locked migration and counts a new version.
pub async fn update_fields(
    tx: &mut PgConnection,
    id: i64,
    fields: &MigrationFields,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE migrations
           SET grpc_service = $2, grpc_method = $3, gitaly_version = $4, gitlab_version = $5,
               routes = $6, acceptance_issue = $7, conversation_issue = $8, owner = $9, plan_id = $10,
               version = version + 1, updated_at = $11, updated_by = $12
           WHERE id = $1"#,
        id,
        fields.grpc_service,
        fields.grpc_method,
        fields.gitaly_version,
        fields.gitlab_version,
        &fields.routes,
        fields.acceptance_issue,
        fields.conversation_issue,
        fields.owner,
        fields.plan_id,
        at,
        by,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Writes a locked migration's new state and counts a new version.
pub async fn update_state(
    tx: &mut PgConnection,
    id: i64,
    state: &StoredState<'_>,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE migrations
           SET state = $2, status = $3, stage_key = $4,
               completed_at = CASE WHEN $3 = 'completed' THEN coalesce(completed_at, $5) END,
               version = version + 1, updated_at = $5, updated_by = $6
           WHERE id = $1"#,
        id,
        state.state,
        state.status,
        state.stage_key,
        at,
        by,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Counts a new version of a locked migration whose other records changed (a flag change
/// confirmed), so pages that show it know to read it again.
pub async fn touch(
    tx: &mut PgConnection,
    id: i64,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE migrations SET version = version + 1, updated_at = $2, updated_by = $3
           WHERE id = $1"#,
        id,
        at,
        by,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Whether any migration exists, completed or not.
pub async fn any_exist(db: impl PgExecutor<'_>) -> Result<bool, sqlx::Error> {
    // language=PostgreSQL
    let exists = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM migrations) AS "exists!""#)
        .fetch_one(db)
        .await?;
    Ok(exists)
}
