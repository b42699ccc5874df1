//! The frame around every page.

use leptos::prelude::*;
use leptos_router::components::A;

/// The bar at the top: the product's name and the main sections. The router marks the current
/// section with `aria-current="page"`.
#[component]
pub fn TopBar() -> impl IntoView {
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
            </nav>
        </header>
    }
}
