//! `/migrations/:flag`: one migration — its Details, its stage timeline, the current stage's
//! checklist and clock, "Continue?", advancing, the flag changes to run, and its audit trail.
//! Every action is a form that works without JavaScript; with it, the page reads the migration
//! again after each one.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use rollout::{CheckOutcome, Status};

mod flag_changes;
mod guardrail;
mod observe;
mod production;

use flag_changes::FlagChanges;
use guardrail::GuardrailPanel;
use observe::ObservePanels;
use production::{KillSwitch, Kills, OverrideSoakForm, RequestCard, RequestForm};

use crate::api::migration::{
    AdvanceStage, CompleteMigration, CurrentStage, Decide, FlagDrift, MigrationDetail,
    PauseMigration, RecordCheckIn, ResumeMigration, StartMigration, VersionsNeeded, ViewerRights,
    get_migration,
};
use crate::api::panels::{ChartWindow, Panels, migration_panels};
use crate::components::audit::AuditTrail;
use crate::components::change_lock::ChangeLockBanner;
use crate::components::region::Region;
use crate::components::rollout::{CheckClock, CopyButton, HealthDot, ServingNow};
use crate::components::status::{ErrorPanel, Loading, sentence};
use crate::components::time::{Ago, When};
use crate::components::timeline::StageTimeline;
use crate::error::AppError;

