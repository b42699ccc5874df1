//! `/`: every migration in flight, narrowed by a filter as you type.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::migrations::{MigrationSummary, list_migrations};
use crate::components::status::{ErrorPanel, Loading};

#[component]
pub fn PortfolioPage() -> impl IntoView {
    let migrations = Resource::new(|| (), |_| list_migrations());
    let filter = RwSignal::new(String::new());

    view! {
        <Title text="In flight" />
        <h1>"In-flight migrations"</h1>
        <div class="toolbar">
            <input
                type="search"
                class="toolbar__filter"
                placeholder="Filter by flag or Service::Method"
                aria-label="Filter migrations by flag or Service::Method"
                prop:value=filter
                on:input=move |event| filter.set(event_target_value(&event))
            />
        </div>
        <Suspense fallback=|| view! { <Loading what="migrations" /> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                {move || Suspend::new(async move {
                    migrations.await.map(|rows| view! { <MigrationTable rows filter /> })
                })}
            </ErrorBoundary>
        </Suspense>
    }
}

#[component]
fn MigrationTable(rows: Vec<MigrationSummary>, filter: RwSignal<String>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <EmptyPortfolio /> }.into_any();
    }
    let total = rows.len();
    // A plain Arc, not a StoredValue: views made inside a Suspend may still be rendering after the
    // Suspend's owner (and any arena value in it) has been disposed.
    let rows = Arc::new(rows);
    let shown = {
        let rows = Arc::clone(&rows);
        move || filter.with(|f| rows.iter().filter(|row| row.matches(f)).count())
    };
    let summary = {
        let shown = shown.clone();
        move || match shown() {
            n if n == total => format!("{total} in flight"),
            n => format!("{n} of {total} in flight match the filter"),
        }
    };
    let any_shown = move || shown() > 0;
    // No empty table header when nothing matches: the notice below says so instead.
    let table_hidden = {
        let any_shown = any_shown.clone();
        move || !any_shown()
    };

    view! {
        <p class="summary" aria-live="polite">
            {summary}
        </p>
        <table class="migrations" hidden=table_hidden>
            <thead>
                <tr>
                    <th scope="col">"Flag · method"</th>
                    <th scope="col">"Stage"</th>
                    <th scope="col">"Started"</th>
                </tr>
            </thead>
            <tbody>
                {rows.iter().cloned().map(|row| view! { <MigrationRow row filter /> }).collect_view()}
            </tbody>
        </table>
        <p class="notice" hidden=any_shown>
            "No migration matches this filter."
        </p>
    }
    .into_any()
}

#[component]
fn MigrationRow(row: MigrationSummary, filter: RwSignal<String>) -> impl IntoView {
    let hidden = {
        let row = row.clone();
        move || !filter.with(|f| row.matches(f))
    };
    view! {
        <tr class="migrations__row" hidden=hidden>
            <td>
                <span class="flag">{row.flag}</span>
                <div class="method">{row.grpc_method}</div>
            </td>
            <td>
                <span class="stage">{row.stage}</span>
                <div class="muted">
                    "since " <Timestamp at=row.stage_started_at />
                </div>
            </td>
            <td>
                <span class="migrations__label">"Started "</span>
                <Timestamp at=row.started_at />
            </td>
        </tr>
    }
}

/// An instant in UTC, the same text on the server and in the browser so hydration never disagrees.
#[component]
fn Timestamp(at: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    view! {
        <time datetime=at.to_rfc3339()>{at.format("%d %b %Y %H:%M UTC").to_string()}</time>
    }
}

#[component]
fn EmptyPortfolio() -> impl IntoView {
    view! {
        <section class="empty">
            <h2>"No migrations in flight"</h2>
            <p>
                "Nothing is rolling out right now. To add a migration, run Rampart's server binary with the same "
                <code>"DATABASE_URL"</code> " and give it the feature flag and the gRPC method:"
            </p>
            <pre><code>"server add-migration gitaly_find_commit_v2 CommitService::FindCommit"</code></pre>
            <p>"It then appears here at its first stage, Preparation."</p>
        </section>
    }
}
