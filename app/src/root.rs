//! The HTML document and the router: every page of Rampart hangs off [`App`].

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

use crate::components::layout::{PageScript, TopBar};
use crate::pages::{
    audit::AuditPage,
    history::HistoryPage,
    migration::MigrationPage,
    migration_form::{EditMigrationPage, NewMigrationPage},
    not_found::NotFoundPage,
    portfolio::PortfolioPage,
    profile::ProfilePage,
    sign_in::SignInPage,
    users::UsersPage,
};

/// The stylesheet's address. For a release, cargo-leptos names the file by its content's hash,
/// written to `hash.txt` beside the server binary; that does not change while the process runs,
/// so it is read once (Leptos' `HashedStylesheet` reads it for every page: a tenth of a page's
/// time under load).
fn stylesheet_href(options: &LeptosOptions) -> &'static str {
    static HREF: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HREF.get_or_init(|| {
        let hash = options
            .hash_files
            .then(|| std::fs::read_to_string(beside_server(options.hash_file.as_ref())?).ok())
            .flatten()
            .and_then(|hashes| {
                hashes.lines().find_map(|line| {
                    let (file, hash) = line.trim().split_once(':')?;
                    (file == "css").then(|| format!(".{}", hash.trim()))
                })
            })
            .unwrap_or_default();
        format!(
            "/{}/{}{hash}.css",
            options.site_pkg_dir, options.output_name
        )
    })
}

/// `name` beside the server binary, if it is there: where cargo-leptos writes `hash.txt` when it
/// gives the browser's files hashed names, and where Leptos reads it from.
pub fn beside_server(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join(name);
    path.exists().then_some(path)
}

/// The whole document, rendered on the server around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link id="leptos" rel="stylesheet" href=stylesheet_href(&options) />
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Title formatter=|page: String| format!("{page} · Rampart") />
        <Router>
            <TopBar />
            <main class="page">
                <Routes fallback=NotFoundPage>
                    // Async: the whole list is in the first HTML response, so it reads without JavaScript.
                    <Route path=path!("/") view=PortfolioPage ssr=SsrMode::Async />
                    <Route path=path!("/migrations/new") view=NewMigrationPage ssr=SsrMode::Async />
                    <Route
                        path=path!("/migrations/:flag")
                        view=MigrationPage
                        ssr=SsrMode::InOrder
                    />
                    <Route
                        path=path!("/migrations/:flag/edit")
                        view=EditMigrationPage
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("/history") view=HistoryPage ssr=SsrMode::Async />
                    <Route path=path!("/audit") view=AuditPage ssr=SsrMode::Async />
                    <Route path=path!("/sign-in") view=SignInPage ssr=SsrMode::Async />
                    <Route path=path!("/users") view=UsersPage ssr=SsrMode::Async />
                    <Route path=path!("/profile") view=ProfilePage ssr=SsrMode::Async />
                </Routes>
            </main>
            <PageScript />
        </Router>
    }
}
