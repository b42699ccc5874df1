//! Live updates: a page hears of every migration that changes (server-sent events from
//! `/events`, fed by every replica's writes) and reads again what it shows. One connection per
//! page; the browser reconnects by itself after a drop.

/// Calls `changed` with each changed migration's flag (`*`: anything may have changed) for as
/// long as the calling component lives. Only in the browser; on the server it does nothing.
pub fn on_change(changed: impl Fn(String) + Clone + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::prelude::{Effect, on_cleanup};
        use wasm_bindgen::{JsCast, closure::Closure};

        Effect::new(move |_| {
            let Ok(source) = web_sys::EventSource::new("/events") else {
                return;
            };
            let changed = changed.clone();
            let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |event: web_sys::MessageEvent| {
                    if let Some(flag) = event.data().as_string() {
                        changed(flag);
                    }
                },
            );
            let _ = source
                .add_event_listener_with_callback("changed", listener.as_ref().unchecked_ref());
            let open = send_wrapper::SendWrapper::new((source, listener));
            on_cleanup(move || open.0.close());
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = changed;
}
