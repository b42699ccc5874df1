//! What the panels need to know of a migration: the environment its current stage watches, how
//! the flag stands there, when it changed, the stage's log window, where to mark the charts, and
//! the dashboards the template links for the stage.

use chrono::{DateTime, TimeDelta, Utc};
use rollout::{CheckItem, Link, LogWindow, Status, guardrail::Verdict};

use super::{PgMigrationService, stored::Loaded};
use crate::{db, error::Error, observability::sources::Watched};

pub struct WatchTarget {
    pub now: DateTime<Utc>,
    /// `None` before the rollout reaches an environment, and once it is done.
    pub watched: Option<Watched>,
    pub stage_started: Option<DateTime<Utc>>,
    pub log_window: LogWindow,
    /// Each stage's start, labelled with its name, and the kill, if any; oldest first.
    pub markers: Vec<(DateTime<Utc>, String)>,
    pub links: PanelLinks,
}

/// The template's dashboards for the current stage.
#[derive(Default)]
pub struct PanelLinks {
    pub grafana: Option<Link>,
    pub kibana_invocations: Option<Link>,
    pub kibana_errors: Option<Link>,
    pub gitaly_sentry: Option<Link>,
    pub gitlab_sentry: Option<Link>,
}

/// A migration the guardrail may judge: running (or held) in a stage that watches an
/// environment.
pub struct Guarded {
    pub migration_id: i64,
    pub watched: Watched,
    /// Who answers for the rollout.
    pub owner: String,
    pub status: Status,
    pub stage_key: String,
    pub stage_name: String,
    pub stage_started: DateTime<Utc>,
    /// How often the stage asks for a look, if it does.
    pub cadence: Option<TimeDelta>,
    /// When the guardrail's next look at the stage is due, as the domain counts it; `None`
    /// when automation owes none.
    pub next_automated_look_due: Option<DateTime<Utc>>,
    /// The guardrail's standing on the stage, as the stage machine keeps it.
    pub standing: Option<Verdict>,
    /// How late the stage's next look is, at the time asked.
    pub overdue_by: Option<TimeDelta>,
}

/// The environment `loaded`'s current stage watches, and the flag there; `None` before the rollout
/// reaches one and once it is done.
fn watched(loaded: &Loaded) -> Option<Watched> {
    let identity = &loaded.migration.identity;
    let environment = loaded
        .state
        .current_stage(&loaded.migration.plan)
        .and_then(|stage| stage.environment())
        .filter(|_| loaded.state.status() != Status::Completed)?;
    Some(Watched {
        flag: identity.feature_flag.as_str().to_owned(),
        service: format!("gitaly.{}", identity.grpc_method.service()),
        method: identity.grpc_method.method().to_owned(),
        full_method: identity.grpc_method.full_name(),
        environment,
        serving: loaded.state.flags().get(environment),
        changed_at: loaded.state.position().map(|p| p.started_at),
    })
}

impl PgMigrationService {
    /// Every migration in flight running in a stage that watches an environment, as of `now`.
    pub async fn guarded_in_flight(&self, now: DateTime<Utc>) -> Result<Vec<Guarded>, Error> {
        Ok(self
            .in_flight
            .read(&self.pool, self)
            .await?
            .loaded
            .iter()
            .filter_map(|loaded| {
                let position = loaded.state.position()?;
                let stage = loaded.state.current_stage(&loaded.migration.plan)?;
                let looks = position.looks();
                Some(Guarded {
                    migration_id: loaded.row.id,
                    watched: watched(loaded)?,
                    owner: loaded.row.owner.clone(),
                    status: loaded.state.status(),
                    stage_key: position.key.as_str().to_owned(),
                    stage_name: stage.name.clone(),
                    overdue_by: rollout::timing::overdue_by(
                        stage,
                        position.started_at,
                        &looks,
                        now,
                    ),
                    stage_started: position.started_at,
                    cadence: stage.cadence.interval(),
                    next_automated_look_due: rollout::timing::next_automated_look_due(
                        stage,
                        position.started_at,
                        &looks,
                        now,
                    ),
                    standing: position.guardrail.as_ref().map(|g| g.verdict),
                })
            })
            .collect())
    }

    /// What each migration in flight watches, for the portfolio's sparklines.
    pub async fn watched_in_flight(&self) -> Result<Vec<Watched>, Error> {
        Ok(self
            .in_flight
            .read(&self.pool, self)
            .await?
            .loaded
            .iter()
            .filter_map(watched)
            .collect())
    }

    pub async fn watch_target(&self, flag: &str) -> Result<WatchTarget, Error> {
        let now = self.clock.now();
        let loaded = self.read(flag).await?;
        let stages = db::stages::fetch_stages(&self.pool, &[loaded.row.id]).await?;
        let plan = &loaded.migration.plan;
        let identity = &loaded.migration.identity;
        let stage = loaded.state.current_stage(plan);
        let mut markers: Vec<(DateTime<Utc>, String)> = stages
            .iter()
            .map(|row| {
                let name = plan
                    .stage_by_key(&row.stage_key)
                    .map_or_else(|| row.stage_key.clone(), |(_, s)| s.name.clone());
                (row.started_at, name)
            })
            .collect();
        if let Some(kill) = loaded.state.kill() {
            markers.push((kill.at, "killed".to_owned()));
        }
        markers.sort_by_key(|(at, _)| *at);
        let watched = watched(&loaded);
        let link = |item: CheckItem| {
            stage.and_then(|stage| rollout::item_link(identity, stage, item, &self.links))
        };
        Ok(WatchTarget {
            now,
            watched,
            stage_started: loaded.state.position().map(|p| p.started_at),
            log_window: stage.map_or(LogWindow::ONE_HOUR, |s| s.log_window),
            markers,
            links: PanelLinks {
                grafana: link(CheckItem::GrafanaChecked),
                kibana_invocations: link(CheckItem::KibanaInvocationsInspected),
                kibana_errors: link(CheckItem::KibanaErrorsInspected),
                gitaly_sentry: link(CheckItem::GitalySentryChecked),
                gitlab_sentry: link(CheckItem::GitlabSentryChecked),
            },
        })
    }
}
