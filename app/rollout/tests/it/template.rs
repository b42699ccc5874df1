//! The generators against the acceptance-testing template itself: every link and command of the
//! template, with its placeholders filled, must come out of `rollout::links` byte for byte,
//! nothing the generators produce for the template's stages may be missing from the template,
//! and the whole issue text `rollout::issue` renders is the template. GitLab's ChatOps dialect is
//! checked against the examples of GitLab's and Gitaly's documentation.

use std::collections::BTreeSet;

use rollout::{
    CheckItem, LinkConfig, MigrationIdentity, Plan, acceptance_issue, details_lines, flag_command,
    overview_links, plan_commands, plan_links, stage_commands, stage_links,
};

/// The acceptance-testing template, a copy of the team's reference
/// (`shared/reference/acceptance-testing-template.md`), compiled in: the tests read no file.
const TEMPLATE: &str = include_str!("../fixtures/acceptance-testing-template.md");

/// The template's placeholders and what the sample identity fills them with. `vX.X.X` comes
/// before `vX.X`, which is a prefix of it.
fn placeholders(identity: &MigrationIdentity) -> [(&'static str, String); 7] {
    [
        ("GITALY_FEATURE_NAME", identity.feature_flag.to_string()),
        (
            "GRPC_SERVICE_NAME",
            identity.grpc_method.service().to_owned(),
        ),
        ("GRPC_METHOD_NAME", identity.grpc_method.method().to_owned()),
        (
            "ACCEPTANCE_TEST_ISSUE_NUMBER",
            identity.acceptance_issue.number().to_string(),
        ),
        (
            "CONVERSATION_NUMBER",
            identity.conversation.number().to_string(),
        ),
        ("vX.X.X", identity.gitaly_version.to_string()),
        ("vX.X", identity.gitlab_version.to_string()),
    ]
}

fn filled_template() -> String {
    let mut text = TEMPLATE.to_owned();
    for (placeholder, value) in placeholders(&crate::common::identity()) {
        assert!(
            text.contains(placeholder),
            "the template uses {placeholder}"
        );
        text = text.replace(placeholder, &value);
    }
    text
}

/// A markdown link `[label](https://…)` or a bare `https://…` URL (label `None`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FoundLink {
    label: Option<String>,
    url: String,
}

fn links_in(text: &str) -> Vec<FoundLink> {
    let mut found = Vec::new();
    for (start, _) in text.match_indices("https://") {
        let rest = &text[start..];
        if text[..start].ends_with("](") {
            // The template's URLs contain no raw `)`: the first one closes the link.
            let end = rest
                .find(')')
                .unwrap_or_else(|| panic!("unclosed link at {start}"));
            let before = &text[..start - 2];
            let open = before
                .rfind('[')
                .unwrap_or_else(|| panic!("link without label at {start}"));
            found.push(FoundLink {
                label: Some(before[open + 1..].trim_matches('`').to_owned()),
                url: rest[..end].to_owned(),
            });
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            found.push(FoundLink {
                label: None,
                url: rest[..end].to_owned(),
            });
        }
    }
    found
}

/// `(command, channel URL)` for every backticked `!feature-set` / `/chatops` line; the channel is
/// the link that follows on the same line.
fn commands_in(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for line in text.lines() {
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && (span.starts_with("!feature-set") || span.starts_with("/chatops")) {
                let after = &line[line.find(span).unwrap_or(0) + span.len()..];
                let channel = links_in(after)
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| panic!("no channel after `{span}`"));
                found.push((span.to_owned(), channel.url));
            }
        }
    }
    found
}

/// The text before `## 1.` and then each numbered section, in order.
fn sections(text: &str) -> (String, Vec<String>) {
    let mut header = String::new();
    let mut numbered: Vec<String> = Vec::new();
    for line in text.lines() {
        let is_numbered = line
            .strip_prefix("## ")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        if is_numbered {
            numbered.push(String::new());
        }
        let target = numbered.last_mut().unwrap_or(&mut header);
        target.push_str(line);
        target.push('\n');
    }
    (header, numbered)
}

