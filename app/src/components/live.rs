//! Live updates: a page hears of every migration that changes (server-sent events from
//! `/events`, fed by every replica's writes) and reads again what it shows. One connection per
//! page; the browser reconnects by itself after a drop, and the page then reads everything
//! again, since it may have missed changes meanwhile. `<body data-live>` says whether the
//! connection is open (tests wait for it).

/// Calls `changed` with each changed migration's flag (`*`: anything may have changed) for as
/// long as the calling component lives. Only in the browser; on the server it does nothing.
pub fn on_change(changed: impl Fn(String) + Clone + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use std::{cell::Cell, rc::Rc};

        use leptos::prelude::{Effect, on_cleanup};
        use wasm_bindgen::{JsCast, closure::Closure};

        fn mark(state: &str) {
            if let Some(body) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.body())
            {
                let _ = body.set_attribute("data-live", state);
            }
        }

        Effect::new(move |_| {
            let Ok(source) = web_sys::EventSource::new("/events") else {
                return;
            };
            let on_message = {
                let changed = changed.clone();
                Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                    move |event: web_sys::MessageEvent| {
                        if let Some(flag) = event.data().as_string() {
                            changed(flag);
                        }
                    },
                )
            };
            let opened_before = Rc::new(Cell::new(false));
            let on_open = {
                let changed = changed.clone();
                Closure::<dyn FnMut()>::new(move || {
                    mark("open");
                    if opened_before.replace(true) {
                        changed("*".to_owned());
                    }
                })
            };
            let on_error = Closure::<dyn FnMut()>::new(move || mark("reconnecting"));
            let _ = source
                .add_event_listener_with_callback("changed", on_message.as_ref().unchecked_ref());
            source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            let open = send_wrapper::SendWrapper::new((source, on_message, on_open, on_error));
            on_cleanup(move || {
                open.0.close();
                mark("closed");
            });
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = changed;
}
