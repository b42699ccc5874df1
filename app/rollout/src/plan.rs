//! Rollout plans as data: the template's default plan, per-migration variants, and the rules
//! every plan must follow.

use std::fmt;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::checklist::{
    CheckItem, done_checklist, preparation_checklist, trial_checklist, version_check_checklist,
};
use crate::duration::format_duration;
use crate::identity::first_non_slug_char;

/// The template says the 50 % stage is checked "at least every few hours". We read that as every
/// 3 hours: eight looks over the 24 h soak, and a missed look is noticed (overdue by more than one
/// interval, so advancing is blocked) after 6 hours, well inside a working day. A plan may use any
/// other interval ([`Plan::gitaly_default_with_mid_impact_cadence`]).
pub const MID_IMPACT_CADENCE: TimeDelta = TimeDelta::hours(3);

/// Where a stage runs.
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
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    /// Every variant, in declaration order.
    pub fn all() -> impl DoubleEndedIterator<Item = Environment> {
        <Environment as strum::IntoEnumIterator>::iter()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The template's short name ("Gitaly Dev Version Tracker Dashboard").
    pub fn label(self) -> &'static str {
        match self {
            Environment::Development => "Dev",
            Environment::Staging => "Staging",
            Environment::Production => "Production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A feature flag's setting in one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagValue {
    Off,
    On,
    /// Percentage of time, 0–100.
    Percent(u8),
}

impl FlagValue {
    /// The share of calls that reach the new implementation.
    pub fn serving_percentage(self) -> u8 {
        match self {
            FlagValue::Off => 0,
            FlagValue::On => 100,
            FlagValue::Percent(p) => p.min(100),
        }
    }
}

impl fmt::Display for FlagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagValue::Off => f.write_str("off"),
            FlagValue::On => f.write_str("on"),
            FlagValue::Percent(p) => write!(f, "{p} %"),
        }
    }
}

/// How often a stage must be looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "CadenceData", into = "CadenceData")]
pub enum Cadence {
    /// Nothing to monitor (preparation, version checks, done).
    Unmonitored,
    /// One look after the flag is set (the template's dev "Monitor (initially )"): due at the
    /// stage's start, never overdue and never blocking; the look's items are on the checklist
    /// instead (see [`crate::timing::overdue_by`]).
    Once,
    /// At least every `interval`. A look may come up to `grace` late and the time since the
    /// previous look still counts as watched (see [`crate::timing::watch`]).
    Every {
        interval: TimeDelta,
        grace: TimeDelta,
    },
}

/// A cadence as stored: a plan written before graces existed (or by hand) may leave the grace
/// out, and gets the default then.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CadenceData {
    Unmonitored,
    Once,
    Every {
        #[serde(with = "crate::duration::seconds")]
        interval: TimeDelta,
        #[serde(default, with = "crate::duration::optional_seconds")]
        grace: Option<TimeDelta>,
    },
}

impl From<CadenceData> for Cadence {
    fn from(data: CadenceData) -> Cadence {
        match data {
            CadenceData::Unmonitored => Cadence::Unmonitored,
            CadenceData::Once => Cadence::Once,
            CadenceData::Every { interval, grace } => match grace {
                Some(grace) => Cadence::Every { interval, grace },
                None => Cadence::every(interval),
            },
        }
    }
}

impl From<Cadence> for CadenceData {
    fn from(cadence: Cadence) -> CadenceData {
        match cadence {
            Cadence::Unmonitored => CadenceData::Unmonitored,
            Cadence::Once => CadenceData::Once,
            Cadence::Every { interval, grace } => CadenceData::Every {
                interval,
                grace: Some(grace),
            },
        }
    }
}

impl Cadence {
    /// At least every `interval`, with the default grace of a fifth of it: a look every 5 min
    /// may be a minute late, a daily one almost five hours.
    pub fn every(interval: TimeDelta) -> Cadence {
        Cadence::Every {
            interval,
            grace: interval / 5,
        }
    }

    pub fn interval(self) -> Option<TimeDelta> {
        match self {
            Cadence::Every { interval, .. } => Some(interval),
            Cadence::Unmonitored | Cadence::Once => None,
        }
    }

    pub fn grace(self) -> Option<TimeDelta> {
        match self {
            Cadence::Every { grace, .. } => Some(grace),
            Cadence::Unmonitored | Cadence::Once => None,
        }
    }

    /// The longest time between two looks that still counts as watched: the interval plus the
    /// grace.
    pub fn longest_gap(self) -> Option<TimeDelta> {
        match self {
            Cadence::Every { interval, grace } => Some(interval + grace),
            Cadence::Unmonitored | Cadence::Once => None,
        }
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cadence::Unmonitored => f.write_str("no monitoring"),
            Cadence::Once => f.write_str("once, after the flag is set"),
            Cadence::Every { interval, .. } if *interval == TimeDelta::days(1) => {
                f.write_str("daily")
            }
            Cadence::Every { interval, .. } => write!(f, "every {}", format_duration(*interval)),
        }
    }
}

/// The time range of a stage's Kibana links, in whole hours (Kibana's relative ranges); at least
/// one hour. Serialised as `{"hours": N}` and read back through [`LogWindow::hours`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "LogWindowData", into = "LogWindowData")]
pub struct LogWindow {
    hours: u32,
}

