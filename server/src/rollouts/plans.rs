//! Plans by id, parsed once per process: a plan's row never changes (an edit makes another), so
//! what was read stays true on every replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rollout::Plan;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgExecutor};

use crate::db;
use crate::error::Error;
use crate::rollouts::stored::Unreadable;

/// More plans than this and the cache starts again: a guard, far above what teams make.
const CACHED_AT_MOST: usize = 10_000;

#[derive(Default)]
pub struct Plans {
    parsed: Mutex<HashMap<i64, Arc<Plan>>>,
}

impl Plans {
    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Plan>>> {
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The plans with these ids; one query for those not read before, none when all were.
    pub async fn get(
        &self,
        db: impl PgExecutor<'_>,
        ids: &[i64],
    ) -> Result<HashMap<i64, Arc<Plan>>, Error> {
        let missing: Vec<i64> = {
            let cached = self.cached();
            let mut missing: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| !cached.contains_key(id))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        if !missing.is_empty() {
            let rows = db::plans::fetch_plans(db, &missing).await?;
            let mut parsed = Vec::with_capacity(rows.len());
            for row in rows {
                let plan: Plan = serde_json::from_value(row.plan)
                    .map_err(|error| Unreadable::Plan { id: row.id, error })?;
                parsed.push((row.id, Arc::new(plan)));
            }
            let mut cached = self.cached();
            if cached.len() + parsed.len() > CACHED_AT_MOST {
                cached.clear();
            }
            cached.extend(parsed);
        }
        let cached = self.cached();
        Ok(ids
            .iter()
            .filter_map(|id| cached.get(id).map(|plan| (*id, Arc::clone(plan))))
            .collect())
    }

    /// The id of `plan`'s row, made if it is new.
    pub async fn store(&self, tx: &mut PgConnection, plan: &Plan) -> Result<i64, Error> {
        let json = serde_json::to_value(plan)?;
        let sha256 = Sha256::digest(serde_json::to_vec(&json)?);
        let id = db::plans::store_plan(tx, &sha256, &json).await?;
        Ok(id)
    }
}
