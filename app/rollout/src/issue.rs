//! The acceptance issue's text: the template, filled in for one migration and its plan, ready to
//! open as the issue that tracks the rollout.
//!
//! For the template's default plan with the template's ChatOps dialect the text *is* the template,
//! byte for byte, with its placeholders filled (the routes prompt becomes the migration's routes
//! once it lists some). Other plans get the same sections for their stages; GitLab's ChatOps
//! dialect changes only the command lines and adds the finishing ones.

use chrono::TimeDelta;

use crate::checklist::CheckItem;
use crate::identity::MigrationIdentity;
use crate::links::{self, ChatChannel, ChatOpsCommand, LinkConfig};
use crate::plan::{Cadence, Environment, MID_IMPACT_CADENCE, Plan, Stage, StageKind};

/// The label the template's last line puts on the acceptance issue.
pub const ACCEPTANCE_TESTING_LABEL: &str = "Acceptance Testing";

/// The acceptance issue for `identity` rolled out by `plan`, as Markdown.
pub fn acceptance_issue(identity: &MigrationIdentity, plan: &Plan, config: &LinkConfig) -> String {
    let mut text = Text::default();
    text.line(format!("~Conversation: {}", identity.conversation));
    text.blank();
    text.line(format!(
        "See the [Migration Process documentation]({})",
        config.migration_process_doc
    ));
    text.line("for more information on the Acceptance Testing stage of the process.");
    text.blank();
    text.line("## Details");
    for line in links::details_lines(identity) {
        text.line(line);
    }
    text.blank();
    text.line("-".repeat(80));
    text.blank();

    let ramp = production_titles(plan);
    let sections = plan.stages().iter().filter(|stage| !stage.is_done());
    for (number, stage) in (1..).zip(sections) {
        let section = Section {
            identity,
            stage,
            config,
        };
        match stage.kind {
            StageKind::Preparation => section.preparation(&mut text, number),
            StageKind::VersionCheck { environment } => {
                text.line(format!(
                    "## {number}. {} Server Version Check",
                    environment.label()
                ));
                text.blank();
                section.version_lines(&mut text);
                text.blank();
            }
            StageKind::Trial {
                environment: Environment::Production,
                ..
            } => {
                let title = ramp
                    .iter()
                    .find(|(key, _)| *key == stage.key.as_str())
                    .map_or("Production Trial", |(_, title)| title.as_str());
                section.production_trial(&mut text, number, title);
            }
            StageKind::Trial { environment, .. } => {
                section.trial_before_production(&mut text, number, environment);
            }
            StageKind::Done => {}
        }
    }
    text.line(format!("/label ~\"{ACCEPTANCE_TESTING_LABEL}\""));
    text.0
}

#[derive(Default)]
struct Text(String);

impl Text {
    fn line(&mut self, line: impl AsRef<str>) {
        self.0.push_str(line.as_ref());
        self.0.push('\n');
    }

    fn blank(&mut self) {
        self.0.push('\n');
    }
}

/// The template's wording differs between its sections in small ways, reproduced so the text is
/// the template's, byte for byte: the dev section's "Enable on `…`:" has a colon, its kill line
/// says "proceed proceed", and the staging kill line says "using" where the others say "with".
struct Quirks {
    enable_colon: &'static str,
    kill_verb: &'static str,
    proceed: &'static str,
}

fn quirks(environment: Environment) -> Quirks {
    match environment {
        Environment::Development => Quirks {
            enable_colon: ":",
            kill_verb: "with",
            proceed: "proceed proceed",
        },
        Environment::Staging => Quirks {
            enable_colon: "",
            kill_verb: "using",
            proceed: "proceed",
        },
        Environment::Production => Quirks {
            enable_colon: "",
            kill_verb: "with",
            proceed: "proceed",
        },
    }
}