#[derive(Serialize, Deserialize)]
struct LogWindowData {
    hours: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a log window must cover at least one hour")]
pub struct EmptyLogWindow;

impl TryFrom<LogWindowData> for LogWindow {
    type Error = EmptyLogWindow;
    fn try_from(data: LogWindowData) -> Result<LogWindow, EmptyLogWindow> {
        LogWindow::hours(data.hours).ok_or(EmptyLogWindow)
    }
}

impl From<LogWindow> for LogWindowData {
    fn from(window: LogWindow) -> LogWindowData {
        LogWindowData {
            hours: window.hours,
        }
    }
}

impl LogWindow {
    pub const ONE_HOUR: LogWindow = LogWindow { hours: 1 };

    /// `None` for zero hours.
    pub const fn hours(hours: u32) -> Option<LogWindow> {
        if hours == 0 {
            None
        } else {
            Some(LogWindow { hours })
        }
    }

    pub fn as_hours(self) -> u32 {
        self.hours
    }

    /// The window that covers a whole soak, at least an hour: 15 min → 1 h, 2 h → 2 h,
    /// 24 h → 24 h, 1 week → 7 d. This is how the template's windows relate to its soaks.
    pub fn covering(soak: TimeDelta) -> LogWindow {
        let minutes = u64::try_from(soak.num_minutes()).unwrap_or(0);
        let hours = u32::try_from(minutes.div_ceil(60)).unwrap_or(u32::MAX);
        LogWindow {
            hours: hours.max(1),
        }
    }

    fn in_days(self) -> Option<u32> {
        (self.hours > 24 && self.hours.is_multiple_of(24)).then_some(self.hours / 24)
    }

    /// Kibana's relative start: `now-1h`, `now-24h`, `now-7d`.
    pub fn kibana_from(self) -> String {
        match self.in_days() {
            Some(days) => format!("now-{days}d"),
            None => format!("now-{}h", self.hours),
        }
    }

    /// "last hour", "last 2 hours", "last 24 hours", "last 7 days".
    pub fn label(self) -> String {
        match (self.hours, self.in_days()) {
            (1, _) => "last hour".to_owned(),
            (_, Some(days)) => format!("last {days} days"),
            (hours, None) => format!("last {hours} hours"),
        }
    }
}

/// A stage's stable name for programs: a lowercase ASCII letter, then lowercase letters, digits
/// and `_` (`production_50`), at most [`STAGE_KEY_MAX_BYTES`].
///
/// A running migration stores the key of its stage next to the index, so a plan edited under it
/// (a stage inserted or removed) is noticed instead of silently moving it to another stage. The
/// stage's `name` is for people and may be reworded freely.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StageKey(String);

pub const STAGE_KEY_MAX_BYTES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageKeyError {
    #[error("is empty; expected a key such as production_50")]
    Empty,
    #[error("is {len} bytes long; at most {STAGE_KEY_MAX_BYTES} are allowed")]
    TooLong { len: usize },
    #[error(
        "'{input}' must be a lowercase letter followed by lowercase letters, digits and underscores; '{found}' is not allowed"
    )]
    InvalidCharacter { input: String, found: char },
}

impl StageKey {
    pub fn parse(input: &str) -> Result<StageKey, StageKeyError> {
        let key = input.trim();
        if key.is_empty() {
            return Err(StageKeyError::Empty);
        }
        if key.len() > STAGE_KEY_MAX_BYTES {
            return Err(StageKeyError::TooLong { len: key.len() });
        }
        match first_non_slug_char(key) {
            None => Ok(StageKey(key.to_owned())),
            Some((_, found)) => Err(StageKeyError::InvalidCharacter {
                input: key.to_owned(),
                found,
            }),
        }
    }

    /// A key this crate builds from parts that are valid by construction (an environment's
    /// `as_str`, `_`, a number).
    fn built(key: String) -> StageKey {
        debug_assert!(StageKey::parse(&key).is_ok(), "{key}");
        StageKey(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

parsed_from_string! { StageKey => StageKeyError }

/// A stage as events and refusals name it: its position in the plan, its stable key, and the name
/// people read (kept in the record, so an old event still reads right after the plan changed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StageRef {
    pub index: usize,
    pub key: StageKey,
    pub name: String,
}

impl fmt::Display for StageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What a stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageKind {
    /// List the routes; nothing runs.
    Preparation,
    /// Look at the deployed versions of an environment before any flag changes there.
    VersionCheck { environment: Environment },
    /// Run the new implementation: set the flag in `environment` to `flag` and watch.
    Trial {
        environment: Environment,
        flag: FlagValue,
    },
    /// Close the acceptance issue and label the Conversation.
    Done,
}

/// One stage of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Unique within its plan; see [`StageKey`].
    pub key: StageKey,
    pub name: String,
    pub kind: StageKind,
    /// How long the stage must run before advancing.
    #[serde(with = "crate::duration::seconds")]
    pub soak: TimeDelta,
    pub cadence: Cadence,
    pub log_window: LogWindow,
    /// In template order. Every item needs a check-in before the stage may be left.
    pub checklist: Vec<CheckItem>,
}

impl Stage {
    /// Key `preparation`.
    pub fn preparation() -> Stage {
        Stage {
            key: StageKey::built("preparation".to_owned()),
            name: "Preparation".to_owned(),
            kind: StageKind::Preparation,
            soak: TimeDelta::zero(),
            cadence: Cadence::Unmonitored,
            log_window: LogWindow::ONE_HOUR,
            checklist: preparation_checklist(),
        }
    }

    /// Key `<environment>_check`, e.g. `production_check`.
    pub fn version_check(name: impl Into<String>, environment: Environment) -> Stage {
        Stage {
            key: StageKey::built(format!("{environment}_check")),
            name: name.into(),
            kind: StageKind::VersionCheck { environment },
            soak: TimeDelta::zero(),
            cadence: Cadence::Unmonitored,
            log_window: LogWindow::ONE_HOUR,
            checklist: version_check_checklist(),
        }
    }

