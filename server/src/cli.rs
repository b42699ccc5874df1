//! `server add-migration FLAG SERVICE::METHOD`: add a migration from the command line, at the first
//! stage of the template's plan.

use chrono::Utc;
use rollout::{FlagName, GrpcMethod, Plan};

use crate::{
    config::Config,
    db::{self, migrations::NewMigration},
    error::{Error, chain},
};

pub const USAGE: &str = "usage: server add-migration FLAG SERVICE::METHOD\n  \
    e.g. server add-migration gitaly_find_commit_v2 CommitService::FindCommit";

/// Runs the subcommand named by `args` (without the program name), if there is one: `None` means
/// "no subcommand, serve". The result is what to print and whether it succeeded.
pub async fn run(config: &Config, args: &[String]) -> Option<Result<String, String>> {
    match args.first().map(String::as_str)? {
        "add-migration" => Some(add_migration(config, &args[1..]).await),
        "help" | "--help" | "-h" => Some(Ok(USAGE.to_string())),
        other => Some(Err(format!("unknown command {other:?}\n{USAGE}"))),
    }
}

async fn add_migration(config: &Config, args: &[String]) -> Result<String, String> {
    let [flag, method] = args else {
        return Err(USAGE.to_string());
    };
    let flag = FlagName::parse(flag).map_err(|error| format!("flag {error}"))?;
    let method = GrpcMethod::parse(method).map_err(|error| format!("gRPC method {error}"))?;
    flag.check_for(&method)
        .map_err(|error| format!("flag {error}"))?;
    let plan = Plan::gitaly_default();
    let Some(first) = plan.stages().first() else {
        return Err("the rollout plan has no stages".to_string());
    };

    let insert = async {
        let pool = db::pool(config)?;
        db::SCHEMA.run(&pool).await?;
        let now = Utc::now();
        let migration = NewMigration {
            flag_name: flag.as_str(),
            grpc_service: method.service(),
            grpc_method: method.method(),
            stage: first.key.as_str(),
            stage_started_at: now,
            started_at: now,
        };
        Ok::<_, Error>(db::migrations::insert_migration(&pool, &migration).await?)
    };
    match insert.await {
        Ok(Some(_)) => Ok(format!(
            "added {flag} ({method}) at its first stage, {}",
            first.name
        )),
        Ok(None) => Err(format!(
            "a migration for flag {flag} already exists; nothing was changed"
        )),
        Err(error) => Err(format!("could not add the migration: {}", chain(&error))),
    }
}
