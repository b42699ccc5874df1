//! In-memory stand-ins for the services the server provides, so the app's own code — server
//! functions, their checks — is tested without Postgres.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use chrono::Utc;
use rollout::Roles;

use crate::api::{
    migration::MigrationDetail,
    migration_form::{EditableMigration, MigrationForm},
    panels::{ChartWindow, Panels, Sparkline},
    portfolio::{Portfolio, PortfolioRow, PortfolioStamp},
    services::{
        AuthService, MigrationService, ObservabilityService, Services, TokenService, UserService,
    },
    session::CurrentUser,
    tokens::{CreatedToken, TokenSummary},
    users::{CreatedUser, UserSummary},
};
use crate::error::AppError;

/// Services over plain vectors.
#[derive(Default)]
pub struct Fakes {
    pub migrations: Mutex<Vec<PortfolioRow>>,
    /// Every stage action that reached the service: flag, version, action.
    pub actions: Mutex<Vec<(String, Option<i64>, rollout::Action)>>,
    pub users: Mutex<Vec<UserSummary>>,
    pub tokens: Mutex<Vec<TokenSummary>>,
    readings: AtomicU64,
}

impl Fakes {
    /// The migrations may have changed at any call: each reading is a new one.
    fn next_reading(&self) -> u64 {
        self.readings.fetch_add(1, Ordering::Relaxed)
    }

    pub fn services(self: &Arc<Self>) -> Services {
        Services {
            migrations: self.clone(),
            auth: self.clone(),
            users: self.clone(),
            tokens: self.clone(),
            observability: self.clone(),
            demo: false,
            sso_name: None,
            kept_tables: Default::default(),
        }
    }
}

#[async_trait::async_trait]
impl MigrationService for Fakes {
    async fn portfolio(&self) -> Result<Portfolio, AppError> {
        Ok(Portfolio {
            as_of: chrono::DateTime::<Utc>::UNIX_EPOCH,
            reading: self.next_reading(),
            rows: self
                .migrations
                .lock()
                .map_err(|_| AppError::Internal)?
                .clone(),
        })
    }
    async fn portfolio_stamp(&self) -> Result<PortfolioStamp, AppError> {
        Ok(PortfolioStamp {
            reading: self.next_reading(),
            second: 0,
        })
    }
    async fn detail(&self, flag: &str) -> Result<MigrationDetail, AppError> {
        Err(AppError::not_found(format!("migration {flag}")))
    }
    async fn form(&self, flag: &str) -> Result<EditableMigration, AppError> {
        Err(AppError::not_found(format!("migration {flag}")))
    }
    async fn create(&self, _actor: &CurrentUser, form: &MigrationForm) -> Result<String, AppError> {
        let (identity, _) = form.parse()?;
        Ok(identity.feature_flag.to_string())
    }
    async fn update(
        &self,
        _actor: &CurrentUser,
        _flag: &str,
        _version: i64,
        form: &MigrationForm,
    ) -> Result<(), AppError> {
        form.parse().map(|_| ())
    }
    async fn act(
        &self,
        _actor: &CurrentUser,
        flag: &str,
        version: Option<i64>,
        action: rollout::Action,
    ) -> Result<(), AppError> {
        self.actions.lock().map_err(|_| AppError::Internal)?.push((
            flag.to_owned(),
            version,
            action,
        ));
        Ok(())
    }
    async fn history(&self) -> Result<Vec<crate::api::history::HistoryRow>, AppError> {
        Ok(Vec::new())
    }
    async fn audit(
        &self,
        _query: &crate::api::audit::AuditQuery,
    ) -> Result<Vec<crate::api::migration::AuditRow>, AppError> {
        Ok(Vec::new())
    }
    async fn review_kill(
        &self,
        _actor: &CurrentUser,
        flag: &str,
        _kill: i64,
        _note: &str,
    ) -> Result<(), AppError> {
        Err(AppError::not_found(format!("migration {flag}")))
    }
    async fn set_guardrail_mode(
        &self,
        _actor: &CurrentUser,
        _flag: &str,
        _observe_only: bool,
    ) -> Result<(), AppError> {
        Ok(())
    }
    async fn change_lock(&self) -> Result<Option<crate::api::change_lock::ChangeLock>, AppError> {
        Ok(None)
    }
    async fn declare_change_lock(
        &self,
        _actor: &CurrentUser,
        _reason: &str,
        _hours: u32,
    ) -> Result<(), AppError> {
        Ok(())
    }
    async fn lift_change_lock(&self, _actor: &CurrentUser) -> Result<(), AppError> {
        Ok(())
    }
    async fn flag_change(
        &self,
        _actor: &CurrentUser,
        flag: &str,
        _change: i64,
        _step: crate::api::services::FlagChangeStep,
    ) -> Result<(), AppError> {
        Err(AppError::not_found(format!("migration {flag}")))
    }
}