    /// A trial with the template's checklist for its environment and a log window covering the
    /// soak. Key: the environment for on (`development`, `staging`), `<environment>_<percent>`
    /// for a percentage (`production_5`); [`Stage::with_key`] sets another.
    pub fn trial(
        name: impl Into<String>,
        environment: Environment,
        flag: FlagValue,
        soak: TimeDelta,
        cadence: Cadence,
    ) -> Stage {
        let key = match flag {
            FlagValue::On => environment.as_str().to_owned(),
            FlagValue::Off => format!("{environment}_off"),
            FlagValue::Percent(percent) => format!("{environment}_{percent}"),
        };
        Stage {
            key: StageKey::built(key),
            name: name.into(),
            kind: StageKind::Trial { environment, flag },
            soak,
            cadence,
            log_window: LogWindow::covering(soak),
            checklist: trial_checklist(environment, flag),
        }
    }

    /// Key `done`.
    pub fn done() -> Stage {
        Stage {
            key: StageKey::built("done".to_owned()),
            name: "Done".to_owned(),
            kind: StageKind::Done,
            soak: TimeDelta::zero(),
            cadence: Cadence::Unmonitored,
            log_window: LogWindow::ONE_HOUR,
            checklist: done_checklist(),
        }
    }

    /// How events and refusals name this stage when it is number `index` of its plan.
    pub fn reference(&self, index: usize) -> StageRef {
        StageRef {
            index,
            key: self.key.clone(),
            name: self.name.clone(),
        }
    }

    pub fn with_key(mut self, key: StageKey) -> Stage {
        self.key = key;
        self
    }

    /// The initial production step also needs the infrastructure issue, created before the flag
    /// is set (template order).
    pub fn with_infrastructure_issue(mut self) -> Stage {
        if !self
            .checklist
            .contains(&CheckItem::InfrastructureIssueCreated)
        {
            self.checklist
                .insert(0, CheckItem::InfrastructureIssueCreated);
        }
        self
    }

    pub fn environment(&self) -> Option<Environment> {
        match self.kind {
            StageKind::VersionCheck { environment } | StageKind::Trial { environment, .. } => {
                Some(environment)
            }
            StageKind::Preparation | StageKind::Done => None,
        }
    }

    /// The flag setting this stage applies on entry, with its environment.
    pub fn flag(&self) -> Option<(Environment, FlagValue)> {
        match self.kind {
            StageKind::Trial { environment, flag } => Some((environment, flag)),
            _ => None,
        }
    }

    /// The production percentage this stage sets, if it is a production trial.
    pub fn production_percent(&self) -> Option<u8> {
        match self.flag() {
            Some((Environment::Production, flag)) => Some(flag.serving_percentage()),
            _ => None,
        }
    }

    /// The checklist item that records this stage's flag being set: "Flag enabled" or "Flag
    /// percentage set"; `None` for a stage that sets no flag.
    pub fn flag_item(&self) -> Option<CheckItem> {
        self.checklist
            .iter()
            .copied()
            .find(|item| matches!(item, CheckItem::FlagEnabled | CheckItem::PercentageSet))
    }

    pub fn requires_infrastructure_issue(&self) -> bool {
        self.checklist
            .contains(&CheckItem::InfrastructureIssueCreated)
    }

    pub fn is_done(&self) -> bool {
        self.kind == StageKind::Done
    }

    fn fits(&self, item: CheckItem) -> bool {
        let trial = self.flag();
        match item {
            CheckItem::RoutesListed => self.kind == StageKind::Preparation,
            CheckItem::AcceptanceIssueClosed | CheckItem::ConversationLabelled => self.is_done(),
            CheckItem::GitalyVersionChecked | CheckItem::GitlabVersionChecked => {
                self.environment().is_some()
            }
            CheckItem::FlagEnabled => matches!(trial, Some((_, FlagValue::On))),
            CheckItem::PercentageSet => matches!(trial, Some((_, FlagValue::Percent(_)))),
            CheckItem::GrafanaChecked
            | CheckItem::KibanaInvocationsInspected
            | CheckItem::KibanaErrorsInspected
            | CheckItem::GitalySentryChecked
            | CheckItem::GitlabSentryChecked
            | CheckItem::ContinueDecision => trial.is_some(),
            CheckItem::InfrastructureIssueCreated => {
                matches!(trial, Some((Environment::Production, _)))
            }
        }
    }
}

/// A production step of a customised plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductionStep {
    pub percent: u8,
    #[serde(with = "crate::duration::seconds")]
    pub soak: TimeDelta,
    pub cadence: Cadence,
}

impl ProductionStep {
    /// The template's production steps: 1 %, 5 %, 50 %, 100 %.
    pub fn gitaly_default_steps() -> Vec<ProductionStep> {
        [1, 5, 50, 100].map(ProductionStep::for_percent).to_vec()
    }

    /// Soak and cadence for a percentage, taken from the template step of the same or the next
    /// higher percentage: ≤ 1 % → 15 min / 5 min; ≤ 5 % → 2 h / 20 min; ≤ 50 % → 24 h /
    /// [`MID_IMPACT_CADENCE`]; above → 1 week / daily. More traffic never gets less watching.
    pub fn for_percent(percent: u8) -> ProductionStep {
        let (soak, cadence) = match percent {
            0..=1 => (TimeDelta::minutes(15), TimeDelta::minutes(5)),
            2..=5 => (TimeDelta::hours(2), TimeDelta::minutes(20)),
            6..=50 => (TimeDelta::hours(24), MID_IMPACT_CADENCE),
            _ => (TimeDelta::weeks(1), TimeDelta::days(1)),
        };
        ProductionStep {
            percent,
            soak,
            cadence: Cadence::every(cadence),
        }
    }
}

