//! The binary refuses a bad configuration with one line naming the variable, not a panic.

use std::process::Command;

#[test]
fn a_bad_configuration_value_stops_the_start_with_one_line_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .env_clear()
        .env("DATABASE_URL", "postgres://rampart:pw@127.0.0.1:1/rampart")
        .env("RAMPART_ADDR", "not-an-address")
        .output()
        .expect("the server binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("rampart: configuration error: RAMPART_ADDR is \"not-an-address\""),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_missing_database_url_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .env_clear()
        .output()
        .expect("the server binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("rampart: configuration error: DATABASE_URL is not set"),
        "{stderr}"
    );
}

#[test]
fn json_logs_say_why_the_start_failed_without_the_database_password() {
    let output = Command::new(env!("CARGO_BIN_EXE_server"))
        .env_clear()
        // Nothing listens on port 1: the start fails when it tries to apply the migrations.
        .env(
            "DATABASE_URL",
            "postgres://rampart:hunter2@127.0.0.1:1/rampart",
        )
        .env("RAMPART_LOG_FORMAT", "json")
        .env("RAMPART_DB_ACQUIRE_TIMEOUT_MS", "500")
        .output()
        .expect("the server binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains("hunter2"), "{stdout}");
    let failure = stdout
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).expect("every log line is JSON")
        })
        .find(|event| event["message"] == "rampart could not start")
        .unwrap_or_else(|| panic!("no start failure logged: {stdout}"));
    assert_eq!(failure["level"], "ERROR");
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .starts_with("database migration failed"),
        "{failure}"
    );
}
