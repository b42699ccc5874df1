//! The in-flight migrations as last read, kept between requests: the portfolio, its sparklines
//! and each guardrail pass read every one of them, and parsing their stored states is most of
//! what that costs.
//!
//! They are used as they are while this replica has heard of no change to a migration since
//! they were checked ([`crate::changes`]: a trigger notifies on every write to a migration or
//! to a flag change, when its transaction commits). Otherwise a reader asks Postgres for each
//! in-flight migration's version and whether a flag change of it is pending: every write to a
//! migration bumps its version, and the pending flag is asked as well so that a flag change
//! settled any other way cannot leave a row stale. Only when that list differs from the one the
//! kept migrations were read with are they read again.
//!
//! Each reading is numbered: the same number means the same migrations in the same states, which
//! lets the portfolio keep what it rendered from them.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use sqlx::PgPool;

use super::{Loaded, PgMigrationService};
use crate::{
    changes::{Changes, Mark, Topic},
    db::{self, migrations::InFlightVersion},
    error::Error,
};

pub struct InFlight {
    kept: Mutex<Option<Kept>>,
    readings: AtomicU64,
    changes: Changes,
}

struct Kept {
    versions: Vec<InFlightVersion>,
    /// Heard before the versions were checked.
    checked: Option<Mark>,
    reading: Reading,
}

/// The in-flight migrations as read once, and that reading's number in this process.
#[derive(Clone)]
pub struct Reading {
    pub number: u64,
    pub loaded: Arc<Vec<Loaded>>,
}

impl InFlight {
    pub fn new(changes: Changes) -> Self {
        Self {
            kept: Mutex::default(),
            readings: AtomicU64::default(),
            changes,
        }
    }

    /// Every migration in flight, oldest first, read again only if one of them changed.
    pub async fn read(
        &self,
        pool: &PgPool,
        service: &PgMigrationService,
    ) -> Result<Reading, Error> {
        if let Some(kept) = self.kept().as_ref().filter(|kept| {
            self.changes
                .unchanged_since(Topic::Migrations, kept.checked)
        }) {
            return Ok(kept.reading.clone());
        }
        let checked = self.changes.mark(Topic::Migrations);
        let versions = db::migrations::fetch_in_flight_versions(pool).await?;
        if let Some(kept) = self
            .kept()
            .as_mut()
            .filter(|kept| kept.versions == versions)
        {
            kept.checked = checked;
            return Ok(kept.reading.clone());
        }
        let rows = db::migrations::fetch_in_flight(pool).await?;
        // Kept under what these rows say, not what was asked before: a change may have landed
        // between the two reads.
        let versions = rows.iter().map(InFlightVersion::of).collect();
        let reading = Reading {
            number: self.readings.fetch_add(1, Ordering::Relaxed) + 1,
            loaded: Arc::new(service.load_all(rows).await?),
        };
        *self.kept() = Some(Kept {
            versions,
            checked,
            reading: reading.clone(),
        });
        Ok(reading)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Option<Kept>> {
        // A panic while holding it left nothing half-written: the value is replaced whole.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
