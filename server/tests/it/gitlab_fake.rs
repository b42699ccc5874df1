//! A GitLab that keeps to the Features and Version API contract Rampart relies on (see
//! CONTRACTS.md): an admin token in `PRIVATE-TOKEN`; `POST /api/v4/features/:name` with `value`
//! `true|false|N`, where 100 and true fully enable and 0 and false disable, a percentage on a
//! fully-enabled flag is a 400 and so is a value that is not a number. It records every write it
//! accepts, so a change made twice shows, and can be made to fail, to be slow, or to lose its answers.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

pub const TOKEN: &str = "glpat-test-admin-token";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Feature {
    boolean: bool,
    percentage_of_time: Option<u32>,
}

/// How the fake misbehaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Of every ten requests, this many answer 500 (spread evenly, not at random).
    pub errors_in_ten: u32,
    /// Each answer waits this long first.
    pub delay: Duration,
    /// Writes are made, but their answers never arrive (the caller times out).
    pub lose_write_answers: bool,
}

#[derive(Default)]
struct Inner {
    features: BTreeMap<String, Feature>,
    /// `(flag, value)` of every write GitLab accepted, whether it changed the flag or not.
    writes: Vec<(String, String)>,
    requests: u32,
    faults: Faults,
}

#[derive(Clone, Default)]
pub struct GitLabFake {
    inner: Arc<Mutex<Inner>>,
}

pub struct RunningGitLab {
    pub url: String,
    pub fake: GitLabFake,
}

impl GitLabFake {
    pub async fn start() -> RunningGitLab {
        let fake = GitLabFake::default();
        let router = Router::new()
            .route("/api/v4/features", get(list))
            .route("/api/v4/features/{name}", post(set).delete(remove))
            .route("/api/v4/version", get(version))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        RunningGitLab { url, fake }
    }

    pub fn set_faults(&self, faults: Faults) {
        self.inner.lock().unwrap().faults = faults;
    }

    /// What the flag serves, as Rampart's words: `true`, `false` or the percentage.
    pub fn value(&self, flag: &str) -> String {
        let inner = self.inner.lock().unwrap();
        match inner.features.get(flag) {
            Some(f) if f.boolean => "true".to_owned(),
            Some(Feature {
                percentage_of_time: Some(p),
                ..
            }) => p.to_string(),
            _ => "false".to_owned(),
        }
    }

    /// Every write accepted, in order.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().writes.clone()
    }

    /// Changes a flag behind Rampart's back, as a person at the ChatOps prompt would.
    pub fn set_by_hand(&self, flag: &str, value: &str) {
        let mut inner = self.inner.lock().unwrap();
        let feature = inner.features.entry(flag.to_owned()).or_default();
        *feature = parse(value, *feature).unwrap();
    }

    /// Counts the request, waits the delay, and says whether this one fails.
    async fn misbehave(&self) -> Option<Response> {
        let (delay, fail) = {
            let mut inner = self.inner.lock().unwrap();
            inner.requests += 1;
            let n = inner.requests;
            let errors = inner.faults.errors_in_ten;
            // Request n fails when it is one of the first `errors` of its ten, interleaved.
            let fail = errors > 0 && (n * 7) % 10 < errors;
            (inner.faults.delay, fail)
        };
        tokio::time::sleep(delay).await;
        fail.then(|| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"message": "500 Internal Server Error"})),
            )
                .into_response()
        })
    }

    /// GitLab's 401, unless the request carries the admin token. Like a careless proxy, it
    /// repeats the token it was given: Rampart must not pass that on.
    fn refuse_stranger(headers: &HeaderMap) -> Option<Response> {
        let token = headers.get("PRIVATE-TOKEN").and_then(|v| v.to_str().ok());
        (token != Some(TOKEN)).then(|| {
            let given = token.unwrap_or_default();
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": format!("401 Unauthorized: {given} is not a valid token")})),
            )
                .into_response()
        })
    }
}

fn to_json(name: &str, feature: &Feature) -> Value {
    let mut gates = vec![json!({"key": "boolean", "value": feature.boolean})];
    if let Some(p) = feature.percentage_of_time {
        gates.push(json!({"key": "percentage_of_time", "value": p}));
    }
    let state = if feature.boolean {
        "on"
    } else if feature.percentage_of_time.is_some() {
        "conditional"
    } else {
        "off"
    };
    json!({"name": name, "state": state, "gates": gates, "definition": null})
}

/// The feature after `value`, or GitLab's 400 message.
fn parse(value: &str, before: Feature) -> Result<Feature, &'static str> {
    match value {
        "true" | "100" => Ok(Feature {
            boolean: true,
            percentage_of_time: None,
        }),
        "false" | "0" => Ok(Feature::default()),
        number => {
            let percent: u32 = number.parse().map_err(|_| "Not a percentage")?;
            if percent > 100 {
                return Err("Not a percentage");
            }
            if before.boolean {
                return Err("Cannot enable percentage of time for a fully-enabled flag");
            }
            Ok(Feature {
                boolean: false,
                percentage_of_time: Some(percent),
            })
        }
    }
}

async fn list(State(fake): State<GitLabFake>, headers: HeaderMap) -> Response {
    if let Some(refused) = GitLabFake::refuse_stranger(&headers) {
        return refused;
    }
    if let Some(failure) = fake.misbehave().await {
        return failure;
    }
    let inner = fake.inner.lock().unwrap();
    let features: Vec<Value> = inner
        .features
        .iter()
        .map(|(name, f)| to_json(name, f))
        .collect();
    Json(features).into_response()
}

#[derive(Deserialize)]
struct SetForm {
    value: String,
}

async fn set(
    State(fake): State<GitLabFake>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<SetForm>,
) -> Response {
    if let Some(refused) = GitLabFake::refuse_stranger(&headers) {
        return refused;
    }
    if let Some(failure) = fake.misbehave().await {
        return failure;
    }
    let (answer, lose) = {
        let mut inner = fake.inner.lock().unwrap();
        let before = inner.features.get(&name).copied().unwrap_or_default();
        match parse(&form.value, before) {
            Err(message) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"message": format!("400 Bad request - {message}")})),
                )
                    .into_response();
            }
            Ok(after) => {
                inner.writes.push((name.clone(), form.value.clone()));
                inner.features.insert(name.clone(), after);
                (to_json(&name, &after), inner.faults.lose_write_answers)
            }
        }
    };
    if lose {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn remove(
    State(fake): State<GitLabFake>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = GitLabFake::refuse_stranger(&headers) {
        return refused;
    }
    fake.inner.lock().unwrap().features.remove(&name);
    StatusCode::NO_CONTENT.into_response()
}

async fn version(State(fake): State<GitLabFake>, headers: HeaderMap) -> Response {
    if let Some(refused) = GitLabFake::refuse_stranger(&headers) {
        return refused;
    }
    if let Some(failure) = fake.misbehave().await {
        return failure;
    }
    Json(json!({"version": "16.5.0-ee", "revision": "abc123"})).into_response()
}

#[cfg(test)]
mod contract {
    use super::*;

    #[test]
    fn the_fake_keeps_gitlabs_rules() {
        let on = parse("true", Feature::default()).unwrap();
        assert_eq!(
            parse("30", on),
            Err("Cannot enable percentage of time for a fully-enabled flag")
        );
        assert_eq!(parse("abc", Feature::default()), Err("Not a percentage"));
        assert_eq!(parse("100", Feature::default()).unwrap(), on);
        assert_eq!(parse("0", on).unwrap(), Feature::default());
    }
}