fn unique_urls(links: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for url in links {
        if !seen.contains(&url) {
            seen.push(url);
        }
    }
    seen
}

#[test]
fn every_template_link_is_generated_byte_for_byte_and_nothing_else() {
    let template = filled_template();
    let identity = crate::common::identity();
    let plan = Plan::gitaly_default();
    let config = LinkConfig::default();

    let found = links_in(&template);
    assert!(
        found.len() >= 40,
        "found only {} links: extraction broke",
        found.len()
    );
    let generated = plan_links(&identity, &plan, &config);
    let generated_urls: BTreeSet<&str> = generated.iter().map(|l| l.url.as_str()).collect();

    for link in &found {
        assert!(
            generated_urls.contains(link.url.as_str()),
            "the template's link is not generated:\n{}",
            link.url
        );
    }

    let template_urls: BTreeSet<&str> = found.iter().map(|l| l.url.as_str()).collect();
    for link in generated.iter().filter(|l| l.kind.in_template()) {
        assert!(
            template_urls.contains(link.url.as_str()),
            "generated a link the template does not have ({:?}):\n{}",
            link.kind,
            link.url
        );
    }
}

#[test]
fn each_section_has_exactly_its_stages_links_in_order() {
    let template = filled_template();
    let identity = crate::common::identity();
    let plan = Plan::gitaly_default();
    let config = LinkConfig::default();
    let (header, numbered) = sections(&template);

    let header_urls = unique_urls(links_in(&header).into_iter().map(|l| l.url));
    let overview: Vec<rollout::Link> = overview_links(&identity, &config)
        .into_iter()
        .filter(|l| l.kind.in_template())
        .collect();
    assert_eq!(
        header_urls,
        overview.iter().map(|l| l.url.clone()).collect::<Vec<_>>()
    );
    assert_labels_match(&header, &overview, "the header");

    // Sections 1–8 are the plan's stages before Done; Done's links (the acceptance and
    // Conversation issues) are Rampart's own.
    assert_eq!(numbered.len(), plan.len() - 1);
    for (section, stage) in numbered.iter().zip(plan.stages()) {
        let in_section = unique_urls(links_in(section).into_iter().map(|l| l.url));
        let generated: Vec<String> = stage_links(&identity, stage, &config)
            .into_iter()
            .filter(|l| l.kind.in_template())
            .map(|l| l.url)
            .collect();
        assert_eq!(in_section, generated, "stage ‘{}’", stage.name);
        assert_labels_match(
            section,
            &stage_links(&identity, stage, &config),
            &stage.name,
        );

        // The decision's heading: "#### Continue?", or "#### Success?" at 100 %.
        let headings: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("#### "))
            .filter(|h| h.ends_with('?'))
            .collect();
        let decision = stage
            .checklist
            .contains(&CheckItem::ContinueDecision)
            .then(|| CheckItem::ContinueDecision.label_in(stage));
        assert_eq!(
            headings,
            decision.into_iter().collect::<Vec<_>>(),
            "stage ‘{}’",
            stage.name
        );

        let commands = stage_commands(&identity, stage, &config);
        let generated_commands: Vec<(String, String)> = commands
            .iter()
            .flat_map(|c| [&c.enable, &c.disable])
            .map(|c| (c.command.clone(), c.channel.url.clone()))
            .collect();
        for command in commands_in(section) {
            assert!(
                generated_commands.contains(&command),
                "stage ‘{}’: {command:?} is not generated (generated {generated_commands:?})",
                stage.name
            );
        }
        assert_eq!(
            commands.is_some(),
            !commands_in(section).is_empty(),
            "stage ‘{}’ has commands exactly when its section does",
            stage.name
        );
    }
    let done = &plan.stages()[plan.len() - 1];
    assert!(
        stage_links(&identity, done, &config)
            .iter()
            .all(|l| !l.kind.in_template()),
        "Done has only Rampart's own links"
    );
}

