//! The guardrail's panel on a migration's page: its latest verdict and why, what it did (or,
//! observing only, would have done), the queries behind it, and the switch between acting and
//! observing.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use rollout::guardrail::Verdict;

use crate::api::migration::{GuardrailEvaluation, GuardrailView, SetGuardrailMode};
use crate::components::time::When;

fn verdict_words(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Pass => ("clear", "guardrail__verdict--pass"),
        Verdict::Inconclusive => ("could not judge", "guardrail__verdict--unknown"),
        Verdict::Fail => ("regression", "guardrail__verdict--fail"),
    }
}

#[component]
fn Evaluation(evaluation: GuardrailEvaluation, heading: &'static str) -> impl IntoView {
    let (words, class) = verdict_words(evaluation.verdict);
    let streak = (evaluation.streak > 1)
        .then(|| format!(" · {} failing evaluations in a row", evaluation.streak));
    let signals = evaluation
        .signals
        .iter()
        .map(|signal| view! { <li>{signal.clone()}</li> })
        .collect_view();
    let queries = evaluation
        .queries
        .iter()
        .map(|(query, answer)| {
            view! {
                <li>
                    <code>{query.clone()}</code>
                    <span class="muted">{format!(" → {answer}")}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <div class="guardrail__evaluation">
            <p class="guardrail__line">
                <span class="muted">{heading}</span>
                " "
                <span class=format!("guardrail__verdict {class}")>{words}</span>
                <span class="muted">
                    " · " <When at=evaluation.at /> {streak}
                </span>
            </p>
            {evaluation
                .action
                .clone()
                .map(|action| view! { <p class="guardrail__action">{format!("It {action}.")}</p> })}
            <ul class="guardrail__signals" aria-label="Why">
                {signals}
            </ul>
            <details class="guardrail__queries">
                <summary>"Queries"</summary>
                <ul>{queries}</ul>
            </details>
        </div>
    }
}

#[component]
pub fn GuardrailPanel(
    view: GuardrailView,
    flag: String,
    /// A release manager may switch between acting and observing.
    may_switch: bool,
) -> impl IntoView {
    let mode = if view.observe_only {
        "Observe only: it judges and tells, and never acts."
    } else {
        "Acts: a regression found in enough evaluations in a row (as configured) disables the flag in production, or pauses a dev or staging trial."
    };
    let switch = may_switch.then(|| {
        let (label, value) = if view.observe_only {
            ("Let it act", "false")
        } else {
            ("Observe only", "true")
        };
        view! {
            <form method="post" action=SetGuardrailMode::url() class="guardrail__switch">
                <input type="hidden" name="flag" value=flag.clone() />
                <input type="hidden" name="observe_only" value=value />
                <button class="button button--small" type="submit">
                    {label}
                </button>
            </form>
        }
    });
    let latest = view.latest.clone().map_or_else(
        || {
            view! {
                <p class="muted">
                    "Not judged yet: the guardrail watches trials whose environment has metrics."
                </p>
            }
            .into_any()
        },
        |evaluation| view! { <Evaluation evaluation heading="Latest:" /> }.into_any(),
    );
    let acted = view
        .acted
        .clone()
        .map(|evaluation| view! { <Evaluation evaluation heading="Last acted:" /> });
    view! {
        <section class="panel guardrail" aria-labelledby="guardrail-title">
            <h2 class="panel__title" id="guardrail-title">
                "Guardrail"
            </h2>
            <p class="guardrail__mode">{mode}</p>
            {switch}
            {latest}
            {acted}
        </section>
    }
}
