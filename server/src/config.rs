//! Typed configuration, read once from the environment at start-up.
//!
//! Every variable has a default except `DATABASE_URL`. A bad value stops the start with one line that
//! names the variable and says what is wrong; secrets are never echoed back.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use secrecy::SecretString;

#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL`: the PostgreSQL database, `postgres://user:password@host:port/name`.
    pub database_url: SecretString,
    /// `RAMPART_ADDR`: where to listen; port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// `RAMPART_SITE_ROOT`: the folder cargo-leptos built the browser files into.
    pub site_root: PathBuf,
    /// `RAMPART_LOG_FORMAT`: `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// `RAMPART_DEMO_DATA`: load the demo migrations when the database has none.
    pub demo_data: bool,
    /// `RAMPART_DB_MAX_CONNECTIONS`: the pool's size per replica.
    pub db_max_connections: u32,
    /// `RAMPART_DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a connection before it fails.
    pub db_acquire_timeout: Duration,
    /// `RAMPART_PUBLIC_URL`: where people reach Rampart (behind a proxy, its https address). Its
    /// scheme decides whether the session cookie is `Secure`.
    pub public_url: String,
    /// `RAMPART_SESSION_IDLE_MINUTES`: a session ends after this long without a request.
    pub session_idle: Duration,
    /// `RAMPART_DEMO_PASSWORD`: in demo mode, the demo users' password instead of a random one
    /// each (for scripted tests; never set it on a real installation).
    pub demo_password: Option<SecretString>,
    /// `RAMPART_TRUST_FORWARDED_FOR`: Rampart runs behind a proxy that appends the client's
    /// address to `X-Forwarded-For` (for limiting sign-in attempts per address). Never set it
    /// when clients reach Rampart directly: they could then name any address.
    pub trust_forwarded_for: bool,
    /// Single sign-on, when `RAMPART_OIDC_ISSUER` is set (see [`Config::sso`]).
    pub sso: Option<crate::auth::sso::SsoConfig>,
    /// Where each environment's flags are set (see [`Vars::flags`]).
    pub flags: crate::flags::FlagsConfig,
    /// Where each environment's Gitaly version is read (see [`Vars::gitaly_versions`]).
    pub gitaly_versions: Vec<(
        rollout::Environment,
        crate::rollouts::deployments::GitalyVersionSource,
    )>,
    /// Where the migration pages' panels get their data (see [`Vars::observability`]).
    pub observability: crate::observability::ObservabilityConfig,
    /// How the guardrail watches (see [`Vars::guardrail`]).
    pub guardrail: crate::guardrail::GuardrailConfig,
    /// Where each environment's chat notifications go (see [`Vars::chat`]).
    pub chat: crate::notify::ChatConfig,
    /// `RAMPART_API_REQUESTS_PER_MINUTE`: how many requests each API token may make a minute,
    /// across all replicas.
    pub api_requests_per_minute: u32,
    /// `RAMPART_TEST_CLOCK`: for browser tests only. Rampart's clock can be moved forward with
    /// `POST /test/clock?minutes=N`, so tests wait out a soak without sleeping.
    pub test_clock: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A variable that is missing or cannot be used, with the reason.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        Ok(Self {
            database_url: vars.database_url("DATABASE_URL")?,
            listen_addr: vars.parsed(
                "RAMPART_ADDR",
                "127.0.0.1:3000",
                "a socket address such as 127.0.0.1:3000",
            )?,
            site_root: PathBuf::from(vars.text("RAMPART_SITE_ROOT", "target/site")),
            log_format: vars.log_format("RAMPART_LOG_FORMAT")?,
            demo_data: vars.flag("RAMPART_DEMO_DATA", false)?,
            db_max_connections: vars.bounded("RAMPART_DB_MAX_CONNECTIONS", 10, 1..=1000)?,
            db_acquire_timeout: Duration::from_millis(vars.bounded(
                "RAMPART_DB_ACQUIRE_TIMEOUT_MS",
                3000,
                1..=600_000,
            )?),
            public_url: vars.public_url("RAMPART_PUBLIC_URL")?,
            session_idle: Duration::from_secs(
                60 * vars.bounded("RAMPART_SESSION_IDLE_MINUTES", 480, 1..=43_200)?,
            ),
            demo_password: vars.get("RAMPART_DEMO_PASSWORD").map(SecretString::from),
            trust_forwarded_for: vars.flag("RAMPART_TRUST_FORWARDED_FOR", false)?,
            sso: vars.sso()?,
            flags: vars.flags()?,
            gitaly_versions: vars.gitaly_versions()?,
            observability: vars.observability()?,
            guardrail: vars.guardrail()?,
            chat: vars.chat()?,
            api_requests_per_minute: vars.bounded(
                "RAMPART_API_REQUESTS_PER_MINUTE",
                600,
                1..=10_000_000,
            )?,
            test_clock: vars.flag("RAMPART_TEST_CLOCK", false)?,
        })
    }

    /// Whether people reach Rampart over https, so cookies must be `Secure`.
    pub fn served_over_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

