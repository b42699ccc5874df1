//! Demo data loads once, however many replicas start at the same time.

use crate::helpers::spawn_app;

#[tokio::test]
async fn demo_data_loads_once_even_when_replicas_race() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let (a, b, c) = tokio::join!(
        server::demo::load_if_empty(&app.pool, now),
        server::demo::load_if_empty(&app.pool, now),
        server::demo::load_if_empty(&app.pool, now),
    );
    let added: Vec<usize> = vec![a.unwrap(), b.unwrap(), c.unwrap()];
    assert_eq!(added.iter().sum::<usize>(), 10, "{added:?}");
    assert_eq!(added.iter().filter(|n| **n == 0).count(), 2, "{added:?}");

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM migrations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 10);
}
