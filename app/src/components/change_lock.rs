//! The change lock, where people decide on changes: a banner while one holds (its reason and end),
//! and for admins the form that declares one or lifts it.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use crate::api::change_lock::{
    ChangeLockStatus, DeclareChangeLock, LiftChangeLock, MAX_LOCK_HOURS, get_change_lock,
};
use crate::components::time::When;

#[component]
pub fn ChangeLockBanner() -> impl IntoView {
    let status = Resource::new(|| (), |_| get_change_lock());
    view! {
        <Transition>
            {move || Suspend::new(async move {
                status
                    .await
                    .ok()
                    .map(|status| view! { <Banner status /> })
            })}
        </Transition>
    }
}

#[component]
fn Banner(status: ChangeLockStatus) -> impl IntoView {
    let manage = status.may_manage;
    match status.lock {
        Some(lock) => view! {
            <div class="notice notice--warning change-lock" role="status">
                <p class="change-lock__text">
                    <strong>"Changes are locked"</strong>
                    " until " <When at=lock.until />
                    {format!(": {} (declared by {}). No flag is raised meanwhile; turning flags off is allowed.", lock.reason, lock.declared_by)}
                </p>
                {manage
                    .then(|| {
                        view! {
                            <form method="post" action=LiftChangeLock::url() class="change-lock__lift">
                                <button class="button button--small" type="submit">"Lift the lock"</button>
                            </form>
                        }
                    })}
            </div>
        }
        .into_any(),
        None if manage => view! {
            <details class="change-lock change-lock--declare">
                <summary>"Declare a change lock (admin)"</summary>
                <form method="post" action=DeclareChangeLock::url() class="change-lock__form">
                    <label class="field">
                        <span class="field__label">"Why (everyone whose change is refused reads it)"</span>
                        <input class="field__input" name="reason" required maxlength="300" placeholder="Incident 2026-11-26: elevated error rates on Gitaly" />
                    </label>
                    <label class="field">
                        <span class="field__label">"For how many hours"</span>
                        <input class="field__input" name="hours" type="number" min="1" max=MAX_LOCK_HOURS required value="4" />
                    </label>
                    <button class="button" type="submit">"Lock changes"</button>
                </form>
            </details>
        }
        .into_any(),
        None => ().into_any(),
    }
}
