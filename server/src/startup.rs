//! Builds the whole application — pool, schema, routes, middleware — and runs it.

use std::{net::SocketAddr, sync::Arc};

use app::{App, api::services::Services, shell};
use axum::{Router, middleware, routing::get};
use leptos::{config::LeptosOptions, prelude::provide_context};
use leptos_axum::{LeptosRoutes, file_and_error_handler_with_context, generate_route_list};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;

use crate::{
    api,
    auth::{self, service::PgAuthService, sso::Sso, tokens::PgTokenService, users::PgUserService},
    changes::{Changes, Kept, Topic},
    clock::{Clock, ShiftedClock, SystemClock},
    config::Config,
    db, demo,
    error::Error,
    flags::{FlagBackends, reconciler::Reconciler, worker::FlagWorker},
    guardrail::Guardrail,
    http::{self, metrics::HttpMetrics},
    observability::panels::Observatory,
    rollouts::{PgMigrationService, deployments},
    state::AppState,
};

/// How many signed-in users a replica keeps at most (see `AppState::signed_in`).
const USERS_KEPT: usize = 10_000;

/// The name cargo-leptos gives the browser files (`[[workspace.metadata.leptos]] name`).
const OUTPUT_NAME: &str = "rampart";

pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Connects, brings the schema up to date, loads demo data if asked, starts the flag worker,
    /// and binds the listener.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let pool = db::pool(&config)?;
        db::SCHEMA.run(&pool).await?;
        let test_clock = config.test_clock.then(|| Arc::new(ShiftedClock::default()));
        let clock: Arc<dyn Clock> = match &test_clock {
            Some(shifted) => shifted.clone(),
            None => Arc::new(SystemClock),
        };
        let backends = FlagBackends::new(&config.flags, &pool).map_err(Error::HttpClients)?;
        let changes = Changes::new();
        tokio::spawn(changes.clone().listen(pool.clone()));
        let migrations = Arc::new(migration_service(
            &config,
            pool.clone(),
            clock.clone(),
            backends.clone(),
            changes.clone(),
        )?);
        if config.demo_data {
            // The people first: the demo migrations are owned by them.
            demo::create_users_if_none(&pool, config.demo_password.as_ref()).await?;
            let added = demo::load_if_empty(&pool, &migrations, chrono::Utc::now()).await?;
            if added > 0 {
                tracing::info!(added, "loaded demo migrations into the empty database");
            }
        }
        // Idempotency keys after a day, API request counts after an hour.
        tokio::spawn(api::limits::sweep(pool.clone()));
        // Expired sessions and stale sign-in failures are gone within the hour.
        tokio::spawn(
            auth::store::PgSessionStore::new(pool.clone(), changes.clone())
                .sweep(std::time::Duration::from_secs(3600)),
        );
        // Every replica applies flag changes; they share the work through the database.
        tokio::spawn(
            FlagWorker {
                pool: pool.clone(),
                backends: backends.clone(),
                migrations: migrations.clone(),
                clock: clock.clone(),
            }
            .run(),
        );
        tokio::spawn(
            Reconciler {
                pool: pool.clone(),
                backends,
                migrations: migrations.clone(),
                clock: clock.clone(),
                interval: config.flags.reconcile_every,
            }
            .run(),
        );

        let listener = TcpListener::bind(config.listen_addr)
            .await
            .map_err(Error::Bind)?;
        let sso = config
            .sso
            .clone()
            .map(|sso| Sso::new(sso).map(Arc::new).map_err(Error::Sso))
            .transpose()?;
        let sources = config
            .observability
            .sources(migrations.links())
            .map_err(Error::HttpClients)?;
        // Every replica delivers chat notifications; each is claimed by one of them.
        tokio::spawn(
            crate::notify::Notifier::new(pool.clone(), config.chat.clone())
                .map_err(Error::HttpClients)?
                .run(),
        );
        // Every replica runs the guardrail (and tells overdue checks); each evaluation and
        // notice is claimed by one of them.
        tokio::spawn(
            Guardrail {
                pool: pool.clone(),
                migrations: migrations.clone(),
                sources: sources.clone(),
                clock: clock.clone(),
                config: config.guardrail.clone(),
                replica: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            }
            .run(),
        );
        let observatory = Arc::new(Observatory::new(
            migrations.clone(),
            clock.clone(),
            sources,
            config.observability.refresh,
        ));
        let router = router(
            &config,
            pool,
            sso,
            migrations,
            observatory,
            test_clock,
            changes,
        );
        Ok(Self { listener, router })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until SIGTERM or Ctrl-C, then finishes the requests in progress.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        // The peer's address reaches the handlers, to limit sign-in attempts per address.
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(Error::Serve)
    }
}

