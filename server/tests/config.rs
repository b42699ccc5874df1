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
