//! An audit trail: who did what, when, newest first.

use leptos::prelude::*;

use crate::api::migration::AuditRow;
use crate::components::time::When;

#[component]
pub fn AuditTrail(
    entries: Vec<AuditRow>,
    /// Show each entry's subject (the whole log), or not (one migration's own trail).
    #[prop(optional)]
    with_subject: bool,
) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted">"Nothing recorded yet."</p> }.into_any();
    }
    view! {
        <ol class="audit">
            {entries
                .into_iter()
                .map(|entry| {
                    view! {
                        <li class="audit__entry">
                            <span class="audit__what">
                                <strong>{entry.actor}</strong>
                                " "
                                {entry.summary}
                                {with_subject.then(|| view! { <span class="muted">{format!(" · {}", entry.subject)}</span> })}
                            </span>
                            <span class="audit__when">
                                <When at=entry.at />
                            </span>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}
