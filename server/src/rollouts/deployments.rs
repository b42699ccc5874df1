//! Which Gitaly and GitLab versions run in an environment, for the version gates. Until flag
//! control reads them from GitLab's API, a person types them on the advance form; the demo
//! reports versions of its own.

use rollout::{DeployedVersions, Environment, Version};

#[async_trait::async_trait]
pub trait Deployments: Send + Sync {
    /// `None` when this source cannot tell: the person advancing says.
    async fn deployed(&self, environment: Environment) -> Option<DeployedVersions>;
}

/// Nobody to ask: the operator reads the versions off the environment.
pub struct Manual;

#[async_trait::async_trait]
impl Deployments for Manual {
    async fn deployed(&self, _environment: Environment) -> Option<DeployedVersions> {
        None
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
    async fn deployed(&self, _environment: Environment) -> Option<DeployedVersions> {
        Demo::versions()
    }
}