/// The template's titles of the production steps, by stage key: "Initial Impact Check" for the
/// first, then "Low", "Mid" and "Full Impact Trial" by percentage. A custom plan with two steps of
/// one tier gets the percentage in the title, so no two sections read alike.
fn production_titles(plan: &Plan) -> Vec<(&str, String)> {
    let steps: Vec<(&Stage, u8)> = plan
        .stages()
        .iter()
        .filter_map(|stage| stage.production_percent().map(|p| (stage, p)))
        .collect();
    let tier = |position: usize, percent: u8| match (position, percent) {
        (0, _) => "Initial Impact Check",
        (_, 100) => "Full Impact Trial",
        (_, p) if p < 50 => "Low Impact Trial",
        _ => "Mid Impact Trial",
    };
    let tiers: Vec<&str> = (0..)
        .zip(&steps)
        .map(|(position, (_, percent))| tier(position, *percent))
        .collect();
    steps
        .iter()
        .zip(&tiers)
        .map(|((stage, percent), tier)| {
            let title = if tiers.iter().filter(|t| *t == tier).count() > 1 {
                format!("{tier} at {percent}%")
            } else {
                (*tier).to_owned()
            };
            (stage.key.as_str(), title)
        })
        .collect()
}

struct Section<'a> {
    identity: &'a MigrationIdentity,
    stage: &'a Stage,
    config: &'a LinkConfig,
}

