//! Demo data: it shows the product's range, and loads once however many replicas start at once.

use std::sync::Arc;

use app::api::services::MigrationService;
use rollout::{Health, LinkConfig, Status};
use server::{
    changes::Changes,
    clock::SystemClock,
    flags::FlagBackends,
    rollouts::{PgMigrationService, deployments},
};

use crate::helpers::spawn_app;

fn service(pool: &sqlx::PgPool) -> PgMigrationService {
    PgMigrationService::new(
        pool.clone(),
        Arc::new(SystemClock),
        Arc::new(LinkConfig::default()),
        Arc::new(deployments::Demo),
        FlagBackends::manual(),
        // Not listening: every read checks the database.
        Changes::new(),
    )
}

#[tokio::test]
async fn demo_data_loads_once_even_when_replicas_race() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let (one, two, three) = (service(&app.pool), service(&app.pool), service(&app.pool));
    let (a, b, c) = tokio::join!(
        server::demo::load_if_empty(&app.pool, &one, now),
        server::demo::load_if_empty(&app.pool, &two, now),
        server::demo::load_if_empty(&app.pool, &three, now),
    );
    let added: Vec<usize> = vec![a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(added.iter().sum::<usize>(), 17, "{added:?}");
    assert_eq!(added.iter().filter(|n| **n == 0).count(), 2, "{added:?}");

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM migrations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 17);
}

#[tokio::test]
async fn demo_data_shows_every_kind_of_migration() {
    let app = spawn_app().await;
    let service = service(&app.pool);
    server::demo::load_if_empty(&app.pool, &service, chrono::Utc::now())
        .await
        .unwrap();
    let rows = service.portfolio().await.unwrap().rows;
    assert_eq!(rows.len(), 12, "in flight");
    for health in Health::all() {
        assert!(
            rows.iter().any(|r| r.health == health),
            "no {health:?} migration"
        );
    }
    for status in [
        Status::NotStarted,
        Status::Active,
        Status::Paused,
        Status::Disabled,
    ] {
        assert!(rows.iter().any(|r| r.status == status), "none {status:?}");
    }
    assert!(rows.iter().any(|r| r.ready_to_advance), "none ready");
    assert!(rows.iter().any(|r| r.flag_change_pending), "none pending");
    let now = chrono::Utc::now();
    assert!(
        rows.iter()
            .any(|r| r.next_check.is_some_and(|c| c.can_be_late && c.at < now)),
        "none overdue"
    );
    assert!(
        rows.iter()
            .any(|r| r.soak.is_some_and(|s| s.progress > 0.0 && s.progress < 1.0)),
        "none soaking"
    );
    let completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM migrations WHERE completed_at IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(completed, 5);
}
