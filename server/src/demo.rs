//! Demo migrations, loaded into an empty database so a newcomer sees a populated dashboard.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use crate::db::migrations::{NewMigration, any_exist, insert_migration};

/// Flag, service, method, stage (an index into the template's plan), and how long ago the stage
/// and the rollout started.
const DEMO: &[(&str, &str, &str, i32, TimeDelta, TimeDelta)] = &[
    (
        "gitaly_find_commit_v2",
        "CommitService",
        "FindCommit",
        5,
        TimeDelta::minutes(75),
        TimeDelta::days(3),
    ),
    (
        "gitaly_list_refs_pagination",
        "RefService",
        "ListRefs",
        4,
        TimeDelta::minutes(5),
        TimeDelta::days(2),
    ),
    (
        "gitaly_get_blob_streaming",
        "BlobService",
        "GetBlob",
        6,
        TimeDelta::hours(19),
        TimeDelta::days(6),
    ),
    (
        "gitaly_tree_entries_cache",
        "CommitService",
        "TreeEntries",
        5,
        TimeDelta::minutes(12),
        TimeDelta::days(4),
    ),
    (
        "gitaly_repository_size_du",
        "RepositoryService",
        "RepositorySize",
        7,
        TimeDelta::days(3),
        TimeDelta::days(14),
    ),
    (
        "gitaly_search_files_by_name_v2",
        "RepositoryService",
        "SearchFilesByName",
        2,
        TimeDelta::minutes(13),
        TimeDelta::hours(5),
    ),
    (
        "gitaly_user_merge_branch_hooks",
        "OperationService",
        "UserMergeBranch",
        1,
        TimeDelta::hours(1),
        TimeDelta::hours(1),
    ),
    (
        "gitaly_commit_stats_batched",
        "CommitService",
        "CommitStats",
        4,
        TimeDelta::minutes(14),
        TimeDelta::days(1),
    ),
    (
        "gitaly_diff_stats_large",
        "DiffService",
        "DiffStats",
        5,
        TimeDelta::minutes(60),
        TimeDelta::days(5),
    ),
    (
        "gitaly_find_all_tags_lazy",
        "RefService",
        "FindAllTags",
        2,
        TimeDelta::minutes(6),
        TimeDelta::hours(3),
    ),
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
    for &(flag, service, method, stage_index, stage_age, age) in DEMO {
        let migration = NewMigration {
            flag_name: flag,
            grpc_service: service,
            grpc_method: method,
            stage_index,
            stage_started_at: now - stage_age,
            started_at: now - age,
        };
        if insert_migration(&mut *tx, &migration).await?.is_some() {
            added += 1;
        }
    }
    tx.commit().await?;
    Ok(added)
}
