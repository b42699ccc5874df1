//! A migration's stage timeline: every stage of its plan, what it requires, and each time it ran.

use chrono::{DateTime, TimeDelta, Utc};
use leptos::prelude::*;
use rollout::duration::format_duration;

use crate::api::migration::{StageVisit, TimelineStage};
use crate::api::portfolio::Place;
use crate::components::time::{Tick, Ticking, When};

#[component]
pub fn StageTimeline(stages: Vec<TimelineStage>, now: DateTime<Utc>) -> impl IntoView {
    view! {
        <ol class="timeline" aria-label="Stage timeline">
            {stages.into_iter().map(|stage| view! { <TimelineEntry stage now /> }).collect_view()}
        </ol>
    }
}

#[component]
fn TimelineEntry(stage: TimelineStage, now: DateTime<Utc>) -> impl IntoView {
    let (class, place) = match stage.place {
        Place::Passed => ("timeline__stage timeline__stage--passed", "done"),
        Place::Current => ("timeline__stage timeline__stage--current", "current stage"),
        Place::Ahead => ("timeline__stage", "ahead"),
    };
    let required = TimeDelta::seconds(stage.required_soak_seconds);
    let requirement = if required > TimeDelta::zero() {
        format!("soak {} · {}", format_duration(required), stage.cadence)
    } else {
        stage.cadence.clone()
    };
    view! {
        <li class=class aria-current=(stage.place == Place::Current).then_some("step")>
            <span class="timeline__name">{stage.name.clone()}</span>
            <span class="visually-hidden">{format!(" ({place})")}</span>
            <span class="timeline__requirement">{requirement}</span>
            {stage.visits.into_iter().map(|visit| view! { <Visit visit now /> }).collect_view()}
        </li>
    }
}

#[component]
fn Visit(visit: StageVisit, now: DateTime<Utc>) -> impl IntoView {
    let started = visit.started_at;
    let ended = visit.ended_at;
    // A visit under way keeps counting in the browser.
    let ran = match ended {
        Some(ended) => format!("ran {}", format_duration(ended - started)).into_any(),
        None => view! { <Ticking tick=Tick::Ran at=started now /> }.into_any(),
    };
    view! {
        <span class="timeline__visit">
            {ran} " · from " <When at=started /> " by " {visit.started_by.clone()}
            {visit
                .ended_by
                .clone()
                .zip(ended)
                .map(|(by, at)| view! { " · left " <When at /> " by " {by} })}
        </span>
        {visit
            .soak_override
            .map(|o| {
                view! {
                    <span class="timeline__override">
                        "Soak overridden by " {o.by} " at " <When at=o.at /> ": " {o.reason}
                    </span>
                }
            })}
    }
}
