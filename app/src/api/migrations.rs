//! Server functions for reading migrations.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One row of the portfolio: enough to recognise a migration and see where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationSummary {
    pub id: i64,
    pub flag: String,
    /// `Service::Method`, as the acceptance-testing template writes it.
    pub grpc_method: String,
    /// The current stage's name, e.g. "Low impact 5 %".
    pub stage: String,
    pub stage_started_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
}

impl MigrationSummary {
    /// Whether the filter text (any case) is part of the flag or the method.
    pub fn matches(&self, filter: &str) -> bool {
        let filter = filter.trim().to_lowercase();
        filter.is_empty()
            || self.flag.to_lowercase().contains(&filter)
            || self.grpc_method.to_lowercase().contains(&filter)
    }
}

#[server(endpoint = "list_migrations")]
pub async fn list_migrations() -> Result<Vec<MigrationSummary>, AppError> {
    use crate::api::{services::services, session::require};
    require(rollout::Permission::Read)?;
    services()?.migrations.list_migrations().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(flag: &str, method: &str) -> MigrationSummary {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        MigrationSummary {
            id: 1,
            flag: flag.to_string(),
            grpc_method: method.to_string(),
            stage: "Staging trial".to_string(),
            stage_started_at: at,
            started_at: at,
        }
    }

    #[test]
    fn filter_matches_flag_or_method_ignoring_case_and_blanks() {
        let row = summary("gitaly_find_commit_v2", "CommitService::FindCommit");
        assert!(row.matches(""));
        assert!(row.matches("  "));
        assert!(row.matches("find_commit"));
        assert!(row.matches("commitservice::"));
        assert!(row.matches(" FindCommit "));
        assert!(!row.matches("ListRefs"));
    }
}
