//! Flag control against GitLab's Features API (a contract fake per environment): the walk from
//! development to 100 % with production approvals and the kill switch; faults (errors, lost
//! answers, refusals); two replicas sharing the work; and four eyes under a rush of approvals.

use reqwest::StatusCode;
use rollout::Role;
use serde_json::Value;

use crate::drive::{Driver, signed_in};
use crate::gitlab_fake::{Faults, GitLabFake, RunningGitLab, TOKEN};
use crate::helpers::{ServerProcess, Spawn, TestApp, create_database, spawn_app_with};

/// One GitLab per environment, as dev.gitlab.org, staging and gitlab.com are.
struct GitLabs {
    development: RunningGitLab,
    staging: RunningGitLab,
    production: RunningGitLab,
}

impl GitLabs {
    async fn start() -> GitLabs {
        GitLabs {
            development: GitLabFake::start().await,
            staging: GitLabFake::start().await,
            production: GitLabFake::start().await,
        }
    }

    /// The variables that point Rampart at them, with a backend timeout of `timeout_ms`.
    fn env(&self, timeout_ms: u32) -> Vec<(&'static str, String)> {
        vec![
            ("RAMPART_FLAGS_DEVELOPMENT", "gitlab".to_owned()),
            (
                "RAMPART_GITLAB_DEVELOPMENT_URL",
                self.development.url.clone(),
            ),
            ("RAMPART_GITLAB_DEVELOPMENT_TOKEN", TOKEN.to_owned()),
            ("RAMPART_FLAGS_STAGING", "gitlab".to_owned()),
            ("RAMPART_GITLAB_STAGING_URL", self.staging.url.clone()),
            ("RAMPART_GITLAB_STAGING_TOKEN", TOKEN.to_owned()),
            ("RAMPART_FLAGS_PRODUCTION", "gitlab".to_owned()),
            ("RAMPART_GITLAB_PRODUCTION_URL", self.production.url.clone()),
            ("RAMPART_GITLAB_PRODUCTION_TOKEN", TOKEN.to_owned()),
            ("RAMPART_FLAG_TIMEOUT_MS", timeout_ms.to_string()),
        ]
    }

    /// `(development, staging, production)` as the fakes serve the flag.
    fn values(&self, flag: &str) -> (String, String, String) {
        (
            self.development.fake.value(flag),
            self.staging.fake.value(flag),
            self.production.fake.value(flag),
        )
    }

    fn all(&self) -> [&GitLabFake; 3] {
        [
            &self.development.fake,
            &self.staging.fake,
            &self.production.fake,
        ]
    }
}

async fn app_over(gitlabs: &GitLabs, timeout_ms: u32) -> TestApp {
    spawn_app_with(Spawn {
        env: gitlabs.env(timeout_ms),
        ..Spawn::default()
    })
    .await
}

/// Waits until the migration's page shows `drift` (as `[environment, expected, observed]`).
async fn drift_becomes(drive: &Driver<'_>, drift: &[[&str; 3]]) {
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = drive.detail().await["drift"].clone();
        let now: Vec<[&str; 3]> = shown
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                [
                    d["environment"].as_str().unwrap_or_default(),
                    d["expected"].as_str().unwrap_or_default(),
                    d["observed"].as_str().unwrap_or_default(),
                ]
            })
            .collect();
        if now == drift {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the page shows drift {shown}, not {drift:?}");
}

fn values(d: &str, s: &str, p: &str) -> (String, String, String) {
    (d.to_owned(), s.to_owned(), p.to_owned())
}

