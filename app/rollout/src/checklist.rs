//! The template's checkboxes as data: what has to be done in a stage, and the record that someone
//! did it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::{Environment, FlagValue, Stage};

/// One checkbox of the acceptance-testing template.
///
/// `key()` is stable (stored in the database, used in URLs); `label()` is for people.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CheckItem {
    /// Preparation: the routes that use the endpoint are listed.
    RoutesListed,
    /// The Gitaly version deployed in the stage's environment was looked at.
    GitalyVersionChecked,
    /// The GitLab version deployed in the stage's environment was looked at (`/help`).
    GitlabVersionChecked,
    /// Dev / staging: `!feature-set FLAG true` was run.
    FlagEnabled,
    /// Production: `/chatops run feature set FLAG N` was run.
    PercentageSet,
    /// The Grafana feature-status dashboard was checked.
    GrafanaChecked,
    /// Kibana: invocations of the method inspected for unusual activity.
    KibanaInvocationsInspected,
    /// Kibana: errors of the method inspected.
    KibanaErrorsInspected,
    /// Gitaly's Sentry project checked for errors.
    GitalySentryChecked,
    /// GitLab's Sentry project checked for errors.
    GitlabSentryChecked,
    /// Initial impact: an issue was created in the infrastructure tracker.
    InfrastructureIssueCreated,
    /// The template's "Continue?" (and, at 100 %, "Success?"): go on, or stop.
    ContinueDecision,
    /// Done: the acceptance issue was closed.
    AcceptanceIssueClosed,
    /// Done: the Conversation issue was labelled ~"Migration:Opt-In".
    ConversationLabelled,
}

impl CheckItem {
    /// Every variant, in declaration order.
    pub fn all() -> impl DoubleEndedIterator<Item = CheckItem> {
        <CheckItem as strum::IntoEnumIterator>::iter()
    }

    /// The five looks at the dashboards that the cadence asks for, in template order.
    pub const MONITORING: [CheckItem; 5] = [
        CheckItem::GrafanaChecked,
        CheckItem::KibanaInvocationsInspected,
        CheckItem::KibanaErrorsInspected,
        CheckItem::GitalySentryChecked,
        CheckItem::GitlabSentryChecked,
    ];

    pub fn key(self) -> &'static str {
        self.into()
    }

    pub fn from_key(key: &str) -> Option<CheckItem> {
        key.parse().ok()
    }

    pub fn label(self) -> &'static str {
        match self {
            CheckItem::RoutesListed => "Routes that use this endpoint listed",
            CheckItem::GitalyVersionChecked => "Deployed Gitaly version checked",
            CheckItem::GitlabVersionChecked => "Deployed GitLab version checked",
            CheckItem::FlagEnabled => "Flag enabled",
            CheckItem::PercentageSet => "Flag percentage set",
            CheckItem::GrafanaChecked => "Grafana feature status dashboard checked",
            CheckItem::KibanaInvocationsInspected => "Kibana invocations inspected",
            CheckItem::KibanaErrorsInspected => "Kibana errors inspected",
            CheckItem::GitalySentryChecked => "Gitaly Sentry checked",
            CheckItem::GitlabSentryChecked => "GitLab Sentry checked",
            CheckItem::InfrastructureIssueCreated => "Infrastructure issue created",
            CheckItem::ContinueDecision => "Continue?",
            CheckItem::AcceptanceIssueClosed => "Acceptance issue closed",
            CheckItem::ConversationLabelled => "Conversation labelled Migration:Opt-In",
        }
    }

    /// The label in the context of `stage`: the template asks "Success?" instead of "Continue?"
    /// at 100 %, where there is no next trial to continue to.
    pub fn label_in(self, stage: &Stage) -> &'static str {
        match self {
            CheckItem::ContinueDecision if stage.production_percent() == Some(100) => "Success?",
            other => other.label(),
        }
    }

    /// Whether a check-in of this item counts as "a check" for the stage's cadence: a look at the
    /// dashboards, or the decision taken after one.
    pub fn counts_for_cadence(self) -> bool {
        CheckItem::MONITORING.contains(&self) || self == CheckItem::ContinueDecision
    }

    /// The outcome a check-in of this item must carry.
    pub fn accepts(self, outcome: CheckOutcome) -> bool {
        match outcome {
            CheckOutcome::Checked => self != CheckItem::ContinueDecision,
            CheckOutcome::Continue | CheckOutcome::Stop => self == CheckItem::ContinueDecision,
        }
    }
}

impl fmt::Display for CheckItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What a check-in says. `Continue` / `Stop` answer the "Continue?" item; every other item is
/// simply `Checked` (a concern is raised by answering "Continue?" with `Stop`, or by the kill
/// switch).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CheckOutcome {
    Checked,
    Continue,
    Stop,
}

