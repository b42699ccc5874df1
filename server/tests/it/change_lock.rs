//! A change lock refuses every raise of a flag while it holds, says why, and never stops the kill
//! switch; admins declare and lift it.

use reqwest::StatusCode;
use rollout::Role;

use crate::drive::{Driver, signed_in};
use crate::helpers::{Spawn, spawn_app_with};

#[tokio::test]
async fn while_a_change_lock_holds_no_flag_is_raised_but_the_kill_switch_works() {
    let app = spawn_app_with(Spawn {
        env: vec![("RAMPART_FLAGS_DEVELOPMENT", "local".to_owned())],
        ..Spawn::default()
    })
    .await;
    let drive = Driver::new(&app, "gitaly_locked").await;
    let admin = signed_in(&app, "ada", &[Role::Admin]).await;
    drive.create_and_start().await;
    drive.finish_stage().await;

    // Engineers may not declare one; admins say why and for how long.
    let lock = [
        ("reason", "incident 4711: Gitaly error rates"),
        ("hours", "4"),
    ];
    let (status, _) = drive
        .call(&drive.engineer, "declare_change_lock", &lock)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = drive
        .call(
            &admin,
            "declare_change_lock",
            &[("reason", " "), ("hours", "400")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    drive.ok(&admin, "declare_change_lock", &lock).await;
    let (_, shown) = drive.call(&drive.engineer, "get_change_lock", &[]).await;
    assert_eq!(shown["lock"]["reason"], "incident 4711: Gitaly error rates");
    assert_eq!(shown["lock"]["declared_by"], "ada");

    // Entering the development trial turns the flag on: refused, with the lock's reason.
    let version = drive.version().await;
    let args = [
        ("flag", "gitaly_locked"),
        ("version", version.as_str()),
        ("gitaly_version", "16.3.2"),
        ("gitlab_version", "16.3.0-ee"),
    ];
    let (status, refused) = drive.call(&drive.engineer, "advance_stage", &args).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["Refused"]["code"], "change_locked");
    assert!(
        refused["Refused"]["message"]
            .as_str()
            .unwrap()
            .contains("incident 4711"),
        "{refused}"
    );
    assert_eq!(drive.stage().await, "preparation", "nothing changed");

    // Lifted, the same advance goes through; locked again, the kill switch still turns it off.
    drive.ok(&admin, "lift_change_lock", &[]).await;
    let (status, _) = drive.call(&admin, "lift_change_lock", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to lift");
    drive.ok(&drive.engineer, "advance_stage", &args).await;
    drive.settled().await;
    drive.ok(&admin, "declare_change_lock", &lock).await;
    drive
        .ok(
            &drive.engineer,
            "kill_switch",
            &[("flag", "gitaly_locked"), ("reason", "errors")],
        )
        .await;
    let detail = drive.settled().await;
    assert_eq!(detail["status"], "disabled");
    assert_eq!(detail["pending_changes"], serde_json::json!([]), "{detail}");
    let flag: String = sqlx::query_scalar(
        "SELECT value FROM local_flags WHERE flag = 'gitaly_locked' AND environment = 'development'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(flag, "false", "turned off under the lock");
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE subject = 'change_lock' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "change_lock.declared",
            "change_lock.lifted",
            "change_lock.declared"
        ]
    );
}