async fn audit(app: &TestApp, flag: &str) -> Vec<(String, String, Value)> {
    sqlx::query_as("SELECT actor, action, after FROM audit_log WHERE subject = $1 ORDER BY id")
        .bind(format!("migration:{flag}"))
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_migration_walks_from_development_to_100_percent_through_gitlab_and_is_killed() {
    let gitlabs = GitLabs::start().await;
    let app = app_over(&gitlabs, 2000).await;
    let flag = "gitaly_walk_gitlab";
    let drive = Driver::new(&app, flag).await;
    drive.create_and_start().await;

    let expected = [
        ("development", values("true", "false", "false")),
        ("staging", values("true", "true", "false")),
        ("production_check", values("true", "true", "false")),
        ("production_1", values("true", "true", "1")),
        ("production_5", values("true", "true", "5")),
        ("production_50", values("true", "true", "50")),
        ("production_100", values("true", "true", "true")),
    ];
    for (stage, flags) in expected {
        if stage == "production_50" {
            // Someone fully enabled the flag by hand: GitLab refuses a percentage on it, so
            // Rampart disables it first, as a person at the prompt would.
            gitlabs.production.fake.set_by_hand(flag, "true");
        }
        drive.step().await;
        assert_eq!(drive.stage().await, stage);
        assert_eq!(gitlabs.values(flag), flags, "at {stage}");
    }
    assert_eq!(
        gitlabs.production.fake.writes(),
        [
            (flag.to_owned(), "1".to_owned()),
            (flag.to_owned(), "5".to_owned()),
            (flag.to_owned(), "false".to_owned()),
            (flag.to_owned(), "50".to_owned()),
            (flag.to_owned(), "true".to_owned()),
        ],
        "each change once, and the disable GitLab asks for before a percentage"
    );

    // The kill switch needs no approval and no version, and goes out at once.
    let (status, body) = drive
        .call(
            &drive.engineer,
            "kill_switch",
            &[("flag", flag), ("reason", "error rate 4 % on the new path")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drive.settled().await;
    assert_eq!(gitlabs.values(flag), values("true", "true", "false"));
    assert_eq!(drive.detail().await["status"], "disabled");

    let entries = audit(&app, flag).await;
    let applied: Vec<&(String, String, Value)> = entries
        .iter()
        .filter(|(_, action, _)| action == "flag_change.applied")
        .collect();
    assert_eq!(applied.len(), 7, "{entries:?}");
    assert!(
        applied
            .iter()
            .all(|(actor, _, after)| actor == "[rampart]" && after["backend"] == "gitlab"),
        "{applied:?}"
    );
    // The approvals name their release manager.
    assert!(
        entries.iter().any(|(actor, action, _)| actor == "rita"
            && action == "migration.production_change_approved")
    );

    // The kill waits for a release manager's review: not an engineer's, and only once.
    let kills = drive.detail().await["kills"].clone();
    assert_eq!(kills.as_array().unwrap().len(), 1, "{kills}");
    assert_eq!(kills[0]["reason"], "error rate 4 % on the new path");
    assert_eq!(kills[0]["by"], "erin");
    assert!(kills[0]["review"].is_null());
    let id = kills[0]["id"].to_string();
    let review = [
        ("flag", flag),
        ("kill", id.as_str()),
        ("note", "right call: a bad cache key; fix in 16.6"),
    ];
    let (status, _) = drive.call(&drive.engineer, "review_kill", &review).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    drive
        .ok(&drive.release_manager, "review_kill", &review)
        .await;
    let (status, _) = drive
        .call(&drive.release_manager, "review_kill", &review)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let reviewed = &drive.detail().await["kills"][0]["review"];
    assert_eq!(reviewed["by"], "rita");
    assert_eq!(reviewed["note"], "right call: a bad cache key; fix in 16.6");
}

#[tokio::test]
async fn errors_and_lost_answers_still_apply_each_change_exactly_once() {
    let gitlabs = GitLabs::start().await;
    let app = app_over(&gitlabs, 300).await;
    let flag = "gitaly_walk_faults";
    let drive = Driver::new(&app, flag).await;
    drive.create_and_start().await;
    for fake in gitlabs.all() {
        fake.set_faults(Faults {
            errors_in_ten: 3,
            ..Faults::default()
        });
    }
    for _ in 0..4 {
        drive.step().await;
    }
    assert_eq!(drive.stage().await, "production_1");
    assert_eq!(gitlabs.values(flag), values("true", "true", "1"));

    // The next write lands but its answer never comes back, as if Rampart died mid-apply: the
    // retry finds the flag already set and records it without writing again.
    gitlabs.production.fake.set_faults(Faults {
        lose_write_answers: true,
        ..Faults::default()
    });
    drive.step().await;
    assert_eq!(drive.stage().await, "production_5");
    for (fake, expected) in
        gitlabs
            .all()
            .into_iter()
            .zip([vec!["true"], vec!["true"], vec!["1", "5"]])
    {
        let writes: Vec<String> = fake.writes().into_iter().map(|(_, v)| v).collect();
        assert_eq!(writes, expected);
    }
    let detail = drive.detail().await;
    assert_eq!(detail["pending_changes"], Value::Array(vec![]), "{detail}");
}

#[tokio::test]
async fn a_refused_change_is_marked_failed_with_gitlabs_answer_and_blocks_advancing() {
    let gitlabs = GitLabs::start().await;
    let mut env = gitlabs.env(2000);
    env.retain(|(name, _)| *name != "RAMPART_GITLAB_DEVELOPMENT_TOKEN");
    env.push((
        "RAMPART_GITLAB_DEVELOPMENT_TOKEN",
        "a-revoked-token".to_owned(),
    ));
    let app = spawn_app_with(Spawn {
        env,
        ..Spawn::default()
    })
    .await;
    let flag = "gitaly_walk_refused";
    let drive = Driver::new(&app, flag).await;
    drive.create_and_start().await;
    drive.step().await;

    let detail = drive.settled().await;
    let changes = detail["pending_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{detail}");
    let failed = &changes[0]["progress"]["Failed"];
    assert_eq!(failed["backend"], "GitLab");
    assert!(
        failed["error"].as_str().unwrap().contains("401"),
        "{failed}"
    );
    assert!(
        !failed["error"]
            .as_str()
            .unwrap()
            .contains("a-revoked-token"),
        "the token stays on the server"
    );
    drive.finish_stage().await;
    let version = drive.version().await;
    let (status, refused) = drive
        .call(
            &drive.engineer,
            "advance_stage",
            &[("flag", flag), ("version", &version)],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["Refused"]["code"], "flag_change_pending");

    // Retrying puts it back in the queue; GitLab refuses again, and it says so again.
    let id = changes[0]["id"].to_string();
    drive
        .ok(
            &drive.engineer,
            "retry_flag_change",
            &[("flag", flag), ("change", &id)],
        )
        .await;
    let detail = drive.settled().await;
    assert!(
        detail["pending_changes"][0]["progress"]["Failed"].is_object(),
        "{detail}"
    );
    let actions: Vec<String> = audit(&app, flag)
        .await
        .into_iter()
        .map(|(_, action, _)| action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "flag_change.failed")
            .count(),
        2
    );
    assert!(actions.iter().any(|a| a == "flag_change.retried"));
}

#[tokio::test]
async fn two_server_processes_apply_a_burst_of_changes_each_exactly_once() {
    let gitlabs = GitLabs::start().await;
    let (database, database_url) = create_database().await;
    let one = ServerProcess::start(&database_url, &gitlabs.env(2000)).await;
    let two = ServerProcess::start(&database_url, &gitlabs.env(2000)).await;
    let first = TestApp::over(&one.address, &database, &database_url).await;
    let second = TestApp::over(&two.address, &database, &database_url).await;
    let flags: Vec<String> = (0..12).map(|n| format!("gitaly_burst_{n}")).collect();
    // Half the migrations are driven through each replica, at once; sessions live in the
    // database, so one sign-in serves both.
    let people = Driver::new(&first, "gitaly_nothing").await;
    let drives: Vec<Driver> = flags
        .iter()
        .enumerate()
        .map(|(n, flag)| people.other(if n % 2 == 0 { &first } else { &second }, flag))
        .collect();
    futures_util::future::join_all(drives.iter().map(|drive| drive.create_and_start())).await;
    futures_util::future::join_all(drives.iter().map(|drive| drive.step())).await;

    let mut writes = gitlabs.development.fake.writes();
    writes.sort();
    let mut expected: Vec<(String, String)> = flags
        .iter()
        .map(|flag| (flag.clone(), "true".to_owned()))
        .collect();
    expected.sort();
    assert_eq!(writes, expected, "each flag written once, by one replica");
    let applied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM flag_changes WHERE status = 'applied' AND environment = 'development'",
    )
    .fetch_one(&first.pool)
    .await
    .unwrap();
    assert_eq!(applied, 12);
}

#[tokio::test]
async fn fifty_concurrent_approvals_make_one_change_and_only_another_release_manager_approves() {
    let gitlabs = GitLabs::start().await;
    let mut env = gitlabs.env(2000);
    // Fifty requests share ten connections: they queue for them rather than fail.
    env.push(("RAMPART_DB_ACQUIRE_TIMEOUT_MS", "30000".to_owned()));
    let app = spawn_app_with(Spawn {
        env,
        ..Spawn::default()
    })
    .await;
    let flag = "gitaly_walk_approvals";
    let drive = Driver::new(&app, flag).await;
    drive.create_and_start().await;
    for _ in 0..3 {
        drive.step().await;
    }
    assert_eq!(drive.stage().await, "production_check");
    drive.finish_stage().await;
    drive.request().await;

    // Not the requester, even as a release manager; not a viewer or an engineer.
    let requester_too = signed_in(&app, "rex", &[Role::Engineer, Role::ReleaseManager]).await;
    let version = drive.version().await;
    let (status, body) = drive
        .call(
            &requester_too,
            "request_production_change",
            &[("flag", flag), ("version", &version), ("reason", "again")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["Refused"]["code"], "request_already_pending");
    let (status, body) = drive.approve_as(&drive.engineer).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "erin asked, and is no release manager: {body}"
    );
    let viewer = signed_in(&app, "vic", &[Role::Viewer]).await;
    assert_eq!(drive.approve_as(&viewer).await.0, StatusCode::FORBIDDEN);
    let other = signed_in(&app, "ruth", &[Role::ReleaseManager]).await;
    let (status, body) = drive.approve_as(&other).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // …that was a release manager who did not ask: the change is made.
    drive.settled().await;
    assert_eq!(drive.stage().await, "production_1");

    // The next request, approved by fifty at once: one wins, and one change is made.
    drive.finish_stage().await;
    let version = drive.version().await;
    drive
        .ok(
            &requester_too,
            "request_production_change",
            &[
                ("flag", flag),
                ("version", &version),
                ("reason", "quiet at 1 %"),
                ("gitaly_version", "16.3.2"),
                ("gitlab_version", "16.3.0-ee"),
            ],
        )
        .await;
    let (status, body) = drive.approve_as(&requester_too).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["Refused"]["code"], "self_approval");
    // Nor through a script with rex's API token.
    let (_, created) = drive
        .call(&requester_too, "create_token", &[("name", "release bot")])
        .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let version = drive.version().await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/approve_production_change", app.address))
        .bearer_auth(&token)
        .header("accept", "application/json")
        .form(&[("flag", flag), ("version", &version), ("typed_flag", flag)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Refused"]["code"], "self_approval", "{body}");
    let names: Vec<String> = (0..5).map(|n| format!("rm{n}")).collect();
    let approvers = futures_util::future::join_all(
        names
            .iter()
            .map(|name| signed_in(&app, name, &[Role::ReleaseManager])),
    )
    .await;
    let version = drive.version().await;
    let args = [
        ("flag", flag),
        ("version", version.as_str()),
        ("typed_flag", flag),
    ];
    let attempts = (0..50).map(|n| {
        let who = &approvers[n % approvers.len()];
        drive.call(who, "approve_production_change", &args)
    });
    let answers = futures_util::future::join_all(attempts).await;
    let won = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(won, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "the others lose to the version check: {answers:?}"
    );
    drive.settled().await;
    assert_eq!(drive.stage().await, "production_5");
    assert_eq!(
        gitlabs.production.fake.writes(),
        [
            (flag.to_owned(), "1".to_owned()),
            (flag.to_owned(), "5".to_owned())
        ]
    );

    // A wrongly typed name approves nothing.
    drive.finish_stage().await;
    drive.request().await;
    let version = drive.version().await;
    let (status, body) = drive
        .call(
            &approvers[0],
            "approve_production_change",
            &[
                ("flag", flag),
                ("version", &version),
                ("typed_flag", "gitaly_other"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("type the flag's name"), "{body}");
    assert_eq!(drive.stage().await, "production_5", "nothing approved");
}

#[tokio::test]
async fn a_flag_changed_outside_rampart_shows_as_drift_with_both_values_until_it_is_set_back() {
    let gitlabs = GitLabs::start().await;
    let mut env = gitlabs.env(2000);
    env.push(("RAMPART_FLAG_RECONCILE_SECONDS", "1".to_owned()));
    let app = spawn_app_with(Spawn {
        env,
        ..Spawn::default()
    })
    .await;
    let flag = "gitaly_walk_drift";
    let drive = Driver::new(&app, flag).await;
    drive.create_and_start().await;
    drive.step().await;
    assert_eq!(gitlabs.values(flag), values("true", "false", "false"));
    drift_becomes(&drive, &[]).await;

    // Someone turns development off by hand, and enables production.
    gitlabs.development.fake.set_by_hand(flag, "false");
    gitlabs.production.fake.set_by_hand(flag, "30");
    drift_becomes(
        &drive,
        &[["development", "on", "off"], ["production", "off", "30 %"]],
    )
    .await;
    // Rampart does not undo it by itself: people decide.
    assert_eq!(gitlabs.values(flag), values("false", "false", "30"));

    gitlabs.development.fake.set_by_hand(flag, "true");
    gitlabs.production.fake.set_by_hand(flag, "false");
    drift_becomes(&drive, &[]).await;
}

#[tokio::test]
async fn the_kill_switch_goes_ahead_of_changes_asked_for_before_it() {
    let gitlabs = GitLabs::start().await;
    let app = app_over(&gitlabs, 5000).await;
    let people = Driver::new(&app, "gitaly_nothing").await;
    let (first, second, killed) = (
        people.other(&app, "gitaly_order_first"),
        people.other(&app, "gitaly_order_second"),
        people.other(&app, "gitaly_order_killed"),
    );
    for drive in [&first, &second, &killed] {
        drive.create_and_start().await;
        drive.finish_stage().await;
    }
    killed.step().await;
    assert_eq!(killed.stage().await, "development");

    // GitLab slows down: while the worker makes the first change, a second is asked for, then a
    // kill. The kill is made next, before the change asked for earlier.
    // Each request takes a second, so the first change is under way long before the others
    // are asked for (they take a few milliseconds).
    gitlabs.development.fake.set_faults(Faults {
        delay: std::time::Duration::from_millis(1000),
        ..Faults::default()
    });
    for drive in [&first, &second] {
        let version = drive.version().await;
        drive
            .ok(
                &drive.engineer,
                "advance_stage",
                &[
                    ("flag", &drive.flag),
                    ("version", &version),
                    ("gitaly_version", "16.3.2"),
                    ("gitlab_version", "16.3.0-ee"),
                ],
            )
            .await;
    }
    killed
        .ok(
            &killed.engineer,
            "kill_switch",
            &[("flag", "gitaly_order_killed"), ("reason", "errors")],
        )
        .await;
    for drive in [&first, &second, &killed] {
        drive.settled().await;
    }
    let writes: Vec<(String, String)> = gitlabs.development.fake.writes();
    let order: Vec<&str> = writes
        .iter()
        .skip(1)
        .map(|(flag, _)| flag.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "gitaly_order_first",
            "gitaly_order_killed",
            "gitaly_order_second"
        ],
        "{writes:?}"
    );
}

/// A Prometheus that answers one instant query: the build-info series of two Gitaly nodes.
async fn prometheus_with_gitalys(versions: &'static [&'static str]) -> String {
    use axum::{Form, Json, Router, routing::post};
    let router = Router::new().route(
        "/api/v1/query",
        post(
            move |Form(query): Form<std::collections::HashMap<String, String>>| async move {
                assert_eq!(query["query"], "gitaly_build_info");
                let result: Vec<Value> = versions
                    .iter()
                    .map(|v| serde_json::json!({"metric": {"__name__": "gitaly_build_info", "version": v}, "value": [0, "1"]}))
                    .collect();
                Json(serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Advances as someone who leaves the version fields blank.
async fn advance_typing_no_versions(drive: &Driver<'_>) -> (StatusCode, Value) {
    let version = drive.version().await;
    drive
        .call(
            &drive.engineer,
            "advance_stage",
            &[("flag", drive.flag.as_str()), ("version", version.as_str())],
        )
        .await
}

#[tokio::test]
async fn the_version_gate_reads_gitlab_from_its_api_and_gitaly_from_prometheus() {
    let gitlabs = GitLabs::start().await;
    let app = app_over(&gitlabs, 2000).await;
    let drive = Driver::new(&app, "gitaly_version_gate").await;
    drive.create_and_start().await;
    drive.finish_stage().await;

    // Without a Prometheus, GitLab's version comes from its API and Gitaly's is typed.
    let needed = drive.detail().await["current"]["versions_needed"].clone();
    assert_eq!(needed["environment"], "development");
    assert_eq!(needed["gitlab"], "16.5.0-ee", "from GitLab's version API");
    assert!(
        needed["gitaly"].is_null(),
        "no source tells Gitaly's: {needed}"
    );
    let evidence: Vec<&str> = needed["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|link| link["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        evidence,
        ["Gitaly Dev Version Tracker Dashboard", "GitLab Dev /help"]
    );
    // Half the versions is no pass.
    let (status, refused) = advance_typing_no_versions(&drive).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["Refused"]["code"], "deployed_versions_unknown");

    // With Prometheus: the oldest Gitaly node counts. One below the requirement is refused, with
    // both versions named.
    for (nodes, passes) in [
        (&["v16.3.2", "v16.3.1"][..], false),
        (&["v16.4.0", "v16.3.2"][..], true),
    ] {
        let mut env = gitlabs.env(2000);
        env.push((
            "RAMPART_PROMETHEUS_DEVELOPMENT_URL",
            prometheus_with_gitalys(nodes).await,
        ));
        let replica = spawn_app_with(Spawn {
            env,
            replica_of: Some((app.database.clone(), app.database_url.clone())),
            ..Spawn::default()
        })
        .await;
        let through = drive.other(&replica, "gitaly_version_gate");
        let (status, answer) = advance_typing_no_versions(&through).await;
        if passes {
            assert_eq!(status, StatusCode::OK, "{answer}");
        } else {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(answer["Refused"]["code"], "versions_below_required");
            let message = answer["Refused"]["message"].as_str().unwrap();
            assert!(
                message.contains("16.3.1") && message.contains("16.3.2"),
                "{message}"
            );
        }
    }
    drive.settled().await;
    assert_eq!(drive.stage().await, "development");
}