/// Every labelled link of one template section has that label on the same URL among `generated`,
/// the links of the section's own stage.
fn assert_labels_match(section: &str, generated: &[rollout::Link], what: &str) {
    for link in links_in(section) {
        let Some(label) = link.label else { continue };
        let labels: Vec<&str> = generated
            .iter()
            .filter(|g| g.url == link.url)
            .map(|g| g.label.as_str())
            .collect();
        assert!(
            labels.contains(&label.as_str()),
            "{what}: the template labels {} {label:?}, generated {labels:?}",
            link.url
        );
    }
}

#[test]
fn every_template_command_is_generated_with_its_channel_and_nothing_else() {
    let template = filled_template();
    let identity = crate::common::identity();
    let plan = Plan::gitaly_default();
    let config = LinkConfig::default();

    let found: BTreeSet<(String, String)> = commands_in(&template).into_iter().collect();
    assert_eq!(
        found.len(),
        9,
        "distinct command lines in the template: {found:?}"
    );
    let generated: BTreeSet<(String, String)> = plan_commands(&identity, &plan, &config)
        .iter()
        .flat_map(|c| [&c.enable, &c.disable])
        .map(|c| (c.command.clone(), c.channel.url.clone()))
        .collect();
    assert_eq!(found, generated);
}

#[test]
fn details_section_matches_the_identity() {
    let template = filled_template();
    let identity = crate::common::identity();
    assert!(
        template.starts_with(&format!("~Conversation: {}\n", identity.conversation)),
        "first line"
    );
    let details: Vec<&str> = template
        .lines()
        .skip_while(|l| *l != "## Details")
        .skip(1)
        .take_while(|l| l.starts_with("- "))
        .collect();
    assert_eq!(details.len(), 4, "{details:?}");
    assert_eq!(details, details_lines(&identity));
    assert_eq!(
        details[2..],
        [
            "- **Required Gitaly Version**: `v16.3.2`",
            "- **Required GitLab Version**: `v16.3`"
        ]
    );
}

#[test]
fn hosts_are_configurable() {
    let identity = crate::common::identity();
    let mut config = LinkConfig {
        grafana_url: "https://grafana.example.test/".into(),
        sentry_url: "https://sentry.example.test/acme".into(),
        ..LinkConfig::default()
    };
    config.production.chat_channel.url = "https://chat.example.test/prod".into();
    let plan = Plan::gitaly_default();
    let links = plan_links(&identity, &plan, &config);
    assert!(links.iter().any(|l| l.url
        == "https://grafana.example.test/dashboard/db/gitaly-version-tracker?orgId=1&var-job=gitaly-dev"));
    assert!(links.iter().any(
        |l| l.url == "https://sentry.example.test/acme/gitlabcom/?query=is%3Aunresolved+gitaly"
    ));
    assert!(
        !links
            .iter()
            .any(|l| l.url.contains("performance.gitlab.net"))
    );
    let command = flag_command(
        &identity.feature_flag,
        rollout::Environment::Production,
        rollout::FlagValue::Percent(25),
        &config,
    );
    assert_eq!(
        command.command,
        "/chatops run feature set gitaly_find_commit_v2 25"
    );
    assert_eq!(command.channel.url, "https://chat.example.test/prod");
    assert_eq!(command.channel.name, "#production");
}

#[test]
fn custom_plans_get_links_for_every_stage() {
    let identity = crate::common::identity();
    let config = LinkConfig::default();
    let plan =
        Plan::gitaly_with_percentages(&[1, 10, 25, 50, 75, 100]).unwrap_or_else(|e| panic!("{e}"));
    let ten = &plan.stages()[5];
    let links = stage_links(&identity, ten, &config);
    assert!(
        links
            .iter()
            .any(|l| l.label == "FindCommit invocations, last 24 hours")
    );
    let commands = stage_commands(&identity, ten, &config).unwrap_or_else(|| panic!("a trial"));
    assert_eq!(
        commands.enable.command,
        "/chatops run feature set gitaly_find_commit_v2 10"
    );
    assert_eq!(
        commands.disable.command,
        "!feature-set gitaly_find_commit_v2 false"
    );
}