/// Why a plan is not acceptable. Stage numbers are 1-based, as people count them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("a plan needs at least one stage")]
    Empty,
    #[error("stage {stage} has no name")]
    UnnamedStage { stage: usize },
    #[error("the last stage must be a Done stage")]
    LastStageNotDone,
    #[error("stage {stage} is a Done stage but is not the last one")]
    DoneBeforeEnd { stage: usize },
    #[error(
        "stage {stage} ('{name}') has the key '{key}' of stage {first}; stage keys must be unique"
    )]
    DuplicateStageKey {
        stage: usize,
        name: String,
        key: StageKey,
        first: usize,
    },
    #[error(
        "stage {stage} ('{name}') sets {percent} %; percentages must be within 1–100 (0 % is the flag off)"
    )]
    PercentOutOfRange {
        stage: usize,
        name: String,
        percent: u8,
    },
    #[error(
        "stage {stage} ('{name}') sets production to {percent} % after {previous} %; production percentages must strictly increase"
    )]
    PercentNotIncreasing {
        stage: usize,
        name: String,
        percent: u8,
        previous: u8,
    },
    #[error("production must end at 100 %; the last production step is {last}")]
    DoesNotEndAtFull { last: String },
    #[error(
        "stage {stage} ('{name}') sets the production flag on or off; production steps are percentages"
    )]
    ProductionFlagNotPercent { stage: usize, name: String },
    #[error("stage {stage} ('{name}') turns the flag off; a trial runs the new implementation")]
    TrialFlagOff { stage: usize, name: String },
    #[error("the first stage ('{name}') changes production; the plan must start before production")]
    StartsInProduction { name: String },
    #[error(
        "stage {stage} ('{name}') runs in {environment} after a stage in {after}; environments never go back"
    )]
    EnvironmentGoesBack {
        stage: usize,
        name: String,
        environment: Environment,
        after: Environment,
    },
    #[error("stage {stage} ('{name}') has a negative soak")]
    NegativeSoak { stage: usize, name: String },
    #[error("stage {stage} ('{name}') has a check interval that is not positive")]
    CadenceNotPositive { stage: usize, name: String },
    #[error(
        "stage {stage} ('{name}') allows looks to be late by a negative time or by more than their interval; the grace must be between zero and the interval"
    )]
    GraceOutOfRange { stage: usize, name: String },
    #[error(
        "stage {stage} ('{name}') checks the versions in {environment} but the next stage does not run there; a version check comes right before its environment's first trial"
    )]
    VersionCheckNotBeforeItsEnvironment {
        stage: usize,
        name: String,
        environment: Environment,
    },
    #[error("stage {stage} ('{name}') is a trial without monitoring; trials need a cadence")]
    TrialUnmonitored { stage: usize, name: String },
    #[error(
        "stage {stage} ('{name}') is the first production step but lacks '{}'; the infrastructure tracker hears of a production change before it happens",
        CheckItem::InfrastructureIssueCreated
    )]
    FirstProductionStepWithoutInfrastructureIssue { stage: usize, name: String },
    #[error("stage {stage} ('{name}') is a trial without the \"Continue?\" decision")]
    TrialWithoutDecision { stage: usize, name: String },
    #[error("stage {stage} ('{name}') lists '{item}' twice")]
    DuplicateItem {
        stage: usize,
        name: String,
        item: CheckItem,
    },
    #[error(
        "stage {stage} ('{name}') lists '{item}', which does not belong to a stage of this kind"
    )]
    ItemDoesNotFit {
        stage: usize,
        name: String,
        item: CheckItem,
    },
}

/// A validated rollout plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PlanData", into = "PlanData")]
pub struct Plan {
    stages: Vec<Stage>,
}

/// A plan's serialised form, checked on the way in.
#[derive(Serialize, Deserialize)]
struct PlanData {
    stages: Vec<Stage>,
}

impl TryFrom<PlanData> for Plan {
    type Error = PlanError;
    fn try_from(data: PlanData) -> Result<Plan, PlanError> {
        Plan::new(data.stages)
    }
}

impl From<Plan> for PlanData {
    fn from(plan: Plan) -> PlanData {
        PlanData {
            stages: plan.stages,
        }
    }
}

