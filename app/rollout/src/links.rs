//! The dashboard links and ChatOps lines of every stage, in exactly the template's forms, with
//! the hosts configurable.
//!
//! The template is reproduced byte for byte, irregularities included: the `#development` channel
//! link ends in `/` and `#dev-gitlab`'s does not; the Kibana links percent-encode some characters
//! and leave others raw; the production kill line is `!feature-set FLAG false` while production
//! percentages use `/chatops run feature set FLAG N`. Those irregularities live in the default
//! [`LinkConfig`] or in one commented place below, so a test can compare against the template.
//!
//! ChatOps lines come in two dialects ([`ChatOps`]): the template's, the default, and GitLab's
//! current one, byte for byte as GitLab's feature-flag documentation and Gitaly's PROCESS.md
//! write it.

use serde::{Deserialize, Serialize};

use crate::checklist::CheckItem;
use crate::identity::{FlagName, MigrationIdentity};
use crate::plan::{Environment, FlagValue, Plan, Stage};

/// A chat channel: the name people see and the link that opens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatChannel {
    pub name: String,
    pub url: String,
}

/// Everything that differs between environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentLinks {
    /// The GitLab instance, e.g. `https://dev.gitlab.org`.
    pub gitlab_url: String,
    /// `var-job` of the Gitaly version tracker dashboard.
    pub version_tracker_job: String,
    /// `var-job` of the Gitaly feature status dashboard.
    pub feature_status_job: String,
    /// Kibana filter selecting this environment's hosts, e.g. `hostname:dev`.
    pub kibana_host_filter: String,
    pub gitaly_sentry_project: String,
    pub gitlab_sentry_project: String,
    pub chat_channel: ChatChannel,
}

/// How flag changes are written as chat lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "dialect", rename_all = "snake_case")]
pub enum ChatOps {
    /// The acceptance-testing template's: `!feature-set FLAG true|false` in each environment's
    /// channel, and `/chatops run feature set FLAG N` for production percentages.
    #[default]
    Template,
    /// GitLab's current ChatOps (its `doc/development/feature_flags/controls.md` and Gitaly's
    /// `doc/PROCESS.md`), every line in one channel: `/chatops run feature set FLAG true --dev`,
    /// `… true --staging`, `/chatops run feature set FLAG 5 --actors` in production (a percentage
    /// of actors: the percentage-of-time gate is deprecated), `… false` to disable; after 100 %
    /// `/chatops run feature set FLAG true`, because "you need both the 100 and true as separate
    /// commands"; and `/chatops run feature delete FLAG --dev --pre --staging --staging-ref
    /// --production` to clean up.
    Gitlab { channel: ChatChannel },
}

impl ChatOps {
    /// GitLab's dialect in `#production`, where GitLab's documentation runs its commands.
    pub fn gitlab() -> ChatOps {
        ChatOps::Gitlab {
            channel: LinkConfig::default().production.chat_channel,
        }
    }
}