struct Vars<'a, F: Fn(&str) -> Option<String>>(&'a F);

/// The names of one environment's flag-backend variables.
struct EnvironmentVars {
    kind: &'static str,
    gitlab_url: &'static str,
    gitlab_token: &'static str,
    unleash_url: &'static str,
    unleash_token: &'static str,
    unleash_project: &'static str,
    unleash_environment: &'static str,
    prometheus_url: &'static str,
    prometheus_job: &'static str,
    chat_webhook: &'static str,
    chat_channel: &'static str,
    promql: [(crate::observability::promql::Metric, &'static str); 11],
    gitaly_version_query: &'static str,
    default_environment: &'static str,
}

macro_rules! environment_vars {
    ($upper:literal, $lower:literal) => {
        EnvironmentVars {
            kind: concat!("RAMPART_FLAGS_", $upper),
            gitlab_url: concat!("RAMPART_GITLAB_", $upper, "_URL"),
            gitlab_token: concat!("RAMPART_GITLAB_", $upper, "_TOKEN"),
            unleash_url: concat!("RAMPART_UNLEASH_", $upper, "_URL"),
            unleash_token: concat!("RAMPART_UNLEASH_", $upper, "_TOKEN"),
            unleash_project: concat!("RAMPART_UNLEASH_", $upper, "_PROJECT"),
            unleash_environment: concat!("RAMPART_UNLEASH_", $upper, "_ENVIRONMENT"),
            prometheus_url: concat!("RAMPART_PROMETHEUS_", $upper, "_URL"),
            prometheus_job: concat!("RAMPART_PROMETHEUS_", $upper, "_JOB"),
            chat_webhook: concat!("RAMPART_CHAT_WEBHOOK_", $upper),
            chat_channel: concat!("RAMPART_CHAT_CHANNEL_", $upper),
            promql: {
                use crate::observability::promql::Metric;
                [
                    (
                        Metric::CallRate,
                        concat!("RAMPART_PROMQL_", $upper, "_CALL_RATE"),
                    ),
                    (
                        Metric::ErrorRate,
                        concat!("RAMPART_PROMQL_", $upper, "_ERROR_RATE"),
                    ),
                    (
                        Metric::LatencyP50,
                        concat!("RAMPART_PROMQL_", $upper, "_LATENCY_P50"),
                    ),
                    (
                        Metric::LatencyP95,
                        concat!("RAMPART_PROMQL_", $upper, "_LATENCY_P95"),
                    ),
                    (
                        Metric::LatencyP99,
                        concat!("RAMPART_PROMQL_", $upper, "_LATENCY_P99"),
                    ),
                    (Metric::Cpu, concat!("RAMPART_PROMQL_", $upper, "_CPU")),
                    (
                        Metric::FlagSplit,
                        concat!("RAMPART_PROMQL_", $upper, "_FLAG_SPLIT"),
                    ),
                    (Metric::Calls, concat!("RAMPART_PROMQL_", $upper, "_CALLS")),
                    (
                        Metric::Errors,
                        concat!("RAMPART_PROMQL_", $upper, "_ERRORS"),
                    ),
                    (
                        Metric::CohortCalls,
                        concat!("RAMPART_PROMQL_", $upper, "_COHORT_CALLS"),
                    ),
                    (
                        Metric::CohortErrors,
                        concat!("RAMPART_PROMQL_", $upper, "_COHORT_ERRORS"),
                    ),
                ]
            },
            gitaly_version_query: concat!("RAMPART_GITALY_VERSION_QUERY_", $upper),
            default_environment: $lower,
        }
    };
}

/// Each environment with the names of its variables.
fn per_environment() -> [(rollout::Environment, EnvironmentVars); 3] {
    use rollout::Environment;
    [
        (
            Environment::Development,
            environment_vars!("DEVELOPMENT", "development"),
        ),
        (
            Environment::Staging,
            environment_vars!("STAGING", "staging"),
        ),
        (
            Environment::Production,
            environment_vars!("PRODUCTION", "production"),
        ),
    ]
}

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    /// The value, or `None` when unset or blank (an empty variable means "use the default").
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn text(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }

    fn parsed<T: FromStr>(
        &self,
        name: &'static str,
        default: &str,
        expected: &str,
    ) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        let value = self.text(name, default);
        value.parse().map_err(|error| ConfigError {
            variable: name,
            problem: format!("is {value:?}, which is not {expected} ({error})"),
        })
    }

