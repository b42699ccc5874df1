//! The guardrail's evaluations and its observe-only switch.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

/// How long a claim holds before another replica may take the evaluation over (its replica
/// died mid-evaluation): an evaluation is made by exactly one replica, never by none.
const CLAIM_HOLDS_SECONDS: f64 = 30.0;

/// Claims the evaluation of `migration_id` for the interval starting `period_start`; the row's
/// id when this replica is to make it.
pub async fn claim(
    db: impl PgExecutor<'_>,
    migration_id: i64,
    period_start: DateTime<Utc>,
    replica: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"INSERT INTO guardrail_evaluations (migration_id, period_start, claimed_by, claimed_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (migration_id, period_start) DO UPDATE
               SET claimed_by = EXCLUDED.claimed_by, claimed_at = EXCLUDED.claimed_at
               WHERE guardrail_evaluations.evaluated_at IS NULL
                 AND guardrail_evaluations.claimed_at < EXCLUDED.claimed_at - make_interval(secs => $5)
           RETURNING id"#,
        migration_id,
        period_start,
        replica,
        now,
        CLAIM_HOLDS_SECONDS,
    )
    .fetch_optional(db)
    .await
}

/// The failing streak of the last evaluation of `migration_id` on stage `stage_key`.
pub async fn last_streak(
    db: impl PgExecutor<'_>,
    migration_id: i64,
    stage_key: &str,
) -> Result<u32, sqlx::Error> {
    let streak = sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT failing_streak FROM guardrail_evaluations
           WHERE migration_id = $1 AND stage_key = $2 AND evaluated_at IS NOT NULL
           ORDER BY evaluated_at DESC LIMIT 1"#,
        migration_id,
        stage_key,
    )
    .fetch_optional(db)
    .await?;
    Ok(streak.map_or(0, |s| u32::try_from(s).unwrap_or(0)))
}

pub struct Evaluated<'a> {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub stage_key: &'a str,
    pub environment: &'a str,
    pub verdict: &'a str,
    pub failing_streak: u32,
    pub evidence: Value,
    pub action: Option<&'a str>,
}

pub async fn record(db: impl PgExecutor<'_>, done: Evaluated<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        // language=PostgreSQL
        r#"UPDATE guardrail_evaluations
           SET evaluated_at = $2, stage_key = $3, environment = $4, verdict = $5,
               failing_streak = $6, evidence = $7, action = $8
           WHERE id = $1"#,
        done.id,
        done.at,
        done.stage_key,
        done.environment,
        done.verdict,
        i32::try_from(done.failing_streak).unwrap_or(i32::MAX),
        done.evidence,
        done.action,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub struct EvaluationRow {
    pub evaluated_at: DateTime<Utc>,
    pub stage_key: String,
    pub verdict: String,
    pub failing_streak: i32,
    pub evidence: Value,
    pub action: Option<String>,
}

/// The latest evaluation of `migration_id`, and the latest that acted (or would have).
pub async fn latest(
    db: impl PgExecutor<'_>,
    migration_id: i64,
) -> Result<Vec<EvaluationRow>, sqlx::Error> {
    sqlx::query_as!(
        EvaluationRow,
        // language=PostgreSQL
        r#"(SELECT evaluated_at AS "evaluated_at!", stage_key AS "stage_key!", verdict AS "verdict!",
                   failing_streak AS "failing_streak!", evidence AS "evidence!", action
            FROM guardrail_evaluations
            WHERE migration_id = $1 AND evaluated_at IS NOT NULL
            ORDER BY evaluated_at DESC LIMIT 1)
           UNION ALL
           (SELECT evaluated_at AS "evaluated_at!", stage_key AS "stage_key!", verdict AS "verdict!",
                   failing_streak AS "failing_streak!", evidence AS "evidence!", action
            FROM guardrail_evaluations
            WHERE migration_id = $1 AND evaluated_at IS NOT NULL AND action IS NOT NULL
            ORDER BY evaluated_at DESC LIMIT 1)"#,
        migration_id,
    )
    .fetch_all(db)
    .await
}

pub async fn observe_only(db: impl PgExecutor<'_>, migration_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        // language=PostgreSQL
        r#"SELECT EXISTS (SELECT 1 FROM guardrail_observe_only WHERE migration_id = $1) AS "set!""#,
        migration_id,
    )
    .fetch_one(db)
    .await
}

pub async fn set_observe_only(
    db: impl PgExecutor<'_>,
    migration_id: i64,
    observe_only: bool,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if observe_only {
        sqlx::query!(
            // language=PostgreSQL
            r#"INSERT INTO guardrail_observe_only (migration_id, set_by, set_at) VALUES ($1, $2, $3)
               ON CONFLICT (migration_id) DO NOTHING"#,
            migration_id,
            by,
            at,
        )
        .execute(db)
        .await?;
    } else {
        sqlx::query!(
            // language=PostgreSQL
            "DELETE FROM guardrail_observe_only WHERE migration_id = $1",
            migration_id,
        )
        .execute(db)
        .await?;
    }
    Ok(())
}
