//! The migration page's panels: the charts of the current stage's environment over a window the
//! reader picks, and the stage's log and Sentry counts. They stream in after the rest of the
//! page, so a slow source never holds up the checklist; a source that fails says so in its
//! panel, beside the link to look for oneself.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::api::panels::{ChartWindow, CountTile, Panels};
use crate::components::chart::{Axis, ChartMessage, TimeChart};
use crate::components::status::sentence;
use crate::components::time::When;
use crate::error::AppError;

#[component]
pub fn ObservePanels(
    panels: Resource<Result<Panels, AppError>>,
    window: Signal<ChartWindow>,
) -> impl IntoView {
    let choices = ChartWindow::ALL
        .into_iter()
        .map(|choice| {
            let current = move || (window.get() == choice).then_some("page");
            view! {
                <a
                    class="windows__choice"
                    href=format!("?window={}", choice.key())
                    aria-current=current
                >
                    {choice.label()}
                </a>
            }
        })
        .collect_view();
    view! {
        <section class="panel observe" aria-labelledby="observe-title">
            <div class="observe__head">
                <h2 class="panel__title" id="observe-title">
                    "Metrics"
                </h2>
                <nav class="windows" aria-label="Chart window">
                    {choices}
                </nav>
            </div>
            <Transition fallback=|| {
                view! { <p class="muted observe__loading">"Loading the charts…"</p> }
            }>
                {move || Suspend::new(async move {
                    match panels.await {
                        Ok(panels) => view! { <PanelsView panels /> }.into_any(),
                        Err(error) => {
                            view! {
                                <p class="notice notice--warning" role="status">
                                    {format!("The panels are unavailable: {}", sentence(&error.to_string()))}
                                </p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn PanelsView(panels: Panels) -> impl IntoView {
    let Some(environment) = panels.environment else {
        return view! {
            <p class="muted">
                "Nothing to watch yet: the panels follow the rollout once it reaches an environment."
            </p>
        }
        .into_any();
    };
    let axis = Axis {
        from: panels.from.timestamp(),
        until: panels.until.timestamp(),
    };
    let now: DateTime<Utc> = panels.until;
    let charts = panels
        .charts
        .into_iter()
        .map(|chart| {
            if chart.lines.iter().all(|line| line.points.is_empty()) {
                view! { <ChartMessage chart /> }.into_any()
            } else {
                view! { <TimeChart chart axis markers=panels.markers.clone() now /> }.into_any()
            }
        })
        .collect_view();
    let counts = panels
        .counts
        .into_iter()
        // Erased: the tiles' nested types would otherwise outgrow the compiler's limits.
        .map(|tile| view! { <Count tile /> }.into_any())
        .collect_view();
    view! {
        <p class="muted observe__where">
            {format!(
                "{} · refreshed at most every {} s",
                environment.label(),
                panels.refresh_seconds,
            )}
        </p>
        <div class="charts">{charts}</div>
        <h3 class="observe__counts-title">
            {format!("Logs and errors, {}", panels.counts_label)}
        </h3>
        <div class="counts">{counts}</div>
    }
    .into_any()
}

/// 182344 → "182,344".
fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[component]
fn Count(tile: CountTile) -> impl IntoView {
    let value = match (tile.count, &tile.unavailable) {
        (Some(count), _) => grouped(count),
        (None, _) => "–".to_owned(),
    };
    let link = tile.link.clone().map(|link| {
        view! {
            " · "
            <a href=link.url title=link.label>
                "open ↗"
            </a>
        }
    });
    let issues = (!tile.issues.is_empty()).then(|| {
        let items = tile
            .issues
            .iter()
            .map(|issue| {
                view! {
                    <li>
                        <a href=issue.link.clone()>{issue.title.clone()}</a>
                        <span class="muted">
                            {format!(" · {} events", grouped(issue.events))}
                            {issue
                                .last_seen
                                .map(|at| view! { " · last seen " <When at /> })}
                        </span>
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="count__issues">{items}</ul> }
    });
    view! {
        <div class="count" data-count=tile.key.clone()>
            <span class="count__value">{value}</span>
            <span class="count__label">{tile.label.clone()} {link}</span>
            {tile.partial.clone().map(|partial| view! { <span class="count__note">{partial}</span> })}
            {tile
                .unavailable
                .clone()
                .map(|reason| view! { <span class="count__note count__note--bad">{reason}</span> })}
            {issues}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(182_344), "182,344");
        assert_eq!(grouped(1_000_000), "1,000,000");
    }
}
