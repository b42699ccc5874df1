//! Which Gitaly and GitLab versions run in an environment, for the version gates. GitLab tells
//! its own through its version API where Rampart holds an admin token for it (the GitLab flag
//! backend's); what no source tells, the person advancing types, with the dashboards that show it
//! beside the fields. The demo reports versions of its own.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rollout::{DeployedVersions, Environment, Version};

use crate::flags::gitlab::GitLabFlags;

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

/// GitLab's version from each environment's GitLab, where one is configured; Gitaly's from the
/// person advancing.
pub struct Live {
    gitlabs: Vec<(Environment, Arc<GitLabFlags>)>,
    read: Mutex<Vec<(Environment, Instant, KnownVersions)>>,
}

impl Live {
    pub fn new(gitlabs: Vec<(Environment, Arc<GitLabFlags>)>) -> Live {
        Live {
            gitlabs,
            read: Mutex::new(Vec::new()),
        }
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
        let Some((_, gitlab)) = self.gitlabs.iter().find(|(e, _)| *e == environment) else {
            return KnownVersions::default();
        };
        if let Some(known) = self.fresh(environment) {
            return known;
        }
        let gitlab = match gitlab.version().await {
            Ok(text) => Version::parse(&text)
                .map_err(|error| tracing::warn!(%error, %text, "GitLab reports a version Rampart cannot read"))
                .ok(),
            Err(error) => {
                tracing::warn!(%error, ?environment, "GitLab's version is unknown");
                None
            }
        };
        let known = KnownVersions {
            gitaly: None,
            gitlab,
        };
        // An unanswered question is asked again next time.
        if known.gitlab.is_some() {
            self.remember(environment, &known);
        }
        known
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