/// The template's routes prompt, which the issue replaces with the migration's routes.
const ROUTES_PROMPT: &str =
    "  1. Please list a set of routes that are known to use this endpoint...\n  2. ...\n  3. ...\n";

#[test]
fn the_issue_text_is_the_template_byte_for_byte() {
    let template = filled_template();
    let plan = Plan::gitaly_default();
    let config = LinkConfig::default();

    // Without routes the routes prompt stays, and the text is the template exactly.
    let mut raw = crate::common::raw_identity();
    raw.routes.clear();
    let no_routes = MigrationIdentity::parse(&raw).unwrap_or_else(|e| panic!("{e}"));
    assert_texts_equal(&acceptance_issue(&no_routes, &plan, &config), &template);

    // With routes, they take the prompt's place.
    let identity = crate::common::identity();
    let routes: String = identity
        .routes
        .as_slice()
        .iter()
        .enumerate()
        .map(|(i, route)| format!("  {}. {route}\n", i + 1))
        .collect();
    assert!(template.contains(ROUTES_PROMPT));
    let expected = template.replacen(ROUTES_PROMPT, &routes, 1);
    let text = acceptance_issue(&identity, &plan, &config);
    assert_texts_equal(&text, &expected);
    assert!(text.ends_with("\n\n/label ~\"Acceptance Testing\"\n"));
}

/// Equal, or a failure that names the first line that differs.
fn assert_texts_equal(generated: &str, expected: &str) {
    if generated == expected {
        return;
    }
    let first = generated
        .lines()
        .zip(expected.lines())
        .position(|(g, e)| g != e)
        .unwrap_or_else(|| generated.lines().count().min(expected.lines().count()));
    panic!(
        "differs at line {}:\n generated: {:?}\n  expected: {:?}",
        first + 1,
        generated.lines().nth(first),
        expected.lines().nth(first)
    );
}

#[test]
fn custom_plans_get_an_issue_with_a_section_per_stage() {
    let identity = crate::common::identity();
    let plan =
        Plan::gitaly_with_percentages(&[1, 10, 25, 50, 75, 100]).unwrap_or_else(|e| panic!("{e}"));
    let text = acceptance_issue(&identity, &plan, &LinkConfig::default());
    let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## Details",
            "## 1. Preparation",
            "## 2. Development Trial",
            "## 3. Staging Trial",
            "## 4. Production Server Version Check",
            "## 5. Initial Impact Check",
            "## 6. Low Impact Trial at 10%",
            "## 7. Low Impact Trial at 25%",
            "## 8. Mid Impact Trial at 50%",
            "## 9. Mid Impact Trial at 75%",
            "## 10. Full Impact Trial",
        ]
    );
    assert!(text.contains(
        "- [ ] Set Gitaly to 10% using the command `/chatops run feature set gitaly_find_commit_v2 10` in [`#production`](https://gitlab.slack.com/messages/C101F3796/)"
    ));
    assert!(text.contains("Then leave running while monitoring for at least **24 hours**.\n\n#### Monitor (at least every few hours)\n"));
}

