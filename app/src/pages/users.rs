//! `/users`: who may use Rampart and with which roles. For admins; the server functions check.

use leptos::prelude::*;
use leptos_meta::Title;
use rollout::{Role, Roles};

use leptos::server_fn::ServerFn;

use crate::api::users::{
    CreateUser, CreatedUser, DeactivateUser, SetUserRoles, UserDirectory, UserSummary, list_users,
};
use crate::components::island_form::SentForm;
use crate::components::region::{Region, failed_form};
use crate::components::status::{ErrorNotice, ErrorPanel, Loading, sentence};
use crate::error::AppError;

#[component]
pub fn UsersPage() -> impl IntoView {
    let set_roles = ServerAction::<SetUserRoles>::new();
    let deactivate = ServerAction::<DeactivateUser>::new();
    let users = Resource::new(|| (), |_| list_users());

    view! {
        <Title text="Users" />
        <h1>"Users"</h1>
        <Region id="users">
            <Suspense fallback=|| view! { <Loading what="users" /> }>
                <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                    {move || Suspend::new(async move {
                        users
                            .await
                            .map(|directory| view! { <UserTable directory set_roles deactivate /> })
                    })}
                </ErrorBoundary>
            </Suspense>
        </Region>
        <NewUser failed=failed_form(Some(CreateUser::PATH)) />
    }
}

#[component]
fn UserTable(
    directory: UserDirectory,
    set_roles: ServerAction<SetUserRoles>,
    deactivate: ServerAction<DeactivateUser>,
) -> impl IntoView {
    view! {
        <table class="users">
            <thead>
                <tr>
                    <th scope="col">"User"</th>
                    <th scope="col">"Roles"</th>
                    <th scope="col">"Status"</th>
                </tr>
            </thead>
            <tbody>
                {directory
                    .users
                    .into_iter()
                    .map(|user| {
                        let you = user.id == directory.you;
                        view! { <UserRow user you set_roles deactivate /> }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn UserRow(
    user: UserSummary,
    /// The signed-in admin's own row: an admin cannot deactivate themselves.
    you: bool,
    set_roles: ServerAction<SetUserRoles>,
    deactivate: ServerAction<DeactivateUser>,
) -> impl IntoView {
    let status = match (user.active, user.sso) {
        (false, _) => "deactivated",
        (true, true) => "active · SSO",
        (true, false) => "active",
    };
    let active = user.active;
    let (roles_of, deactivate_of) = (user.username.clone(), user.username.clone());
    view! {
        <tr class="users__row" class:users__row--inactive=!active>
            <td>
                <span class="users__name">{user.display_name.clone()}</span>
                <div class="muted">{user.username.clone()}</div>
            </td>
            <td>
                <ActionForm action=set_roles attr:class="users__roles">
                    <input type="hidden" name="username" value=roles_of />
                    <RoleBoxes checked=user.roles.clone() />
                    <button class="button button--small" type="submit" disabled=!active>
                        "Save roles"
                    </button>
                </ActionForm>
            </td>
            <td>
                <span class="users__status">{status}</span>
                {(active && !you)
                    .then(|| {
                        view! {
                            <ActionForm action=deactivate attr:class="users__deactivate">
                                <input type="hidden" name="username" value=deactivate_of />
                                <button class="button button--small button--danger" type="submit">
                                    "Deactivate"
                                </button>
                            </ActionForm>
                        }
                    })}
            </td>
        </tr>
    }
}

/// One checkbox per role, named as the server functions read them.
#[component]
fn RoleBoxes(checked: Roles) -> impl IntoView {
    Role::all()
        .map(|role| {
            view! {
                <label class="check">
                    <input type="checkbox" name=role.as_str() checked=checked.contains(role) />
                    {role.label()}
                </label>
            }
        })
        .collect_view()
}

/// An island: the new user's password is shown once, here, and nowhere else. `failed`: the
/// error of a sending without JavaScript, which came back to this page.
#[island]
fn NewUser(failed: Option<AppError>) -> impl IntoView {
    let sent = SentForm::<CreatedUser>::failed_before(failed);
    // The list above shows the new user.
    sent.refresh_page_on_success();
    let outcome = move || {
        sent.answer.get().map(|result| match result {
            Ok(created) => view! {
                <p class="notice notice--success" role="status">
                    "Added " <strong>{created.username}</strong>
                    ". Their password, shown this once: " <code class="secret">{created.password}</code>
                </p>
            }
            .into_any(),
            Err(error) => view! { <ErrorNotice message=sentence(&error.to_string()) /> }.into_any(),
        })
    };
    view! {
        <section class="new-user">
            <h2>"Add a user"</h2>
            <form class="new-user__form" method="post" action=CreateUser::url() on:submit=sent.on_submit()>
                <label class="field">
                    <span class="field__label">"Username"</span>
                    <input class="field__input" name="username" required maxlength="64" />
                </label>
                <label class="field">
                    <span class="field__label">"Name"</span>
                    <input class="field__input" name="display_name" required maxlength="200" />
                </label>
                <fieldset class="new-user__roles">
                    <legend class="field__label">"Roles"</legend>
                    <RoleBoxes checked=Roles::from(Role::Viewer) />
                </fieldset>
                <button class="button button--primary" type="submit" disabled=sent.pending>
                    "Add user"
                </button>
            </form>
            {outcome}
        </section>
    }
}