impl Section<'_> {
    fn has(&self, item: CheckItem) -> bool {
        self.stage.checklist.contains(&item)
    }

    /// `[label](url)` of an item's link, empty if it has none.
    fn link(&self, item: CheckItem) -> String {
        links::item_link(self.identity, self.stage, item, self.config)
            .map(|link| format!("[{}]({})", link.label, link.url))
            .unwrap_or_default()
    }

    fn url(&self, item: CheckItem) -> String {
        links::item_link(self.identity, self.stage, item, self.config)
            .map(|link| link.url)
            .unwrap_or_default()
    }

    fn preparation(&self, text: &mut Text, number: usize) {
        text.line(format!("## {number}. Preparation"));
        text.blank();
        if self.has(CheckItem::RoutesListed) {
            text.line("- [ ] **Routes**: what routes use this migration?");
            let routes = self.identity.routes.as_slice();
            if routes.is_empty() {
                text.line(
                    "  1. Please list a set of routes that are known to use this endpoint...",
                );
                text.line("  2. ...");
                text.line("  3. ...");
            }
            for (n, route) in (1..).zip(routes) {
                text.line(format!("  {n}. {route}"));
            }
        }
        text.blank();
    }

    fn version_lines(&self, text: &mut Text) {
        if self.has(CheckItem::GitalyVersionChecked) {
            text.line(format!(
                "- [ ] Gitaly: {}",
                self.link(CheckItem::GitalyVersionChecked)
            ));
        }
        if self.has(CheckItem::GitlabVersionChecked) {
            text.line(format!(
                "- [ ] GitLab: {}",
                self.url(CheckItem::GitlabVersionChecked)
            ));
        }
    }

    fn commands(&self) -> Option<(ChatOpsCommand, ChatOpsCommand)> {
        links::stage_commands(self.identity, self.stage, self.config).map(|c| (c.enable, c.disable))
    }

    /// The development and staging trials.
    fn trial_before_production(&self, text: &mut Text, number: usize, environment: Environment) {
        let title = match environment {
            Environment::Development => "Development",
            Environment::Staging => "Staging",
            Environment::Production => "Production",
        };
        text.line(format!("## {number}. {title} Trial"));
        text.blank();
        if self.has(CheckItem::GitalyVersionChecked) || self.has(CheckItem::GitlabVersionChecked) {
            text.line(format!(
                "#### Check {} Server Versions",
                environment.label()
            ));
            self.version_lines(text);
            text.blank();
        }
        let environment_links = self.config.environment(environment);
        let host = environment_links
            .gitlab_url
            .split_once("://")
            .map_or(environment_links.gitlab_url.as_str(), |(_, host)| host)
            .trim_end_matches('/');
        let quirks = quirks(environment);
        if let (true, Some((enable, _))) = (self.has(CheckItem::FlagEnabled), self.commands()) {
            text.line(format!("#### Enable on `{host}`{}", quirks.enable_colon));
            text.line(format!(
                "- [ ] `{}` in {}",
                enable.command,
                channel(&enable.channel)
            ));
            text.blank();
        }
        text.line(self.leave_running());
        text.blank();
        self.monitoring(text, true);
        self.decision(text);
    }

    fn production_trial(&self, text: &mut Text, number: usize, title: &str) {
        text.line(format!("## {number}. {title}"));
        text.blank();
        if self.has(CheckItem::InfrastructureIssueCreated) {
            text.line(format!(
                "- [ ] Create an issue in the infrastructure tracker: {}",
                self.link(CheckItem::InfrastructureIssueCreated)
            ));
        }
        if let (true, Some((set, _)), Some(percent)) = (
            self.has(CheckItem::PercentageSet),
            self.commands(),
            self.stage.production_percent(),
        ) {
            text.line(format!(
                "- [ ] Set Gitaly to {percent}% using the command `{}` in {}",
                set.command,
                channel(&set.channel)
            ));
        }
        text.blank();
        text.line(self.leave_running());
        text.blank();
        self.monitoring(text, false);
        self.decision(text);
    }

    /// "Then leave running while monitoring …": the template asks for testing by hand while the
    /// trial is young (dev, staging, the first production step), and only for time after that.
    fn leave_running(&self) -> String {
        let testing = "performing some testing through web, api or SSH.";
        if self.stage.soak <= TimeDelta::zero() {
            return format!("Then leave running while monitoring and {testing}");
        }
        let soak = words(self.stage.soak);
        let young = self.stage.production_percent().is_none()
            || self.has(CheckItem::InfrastructureIssueCreated);
        if young {
            format!("Then leave running while monitoring for at least **{soak}** while {testing}")
        } else {
            format!("Then leave running while monitoring for at least **{soak}**.")
        }
    }

    /// The "#### Monitor (…)" block; the template leaves a blank line under the heading before
    /// production and none in it.
    fn monitoring(&self, text: &mut Text, blank_after_heading: bool) {
        if !CheckItem::MONITORING.iter().any(|item| self.has(*item)) {
            return;
        }
        text.line(format!(
            "#### Monitor ({})",
            cadence_words(self.stage.cadence)
        ));
        if blank_after_heading {
            text.blank();
        }
        if self.has(CheckItem::GrafanaChecked) {
            let short = match self.stage.environment() {
                Some(Environment::Development) => "dev",
                Some(Environment::Staging) => "staging",
                _ => "production",
            };
            text.line(format!(
                "- [ ] **Monitor Grafana** feature dashboard on {short}: {}",
                self.link(CheckItem::GrafanaChecked)
            ));
        }
        let kibana = [
            CheckItem::KibanaInvocationsInspected,
            CheckItem::KibanaErrorsInspected,
        ];
        if kibana.iter().any(|item| self.has(*item)) {
            text.line("- [ ] **Inspect logs** in ELK:");
            for item in kibana.into_iter().filter(|item| self.has(*item)) {
                text.line(format!("  - {} for unusual activity", self.link(item)));
            }
        }
        for item in [
            CheckItem::GitalySentryChecked,
            CheckItem::GitlabSentryChecked,
        ] {
            if self.has(item) {
                text.line(format!("- [ ] **Check for errors** in {}", self.link(item)));
            }
        }
        text.blank();
    }

    /// "#### Continue?" with the kill line, or at 100 % "#### Success?" with the last steps.
    fn decision(&self, text: &mut Text) {
        if !self.has(CheckItem::ContinueDecision) {
            return;
        }
        let question = CheckItem::ContinueDecision.label_in(self.stage);
        text.line(format!("#### {question}"));
        text.blank();
        if self.stage.production_percent() == Some(100) {
            self.finish(text);
        } else if let (Some((_, kill)), Some(environment)) =
            (self.commands(), self.stage.environment())
        {
            let quirks = quirks(environment);
            text.line(format!(
                "- [ ] On unexpectedly high calls rates, error rates, CPU activity, etc, disable trial immediately {} `{}` in {} otherwise leave running and {} to next stage.",
                quirks.kill_verb,
                kill.command,
                channel(&kill.channel),
                quirks.proceed
            ));
        }
        text.blank();
    }

    /// The template's last step; in GitLab's dialect also the flag fully on and its clean-up.
    fn finish(&self, text: &mut Text) {
        let flag = &self.identity.feature_flag;
        if let Some(on) = links::stage_commands(self.identity, &Stage::done(), self.config) {
            text.line(format!(
                "- [ ] Enable the flag fully with `{}` in {}",
                on.enable.command,
                channel(&on.enable.channel)
            ));
        }
        text.line(format!(
            "- [ ] Close this issue and mark the ~Conversation as ~\"{}\"",
            links::OPT_IN_LABEL
        ));
        if let Some(cleanup) = links::cleanup_command(flag, self.config) {
            text.line(format!(
                "- [ ] Once the flag is removed from the code, delete it with `{}` in {}",
                cleanup.command,
                channel(&cleanup.channel)
            ));
        }
    }
}

