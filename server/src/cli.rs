//! Subcommands of the server binary (migrations are added on the "New migration" page):
//! - `server add-user USERNAME ROLE[,ROLE…] [DISPLAY NAME]`: add a password account, e.g. the first
//!   admin of a fresh installation. The password comes from `RAMPART_NEW_USER_PASSWORD`, or is made
//!   up and printed once.

use rollout::{Role, Roles};

use crate::{
    auth::{
        accounts::{self, NewAccount},
        password,
    },
    config::Config,
    db,
    error::{Error, chain},
};

pub const USAGE: &str = "usage: server add-user USERNAME ROLE[,ROLE...] [DISPLAY NAME]\n  \
    e.g. server add-user alice admin \"Alice Admin\"\n  \
    roles: viewer, engineer, release_manager, manager, admin; the password is read from\n  \
    RAMPART_NEW_USER_PASSWORD, or made up and printed once";

/// Runs the subcommand named by `args` (without the program name), if there is one: `None` means
/// "no subcommand, serve". The result is what to print and whether it succeeded.
pub async fn run(config: &Config, args: &[String]) -> Option<Result<String, String>> {
    match args.first().map(String::as_str)? {
        "add-user" => Some(add_user(config, &args[1..]).await),
        "help" | "--help" | "-h" => Some(Ok(USAGE.to_string())),
        other => Some(Err(format!("unknown command {other:?}\n{USAGE}"))),
    }
}

async fn add_user(config: &Config, args: &[String]) -> Result<String, String> {
    let [username, roles, name @ ..] = args else {
        return Err(USAGE.to_string());
    };
    let roles = roles
        .split(',')
        .map(|name| {
            Role::parse(name).ok_or_else(|| {
                format!(
                    "role {name:?} is not one of viewer, engineer, release_manager, manager, admin"
                )
            })
        })
        .collect::<Result<Roles, String>>()?;
    let display_name = if name.is_empty() {
        username.clone()
    } else {
        name.join(" ")
    };
    let given = std::env::var("RAMPART_NEW_USER_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let made_up = given.is_none();
    let password = match given {
        Some(password) => password,
        None => password::generate().map_err(|error| error.to_string())?,
    };
    let account = NewAccount {
        username,
        display_name: &display_name,
        password: &password,
        roles: &roles,
    };
    let create = async {
        let pool = db::pool(config)?;
        db::SCHEMA.run(&pool).await?;
        let mut tx = pool.begin().await?;
        let created = accounts::create(&mut tx, &account, "[cli]").await?;
        tx.commit().await?;
        Ok::<_, Error>(created)
    };
    match create.await {
        Ok(Some(_)) if made_up => Ok(format!(
            "added {username}; their password, shown this once: {password}"
        )),
        Ok(Some(_)) => Ok(format!("added {username}")),
        Ok(None) => Err(format!(
            "a user named {username} already exists; nothing was changed"
        )),
        Err(Error::App(app_error)) => Err(app_error.to_string()),
        Err(Error::Database(sqlx::Error::Database(db))) if db.constraint().is_some() => {
            Err(format!(
                "{username:?} is not a valid username: use letters, digits, '.', '_' and '-', at most 64"
            ))
        }
        Err(error) => Err(format!("could not add the user: {}", chain(&error))),
    }
}
