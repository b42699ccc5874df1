//! Live updates: `GET /events`, a server-sent event stream that names each migration as it
//! changes. Changes come from Postgres (`LISTEN`; a trigger notifies on every write to a
//! migration, when its transaction commits), so a change made through any replica reaches the
//! pages every replica serves. One broadcast inside the process feeds every open page.

use std::{convert::Infallible, time::Duration};

use app::api::session::{CurrentUser, authorize};
use axum::{
    Extension,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::stream::{self, Stream};
use rollout::Permission;
use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::broadcast;

/// The channel the migrations' trigger notifies.
const CHANNEL: &str = "rampart_migration_changes";

/// Changes fan out to every open page through this; a page that falls behind skips ahead.
#[derive(Clone)]
pub struct Changes {
    sender: broadcast::Sender<String>,
}

impl Changes {
    pub fn new() -> Changes {
        Changes {
            sender: broadcast::channel(1024).0,
        }
    }

    /// Listens to Postgres for as long as the process runs. The listener reconnects by itself
    /// after a drop; what changed meanwhile is unknown, so every page is told to read everything
    /// again (`*`). Nobody listening is fine: no page is open.
    pub async fn listen(self, pool: PgPool) {
        let mut listener = loop {
            match Self::connect(&pool).await {
                Ok(listener) => break listener,
                Err(error) => tracing::warn!(%error, "could not listen for migration changes"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let _ = self.sender.send(notification.payload().to_owned());
                }
                Ok(None) => {
                    tracing::warn!("lost the migration changes' listener; reconnecting");
                    let _ = self.sender.send("*".to_owned());
                }
                Err(error) => {
                    tracing::warn!(%error, "could not listen for migration changes");
                    let _ = self.sender.send("*".to_owned());
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    fn stream(&self) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
        stream::unfold(self.sender.subscribe(), |mut changes| async move {
            let flag = match changes.recv().await {
                Ok(flag) => flag,
                // Fell behind: tell the page to read everything again.
                Err(broadcast::error::RecvError::Lagged(_)) => "*".to_owned(),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(Event::default().event("changed").data(flag)), changes))
        })
    }
}

impl Default for Changes {
    fn default() -> Self {
        Changes::new()
    }
}

/// `GET /events`, for whoever may read migrations.
pub async fn stream(
    axum::extract::State(changes): axum::extract::State<Changes>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    if let Err(refused) = authorize(user.map(|Extension(user)| user), Permission::Read) {
        return super::errors::refusal(&refused);
    }
    Sse::new(changes.stream())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response()
}
