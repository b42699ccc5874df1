//! `/profile`: who you are in Rampart, and your API tokens for automation.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::session::get_session_info;
use leptos::server_fn::ServerFn;

use crate::api::tokens::{CreateToken, CreatedToken, RevokeToken, TokenSummary, list_tokens};
use crate::components::island_form::SentForm;
use crate::components::region::{Region, failed_form};
use crate::components::status::{ErrorNotice, ErrorPanel, Loading, sentence};
use crate::error::AppError;

#[component]
pub fn ProfilePage() -> impl IntoView {
    let info = Resource::new(|| (), |_| get_session_info());
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(|| (), |_| list_tokens());

    view! {
        <Title text="Your account" />
        <h1>"Your account"</h1>
        <Suspense>
            {move || Suspend::new(async move {
                info.await.ok().and_then(|info| info.user).map(|user| {
                    let roles = user.roles_label();
                    view! {
                        <p class="profile__who">
                            <strong>{user.display_name}</strong>
                            " · " {user.username} " · " {roles}
                        </p>
                    }
                })
            })}
        </Suspense>
        <section class="tokens">
            <h2>"API tokens"</h2>
            <p class="muted">
                "A script sends a token as " <code>"Authorization: Bearer …"</code>
                " to the " <a href="/api/v1/docs" rel="external">"REST API"</a>
                " and acts with your roles. Revoke a token as soon as no script needs it."
            </p>
            <Region id="tokens">
                <Suspense fallback=|| view! { <Loading what="tokens" /> }>
                    <ErrorBoundary fallback=|errors| view! { <ErrorPanel errors /> }>
                        {move || Suspend::new(async move {
                            tokens.await.map(|rows| view! { <TokenTable rows revoke /> })
                        })}
                    </ErrorBoundary>
                </Suspense>
            </Region>
            <NewToken failed=failed_form(Some(CreateToken::PATH)) />
        </section>
    }
}

/// An island: the new token is shown once, here, and nowhere else. `failed`: the error of a
/// sending without JavaScript, which came back to this page.
#[island]
fn NewToken(failed: Option<AppError>) -> impl IntoView {
    let sent = SentForm::<CreatedToken>::failed_before(failed);
    // The list above shows the new token.
    sent.refresh_page_on_success();
    view! {
        <form class="tokens__form" method="post" action=CreateToken::url() on:submit=sent.on_submit()>
            <label class="field">
                <span class="field__label">"New token's name"</span>
                <input class="field__input" name="name" required maxlength="100" placeholder="CI pipeline" />
            </label>
            <button class="button button--primary" type="submit" disabled=sent.pending>
                "Create token"
            </button>
        </form>
        {move || {
            sent.answer
                .get()
                .map(|result| match result {
                    Ok(created) => view! {
                        <p class="notice notice--success" role="status">
                            "Token " <strong>{created.name}</strong>
                            ", shown this once — copy it now: "
                            <code class="secret">{created.token}</code>
                        </p>
                    }
                    .into_any(),
                    Err(error) => {
                        view! { <ErrorNotice message=sentence(&error.to_string()) /> }.into_any()
                    }
                })
        }}
    }
}

#[component]
fn TokenTable(rows: Vec<TokenSummary>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="notice">"You have no API tokens."</p> }.into_any();
    }
    let day = |at: chrono::DateTime<chrono::Utc>| at.format("%d %b %Y").to_string();
    view! {
        <table class="users tokens__table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Token"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Status"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|token| {
                        let id = token.id.to_string();
                        view! {
                            <tr>
                                <td>{token.name}</td>
                                <td>
                                    <code>{format!("{}…", token.prefix)}</code>
                                </td>
                                <td>{day(token.created_at)}</td>
                                <td>{token.last_used_at.map_or_else(|| "never".to_owned(), day)}</td>
                                <td>
                                    {match token.revoked_at {
                                        Some(at) => format!("revoked {}", day(at)).into_any(),
                                        None => view! {
                                            <ActionForm action=revoke attr:class="users__deactivate">
                                                <input type="hidden" name="id" value=id />
                                                <button class="button button--small button--danger" type="submit">
                                                    "Revoke"
                                                </button>
                                            </ActionForm>
                                        }
                                        .into_any(),
                                    }}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
