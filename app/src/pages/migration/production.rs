//! The migration page's production controls: asking for the next percentage, a release
//! manager's approval (by typing the flag's name) or rejection, ending a soak early, and the
//! kill switch and the review of each kill.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::VersionFields;
use crate::api::migration::{
    ApproveProductionChange, KillView, NextProduction, OverrideSoak, ProductionRequestView,
    RejectProductionChange, RequestProductionChange, ReviewKill, VersionsNeeded, ViewerRights,
};
use crate::components::time::Ago;

/// The form that asks a release manager for the next production percentage.
#[component]
pub fn RequestForm(
    next: NextProduction,
    versions: Option<VersionsNeeded>,
    flag: String,
    version: i64,
) -> impl IntoView {
    view! {
        <form method="post" action=RequestProductionChange::url() class="advance__form request">
            <input type="hidden" name="flag" value=flag />
            <input type="hidden" name="version" value=version />
            <label class="field">
                <span class="field__label">"Why now"</span>
                <textarea
                    class="field__input"
                    name="reason"
                    required
                    maxlength="1000"
                    rows="2"
                    placeholder="Error rate and latency flat at this percentage; no new Sentry issues"
                ></textarea>
            </label>
            {next
                .infrastructure_issue
                .clone()
                .map(|create| {
                    view! {
                        <label class="field">
                            <span class="field__label">"Infrastructure issue"</span>
                            <input
                                class="field__input"
                                name="infrastructure_issue"
                                type="url"
                                required
                                placeholder="https://gitlab.com/gitlab-com/gl-infra/production/-/issues/17001"
                            />
                            <span class="field__hint">
                                "Production starts only with the issue that tells infrastructure about it: "
                                <a href=create.url>{create.label}</a>
                            </span>
                        </label>
                    }
                })}
            {versions.map(|needed| view! { <VersionFields needed /> })}
            <button class="button button--primary" type="submit">
                {format!("Ask a release manager for {} %", next.percent)}
            </button>
        </form>
    }
}

/// The production change asked for: its evidence, and the release manager's two answers.
#[component]
pub fn RequestCard(
    request: ProductionRequestView,
    viewer: ViewerRights,
    flag: String,
    version: i64,
    now: DateTime<Utc>,
) -> impl IntoView {
    let percent = request.percent;
    let evidence = if request.outstanding.is_empty() {
        view! { <li>"Soak, checks and “Continue?” were all done when it was asked for."</li> }
            .into_any()
    } else {
        request
            .outstanding
            .iter()
            .map(|o| view! { <li class="request__outstanding">{format!("Still open then: {o}")}</li> })
            .collect_view()
            .into_any()
    };
    let answer = match (&request.approved_by, viewer.approve) {
        (Some(by), _) => view! {
            <p class="request__approved">
                {format!("Approved by {by} ")}
                {request.approved_at.map(|at| view! { <Ago at now /> })}
                "."
            </p>
        }
        .into_any(),
        (None, true) => view! { <Approve flag percent version /> }.into_any(),
        (None, false) => view! {
            <p class="muted">
                {format!(
                    "Waiting for a release manager other than {} to approve it.",
                    request.requested_by,
                )}
            </p>
        }
        .into_any(),
    };
    view! {
        <div class="request" aria-label="Production change request">
            <h3 class="request__title">
                {format!("{} asked for {} % ({}) ", request.requested_by, percent, request.stage)}
                <Ago at=request.requested_at now />
            </h3>
            <blockquote class="request__reason">{request.reason.clone()}</blockquote>
            <ul class="request__evidence">
                {evidence}
                {request.deployed.clone().map(|d| view! { <li>{format!("Deployed: {d}.")}</li> })}
                {request
                    .infrastructure_issue
                    .clone()
                    .map(|url| {
                        view! {
                            <li>
                                "Infrastructure issue: " <a href=url.clone()>{url.clone()}</a>
                            </li>
                        }
                    })}
            </ul>
            {answer}
        </div>
    }
}

