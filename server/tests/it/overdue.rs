//! Overdue checks told to the owner, once per overdue interval, in the stage's channel.

use crate::drive::Driver;
use crate::helpers::{Spawn, spawn_app_with};

async fn notices(app: &crate::helpers::TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT text FROM notifications WHERE environment = 'staging' AND text LIKE '%is overdue by%' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn wait_for(app: &crate::helpers::TestApp, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let told = notices(app).await;
        if told.len() >= count {
            return told;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    notices(app).await
}

#[tokio::test]
async fn an_overdue_check_is_told_to_its_owner_once_per_interval() {
    let app = spawn_app_with(Spawn {
        test_clock: true,
        env: vec![
            ("RAMPART_FLAGS_DEVELOPMENT", "local".to_owned()),
            ("RAMPART_FLAGS_STAGING", "local".to_owned()),
            ("RAMPART_GUARDRAIL_INTERVAL_SECONDS", "1".to_owned()),
        ],
        ..Spawn::default()
    })
    .await;
    let driver = Driver::new(&app, "gitaly_late_looks").await;
    driver.create_and_start().await;
    while driver.stage().await != "staging" {
        driver.step().await;
    }
    // Staging asks for a look every 5 min: 7 min without one is overdue.
    app.advance_clock(7).await;
    let told = wait_for(&app, 1).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].starts_with("gitaly_late_looks: @erin, the look at Staging trial is overdue by "),
        "{told:?}"
    );
    // Still within the same interval: nothing more.
    app.advance_clock(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(notices(&app).await.len(), 1);
    // Another interval late: told again.
    app.advance_clock(5).await;
    let told = wait_for(&app, 2).await;
    assert_eq!(told.len(), 2, "{told:?}");
}
