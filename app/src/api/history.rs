//! The history of finished migrations, for managers: how long each took, where it waited, and
//! what went wrong on the way.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumString, IntoStaticStr};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub flag: String,
    pub method: String,
    pub owner: String,
    pub outcome: Outcome,
    pub started_at: DateTime<Utc>,
    /// Completed, or (rolled back) when the flag was turned off.
    pub ended_at: DateTime<Utc>,
    /// From the first production percentage to 100 %; none when it never got there.
    pub lead_time_seconds: Option<i64>,
    /// Each stage of the plan that ran: time spent against the soak it required.
    pub stages: Vec<StageTime>,
    pub pauses: i64,
    pub rollbacks: i64,
    pub overrides: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    /// Killed, and not resumed since.
    RolledBack,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::RolledBack => "rolled back",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageTime {
    pub key: String,
    pub name: String,
    pub actual_seconds: i64,
    pub required_seconds: i64,
}

impl StageTime {
    /// "Staging trial 20 min of 15 min", "Preparation 2 min".
    pub fn text(&self) -> String {
        use rollout::duration::format_duration;
        let actual = format_duration(chrono::TimeDelta::seconds(self.actual_seconds));
        if self.required_seconds > 0 {
            let required = format_duration(chrono::TimeDelta::seconds(self.required_seconds));
            format!("{} {actual} of {required}", self.name)
        } else {
            format!("{} {actual}", self.name)
        }
    }

    /// Left before its soak was over (a release manager's override).
    pub fn short(&self) -> bool {
        self.actual_seconds < self.required_seconds
    }
}

/// The history table's columns, in order: the page and the CSV export use the same.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    EnumIter,
    EnumString,
    IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HistoryColumn {
    Flag,
    Method,
    Owner,
    Outcome,
    Started,
    #[default]
    Ended,
    LeadTime,
    Pauses,
    Rollbacks,
    Overrides,
    /// Time in each stage, against the soak it required.
    Stages,
}

impl HistoryColumn {
    pub fn all() -> impl Iterator<Item = HistoryColumn> {
        <HistoryColumn as strum::IntoEnumIterator>::iter()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn label(self) -> &'static str {
        match self {
            HistoryColumn::Flag => "Flag",
            HistoryColumn::Method => "Method",
            HistoryColumn::Owner => "Owner",
            HistoryColumn::Outcome => "Outcome",
            HistoryColumn::Started => "Started",
            HistoryColumn::Ended => "Ended",
            HistoryColumn::LeadTime => "Lead time (h)",
            HistoryColumn::Pauses => "Pauses",
            HistoryColumn::Rollbacks => "Rollbacks",
            HistoryColumn::Overrides => "Overrides",
            HistoryColumn::Stages => "Time in stages",
        }
    }

    /// The cell as text: what the CSV holds. Times in UTC (RFC 3339), lead time in hours.
    pub fn text(self, row: &HistoryRow) -> String {
        match self {
            HistoryColumn::Flag => row.flag.clone(),
            HistoryColumn::Method => row.method.clone(),
            HistoryColumn::Owner => row.owner.clone(),
            HistoryColumn::Outcome => row.outcome.label().to_owned(),
            HistoryColumn::Started => row.started_at.to_rfc3339(),
            HistoryColumn::Ended => row.ended_at.to_rfc3339(),
            HistoryColumn::LeadTime => row
                .lead_time_seconds
                .map(|s| format!("{:.1}", s as f64 / 3600.0))
                .unwrap_or_default(),
            HistoryColumn::Pauses => row.pauses.to_string(),
            HistoryColumn::Rollbacks => row.rollbacks.to_string(),
            HistoryColumn::Overrides => row.overrides.to_string(),
            HistoryColumn::Stages => row
                .stages
                .iter()
                .map(StageTime::text)
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// Sorts `rows` by this column: newest, longest and most first; text A to Z.
    pub fn sort(self, rows: &mut [HistoryRow]) {
        use std::cmp::Reverse;
        match self {
            HistoryColumn::Flag => rows.sort_by(|a, b| a.flag.cmp(&b.flag)),
            HistoryColumn::Method => rows.sort_by(|a, b| a.method.cmp(&b.method)),
            HistoryColumn::Owner => rows.sort_by(|a, b| a.owner.cmp(&b.owner)),
            HistoryColumn::Outcome => rows.sort_by_key(|r| r.outcome.label()),
            HistoryColumn::Started => rows.sort_by_key(|r| Reverse(r.started_at)),
            HistoryColumn::Ended => rows.sort_by_key(|r| Reverse(r.ended_at)),
            HistoryColumn::LeadTime => rows.sort_by_key(|r| Reverse(r.lead_time_seconds)),
            HistoryColumn::Pauses => rows.sort_by_key(|r| Reverse(r.pauses)),
            HistoryColumn::Rollbacks => rows.sort_by_key(|r| Reverse(r.rollbacks)),
            HistoryColumn::Overrides => rows.sort_by_key(|r| Reverse(r.overrides)),
            HistoryColumn::Stages => {
                rows.sort_by_key(|r| {
                    Reverse(r.stages.iter().map(|s| s.actual_seconds).sum::<i64>())
                });
            }
        }
    }
}

/// The rows as CSV, in `sort` order: a header of the column labels, then one line per row.
pub fn history_csv(rows: &[HistoryRow]) -> String {
    let mut lines = vec![csv_line(HistoryColumn::all().map(|c| c.label().to_owned()))];
    lines.extend(
        rows.iter()
            .map(|row| csv_line(HistoryColumn::all().map(|c| c.text(row)))),
    );
    lines.join("\r\n") + "\r\n"
}

/// One CSV line (RFC 4180): a field with a comma, quote or line break is quoted, its quotes
/// doubled. A field that a spreadsheet would run as a formula gets a leading quote mark.
pub fn csv_line(fields: impl Iterator<Item = String>) -> String {
    fields
        .map(|field| {
            let field = if field.starts_with(['=', '+', '-', '@']) {
                format!("'{field}")
            } else {
                field
            };
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[server(endpoint = "get_history")]
pub async fn get_history() -> Result<Vec<HistoryRow>, AppError> {
    use crate::api::{services::services, session::require};
    require(rollout::Permission::Export)?;
    services()?.migrations.history().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let line = csv_line(
            ["plain", "a,b", "say \"hi\"", "=cmd()", "two\nlines"]
                .into_iter()
                .map(str::to_owned),
        );
        assert_eq!(
            line,
            "plain,\"a,b\",\"say \"\"hi\"\"\",'=cmd(),\"two\nlines\""
        );
    }
}