/// Base URLs and per-environment settings. `Default` is the template's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkConfig {
    pub migration_process_doc: String,
    pub grafana_url: String,
    /// Kibana's Discover page, up to (not including) the `?`.
    pub kibana_discover_url: String,
    pub kibana_index: String,
    /// Sentry organisation URL; a project slug is appended.
    pub sentry_url: String,
    pub infrastructure_tracker_url: String,
    /// Issues of the Gitaly project; an issue number is appended (for the Conversation issue).
    pub gitaly_issues_url: String,
    pub development: EnvironmentLinks,
    pub staging: EnvironmentLinks,
    pub production: EnvironmentLinks,
    pub chatops: ChatOps,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        let channel = |name: &str, url: &str| ChatChannel {
            name: name.to_owned(),
            url: url.to_owned(),
        };
        LinkConfig {
            migration_process_doc: "https://gitlab.com/gitlab-org/gitaly/blob/master/doc/MIGRATION_PROCESS.md#acceptance-testing-acceptance-testing".to_owned(),
            grafana_url: "https://performance.gitlab.net".to_owned(),
            kibana_discover_url: "https://kibana.gprd.gitlab.com/app/kibana#/discover".to_owned(),
            kibana_index: "gitaly-*".to_owned(),
            sentry_url: "https://sentry.gitlap.com/gitlab/".to_owned(),
            infrastructure_tracker_url: "https://gitlab.com/gitlab-com/infrastructure".to_owned(),
            gitaly_issues_url: "https://gitlab.com/gitlab-org/gitaly/issues/".to_owned(),
            development: EnvironmentLinks {
                gitlab_url: "https://dev.gitlab.org".to_owned(),
                version_tracker_job: "gitaly-dev".to_owned(),
                feature_status_job: "gitaly-dev".to_owned(),
                kibana_host_filter: "hostname:dev".to_owned(),
                gitaly_sentry_project: "devgitlaborg-gitaly".to_owned(),
                gitlab_sentry_project: "devgitlaborg".to_owned(),
                chat_channel: channel("#dev-gitlab", "https://gitlab.slack.com/messages/C6WQ87MU3"),
            },
            staging: EnvironmentLinks {
                gitlab_url: "https://staging.gitlab.com".to_owned(),
                version_tracker_job: "gitaly-staging".to_owned(),
                feature_status_job: "gitaly-nfs-staging".to_owned(),
                kibana_host_filter: "hostname:nfs5".to_owned(),
                gitaly_sentry_project: "staginggitlabcom-gitaly".to_owned(),
                gitlab_sentry_project: "staginggitlabcom".to_owned(),
                chat_channel: channel("#development", "https://gitlab.slack.com/messages/C02PF508L/"),
            },
            production: EnvironmentLinks {
                gitlab_url: "https://gitlab.com".to_owned(),
                version_tracker_job: "gitaly-production".to_owned(),
                feature_status_job: "gitaly-production".to_owned(),
                kibana_host_filter: "NOT hostname:dev".to_owned(),
                gitaly_sentry_project: "gitaly-production".to_owned(),
                gitlab_sentry_project: "gitlabcom".to_owned(),
                chat_channel: channel("#production", "https://gitlab.slack.com/messages/C101F3796/"),
            },
            chatops: ChatOps::Template,
        }
    }
}

impl LinkConfig {
    pub fn environment(&self, environment: Environment) -> &EnvironmentLinks {
        match environment {
            Environment::Development => &self.development,
            Environment::Staging => &self.staging,
            Environment::Production => &self.production,
        }
    }
}

/// What a link points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    MigrationProcess,
    VersionTracker,
    GitlabHelp,
    ChatChannel,
    FeatureStatusDashboard,
    KibanaInvocations,
    KibanaErrors,
    GitalySentry,
    GitlabSentry,
    InfrastructureIssue,
    AcceptanceIssue,
    ConversationIssue,
    /// Done: the acceptance issue, to close it.
    CloseAcceptanceIssue,
    /// Done: the Conversation issue, to label it ~"Migration:Opt-In".
    LabelConversation,
}

impl LinkKind {
    /// Whether the template itself has this link. The acceptance and Conversation issues are
    /// Rampart's additions: the template is the acceptance issue, names the Conversation only by
    /// number, and says "Close this issue and mark the ~Conversation" without a link.
    pub fn in_template(self) -> bool {
        !matches!(
            self,
            LinkKind::AcceptanceIssue
                | LinkKind::ConversationIssue
                | LinkKind::CloseAcceptanceIssue
                | LinkKind::LabelConversation
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub kind: LinkKind,
    pub label: String,
    pub url: String,
}

/// A flag change as a chat line, with the channel to send it in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatOpsCommand {
    pub environment: Environment,
    pub value: FlagValue,
    pub command: String,
    pub channel: ChatChannel,
}

/// The lines of a trial stage: the one that starts it and the one that kills it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCommands {
    pub enable: ChatOpsCommand,
    pub disable: ChatOpsCommand,
}

/// A chat line that is not a flag change: the clean-up once the flag is gone from the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub command: String,
    pub channel: ChatChannel,
}