fn channel(channel: &ChatChannel) -> String {
    format!("[`{}`]({})", channel.name, channel.url)
}

/// A soak or an interval as the template words it: "15 minutes", "2 hours", "24 hours", "1 week".
fn words(duration: TimeDelta) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let minutes = duration.num_minutes();
    if minutes > 0 && minutes % (7 * 24 * 60) == 0 {
        plural(minutes / (7 * 24 * 60), "week")
    } else if minutes > 0 && minutes % 60 == 0 {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

/// The template's "Monitor (…)" wording for a cadence.
fn cadence_words(cadence: Cadence) -> String {
    match cadence.interval() {
        // The dev trial's "Monitor (initially )", space and all.
        None => "initially ".to_owned(),
        Some(interval) if interval == MID_IMPACT_CADENCE => "at least every few hours".to_owned(),
        Some(interval) if interval == TimeDelta::days(1) => "at least every day".to_owned(),
        Some(interval) if interval <= TimeDelta::minutes(5) => {
            format!("at least every {}, preferably real-time", words(interval))
        }
        Some(interval) => format!("at least every {}", words(interval)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_cadences_in_the_templates_words() {
        let cases = [
            (TimeDelta::minutes(15), "15 minutes"),
            (TimeDelta::hours(2), "2 hours"),
            (TimeDelta::hours(24), "24 hours"),
            (TimeDelta::weeks(1), "1 week"),
            (TimeDelta::minutes(1), "1 minute"),
            (TimeDelta::hours(1), "1 hour"),
            (TimeDelta::minutes(90), "90 minutes"),
        ];
        for (duration, text) in cases {
            assert_eq!(words(duration), text);
        }
        let cadences = [
            (Cadence::Once, "initially "),
            (
                Cadence::every(TimeDelta::minutes(5)),
                "at least every 5 minutes, preferably real-time",
            ),
            (
                Cadence::every(TimeDelta::minutes(20)),
                "at least every 20 minutes",
            ),
            (
                Cadence::every(MID_IMPACT_CADENCE),
                "at least every few hours",
            ),
            (
                Cadence::every(TimeDelta::hours(4)),
                "at least every 4 hours",
            ),
            (Cadence::every(TimeDelta::days(1)), "at least every day"),
        ];
        for (cadence, text) in cadences {
            assert_eq!(cadence_words(cadence), text);
        }
    }
}
