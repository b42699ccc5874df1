//! The state every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

use app::api::services::Services;

use crate::{auth::sso::Sso, clock::ShiftedClock, http::metrics::HttpMetrics};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub leptos_options: LeptosOptions,
    pub metrics: Arc<HttpMetrics>,
    /// What the app's server functions call; also for the REST API and events to come.
    pub services: Services,
    /// Single sign-on, when configured.
    pub sso: Option<Arc<Sso>>,
    /// `RAMPART_PUBLIC_URL`: Rampart's own origin, for telling its pages' requests from others'.
    pub public_url: Arc<str>,
    /// `RAMPART_TRUST_FORWARDED_FOR`: a proxy in front says who the client is.
    pub trust_forwarded_for: bool,
    /// `RAMPART_TEST_CLOCK`: the clock tests move forward.
    pub test_clock: Option<Arc<ShiftedClock>>,
    /// What changed in Postgres, for the pages' live updates and what is kept between requests.
    pub changes: crate::changes::Changes,
    /// The signed-in users as last read, by id.
    pub signed_in: Arc<crate::changes::Kept<i64, app::api::session::CurrentUser>>,
    /// `RAMPART_API_REQUESTS_PER_MINUTE`.
    pub api_requests_per_minute: u32,
}

impl FromRef<AppState> for crate::changes::Changes {
    fn from_ref(state: &AppState) -> Self {
        state.changes.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
