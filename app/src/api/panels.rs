//! What the dashboards show, for one migration's current stage: the metrics charts, the log
//! counts and the Sentry issues, each with its deep link, and each either its data or the reason
//! it has none ("unavailable: …"). A panel never fails the page.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use rollout::{Environment, Link};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The span the charts cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChartWindow {
    Hour,
    SixHours,
    Day,
    Week,
    /// Since the current stage began, with some time before it for comparison.
    #[default]
    Stage,
}

impl ChartWindow {
    pub const ALL: [ChartWindow; 5] = [
        ChartWindow::Hour,
        ChartWindow::SixHours,
        ChartWindow::Day,
        ChartWindow::Week,
        ChartWindow::Stage,
    ];

    /// As it appears in the address: `?window=6h`.
    pub fn key(self) -> &'static str {
        match self {
            ChartWindow::Hour => "1h",
            ChartWindow::SixHours => "6h",
            ChartWindow::Day => "24h",
            ChartWindow::Week => "7d",
            ChartWindow::Stage => "stage",
        }
    }

    /// An unknown key is the default: an old or mistyped link still shows the page.
    pub fn from_key(key: &str) -> ChartWindow {
        Self::ALL
            .into_iter()
            .find(|window| window.key() == key)
            .unwrap_or_default()
    }

    pub fn label(self) -> &'static str {
        match self {
            ChartWindow::Hour => "1 h",
            ChartWindow::SixHours => "6 h",
            ChartWindow::Day => "24 h",
            ChartWindow::Week => "7 d",
            ChartWindow::Stage => "Stage",
        }
    }

    /// The fixed span, for all but the stage's.
    pub fn seconds(self) -> Option<i64> {
        match self {
            ChartWindow::Hour => Some(3600),
            ChartWindow::SixHours => Some(6 * 3600),
            ChartWindow::Day => Some(24 * 3600),
            ChartWindow::Week => Some(7 * 24 * 3600),
            ChartWindow::Stage => None,
        }
    }
}

/// A migration's panels. `environment` is `None` before the rollout reaches an environment (and
/// after it is done): there is nothing to watch yet, and `charts` are empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Panels {
    pub environment: Option<Environment>,
    pub window: ChartWindow,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub charts: Vec<Chart>,
    /// Where the flag changed, and the stage began, within the window.
    pub markers: Vec<Marker>,
    /// The counts' window: the stage's log window ("2 h").
    pub counts_label: String,
    pub counts: Vec<CountTile>,
    /// Refreshed at most this often, however many people watch.
    pub refresh_seconds: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Calls per second.
    PerSecond,
    /// A share, 0–1, shown as a percentage.
    Ratio,
    Seconds,
    /// CPU seconds per second.
    Cores,
}

impl Unit {
    /// `value` as a person reads it: "312/s", "0.41 %", "38 ms", "2.5 cores".
    pub fn format(self, value: f64) -> String {
        if !value.is_finite() {
            return "–".to_owned();
        }
        match self {
            Unit::PerSecond => format!("{}/s", significant(value)),
            Unit::Ratio => format!("{} %", significant(value * 100.0)),
            Unit::Seconds if value < 1.0 => format!("{} ms", significant(value * 1000.0)),
            Unit::Seconds => format!("{} s", significant(value)),
            Unit::Cores => format!("{} cores", significant(value)),
        }
    }
}

impl Unit {
    /// `value` as an axis tick, short: "200/s", "5 %", "200 ms", "2.5".
    pub fn tick(self, value: f64) -> String {
        let short = |v: f64| {
            let text = significant(v);
            if text.contains('.') {
                text.trim_end_matches('0').trim_end_matches('.').to_owned()
            } else {
                text
            }
        };
        match self {
            Unit::PerSecond => format!("{}/s", short(value)),
            Unit::Ratio => format!("{} %", short(value * 100.0)),
            Unit::Seconds if value < 1.0 && value > 0.0 => format!("{} ms", short(value * 1000.0)),
            Unit::Seconds => format!("{} s", short(value)),
            Unit::Cores => short(value),
        }
    }
}

/// Two or three significant digits, no more: a chart's reading, not a ledger's.
fn significant(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.1 || magnitude == 0.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// One chart: its lines, or why it has none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// Stable, for the page's ids: `call_rate`.
    pub key: String,
    pub title: String,
    pub unit: Unit,
    pub lines: Vec<Line>,
    /// "unavailable: Prometheus did not answer in time", when the source gave nothing.
    pub unavailable: Option<String>,
    /// The dashboard that shows it in full.
    pub link: Option<Link>,
}

/// A line of a chart. Points are `(unix seconds, value)`, oldest first; gaps are absent points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub at: DateTime<Utc>,
    pub label: String,
}

/// A number under the charts: log invocations or errors, or unresolved Sentry issues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountTile {
    pub key: String,
    /// "invocations", "Gitaly Sentry issues".
    pub label: String,
    pub count: Option<u64>,
    /// "3 of 40 shards failed: at least this many", when the count is a lower bound.
    pub partial: Option<String>,
    pub unavailable: Option<String>,
    pub link: Option<Link>,
    /// The first few Sentry issues, most recent first.
    pub issues: Vec<IssueSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueSummary {
    pub title: String,
    pub events: u64,
    /// `None` when Sentry sent a time Rampart cannot read.
    pub last_seen: Option<DateTime<Utc>>,
    pub link: String,
}

/// A migration's error rate over the last day, small, for the portfolio's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sparkline {
    pub flag: String,
    pub environment: Environment,
    /// Oldest first, one per half hour; gaps left out.
    pub points: Vec<f64>,
    pub unavailable: Option<String>,
}

#[server(endpoint = "migration_panels")]
pub async fn migration_panels(flag: String, window: ChartWindow) -> Result<Panels, AppError> {
    use crate::api::{services::services, session::require};
    require(rollout::Permission::Read)?;
    services()?.observability.panels(&flag, window).await
}

/// The error-rate sparkline of every migration in flight that watches an environment.
#[server(endpoint = "error_rate_sparklines")]
pub async fn error_rate_sparklines() -> Result<Vec<Sparkline>, AppError> {
    use crate::api::{services::services, session::require};
    require(rollout::Permission::Read)?;
    services()?.observability.sparklines().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_window_is_found_by_its_key_and_anything_else_is_the_stage() {
        for window in ChartWindow::ALL {
            assert_eq!(ChartWindow::from_key(window.key()), window);
        }
        assert_eq!(ChartWindow::from_key("3y"), ChartWindow::Stage);
    }

    #[test]
    fn values_read_as_people_say_them() {
        assert_eq!(Unit::PerSecond.format(312.4), "312/s");
        assert_eq!(Unit::Ratio.format(0.0041), "0.41 %");
        assert_eq!(Unit::Seconds.format(0.038), "38.0 ms");
        assert_eq!(Unit::Seconds.format(1.5), "1.50 s");
        assert_eq!(Unit::Cores.format(2.5), "2.50 cores");
        assert_eq!(Unit::Ratio.format(f64::NAN), "–");
        assert_eq!(Unit::Ratio.tick(0.05), "5 %");
        assert_eq!(Unit::Cores.tick(2.5), "2.5");
        assert_eq!(Unit::Seconds.tick(0.2), "200 ms");
        assert_eq!(Unit::PerSecond.tick(0.0), "0/s");
    }
}
