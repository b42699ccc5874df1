//! The portfolio: every migration in flight, one row each, and the filter that narrows it.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use rollout::{Environment, FlagValue, Health, Status};
use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumString, IntoStaticStr};

use crate::error::AppError;

/// Everything in flight, as of one instant (the server's clock, which the page keeps ticking).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Portfolio {
    pub as_of: DateTime<Utc>,
    /// Which reading of the in-flight migrations the rows come from (see [`PortfolioStamp`]).
    /// This replica's own count, so not sent: it means nothing to anyone else.
    #[serde(skip)]
    pub reading: u64,
    pub rows: Vec<PortfolioRow>,
}

impl Portfolio {
    pub fn stamp(&self) -> PortfolioStamp {
        PortfolioStamp {
            reading: self.reading,
            second: self.as_of.timestamp(),
        }
    }
}

/// What a portfolio shows depends on the migrations in flight and on the time, to the second (a
/// soak's progress, a check's lateness): two portfolios with the same stamp are the same. A
/// reading is numbered by the server process that made it, anew whenever any migration in flight
/// changed, through whichever replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortfolioStamp {
    pub reading: u64,
    pub second: i64,
}

/// One row of the portfolio: enough to see where a migration stands and whether it needs a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortfolioRow {
    pub flag: String,
    pub grpc_service: String,
    pub grpc_method: String,
    pub owner: String,
    pub status: Status,
    pub health: Health,
    /// The current stage's key and name; empty before the start.
    pub stage_key: String,
    pub stage_name: String,
    /// Where the trial runs now (the furthest environment whose flag is on) and its setting.
    pub serving: Option<(Environment, FlagValue)>,
    /// The plan's trials, for the compact timeline.
    pub trials: Vec<TrialMark>,
    /// The current stage's soak: share elapsed (0–1) and when it ends; none for stages without one.
    pub soak: Option<SoakProgress>,
    pub next_check: Option<CheckDue>,
    /// Nothing keeps the current stage from being left (versions aside, which come with the advance).
    pub ready_to_advance: bool,
    /// A flag change Rampart asked for has not been confirmed yet.
    pub flag_change_pending: bool,
    pub created_at: DateTime<Utc>,
}

impl PortfolioRow {
    /// `Service::Method`, as the acceptance-testing template writes it.
    pub fn method_name(&self) -> String {
        format!("{}::{}", self.grpc_service, self.grpc_method)
    }
}

/// One trial of a plan on the compact timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialMark {
    /// "dev", "stg", "5%".
    pub label: String,
    pub place: Place,
}

/// Where a stage is relative to the migration's current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    Passed,
    Current,
    Ahead,
}

/// When the stage's next look is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckDue {
    pub at: DateTime<Utc>,
    /// A look the cadence repeats can be late; a stage's single look (the dev trial's) is due
    /// from its start and never overdue.
    pub can_be_late: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoakProgress {
    pub progress: f64,
    pub ends_at: DateTime<Utc>,
}

/// The order of the portfolio.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    EnumIter,
    EnumString,
    IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SortKey {
    /// Worst health first, then the check due soonest: what needs a person comes first.
    #[default]
    NextCheck,
    Flag,
    /// Furthest along first.
    Stage,
    Owner,
    Started,
}

impl SortKey {
    pub fn all() -> impl Iterator<Item = SortKey> {
        <SortKey as strum::IntoEnumIterator>::iter()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::NextCheck => "Needs a person first",
            SortKey::Flag => "Flag",
            SortKey::Stage => "Furthest along",
            SortKey::Owner => "Owner",
            SortKey::Started => "Newest",
        }
    }

    fn compare(self, a: &PortfolioRow, b: &PortfolioRow) -> Ordering {
        let by_flag = || a.flag.cmp(&b.flag);
        match self {
            SortKey::NextCheck => a
                .health
                .cmp(&b.health)
                .then_with(
                    || match (a.next_check.map(|c| c.at), b.next_check.map(|c| c.at)) {
                        (Some(x), Some(y)) => x.cmp(&y),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => Ordering::Equal,
                    },
                )
                .then_with(by_flag),
            SortKey::Flag => by_flag(),
            SortKey::Stage => progress(b).cmp(&progress(a)).then_with(by_flag),
            SortKey::Owner => a.owner.cmp(&b.owner).then_with(by_flag),
            SortKey::Started => b.created_at.cmp(&a.created_at).then_with(by_flag),
        }
    }
}

/// How far along a row is: trials passed, and whether it is in one.
fn progress(row: &PortfolioRow) -> usize {
    row.trials
        .iter()
        .map(|mark| match mark.place {
            Place::Passed => 2,
            Place::Current => 1,
            Place::Ahead => 0,
        })
        .sum()
}

/// The portfolio's filter and order, as the page's URL query carries them so a link shares the
/// view: `?q=commit&environment=production&health=attention&sort=flag`. Empty means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortfolioView {
    /// Part of the flag or of `Service::Method`, any case.
    pub q: String,
    pub stage: String,
    pub environment: String,
    pub health: String,
    pub owner: String,
    pub service: String,
    pub sort: SortKey,
}

impl PortfolioView {
    /// From the URL's query parameters; an unknown sort is the default one.
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> PortfolioView {
        let text = |name: &str| get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        PortfolioView {
            // As typed, spaces and all: the search box shows it back while someone types.
            q: get("q").unwrap_or_default(),
            stage: text("stage"),
            environment: text("environment"),
            health: text("health"),
            owner: text("owner"),
            service: text("service"),
            sort: text("sort").parse().unwrap_or_default(),
        }
    }