impl Plan {
    /// Check `stages` against every plan rule.
    pub fn new(stages: Vec<Stage>) -> Result<Plan, PlanError> {
        let Some(last) = stages.last() else {
            return Err(PlanError::Empty);
        };
        if !last.is_done() {
            return Err(PlanError::LastStageNotDone);
        }
        let mut previous_environment: Option<Environment> = None;
        let mut previous_percent: Option<u8> = None;
        for (index, stage) in stages.iter().enumerate() {
            let number = index + 1;
            let name = || stage.name.clone();
            if stage.name.trim().is_empty() {
                return Err(PlanError::UnnamedStage { stage: number });
            }
            if stage.is_done() && index + 1 != stages.len() {
                return Err(PlanError::DoneBeforeEnd { stage: number });
            }
            if stage.soak < TimeDelta::zero() {
                return Err(PlanError::NegativeSoak {
                    stage: number,
                    name: name(),
                });
            }
            if stage
                .cadence
                .interval()
                .is_some_and(|i| i <= TimeDelta::zero())
            {
                return Err(PlanError::CadenceNotPositive {
                    stage: number,
                    name: name(),
                });
            }
            if let Cadence::Every { interval, grace } = stage.cadence
                && (grace < TimeDelta::zero() || grace > interval)
            {
                return Err(PlanError::GraceOutOfRange {
                    stage: number,
                    name: name(),
                });
            }
            if let Some(environment) = stage.environment() {
                if let Some(after) = previous_environment.filter(|p| *p > environment) {
                    return Err(PlanError::EnvironmentGoesBack {
                        stage: number,
                        name: name(),
                        environment,
                        after,
                    });
                }
                previous_environment = Some(environment);
            }
            if let Some((environment, flag)) = stage.flag() {
                if stage.cadence == Cadence::Unmonitored {
                    return Err(PlanError::TrialUnmonitored {
                        stage: number,
                        name: name(),
                    });
                }
                match flag {
                    FlagValue::Off => {
                        return Err(PlanError::TrialFlagOff {
                            stage: number,
                            name: name(),
                        });
                    }
                    FlagValue::Percent(percent) if percent == 0 || percent > 100 => {
                        return Err(PlanError::PercentOutOfRange {
                            stage: number,
                            name: name(),
                            percent,
                        });
                    }
                    _ => {}
                }
                if environment == Environment::Production {
                    let FlagValue::Percent(percent) = flag else {
                        return Err(PlanError::ProductionFlagNotPercent {
                            stage: number,
                            name: name(),
                        });
                    };
                    if index == 0 {
                        return Err(PlanError::StartsInProduction { name: name() });
                    }
                    if previous_percent.is_none() && !stage.requires_infrastructure_issue() {
                        return Err(PlanError::FirstProductionStepWithoutInfrastructureIssue {
                            stage: number,
                            name: name(),
                        });
                    }
                    if let Some(previous) = previous_percent.filter(|p| *p >= percent) {
                        return Err(PlanError::PercentNotIncreasing {
                            stage: number,
                            name: name(),
                            percent,
                            previous,
                        });
                    }
                    previous_percent = Some(percent);
                }
                if !stage.checklist.contains(&CheckItem::ContinueDecision) {
                    return Err(PlanError::TrialWithoutDecision {
                        stage: number,
                        name: name(),
                    });
                }
            }
            for (i, item) in stage.checklist.iter().enumerate() {
                if stage.checklist[..i].contains(item) {
                    return Err(PlanError::DuplicateItem {
                        stage: number,
                        name: name(),
                        item: *item,
                    });
                }
                if !stage.fits(*item) {
                    return Err(PlanError::ItemDoesNotFit {
                        stage: number,
                        name: name(),
                        item: *item,
                    });
                }
            }
            // After the percentage rules: a repeated percentage repeats its key, and "must strictly
            // increase" says more than "duplicate key".
            if let Some(first) = stages[..index].iter().position(|s| s.key == stage.key) {
                return Err(PlanError::DuplicateStageKey {
                    stage: number,
                    name: name(),
                    key: stage.key.clone(),
                    first: first + 1,
                });
            }
        }
        match previous_percent {
            Some(100) => {}
            Some(last) => {
                return Err(PlanError::DoesNotEndAtFull {
                    last: format!("{last} %"),
                });
            }
            None => {
                return Err(PlanError::DoesNotEndAtFull {
                    last: "missing".to_owned(),
                });
            }
        }
        for (index, stage) in stages.iter().enumerate() {
            if let StageKind::VersionCheck { environment } = stage.kind
                && stages.get(index + 1).and_then(Stage::environment) != Some(environment)
            {
                return Err(PlanError::VersionCheckNotBeforeItsEnvironment {
                    stage: index + 1,
                    name: stage.name.clone(),
                    environment,
                });
            }
        }
        Ok(Plan { stages })
    }

    /// The template's plan, exactly: Preparation; Development trial; Staging trial (15 min,
    /// every 5 min); Production version check; 1 % (infrastructure issue; 15 min; every 5 min);
    /// 5 % (2 h; every 20 min); 50 % (24 h; every [`MID_IMPACT_CADENCE`]); 100 % (1 week; daily);
    /// Done.
    pub fn gitaly_default() -> Plan {
        Plan {
            stages: gitaly_stages(&ProductionStep::gitaly_default_steps()),
        }
    }

    /// The template's plan with another interval for the 50 % stage.
    pub fn gitaly_default_with_mid_impact_cadence(interval: TimeDelta) -> Result<Plan, PlanError> {
        let mut steps = ProductionStep::gitaly_default_steps();
        for step in steps.iter_mut().filter(|s| s.percent == 50) {
            step.cadence = Cadence::every(interval);
        }
        Plan::gitaly_with_production_steps(&steps)
    }

    /// The template's dev, staging and version-check stages followed by `steps` in production.
    /// The first step needs the infrastructure issue.
    pub fn gitaly_with_production_steps(steps: &[ProductionStep]) -> Result<Plan, PlanError> {
        Plan::new(gitaly_stages(steps))
    }

    /// As [`Plan::gitaly_with_production_steps`], with soaks and cadences from
    /// [`ProductionStep::for_percent`]; for example `&[1, 10, 25, 50, 75, 100]`.
    pub fn gitaly_with_percentages(percentages: &[u8]) -> Result<Plan, PlanError> {
        let steps: Vec<ProductionStep> = percentages
            .iter()
            .copied()
            .map(ProductionStep::for_percent)
            .collect();
        Plan::gitaly_with_production_steps(&steps)
    }

    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    pub fn stage(&self, index: usize) -> Option<&Stage> {
        self.stages.get(index)
    }

