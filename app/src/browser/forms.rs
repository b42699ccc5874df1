//! A form in an island, sent to its server function in the background: the answer comes back as
//! data for the island to show (a new token, a field's error) instead of as a page.
//!
//! The form is an ordinary `<form method="post" action="/api/…">` whose fields are named as the
//! server function reads them, so without JavaScript it posts as it stands.

use leptos::serde_json;
use serde::de::DeserializeOwned;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlFormElement;

use super::{fetch, form_body};
use crate::error::AppError;

/// Sends `form` and reads the server function's answer; follows its redirect, if it asks for one.
pub async fn send<T: DeserializeOwned>(form: &HtmlFormElement) -> Result<T, AppError> {
    let body = form_body(form, None).ok_or_else(|| AppError::Transport {
        message: "the form could not be read".to_owned(),
    })?;
    let response = fetch(&form.action(), Some(body), "application/json")
        .await
        .map_err(|error| AppError::Transport {
            message: error
                .as_string()
                .unwrap_or_else(|| "the request failed".to_owned()),
        })?;
    let text = match response.text() {
        Ok(text) => JsFuture::from(text).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    }
    .unwrap_or_default();
    if !response.ok() {
        return Err(
            serde_json::from_str::<AppError>(&text).unwrap_or(AppError::Transport {
                message: format!("the server answered {}", response.status()),
            }),
        );
    }
    if let Ok(Some(location)) = response.headers().get("Location")
        && let Some(window) = web_sys::window()
    {
        let _ = window.location().assign(&location);
    }
    serde_json::from_str(&text).map_err(|error| AppError::Transport {
        message: error.to_string(),
    })
}
