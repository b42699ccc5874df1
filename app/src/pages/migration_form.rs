//! `/migrations/new` and `/migrations/:flag/edit`: the template's Details and Preparation fields
//! and the plan's production steps. Each field's error shows beside it; nothing is saved while any
//! field is wrong.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use rollout::{Permission, Role};

use crate::api::migration_form::{
    CreateMigration, EditableMigration, MigrationForm, UpdateMigration, get_migration_form,
};
use crate::api::session::page_viewer;
use crate::components::island_form::SentForm;
use crate::components::region::failed_form;
use crate::components::status::{ErrorNotice, ErrorPanel, Loading, sentence};
use crate::error::AppError;

#[component]
pub fn NewMigrationPage() -> impl IntoView {
    let viewer = page_viewer();
    let body = match viewer {
        Some(user) if !user.may(Permission::EditMigrations) => view! {
            <p class="notice">
                {format!(
                    "Adding a migration takes the {} or {} role; you have {}. An admin gives roles on the Users page.",
                    Role::Engineer.label(),
                    Role::ReleaseManager.label(),
                    user.roles_label(),
                )}
            </p>
        }
        .into_any(),
        _ => view! {
            <p class="muted">
                "The fields of the acceptance-testing template's Details and Preparation. It is added not started; start it from its page."
            </p>
            <NewForm failed=failed_form(Some(CreateMigration::PATH)) />
        }
        .into_any(),
    };
    view! {
        <Title text="New migration" />
        <h1>"New migration"</h1>
        {body}
    }
}

/// An island: each field's error shows beside it, and what was typed stays. `failed`: the error
/// of a sending without JavaScript, which came back to this page.
#[island]
fn NewForm(failed: Option<AppError>) -> impl IntoView {
    let sent = SentForm::<()>::failed_before(failed);
    view! {
        <form
            class="migration-form"
            method="post"
            action=CreateMigration::url()
            novalidate
            on:submit=sent.on_submit()
        >
            <Fields form=MigrationForm::default() editing=false result=sent.answer.into() />
            <button class="button button--primary" type="submit" disabled=sent.pending>
                "Add migration"
            </button>
        </form>
    }
}

#[component]
pub fn EditMigrationPage() -> impl IntoView {
    let params = use_params_map();
    let flag = move || params.read().get("flag").unwrap_or_default();
    let saved = Resource::new(flag, get_migration_form);
    view! {
        <Title text=move || format!("Edit {}", flag()) />
        <h1>"Edit " <span class="flag">{flag}</span></h1>
        <Suspense fallback=|| view! { <Loading what="the migration" /> }>
            <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                {move || Suspend::new(async move {
                    saved.await.map(|saved| {
                        view! { <EditForm saved failed=failed_form(Some(UpdateMigration::PATH)) /> }
                    })
                })}
            </ErrorBoundary>
        </Suspense>
    }
}

/// An island, as [`NewForm`]; a save refused as stale says who changed it, and what was typed
/// stays.
#[island]
fn EditForm(saved: EditableMigration, failed: Option<AppError>) -> impl IntoView {
    let sent = SentForm::<()>::failed_before(failed);
    let flag = saved.form.feature_flag.clone();
    view! {
        <form
            class="migration-form"
            method="post"
            action=UpdateMigration::url()
            novalidate
            on:submit=sent.on_submit()
        >
            <input type="hidden" name="flag" value=flag.clone() />
            <input type="hidden" name="version" value=saved.version />
            <Fields form=saved.form editing=true result=sent.answer.into() />
            <div class="migration-form__buttons">
                <button class="button button--primary" type="submit" disabled=sent.pending>
                    "Save changes"
                </button>
                <a class="button" href=format!("/migrations/{flag}")>"Cancel"</a>
            </div>
        </form>
    }
}

/// The form's inputs, with the last save's errors beside them (and any error that belongs to no
/// field above them).
#[component]
fn Fields(
    form: MigrationForm,
    /// The flag names the migration: shown, not editable, when editing.
    editing: bool,
    result: Signal<Option<Result<(), AppError>>>,
) -> impl IntoView {
    let errors = move || -> BTreeMap<String, String> {
        match result.get() {
            Some(Err(AppError::Validation { fields })) => fields,
            _ => BTreeMap::new(),
        }
    };
    let general = move || match result.get() {
        Some(Err(AppError::Validation { .. })) | Some(Ok(())) | None => None,
        Some(Err(error)) => Some(view! { <ErrorNotice message=sentence(&error.to_string()) /> }),
    };
    let field =
        move |name: &'static str, label: &'static str, hint: &'static str, value: String| {
            let id = format!("field-{name}");
            let error_id = format!("{id}-error");
            let error = move || errors().get(name).cloned();
            let described = error_id.clone();
            view! {
                <div class="field" class:field--invalid=move || error().is_some()>
                    <label class="field__label" for=id.clone()>{label}</label>
                    <input
                        class="field__input"
                        id=id
                        name=format!("form[{name}]")
                        value=value
                        aria-invalid=move || error().map(|_| "true")
                        aria-describedby=move || error().map(|_| described.clone())
                    />
                    <span class="field__hint">{hint}</span>
                    <span class="field__error" id=error_id role="alert">
                        {move || error().map(|e| sentence(&e))}
                    </span>
                </div>
            }
        };
    let routes_error = move || errors().get("routes").cloned();
    view! {
        {general}
        {if editing {
            view! {
                <p class="field">
                    <span class="field__label">"Feature flag"</span>
                    <code>{form.feature_flag.clone()}</code>
                </p>
            }
                .into_any()
        } else {
            field("feature_flag", "Feature flag", "gitaly_ and lowercase words, e.g. gitaly_find_commit_v2", form.feature_flag.clone())
                .into_any()
        }}
        {field("grpc_method", "gRPC method", "Service::Method, e.g. CommitService::FindCommit", form.grpc_method.clone())}
        {field("gitaly_version", "Required Gitaly version", "e.g. v16.3.2", form.gitaly_version.clone())}
        {field("gitlab_version", "Required GitLab version", "e.g. v16.3", form.gitlab_version.clone())}
        {field("acceptance_issue", "Acceptance issue", "its URL, e.g. https://gitlab.com/gitlab-org/gitaly/-/issues/1234", form.acceptance_issue.clone())}
        {field("conversation", "Conversation issue", "e.g. #567", form.conversation.clone())}
        <div class="field" class:field--invalid=move || routes_error().is_some()>
            <label class="field__label" for="field-routes">"Routes"</label>
            <textarea
                class="field__input"
                id="field-routes"
                name="form[routes]"
                rows="4"
                aria-invalid=move || routes_error().map(|_| "true")
            >
                {form.routes.clone()}
            </textarea>
            <span class="field__hint">"Routes known to use this endpoint, one per line (Preparation)."</span>
            <span class="field__error" role="alert">{move || routes_error().map(|e| sentence(&e))}</span>
        </div>
        {field("owner", "Owner", "the engineer who answers for it; you, when blank", form.owner.clone())}
        {field(
            "production_steps",
            "Production steps",
            "percentages in order; blank for the template's 1, 5, 50, 100",
            form.production_steps.clone(),
        )}
    }
}