    fn bounded<T>(
        &self,
        name: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
        T::Err: fmt::Display,
    {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let value: T = self.parsed(name, &default.to_string(), &expected)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError {
                variable: name,
                problem: format!("is {value}, which is not {expected}"),
            })
        }
    }

    fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError {
                variable: name,
                problem: format!("is {v:?}, which is not true or false"),
            }),
        }
    }

    fn log_format(&self, name: &'static str) -> Result<LogFormat, ConfigError> {
        match self.text(name, "text").to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError {
                variable: name,
                problem: format!("is {other:?}, which is not text or json"),
            }),
        }
    }

    /// `RAMPART_OIDC_ISSUER` (the provider, e.g. https://gitlab.com), `RAMPART_OIDC_CLIENT_ID`,
    /// `RAMPART_OIDC_CLIENT_SECRET`, `RAMPART_OIDC_GROUP_ROLES` (`group=role[,role];…`),
    /// `RAMPART_OIDC_SCOPES` (besides openid; default `profile`), `RAMPART_OIDC_NAME` (default
    /// GitLab). All or nothing: an issuer without the client's id and secret is an error.
    fn sso(&self) -> Result<Option<crate::auth::sso::SsoConfig>, ConfigError> {
        let Some(issuer) = self.get("RAMPART_OIDC_ISSUER") else {
            return Ok(None);
        };
        let required = |name: &'static str| {
            self.get(name).ok_or_else(|| ConfigError {
                variable: name,
                problem: "is not set, but RAMPART_OIDC_ISSUER is: single sign-on needs it"
                    .to_string(),
            })
        };
        let client_id = required("RAMPART_OIDC_CLIENT_ID")?;
        let client_secret = SecretString::from(required("RAMPART_OIDC_CLIENT_SECRET")?);
        let group_roles = crate::auth::sso::parse_group_roles(&required(
            "RAMPART_OIDC_GROUP_ROLES",
        )?)
        .map_err(|problem| ConfigError {
            variable: "RAMPART_OIDC_GROUP_ROLES",
            problem: format!("is not group=role[,role…];…: {problem}"),
        })?;
        Ok(Some(crate::auth::sso::SsoConfig {
            issuer: issuer.trim_end_matches('/').to_string(),
            client_id,
            client_secret,
            redirect_url: format!(
                "{}/auth/oidc/callback",
                self.public_url("RAMPART_PUBLIC_URL")?
            ),
            group_roles,
            name: self.text("RAMPART_OIDC_NAME", "GitLab"),
            scopes: self
                .text("RAMPART_OIDC_SCOPES", "profile")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }))
    }

    /// `RAMPART_FLAGS_<ENVIRONMENT>` (DEVELOPMENT, STAGING, PRODUCTION): `manual`, `local`,
    /// `gitlab` or `unleash`; by default `local` in demo mode and `manual` otherwise. GitLab needs
    /// `RAMPART_GITLAB_<ENVIRONMENT>_URL` and `_TOKEN` (an admin's); Unleash needs
    /// `RAMPART_UNLEASH_<ENVIRONMENT>_URL` and `_TOKEN` (an admin API token), and takes `_PROJECT`
    /// (default `default`) and `_ENVIRONMENT` (default the environment's name in lower case).
    /// `RAMPART_FLAG_TIMEOUT_MS`: how long a backend may take to answer (default 5000).
    /// `RAMPART_FLAG_RECONCILE_SECONDS`: how often the backends are read for drift (default 60).
    fn flags(&self) -> Result<crate::flags::FlagsConfig, ConfigError> {
        use crate::flags::{BackendConfig, FlagsConfig};
        let demo = self.flag("RAMPART_DEMO_DATA", false)?;
        let backend = |names: &EnvironmentVars| -> Result<BackendConfig, ConfigError> {
            let default = if demo { "local" } else { "manual" };
            let required = |name: &'static str| {
                self.get(name).ok_or_else(|| ConfigError {
                    variable: name,
                    problem: format!("is not set, but {} needs it", names.kind),
                })
            };
            let kind = self.text(names.kind, default).to_ascii_lowercase();
            if demo && matches!(kind.as_str(), "gitlab" | "unleash") {
                // The demo's history is rehearsed as made, in Rampart's own store.
                return Err(ConfigError {
                    variable: names.kind,
                    problem: format!(
                        "is {kind}, but RAMPART_DEMO_DATA records the demo's flag changes as made without a real system: use local or manual with demo data"
                    ),
                });
            }
            match kind.as_str() {
                "manual" => Ok(BackendConfig::Manual),
                "local" => Ok(BackendConfig::Local),
                "gitlab" => Ok(BackendConfig::GitLab {
                    url: self.base_url(names.gitlab_url, &required(names.gitlab_url)?)?,
                    token: SecretString::from(required(names.gitlab_token)?),
                }),
                "unleash" => Ok(BackendConfig::Unleash {
                    url: self.base_url(names.unleash_url, &required(names.unleash_url)?)?,
                    token: SecretString::from(required(names.unleash_token)?),
                    project: self.text(names.unleash_project, "default"),
                    environment: self.text(names.unleash_environment, names.default_environment),
                }),
                other => Err(ConfigError {
                    variable: names.kind,
                    problem: format!("is {other:?}, which is not manual, local, gitlab or unleash"),
                }),
            }
        };
        Ok(FlagsConfig {
            development: backend(&environment_vars!("DEVELOPMENT", "development"))?,
            staging: backend(&environment_vars!("STAGING", "staging"))?,
            production: backend(&environment_vars!("PRODUCTION", "production"))?,
            timeout: Duration::from_millis(self.bounded(
                "RAMPART_FLAG_TIMEOUT_MS",
                5000,
                100..=120_000,
            )?),
            reconcile_every: Duration::from_secs(self.bounded(
                "RAMPART_FLAG_RECONCILE_SECONDS",
                60,
                1..=86_400,
            )?),
        })
    }

    /// `RAMPART_PROMETHEUS_<ENVIRONMENT>_URL`: the environment's Prometheus (or Thanos, Mimir,
    /// VictoriaMetrics), where Gitaly's deployed version is read for the version gate with
    /// `RAMPART_GITALY_VERSION_QUERY_<ENVIRONMENT>` (default `gitaly_build_info`: the lowest
    /// `version` label of its series).
    fn gitaly_versions(
        &self,
    ) -> Result<
        Vec<(
            rollout::Environment,
            crate::rollouts::deployments::GitalyVersionSource,
        )>,
        ConfigError,
    > {
        let mut sources = Vec::new();
        for (environment, names) in per_environment() {
            if let Some(url) = self.get(names.prometheus_url) {
                sources.push((
                    environment,
                    crate::rollouts::deployments::GitalyVersionSource {
                        prometheus: self.base_url(names.prometheus_url, &url)?,
                        query: self.text(names.gitaly_version_query, "gitaly_build_info"),
                    },
                ));
            }
        }
        Ok(sources)
    }

    /// The panels' sources. Per environment: `RAMPART_PROMETHEUS_<ENVIRONMENT>_URL` (also the
    /// version gate's), `_JOB` (the `$job` of Gitaly's series; default the template's
    /// feature-status job) and `RAMPART_PROMQL_<ENVIRONMENT>_<PANEL>` to replace a panel's query
    /// (`CALL_RATE`, `ERROR_RATE`, `LATENCY_P50`, `LATENCY_P95`, `LATENCY_P99`, `CPU`,
    /// `FLAG_SPLIT`; placeholders `$service $method $flag $job $window`). For all:
    /// `RAMPART_ELASTICSEARCH_URL` with `_INDEX` (default `gitaly-*`) and `_API_KEY`;
    /// `RAMPART_SENTRY_URL` with `_TOKEN` and `_ORGANIZATION` (default `gitlab`);
    /// `RAMPART_OBSERVABILITY_TIMEOUT_MS` (default 3000) and `_REFRESH_SECONDS` (default 60).
    /// In demo mode, what is not configured is generated.
    fn observability(&self) -> Result<crate::observability::ObservabilityConfig, ConfigError> {
        use crate::observability::{
            LogsConfig, MetricsConfig, ObservabilityConfig, SentryConfig, promql,
        };
        let metrics = |names: &EnvironmentVars| -> Result<MetricsConfig, ConfigError> {
            let mut templates = Vec::new();
            for (panel, name) in names.promql {
                if let Some(template) = self.get(name) {
                    promql::check_template(&template).map_err(|error| ConfigError {
                        variable: name,
                        problem: format!("has an {error}"),
                    })?;
                    templates.push((panel, template));
                }
            }
            Ok(MetricsConfig {
                prometheus: self
                    .get(names.prometheus_url)
                    .map(|url| self.base_url(names.prometheus_url, &url))
                    .transpose()?,
                job: self.get(names.prometheus_job),
                templates,
            })
        };
        let logs = self
            .get("RAMPART_ELASTICSEARCH_URL")
            .map(|url| {
                Ok::<_, ConfigError>(LogsConfig {
                    url: self.base_url("RAMPART_ELASTICSEARCH_URL", &url)?,
                    index: self.get("RAMPART_ELASTICSEARCH_INDEX"),
                    api_key: self
                        .get("RAMPART_ELASTICSEARCH_API_KEY")
                        .map(SecretString::from),
                })
            })
            .transpose()?;
        let sentry = self
            .get("RAMPART_SENTRY_URL")
            .map(|url| {
                Ok::<_, ConfigError>(SentryConfig {
                    url: self.base_url("RAMPART_SENTRY_URL", &url)?,
                    token: self
                        .get("RAMPART_SENTRY_TOKEN")
                        .map(SecretString::from)
                        .ok_or(ConfigError {
                            variable: "RAMPART_SENTRY_TOKEN",
                            problem: "is not set, but RAMPART_SENTRY_URL needs it".to_owned(),
                        })?,
                    organization: self.text("RAMPART_SENTRY_ORGANIZATION", "gitlab"),
                })
            })
            .transpose()?;
        Ok(ObservabilityConfig {
            demo: self.flag("RAMPART_DEMO_DATA", false)?,
            timeout: Duration::from_millis(self.bounded(
                "RAMPART_OBSERVABILITY_TIMEOUT_MS",
                3000,
                100..=60_000,
            )?),
            refresh: Duration::from_secs(self.bounded(
                "RAMPART_OBSERVABILITY_REFRESH_SECONDS",
                60,
                1..=3600,
            )?),
            development: metrics(&environment_vars!("DEVELOPMENT", "development"))?,
            staging: metrics(&environment_vars!("STAGING", "staging"))?,
            production: metrics(&environment_vars!("PRODUCTION", "production"))?,
            logs,
            sentry,
        })
    }

    /// `RAMPART_CHAT_WEBHOOK_<ENVIRONMENT>`: a Slack-compatible incoming webhook (Mattermost's
    /// too) for the environment's notifications; `RAMPART_CHAT_CHANNEL_<ENVIRONMENT>` the channel
    /// to name in them (default the template's: `#dev-gitlab`, `#development`, `#production`).
    fn chat(&self) -> Result<crate::notify::ChatConfig, ConfigError> {
        let mut webhooks = Vec::new();
        for (environment, names) in per_environment() {
            if let Some(url) = self.get(names.chat_webhook) {
                // Checked as an address, never echoed: the URL is the webhook's credential.
                let parsed = reqwest::Url::parse(&url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if parsed.is_none() {
                    return Err(ConfigError {
                        variable: names.chat_webhook,
                        problem: "is not an http(s) address".to_owned(),
                    });
                }
                webhooks.push(crate::notify::ChatWebhook {
                    environment,
                    url: SecretString::from(url),
                    channel: Some(
                        self.text(
                            names.chat_channel,
                            &rollout::LinkConfig::default()
                                .environment(environment)
                                .chat_channel
                                .name,
                        ),
                    ),
                });
            }
        }
        Ok(crate::notify::ChatConfig { webhooks })
    }

    /// `RAMPART_GUARDRAIL_INTERVAL_SECONDS` (default 60): how often each migration is judged;
    /// `RAMPART_GUARDRAIL_WINDOW_MINUTES` (10): how much of the stage each judgement looks at;
    /// `RAMPART_GUARDRAIL_MIN_CALLS` (500): fewer calls is too little traffic to judge;
    /// `RAMPART_GUARDRAIL_CONSECUTIVE` (2): failing judgements in a row before it acts.
    fn guardrail(&self) -> Result<crate::guardrail::GuardrailConfig, ConfigError> {
        let defaults = rollout::guardrail::Thresholds::default();
        Ok(crate::guardrail::GuardrailConfig {
            interval: Duration::from_secs(self.bounded(
                "RAMPART_GUARDRAIL_INTERVAL_SECONDS",
                60,
                1..=3600,
            )?),
            window: Duration::from_secs(
                60 * self.bounded("RAMPART_GUARDRAIL_WINDOW_MINUTES", 10, 1..=1440)?,
            ),
            thresholds: rollout::guardrail::Thresholds {
                min_calls: f64::from(self.bounded(
                    "RAMPART_GUARDRAIL_MIN_CALLS",
                    500u32,
                    1..=100_000_000,
                )?),
                consecutive: self.bounded("RAMPART_GUARDRAIL_CONSECUTIVE", 2, 1..=100)?,
                ..defaults
            },
        })
    }

    /// An `http(s)://` address of another system, without a trailing slash.
    fn base_url(&self, name: &'static str, url: &str) -> Result<String, ConfigError> {
        let url = url.trim_end_matches('/');
        match reqwest::Url::parse(url) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() =>
            {
                Ok(url.to_owned())
            }
            _ => Err(ConfigError {
                variable: name,
                problem: format!(
                    "is {url:?}, which is not an address such as https://gitlab.example.com"
                ),
            }),
        }
    }

    /// `http(s)://host[:port]`, without a trailing slash; by default the listening address.
    fn public_url(&self, name: &'static str) -> Result<String, ConfigError> {
        let Some(url) = self.get(name) else {
            let addr = self.text("RAMPART_ADDR", "127.0.0.1:3000");
            return Ok(format!("http://{addr}"));
        };
        let url = url.trim_end_matches('/').to_string();
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match host {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ']) => Ok(url),
            _ => Err(ConfigError {
                variable: name,
                problem: format!(
                    "is {url:?}, which is not an address such as https://rampart.example.com"
                ),
            }),
        }
    }

    /// The URL holds a password: the error says what is wrong with it without repeating it.
    fn database_url(&self, name: &'static str) -> Result<SecretString, ConfigError> {
        let Some(url) = self.get(name) else {
            return Err(ConfigError {
                variable: name,
                problem: "is not set; it must name the PostgreSQL database, e.g. postgres://user@127.0.0.1:5432/rampart"
                    .to_string(),
            });
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError {
                variable: name,
                problem: "must start with postgres:// or postgresql://".to_string(),
            });
        }
        if let Err(error) = sqlx::postgres::PgConnectOptions::from_str(&url) {
            let reason = match error {
                sqlx::Error::Configuration(_) => "is not a valid PostgreSQL URL",
                _ => "cannot be used",
            };
            return Err(ConfigError {
                variable: name,
                problem: reason.to_string(),
            });
        }
        Ok(SecretString::from(url))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const DB: (&str, &str) = (
        "DATABASE_URL",
        "postgres://rampart:s3cret@127.0.0.1:5432/rampart",
    );

    #[test]
    fn defaults_apply_when_only_the_database_is_given() {
        let config = config(&[DB]).unwrap();
        assert_eq!(config.listen_addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(!config.demo_data);
        assert_eq!(config.db_acquire_timeout, Duration::from_secs(3));
        assert_eq!(config.database_url.expose_secret(), DB.1);
    }

    #[test]
    fn a_missing_database_url_is_named() {
        let error = config(&[]).unwrap_err();
        assert_eq!(error.variable, "DATABASE_URL");
        assert!(error.to_string().starts_with("DATABASE_URL is not set"));
    }

    #[test]
    fn a_bad_database_url_is_named_without_echoing_the_password() {
        let error = config(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]).unwrap_err();
        assert_eq!(error.variable, "DATABASE_URL");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let error =
            config(&[("DATABASE_URL", "postgres://u:hunter2@host:notaport/db")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "DATABASE_URL is not a valid PostgreSQL URL"
        );
    }

    #[test]
    fn each_bad_value_names_its_variable_and_the_reason() {
        let cases = [
            (
                "RAMPART_ADDR",
                "localhost",
                "RAMPART_ADDR is \"localhost\", which is not a socket address",
            ),
            (
                "RAMPART_LOG_FORMAT",
                "xml",
                "RAMPART_LOG_FORMAT is \"xml\", which is not text or json",
            ),
            (
                "RAMPART_DEMO_DATA",
                "maybe",
                "RAMPART_DEMO_DATA is \"maybe\", which is not true or false",
            ),
            (
                "RAMPART_DB_MAX_CONNECTIONS",
                "0",
                "RAMPART_DB_MAX_CONNECTIONS is 0, which is not a whole number from 1 to 1000",
            ),
            (
                "RAMPART_DB_ACQUIRE_TIMEOUT_MS",
                "soon",
                "RAMPART_DB_ACQUIRE_TIMEOUT_MS is \"soon\", which is not a whole number",
            ),
        ];
        for (variable, value, expected) in cases {
            let error = config(&[DB, (variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable);
            assert!(error.to_string().starts_with(expected), "{error}");
        }
    }

    #[test]
    fn the_public_url_decides_secure_cookies() {
        let local = config(&[DB]).unwrap();
        assert_eq!(local.public_url, "http://127.0.0.1:3000");
        assert!(!local.served_over_https());
        let proxied =
            config(&[DB, ("RAMPART_PUBLIC_URL", "https://rampart.example.com/")]).unwrap();
        assert_eq!(proxied.public_url, "https://rampart.example.com");
        assert!(proxied.served_over_https());
        for bad in ["rampart.example.com", "https://", "https://x/y", "ftp://x"] {
            let error = config(&[DB, ("RAMPART_PUBLIC_URL", bad)]).unwrap_err();
            assert_eq!(error.variable, "RAMPART_PUBLIC_URL", "{bad}");
        }
        let idle = config(&[DB, ("RAMPART_SESSION_IDLE_MINUTES", "0")]).unwrap_err();
        assert_eq!(idle.variable, "RAMPART_SESSION_IDLE_MINUTES");
    }

    #[test]
    fn single_sign_on_is_all_or_nothing() {
        assert!(config(&[DB]).unwrap().sso.is_none());
        let issuer = ("RAMPART_OIDC_ISSUER", "https://gitlab.example.com/");
        let error = config(&[DB, issuer]).unwrap_err();
        assert_eq!(error.variable, "RAMPART_OIDC_CLIENT_ID");
        let full = [
            DB,
            issuer,
            ("RAMPART_OIDC_CLIENT_ID", "rampart"),
            ("RAMPART_OIDC_CLIENT_SECRET", "s3cret-of-the-client"),
            ("RAMPART_OIDC_GROUP_ROLES", "gitlab-org/gitaly=engineer"),
            ("RAMPART_PUBLIC_URL", "https://rampart.example.com"),
        ];
        let sso = config(&full).unwrap().sso.unwrap();
        assert_eq!(sso.issuer, "https://gitlab.example.com");
        assert_eq!(
            sso.redirect_url,
            "https://rampart.example.com/auth/oidc/callback"
        );
        assert_eq!(sso.name, "GitLab");
        assert!(
            !format!("{sso:?}").contains("s3cret"),
            "the secret never prints"
        );
        let mut bad = full.to_vec();
        bad[4] = ("RAMPART_OIDC_GROUP_ROLES", "gitlab-org/gitaly=wizard");
        assert_eq!(
            config(&bad).unwrap_err().variable,
            "RAMPART_OIDC_GROUP_ROLES"
        );
    }

    #[test]
    fn panel_sources_are_checked_and_the_demo_generates_what_is_missing() {
        let observability = config(&[DB, ("RAMPART_DEMO_DATA", "true")])
            .unwrap()
            .observability;
        assert!(observability.demo);
        assert!(observability.production.prometheus.is_none());
        assert_eq!(observability.refresh, Duration::from_secs(60));
        let error =
            config(&[DB, ("RAMPART_PROMQL_STAGING_CPU", "rate(x{job=$jbo}[5m])")]).unwrap_err();
        assert_eq!(error.variable, "RAMPART_PROMQL_STAGING_CPU");
        assert!(error.problem.contains("$jbo"), "{}", error.problem);
        let error =
            config(&[DB, ("RAMPART_SENTRY_URL", "https://sentry.example.com")]).unwrap_err();
        assert_eq!(error.variable, "RAMPART_SENTRY_TOKEN");
        let configured = config(&[
            DB,
            (
                "RAMPART_PROMETHEUS_PRODUCTION_URL",
                "http://prometheus:9090/",
            ),
            (
                "RAMPART_PROMQL_PRODUCTION_CPU",
                "sum(rate(cpu{job=$job}[$window]))",
            ),
        ])
        .unwrap()
        .observability;
        assert_eq!(
            configured.production.prometheus.as_deref(),
            Some("http://prometheus:9090")
        );
        assert_eq!(configured.production.templates.len(), 1);
    }

    #[test]
    fn chat_webhooks_are_checked_without_echoing_them() {
        let error = config(&[
            DB,
            (
                "RAMPART_CHAT_WEBHOOK_PRODUCTION",
                "hooks.example.com/T0/B0/s3cr3t",
            ),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "RAMPART_CHAT_WEBHOOK_PRODUCTION");
        assert!(!error.to_string().contains("s3cr3t"), "{error}");
        let chat = config(&[
            DB,
            (
                "RAMPART_CHAT_WEBHOOK_PRODUCTION",
                "https://hooks.example.com/services/T0/B0/s3cr3t",
            ),
        ])
        .unwrap()
        .chat;
        assert_eq!(chat.webhooks.len(), 1);
        assert_eq!(chat.webhooks[0].channel.as_deref(), Some("#production"));
        assert!(!format!("{chat:?}").contains("s3cr3t"), "{chat:?}");
    }

    #[test]
    fn blank_values_mean_the_default() {
        let config = config(&[DB, ("RAMPART_ADDR", "  "), ("RAMPART_DEMO_DATA", "yes")]).unwrap();
        assert_eq!(config.listen_addr.port(), 3000);
        assert!(config.demo_data);
    }

    #[test]
    fn each_environment_chooses_its_flag_backend_and_the_demo_keeps_to_ramparts_own() {
        use crate::flags::BackendKind;
        let plain = config(&[DB]).unwrap();
        assert_eq!(plain.flags.production.kind(), BackendKind::Manual);
        let demo = config(&[DB, ("RAMPART_DEMO_DATA", "true")]).unwrap();
        assert_eq!(demo.flags.development.kind(), BackendKind::Local);

        let error = config(&[DB, ("RAMPART_FLAGS_STAGING", "gitlab")]).unwrap_err();
        assert_eq!(error.variable, "RAMPART_GITLAB_STAGING_URL");
        let error = config(&[
            DB,
            ("RAMPART_FLAGS_STAGING", "gitlab"),
            ("RAMPART_GITLAB_STAGING_URL", "gitlab.example.com"),
            ("RAMPART_GITLAB_STAGING_TOKEN", "glpat-secret"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "RAMPART_GITLAB_STAGING_URL");
        assert!(!error.to_string().contains("glpat-secret"));
        let unleash = config(&[
            DB,
            ("RAMPART_FLAGS_PRODUCTION", "Unleash"),
            (
                "RAMPART_UNLEASH_PRODUCTION_URL",
                "https://unleash.example.com/",
            ),
            ("RAMPART_UNLEASH_PRODUCTION_TOKEN", "*:*.secret"),
        ])
        .unwrap();
        match &unleash.flags.production {
            crate::flags::BackendConfig::Unleash {
                url,
                project,
                environment,
                ..
            } => {
                assert_eq!(url, "https://unleash.example.com");
                assert_eq!(project, "default");
                assert_eq!(environment, "production");
            }
            other => panic!("{other:?}"),
        }
        let error = config(&[DB, ("RAMPART_FLAGS_DEVELOPMENT", "launchdarkly")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("not manual, local, gitlab or unleash")
        );
        let error = config(&[
            DB,
            ("RAMPART_DEMO_DATA", "true"),
            ("RAMPART_FLAGS_PRODUCTION", "unleash"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "RAMPART_FLAGS_PRODUCTION");
    }
}
