//! Flag control: the systems that hold feature flags, behind one trait, and the worker that
//! applies the stage machine's flag changes to them.
//!
//! Each environment has its own backend, chosen by configuration: the GitLab Features API, the
//! Unleash Admin API, the local store in Rampart's database (the demo's), or manual (a person runs
//! the ChatOps line and confirms in Rampart).

pub mod gitlab;
pub mod local;
pub mod reconciler;
pub mod unleash;
pub mod worker;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use rollout::{Environment, FlagValue};
use secrecy::SecretString;
use sqlx::PgPool;

/// Why a backend did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// Worth trying again: a timeout, a refused connection, a 5xx, a 429.
    #[error("{0}")]
    Transient(String),
    /// Trying again changes nothing: the backend refused the request (a 4xx), with its message.
    #[error("{0}")]
    Permanent(String),
}

impl BackendError {
    /// The error of an HTTP request that got no answer.
    pub fn unanswered(system: &str, error: &reqwest::Error) -> BackendError {
        let what = if error.is_timeout() {
            "did not answer in time".to_owned()
        } else if error.is_connect() {
            "could not be reached".to_owned()
        } else {
            // Without the URL: it may carry a token in a query one day.
            format!("failed: {}", strip_url(error))
        };
        BackendError::Transient(format!("{system} {what}"))
    }

    /// The error for an answer with a failing `status` and `body`.
    pub fn answered(system: &str, status: reqwest::StatusCode, body: &str) -> BackendError {
        let body: String = body.trim().chars().take(300).collect();
        let message = format!("{system} answered {status}: {body}");
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            BackendError::Transient(message)
        } else {
            BackendError::Permanent(message)
        }
    }
}

/// The error's text without the URL it names.
fn strip_url(error: &reqwest::Error) -> String {
    let text = error.to_string();
    match error.url() {
        Some(url) => text.replace(url.as_str(), "the backend"),
        None => text,
    }
}

/// `body` without `token` in it: a backend (or a proxy before it) that repeats the request in its
/// answer must not put the token into a stored error, a log line or a page.
fn redact(body: String, token: &SecretString) -> String {
    use secrecy::ExposeSecret;
    let token = token.expose_secret();
    if token.is_empty() {
        body
    } else {
        body.replace(token, "[token]")
    }
}

/// How many times a read is sent before its failure counts: a read changes nothing, so a
/// backend that drops one request in a few costs a moment, not a backoff.
const READ_TRIES: u32 = 3;

/// Sends `request` to `system`: the answer's status and body, or why there was none. A read
/// (GET) that gets no answer or a 5xx is sent again at once, up to [`READ_TRIES`] times; a write
/// is sent once, and retrying it is the worker's job, which reads first.
async fn exchange(
    system: &str,
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, String), BackendError> {
    let is_read = request
        .try_clone()
        .and_then(|copy| copy.build().ok())
        .is_some_and(|built| built.method() == reqwest::Method::GET);
    let mut tries = 1;
    loop {
        let copy = (is_read && tries < READ_TRIES)
            .then(|| request.try_clone())
            .flatten();
        let Some(this_try) = copy else {
            return send_once(system, request).await;
        };
        match send_once(system, this_try).await {
            Ok((status, _)) if status.is_server_error() => {}
            Err(BackendError::Transient(_)) => {}
            outcome => return outcome,
        }
        tries += 1;
    }
}

async fn send_once(
    system: &str,
    request: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, String), BackendError> {
    let response = request
        .send()
        .await
        .map_err(|e| BackendError::unanswered(system, &e))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| BackendError::unanswered(system, &e))?;
    Ok((status, body))
}

/// A system that holds feature flags for one environment.
#[async_trait]
pub trait FlagBackend: Send + Sync {
    /// Sets `flag` to `value`. Setting the value it already has is harmless.
    async fn set(&self, flag: &str, value: FlagValue) -> Result<(), BackendError>;
    /// The flag's value now; a flag the backend does not know is off.
    async fn get(&self, flag: &str) -> Result<FlagValue, BackendError>;

    /// Several flags' values at once, in the order of `flags` (the reconciler reads every
    /// migration's). One request per flag unless the backend can answer for all in one.
    async fn get_many(&self, flags: &[String]) -> Vec<Result<FlagValue, BackendError>> {
        let mut values = Vec::with_capacity(flags.len());
        for flag in flags {
            values.push(self.get(flag).await);
        }
        values
    }
}

/// Which kind of backend an environment uses, as stored with each flag change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Manual,
    Local,
    GitLab,
    Unleash,
}

impl BackendKind {
    /// As `flag_changes.backend` stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Manual => "manual",
            BackendKind::Local => "local",
            BackendKind::GitLab => "gitlab",
            BackendKind::Unleash => "unleash",
        }
    }
}

/// How to reach one environment's flags.
#[derive(Clone, Debug)]
pub enum BackendConfig {
    Manual,
    Local,
    GitLab {
        /// `https://gitlab.com`: the instance, without `/api/v4`.
        url: String,
        /// An admin's personal access token, sent as `PRIVATE-TOKEN`.
        token: SecretString,
    },
    Unleash {
        /// The server, without `/api`.
        url: String,
        /// An admin API token, sent raw in `Authorization`.
        token: SecretString,
        project: String,
        /// Unleash's name for this environment.
        environment: String,
    },
}