#[component]
fn Approve(flag: String, percent: u8, version: i64) -> impl IntoView {
    let hint = format!("Type {flag} to approve {percent} % in production");
    let pattern = regex_literal(&flag);
    let reject_flag = flag.clone();
    view! {
        <form method="post" action=ApproveProductionChange::url() class="request__approve">
            <input type="hidden" name="flag" value=flag />
            <input type="hidden" name="version" value=version />
            <label class="field">
                <span class="field__label">{hint}</span>
                <input
                    class="field__input"
                    name="typed_flag"
                    required
                    autocomplete="off"
                    spellcheck="false"
                    pattern=pattern
                />
            </label>
            <button class="button button--primary" type="submit">
                {format!("Approve {percent} %")}
            </button>
        </form>
        <form method="post" action=RejectProductionChange::url() class="request__reject">
            <input type="hidden" name="flag" value=reject_flag />
            <input type="hidden" name="version" value=version />
            <ReasonField label="Or reject it, saying why" />
            <button class="button" type="submit">"Reject"</button>
        </form>
    }
}

/// `text` as a pattern that matches only itself (flag names are letters, digits and `_`).
fn regex_literal(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// A release manager lets the stage end before its soak.
#[component]
pub fn OverrideSoakForm(flag: String, version: i64) -> impl IntoView {
    view! {
        <details class="override">
            <summary>"End the soak early (release manager)"</summary>
            <form method="post" action=OverrideSoak::url() class="override__form">
                <input type="hidden" name="flag" value=flag />
                <input type="hidden" name="version" value=version />
                <ReasonField label="Why it has been watched enough" />
                <button class="button" type="submit">"End the soak now"</button>
            </form>
        </details>
    }
}

/// The kill switch: behind a disclosure, with a reason, so it is one deliberate action.
#[component]
pub fn KillSwitch(flag: String) -> impl IntoView {
    view! {
        <details class="kill">
            <summary class="button button--danger">"Kill switch"</summary>
            <form method="post" action=crate::api::migration::KillSwitch::url() class="kill__form">
                <input type="hidden" name="flag" value=flag />
                <ReasonField label="Why (for the review)" placeholder="Error rate 4 % on the new path" />
                <label class="checkbox">
                    <input type="checkbox" name="everywhere" value="on" />
                    " In every environment, not only where the trial runs"
                </label>
                <button class="button button--danger" type="submit">"Disable the flag now"</button>
            </form>
        </details>
    }
    // Erased: the page's head would otherwise be a type too deep for the compiler.
    .into_any()
}

/// Every kill of the migration, and its review: a release manager's afterwards.
#[component]
pub fn Kills(
    kills: Vec<KillView>,
    flag: String,
    may_review: bool,
    now: DateTime<Utc>,
) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="kills">
            <h2 class="panel__title" id="kills">"Kills"</h2>
            <ul class="kills">
                {kills
                    .into_iter()
                    .map(|kill| {
                        let places: Vec<&str> = kill.environments.iter().map(|e| e.label()).collect();
                        let flag = flag.clone();
                        let review = match kill.review.clone() {
                            Some(review) => view! {
                                <p class="kills__review">
                                    {format!("Reviewed by {} ", review.by)} <Ago at=review.at now />
                                    {format!(": {}", review.note)}
                                </p>
                            }
                            .into_any(),
                            None if may_review => view! {
                                <form method="post" action=ReviewKill::url() class="kills__form">
                                    <input type="hidden" name="flag" value=flag />
                                    <input type="hidden" name="kill" value=kill.id />
                                    <label class="field">
                                        <span class="field__label">"Review: was it right, and what follows?"</span>
                                        <input class="field__input" name="note" required maxlength="1000" />
                                    </label>
                                    <button class="button button--small" type="submit">"Mark reviewed"</button>
                                </form>
                            }
                            .into_any(),
                            None => view! {
                                <p class="kills__review kills__review--due">"Waiting for a release manager's review."</p>
                            }
                            .into_any(),
                        };
                        view! {
                            <li class="kills__item">
                                <p>
                                    <strong>{format!("{} turned it off in {} ", kill.by, places.join(", "))}</strong>
                                    <Ago at=kill.at now />
                                    {kill.reason.map(|reason| format!(": {reason}"))}
                                </p>
                                {review}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

/// The reason a decision needs: required, one line.
#[component]
fn ReasonField(label: &'static str, #[prop(optional)] placeholder: &'static str) -> impl IntoView {
    view! {
        <label class="field">
            <span class="field__label">{label}</span>
            <input class="field__input" name="reason" required maxlength="500" placeholder=placeholder />
        </label>
    }
}
