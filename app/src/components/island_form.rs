//! A form inside an island: sent in the background (see `browser::forms`), its answer kept for
//! the island to show. Without JavaScript the same form posts as a plain one.

use leptos::prelude::*;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The answer of an island's form, once it comes, and whether it is on its way.
pub struct SentForm<T: Send + Sync + 'static> {
    pub answer: RwSignal<Option<Result<T, AppError>>>,
    pub pending: RwSignal<bool>,
}

impl<T: Send + Sync + 'static> Clone for SentForm<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for SentForm<T> {}

impl<T: DeserializeOwned + Send + Sync + 'static> SentForm<T> {
    /// A form whose last sending, without JavaScript, failed with `error` (see
    /// `region::failed_form`): it shows that answer until sent again.
    pub fn failed_before(error: Option<AppError>) -> Self {
        SentForm {
            answer: RwSignal::new(error.map(Err)),
            pending: RwSignal::new(false),
        }
    }

    /// The form's `on:submit`: sends it, unless it is already on its way.
    pub fn on_submit(self) -> impl Fn(leptos::ev::SubmitEvent) + Clone + 'static {
        move |event| {
            event.prevent_default();
            #[cfg(feature = "hydrate")]
            if !self.pending.get_untracked() {
                self.send(&event);
            }
        }
    }

    #[cfg(feature = "hydrate")]
    fn send(self, event: &leptos::ev::SubmitEvent) {
        use wasm_bindgen::JsCast;
        let Some(form) = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlFormElement>().ok())
        else {
            return;
        };
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            let answer = crate::browser::forms::send::<T>(&form).await;
            self.answer.set(Some(answer));
            self.pending.set(false);
        });
    }

    /// Reads the page's regions again after each success: they list what the form added.
    pub fn refresh_page_on_success(self) {
        Effect::new(move |_| {
            if self.answer.with(|answer| matches!(answer, Some(Ok(_)))) {
                #[cfg(feature = "hydrate")]
                crate::browser::regions::refresh_here();
            }
        });
    }
}
