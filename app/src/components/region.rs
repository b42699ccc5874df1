//! Why a form failed, shown on the page the form returned to; and the regions of a page that the
//! browser reads again in place.
//!
//! A page's forms post straight to their server functions as plain HTML forms (the page's script
//! only sends them without leaving the page). The answer sends the browser back to the page, and
//! a failure's message comes with it in the address (`__err`, as Leptos' server functions put it
//! there for forms sent without JavaScript).

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::components::status::ErrorNotice;
use crate::error::AppError;

/// The failed form's message, if the address carries one.
#[component]
pub fn FlashNotice() -> impl IntoView {
    failed_form(None)
        .map(|error| view! { <ErrorNotice message=crate::components::status::sentence(&error.to_string()) /> })
}

/// The error of the form sent to the server function at `path` (any, for `None`) that sent the
/// browser back here, as the address carries it. Read on the server; the browser has its own
/// answers.
pub fn failed_form(path: Option<&str>) -> Option<AppError> {
    #[cfg(feature = "ssr")]
    {
        use leptos::server_fn::error::ServerFnUrlError;
        use leptos_router::hooks::use_query_map;
        // A page sent back twice without a success between says the latest failure last.
        let last = |name: &str| {
            use_query_map()
                .with_untracked(|query| query.get_all(name).and_then(|all| all.last().cloned()))
        };
        let from = last("__path")?;
        if path.is_some_and(|path| path != from) {
            return None;
        }
        last("__err").map(|encoded| ServerFnUrlError::<AppError>::decode_err(&encoded))
    }
    #[cfg(not(feature = "ssr"))]
    {
        let _ = path;
        None
    }
}

/// A part of the page the browser may read again in place: after one of its forms is sent, on a
/// live update (when `live` names the migration that changed, or is `*` for any), or when the
/// portfolio's filter changes. Its `id` finds it in the page read again.
#[component]
pub fn Region(
    id: &'static str,
    /// The migration whose changes refresh this part (`*`: any); none: only its own forms do.
    #[prop(optional, into)]
    live: Option<String>,
    /// The server's clock when it read what the region shows: relative times tick from it.
    #[prop(optional, into)]
    now: Option<DateTime<Utc>>,
    /// Read again every so many seconds, for charts and counts that move on their own.
    #[prop(optional, into)]
    every: Option<u32>,
    /// Controls beside the page's content (the portfolio's filter), read again with it: kept as
    /// they are while they have the focus, so that what someone types or chooses stays; and a
    /// failed form's message goes to the content's region, not here.
    #[prop(optional)]
    controls: bool,
    children: Children,
) -> impl IntoView {
    view! {
        <div
            id=id
            data-swap=""
            data-live=live
            data-now=now.map(|now| now.to_rfc3339())
            data-every=every
            data-keep-while-focused=controls.then_some("")
        >
            {(!controls).then(|| view! { <FlashNotice /> })}
            {children()}
        </div>
    }
}
