//! The migration page's flag changes: each one not applied yet — being applied by Rampart,
//! failed (with the backend's answer and a retry), or waiting for a person to run its ChatOps
//! line — and the one the next stage will ask for.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::migration::{
    ChangeProgress, ConfirmFlagChange, PendingFlagChange, RetryFlagChange,
};
use crate::components::rollout::CommandBox;
use crate::components::status::sentence;
use crate::components::time::Ago;

#[component]
pub fn FlagChanges(
    pending: Vec<PendingFlagChange>,
    next: Option<rollout::ChatOpsCommand>,
    flag: String,
    /// An engineer or a release manager: confirming a change run by hand, or retrying one, is
    /// theirs to do.
    may_act: bool,
    now: DateTime<Utc>,
) -> impl IntoView {
    let waiting = !pending.is_empty();
    view! {
        <section class="panel" aria-labelledby="flag-changes">
            <h2 class="panel__title" id="flag-changes">
                {if waiting { "Flag change" } else { "Next flag change" }}
            </h2>
            {pending
                .into_iter()
                .map(|change| view! { <Change change flag=flag.clone() may_act now /> })
                .collect_view()}
            {(!waiting)
                .then(|| match next {
                    Some(next) => view! {
                        <CommandBox command=next.command.clone() channel=next.channel.name.clone() />
                        <p class="muted">"Rampart makes it when the migration advances."</p>
                    }
                    .into_any(),
                    None => view! { <p class="muted">"No flag change ahead."</p> }.into_any(),
                })}
        </section>
    }
}

#[component]
fn Change(
    change: PendingFlagChange,
    flag: String,
    may_act: bool,
    now: DateTime<Utc>,
) -> impl IntoView {
    let asked = view! {
        <p class="muted">
            {format!("Asked for by {} ", change.requested_by)}
            <Ago at=change.requested_at now />
            "."
        </p>
    };
    let (status, step) = match change.progress.clone() {
        ChangeProgress::ByHand => (
            view! { <p>"Run it in the channel, then confirm here."</p> }.into_any(),
            view! {
                <form method="post" action=ConfirmFlagChange::url()>
                    <input type="hidden" name="flag" value=flag />
                    <input type="hidden" name="change" value=change.id />
                    <button class="button button--primary" type="submit">"Done: I ran it"</button>
                </form>
            }
            .into_any(),
        ),
        ChangeProgress::Applying {
            backend,
            failures,
            last_error,
        } => (
            view! {
                <p class="flag-change__status" role="status">
                    {format!("Rampart is setting it through {backend}.")}
                    {last_error
                        .map(|error| {
                            format!(
                                " {} attempt{} failed, retrying: {}",
                                failures,
                                if failures == 1 { "" } else { "s" },
                                sentence(&error),
                            )
                        })}
                </p>
            }
            .into_any(),
            ().into_any(),
        ),
        ChangeProgress::Failed { backend, error } => (
            view! {
                <p class="notice notice--error" role="alert">
                    {format!("{backend} did not take it: {}", sentence(&error))}
                    " Nothing advances until it is made."
                </p>
            }
            .into_any(),
            view! {
                <form method="post" action=RetryFlagChange::url()>
                    <input type="hidden" name="flag" value=flag />
                    <input type="hidden" name="change" value=change.id />
                    <button class="button button--primary" type="submit">"Try again"</button>
                </form>
            }
            .into_any(),
        ),
    };
    view! {
        <div class="flag-change">
            <CommandBox command=change.command.clone() channel=change.channel.clone() />
            {status}
            {asked}
            {may_act.then_some(step)}
        </div>
    }
}
