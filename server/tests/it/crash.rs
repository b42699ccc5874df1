//! Rampart killed mid-apply: the flag change reached GitLab, but the process died before it
//! recorded it. A replica started afterwards finds the change pending, reads GitLab first, and
//! records it without writing again.

use std::time::Duration;

use crate::drive::Driver;
use crate::gitlab_fake::{Faults, GitLabFake, TOKEN};
use crate::helpers::{ServerProcess, TestApp, create_database};

/// Development's flags on `gitlab`, waiting at most `timeout_ms` for it.
fn flags_on(gitlab: &str, timeout_ms: u32) -> Vec<(&'static str, String)> {
    vec![
        ("RAMPART_FLAGS_DEVELOPMENT", "gitlab".to_owned()),
        ("RAMPART_GITLAB_DEVELOPMENT_URL", gitlab.to_owned()),
        ("RAMPART_GITLAB_DEVELOPMENT_TOKEN", TOKEN.to_owned()),
        ("RAMPART_FLAG_TIMEOUT_MS", timeout_ms.to_string()),
    ]
}

#[tokio::test]
async fn a_change_that_landed_before_rampart_died_is_recorded_by_the_next_replica_not_made_again() {
    let gitlab = GitLabFake::start().await;
    let (database, database_url) = create_database().await;
    let first = ServerProcess::start(&database_url, &flags_on(&gitlab.url, 60_000)).await;
    let app = TestApp::over(&first.address, &database, &database_url).await;
    let drive = Driver::new(&app, "gitaly_crash").await;
    drive.create_and_start().await;
    drive.finish_stage().await;

    // GitLab takes the write but its answer never comes back; the replica waits for it, holding
    // the change, and dies.
    gitlab.fake.set_faults(Faults {
        lose_write_answers: true,
        ..Faults::default()
    });
    let version = drive.version().await;
    drive
        .ok(
            &drive.engineer,
            "advance_stage",
            &[
                ("flag", "gitaly_crash"),
                ("version", &version),
                ("gitaly_version", "16.3.2"),
                ("gitlab_version", "16.3.0-ee"),
            ],
        )
        .await;
    for _ in 0..100 {
        if !gitlab.fake.writes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        gitlab.fake.value("gitaly_crash"),
        "true",
        "the write landed"
    );
    first.kill();
    gitlab.fake.set_faults(Faults::default());

    // Another replica, the same database: it finishes the change without making it twice.
    let second = ServerProcess::start(&database_url, &flags_on(&gitlab.url, 2000)).await;
    let replica = TestApp::over(&second.address, &database, &database_url).await;
    let after = drive.other(&replica, "gitaly_crash");
    let detail = after.settled().await;

    assert_eq!(
        gitlab.fake.writes(),
        [("gitaly_crash".to_owned(), "true".to_owned())],
        "made once"
    );
    assert_eq!(detail["pending_changes"], serde_json::json!([]), "{detail}");
    let applied: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM audit_log WHERE action = 'flag_change.applied' ORDER BY id",
    )
    .fetch_all(&replica.pool)
    .await
    .unwrap();
    assert_eq!(applied, ["[rampart]"], "recorded once");
}
