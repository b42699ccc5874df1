//! The portfolio's table as last rendered for each view, so that everyone looking at the same
//! view in the same second is served one rendering of it: rendering two hundred rows is most of
//! what the page costs.
//!
//! A rendering is kept under its portfolio's stamp. A change to any migration in flight, through
//! whichever replica, gives a new reading; and the table's times and soaks are to the second, so
//! a rendering serves its own second only.

use std::collections::HashMap;
use std::sync::Mutex;

use rollout::Permission;

use super::{RenderedTable, render_table};
use crate::api::{
    portfolio::{PortfolioStamp, PortfolioView},
    services::services,
    session::require,
};
use crate::error::AppError;

/// How many views are kept at most. The search text makes views without end; when this many
/// are kept, those of earlier seconds or readings are dropped, and if that is not enough, all.
const VIEWS_KEPT: usize = 64;

#[derive(Default)]
pub struct KeptTables {
    tables: Mutex<HashMap<PortfolioView, RenderedTable>>,
}

impl KeptTables {
    fn get(&self, view: &PortfolioView, stamp: PortfolioStamp) -> Option<RenderedTable> {
        self.tables()
            .get(view)
            .filter(|table| table.stamp == stamp)
            .cloned()
    }

    fn keep(&self, view: PortfolioView, table: RenderedTable) {
        let mut tables = self.tables();
        if tables.len() >= VIEWS_KEPT && !tables.contains_key(&view) {
            tables.retain(|_, kept| kept.stamp == table.stamp);
            if tables.len() >= VIEWS_KEPT {
                tables.clear();
            }
        }
        tables.insert(view, table);
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, HashMap<PortfolioView, RenderedTable>> {
        // A panic while holding it left nothing half-written: entries are replaced whole.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The table for `view` as of now, for someone who may read the portfolio.
pub async fn table(view: PortfolioView) -> Result<RenderedTable, AppError> {
    require(Permission::Read)?;
    let services = services()?;
    let stamp = services.migrations.portfolio_stamp().await?;
    if let Some(table) = services.kept_tables.get(&view, stamp) {
        return Ok(table);
    }
    let portfolio = services.migrations.portfolio().await?;
    // The sparklines' sources failing leaves their column empty, not the page.
    let sparklines = services
        .observability
        .sparklines()
        .await
        .unwrap_or_default();
    let table = render_table(portfolio, &view, sparklines);
    services.kept_tables.keep(view, table.clone());
    Ok(table)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn table(reading: u64, second: i64) -> RenderedTable {
        RenderedTable {
            stamp: PortfolioStamp { reading, second },
            as_of: DateTime::<Utc>::UNIX_EPOCH,
            options: None,
            html: format!("reading {reading} at {second}").into(),
        }
    }

    fn searching(q: &str) -> PortfolioView {
        PortfolioView {
            q: q.to_owned(),
            ..PortfolioView::default()
        }
    }

    #[test]
    fn a_table_serves_its_own_view_reading_and_second_only() {
        let kept = KeptTables::default();
        kept.keep(searching("commit"), table(1, 100));
        let found = |q, reading, second| {
            kept.get(&searching(q), PortfolioStamp { reading, second })
                .map(|t| t.html.to_string())
        };
        assert_eq!(found("commit", 1, 100).as_deref(), Some("reading 1 at 100"));
        assert_eq!(found("commit", 2, 100), None, "a migration changed");
        assert_eq!(found("commit", 1, 101), None, "a second later");
        assert_eq!(found("blob", 1, 100), None, "another view");
    }

    #[test]
    fn views_without_end_keep_at_most_the_bound() {
        let kept = KeptTables::default();
        for n in 0..VIEWS_KEPT {
            kept.keep(searching(&n.to_string()), table(1, 100));
        }
        assert_eq!(kept.tables().len(), VIEWS_KEPT);
        // A new second: the earlier renderings go.
        kept.keep(searching("new"), table(1, 101));
        assert_eq!(kept.tables().len(), 1);
        for n in 0..VIEWS_KEPT * 2 {
            kept.keep(searching(&n.to_string()), table(1, 101));
            assert!(kept.tables().len() <= VIEWS_KEPT);
        }
    }
}
