//! The append-only audit log: every change, with who made it and the record before and after.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

pub struct AuditEntry<'a> {
    /// The username who acted, or a bracketed name for Rampart itself (`[cli]`, `[demo]`).
    pub actor: &'a str,
    /// What happened, as a dotted lowercase name: `user.created`.
    pub action: &'a str,
    /// What it happened to: `user:alice`.
    pub subject: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Call with the transaction that makes the change, so the entry and the change land together.
pub async fn insert_audit(
    executor: impl PgExecutor<'_>,
    entry: &AuditEntry<'_>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO audit_log (at, actor, action, subject, before, after)
           VALUES ($1, $2, $3, $4, $5, $6)"#,
        at,
        entry.actor,
        entry.action,
        entry.subject,
        entry.before,
        entry.after
    )
    .execute(executor)
    .await?;
    Ok(())
}

pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub after: Option<Value>,
}

/// The latest entries about `subject`, newest first.
pub async fn fetch_for_subject(
    executor: impl PgExecutor<'_>,
    subject: &str,
    limit: i64,
) -> Result<Vec<AuditRecord>, sqlx::Error> {
    sqlx::query_as!(
        AuditRecord,
        // language=PostgreSQL
        r#"SELECT id, at, actor, action, subject, after
           FROM audit_log
           WHERE subject = $1
           ORDER BY at DESC, id DESC
           LIMIT $2"#,
        subject,
        limit
    )
    .fetch_all(executor)
    .await
}
