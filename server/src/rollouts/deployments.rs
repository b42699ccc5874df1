//! Which Gitaly and GitLab versions run in an environment, for the version gates. GitLab tells
//! its own through its version API where Rampart holds an admin token for it (the GitLab flag
//! backend's); Gitaly's comes from its build-info series in Prometheus where one is configured;
//! what no source tells, the person advancing types, with the dashboards that show it beside the
//! fields. The demo reports versions of its own.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rollout::{DeployedVersions, Environment, Version};

use crate::{flags::gitlab::GitLabFlags, observability::prometheus::Prometheus};

/// What a source could tell of an environment's versions; either may be unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownVersions {
    pub gitaly: Option<Version>,
    pub gitlab: Option<Version>,
}

impl KnownVersions {
    /// Both, or `None`: a gate is passed on both versions, never half.
    pub fn complete(&self) -> Option<DeployedVersions> {
        Some(DeployedVersions {
            gitaly: self.gitaly.clone()?,
            gitlab: self.gitlab.clone()?,
        })
    }
}

#[async_trait::async_trait]
pub trait Deployments: Send + Sync {
    async fn deployed(&self, environment: Environment) -> KnownVersions;
}

/// How long a version read from GitLab is trusted: every page that needs it would ask
/// otherwise, and deploys take longer than this.
const VERSION_FRESH_FOR: Duration = Duration::from_secs(60);

/// Where an environment's Gitaly version is read: a Prometheus (or Thanos, Mimir…) and the query
/// whose series carry the `version` label.
#[derive(Clone, Debug)]
pub struct GitalyVersionSource {
    pub prometheus: String,
    pub query: String,
}

/// GitLab's version from each environment's GitLab, and Gitaly's from its Prometheus, where
/// configured; what neither tells, the person advancing types.
pub struct Live {
    gitlabs: Vec<(Environment, Arc<GitLabFlags>)>,
    gitalys: Vec<(Environment, GitalyBuildInfo)>,
    read: Mutex<Vec<(Environment, Instant, KnownVersions)>>,
}

impl Live {
    pub fn new(
        gitlabs: Vec<(Environment, Arc<GitLabFlags>)>,
        gitalys: &[(Environment, GitalyVersionSource)],
        timeout: Duration,
    ) -> Result<Live, reqwest::Error> {
        let gitalys = gitalys
            .iter()
            .map(|(environment, source)| {
                GitalyBuildInfo::new(&source.prometheus, &source.query, timeout)
                    .map(|info| (*environment, info))
            })
            .collect::<Result<_, _>>()?;
        Ok(Live {
            gitlabs,
            gitalys,
            read: Mutex::new(Vec::new()),
        })
    }

    fn fresh(&self, environment: Environment) -> Option<KnownVersions> {
        let read = self
            .read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read.iter()
            .find(|(e, at, _)| *e == environment && at.elapsed() < VERSION_FRESH_FOR)
            .map(|(_, _, known)| known.clone())
    }

    fn remember(&self, environment: Environment, known: &KnownVersions) {
        let mut read = self
            .read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read.retain(|(e, _, _)| *e != environment);
        read.push((environment, Instant::now(), known.clone()));
    }
}

#[async_trait::async_trait]
impl Deployments for Live {
    async fn deployed(&self, environment: Environment) -> KnownVersions {
        if let Some(known) = self.fresh(environment) {
            return known;
        }
        let gitlab = self.gitlabs.iter().find(|(e, _)| *e == environment);
        let gitaly = self.gitalys.iter().find(|(e, _)| *e == environment);
        let (gitlab, gitaly) = tokio::join!(
            async {
                match gitlab?.1.version().await {
                    Ok(text) => Version::parse(&text)
                        .map_err(|error| tracing::warn!(%error, %text, "GitLab reports a version Rampart cannot read"))
                        .ok(),
                    Err(error) => {
                        tracing::warn!(%error, ?environment, "GitLab's version is unknown");
                        None
                    }
                }
            },
            async { gitaly?.1.lowest().await },
        );
        let known = KnownVersions { gitaly, gitlab };
        // Remembered even when unknown, so a source that is down is not asked on every page.
        self.remember(environment, &known);
        known
    }
}

/// Gitaly's version from Prometheus: the `version` label of its build-info series (Gitaly
/// exports `gitaly_build_info{version="v16.3.2",…} 1`), the lowest of them, since a gate holds
/// only when every Gitaly node meets it.
pub struct GitalyBuildInfo {
    prometheus: Prometheus,
    query: String,
}

impl GitalyBuildInfo {
    pub fn new(prometheus: &str, query: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(GitalyBuildInfo {
            prometheus: Prometheus::new(prometheus, timeout)?,
            query: query.to_owned(),
        })
    }

    /// The lowest version any series reports; `None` when Prometheus cannot tell.
    pub async fn lowest(&self) -> Option<Version> {
        let answer = match self.prometheus.query(&self.query, None).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::warn!(%error, "Gitaly's version is unknown");
                return None;
            }
        };
        answer
            .series
            .iter()
            .filter_map(|series| Version::parse(series.labels.get("version")?).ok())
            .min()
    }
}

/// The demo's environments, all running a recent release.
pub struct Demo;

impl Demo {
    pub fn versions() -> Option<DeployedVersions> {
        Some(DeployedVersions {
            gitaly: Version::parse("v18.6.1").ok()?,
            gitlab: Version::parse("18.6.1-ee").ok()?,
        })
    }
}

#[async_trait::async_trait]
impl Deployments for Demo {
    async fn deployed(&self, _environment: Environment) -> KnownVersions {
        Demo::versions().map_or_else(KnownVersions::default, |v| KnownVersions {
            gitaly: Some(v.gitaly),
            gitlab: Some(v.gitlab),
        })
    }
}
