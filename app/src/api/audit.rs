//! The audit log, searched: by migration, person, action and time.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::api::migration::AuditRow;
use crate::error::AppError;

/// The audit page's filter, as its URL carries it. Empty means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditFilter {
    /// A migration's flag.
    pub migration: String,
    /// Who acted.
    pub actor: String,
    /// The action's name or its start: `migration.advanced`, `migration`, `user`.
    pub action: String,
    /// Days, inclusive, in UTC: `2026-11-01`.
    pub from: String,
    pub to: String,
}

/// How many entries a search returns at most; the page says when there are more.
pub const AUDIT_LIMIT: i64 = 500;

/// The filter checked: the subject, and the time range as instants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    pub subject: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// At most this many, newest first: [`AUDIT_LIMIT`] for a page.
    pub limit: i64,
    /// Only entries older than this one (its time and id): the next page after it.
    pub before: Option<(DateTime<Utc>, i64)>,
}

impl AuditFilter {
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> AuditFilter {
        let text = |name: &str| get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        AuditFilter {
            migration: text("migration"),
            actor: text("actor"),
            action: text("action"),
            from: text("from"),
            to: text("to"),
        }
    }

    pub fn to_query(&self) -> String {
        [
            ("migration", &self.migration),
            ("actor", &self.actor),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", crate::api::session::query_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// Checks the dates; an unreadable one is an error for its field, not "any".
    pub fn parse(&self) -> Result<AuditQuery, AppError> {
        let day = |field: &str, text: &str| -> Result<Option<NaiveDate>, AppError> {
            if text.is_empty() {
                return Ok(None);
            }
            // Years a log can hold (and PostgreSQL can store): chrono reads far wider ones.
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .filter(|date| (1970..=9999).contains(&date.year()))
                .map(Some)
                .ok_or_else(|| {
                    AppError::invalid(field, format!("'{text}' is not a date such as 2026-11-25"))
                })
        };
        let from = day("from", &self.from)?;
        let to = day("to", &self.to)?;
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            return Err(AppError::invalid("to", "the end is before the start"));
        }
        let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        Ok(AuditQuery {
            subject: some(&self.migration).map(|flag| format!("migration:{flag}")),
            actor: some(&self.actor),
            action: some(&self.action),
            from: from
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            until: to
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc()),
            limit: AUDIT_LIMIT,
            before: None,
        })
    }
}

/// The entries the filter matches, newest first, at most [`AUDIT_LIMIT`].
#[server(endpoint = "search_audit")]
pub async fn search_audit(filter: AuditFilter) -> Result<Vec<AuditRow>, AppError> {
    use crate::api::{services::services, session::require};
    require(rollout::Permission::Read)?;
    let query = filter.parse()?;
    services()?.migrations.audit(&query).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_become_a_half_open_range_of_whole_days() {
        let filter = AuditFilter {
            migration: "gitaly_x".into(),
            from: "2026-11-01".into(),
            to: "2026-11-02".into(),
            ..AuditFilter::default()
        };
        let query = filter.parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(query.subject.as_deref(), Some("migration:gitaly_x"));
        assert_eq!(
            query.from.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-01T00:00:00+00:00")
        );
        assert_eq!(
            query.until.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-03T00:00:00+00:00")
        );
    }

    #[test]
    fn a_bad_date_is_an_error_for_its_field() {
        let bad = AuditFilter {
            from: "yesterday".into(),
            ..AuditFilter::default()
        };
        assert_eq!(
            bad.parse(),
            Err(AppError::invalid(
                "from",
                "'yesterday' is not a date such as 2026-11-25"
            ))
        );
        let backwards = AuditFilter {
            from: "2026-11-05".into(),
            to: "2026-11-01".into(),
            ..AuditFilter::default()
        };
        assert!(matches!(
            backwards.parse(),
            Err(AppError::Validation { .. })
        ));
    }
}