fn router(
    config: &Config,
    pool: PgPool,
    sso: Option<Arc<Sso>>,
    migrations: Arc<PgMigrationService>,
    observatory: Arc<Observatory>,
    test_clock: Option<Arc<ShiftedClock>>,
    changes: Changes,
) -> Router {
    // cargo-leptos writes it when it gives the browser's files hashed names.
    let hashed_names = app::beside_server("hash.txt").is_some();
    let leptos_options = LeptosOptions::builder()
        .output_name(OUTPUT_NAME)
        .site_root(config.site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(config.listen_addr)
        .hash_files(hashed_names)
        .build();
    // One set of services for the whole process: pages, the REST API and server-sent events
    // use these same instances, through the state.
    let services = Services {
        migrations,
        auth: Arc::new(PgAuthService::new(pool.clone())),
        users: Arc::new(PgUserService::new(pool.clone())),
        tokens: Arc::new(PgTokenService::new(pool.clone())),
        observability: observatory,
        demo: config.demo_data,
        sso_name: sso.as_ref().map(|sso| sso.config.name.clone()),
        kept_tables: Default::default(),
    };
    let state = AppState {
        pool: pool.clone(),
        leptos_options: leptos_options.clone(),
        metrics: Arc::new(HttpMetrics::default()),
        services,
        sso,
        public_url: Arc::from(config.public_url.as_str()),
        trust_forwarded_for: config.trust_forwarded_for,
        test_clock,
        signed_in: Arc::new(Kept::new(Topic::Identity, changes.clone(), USERS_KEPT)),
        changes,
        api_requests_per_minute: config.api_requests_per_minute,
    };
    let context = {
        let services = state.services.clone();
        move || {
            provide_context(services.clone());
            http::security::provide_request_nonce();
            http::shared_html::provide_splice();
        }
    };

    // What a person signs in for: the pages, their server functions, single sign-on. Only these
    // pay for reading the session and the user; the browser's files and the operations
    // endpoints never do, though the browser sends the cookie with them too.
    let signed_in = Router::new()
        .route("/auth/oidc/start", get(http::sso::start))
        .route("/auth/oidc/callback", get(http::sso::callback))
        .route("/history.csv", get(http::exports::history_csv_file))
        .route("/audit.csv", get(http::exports::audit_csv_file))
        .route("/audit.json", get(http::exports::audit_json_file))
        .route("/events", get(http::events::stream))
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            context.clone(),
            move || shell(leptos_options.clone()),
        )
        .fallback(file_and_error_handler_with_context::<AppState, _>(
            context, shell,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    auth::refuse_cross_site,
                ))
                .layer(auth::session_layer(pool, state.changes.clone(), config))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    auth::load_current_user,
                ))
                .layer(middleware::from_fn(auth::sign_in_for_pages))
                .layer(middleware::from_fn(http::errors::server_function_status))
                .layer(middleware::from_fn_with_state(
                    Arc::new(http::deflate::KeptDeflated::default()),
                    http::shared_html::splice,
                )),
        );

    let mut operations = Router::new();
    if state.test_clock.is_some() {
        tracing::warn!("RAMPART_TEST_CLOCK is set: POST /test/clock moves Rampart's clock");
        operations = operations.route(
            "/test/clock",
            axum::routing::post(http::test_clock::advance),
        );
    }
    operations
        .route("/healthz", get(http::health::healthz))
        .route("/readyz", get(http::health::readyz))
        .route("/metrics", get(http::metrics::render))
        .nest(
            "/pkg",
            http::assets::router(&config.site_root, hashed_names),
        )
        .nest("/api/v1", api::router(&state))
        .merge(signed_in)
        .layer(
            ServiceBuilder::new()
                .layer(http::tracing::set_request_id())
                .layer(http::tracing::trace())
                .layer(http::tracing::propagate_request_id())
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    http::metrics::track,
                ))
                .layer(middleware::from_fn(http::security::headers))
                .layer(middleware::from_fn_with_state(
                    state.changes.clone(),
                    crate::changes::read_your_writes,
                ))
                .layer(CompressionLayer::new()),
        )
        .with_state(state)
}

/// Migrations over `pool`, with the template's links, and the deployed versions from each
/// environment's GitLab and Prometheus (in demo mode, the demo's).
fn migration_service(
    config: &Config,
    pool: PgPool,
    clock: Arc<dyn Clock>,
    backends: FlagBackends,
    changes: Changes,
) -> Result<PgMigrationService, Error> {
    let deployments: Arc<dyn deployments::Deployments> = if config.demo_data {
        Arc::new(deployments::Demo)
    } else {
        Arc::new(
            deployments::Live::new(
                backends.gitlabs(),
                &config.gitaly_versions,
                config.flags.timeout,
            )
            .map_err(Error::HttpClients)?,
        )
    };
    Ok(PgMigrationService::new(
        pool,
        clock,
        Arc::new(rollout::LinkConfig::default()),
        deployments,
        backends,
        changes,
    ))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in progress");
}
