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

/// How many times each of `actions` was recorded about each of `subjects`.
pub async fn count_actions(
    executor: impl PgExecutor<'_>,
    subjects: &[String],
    actions: &[&str],
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    let actions: Vec<String> = actions.iter().map(|a| (*a).to_owned()).collect();
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"SELECT subject, action, count(*) AS "count!"
           FROM audit_log
           WHERE subject = ANY($1) AND action = ANY($2)
           GROUP BY subject, action"#,
        subjects,
        &actions
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.subject, row.action, row.count))
        .collect())
}

/// What to search the log for; `None` matches anything. `action` matches an action or every
/// action under it (`migration` matches `migration.advanced`).
pub struct AuditSearch<'a> {
    pub subject: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub action: Option<&'a str>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this (time, id), in the search's order.
    pub before: Option<(DateTime<Utc>, i64)>,
    pub limit: i64,
}

/// Entries matching `search`, newest first.
pub async fn search(
    executor: impl PgExecutor<'_>,
    search: &AuditSearch<'_>,
) -> Result<Vec<AuditRecord>, sqlx::Error> {
    sqlx::query_as!(
        AuditRecord,
        // language=PostgreSQL
        r#"SELECT id, at, actor, action, subject, after
           FROM audit_log
           WHERE ($1::text IS NULL OR subject = $1)
             AND ($2::text IS NULL OR lower(actor) = lower($2))
             AND ($3::text IS NULL OR action = $3 OR action LIKE $3 || '.%')
             AND ($4::timestamptz IS NULL OR at >= $4)
             AND ($5::timestamptz IS NULL OR at < $5)
             AND ($7::timestamptz IS NULL OR (at, id) < ($7, $8))
           ORDER BY at DESC, id DESC
           LIMIT $6"#,
        search.subject,
        search.actor,
        search.action,
        search.from,
        search.until,
        search.limit,
        search.before.map(|(at, _)| at),
        search.before.map_or(0, |(_, id)| id)
    )
    .fetch_all(executor)
    .await
}