/// The chat line that sets `flag` to `value` in `environment`, in the configured dialect.
///
/// Template: on and off use the `!feature-set` bot; percentages use `/chatops run feature set`.
/// That single rule reproduces every line of the template, including its production kill line
/// (`!feature-set FLAG false` in `#production`).
pub fn flag_command(
    flag: &FlagName,
    environment: Environment,
    value: FlagValue,
    config: &LinkConfig,
) -> ChatOpsCommand {
    let (command, channel) = match &config.chatops {
        ChatOps::Template => (
            match value {
                FlagValue::On => format!("!feature-set {flag} true"),
                FlagValue::Off => format!("!feature-set {flag} false"),
                FlagValue::Percent(percent) => format!("/chatops run feature set {flag} {percent}"),
            },
            &config.environment(environment).chat_channel,
        ),
        ChatOps::Gitlab { channel } => {
            let value = match value {
                FlagValue::On => "true".to_owned(),
                FlagValue::Off => "false".to_owned(),
                FlagValue::Percent(percent) => format!("{percent} --actors"),
            };
            let switch = chatops_switch(environment);
            (
                format!("/chatops run feature set {flag} {value}{switch}"),
                channel,
            )
        }
    };
    ChatOpsCommand {
        environment,
        value,
        command,
        channel: channel.clone(),
    }
}

/// GitLab ChatOps's switch that selects an environment, with its leading space. Production is
/// ChatOps's default environment: it takes none.
fn chatops_switch(environment: Environment) -> &'static str {
    match environment {
        Environment::Development => " --dev",
        Environment::Staging => " --staging",
        Environment::Production => "",
    }
}

/// GitLab's dialect only: the line that deletes the flag everywhere once its code is gone, as
/// GitLab's documentation writes it — every GitLab.com environment, including the two (`--pre`,
/// `--staging-ref`) that Rampart does not roll through, where the flag may have been set too.
pub fn cleanup_command(flag: &FlagName, config: &LinkConfig) -> Option<ChatLine> {
    let ChatOps::Gitlab { channel } = &config.chatops else {
        return None;
    };
    Some(ChatLine {
        command: format!(
            "/chatops run feature delete {flag} --dev --pre --staging --staging-ref --production"
        ),
        channel: channel.clone(),
    })
}

/// Enable and kill lines for a trial stage; `None` for stages that set no flag. In GitLab's
/// dialect the Done stage has lines too: the flag fully on (`true`) after 100 %, which GitLab
/// keeps apart from the percentage gate, and its kill line.
pub fn stage_commands(
    identity: &MigrationIdentity,
    stage: &Stage,
    config: &LinkConfig,
) -> Option<StageCommands> {
    let (environment, value) = match (stage.flag(), &config.chatops) {
        (Some(flag), _) => flag,
        (None, ChatOps::Gitlab { .. }) if stage.is_done() => {
            (Environment::Production, FlagValue::On)
        }
        (None, _) => return None,
    };
    Some(StageCommands {
        enable: flag_command(&identity.feature_flag, environment, value, config),
        disable: flag_command(&identity.feature_flag, environment, FlagValue::Off, config),
    })
}

/// The label the Done stage puts on the Conversation issue.
pub const OPT_IN_LABEL: &str = "Migration:Opt-In";

/// The Details section of the template, filled in: the four `- **…**: `…`` lines under
/// `## Details`, in the template's order and form.
pub fn details_lines(identity: &MigrationIdentity) -> [String; 4] {
    [
        format!("- **Feature Toggle Name**: `{}`", identity.feature_flag),
        format!("- **GRPC Service**: `{}`", identity.grpc_method),
        format!(
            "- **Required Gitaly Version**: `{}`",
            identity.gitaly_version
        ),
        format!(
            "- **Required GitLab Version**: `{}`",
            identity.gitlab_version
        ),
    ]
}

/// Links about the migration as a whole: the process documentation, its acceptance issue and its
/// Conversation issue.
pub fn overview_links(identity: &MigrationIdentity, config: &LinkConfig) -> Vec<Link> {
    vec![
        Link {
            kind: LinkKind::MigrationProcess,
            label: "Migration Process documentation".to_owned(),
            url: config.migration_process_doc.clone(),
        },
        acceptance_issue_link(identity),
        conversation_link(identity, config),
    ]
}

fn acceptance_issue_link(identity: &MigrationIdentity) -> Link {
    Link {
        kind: LinkKind::AcceptanceIssue,
        label: format!("Acceptance issue #{}", identity.acceptance_issue.number()),
        url: identity.acceptance_issue.url().to_owned(),
    }
}

fn conversation_link(identity: &MigrationIdentity, config: &LinkConfig) -> Link {
    Link {
        kind: LinkKind::ConversationIssue,
        label: format!("Conversation {}", identity.conversation),
        url: join(
            &config.gitaly_issues_url,
            &identity.conversation.number().to_string(),
        ),
    }
}

