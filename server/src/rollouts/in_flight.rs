//! The in-flight migrations as last read, kept between requests: the portfolio, its sparklines
//! and each guardrail pass read every one of them, and parsing their stored states is most of
//! what that costs.
//!
//! Before using them, a reader asks Postgres for each in-flight migration's version and whether
//! a flag change of it is pending. Every write to a migration bumps its version (the flag worker
//! touches the migration when it settles a change, too); the pending flag is asked as well so
//! that a flag change settled any other way cannot leave a row stale. Only when that list
//! differs from the one the kept migrations were read with are they read again, so a change made
//! through any replica shows at once on every other.

use std::sync::{Arc, Mutex};

use sqlx::PgPool;

use super::{Loaded, PgMigrationService};
use crate::{
    db::{self, migrations::InFlightVersion},
    error::Error,
};

#[derive(Default)]
pub struct InFlight {
    kept: Mutex<Option<Kept>>,
}

struct Kept {
    versions: Vec<InFlightVersion>,
    loaded: Arc<Vec<Loaded>>,
}

impl InFlight {
    /// Every migration in flight, oldest first, read again only if one of them changed.
    pub async fn read(
        &self,
        pool: &PgPool,
        service: &PgMigrationService,
    ) -> Result<Arc<Vec<Loaded>>, Error> {
        let versions = db::migrations::fetch_in_flight_versions(pool).await?;
        if let Some(kept) = self
            .kept()
            .as_ref()
            .filter(|kept| kept.versions == versions)
        {
            return Ok(kept.loaded.clone());
        }
        let rows = db::migrations::fetch_in_flight(pool).await?;
        // Kept under what these rows say, not what was asked before: a change may have landed
        // between the two reads.
        let versions = rows.iter().map(InFlightVersion::of).collect();
        let loaded = Arc::new(service.load_all(rows).await?);
        *self.kept() = Some(Kept {
            versions,
            loaded: loaded.clone(),
        });
        Ok(loaded)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Option<Kept>> {
        // A panic while holding it left nothing half-written: the value is replaced whole.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