/// GitLab's current ChatOps, against the examples in GitLab's feature-flag documentation
/// (`doc/development/feature_flags/controls.md`) and Gitaly's `doc/PROCESS.md`.
#[test]
fn gitlab_chatops_lines_are_the_documentations() {
    use rollout::{ChatOps, Environment, FlagName, FlagValue, cleanup_command};
    let config = LinkConfig {
        chatops: ChatOps::gitlab(),
        ..LinkConfig::default()
    };
    let flag = |name: &str| FlagName::parse(name).unwrap_or_else(|e| panic!("{e}"));
    let rows: &[(&str, Environment, FlagValue, &str)] = &[
        // Gitaly's PROCESS.md, "Enable on staging".
        (
            "gitaly_go_find_license",
            Environment::Staging,
            FlagValue::On,
            "/chatops run feature set gitaly_go_find_license true --staging",
        ),
        // controls.md, percentage of actors in production, then globally on and off.
        (
            "some_feature",
            Environment::Production,
            FlagValue::Percent(25),
            "/chatops run feature set some_feature 25 --actors",
        ),
        (
            "some_feature",
            Environment::Production,
            FlagValue::On,
            "/chatops run feature set some_feature true",
        ),
        (
            "some_feature",
            Environment::Production,
            FlagValue::Off,
            "/chatops run feature set some_feature false",
        ),
        // controls.md, a percentage of actors on dev and on staging.
        (
            "new_navigation_bar",
            Environment::Development,
            FlagValue::Percent(25),
            "/chatops run feature set new_navigation_bar 25 --actors --dev",
        ),
        (
            "new_navigation_bar",
            Environment::Staging,
            FlagValue::Percent(25),
            "/chatops run feature set new_navigation_bar 25 --actors --staging",
        ),
    ];
    for (name, environment, value, line) in rows {
        let command = flag_command(&flag(name), *environment, *value, &config);
        assert_eq!(command.command, *line);
        assert_eq!(
            command.channel.name, "#production",
            "ChatOps runs in #production"
        );
    }
    // controls.md's "Cleanup ChatOps": the record deleted in every GitLab.com environment.
    assert_eq!(
        cleanup_command(&flag("some_feature"), &config).map(|c| c.command),
        Some(
            "/chatops run feature delete some_feature --dev --pre --staging --staging-ref --production"
                .to_owned()
        )
    );
    assert_eq!(
        cleanup_command(&flag("some_feature"), &LinkConfig::default()),
        None,
        "the template has no clean-up line"
    );

    // A whole plan: dev and staging on by switch, production by percentages of actors, then
    // `100` and `true` as separate commands, as Gitaly's PROCESS.md insists.
    let identity = crate::common::identity();
    let plan = Plan::gitaly_default();
    let enables: Vec<String> = plan_commands(&identity, &plan, &config)
        .into_iter()
        .map(|c| c.enable.command)
        .collect();
    assert_eq!(
        enables,
        [
            "/chatops run feature set gitaly_find_commit_v2 true --dev",
            "/chatops run feature set gitaly_find_commit_v2 true --staging",
            "/chatops run feature set gitaly_find_commit_v2 1 --actors",
            "/chatops run feature set gitaly_find_commit_v2 5 --actors",
            "/chatops run feature set gitaly_find_commit_v2 50 --actors",
            "/chatops run feature set gitaly_find_commit_v2 100 --actors",
            "/chatops run feature set gitaly_find_commit_v2 true",
        ]
    );
    let staging =
        stage_commands(&identity, &plan.stages()[2], &config).unwrap_or_else(|| panic!("a trial"));
    assert_eq!(
        staging.disable.command,
        "/chatops run feature set gitaly_find_commit_v2 false --staging"
    );

    // The issue in that dialect uses those lines and none of the template's.
    let text = acceptance_issue(&identity, &plan, &config);
    assert!(!text.contains("!feature-set"), "{text}");
    for line in [
        "- [ ] `/chatops run feature set gitaly_find_commit_v2 true --dev` in [`#production`](https://gitlab.slack.com/messages/C101F3796/)",
        "disable trial immediately using `/chatops run feature set gitaly_find_commit_v2 false --staging` in [`#production`]",
        "- [ ] Enable the flag fully with `/chatops run feature set gitaly_find_commit_v2 true` in [`#production`]",
        "- [ ] Once the flag is removed from the code, delete it with `/chatops run feature delete gitaly_find_commit_v2 --dev --pre --staging --staging-ref --production` in [`#production`]",
    ] {
        assert!(text.contains(line), "missing {line:?}");
    }
    // The dialect is configuration: it survives storage, and its absence means the template's.
    let json = serde_json::to_value(&config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["chatops"]["dialect"], "gitlab");
    let back: LinkConfig = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, config);
    let old: LinkConfig = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(old.chatops, ChatOps::Template);
}