/// The link that helps with one checklist item of `stage`, if there is one.
pub fn item_link(
    identity: &MigrationIdentity,
    stage: &Stage,
    item: CheckItem,
    config: &LinkConfig,
) -> Option<Link> {
    let method = identity.grpc_method.method();
    let environment = stage.environment();
    let env = environment.map(|e| (e, config.environment(e)));
    let sentry_infix = |e: Environment| match e {
        Environment::Production => String::new(),
        other => format!("{} ", other.label()),
    };
    let link = |kind: LinkKind, label: String, url: String| Some(Link { kind, label, url });
    match item {
        CheckItem::RoutesListed => None,
        CheckItem::GitalyVersionChecked => {
            let (e, links) = env?;
            link(
                LinkKind::VersionTracker,
                format!("Gitaly {} Version Tracker Dashboard", e.label()),
                format!(
                    "{}/dashboard/db/gitaly-version-tracker?orgId=1&var-job={}",
                    config.grafana_url.trim_end_matches('/'),
                    links.version_tracker_job
                ),
            )
        }
        CheckItem::GitlabVersionChecked => {
            let (e, links) = env?;
            link(
                LinkKind::GitlabHelp,
                format!("GitLab {} /help", e.label()),
                join(&links.gitlab_url, "help"),
            )
        }
        CheckItem::FlagEnabled | CheckItem::PercentageSet | CheckItem::ContinueDecision => {
            let (_, links) = env?;
            link(
                LinkKind::ChatChannel,
                links.chat_channel.name.clone(),
                links.chat_channel.url.clone(),
            )
        }
        CheckItem::GrafanaChecked => {
            let (_, links) = env?;
            link(
                LinkKind::FeatureStatusDashboard,
                "Gitaly Feature Status Dashboard".to_owned(),
                format!(
                    "{}/dashboard/db/gitaly-feature-status?from=now-12h&to=now&orgId=1&var-method={method}&var-job={}&refresh=5m",
                    config.grafana_url.trim_end_matches('/'),
                    links.feature_status_job
                ),
            )
        }
        CheckItem::KibanaInvocationsInspected | CheckItem::KibanaErrorsInspected => {
            let (_, links) = env?;
            let errors = item == CheckItem::KibanaErrorsInspected;
            let mut query = format!("grpc.method:{method} AND {}", links.kibana_host_filter);
            if errors {
                query.push_str(" AND NOT grpc.code:OK AND message:finished");
            }
            // The template's Discover links encode the structure (`%28`, `%3A`, `%2C`) and the
            // spaces of the query, and leave the rest raw: reproduced as is.
            let url = format!(
                "{}?_a=%28index%3A'{}'%2Cquery%3A%28query_string%3A%28query%3A'{}'%29%29%29&_g=%28refreshInterval:%28display:Off,pause:!f,value:0%29,time:%28from:{},mode:quick,to:now%29%29",
                config.kibana_discover_url,
                config.kibana_index,
                query.replace(' ', "%20"),
                stage.log_window.kibana_from()
            );
            let (kind, what) = if errors {
                (LinkKind::KibanaErrors, "errors")
            } else {
                (LinkKind::KibanaInvocations, "invocations")
            };
            link(
                kind,
                format!("{method} {what}, {}", stage.log_window.label()),
                url,
            )
        }
        CheckItem::GitalySentryChecked => {
            let (e, links) = env?;
            let query = format!(
                "is:unresolved grpc.method:{}",
                identity.grpc_method.full_name()
            );
            link(
                LinkKind::GitalySentry,
                format!("Gitaly {}Sentry", sentry_infix(e)),
                sentry_url(config, &links.gitaly_sentry_project, &query),
            )
        }
        CheckItem::GitlabSentryChecked => {
            let (e, links) = env?;
            link(
                LinkKind::GitlabSentry,
                format!("GitLab {}Sentry", sentry_infix(e)),
                sentry_url(config, &links.gitlab_sentry_project, "is:unresolved gitaly"),
            )
        }
        CheckItem::InfrastructureIssueCreated => {
            let title = format!("Testing of Gitaly Feature {}", identity.feature_flag);
            let description = format!(
                "{}\n\n/label ~gitaly ~change",
                identity.acceptance_issue.url()
            );
            link(
                LinkKind::InfrastructureIssue,
                "Create issue now".to_owned(),
                format!(
                    "{}?issue[title]={}&issue[description]={}",
                    join(&config.infrastructure_tracker_url, "issues/new"),
                    percent_encode(&title),
                    percent_encode(&description)
                ),
            )
        }
        // The template's last step, "Close this issue and mark the ~Conversation as
        // ~"Migration:Opt-In"", as one link per issue, labelled with what to do there.
        CheckItem::AcceptanceIssueClosed => link(
            LinkKind::CloseAcceptanceIssue,
            format!(
                "Close acceptance issue #{}",
                identity.acceptance_issue.number()
            ),
            identity.acceptance_issue.url().to_owned(),
        ),
        CheckItem::ConversationLabelled => link(
            LinkKind::LabelConversation,
            format!(
                "Label Conversation {} ~\"{OPT_IN_LABEL}\"",
                identity.conversation
            ),
            conversation_link(identity, config).url,
        ),
    }
}

