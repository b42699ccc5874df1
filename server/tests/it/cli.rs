//! The server binary's subcommand `add-user`, the way a fresh installation gets its first admin.

use std::process::{Command, Output};

use crate::helpers::create_database;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn add_user(database_url: &str, args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .arg("add-user")
        .args(args);
    if let Some(password) = password {
        command.env("RAMPART_NEW_USER_PASSWORD", password);
    }
    command.output().expect("the server binary runs")
}

#[tokio::test]
async fn add_user_makes_the_first_admin_and_shows_a_made_up_password_once() {
    let (_, url) = create_database().await;

    let output = add_user(&url, &["alice", "admin,engineer", "Alice", "Example"], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let printed = text(&output.stdout);
    let password = printed
        .trim()
        .strip_prefix("added alice; their password, shown this once: ")
        .unwrap_or_else(|| panic!("{printed}"))
        .to_owned();
    assert_eq!(password.len(), 20);

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (name, roles, hash): (String, Vec<String>, String) =
        sqlx::query_as("SELECT display_name, roles, password_hash FROM users")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(name, "Alice Example");
    assert_eq!(roles, ["engineer", "admin"]);
    assert!(hash.starts_with("$argon2id$") && !hash.contains(&password));
    let actor: String = sqlx::query_scalar("SELECT actor FROM audit_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(actor, "[cli]");

    // A given password is used and not printed; a taken name changes nothing.
    let output = add_user(&url, &["bob", "viewer"], Some("a long enough password"));
    assert_eq!(text(&output.stdout).trim(), "added bob");
    let again = add_user(&url, &["ALICE", "viewer"], Some("a long enough password"));
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("a user named ALICE already exists"));
}

#[tokio::test]
async fn add_user_names_what_is_wrong_and_adds_nothing() {
    let (_, url) = create_database().await;
    for (args, password, words) in [
        (
            vec!["alice", "wizard"],
            None,
            "role \"wizard\" is not one of viewer",
        ),
        (vec!["alice"], None, "usage: server add-user"),
        (vec!["al ice", "viewer"], None, "is not a valid username"),
        (
            vec!["alice", "viewer"],
            Some("short"),
            "password: must be 12 to 256 characters long",
        ),
    ] {
        let output = add_user(&url, &args, password);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains(words),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 0);
}
