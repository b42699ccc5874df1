//! `/`: every migration in flight — where it stands, whether it needs a person, and when the next
//! check is due. The filter and order live in the URL, so a link shares the view; without
//! JavaScript the filter is a plain GET form.

#[cfg(feature = "ssr")]
mod kept;
#[cfg(feature = "ssr")]
pub use kept::KeptTables;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use rollout::{Environment, Health, Permission, Status};

use crate::api::panels::{Sparkline as SparklineData, Unit};
use crate::api::portfolio::{
    Place, Portfolio, PortfolioRow, PortfolioStamp, PortfolioView, SortKey,
};
use crate::api::session::page_viewer;
use crate::components::change_lock::ChangeLockBanner;
use crate::components::chart::Sparkline;
use crate::components::region::Region;
use crate::components::rollout::{CheckClock, HealthDot, ServingNow};
use crate::components::shared_html::SharedHtml;
use crate::components::status::{ErrorPanel, Loading};
use crate::components::time::{Tick, Ticking};

#[component]
pub fn PortfolioPage() -> impl IntoView {
    let view = use_query_map().with_untracked(|q| PortfolioView::from_query(|name| q.get(name)));
    // A resource, not a future awaited in place: the page's render may poll a future once and
    // drop it, which would cut a database query off halfway and cost the connection.
    let table = Resource::new(
        {
            let view = view.clone();
            move || view.clone()
        },
        table,
    );

    view! {
        <Title text="In flight" />
        <div class="page-head">
            <h1>"In-flight migrations"</h1>
            {page_viewer().is_some_and(|user| user.may(Permission::EditMigrations))
                .then(|| {
                    view! {
                        <a class="button button--primary" href="/migrations/new">
                            "New migration"
                        </a>
                    }
                })}
        </div>
        <ChangeLockBanner />
        <Suspense fallback=|| view! { <Loading what="migrations" /> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                {
                    move || {
                        let view = view.clone();
                        Suspend::new(async move {
                            let table = table.await?;
                            Ok::<_, crate::error::AppError>(view! { <PortfolioBody table view /> })
                        })
                    }
                }
            </ErrorBoundary>
        </Suspense>
    }
}

/// The portfolio's table for one view, rendered: what most of the page's time and bytes are.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RenderedTable {
    #[cfg_attr(not(feature = "ssr"), allow(dead_code))]
    stamp: PortfolioStamp,
    as_of: DateTime<Utc>,
    /// The filter's choices; `None` when nothing is in flight, and there is nothing to filter.
    options: Option<FilterOptions>,
    /// One element, the same for everyone who sees this view in this second.
    html: Arc<str>,
}

/// The view's table: as rendered for this view in this second, or rendered now.
async fn table(view: PortfolioView) -> Result<RenderedTable, crate::error::AppError> {
    #[cfg(feature = "ssr")]
    {
        kept::table(view).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        // Pages render on the server only; the browser runs just the islands.
        let _ = view;
        Err(crate::error::AppError::Internal)
    }
}

#[component]
fn PortfolioBody(table: RenderedTable, view: PortfolioView) -> impl IntoView {
    view! {
        // Its choices (stages, owners, services) come from the migrations in flight: read again
        // with the table.
        <Region id="portfolio-filter" controls=true>
            {table.options.map(|options| view! { <PortfolioFilter view options /> })}
        </Region>
        // Any migration that changes, here or in another browser, is read again.
        <Region id="portfolio" live="*" now=table.as_of>
            {SharedHtml::new(table.html)}
        </Region>
    }
}

/// Renders the portfolio's table for `view`, with the error-rate sparklines of its rows.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
fn render_table(
    portfolio: Portfolio,
    view: &PortfolioView,
    sparklines: Vec<SparklineData>,
) -> RenderedTable {
    let (stamp, now) = (portfolio.stamp(), portfolio.as_of);
    let rows = portfolio.rows;
    if rows.is_empty() {
        return RenderedTable {
            stamp,
            as_of: now,
            options: None,
            html: view! { <EmptyPortfolio /> }.to_html().into(),
        };
    }
    let summary = summary(&rows);
    let distinct = |pick: fn(&PortfolioRow) -> (String, String)| -> Vec<(String, String)> {
        rows.iter()
            .map(pick)
            .filter(|(value, _)| !value.is_empty())
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect()
    };
    let options = FilterOptions {
        stages: distinct(|r| (r.stage_key.clone(), r.stage_name.clone())),
        owners: distinct(|r| (r.owner.clone(), r.owner.clone())),
        services: distinct(|r| (r.grpc_service.clone(), r.grpc_service.clone())),
    };
    let shown = view.apply(&rows);
    let total = rows.len();
    let count =
        (shown.len() != total).then(|| format!("{} of {total} match the filter.", shown.len()));
    let none_shown = shown.is_empty();
    let mut sparklines: HashMap<String, SparklineData> = sparklines
        .into_iter()
        .map(|sparkline| (sparkline.flag.clone(), sparkline))
        .collect();
    let table_rows = shown
        .into_iter()
        .map(|row| {
            let sparkline = sparklines.remove(&row.flag);
            view! { <MigrationRow row=row.clone() now sparkline /> }
        })
        .collect_view();
    let html = view! {
        <div class="portfolio">
        <p class="summary">{summary}</p>
        <p class="summary" aria-live="polite">
            {count}
        </p>
        <table class="migrations" hidden=none_shown>
            <thead>
                <tr>
                    <th scope="col">
                        <span class="visually-hidden">"Health"</span>
                    </th>
                    <th scope="col">"Flag · method"</th>
                    <th scope="col">"Stage"</th>
                    <th scope="col">"Now"</th>
                    <th scope="col">"Next check"</th>
                    <th scope="col">"Errors, 24 h"</th>
                    <th scope="col">"Owner"</th>
                </tr>
            </thead>
            <tbody>{table_rows}</tbody>
        </table>
        <p class="notice" hidden=!none_shown>
            "No migration matches this filter. "
            <a href="/">"Show all"</a>
        </p>
        </div>
    }
    .to_html();
    RenderedTable {
        stamp,
        as_of: now,
        options: Some(options),
        html: html.into(),
    }
}