/// The links of a stage, in checklist order, each URL once.
pub fn stage_links(identity: &MigrationIdentity, stage: &Stage, config: &LinkConfig) -> Vec<Link> {
    let mut links: Vec<Link> = Vec::new();
    for item in &stage.checklist {
        if let Some(link) = item_link(identity, stage, *item, config)
            && !links.iter().any(|l| l.url == link.url)
        {
            links.push(link);
        }
    }
    links
}

/// Every link of a migration: the overview, then each stage's.
pub fn plan_links(identity: &MigrationIdentity, plan: &Plan, config: &LinkConfig) -> Vec<Link> {
    let mut links = overview_links(identity, config);
    for stage in plan.stages() {
        links.extend(stage_links(identity, stage, config));
    }
    links
}

/// Every ChatOps line of a migration, stage by stage.
pub fn plan_commands(
    identity: &MigrationIdentity,
    plan: &Plan,
    config: &LinkConfig,
) -> Vec<StageCommands> {
    plan.stages()
        .iter()
        .filter_map(|stage| stage_commands(identity, stage, config))
        .collect()
}

fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path)
}

fn sentry_url(config: &LinkConfig, project: &str, query: &str) -> String {
    format!(
        "{}/?query={}",
        join(&config.sentry_url, project),
        form_encode(query)
    )
}

/// RFC 3986 percent-encoding: everything but unreserved characters, spaces as `%20`.
fn percent_encode(text: &str) -> String {
    encode(text, "%20")
}

/// `application/x-www-form-urlencoded`: as [`percent_encode`] but spaces as `+` (Sentry's form).
fn form_encode(text: &str) -> String {
    encode(text, "+")
}

fn encode(text: &str, space: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push_str(space),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoders() {
        assert_eq!(percent_encode("a b/c:d~e\n"), "a%20b%2Fc%3Ad~e%0A");
        assert_eq!(
            form_encode("is:unresolved gitaly"),
            "is%3Aunresolved+gitaly"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn done_links_say_what_to_do() {
        let raw = crate::identity::RawIdentity {
            feature_flag: "gitaly_find_commit_v2".into(),
            grpc_method: "CommitService::FindCommit".into(),
            gitaly_version: "v16.3.2".into(),
            gitlab_version: "v16.3".into(),
            routes: vec![],
            acceptance_issue: "https://gitlab.com/gitlab-org/gitaly/issues/1234".into(),
            conversation: "#567".into(),
        };
        let identity = MigrationIdentity::parse(&raw).unwrap_or_else(|e| panic!("{e}"));
        let plan = Plan::gitaly_default();
        let done = &plan.stages()[plan.done_index()];
        let links: Vec<(LinkKind, String, String)> =
            stage_links(&identity, done, &LinkConfig::default())
                .into_iter()
                .map(|l| (l.kind, l.label, l.url))
                .collect();
        assert_eq!(
            links,
            [
                (
                    LinkKind::CloseAcceptanceIssue,
                    "Close acceptance issue #1234".to_owned(),
                    "https://gitlab.com/gitlab-org/gitaly/issues/1234".to_owned()
                ),
                (
                    LinkKind::LabelConversation,
                    "Label Conversation #567 ~\"Migration:Opt-In\"".to_owned(),
                    "https://gitlab.com/gitlab-org/gitaly/issues/567".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn join_tolerates_trailing_slashes() {
        assert_eq!(join("https://x/", "help"), "https://x/help");
        assert_eq!(join("https://x", "help"), "https://x/help");
    }
}
