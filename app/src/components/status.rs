//! How a page says "loading", "nothing here" and "that failed".

use leptos::prelude::*;

/// A panel in place of content that could not be loaded; the message is already safe to show.
/// On the server it also gives the page the status of its first error (404, 403, 500, …): the
/// one place a page's error status is set.
#[component]
pub fn ErrorPanel(errors: ArcRwSignal<Errors>) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        let status = errors.with_untracked(|errors| {
            errors.iter().find_map(|(_, error)| {
                error
                    .downcast_ref::<crate::error::AppError>()
                    .map(crate::error::AppError::status_code)
            })
        });
        if let (Some(status), Some(response)) =
            (status, use_context::<leptos_axum::ResponseOptions>())
            && let Ok(status) = http::StatusCode::from_u16(status)
        {
            response.set_status(status);
        }
    }
    view! {
        <div class="notice notice--error" role="alert">
            <strong>"Could not load this. "</strong>
            {move || {
                errors
                    .get()
                    .into_iter()
                    .map(|(_, error)| sentence(&error.to_string()))
                    .collect::<Vec<_>>()
                    .join(" ")
            }}
        </div>
    }
}

/// A failed action's message, announced to screen readers; the message is already safe to show.
#[component]
pub fn ErrorNotice(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <p class="notice notice--error" role="alert">
            {message}
        </p>
    }
}

/// Error messages are phrases ("something went wrong …") so they compose; shown alone they
/// read as sentences.
pub fn sentence(phrase: &str) -> String {
    let mut chars = phrase.chars();
    let rest = chars.as_str().get(1..).unwrap_or_default();
    // A word that starts lower case and goes on in capitals is a name: "gRPC" stays as it is.
    let name = rest.starts_with(|c: char| c.is_uppercase());
    match chars.next() {
        Some(first) if !name => {
            let rest = chars.as_str().trim_end_matches('.');
            format!("{}{rest}.", first.to_uppercase())
        }
        Some(_) => format!("{}.", phrase.trim_end_matches('.')),
        None => String::new(),
    }
}

/// Shown while data is on its way.
#[component]
pub fn Loading(#[prop(into)] what: String) -> impl IntoView {
    view! {
        <p class="notice" aria-busy="true">
            {format!("Loading {what}…")}
        </p>
    }
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn phrases_become_sentences() {
        assert_eq!(sentence("something went wrong"), "Something went wrong.");
        assert_eq!(sentence("already a sentence."), "Already a sentence.");
        assert_eq!(sentence("gRPC method is empty"), "gRPC method is empty.");
        assert_eq!(sentence(""), "");
    }
}