#[async_trait::async_trait]
impl AuthService for Fakes {
    async fn sign_in(&self, _username: &str, _password: &str) -> Result<CurrentUser, AppError> {
        Err(AppError::WrongCredentials)
    }
    async fn sign_out(&self) -> Result<(), AppError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl UserService for Fakes {
    async fn list_users(&self) -> Result<Vec<UserSummary>, AppError> {
        Ok(self.users.lock().map_err(|_| AppError::Internal)?.clone())
    }
    async fn create_user(
        &self,
        _actor: &CurrentUser,
        username: &str,
        display_name: &str,
        roles: &Roles,
    ) -> Result<CreatedUser, AppError> {
        let mut users = self.users.lock().map_err(|_| AppError::Internal)?;
        let id = i64::try_from(users.len()).unwrap_or(0) + 1;
        users.push(UserSummary {
            id,
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            roles: roles.clone(),
            active: true,
            sso: false,
            created_at: chrono::DateTime::<Utc>::UNIX_EPOCH,
        });
        Ok(CreatedUser {
            username: username.to_owned(),
            password: "fake-password-1".to_owned(),
        })
    }
    async fn set_roles(
        &self,
        _actor: &CurrentUser,
        username: &str,
        roles: &Roles,
    ) -> Result<(), AppError> {
        let mut users = self.users.lock().map_err(|_| AppError::Internal)?;
        let user = users
            .iter_mut()
            .find(|u| u.username == username)
            .ok_or_else(|| AppError::not_found(format!("user {username}")))?;
        user.roles = roles.clone();
        Ok(())
    }
    async fn deactivate(&self, _actor: &CurrentUser, username: &str) -> Result<(), AppError> {
        let mut users = self.users.lock().map_err(|_| AppError::Internal)?;
        let user = users
            .iter_mut()
            .find(|u| u.username == username)
            .ok_or_else(|| AppError::not_found(format!("user {username}")))?;
        user.active = false;
        Ok(())
    }
}

#[async_trait::async_trait]
impl TokenService for Fakes {
    async fn list_tokens(&self, _user: &CurrentUser) -> Result<Vec<TokenSummary>, AppError> {
        Ok(self.tokens.lock().map_err(|_| AppError::Internal)?.clone())
    }
    async fn create_token(
        &self,
        _user: &CurrentUser,
        name: &str,
    ) -> Result<CreatedToken, AppError> {
        Ok(CreatedToken {
            name: name.to_owned(),
            token: "rpt_fake".to_owned(),
        })
    }
    async fn revoke_token(&self, _user: &CurrentUser, _id: i64) -> Result<(), AppError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObservabilityService for Fakes {
    async fn panels(&self, flag: &str, _window: ChartWindow) -> Result<Panels, AppError> {
        Err(AppError::not_found(format!("migration {flag}")))
    }

    async fn sparklines(&self) -> Result<Vec<Sparkline>, AppError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use leptos::prelude::*;
    use rollout::{Permission, Role};

    use super::*;
    use crate::api::{portfolio::list_migrations, session::ViaApiToken, users::set_user_roles};

    /// Runs `call` as a server function runs: with the services and the request's parts (and
    /// its signed-in user, if any) in context.
    async fn as_request<T>(
        fakes: &Arc<Fakes>,
        user: Option<CurrentUser>,
        via_token: bool,
        call: impl std::future::Future<Output = T>,
    ) -> T {
        let owner = Owner::new();
        owner.set();
        provide_context(fakes.services());
        let (mut parts, ()) = http::Request::new(()).into_parts();
        if let Some(user) = user {
            parts.extensions.insert(user);
        }
        if via_token {
            parts.extensions.insert(ViaApiToken);
        }
        provide_context(parts);
        call.await
    }

    fn user(roles: &[Role]) -> CurrentUser {
        CurrentUser {
            id: 1,
            username: "u".into(),
            display_name: "U".into(),
            roles: Roles::new(roles.iter().copied()),
        }
    }

    #[tokio::test]
    async fn server_functions_check_who_is_asking_first() {
        let fakes = Arc::new(Fakes::default());
        let anonymous = as_request(&fakes, None, false, list_migrations()).await;
        assert_eq!(anonymous, Err(AppError::Unauthorized));
        let viewer = as_request(
            &fakes,
            Some(user(&[Role::Viewer])),
            false,
            list_migrations(),
        )
        .await;
        assert_eq!(viewer.map(|p| p.rows), Ok(vec![]));
        let nobody = as_request(&fakes, Some(user(&[])), false, list_migrations()).await;
        assert_eq!(nobody, Err(AppError::Forbidden), "no role, no access");
    }

    #[tokio::test]
    async fn managing_users_takes_an_admin_in_person() {
        let fakes = Arc::new(Fakes::default());
        let admin = user(&[Role::Admin]);
        assert!(admin.may(Permission::Administer));
        let change = || set_user_roles("nobody".into(), Some("on".into()), None, None, None, None);
        let by_engineer = as_request(&fakes, Some(user(&[Role::Engineer])), false, change()).await;
        assert_eq!(by_engineer, Err(AppError::Forbidden));
        let by_token = as_request(&fakes, Some(admin.clone()), true, change()).await;
        assert_eq!(by_token, Err(AppError::Forbidden), "not with an API token");
        let in_person = as_request(&fakes, Some(admin), false, change()).await;
        assert_eq!(
            in_person,
            Err(AppError::not_found("user nobody")),
            "past the checks"
        );
    }

    #[tokio::test]
    async fn stage_actions_reach_the_service_as_the_domain_actions_they_name() {
        use crate::api::migration::{advance_stage, decide, record_check_in};
        let fakes = Arc::new(Fakes::default());
        let engineer = || Some(user(&[Role::Engineer]));
        let viewer = as_request(
            &fakes,
            Some(user(&[Role::Viewer])),
            false,
            record_check_in("f".into(), "grafana_checked".into()),
        )
        .await;
        assert_eq!(viewer, Err(AppError::Forbidden));
        let ticked = as_request(
            &fakes,
            engineer(),
            false,
            record_check_in("f".into(), "grafana_checked".into()),
        )
        .await;
        assert_eq!(ticked, Ok(()));
        let unknown = as_request(
            &fakes,
            engineer(),
            false,
            record_check_in("f".into(), "coffee_made".into()),
        )
        .await;
        assert!(
            matches!(unknown, Err(AppError::Validation { .. })),
            "{unknown:?}"
        );
        let stopped = as_request(
            &fakes,
            engineer(),
            false,
            decide("f".into(), 7, "stop".into(), Some("errors".into())),
        )
        .await;
        assert_eq!(stopped, Ok(()));
        let half = as_request(
            &fakes,
            engineer(),
            false,
            advance_stage("f".into(), 8, Some("16.3.2".into()), Some(" ".into())),
        )
        .await;
        let Err(AppError::Validation { fields }) = half else {
            panic!("one version without the other: {half:?}");
        };
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["gitlab_version"]);

        let actions = fakes.actions.lock().map(|a| a.clone()).unwrap_or_default();
        assert_eq!(
            actions,
            [
                (
                    "f".to_owned(),
                    None,
                    rollout::Action::CheckIn {
                        item: rollout::CheckItem::GrafanaChecked,
                        outcome: rollout::CheckOutcome::Checked,
                        note: None,
                    }
                ),
                (
                    "f".to_owned(),
                    Some(7),
                    rollout::Action::CheckIn {
                        item: rollout::CheckItem::ContinueDecision,
                        outcome: rollout::CheckOutcome::Stop,
                        note: Some("errors".into()),
                    }
                ),
            ]
        );
    }
}
