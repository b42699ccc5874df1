//! `/audit`: every change Rampart recorded, filtered by migration, person, action and days, with
//! the same entries as CSV or JSON. The filter lives in the URL; without JavaScript it is a GET
//! form.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::audit::{AUDIT_LIMIT, AuditFilter, search_audit};
use crate::api::migration::AuditRow;
use crate::components::status::{ErrorPanel, Loading};
use crate::components::time::When;

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| query.with(|q| AuditFilter::from_query(|name| q.get(name))));
    let entries = Resource::new(move || filter.get(), search_audit);
    let export = move |format: &str| {
        let query = filter.get().to_query();
        if query.is_empty() {
            format!("/audit.{format}")
        } else {
            format!("/audit.{format}?{query}")
        }
    };
    let current = filter.get_untracked();
    view! {
        <Title text="Audit log" />
        <div class="page-head">
            <h1>"Audit log"</h1>
            <div class="page-head__actions">
                <a class="button" href=move || export("csv") download>"Download CSV"</a>
                <a class="button" href=move || export("json") download>"Download JSON"</a>
            </div>
        </div>
        <form class="toolbar" method="get" action="/audit" role="search">
            <label class="filter">
                <span class="filter__label">"Migration (flag)"</span>
                <input class="toolbar__filter" name="migration" value=current.migration />
            </label>
            <label class="filter">
                <span class="filter__label">"Who"</span>
                <input class="filter__select" name="actor" value=current.actor />
            </label>
            <label class="filter">
                <span class="filter__label">"Action"</span>
                <input class="filter__select" name="action" value=current.action placeholder="migration.advanced" />
            </label>
            <label class="filter">
                <span class="filter__label">"From"</span>
                <input class="filter__select" type="date" name="from" value=current.from />
            </label>
            <label class="filter">
                <span class="filter__label">"To"</span>
                <input class="filter__select" type="date" name="to" value=current.to />
            </label>
            <button class="button button--small" type="submit">"Filter"</button>
            <a class="button button--small" href="/audit">"Clear"</a>
        </form>
        <Suspense fallback=|| view! { <Loading what="the audit log" /> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                {move || Suspend::new(async move {
                    entries.await.map(|entries| view! { <AuditTable entries /> })
                })}
            </ErrorBoundary>
        </Suspense>
    }
}

#[component]
fn AuditTable(entries: Vec<AuditRow>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="notice">"No entry matches this filter."</p> }.into_any();
    }
    let more = (entries.len() as i64 >= AUDIT_LIMIT).then(|| {
        view! {
            <p class="notice">
                {format!("Showing the newest {AUDIT_LIMIT}; narrow the filter, or download them all.")}
            </p>
        }
    });
    view! {
        {more}
        <table class="audit-log">
            <thead>
                <tr>
                    <th scope="col">"When"</th>
                    <th scope="col">"Who"</th>
                    <th scope="col">"What"</th>
                    <th scope="col">"Action"</th>
                    <th scope="col">"About"</th>
                </tr>
            </thead>
            <tbody>
                {entries
                    .into_iter()
                    .map(|entry| {
                        view! {
                            <tr>
                                <td><When at=entry.at /></td>
                                <td>{entry.actor}</td>
                                <td>{entry.summary}</td>
                                <td><code>{entry.action}</code></td>
                                <td>{entry.subject}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
