//! The Postgres store: the pool, the schema, and one module of queries per domain.

pub mod api;
pub mod audit;
pub mod change_locks;
pub mod flag_changes;
pub mod flag_observations;
pub mod guardrail;
pub mod kill_reviews;
pub mod local_flags;
pub mod migrations;
pub mod notifications;
pub mod overdue;
pub mod plans;
pub mod sessions;
pub mod stages;
pub mod tokens;
pub mod users;

use secrecy::ExposeSecret;
use sqlx::{
    ConnectOptions, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::Config;

/// The schema, from `migrations/` at the top of the repository, compiled into the binary.
pub static SCHEMA: Migrator = sqlx::migrate!("../migrations");

/// A pool that connects on first use, so the server starts (and says it is not ready) while the
/// database is down; a request waits at most `db_acquire_timeout` for a connection.
pub fn pool(config: &Config) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = config.database_url.expose_secret().parse()?;
    let options = options.application_name("rampart").log_slow_statements(
        tracing::log::LevelFilter::Warn,
        std::time::Duration::from_millis(500),
    );
    Ok(PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(config.db_acquire_timeout)
        .connect_lazy_with(options))
}

/// Whether every migration this binary knows has been applied.
pub async fn schema_is_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let latest = SCHEMA.iter().map(|m| m.version).max().unwrap_or(0);
    // language=PostgreSQL
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(applied.unwrap_or(0) >= latest)
}