#[component]
pub fn MigrationPage() -> impl IntoView {
    let params = use_params_map();
    let flag = move || params.read().get("flag").unwrap_or_default();
    let query = use_query_map();
    let window = Signal::derive(move || {
        ChartWindow::from_key(&query.read().get("window").unwrap_or_default())
    });
    // Blocking: the response waits for the migration before its first byte, so an unknown one
    // is answered with 404 (the panels after it stream in order, and block nothing).
    let detail = Resource::new_blocking(flag, get_migration);
    let panels = Resource::new(
        move || (flag(), window.get()),
        |(flag, window)| migration_panels(flag, window),
    );

    view! {
        <Title text=flag />
        // A Transition: after an action the page stays as it was until the new state arrives.
        <Transition fallback=|| view! { <Loading what="the migration" /> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                {move || Suspend::new(async move {
                    detail.await.map(|detail| {
                        // Changed elsewhere (another person, Rampart's workers, the guardrail):
                        // the browser reads it again.
                        view! {
                            // Every minute too: the charts and counts move on their own.
                            <Region
                                id="migration"
                                live=detail.flag.clone()
                                now=detail.as_of
                                every=60u32
                            >
                                <MigrationView detail panels window />
                            </Region>
                        }
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn MigrationView(
    detail: MigrationDetail,
    panels: Resource<Result<Panels, AppError>>,
    window: Signal<ChartWindow>,
) -> impl IntoView {
    let now = detail.as_of;
    let flag = detail.flag.clone();
    let version = detail.version;
    // Erased in parts: the page's whole view type would outgrow the compiler's limits.
    let head = view! {
        <header class="detail-head">
            <div>
                <div class="detail-head__title">
                    <HealthDot health=detail.health />
                    <h1 class="flag">{detail.flag.clone()}</h1>
                </div>
                <p class="detail-head__sub">
                    <span class="method">{detail.method_name()}</span>
                    {format!(
                        " · requires Gitaly {}, GitLab {} · owner {} · ",
                        detail.gitaly_version,
                        detail.gitlab_version,
                        detail.owner,
                    )}
                    <ServingNow serving=detail.serving status=detail.status />
                </p>
                <p class="detail-head__links">
                    {detail
                        .links
                        .iter()
                        .map(|link| view! { <a href=link.url.clone()>{link.label.clone()}</a> })
                        .collect_view()}
                </p>
            </div>
            <div class="detail-head__actions">
                {detail
                    .viewer
                    .edit
                    .then(|| {
                        view! {
                            <a class="button" href=format!("/migrations/{flag}/edit")>
                                "Edit"
                            </a>
                        }
                    })}
                {detail
                    .viewer
                    .act
                    .then(|| view! { <StatusActions flag=flag.clone() version status=detail.status /> })}
                // Also once killed: a second kill widens it to every environment, or turns off
                // a flag someone enabled again by hand.
                {(matches!(detail.status, Status::Active | Status::Paused | Status::Disabled)
                    && detail.viewer.act)
                    .then(|| view! { <KillSwitch flag=flag.clone() /> })}
            </div>
        </header>
    }
    .into_any();
    let body = view! {
        <div class="detail-body">
            <div class="detail-body__main">
                {match detail.current.clone() {
                    Some(current) => {
                        view! {
                            <CurrentStagePanel
                                current
                                flag=flag.clone()
                                version
                                status=detail.status
                                viewer=detail.viewer
                                now
                            />
                        }
                            .into_any()
                    }
                    None => {
                        view! {
                            <section class="panel">
                                <h2 class="panel__title">"Not started"</h2>
                                <p>
                                    "Start the migration to enter its first stage, Preparation, and list the routes that use the method."
                                </p>
                            </section>
                        }
                            .into_any()
                    }
                }}
                <Details detail=detail.clone() />
                <details class="panel issue-text">
                    <summary class="panel__title">"Acceptance issue text"</summary>
                    <p class="muted">
                        "The acceptance-testing template filled in for this migration and its plan: paste it into a new issue, labelled as its last line says."
                    </p>
                    <div class="issue-text__box">
                        <pre class="issue-text__body" tabindex="0">{detail.acceptance_issue_text.clone()}</pre>
                        <CopyButton text=detail.acceptance_issue_text.clone() />
                    </div>
                </details>
            </div>
            <aside class="detail-body__side">
                <FlagChanges
                    pending=detail.pending_changes.clone()
                    // A held migration changes no flag by going on: resuming decides what comes.
                    next=detail
                        .current
                        .as_ref()
                        .filter(|_| matches!(detail.status, Status::Active | Status::Paused))
                        .and_then(|c| c.next_flag_change.clone())
                    flag=flag.clone()
                    may_act=detail.viewer.act
                    now
                />
                <GuardrailPanel
                    view=detail.guardrail.clone()
                    flag=flag.clone()
                    may_switch=detail.viewer.override_soak
                />
                {(!detail.kills.is_empty())
                    .then(|| {
                        view! {
                            <Kills
                                kills=detail.kills.clone()
                                flag=flag.clone()
                                may_review=detail.viewer.override_soak
                                now
                            />
                        }
                    })}
                <section class="panel">
                    <h2 class="panel__title">"Audit trail"</h2>
                    <AuditTrail entries=detail.audit.clone() />
                    <a class="panel__more" href=format!("/audit?migration={}", detail.flag)>
                        "Full audit trail"
                    </a>
                </section>
            </aside>
        </div>
    }
    .into_any();
    view! {
        {head}
        <ChangeLockBanner />
        <DriftWarnings drift=detail.drift.clone() now />
        <StageTimeline stages=detail.stages.clone() now />
        {body}
        // Last on the page: it streams in order, so nothing waits for the panels' sources.
        <ObservePanels panels window />
    }
}

/// Flags found otherwise than Rampart set them, or that could not be read.
#[component]
fn DriftWarnings(drift: Vec<FlagDrift>, now: DateTime<Utc>) -> impl IntoView {
    drift
        .into_iter()
        .map(|d| {
            let place = d.environment.label();
            let what = match (&d.observed, &d.error) {
                (Some(observed), _) => format!(
                    "Drift in {place}: the flag is {observed} there, but Rampart set it {}. Someone changed it outside Rampart: set it back, or use the kill switch.",
                    d.expected,
                ),
                (None, error) => format!(
                    "Rampart could not read the flag in {place}: {}",
                    error.as_deref().unwrap_or("no answer"),
                ),
            };
            view! {
                <p class="notice notice--warning drift" role="status">
                    {what} <span class="muted">" Read " <Ago at=d.observed_at now /> "."</span>
                </p>
            }
        })
        .collect_view()
}

/// Start, pause, resume or complete: what the status allows now.
#[component]
fn StatusActions(flag: String, version: i64, status: Status) -> impl IntoView {
    let hidden = move || {
        view! {
            <input type="hidden" name="flag" value=flag.clone() />
            <input type="hidden" name="version" value=version />
        }
    };
    match status {
        Status::NotStarted => view! {
            <form method="post" action=StartMigration::url()>
                {hidden()}
                <button class="button button--primary" type="submit">"Start"</button>
            </form>
        }
        .into_any(),
        Status::Active => view! {
            <form method="post" action=PauseMigration::url()>
                {hidden()}
                <button class="button" type="submit">"Pause"</button>
            </form>
        }
        .into_any(),
        Status::Paused => view! {
            <form method="post" action=ResumeMigration::url()>
                {hidden()}
                <button class="button button--primary" type="submit">"Resume"</button>
            </form>
        }
        .into_any(),
        Status::Disabled | Status::Completed => ().into_any(),
    }
}

#[component]
fn CurrentStagePanel(
    current: CurrentStage,
    flag: String,
    version: i64,
    status: Status,
    viewer: ViewerRights,
    now: DateTime<Utc>,
) -> impl IntoView {
    let running = matches!(status, Status::Active | Status::Paused);
    let checklist = current
        .checklist
        .iter()
        .map(|row| {
            let flag = flag.clone();
            let done = row.done.clone();
            let is_done = done.is_some();
            let label = match &row.link {
                Some(link) => view! { <a href=link.url.clone()>{row.label.clone()}</a> }.into_any(),
                None => view! { <span>{row.label.clone()}</span> }.into_any(),
            };
            view! {
                <li class="checklist__item" class:checklist__item--done=is_done>
                    <span class="checklist__mark" aria-hidden="true">
                        {if is_done { "✔" } else { "○" }}
                    </span>
                    <span class="checklist__label">{label}</span>
                    {match done {
                        Some(check) => view! {
                            <span class="checklist__who">
                                {check.by} " · " <Ago at=check.at now />
                            </span>
                        }
                        .into_any(),
                        None if running && viewer.act => view! {
                            <form method="post" action=RecordCheckIn::url() class="checklist__action">
                                <input type="hidden" name="flag" value=flag />
                                <input type="hidden" name="item" value=row.item.key() />
                                <button class="button button--small" type="submit">
                                    "Checked"
                                    <span class="visually-hidden">{format!(": {}", row.label)}</span>
                                </button>
                            </form>
                        }
                        .into_any(),
                        None => ().into_any(),
                    }}
                </li>
            }
        })
        .collect_view();
    let due = current.next_check;
    let look_flag = flag.clone();
    // A stopped trial's soak and checks mean nothing until it is resumed.
    let soak = current.soak.filter(|_| running).map(|soak| {
        let percent = format!("{:.0}", soak.progress * 100.0);
        view! {
            <div class="soak">
                <progress class="soak__bar" max="100" value=percent.clone() aria-label="Soak"></progress>
                <span class="muted">
                    {format!("Soak {percent} % · ends ")} <When at=soak.ends_at />
                </span>
            </div>
        }
    });
    view! {
        <section class="panel" aria-labelledby="current-stage">
            <h2 class="panel__title" id="current-stage">
                {current.name.clone()}
                <span class="muted">{format!(" · {}", current.cadence)}</span>
            </h2>
            <p class="muted">"Since " <When at=current.started_at /></p>
            {soak}
            {running
                .then(|| {
                    view! {
                    <div class="clock">
                        <span>"Next check: " <CheckClock due now /></span>
                        {(viewer.act && due.is_some_and(|d| d.can_be_late))
                            .then(|| {
                                view! {
                                    // A look at the dashboards counts for the cadence; the checklist
                                    // records each only once.
                                    <form method="post" action=RecordCheckIn::url() class="clock__look">
                                        <input type="hidden" name="flag" value=look_flag />
                                        <input type="hidden" name="item" value="grafana_checked" />
                                        <button class="button button--small" type="submit">
                                            "I looked at the dashboards"
                                        </button>
                                    </form>
                                }
                            })}
                    </div>
                    }
                })}
            <ul class="checklist">{checklist}</ul>
            {current
                .decision_question
                .clone()
                .filter(|_| running)
                .map(|question| {
                    view! {
                        <DecisionForm
                            question
                            decision=current.decision.clone()
                            may_answer=viewer.act
                            flag=flag.clone()
                            version
                            now
                        />
                    }
                })}
            <AdvancePanel current=current.clone() flag=flag.clone() version status viewer now />
        </section>
    }
}

#[component]
fn DecisionForm(
    question: String,
    decision: Option<crate::api::migration::CheckInView>,
    /// An engineer or a release manager: the answer is theirs to give.
    may_answer: bool,
    flag: String,
    version: i64,
    now: DateTime<Utc>,
) -> impl IntoView {
    let unanswered = decision.is_none() && !may_answer;
    let answered = decision.map(|d| {
        let answer = match d.outcome {
            CheckOutcome::Stop => "stop",
            _ => "continue",
        };
        view! {
            <p class="muted">
                {format!("Answered {answer} by {} ", d.by)} <Ago at=d.at now />
                {d.note.map(|note| format!(": {note}"))}
            </p>
        }
    });
    view! {
        <div class="decision">
            <h3 class="decision__question">{question.clone()}</h3>
            {answered}
            {unanswered.then(|| view! { <p class="muted">"Not answered yet."</p> })}
            {may_answer.then(|| view! {
            <form method="post" action=Decide::url() class="decision__form">
                <input type="hidden" name="flag" value=flag />
                <input type="hidden" name="version" value=version />
                <label class="field">
                    <span class="field__label">"Why (optional)"</span>
                    <input class="field__input" name="reason" maxlength="500" />
                </label>
                <div class="decision__buttons">
                    <button class="button button--primary" type="submit" name="decision" value="continue">
                        "Continue"
                    </button>
                    <button class="button button--danger" type="submit" name="decision" value="stop">
                        "Stop: disable the flag"
                    </button>
                </div>
            </form>
            })}
        </div>
    }
}

/// What keeps the stage, in the domain's words; and the way on: the advance form, or for a
/// production step the request, its approval, then the advance.
#[component]
fn AdvancePanel(
    current: CurrentStage,
    flag: String,
    version: i64,
    status: Status,
    viewer: ViewerRights,
    now: DateTime<Utc>,
) -> impl IntoView {
    let Some(next) = current.next_stage.clone() else {
        return match status {
            Status::Active
                if viewer.act && current.blockers.iter().all(|b| b.code == "no_next_stage") =>
            {
                view! {
                <form method="post" action=CompleteMigration::url() class="advance">
                    <input type="hidden" name="flag" value=flag />
                    <input type="hidden" name="version" value=version />
                    <button class="button button--primary" type="submit">"Complete the migration"</button>
                </form>
                }
                .into_any()
            }
            _ => ().into_any(),
        };
    };
    let blockers = current.blockers.clone();
    let blocked = !blockers.is_empty();
    let running = matches!(status, Status::Active | Status::Paused);
    let soak_holds = blockers.iter().any(|b| b.code == "soak_not_watched");
    // A request made before the migration was edited is void: ask again.
    let void = blockers.iter().any(|b| b.code == "request_outdated");
    let request = current.production_request.clone().filter(|_| !void);
    let approved = request.as_ref().is_some_and(|r| r.approved_by.is_some());
    let (title, form_flag, card_flag) = (format!("Next: {next}"), flag.clone(), flag.clone());
    // Into production: ask first; once approved, the advance is the last step.
    let way_on = match (current.next_production.clone(), request) {
        (Some(production), None) if running && viewer.act => view! {
            <RequestForm
                next=production
                versions=current.versions_needed.clone()
                flag=flag.clone()
                version
            />
        }
        .into_any(),
        (_, Some(request)) if !approved => view! {
            <RequestCard request viewer flag=flag.clone() version now />
        }
        .into_any(),
        (_, request) if running && viewer.act => view! {
            {request.map(|request| view! { <RequestCard request viewer flag=card_flag version now /> })}
            <form method="post" action=AdvanceStage::url() class="advance__form">
                <input type="hidden" name="flag" value=form_flag />
                <input type="hidden" name="version" value=version />
                {current.versions_needed.clone().map(|needed| view! { <VersionFields needed /> })}
                // Not disabled when blocked: pressing it says why, in the domain's words.
                <button class="button" class:button--primary=!blocked type="submit">
                    {format!("Advance to {next}")}
                </button>
            </form>
        }
        .into_any(),
        _ => ().into_any(),
    };
    view! {
        <div class="advance">
            <h3 class="advance__title">{title}</h3>
            {blocked
                .then(|| {
                    view! {
                        <ul class="blockers" aria-label="What keeps this stage">
                            {blockers
                                .into_iter()
                                .map(|b| {
                                    view! {
                                        <li class="blockers__item" data-code=b.code>
                                            {sentence(&b.message)}
                                        </li>
                                    }
                                })
                                .collect_view()}
                        </ul>
                    }
                })}
            {(soak_holds && running && viewer.override_soak)
                .then(|| view! { <OverrideSoakForm flag=flag.clone() version /> })}
            {way_on}
        </div>
    }
    .into_any()
}

/// The versions deployed where the next stage runs, prefilled with what Rampart knows.
#[component]
fn VersionFields(needed: VersionsNeeded) -> impl IntoView {
    view! {
        <fieldset class="advance__versions">
            <legend>{format!("Versions deployed in {}", needed.environment.label())}</legend>
            <p class="field__hint advance__evidence">
                "Read them on "
                {needed
                    .evidence
                    .iter()
                    .enumerate()
                    .map(|(n, link)| {
                        view! {
                            {(n > 0).then_some(" and ")}
                            <a href=link.url.clone()>{link.label.clone()}</a>
                        }
                    })
                    .collect_view()}
            </p>
            <label class="field">
                <span class="field__label">"Gitaly"</span>
                <input
                    class="field__input"
                    name="gitaly_version"
                    value=needed.gitaly.unwrap_or_default()
                    placeholder="v18.6.1"
                />
            </label>
            <label class="field">
                <span class="field__label">"GitLab"</span>
                <input
                    class="field__input"
                    name="gitlab_version"
                    value=needed.gitlab.unwrap_or_default()
                    placeholder="18.6.1-ee"
                />
            </label>
        </fieldset>
    }
}

/// The template's Details and Preparation fields.
#[component]
fn Details(detail: MigrationDetail) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="details">
            <h2 class="panel__title" id="details">"Details"</h2>
            <dl class="details">
                <dt>"Feature flag"</dt>
                <dd><code>{detail.flag.clone()}</code></dd>
                <dt>"gRPC method"</dt>
                <dd><code>{detail.method_name()}</code></dd>
                <dt>"Required Gitaly version"</dt>
                <dd><code>{detail.gitaly_version.clone()}</code></dd>
                <dt>"Required GitLab version"</dt>
                <dd><code>{detail.gitlab_version.clone()}</code></dd>
                <dt>"Routes"</dt>
                <dd>
                    {if detail.routes.is_empty() {
                        view! { <span class="muted">"none listed yet"</span> }.into_any()
                    } else {
                        view! {
                            <ul class="routes">
                                {detail.routes.iter().map(|r| view! { <li><code>{r.clone()}</code></li> }).collect_view()}
                            </ul>
                        }
                            .into_any()
                    }}
                </dd>
                <dt>"Last change"</dt>
                <dd>{detail.updated_by.clone()} " · " <When at=detail.updated_at /></dd>
            </dl>
        </section>
    }
}