/// "12 in flight · 1 failing · 3 need attention · 1 ready to advance".
fn summary(rows: &[PortfolioRow]) -> String {
    let count = |health: Health| rows.iter().filter(|r| r.health == health).count();
    let ready = rows.iter().filter(|r| r.ready_to_advance).count();
    let mut parts = vec![format!("{} in flight", rows.len())];
    for (n, words) in [
        (count(Health::Failing), "failing"),
        (count(Health::Attention), "need attention"),
        (ready, "ready to advance"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {words}"));
        }
    }
    parts.join(" · ")
}

/// The values the filter offers that come from the migrations themselves: (value, label).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FilterOptions {
    stages: Vec<(String, String)>,
    owners: Vec<(String, String)>,
    services: Vec<(String, String)>,
}

/// The filter form. Without JavaScript it submits as a GET to `/`; with it, every change
/// rewrites the URL at once and the results below are read again in place.
#[island]
fn PortfolioFilter(view: PortfolioView, options: FilterOptions) -> impl IntoView {
    let current = RwSignal::new(view);
    let go = move |change: &dyn Fn(&mut PortfolioView)| {
        let mut next = current.get_untracked();
        change(&mut next);
        current.set(next.clone());
        let query = next.to_query();
        let url = if query.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{query}")
        };
        #[cfg(feature = "hydrate")]
        {
            if let Some(window) = web_sys::window()
                && let Ok(history) = window.history()
            {
                let _ =
                    history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
            crate::browser::regions::refresh(url);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = url;
    };
    let chosen_at_first = current.get_untracked();
    let environments: Vec<(String, String)> = Environment::all()
        .map(|e| (e.as_str().to_owned(), e.label().to_owned()))
        .collect();
    let healths: Vec<(String, String)> = Health::all()
        .map(|h| (h.as_str().to_owned(), h.label().to_owned()))
        .collect();
    let sorts: Vec<(String, String)> = SortKey::all()
        .map(|s| (s.as_str().to_owned(), s.label().to_owned()))
        .collect();

    let on_search = move |event| {
        let text = event_target_value(&event);
        go(&|v: &mut PortfolioView| v.q = text.clone());
    };
    let select = |name: &'static str,
                  label: &'static str,
                  any: &'static str,
                  options: Vec<(String, String)>,
                  get: fn(&PortfolioView) -> String,
                  set: fn(&mut PortfolioView, String)| {
        let chosen = get(&chosen_at_first);
        let on_change = move |event| {
            let value = event_target_value(&event);
            go(&|v: &mut PortfolioView| set(v, value.clone()));
        };
        view! {
            <label class="filter">
                <span class="filter__label">{label}</span>
                <select
                    class="filter__select"
                    name=name
                    prop:value=move || current.with(get)
                    on:change=on_change
                >
                    {(!any.is_empty())
                        .then(|| view! { <option value="" selected=chosen.is_empty()>{any}</option> })}
                    {options
                        .into_iter()
                        .map(|(value, text)| {
                            let selected = value == chosen;
                            view! { <option value=value selected=selected>{text}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
        }
        .into_any()
    };

    view! {
        <form class="toolbar" method="get" action="/" role="search" on:submit=|e| e.prevent_default()>
            <label class="filter filter--search">
                <span class="filter__label">"Search"</span>
                <input
                    type="search"
                    name="q"
                    class="toolbar__filter"
                    placeholder="Flag or Service::Method"
                    value=chosen_at_first.q.clone()
                    on:input=on_search
                />
            </label>
            {select("stage", "Stage", "Any stage", options.stages, |v| v.stage.clone(), |v, s| v.stage = s)}
            {select(
                "environment",
                "Environment",
                "Any environment",
                environments,
                |v| v.environment.clone(),
                |v, s| v.environment = s,
            )}
            {select("health", "Health", "Any health", healths, |v| v.health.clone(), |v, s| v.health = s)}
            {select("owner", "Owner", "Anyone", options.owners, |v| v.owner.clone(), |v, s| v.owner = s)}
            {select(
                "service",
                "Service",
                "Any service",
                options.services,
                |v| v.service.clone(),
                |v, s| v.service = s,
            )}
            {select(
                "sort",
                "Order",
                "",
                sorts,
                |v| v.sort.as_str().to_owned(),
                |v, s| v.sort = s.parse().unwrap_or_default(),
            )}
            <noscript>
                <button class="button button--small" type="submit">"Apply"</button>
            </noscript>
        </form>
    }
}

#[component]
fn MigrationRow(
    row: PortfolioRow,
    now: DateTime<Utc>,
    sparkline: Option<SparklineData>,
) -> impl IntoView {
    let method = row.method_name();
    let href = format!("/migrations/{}", row.flag);
    view! {
        <tr class="migrations__row">
            <td class="migrations__health">
                <HealthDot health=row.health />
            </td>
            <td>
                <a class="flag" href=href>{row.flag.clone()}</a>
                <div class="method">{method}</div>
            </td>
            <td>
                {trial_timeline(&row)}
                <div class="muted">{stage_line(&row, now)}</div>
            </td>
            <td>
                <span class="migrations__label">"Now "</span>
                <ServingNow serving=row.serving status=row.status />
            </td>
            <td>
                <span class="migrations__label">"Next check "</span>
                {next_check(&row, now)}
            </td>
            <td class="migrations__errors">
                <ErrorRate sparkline />
            </td>
            <td>
                <span class="owner">{row.owner.clone()}</span>
            </td>
        </tr>
    }
    .into_any()
}

/// The error rate a sparkline's scale reaches at least: a fraction of a percent stays flat.
const ERROR_RATE_FLOOR: f64 = 0.02;

/// The row's error-rate sparkline; nothing for a migration that watches no environment.
#[component]
fn ErrorRate(sparkline: Option<SparklineData>) -> impl IntoView {
    let found = sparkline?;
    Some(match found.unavailable {
        Some(reason) => view! { <span class="muted" title=reason>"unavailable"</span> }.into_any(),
        None => view! {
            <Sparkline
                points=found.points
                unit=Unit::Ratio
                floor=ERROR_RATE_FLOOR
                label=format!("Error rate in {}, last 24 h", found.environment.label())
            />
        }
        .into_any(),
    })
}

/// The stage's name, and its soak: "Staging trial · soak 62 %, 6 min left".
fn stage_line(row: &PortfolioRow, now: DateTime<Utc>) -> impl IntoView + use<> {
    // A stopped trial's soak means nothing until it is resumed.
    let soak = row
        .soak
        .filter(|_| row.status != Status::Disabled)
        .map(|soak| {
            let percent = format!("{:.0}", (soak.progress * 100.0).round());
            view! { " · " <Ticking tick=Tick::Soak at=soak.ends_at now percent /> }
        });
    view! { {row.stage_name.clone()} {soak} }
}

/// The plan's trials as a row of chips: passed, current (with its soak bar), ahead.
fn trial_timeline(row: &PortfolioRow) -> impl IntoView + use<> {
    let soak = row.soak.map_or(1.0, |s| s.progress);
    view! {
        <ol class="trials" aria-label="Trials">
            {row
                .trials
                .iter()
                .cloned()
                .map(|mark| {
                    let class = match mark.place {
                        Place::Passed => "trial trial--passed",
                        Place::Current => "trial trial--current",
                        Place::Ahead => "trial",
                    };
                    let current = mark.place == Place::Current;
                    // A <progress>, not a styled width: the page's CSP allows no inline styles.
                    let percent = format!("{:.0}", soak * 100.0);
                    view! {
                        <li class=class aria-current=current.then_some("step")>
                            {mark.label}
                            {current
                                .then(|| {
                                    view! {
                                        <progress class="trial__soak" max="100" value=percent aria-hidden="true"></progress>
                                    }
                                })}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}

/// When the next look is due, in red once it is late; or why nothing is due.
fn next_check(row: &PortfolioRow, now: DateTime<Utc>) -> impl IntoView + use<> {
    let note = match (row.ready_to_advance, row.flag_change_pending) {
        (_, true) => Some("flag change to confirm"),
        (true, false) => Some("ready to advance"),
        _ => None,
    };
    let due = match row.status {
        Status::Paused => view! { <span class="next next--held">"paused"</span> }.into_any(),
        Status::Disabled => view! { <span class="next next--bad">"disabled"</span> }.into_any(),
        _ => view! { <CheckClock due=row.next_check now /> }.into_any(),
    };
    view! {
        {due}
        {note.map(|note| view! { <div class="muted">{note}</div> })}
    }
}

#[component]
fn EmptyPortfolio() -> impl IntoView {
    view! {
        <section class="empty">
            <h2>"No migrations in flight"</h2>
            // Seen by everyone who looks in the same second, whatever they may do: the way to
            // add one is the page's "New migration", shown to those who may.
            <p>
                "Nothing is rolling out right now. A migration added with its feature flag, gRPC method and required versions appears here, ready to start at Preparation."
            </p>
        </section>
    }
}
