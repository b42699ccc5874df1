//! What the server provides to the app through context: one trait per domain, implemented by the
//! server over Postgres (or by a fake in tests), so server functions hold no SQL and no HTTP code.

use std::sync::Arc;

use leptos::prelude::*;

use crate::api::audit::AuditQuery;
use crate::api::change_lock::ChangeLock;
use crate::api::history::HistoryRow;
use crate::api::migration::{AuditRow, MigrationDetail};
use crate::api::migration_form::{EditableMigration, MigrationForm};
use crate::api::panels::{ChartWindow, Panels, Sparkline};
use crate::api::portfolio::{Portfolio, PortfolioStamp};
use crate::api::session::CurrentUser;
use crate::api::tokens::{CreatedToken, TokenSummary};
use crate::api::users::{CreatedUser, UserSummary};
use crate::error::AppError;
use rollout::Roles;

/// Reading and changing migrations. Every change is checked by the domain, written with its
/// audit entries in one transaction, and refused with a conflict when `version` is not the
/// latest.
#[async_trait::async_trait]
pub trait MigrationService: Send + Sync {
    /// Every migration still rolling out.
    async fn portfolio(&self) -> Result<Portfolio, AppError>;
    /// The stamp [`Self::portfolio`] would give now, at the cost of asking whether anything changed.
    async fn portfolio_stamp(&self) -> Result<PortfolioStamp, AppError>;
    async fn detail(&self, flag: &str) -> Result<MigrationDetail, AppError>;
    async fn form(&self, flag: &str) -> Result<EditableMigration, AppError>;
    /// Adds a migration, not yet started; returns its flag.
    async fn create(&self, actor: &CurrentUser, form: &MigrationForm) -> Result<String, AppError>;
    async fn update(
        &self,
        actor: &CurrentUser,
        flag: &str,
        version: i64,
        form: &MigrationForm,
    ) -> Result<(), AppError>;
    /// A stage-machine action. `version`: the one the person saw, when the action depends on it.
    async fn act(
        &self,
        actor: &CurrentUser,
        flag: &str,
        version: Option<i64>,
        action: rollout::Action,
    ) -> Result<(), AppError>;
    /// Completed and rolled-back migrations, most recently ended first.
    async fn history(&self) -> Result<Vec<HistoryRow>, AppError>;
    /// Audit entries matching `query`, newest first, at most its limit.
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, AppError>;
    /// A release manager's review of kill `kill` (its audit entry) of `flag`.
    async fn review_kill(
        &self,
        actor: &CurrentUser,
        flag: &str,
        kill: i64,
        note: &str,
    ) -> Result<(), AppError>;
    /// The guardrail of `flag` acts on a regression, or only judges and tells.
    async fn set_guardrail_mode(
        &self,
        actor: &CurrentUser,
        flag: &str,
        observe_only: bool,
    ) -> Result<(), AppError>;
    /// The change lock holding now, if any.
    async fn change_lock(&self) -> Result<Option<ChangeLock>, AppError>;
    async fn declare_change_lock(
        &self,
        actor: &CurrentUser,
        reason: &str,
        hours: u32,
    ) -> Result<(), AppError>;
    async fn lift_change_lock(&self, actor: &CurrentUser) -> Result<(), AppError>;
    /// Moves a flag change on by hand: confirms one a person ran (manual backend), or puts one
    /// that failed back in the queue.
    async fn flag_change(
        &self,
        actor: &CurrentUser,
        flag: &str,
        change: i64,
        step: FlagChangeStep,
    ) -> Result<(), AppError>;
}

/// What a person does to a flag change that is not applied yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagChangeStep {
    /// "Done: I ran it": the manual backend's change was made by hand.
    Confirm,
    /// A change the backend could not make is to be tried again.
    Retry,
}

/// Signing in and out. The server's implementation reaches the request's session itself.
#[async_trait::async_trait]
pub trait AuthService: Send + Sync {
    /// Checks the password and, when it matches an active account, signs the session in under a
    /// new id. The same error for an unknown name and a wrong password.
    async fn sign_in(&self, username: &str, password: &str) -> Result<CurrentUser, AppError>;
    /// Ends the session.
    async fn sign_out(&self) -> Result<(), AppError>;
}

/// The accounts admins manage. `actor` is the admin acting, for the audit log and for the rules
/// that keep an installation from locking itself out.
#[async_trait::async_trait]
pub trait UserService: Send + Sync {
    async fn list_users(&self) -> Result<Vec<UserSummary>, AppError>;
    async fn create_user(
        &self,
        actor: &CurrentUser,
        username: &str,
        display_name: &str,
        roles: &Roles,
    ) -> Result<CreatedUser, AppError>;
    async fn set_roles(
        &self,
        actor: &CurrentUser,
        username: &str,
        roles: &Roles,
    ) -> Result<(), AppError>;
    async fn deactivate(&self, actor: &CurrentUser, username: &str) -> Result<(), AppError>;
}

/// A user's own API tokens.
#[async_trait::async_trait]
pub trait TokenService: Send + Sync {
    async fn list_tokens(&self, user: &CurrentUser) -> Result<Vec<TokenSummary>, AppError>;
    async fn create_token(&self, user: &CurrentUser, name: &str) -> Result<CreatedToken, AppError>;
    async fn revoke_token(&self, user: &CurrentUser, id: i64) -> Result<(), AppError>;
}

/// What the dashboards show for a migration, from the environment's metrics, logs and Sentry.
/// A source that fails or is slow makes its panel "unavailable", never the call.
#[async_trait::async_trait]
pub trait ObservabilityService: Send + Sync {
    async fn panels(&self, flag: &str, window: ChartWindow) -> Result<Panels, AppError>;
    /// The last day's error rate of every migration in flight that watches an environment.
    async fn sparklines(&self) -> Result<Vec<Sparkline>, AppError>;
}

/// Everything the server hands to the app for one request.
#[derive(Clone)]
pub struct Services {
    pub migrations: Arc<dyn MigrationService>,
    pub auth: Arc<dyn AuthService>,
    pub users: Arc<dyn UserService>,
    pub tokens: Arc<dyn TokenService>,
    pub observability: Arc<dyn ObservabilityService>,
    /// Demo mode: the sign-in page says where the demo users' passwords are.
    pub demo: bool,
    /// The identity provider's name, when single sign-on is configured.
    pub sso_name: Option<String>,
    /// The portfolio's tables as last rendered, shared by the process's requests.
    pub kept_tables: Arc<crate::pages::portfolio::KeptTables>,
}

/// The services of the current request; an error (not a panic) if the server forgot to provide them.
pub fn services() -> Result<Services, AppError> {
    use_context::<Services>().ok_or_else(|| {
        leptos::logging::error!("Services were not provided to the Leptos context");
        AppError::Internal
    })
}
