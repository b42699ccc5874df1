//! How a page says "loading", "nothing here" and "that failed".

use leptos::prelude::*;

/// A panel in place of content that could not be loaded; the message is already safe to show.
#[component]
pub fn ErrorPanel(errors: ArcRwSignal<Errors>) -> impl IntoView {
    view! {
        <div class="notice notice--error" role="alert">
            <strong>"Could not load this. "</strong>
            {move || {
                errors
                    .get()
                    .into_iter()
                    .map(|(_, error)| error.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            }}
        </div>
    }
}

/// Shown while data is on its way.
#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <p class="notice" aria-busy="true">
            {format!("Loading {what}…")}
        </p>
    }
}
