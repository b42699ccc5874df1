//! Small pieces that show a rollout's state the same way on every page.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use rollout::{Environment, FlagValue, Health, Status};

use crate::api::portfolio::CheckDue;
use crate::components::time::{Tick, Ticking};

/// A coloured dot with the health in words for screen readers and as a tooltip.
#[component]
pub fn HealthDot(health: Health) -> impl IntoView {
    let class = format!("dot dot--{}", health.as_str());
    view! {
        <span class=class title=health.label() role="img" aria-label=health.label()></span>
    }
}

/// Where the trial runs and how much it serves: "prod 5 %", "staging on", "paused".
#[component]
pub fn ServingNow(serving: Option<(Environment, FlagValue)>, status: Status) -> impl IntoView {
    let held = (status != Status::Active).then(|| status.phrase());
    let place = match serving {
        Some((environment, value)) => view! {
            <span class=format!("env env--{}", environment.as_str())>{environment.label()}</span>
            " "
            <span class="serving">{value.to_string()}</span>
        }
        .into_any(),
        None => view! { <span class="serving muted">"flag off"</span> }.into_any(),
    };
    view! {
        {place}
        {held.map(|held| view! { <span class="held">{format!(" · {held}")}</span> })}
    }
}

/// A ChatOps line to run, in a box with a copy button and the channel to run it in.
#[component]
pub fn CommandBox(#[prop(into)] command: String, #[prop(into)] channel: String) -> impl IntoView {
    view! {
        <div class="command">
            <code class="command__line">{command.clone()}</code>
            <CopyButton text=command.clone() />
        </div>
        <p class="muted">"in " {channel}</p>
    }
}

/// Copies `text` to the clipboard, and says so. An island: the only part of its box that runs
/// in the browser.
#[island]
pub fn CopyButton(text: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
            copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button class="command__copy" type="button" on:click=copy>
            {move || if copied.get() { "copied" } else { "copy" }}
        </button>
    }
}

/// When the next look is due, "overdue by …" in red once late; the browser keeps it ticking.
#[component]
pub fn CheckClock(due: Option<CheckDue>, now: DateTime<Utc>) -> impl IntoView {
    match due {
        None => view! { <span class="next muted">"no check due"</span> }.into_any(),
        Some(CheckDue {
            can_be_late: false, ..
        }) => view! { <span class="next">"one look, due now"</span> }.into_any(),
        Some(CheckDue { at, .. }) => {
            view! { <Ticking tick=Tick::Due at now class="next" /> }.into_any()
        }
    }
}
