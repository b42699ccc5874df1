//! Live updates: `GET /events`, a server-sent event stream that names each migration as it
//! changes, as this replica hears of it from Postgres ([`crate::changes`]), so a change made
//! through any replica reaches the pages every replica serves.

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
use tokio::sync::broadcast;

use crate::changes::Changes;

/// Every change heard, as a page's event stream: the changed migration's flag, or `*`.
fn events(changes: &Changes) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    stream::unfold(changes.subscribe(), |mut changes| async move {
        let flag = match changes.recv().await {
            Ok(flag) => flag,
            // Fell behind: tell the page to read everything again.
            Err(broadcast::error::RecvError::Lagged(_)) => "*".to_owned(),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(Event::default().event("changed").data(flag)), changes))
    })
}

/// `GET /events`, for whoever may read migrations.
pub async fn stream(
    axum::extract::State(changes): axum::extract::State<Changes>,
    user: Option<Extension<CurrentUser>>,
) -> Response {
    if let Err(refused) = authorize(user.map(|Extension(user)| user), Permission::Read) {
        return super::errors::refusal(&refused);
    }
    Sse::new(events(&changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response()
}
