//! Demo migrations and demo users, loaded into an empty database so a newcomer sees a populated
//! dashboard and can sign in as every role.

use chrono::{DateTime, TimeDelta, Utc};
use rollout::{GrpcMethod, Role, Roles};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::{
    auth::{
        accounts::{self, NewAccount},
        password,
    },
    db::{
        migrations::{NewMigration, any_exist, insert_migration},
        users::count_users,
    },
    error::Error,
};

/// Flag, gRPC method, stage key in the template's plan, time in that stage, time since the start.
type Demo = (
    &'static str,
    &'static str,
    &'static str,
    TimeDelta,
    TimeDelta,
);

const fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

const fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

const fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

#[rustfmt::skip]
const DEMO: [Demo; 10] = [
    ("gitaly_find_commit_v2",          "CommitService::FindCommit",              "production_5",   minutes(75), days(3)),
    ("gitaly_list_refs_pagination",    "RefService::ListRefs",                   "production_1",   minutes(5),  days(2)),
    ("gitaly_get_blob_streaming",      "BlobService::GetBlob",                   "production_50",  hours(19),   days(6)),
    ("gitaly_tree_entries_cache",      "CommitService::TreeEntries",             "production_5",   minutes(12), days(4)),
    ("gitaly_repository_size_du",      "RepositoryService::RepositorySize",      "production_100", days(3),     days(14)),
    ("gitaly_search_files_by_name_v2", "RepositoryService::SearchFilesByName",   "staging",        minutes(13), hours(5)),
    ("gitaly_user_merge_branch_hooks", "OperationService::UserMergeBranch",      "development",    hours(1),    hours(1)),
    ("gitaly_commit_stats_batched",    "CommitService::CommitStats",             "production_1",   minutes(14), days(1)),
    ("gitaly_diff_stats_large",        "DiffService::DiffStats",                 "production_5",   minutes(60), days(5)),
    ("gitaly_find_all_tags_lazy",      "RefService::FindAllTags",                "staging",        minutes(6),  hours(3)),
];

/// Loads the demo migrations if the database has no migration at all; returns how many it added.
///
/// Replicas starting together race for this: an advisory lock held for the transaction makes one
/// of them load the data and the others see it is there.
pub async fn load_if_empty(pool: &PgPool, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('rampart.demo_data'))")
        .execute(&mut *tx)
        .await?;
    if any_exist(&mut *tx).await? {
        return Ok(0);
    }
    let mut added = 0;
    for (flag, method, stage, in_stage, in_flight) in DEMO {
        let method = GrpcMethod::parse(method).expect("the demo methods are valid");
        let migration = NewMigration {
            flag_name: flag,
            grpc_service: method.service(),
            grpc_method: method.method(),
            stage,
            stage_started_at: now - in_stage,
            started_at: now - in_flight,
        };
        if insert_migration(&mut *tx, &migration).await?.is_some() {
            added += 1;
        }
    }
    tx.commit().await?;
    Ok(added)
}

/// The demo's people: one for each role, and a second release manager so that one can approve
/// the other's production change. Username, name, roles.
const DEMO_USERS: [(&str, &str, &[Role]); 6] = [
    ("vera", "Vera Viewer", &[Role::Viewer]),
    ("erin", "Erin Engineer", &[Role::Engineer]),
    ("rita", "Rita Release-Manager", &[Role::ReleaseManager]),
    ("rob", "Rob Release-Manager", &[Role::ReleaseManager]),
    ("mona", "Mona Manager", &[Role::Manager]),
    ("adam", "Adam Admin", &[Role::Admin]),
];

/// In demo mode, creates the demo users when there are no users at all, and prints their
/// passwords once, to the terminal that started Rampart (not to the log). With
/// `RAMPART_DEMO_PASSWORD` set they all get that one instead, for scripted tests.
pub async fn create_users_if_none(
    pool: &PgPool,
    fixed_password: Option<&SecretString>,
) -> Result<(), Error> {
    let mut tx = pool.begin().await?;
    // language=PostgreSQL
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('rampart.demo_users'))")
        .execute(&mut *tx)
        .await?;
    if count_users(&mut *tx).await? > 0 {
        return Ok(());
    }
    let mut printed = Vec::new();
    for (username, name, roles) in DEMO_USERS {
        let password = match fixed_password {
            Some(password) => password.expose_secret().to_owned(),
            None => password::generate()?,
        };
        let roles = Roles::new(roles.iter().copied());
        let account = NewAccount {
            username,
            display_name: name,
            password: &password,
            roles: &roles,
        };
        // In the one transaction: all the demo users, or none (and so another try next start).
        accounts::create(&mut tx, &account, "[demo]").await?;
        printed.push(format!(
            "  {username:<6} {:<16} {password}",
            roles_text(&roles)
        ));
    }
    tx.commit().await?;
    if fixed_password.is_none() {
        println!(
            "Demo users (their passwords are shown this once):\n{}",
            printed.join("\n")
        );
    }
    Ok(())
}

fn roles_text(roles: &Roles) -> String {
    roles.iter().map(Role::as_str).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use rollout::{FlagName, Plan};

    use super::*;

    #[test]
    fn every_demo_migration_is_valid_for_the_template_plan() {
        let plan = Plan::gitaly_default();
        for (flag, method, stage, in_stage, in_flight) in DEMO {
            let flag = FlagName::parse(flag).unwrap_or_else(|e| panic!("{flag}: {e}"));
            let method = GrpcMethod::parse(method).unwrap_or_else(|e| panic!("{method}: {e}"));
            assert!(flag.check_for(&method).is_ok(), "{flag}");
            assert!(plan.stage_by_key(stage).is_some(), "{stage}");
            assert!(in_stage <= in_flight, "{flag}");
        }
    }
}
