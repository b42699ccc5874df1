//! `/history`: completed and rolled-back migrations for managers — lead times, time in each
//! stage against its soak, pauses, rollbacks and overrides; sortable, with a chart of lead times
//! and the same rows as CSV.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::history::{HistoryColumn, HistoryRow, Outcome, get_history};
use crate::components::status::{ErrorPanel, Loading};
use crate::components::time::When;

#[component]
pub fn HistoryPage() -> impl IntoView {
    let history = Resource::new(|| (), |_| get_history());
    let query = use_query_map();
    let sort = Memo::new(move |_| {
        query
            .with(|q| q.get("sort"))
            .and_then(|s| s.parse::<HistoryColumn>().ok())
            .unwrap_or_default()
    });
    view! {
        <Title text="History" />
        <div class="page-head">
            <h1>"History"</h1>
            <a class="button" href=move || format!("/history.csv?sort={}", sort.get().as_str()) download>
                "Download CSV"
            </a>
        </div>
        <Suspense fallback=|| view! { <Loading what="the history" /> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                {move || Suspend::new(async move {
                    history.await.map(|rows| view! { <HistoryBody rows sort /> })
                })}
            </ErrorBoundary>
        </Suspense>
    }
}

#[component]
fn HistoryBody(rows: Vec<HistoryRow>, sort: Memo<HistoryColumn>) -> impl IntoView {
    if rows.is_empty() {
        return view! {
            <section class="empty">
                <h2>"Nothing finished yet"</h2>
                <p>"Completed and rolled-back migrations appear here, with their lead times."</p>
            </section>
        }
        .into_any();
    }
    let completed = rows
        .iter()
        .filter(|r| r.outcome == Outcome::Completed)
        .count();
    let summary = format!(
        "{completed} completed · {} rolled back",
        rows.len() - completed
    );
    let chart_rows = rows.clone();
    let sorted = move || {
        let mut rows = rows.clone();
        sort.get().sort(&mut rows);
        rows
    };
    view! {
        <p class="summary">{summary}</p>
        <LeadTimeChart rows=chart_rows />
        // Focusable, so a keyboard can scroll it when it is wider than the screen.
        <div class="table-scroll" tabindex="0" role="region" aria-label="Finished migrations">
        <table class="history">
            <thead>
                <tr>
                    {HistoryColumn::all()
                        .map(|column| {
                            let current = move || sort.get() == column;
                            view! {
                                <th scope="col" aria-sort=move || current().then_some("descending")>
                                    <a href=format!("/history?sort={}", column.as_str())>
                                        {column.label()}
                                    </a>
                                </th>
                            }
                        })
                        .collect_view()}
                </tr>
            </thead>
            <tbody>
                {move || sorted().into_iter().map(|row| view! { <HistoryLine row /> }).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}

#[component]
fn HistoryLine(row: HistoryRow) -> impl IntoView {
    let cells = HistoryColumn::all()
        .map(|column| {
            let text = column.text(&row);
            match column {
                HistoryColumn::Flag => view! {
                    <td><a class="flag" href=format!("/migrations/{}", row.flag)>{text}</a></td>
                }
                .into_any(),
                HistoryColumn::Started => view! { <td data-value=text><When at=row.started_at /></td> }.into_any(),
                HistoryColumn::Ended => view! { <td data-value=text><When at=row.ended_at /></td> }.into_any(),
                HistoryColumn::Stages => view! {
                    <td data-value=text>
                        <ul class="stage-times">
                            {row
                                .stages
                                .iter()
                                .map(|stage| {
                                    view! {
                                        <li class:stage-times--short=stage.short()>{stage.text()}</li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    </td>
                }
                .into_any(),
                _ => view! { <td>{text}</td> }.into_any(),
            }
        })
        .collect_view();
    view! { <tr>{cells}</tr> }
}

/// Lead time from the first production percentage to 100 %, one bar per migration that got
/// there, drawn as SVG on the server.
#[component]
fn LeadTimeChart(rows: Vec<HistoryRow>) -> impl IntoView {
    let mut bars: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.flag.clone(), r.lead_time_seconds? as f64 / 86_400.0)))
        .collect();
    if bars.is_empty() {
        return ().into_any();
    }
    bars.sort_by(|a, b| b.1.total_cmp(&a.1));
    let longest = bars.iter().map(|b| b.1).fold(1.0_f64, f64::max).ceil();
    let (label_width, bar_width, row_height) = (260.0, 420.0, 22.0);
    let height = row_height * bars.len() as f64 + 24.0;
    let width = label_width + bar_width + 70.0;
    let description = bars
        .iter()
        .map(|(flag, days)| format!("{flag}: {days:.1} days"))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <figure class="bar-chart">
            <figcaption class="bar-chart__title">"Lead time, first production percentage to 100 %"</figcaption>
            <svg
                class="bar-chart__svg"
                viewBox=format!("0 0 {width} {height}")
                role="img"
                aria-label=format!("Lead times: {description}")
            >
                {bars
                    .into_iter()
                    .enumerate()
                    .map(|(i, (flag, days))| {
                        let y = i as f64 * row_height;
                        let w = (days / longest * bar_width).max(2.0);
                        view! {
                            <text class="bar-chart__label" x=label_width - 8.0 y=y + 15.0 text-anchor="end">{flag}</text>
                            <rect class="bar-chart__bar" x=label_width y=y + 4.0 width=w height=row_height - 8.0 rx="2"></rect>
                            <text class="bar-chart__value" x=label_width + w + 6.0 y=y + 15.0>{format!("{days:.1} d")}</text>
                        }
                    })
                    .collect_view()}
                <text class="bar-chart__axis" x=label_width y=height - 4.0>"0"</text>
                <text class="bar-chart__axis" x=label_width + bar_width y=height - 4.0 text-anchor="end">
                    {format!("{longest:.0} days")}
                </text>
            </svg>
        </figure>
    }
    .into_any()
}
