//! The frame around every page.

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_location};

use crate::api::session::{SignOut, get_session_info};
use rollout::Permission;

/// The bar at the top: the product's name, the main sections, and who is signed in. The router
/// marks the current section with `aria-current="page"`.
#[component]
pub fn TopBar() -> impl IntoView {
    // Read again on every navigation: signing in or out ends on another page.
    let location = use_location();
    let info = Resource::new(move || location.pathname.get(), |_| get_session_info());

    view! {
        <header class="topbar">
            <a class="topbar__brand" href="/">
                <span aria-hidden="true">"▲ "</span>
                "Rampart"
            </a>
            <nav class="topbar__nav" aria-label="Main">
                <A href="/" attr:class="topbar__link">
                    "In flight"
                </A>
                // Only a convenience: the pages' server functions check for themselves.
                <Transition>
                    {move || Suspend::new(async move {
                        let user = info.await.ok().and_then(|info| info.user)?;
                        let link = |href: &'static str, text: &'static str, permission| {
                            user.may(permission)
                                .then(|| view! { <A href=href attr:class="topbar__link">{text}</A> })
                        };
                        Some(view! {
                            {link("/history", "History", Permission::Export)}
                            {link("/audit", "Audit", Permission::Read)}
                            {link("/users", "Users", Permission::Administer)}
                        })
                    })}
                </Transition>
            </nav>
            <Transition>
                {move || Suspend::new(async move {
                    info.await.ok().and_then(|info| info.user).map(|user| view! { <SignedIn user /> })
                })}
            </Transition>
        </header>
    }
}

#[component]
fn SignedIn(user: crate::api::session::CurrentUser) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let roles = user.roles_label();
    view! {
        <div class="topbar__user">
            <a class="topbar__name" href="/profile" title="Your account and API tokens">
                {user.display_name.clone()}
            </a>
            <span class="topbar__roles">{roles}</span>
            <ActionForm action=sign_out attr:class="topbar__sign-out">
                <button class="topbar__button" type="submit">
                    "Sign out"
                </button>
            </ActionForm>
        </div>
    }
}

/// The page's script (see `browser`): times, forms sent in place, live updates. An island with
/// nothing to show, so that the browser runs it on every page.
#[island]
pub fn PageScript() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    crate::browser::start();
}