impl BackendConfig {
    pub fn kind(&self) -> BackendKind {
        match self {
            BackendConfig::Manual => BackendKind::Manual,
            BackendConfig::Local => BackendKind::Local,
            BackendConfig::GitLab { .. } => BackendKind::GitLab,
            BackendConfig::Unleash { .. } => BackendKind::Unleash,
        }
    }
}

/// Every environment's backend, and how long a backend may take to answer.
#[derive(Clone, Debug)]
pub struct FlagsConfig {
    pub development: BackendConfig,
    pub staging: BackendConfig,
    pub production: BackendConfig,
    pub timeout: Duration,
    /// How often the reconciler compares the backends with what Rampart set.
    pub reconcile_every: Duration,
}

impl FlagsConfig {
    pub fn get(&self, environment: Environment) -> &BackendConfig {
        match environment {
            Environment::Development => &self.development,
            Environment::Staging => &self.staging,
            Environment::Production => &self.production,
        }
    }
}

/// The backends, built once per process: one HTTP client per system.
#[derive(Clone)]
pub struct FlagBackends {
    development: Route,
    staging: Route,
    production: Route,
}

#[derive(Clone)]
struct Route {
    kind: BackendKind,
    /// `None` for manual: nothing applies its changes but a person.
    backend: Option<Arc<dyn FlagBackend>>,
    /// The same client when the backend is GitLab, which also tells its deployed version.
    gitlab: Option<Arc<gitlab::GitLabFlags>>,
}

impl FlagBackends {
    pub fn new(config: &FlagsConfig, pool: &PgPool) -> Result<FlagBackends, reqwest::Error> {
        let route = |environment: Environment| -> Result<Route, reqwest::Error> {
            let mut gitlab = None;
            let backend: Option<Arc<dyn FlagBackend>> = match config.get(environment) {
                BackendConfig::Manual => None,
                BackendConfig::Local => {
                    Some(Arc::new(local::LocalFlags::new(pool.clone(), environment)))
                }
                BackendConfig::GitLab { url, token } => {
                    let client = Arc::new(gitlab::GitLabFlags::new(
                        url,
                        token.clone(),
                        config.timeout,
                    )?);
                    gitlab = Some(client.clone());
                    Some(client)
                }
                BackendConfig::Unleash {
                    url,
                    token,
                    project,
                    environment,
                } => Some(Arc::new(unleash::UnleashFlags::new(
                    url,
                    token.clone(),
                    project,
                    environment,
                    config.timeout,
                )?)),
            };
            Ok(Route {
                kind: config.get(environment).kind(),
                backend,
                gitlab,
            })
        };
        Ok(FlagBackends {
            development: route(Environment::Development)?,
            staging: route(Environment::Staging)?,
            production: route(Environment::Production)?,
        })
    }

    /// Every environment run by hand: what tests of the manual flow use.
    pub fn manual() -> FlagBackends {
        let route = Route {
            kind: BackendKind::Manual,
            backend: None,
            gitlab: None,
        };
        FlagBackends {
            development: route.clone(),
            staging: route.clone(),
            production: route,
        }
    }

    fn route(&self, environment: Environment) -> &Route {
        match environment {
            Environment::Development => &self.development,
            Environment::Staging => &self.staging,
            Environment::Production => &self.production,
        }
    }

    pub fn kind(&self, environment: Environment) -> BackendKind {
        self.route(environment).kind
    }

    /// The environments whose flags GitLab holds, with its client: it also tells GitLab's version.
    pub fn gitlabs(&self) -> Vec<(Environment, Arc<gitlab::GitLabFlags>)> {
        Environment::all()
            .filter_map(|e| self.route(e).gitlab.clone().map(|g| (e, g)))
            .collect()
    }

    /// The backend that applies `environment`'s changes; `None` when a person does.
    pub fn backend(&self, environment: Environment) -> Option<&dyn FlagBackend> {
        self.route(environment).backend.as_deref()
    }
}

/// Whether two values serve the same: `on` is 100 %, `off` is 0 %.
pub fn same_serving(a: FlagValue, b: FlagValue) -> bool {
    a.serving_percentage() == b.serving_percentage()
}

/// A flag value as the Features API takes it and `flag_changes` stores it: `true`, `false` or
/// the percentage.
pub fn value_text(value: FlagValue) -> String {
    match value {
        FlagValue::On => "true".to_owned(),
        FlagValue::Off => "false".to_owned(),
        FlagValue::Percent(percent) => percent.to_string(),
    }
}

/// The value `text` stands for (see [`value_text`]), or `None` for text that is not one.
pub fn parse_value(text: &str) -> Option<FlagValue> {
    match text {
        "true" => Some(FlagValue::On),
        "false" => Some(FlagValue::Off),
        number => number
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= 100)
            .map(FlagValue::Percent),
    }
}
