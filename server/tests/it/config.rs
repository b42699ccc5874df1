//! The binary refuses a bad configuration with one line naming the variable, not a panic.

use std::process::{Command, Output};

/// Runs the server binary with exactly these environment variables.
fn run_server(env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_server"))
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the server binary runs")
}

#[test]
fn a_bad_configuration_value_stops_the_start_with_one_line_naming_it() {
    let output = run_server(&[
        ("DATABASE_URL", "postgres://rampart:pw@127.0.0.1:1/rampart"),
        ("RAMPART_ADDR", "not-an-address"),
    ]);
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
    let output = run_server(&[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("rampart: configuration error: DATABASE_URL is not set"),
        "{stderr}"
    );
}

#[test]
fn json_logs_say_why_the_start_failed_without_the_database_password() {
    let output = run_server(&[
        // Nothing listens on port 1: the start fails when it tries to apply the migrations.
        (
            "DATABASE_URL",
            "postgres://rampart:hunter2@127.0.0.1:1/rampart",
        ),
        ("RAMPART_LOG_FORMAT", "json"),
        ("RAMPART_DB_ACQUIRE_TIMEOUT_MS", "500"),
    ]);
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
