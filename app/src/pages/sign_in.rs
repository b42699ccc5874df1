//! `/sign-in?next=…`: username and password, then back to where the person was going.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::session::{SignIn, SignInFailure, get_session_info};
use crate::components::status::ErrorNotice;

#[component]
pub fn SignInPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let query = use_query_map();
    // An attribute, not a property: a form posted before the script runs must carry it too.
    let next = query
        .read_untracked()
        .get("next")
        .unwrap_or_else(|| "/".to_owned());
    let sso_next = next.clone();
    let info = Resource::new(|| (), |_| get_session_info());
    // The form posts as a plain form; a failure comes back in the address.
    let failure = query
        .read_untracked()
        .get("failed")
        .map(|failed| SignInFailure::parse(&failed).message().to_owned());

    view! {
        <Title text="Sign in" />
        <section class="sign-in">
            <h1>"Sign in to Rampart"</h1>
            <ActionForm action=sign_in attr:class="sign-in__form">
                <input type="hidden" name="next" value=next />
                <label class="field">
                    <span class="field__label">"Username"</span>
                    <input
                        class="field__input"
                        name="username"
                        autocomplete="username"
                        required
                        maxlength="64"
                    />
                </label>
                <label class="field">
                    <span class="field__label">"Password"</span>
                    <input
                        class="field__input"
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                        maxlength="256"
                    />
                </label>
                <button class="button button--primary" type="submit">
                    "Sign in"
                </button>
            </ActionForm>
            {failure.map(|message| view! { <ErrorNotice message /> })}
            <Suspense>
                {
                    let next = sso_next;
                    move || {
                        let next = next.clone();
                        Suspend::new(async move {
                            info.await
                                .ok()
                                .and_then(|info| info.sso)
                                .map(|provider| {
                                    let href = format!(
                                        "/auth/oidc/start?next={}",
                                        crate::api::session::query_encode(&next)
                                    );
                                    view! {
                                        <a class="button sign-in__sso" href=href rel="external">
                                            {format!("Sign in with {provider}")}
                                        </a>
                                    }
                                })
                        })
                    }
                }
            </Suspense>
            <Suspense>
                {move || Suspend::new(async move {
                    info.await
                        .ok()
                        .filter(|info| info.demo)
                        .map(|_| {
                            view! {
                                <p class="notice sign-in__demo">
                                    "This is a demo. Its users — vera (viewer), erin (engineer), rita and rob (release managers), mona (manager) and adam (admin) — and their passwords were printed once in the terminal that started Rampart."
                                </p>
                            }
                        })
                })}
            </Suspense>
        </section>
    }
}