impl CheckOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A recorded check: what, who, when (both passed in by the caller), and what they concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    pub item: CheckItem,
    pub by: String,
    pub at: DateTime<Utc>,
    pub outcome: CheckOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Who or what looked at a running stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookSource {
    /// A person's check-in of a monitoring item, or their answer to "Continue?".
    Person,
    /// An automated evaluation of the stage's metrics, logs and errors that had the data to
    /// judge (an evaluation without data is not a look and is not recorded as one).
    Automation,
}

/// A look at a running stage, from either source: what the watching of a soak is made of (see
/// [`crate::timing::watch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Look {
    pub at: DateTime<Utc>,
    pub by: String,
    pub source: LookSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CheckIn {
    /// This check-in as a look, if its item is one the cadence asks for.
    pub fn as_look(&self) -> Option<Look> {
        self.item.counts_for_cadence().then(|| Look {
            at: self.at,
            by: self.by.clone(),
            source: LookSource::Person,
            note: None,
        })
    }
}

/// The template's checklist for a trial in `environment` with the flag at `flag`.
///
/// Dev and staging trials check their own versions first (the template's "Check … Server
/// Versions"); production has a separate version-check stage before its first percentage. The
/// infrastructure issue belongs only to the initial production step, which the plan adds.
pub fn trial_checklist(environment: Environment, flag: FlagValue) -> Vec<CheckItem> {
    let mut items = Vec::with_capacity(10);
    if environment != Environment::Production {
        items.extend([
            CheckItem::GitalyVersionChecked,
            CheckItem::GitlabVersionChecked,
        ]);
    }
    items.push(match flag {
        FlagValue::Percent(_) => CheckItem::PercentageSet,
        FlagValue::On | FlagValue::Off => CheckItem::FlagEnabled,
    });
    items.extend(CheckItem::MONITORING);
    items.push(CheckItem::ContinueDecision);
    items
}

/// Preparation: list the routes.
pub fn preparation_checklist() -> Vec<CheckItem> {
    vec![CheckItem::RoutesListed]
}

/// A version-check stage: both components.
pub fn version_check_checklist() -> Vec<CheckItem> {
    vec![
        CheckItem::GitalyVersionChecked,
        CheckItem::GitlabVersionChecked,
    ]
}

/// Done: close the acceptance issue and label the Conversation.
pub fn done_checklist() -> Vec<CheckItem> {
    vec![
        CheckItem::AcceptanceIssueClosed,
        CheckItem::ConversationLabelled,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_round_trip() {
        for item in CheckItem::all() {
            assert_eq!(CheckItem::from_key(item.key()), Some(item));
            let json = serde_json::to_value(item).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(json, item.key(), "serde uses the stable key");
            assert!(!item.label().is_empty());
        }
        let mut keys: Vec<_> = CheckItem::all().map(CheckItem::key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), CheckItem::all().count());
    }

    #[test]
    fn only_the_decision_takes_continue_or_stop() {
        for item in CheckItem::all() {
            let decision = item == CheckItem::ContinueDecision;
            assert_eq!(item.accepts(CheckOutcome::Continue), decision);
            assert_eq!(item.accepts(CheckOutcome::Stop), decision);
            assert_eq!(item.accepts(CheckOutcome::Checked), !decision);
        }
    }

    #[test]
    fn the_full_impact_decision_is_success() {
        let plan = crate::plan::Plan::gitaly_default();
        let labels: Vec<&str> = plan
            .stages()
            .iter()
            .filter(|s| s.checklist.contains(&CheckItem::ContinueDecision))
            .map(|s| CheckItem::ContinueDecision.label_in(s))
            .collect();
        assert_eq!(
            labels,
            [
                "Continue?",
                "Continue?",
                "Continue?",
                "Continue?",
                "Continue?",
                "Success?"
            ]
        );
        assert_eq!(
            CheckItem::GrafanaChecked.label_in(&plan.stages()[7]),
            CheckItem::GrafanaChecked.label()
        );
    }

    #[test]
    fn trial_checklists_follow_the_template() {
        assert_eq!(
            trial_checklist(Environment::Development, FlagValue::On),
            [
                CheckItem::GitalyVersionChecked,
                CheckItem::GitlabVersionChecked,
                CheckItem::FlagEnabled,
                CheckItem::GrafanaChecked,
                CheckItem::KibanaInvocationsInspected,
                CheckItem::KibanaErrorsInspected,
                CheckItem::GitalySentryChecked,
                CheckItem::GitlabSentryChecked,
                CheckItem::ContinueDecision,
            ]
        );
        assert_eq!(
            trial_checklist(Environment::Production, FlagValue::Percent(5))[0],
            CheckItem::PercentageSet
        );
    }
}
