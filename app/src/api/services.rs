//! What the server provides to the app through context: one trait per domain, implemented by the
//! server over Postgres (or by a fake in tests), so server functions hold no SQL and no HTTP code.

use std::sync::Arc;

use leptos::prelude::*;

use crate::api::migrations::MigrationSummary;
use crate::error::AppError;

/// Reading and changing migrations.
#[async_trait::async_trait]
pub trait MigrationService: Send + Sync {
    /// Every migration still rolling out, the ones that need a person first.
    async fn list_migrations(&self) -> Result<Vec<MigrationSummary>, AppError>;
}

/// Everything the server hands to the app for one request.
#[derive(Clone)]
pub struct Services {
    pub migrations: Arc<dyn MigrationService>,
}

/// The services of the current request; an error (not a panic) if the server forgot to provide them.
pub fn services() -> Result<Services, AppError> {
    use_context::<Services>().ok_or_else(|| {
        leptos::logging::error!("Services were not provided to the Leptos context");
        AppError::Internal
    })
}

/// Sets the HTTP status of the current response to match the error, then passes the result on.
pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(error) = &result
        && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        && let Ok(status) = http::StatusCode::from_u16(error.status_code())
    {
        response.set_status(status);
    }
    result
}