    /// The stage with this key, and its index.
    pub fn stage_by_key(&self, key: &str) -> Option<(usize, &Stage)> {
        self.stages
            .iter()
            .enumerate()
            .find(|(_, stage)| stage.key.as_str() == key)
    }

    /// How events and refusals name stage `index`.
    pub fn stage_ref(&self, index: usize) -> Option<StageRef> {
        self.stage(index).map(|stage| stage.reference(index))
    }

    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Always false: a valid plan has a Done stage.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Index of the Done stage.
    pub fn done_index(&self) -> usize {
        self.stages.len().saturating_sub(1)
    }

    pub fn into_stages(self) -> Vec<Stage> {
        self.stages
    }
}

fn production_step_name(index: usize, count: usize, percent: u8) -> String {
    let tier = if index == 0 {
        "Initial impact"
    } else if percent == 100 || index + 1 == count {
        "Full impact"
    } else if percent < 50 {
        "Low impact"
    } else {
        "Mid impact"
    };
    format!("{tier} {percent} %")
}

fn gitaly_stages(steps: &[ProductionStep]) -> Vec<Stage> {
    let mut stages = vec![
        Stage::preparation(),
        Stage::trial(
            "Development trial",
            Environment::Development,
            FlagValue::On,
            TimeDelta::zero(),
            Cadence::Once,
        ),
        Stage::trial(
            "Staging trial",
            Environment::Staging,
            FlagValue::On,
            TimeDelta::minutes(15),
            Cadence::every(TimeDelta::minutes(5)),
        ),
        Stage::version_check("Production version check", Environment::Production),
    ];
    for (index, step) in steps.iter().enumerate() {
        let stage = Stage::trial(
            production_step_name(index, steps.len(), step.percent),
            Environment::Production,
            FlagValue::Percent(step.percent),
            step.soak,
            step.cadence,
        );
        stages.push(if index == 0 {
            stage.with_infrastructure_issue()
        } else {
            stage
        });
    }
    stages.push(Stage::done());
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    type StageSummary = (
        String,
        Option<Environment>,
        Option<u8>,
        i64,
        Cadence,
        String,
    );

    #[test]
    fn default_plan_is_the_templates() {
        let plan = Plan::gitaly_default();
        assert!(
            Plan::new(plan.stages().to_vec()).is_ok(),
            "the default plan is valid"
        );
        let summary: Vec<StageSummary> = plan
            .stages()
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.environment(),
                    s.production_percent(),
                    s.soak.num_minutes(),
                    s.cadence,
                    s.log_window.kibana_from(),
                )
            })
            .collect();
        let min = TimeDelta::minutes;
        let expected = vec![
            (
                "Preparation".into(),
                None,
                None,
                0,
                Cadence::Unmonitored,
                "now-1h".into(),
            ),
            (
                "Development trial".into(),
                Some(Environment::Development),
                None,
                0,
                Cadence::Once,
                "now-1h".into(),
            ),
            (
                "Staging trial".into(),
                Some(Environment::Staging),
                None,
                15,
                Cadence::every(min(5)),
                "now-1h".into(),
            ),
            (
                "Production version check".into(),
                Some(Environment::Production),
                None,
                0,
                Cadence::Unmonitored,
                "now-1h".into(),
            ),
            (
                "Initial impact 1 %".into(),
                Some(Environment::Production),
                Some(1),
                15,
                Cadence::every(min(5)),
                "now-1h".into(),
            ),
            (
                "Low impact 5 %".into(),
                Some(Environment::Production),
                Some(5),
                120,
                Cadence::every(min(20)),
                "now-2h".into(),
            ),
            (
                "Mid impact 50 %".into(),
                Some(Environment::Production),
                Some(50),
                24 * 60,
                Cadence::every(MID_IMPACT_CADENCE),
                "now-24h".into(),
            ),
            (
                "Full impact 100 %".into(),
                Some(Environment::Production),
                Some(100),
                7 * 24 * 60,
                Cadence::every(TimeDelta::days(1)),
                "now-7d".into(),
            ),
            (
                "Done".into(),
                None,
                None,
                0,
                Cadence::Unmonitored,
                "now-1h".into(),
            ),
        ];
        assert_eq!(summary, expected);
        let infra: Vec<bool> = plan
            .stages()
            .iter()
            .map(Stage::requires_infrastructure_issue)
            .collect();
        assert_eq!(
            infra,
            [false, false, false, false, true, false, false, false, false]
        );
        assert_eq!(
            plan.stages()[1].flag(),
            Some((Environment::Development, FlagValue::On))
        );
        assert_eq!(
            plan.stages()[8].checklist,
            [
                CheckItem::AcceptanceIssueClosed,
                CheckItem::ConversationLabelled
            ]
        );
    }

    #[test]
    fn custom_percentages_and_cadences() {
        let plan = Plan::gitaly_with_percentages(&[1, 10, 25, 50, 75, 100])
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = plan.stages()[4..10]
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "Initial impact 1 %",
                "Low impact 10 %",
                "Low impact 25 %",
                "Mid impact 50 %",
                "Mid impact 75 %",
                "Full impact 100 %"
            ]
        );
        let plan = Plan::gitaly_default_with_mid_impact_cadence(TimeDelta::hours(4))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan.stages()[6].cadence,
            Cadence::every(TimeDelta::hours(4))
        );
        let fewer = Plan::gitaly_with_percentages(&[100]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fewer.len(), 6);
        assert!(fewer.stages()[4].requires_infrastructure_issue());
    }

    #[test]
    fn invalid_plans_are_refused_with_a_reason() {
        let bad_percentages: &[(&[u8], &str)] = &[
            (&[1, 5, 5, 100], "strictly increase"),
            (&[5, 1, 100], "strictly increase"),
            (&[1, 5, 50], "must end at 100 %"),
            (&[], "must end at 100 %"),
            (&[1, 50, 101], "within 1–100"),
            (&[0, 50, 100], "within 1–100"),
        ];
        for (percentages, words) in bad_percentages {
            let error = Plan::gitaly_with_percentages(percentages).expect_err("invalid");
            assert!(
                error.to_string().contains(words),
                "{percentages:?}: {error}"
            );
        }

        let default = || Plan::gitaly_default().into_stages();
        let mut negative = default();
        negative[2].soak = TimeDelta::minutes(-1);
        assert!(matches!(
            Plan::new(negative),
            Err(PlanError::NegativeSoak { stage: 3, .. })
        ));

        let mut zero_cadence = default();
        zero_cadence[2].cadence = Cadence::every(TimeDelta::zero());
        assert!(matches!(
            Plan::new(zero_cadence),
            Err(PlanError::CadenceNotPositive { .. })
        ));

        for grace in [
            TimeDelta::seconds(-1),
            TimeDelta::minutes(5) + TimeDelta::seconds(1),
        ] {
            let mut bad_grace = default();
            bad_grace[2].cadence = Cadence::Every {
                interval: TimeDelta::minutes(5),
                grace,
            };
            assert!(
                matches!(
                    Plan::new(bad_grace),
                    Err(PlanError::GraceOutOfRange { stage: 3, .. })
                ),
                "{grace:?}"
            );
        }
        for grace in [TimeDelta::zero(), TimeDelta::minutes(5)] {
            let mut edge = default();
            edge[2].cadence = Cadence::Every {
                interval: TimeDelta::minutes(5),
                grace,
            };
            assert!(Plan::new(edge).is_ok(), "{grace:?}");
        }

        // The production version check is right before production's first step.
        let mut check_late = default();
        let check = check_late.remove(3);
        let done = check_late.len() - 1;
        check_late.insert(done, check);
        assert_eq!(
            Plan::new(check_late).map(|_| ()).map_err(|e| e.to_string()),
            Err("stage 8 ('Production version check') checks the versions in production but the next stage does not run there; a version check comes right before its environment's first trial".to_owned())
        );

        let mut no_done = default();
        no_done.pop();
        assert_eq!(Plan::new(no_done), Err(PlanError::LastStageNotDone));
        assert_eq!(Plan::new(vec![]), Err(PlanError::Empty));

        let mut done_early = default();
        done_early.insert(0, Stage::done());
        assert!(matches!(
            Plan::new(done_early),
            Err(PlanError::DoneBeforeEnd { stage: 1 })
        ));

        let mut backwards = default();
        backwards.swap(1, 2);
        assert!(matches!(
            Plan::new(backwards),
            Err(PlanError::EnvironmentGoesBack { .. })
        ));

        let mut production_on = default();
        production_on[7].kind = StageKind::Trial {
            environment: Environment::Production,
            flag: FlagValue::On,
        };
        assert!(matches!(
            Plan::new(production_on),
            Err(PlanError::ProductionFlagNotPercent { .. }) | Err(PlanError::ItemDoesNotFit { .. })
        ));

        let mut starts_in_production = default();
        starts_in_production.drain(0..4);
        assert!(matches!(
            Plan::new(starts_in_production),
            Err(PlanError::StartsInProduction { .. })
        ));

        let mut duplicate = default();
        duplicate[0].checklist.push(CheckItem::RoutesListed);
        assert!(matches!(
            Plan::new(duplicate),
            Err(PlanError::DuplicateItem { .. })
        ));

        let mut misfit = default();
        misfit[0].checklist.push(CheckItem::GrafanaChecked);
        assert!(matches!(
            Plan::new(misfit),
            Err(PlanError::ItemDoesNotFit { .. })
        ));

        let mut undecided = default();
        undecided[5]
            .checklist
            .retain(|i| *i != CheckItem::ContinueDecision);
        assert!(matches!(
            Plan::new(undecided),
            Err(PlanError::TrialWithoutDecision { .. })
        ));

        let mut unmonitored = default();
        unmonitored[5].cadence = Cadence::Unmonitored;
        assert!(matches!(
            Plan::new(unmonitored),
            Err(PlanError::TrialUnmonitored { .. })
        ));

        let mut off = default();
        off[1].kind = StageKind::Trial {
            environment: Environment::Development,
            flag: FlagValue::Off,
        };
        assert!(matches!(
            Plan::new(off),
            Err(PlanError::TrialFlagOff { .. })
        ));

        let mut unnamed = default();
        unnamed[3].name = " ".into();
        assert_eq!(
            Plan::new(unnamed),
            Err(PlanError::UnnamedStage { stage: 4 })
        );
    }

    #[test]
    fn default_stage_keys_are_stable_and_found_by_key() {
        let plan = Plan::gitaly_default();
        let keys: Vec<&str> = plan.stages().iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "preparation",
                "development",
                "staging",
                "production_check",
                "production_1",
                "production_5",
                "production_50",
                "production_100",
                "done"
            ]
        );
        let (index, stage) = plan
            .stage_by_key("production_50")
            .unwrap_or_else(|| panic!("found"));
        assert_eq!((index, stage.name.as_str()), (6, "Mid impact 50 %"));
        assert!(plan.stage_by_key("production_2").is_none());
        assert_eq!(
            plan.stage_ref(4).map(|r| (r.key.to_string(), r.name)),
            Some(("production_1".to_owned(), "Initial impact 1 %".to_owned()))
        );

        let custom = Plan::gitaly_with_percentages(&[1, 10, 25, 50, 75, 100])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            custom.stage_by_key("production_25").map(|(i, _)| i),
            Some(6)
        );
        let json = serde_json::to_value(&plan).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["stages"][3]["key"], "production_check");
    }

    #[test]
    fn stage_keys_are_slugs() {
        for good in ["done", "production_50", "canary_2b"] {
            assert_eq!(
                StageKey::parse(good).map(|k| k.to_string()),
                Ok(good.to_owned())
            );
        }
        for bad in ["", "Done", "production-50", "50_percent", "_x", "stage one"] {
            assert!(StageKey::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            StageKey::parse(&"a".repeat(65)),
            Err(StageKeyError::TooLong { len: 65 })
        );
        assert!(serde_json::from_str::<StageKey>("\"Bad-Key\"").is_err());
    }

    #[test]
    fn plans_with_gaps_of_the_first_review_are_refused() {
        let default = || Plan::gitaly_default().into_stages();

        let mut twice = default();
        twice[6].key = twice[5].key.clone();
        assert_eq!(
            Plan::new(twice),
            Err(PlanError::DuplicateStageKey {
                stage: 7,
                name: "Mid impact 50 %".into(),
                key: StageKey::built("production_5".into()),
                first: 6,
            })
        );
        // Two trials in one environment need keys of their own.
        let mut canaries = default();
        canaries.insert(
            2,
            canaries[2]
                .clone()
                .with_key(StageKey::built("staging_canary".into())),
        );
        assert!(Plan::new(canaries).is_ok());

        let mut no_issue = default();
        no_issue[4]
            .checklist
            .retain(|i| *i != CheckItem::InfrastructureIssueCreated);
        assert!(matches!(
            Plan::new(no_issue),
            Err(PlanError::FirstProductionStepWithoutInfrastructureIssue { stage: 5, .. })
        ));
        // Later production steps may go without.
        assert!(!Plan::gitaly_default().stages()[5].requires_infrastructure_issue());

        let mut zero = default();
        zero[4].kind = StageKind::Trial {
            environment: Environment::Production,
            flag: FlagValue::Percent(0),
        };
        assert!(matches!(
            Plan::new(zero),
            Err(PlanError::PercentOutOfRange { percent: 0, .. })
        ));

        let misplaced: [(usize, CheckItem); 4] = [
            (8, CheckItem::RoutesListed),
            (3, CheckItem::RoutesListed),
            (7, CheckItem::AcceptanceIssueClosed),
            (0, CheckItem::ConversationLabelled),
        ];
        for (index, item) in misplaced {
            let mut stages = default();
            stages[index].checklist.push(item);
            assert!(
                matches!(
                    Plan::new(stages),
                    Err(PlanError::ItemDoesNotFit { item: found, .. }) if found == item
                ),
                "{item:?} in stage {index}"
            );
        }
    }

    #[test]
    fn log_windows_are_read_through_their_constructor() {
        let window: LogWindow =
            serde_json::from_str(r#"{"hours": 24}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(window.as_hours(), 24);
        assert_eq!(
            serde_json::to_value(window).unwrap_or_else(|e| panic!("{e}")),
            serde_json::json!({"hours": 24})
        );
        let error = serde_json::from_str::<LogWindow>(r#"{"hours": 0}"#).expect_err("zero");
        assert!(error.to_string().contains("at least one hour"), "{error}");
    }

    #[test]
    fn log_windows() {
        let rows = [
            (TimeDelta::zero(), "now-1h", "last hour"),
            (TimeDelta::minutes(15), "now-1h", "last hour"),
            (TimeDelta::minutes(61), "now-2h", "last 2 hours"),
            (TimeDelta::hours(24), "now-24h", "last 24 hours"),
            (TimeDelta::hours(48), "now-2d", "last 2 days"),
            (TimeDelta::weeks(1), "now-7d", "last 7 days"),
        ];
        for (soak, from, label) in rows {
            let window = LogWindow::covering(soak);
            assert_eq!(
                (window.kibana_from().as_str(), window.label().as_str()),
                (from, label)
            );
        }
        assert_eq!(LogWindow::hours(0), None);
    }

    #[test]
    fn plans_round_trip_through_serde_and_are_checked_on_the_way_in() {
        let plan = Plan::gitaly_default();
        let json = serde_json::to_value(&plan).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["stages"][2]["soak"], 900);
        assert_eq!(
            json["stages"][2]["cadence"]["every"],
            serde_json::json!({"interval": 300, "grace": 60})
        );
        // A stored cadence without a grace gets the default: a fifth of the interval.
        let without: Cadence =
            serde_json::from_value(serde_json::json!({"every": {"interval": 600}}))
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(without, Cadence::every(TimeDelta::minutes(10)));
        assert_eq!(without.grace(), Some(TimeDelta::minutes(2)));
        let back: Plan = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, plan);
        let mut bad = json;
        bad["stages"][5]["kind"]["flag"]["percent"] = 1.into();
        assert!(serde_json::from_value::<Plan>(bad).is_err());
    }

    #[test]
    fn cadence_wording() {
        assert_eq!(
            Cadence::every(TimeDelta::minutes(5)).to_string(),
            "every 5 min"
        );
        assert_eq!(Cadence::every(MID_IMPACT_CADENCE).to_string(), "every 3 h");
        assert_eq!(Cadence::every(TimeDelta::days(1)).to_string(), "daily");
    }
}
