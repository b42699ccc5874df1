//! Kills and their reviews: a kill is its `migration.disabled` audit entry, and a release manager's
//! review of it is kept beside it (`kill_reviews`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

pub struct KillRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub after: Option<Value>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

/// The kills of `subject` (a migration), newest first, with their reviews.
pub async fn fetch_for_subject(
    db: impl PgExecutor<'_>,
    subject: &str,
) -> Result<Vec<KillRow>, sqlx::Error> {
    sqlx::query_as!(
        KillRow,
        // language=PostgreSQL
        r#"SELECT a.id, a.at, a.actor, a.after,
                  r.reviewed_by AS "reviewed_by?", r.reviewed_at AS "reviewed_at?",
                  r.note AS "note?"
           FROM audit_log a LEFT JOIN kill_reviews r ON r.audit_id = a.id
           WHERE a.subject = $1 AND a.action = 'migration.disabled'
           ORDER BY a.id DESC"#,
        subject
    )
    .fetch_all(db)
    .await
}

/// Records the review of kill `id` of `subject`; `false` when there is no such kill or it was
/// reviewed already.
pub async fn insert(
    tx: &mut PgConnection,
    subject: &str,
    id: i64,
    by: &str,
    note: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query!(
        // language=PostgreSQL
        r#"INSERT INTO kill_reviews (audit_id, reviewed_by, reviewed_at, note)
           SELECT id, $3, $4, $5 FROM audit_log
           WHERE id = $2 AND subject = $1 AND action = 'migration.disabled'
           ON CONFLICT (audit_id) DO NOTHING"#,
        subject,
        id,
        by,
        at,
        note
    )
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