    /// The non-empty parameters, ready for the URL (`q=…&sort=…`), without the default sort.
    pub fn to_query(&self) -> String {
        let sort = if self.sort == SortKey::default() {
            ""
        } else {
            self.sort.as_str()
        };
        [
            ("q", self.q.as_str()),
            ("stage", &self.stage),
            ("environment", &self.environment),
            ("health", &self.health),
            ("owner", &self.owner),
            ("service", &self.service),
            ("sort", sort),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", crate::api::session::query_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
    }

    pub fn matches(&self, row: &PortfolioRow) -> bool {
        let q = self.q.trim().to_lowercase();
        let environment = row.serving.map_or("", |(e, _)| e.as_str());
        (q.is_empty()
            || row.flag.to_lowercase().contains(&q)
            || row.method_name().to_lowercase().contains(&q))
            && (self.stage.is_empty() || row.stage_key == self.stage)
            && (self.environment.is_empty() || environment == self.environment)
            && (self.health.is_empty() || row.health.as_str() == self.health)
            && (self.owner.is_empty() || row.owner.eq_ignore_ascii_case(&self.owner))
            && (self.service.is_empty() || row.grpc_service == self.service)
    }

    /// The rows this view shows, in its order.
    pub fn apply<'r>(&self, rows: &'r [PortfolioRow]) -> Vec<&'r PortfolioRow> {
        let mut shown: Vec<&PortfolioRow> = rows.iter().filter(|row| self.matches(row)).collect();
        shown.sort_by(|a, b| self.sort.compare(a, b));
        shown
    }
}

#[server(endpoint = "list_migrations")]
pub async fn list_migrations() -> Result<Portfolio, AppError> {
    use crate::api::{services::services, session::require};
    require(rollout::Permission::Read)?;
    services()?.migrations.portfolio().await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn row(flag: &str, service: &str, method: &str) -> PortfolioRow {
        PortfolioRow {
            flag: flag.to_owned(),
            grpc_service: service.to_owned(),
            grpc_method: method.to_owned(),
            owner: "erin".to_owned(),
            status: Status::Active,
            health: Health::Healthy,
            stage_key: "staging".to_owned(),
            stage_name: "Staging trial".to_owned(),
            serving: Some((Environment::Staging, FlagValue::On)),
            trials: Vec::new(),
            soak: None,
            next_check: None,
            ready_to_advance: false,
            flag_change_pending: false,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn view(query: &[(&str, &str)]) -> PortfolioView {
        let map: HashMap<String, String> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        PortfolioView::from_query(|name| map.get(name).cloned())
    }

    #[test]
    fn search_matches_flag_or_method_ignoring_case_and_blanks() {
        let row = row("gitaly_find_commit_v2", "CommitService", "FindCommit");
        assert!(view(&[]).matches(&row));
        assert!(view(&[("q", "  ")]).matches(&row));
        assert!(view(&[("q", "find_commit")]).matches(&row));
        assert!(view(&[("q", "commitservice::")]).matches(&row));
        assert!(view(&[("q", " FindCommit ")]).matches(&row));
        assert!(!view(&[("q", "ListRefs")]).matches(&row));
    }

    #[test]
    fn every_filter_narrows_by_its_own_field() {
        let row = row("gitaly_find_commit_v2", "CommitService", "FindCommit");
        assert!(view(&[("environment", "staging"), ("health", "healthy")]).matches(&row));
        assert!(!view(&[("environment", "production")]).matches(&row));
        assert!(!view(&[("health", "failing")]).matches(&row));
        assert!(view(&[("owner", "ERIN")]).matches(&row));
        assert!(!view(&[("owner", "rita")]).matches(&row));
        assert!(view(&[("service", "CommitService")]).matches(&row));
        assert!(!view(&[("service", "RefService")]).matches(&row));
        assert!(view(&[("stage", "staging")]).matches(&row));
        assert!(!view(&[("stage", "production_5")]).matches(&row));
    }

    #[test]
    fn the_query_round_trips_and_leaves_out_what_is_empty_or_default() {
        let shared = view(&[
            ("q", "find commit&co"),
            ("health", "attention"),
            ("sort", "flag"),
        ]);
        let query = shared.to_query();
        assert_eq!(query, "q=find%20commit%26co&health=attention&sort=flag");
        assert_eq!(view(&[("sort", "next_check")]).to_query(), "");
        assert_eq!(view(&[("sort", "nonsense")]).sort, SortKey::NextCheck);
    }

    #[test]
    fn by_default_what_needs_a_person_comes_first() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let mut failing = row("b_failing", "S", "M");
        failing.health = Health::Failing;
        let mut soon = row("c_soon", "S", "M");
        soon.next_check = Some(CheckDue {
            at,
            can_be_late: true,
        });
        let mut later = row("a_later", "S", "M");
        later.next_check = Some(CheckDue {
            at: at + chrono::TimeDelta::minutes(5),
            can_be_late: true,
        });
        let unwatched = row("d_unwatched", "S", "M");
        let rows = vec![unwatched, later, soon, failing];
        let order: Vec<&str> = view(&[])
            .apply(&rows)
            .iter()
            .map(|r| r.flag.as_str())
            .collect();
        assert_eq!(order, ["b_failing", "c_soon", "a_later", "d_unwatched"]);
        let by_flag: Vec<&str> = view(&[("sort", "flag")])
            .apply(&rows)
            .iter()
            .map(|r| r.flag.as_str())
            .collect();
        assert_eq!(by_flag, ["a_later", "b_failing", "c_soon", "d_unwatched"]);
    }
}
