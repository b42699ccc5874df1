//! The REST API, `/api/v1`, as a script uses it: a walk from development to full production with
//! two tokens, idempotent retries, every error's shape and status, and who may call what — every
//! operation of the OpenAPI document, so a new one cannot be left out.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use rollout::{ActionKind, Permission, Role, Roles};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Spawn, TestApp, client, eventually, spawn_app, spawn_app_with};

/// A token for a new user with `roles`, made as a person makes one: signed in, on their profile.
async fn token_for(app: &TestApp, username: &str, roles: &[Role]) -> String {
    app.add_user(username, roles).await;
    let http = client();
    let response = app.sign_in_with(&http, username, PASSWORD).await;
    assert!(response.status().is_success(), "{username} signs in");
    let created: Value = app
        .call_with(&http, "create_token", &[("name", "script")])
        .await
        .json()
        .await
        .unwrap();
    created["token"].as_str().expect("a token").to_owned()
}

/// One API call: the status, the JSON answered (or `Null`), and the response's headers.
struct Answer {
    status: StatusCode,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
    idempotency_key: Option<&str>,
) -> Answer {
    let mut request = client().request(method, format!("{}/api/v1{path}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("answered");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    }
}

async fn get(app: &TestApp, token: &str, path: &str) -> Answer {
    call(app, Some(token), Method::GET, path, None, None).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Answer {
    call(app, Some(token), Method::POST, path, Some(body), None).await
}

fn new_migration(flag: &str) -> Value {
    json!({
        "feature_flag": flag,
        "grpc_method": "CommitService::FindCommit",
        "gitaly_version": "v16.3.2",
        "gitlab_version": "v16.3",
        "routes": ["GET /api/v4/projects/:id/repository/commits/:sha"],
        "acceptance_issue": "https://gitlab.com/gitlab-org/gitaly/-/issues/4821",
        "conversation": "#567"
    })
}

const DEPLOYED: (&str, &str) = ("16.3.2", "16.3.0-ee");

fn blockers(migration: &Value) -> Vec<String> {
    migration["current"]["blockers"]
        .as_array()
        .map(|b| {
            b.iter()
                .filter_map(|b| b["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the migration until no flag change Rampart asked for is still being applied.
async fn settled(app: &TestApp, token: &str, flag: &str) -> Value {
    for _ in 0..600 {
        let answer = get(app, token, &format!("/migrations/{flag}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        if answer.body["flag_changes"]
            .as_array()
            .is_none_or(|changes| changes.iter().all(|c| c["state"] != "applying"))
        {
            return answer.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the flag changes of {flag} were not applied within a minute");
}

fn at(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    value.as_str()?.parse().ok()
}

/// Waits out the current stage's soak on the test clock, looking (a check-in) each time a look is
/// due, as the stage's cadence asks.
async fn watch_soak(app: &TestApp, token: &str, flag: &str) {
    for _ in 0..200 {
        let migration = get(app, token, &format!("/migrations/{flag}")).await.body;
        if !blockers(&migration).iter().any(|b| b.starts_with("soak")) {
            return;
        }
        let current = &migration["current"];
        let now = at(&migration["as_of"]).unwrap();
        let next = [at(&current["next_check_due"]), at(&current["soak_ends_at"])]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        let minutes = ((next - now).num_seconds() + 59) / 60;
        app.advance_clock(minutes.max(1)).await;
        let item = current["checklist"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["watches_soak"] == true)
            .expect("a stage with a soak has an item that watches it")["item"]
            .clone();
        let looked = post(
            app,
            token,
            &format!("/migrations/{flag}/check-ins"),
            json!({"item": item, "note": "watched"}),
        )
        .await;
        assert_eq!(looked.status, StatusCode::CREATED, "{}", looked.body);
    }
    panic!("the soak of {flag} never ended");
}

#[tokio::test]
async fn a_script_walks_a_migration_to_full_production_with_a_second_token_approving() {
    // Flags Rampart sets itself (the manual backend's changes are confirmed on the page).
    let app = spawn_app_with(Spawn {
        test_clock: true,
        env: vec![
            ("RAMPART_FLAGS_DEVELOPMENT", "local".to_owned()),
            ("RAMPART_FLAGS_STAGING", "local".to_owned()),
            ("RAMPART_FLAGS_PRODUCTION", "local".to_owned()),
        ],
        ..Spawn::default()
    })
    .await;
    // Erin may approve production changes too, but not her own.
    let erin = token_for(&app, "erin", &[Role::Engineer, Role::ReleaseManager]).await;
    let rita = token_for(&app, "rita", &[Role::ReleaseManager]).await;
    let flag = "gitaly_find_commit_api";

    let created = post(&app, &erin, "/migrations", new_migration(flag)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/migrations/{flag}")
    );
    assert_eq!(created.body["status"], "not_started");
    assert_eq!(created.body["owner"], "erin");

    // Advancing a migration not started starts it.
    let started = post(
        &app,
        &erin,
        &format!("/migrations/{flag}/advance"),
        json!({}),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let mut migration = settled(&app, &erin, flag).await;
    let mut requests = 0;
    let mut seen = vec![migration["current"]["stage"].as_str().unwrap().to_owned()];
    while migration["current"]["stage"] != "production_100" {
        let current = migration["current"].clone();
        for row in current["checklist"].as_array().unwrap() {
            let item = row["item"].as_str().unwrap();
            if row["done"].is_null() && item != "continue_decision" {
                let checked = post(
                    &app,
                    &erin,
                    &format!("/migrations/{flag}/check-ins"),
                    json!({"item": item}),
                )
                .await;
                assert_eq!(checked.status, StatusCode::CREATED, "{}", checked.body);
            }
        }
        let before = get(&app, &erin, &format!("/migrations/{flag}")).await.body;
        let held_by = blockers(&before);
        if held_by.iter().any(|b| b.starts_with("soak")) {
            // Too early: refused with one of the domain's codes the stage lists, and its sentence.
            let early = post(
                &app,
                &erin,
                &format!("/migrations/{flag}/advance"),
                json!({"gitaly_version": DEPLOYED.0, "gitlab_version": DEPLOYED.1}),
            )
            .await;
            assert_eq!(
                early.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                early.body
            );
            let code = early.body["error"]["code"].as_str().unwrap().to_owned();
            assert!(held_by.contains(&code), "{code} in {held_by:?}");
            watch_soak(&app, &erin, flag).await;
        }
        if current["decision_question"].is_string() {
            let decided = post(
                &app,
                &erin,
                &format!("/migrations/{flag}/check-ins"),
                json!({"item": "continue_decision", "outcome": "continue"}),
            )
            .await;
            assert_eq!(decided.status, StatusCode::CREATED, "{}", decided.body);
        }
        let ready = get(&app, &erin, &format!("/migrations/{flag}")).await.body;
        if blockers(&ready).contains(&"production_change_not_requested".to_owned()) {
            let requests_path = format!("/migrations/{flag}/change-requests");
            let ask = || {
                post(
                    &app,
                    &erin,
                    &requests_path,
                    json!({
                        "reason": "error rate flat, latency flat",
                        "infrastructure_issue": "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/17001",
                        "gitaly_version": DEPLOYED.0,
                        "gitlab_version": DEPLOYED.1
                    }),
                )
            };
            if requests == 0 {
                // The first is turned down, with a reason; asked again, it stands.
                let first = ask().await;
                assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
                let id = first.body["id"].as_str().unwrap();
                let rejected = post(
                    &app,
                    &rita,
                    &format!("/change-requests/{id}/reject"),
                    json!({"reason": "wait for the deploy freeze to end"}),
                )
                .await;
                assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
                assert!(
                    rejected.body["change_request"].is_null(),
                    "{}",
                    rejected.body
                );
                app.advance_clock(1).await;
            }
            let asked = ask().await;
            assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.body);
            assert_eq!(asked.body["state"], "pending");
            let id = asked.body["id"].as_str().unwrap().to_owned();
            // One at a time: a second request while this one waits is a conflict.
            let twice = ask().await;
            assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
            assert_eq!(twice.body["error"]["code"], "request_already_pending");
            let approve_path = format!("/change-requests/{id}/approve");
            let approve = async |token: &str| post(&app, token, &approve_path, json!({})).await;
            // Four eyes: the requester cannot approve her own request, though her role may.
            let own = approve(&erin).await;
            assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", own.body);
            assert_eq!(own.body["error"]["code"], "self_approval");
            let approved = approve(&rita).await;
            assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
            // Carried out: the id names nothing any more.
            assert_error(&approve(&rita).await, StatusCode::NOT_FOUND, "not_found");
            requests += 1;
        } else {
            let advanced = post(
                &app,
                &erin,
                &format!("/migrations/{flag}/advance"),
                json!({
                    "version": ready["version"],
                    "gitaly_version": DEPLOYED.0,
                    "gitlab_version": DEPLOYED.1
                }),
            )
            .await;
            assert_eq!(
                advanced.status,
                StatusCode::OK,
                "{}\n{ready:#}",
                advanced.body
            );
        }
        migration = settled(&app, &erin, flag).await;
        let stage = migration["current"]["stage"].as_str().unwrap().to_owned();
        assert_ne!(seen.last(), Some(&stage), "each step moves on");
        seen.push(stage);
        assert!(seen.len() < 20, "the walk ends: {seen:?}");
    }
    assert_eq!(requests, 4, "1, 5, 50 and 100 % each approved: {seen:?}");
    assert_eq!(migration["serving"]["percent"], 100);

    let killed = post(
        &app,
        &erin,
        &format!("/migrations/{flag}/kill"),
        json!({"reason": "error budget burning"}),
    )
    .await;
    assert_eq!(killed.status, StatusCode::OK, "{}", killed.body);
    assert_eq!(killed.body["status"], "disabled");

    // The audit log, read through the API in pages of 5, shows every step with its token's user.
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
        let page = get(
            &app,
            &rita,
            &format!("/audit?migration={flag}&limit=5{query}"),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        entries.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let ids: BTreeSet<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), entries.len(), "no entry twice across pages");
    let by = |action: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["actor"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(by("migration.created"), ["erin"]);
    assert_eq!(by("migration.started"), ["erin"]);
    assert_eq!(by("migration.production_change_requested"), ["erin"; 5]);
    assert_eq!(by("migration.production_change_rejected"), ["rita"]);
    assert_eq!(by("migration.production_change_approved"), ["rita"; 4]);
    assert_eq!(by("migration.disabled"), ["erin"]);
    // Check-ins are the tokens' users' (and Rampart's own, for what it checks itself).
    let check_ins = by("migration.checked_in");
    assert!(check_ins.contains(&"erin".to_owned()), "{check_ins:?}");
    assert!(
        check_ins
            .iter()
            .all(|actor| ["erin", "rita", "[rampart]"].contains(&actor.as_str())),
        "{check_ins:?}"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_sent_twice_at_once_applies_once() {
    let app = spawn_app().await;
    let erin = token_for(&app, "erin", &[Role::Engineer]).await;
    let flag = "gitaly_idempotent";
    // A retried create: the same answer, its Location included, and one migration.
    let create = || {
        call(
            &app,
            Some(&erin),
            Method::POST,
            "/migrations",
            Some(new_migration(flag)),
            Some("create-1c9e"),
        )
    };
    let created = create().await;
    let retried = create().await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.body, created.body);
    assert_eq!(retried.headers["location"], created.headers["location"]);
    assert_eq!(retried.headers["idempotent-replayed"], "true");
    let path = format!("/migrations/{flag}/advance");
    let send = || {
        call(
            &app,
            Some(&erin),
            Method::POST,
            &path,
            Some(json!({})),
            Some("start-7f3a"),
        )
    };
    let (first, second) = tokio::join!(send(), send());
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(first.body, second.body, "the retry gets the first answer");
    let replayed = [&first, &second]
        .iter()
        .filter(|a| a.headers.get("idempotent-replayed").is_some())
        .count();
    assert_eq!(replayed, 1, "one ran, one was answered from the first");
    let audit = get(
        &app,
        &erin,
        &format!("/audit?migration={flag}&action=migration.started"),
    )
    .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "started once"
    );

    // A third retry, later: the same answer, and still nothing applied again.
    let third = send().await;
    assert_eq!(third.body, first.body);
    // Without the key, the same request is a new one, and the rules refuse it.
    let unkeyed = post(&app, &erin, &path, json!({})).await;
    assert_eq!(
        unkeyed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unkeyed.body
    );
    // The same key with another request is refused rather than answered wrongly.
    let other = call(
        &app,
        Some(&erin),
        Method::POST,
        &path,
        Some(json!({"version": 1})),
        Some("start-7f3a"),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.body["error"]["code"], "idempotency_key_reused");
}

/// Asserts the error shape: `{"error": {"code", "message", "field"?}}` and nothing else.
fn assert_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let error = answer.body["error"].as_object().expect("an error object");
    assert_eq!(answer.body.as_object().unwrap().len(), 1, "{}", answer.body);
    assert_eq!(error["code"], code, "{}", answer.body);
    assert!(!error["message"].as_str().unwrap().is_empty());
    assert!(
        error
            .keys()
            .all(|k| ["code", "message", "field"].contains(&k.as_str()))
    );
}

#[tokio::test]
async fn every_error_has_one_shape_and_the_status_it_calls_for() {
    let app = spawn_app_with(Spawn {
        env: vec![("RAMPART_API_REQUESTS_PER_MINUTE", "40".to_owned())],
        ..Spawn::default()
    })
    .await;
    let erin = token_for(&app, "erin", &[Role::Engineer]).await;
    let vera = token_for(&app, "vera", &[Role::Viewer]).await;
    let flag = "gitaly_errors";

    let anonymous = call(&app, None, Method::GET, "/migrations", None, None).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(anonymous.headers.contains_key("www-authenticate"));
    let bad_token = call(
        &app,
        Some("rpt_nope"),
        Method::GET,
        "/migrations",
        None,
        None,
    )
    .await;
    assert_error(&bad_token, StatusCode::UNAUTHORIZED, "unauthorized");
    let viewer = post(&app, &vera, "/migrations", new_migration(flag)).await;
    assert_error(&viewer, StatusCode::FORBIDDEN, "forbidden");
    assert_error(
        &get(&app, &erin, "/migrations/gitaly_nothing").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &get(&app, &erin, "/no-such-operation").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Malformed: not JSON, the wrong type, an unknown field; and text PostgreSQL cannot hold.
    let not_json = client()
        .post(format!("{}/api/v1/migrations", app.address))
        .bearer_auth(&erin)
        .header("content-type", "application/json")
        .body("{\"feature_flag\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    for (field, value) in [
        ("routes", json!("one route")),
        ("colour", json!("blue")),
        ("conversation", json!("#5\u{0}67")),
    ] {
        let mut body = new_migration(flag);
        body[field] = value;
        assert_error(
            &post(&app, &erin, "/migrations", body).await,
            StatusCode::BAD_REQUEST,
            "malformed",
        );
    }
    assert_error(
        &get(&app, &erin, "/migrations/gitaly%00x").await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
    assert_error(
        &get(&app, &erin, "/migrations?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid",
    );

    // Invalid: read, but the domain's parser refuses it, naming the field; nothing is saved.
    let mut bad_method = new_migration(flag);
    bad_method["grpc_method"] = json!("FindCommit");
    let invalid = post(&app, &erin, "/migrations", bad_method).await;
    assert_error(&invalid, StatusCode::BAD_REQUEST, "invalid");
    assert_eq!(invalid.body["error"]["field"], "grpc_method");
    assert_error(
        &get(&app, &erin, &format!("/migrations/{flag}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let created = post(&app, &erin, "/migrations", new_migration(flag)).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let version = created.body["version"].as_i64().unwrap();
    let duplicate = post(&app, &erin, "/migrations", new_migration(flag)).await;
    assert_error(&duplicate, StatusCode::BAD_REQUEST, "invalid");
    assert_eq!(duplicate.body["error"]["field"], "feature_flag");

    // A stale version: refused with who changed it, nothing overwritten.
    let edited = call(
        &app,
        Some(&erin),
        Method::PATCH,
        &format!("/migrations/{flag}"),
        Some(json!({"version": version, "owner": "vera"})),
        None,
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.body["owner"], "vera");
    assert_eq!(edited.body["gitaly_version"], "v16.3.2", "the rest is kept");
    let stale = call(
        &app,
        Some(&erin),
        Method::PATCH,
        &format!("/migrations/{flag}"),
        Some(json!({"version": version, "owner": "erin"})),
        None,
    )
    .await;
    assert_error(&stale, StatusCode::CONFLICT, "conflict");
    assert!(
        stale.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("erin")
    );

    // Refused by a rule: the domain's code and sentence.
    post(
        &app,
        &erin,
        &format!("/migrations/{flag}/advance"),
        json!({}),
    )
    .await;
    let early = post(
        &app,
        &erin,
        &format!("/migrations/{flag}/advance"),
        json!({}),
    )
    .await;
    assert_eq!(
        early.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        early.body
    );
    assert!(!early.body["error"]["message"].as_str().unwrap().is_empty());

    let too_large = post(
        &app,
        &erin,
        &format!("/migrations/{flag}/kill"),
        json!({"reason": "x".repeat(100_000)}),
    )
    .await;
    assert_error(&too_large, StatusCode::PAYLOAD_TOO_LARGE, "too_large");

    // The token's requests per minute: the next is refused with when to come back.
    let mut limited = None;
    // Up to 100: a new minute may begin along the way, and the count with it.
    for _ in 0..100 {
        let answer = get(&app, &vera, "/migrations").await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the limit is reached within 100 requests");
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The pages' server functions take tokens too, and count them the same way.
    let server_function = client()
        .post(format!("{}/api/list_migrations", app.address))
        .bearer_auth(&vera)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(server_function.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(server_function.headers().contains_key("retry-after"));
    // Counted per token: another token is not held up by it.
    assert_eq!(get(&app, &erin, "/migrations").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_migrations_panels_give_each_charts_latest_values() {
    let app = spawn_app_with(Spawn {
        demo_data: true,
        ..Spawn::default()
    })
    .await;
    let token = token_for(&app, "scripted", &[Role::Viewer]).await;
    let panels = get(&app, &token, "/migrations/gitaly_find_commit_v2/panels").await;
    assert_eq!(panels.status, StatusCode::OK, "{}", panels.body);
    assert_eq!(panels.body["environment"], "production");
    let charts = panels.body["charts"].as_array().unwrap();
    let error_rate = charts
        .iter()
        .find(|chart| chart["key"] == "error_rate")
        .expect("an error-rate chart");
    assert_eq!(error_rate["unit"], "ratio");
    let latest = error_rate["latest"].as_array().unwrap();
    assert!(!latest.is_empty(), "{error_rate}");
    for line in latest {
        let value = line["value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value), "{line}");
        assert!(at(&line["at"]).is_some(), "{line}");
    }
    assert!(
        panels.body["counts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|count| count["count"].is_u64() || count["unavailable"].is_string()),
        "{}",
        panels.body
    );
    // Before the rollout reaches an environment there is nothing to watch.
    let erin = token_for(&app, "erin_scripted", &[Role::Engineer]).await;
    post(&app, &erin, "/migrations", new_migration("gitaly_not_yet")).await;
    let nothing = get(&app, &token, "/migrations/gitaly_not_yet/panels").await;
    assert_eq!(nothing.status, StatusCode::OK, "{}", nothing.body);
    assert!(nothing.body["environment"].is_null());
    assert_eq!(nothing.body["charts"], json!([]));
}

/// Each replica keeps the in-flight migrations it last read: what another replica, or the flag
/// worker, changes since must show all the same, as soon as the replica hears of it.
#[tokio::test]
async fn the_list_shows_what_another_replica_or_the_flag_worker_changed() {
    let first = spawn_app().await;
    let second = spawn_app_with(Spawn {
        replica_of: Some((first.database.clone(), first.database_url.clone())),
        ..Spawn::default()
    })
    .await;
    let erin = token_for(&first, "erin", &[Role::Engineer]).await;
    let listed = async |app: &TestApp| get(app, &erin, "/migrations").await.body["items"].clone();
    assert_eq!(listed(&second).await, json!([]));
    post(&first, &erin, "/migrations", new_migration("gitaly_kept")).await;
    eventually(
        async || listed(&second).await,
        |items| items[0]["status"] == "not_started",
    )
    .await;
    post(&first, &erin, "/migrations/gitaly_kept/advance", json!({})).await;
    eventually(
        async || listed(&second).await,
        |items| items[0]["stage"] == "preparation",
    )
    .await;
    // Into development (the manual backend: its flag change waits for a person).
    let preparation = get(&first, &erin, "/migrations/gitaly_kept").await.body;
    for row in preparation["current"]["checklist"].as_array().unwrap() {
        let checked = post(
            &first,
            &erin,
            "/migrations/gitaly_kept/check-ins",
            json!({"item": row["item"]}),
        )
        .await;
        assert_eq!(checked.status, StatusCode::CREATED, "{}", checked.body);
    }
    let advanced = post(
        &first,
        &erin,
        "/migrations/gitaly_kept/advance",
        json!({"gitaly_version": DEPLOYED.0, "gitlab_version": DEPLOYED.1}),
    )
    .await;
    assert_eq!(advanced.status, StatusCode::OK, "{}", advanced.body);
    eventually(
        async || listed(&second).await,
        |items| items[0]["stage"] == "development" && items[0]["flag_change_pending"] == true,
    )
    .await;
    // The change made: only the flag change's row moves, not the migration's.
    sqlx::query("UPDATE flag_changes SET status = 'applied', settled_at = now()")
        .execute(&first.pool)
        .await
        .unwrap();
    let items = eventually(
        async || listed(&second).await,
        |items| items[0]["flag_change_pending"] == false,
    )
    .await;
    // Both replicas agree: the first hears of the change the same way.
    eventually(async || listed(&first).await, |first| *first == items).await;
}

#[tokio::test]
async fn without_its_database_the_api_says_unavailable_in_its_error_shape() {
    let app = spawn_app().await;
    let erin = token_for(&app, "erin", &[Role::Engineer]).await;
    assert_eq!(get(&app, &erin, "/migrations").await.status, StatusCode::OK);
    app.drop_database().await;
    for answer in [
        get(&app, &erin, "/migrations").await,
        post(&app, &erin, "/migrations", new_migration("gitaly_gone")).await,
    ] {
        assert_error(&answer, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
}

/// The body each operation is called with in the matrix: one that reads, so the call reaches
/// the permission check.
fn matrix_body(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("post", "/migrations") => Some(new_migration("gitaly_matrix")),
        ("patch", _) => Some(json!({"version": 1})),
        ("post", p) if p.ends_with("/check-ins") => Some(json!({"item": "grafana_checked"})),
        ("post", p) if p.ends_with("/change-requests") => Some(json!({"reason": "quiet"})),
        ("post", p) if p.ends_with("/reject") => Some(json!({"reason": "no"})),
        ("post", p) if p.ends_with("/kill") => Some(json!({"reason": "errors"})),
        ("post", _) => Some(json!({})),
        _ => None,
    }
}

/// The permission each operation takes, by its document's method and path.
fn permission(method: &str, path: &str) -> Permission {
    use ActionKind as A;
    match (method, path) {
        ("get", _) => Permission::Read,
        ("post", "/migrations") | ("patch", "/migrations/{flag}") => Permission::EditMigrations,
        ("post", "/migrations/{flag}/check-ins") => Permission::Act(A::CheckIn),
        ("post", "/migrations/{flag}/advance") => Permission::Act(A::Advance),
        ("post", "/migrations/{flag}/kill") => Permission::Act(A::Disable),
        ("post", "/migrations/{flag}/change-requests") => {
            Permission::Act(A::RequestProductionChange)
        }
        ("post", "/change-requests/{id}/approve") => Permission::Act(A::Approve),
        ("post", "/change-requests/{id}/reject") => Permission::Act(A::Reject),
        _ => panic!("{method} {path} is not in the matrix: say who may call it"),
    }
}

#[tokio::test]
async fn every_operation_of_the_document_answers_exactly_the_roles_allowed() {
    let app = spawn_app().await;
    let document: Value = client()
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let roles = [
        Role::Viewer,
        Role::Engineer,
        Role::ReleaseManager,
        Role::Manager,
        Role::Admin,
    ];
    let mut tokens = Vec::new();
    for role in roles {
        tokens.push((role, token_for(&app, role.as_str(), &[role]).await));
    }
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            operations += 1;
            let concrete = path
                .replace("{flag}", "gitaly_nothing")
                .replace("{id}", "gitaly_nothing@production_1@1");
            let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = matrix_body(method, path);
            let anonymous = call(
                &app,
                None,
                http_method.clone(),
                &concrete,
                body.clone(),
                None,
            )
            .await;
            assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            for (role, token) in &tokens {
                let answer = call(
                    &app,
                    Some(token),
                    http_method.clone(),
                    &concrete,
                    body.clone(),
                    None,
                )
                .await;
                let permitted = Roles::from(*role).allows(permission(method, path));
                assert_eq!(
                    answer.status == StatusCode::FORBIDDEN,
                    !permitted,
                    "{method} {path} as {role:?}: {} {}",
                    answer.status,
                    answer.body
                );
            }
        }
    }
    assert_eq!(
        operations, 12,
        "every operation of the issue is in the document"
    );
}
