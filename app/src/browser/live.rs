//! Live updates: the page hears of every migration that changes (server-sent events from
//! `/events`, fed by every replica's writes). The browser reconnects by itself after a drop, and
//! the page is then told that anything may have changed (`*`), since it may have missed changes
//! meanwhile. `<body data-live>` says whether the connection is open (tests wait for it).

use std::{cell::Cell, rc::Rc};

use wasm_bindgen::{JsCast, closure::Closure};

use super::set_body_attribute;

/// Calls `changed` with each changed migration's flag (`*`: anything may have changed), for as
/// long as the page is open.
pub fn listen(changed: fn(&str)) {
    let Ok(source) = web_sys::EventSource::new("/events") else {
        return;
    };
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(flag) = event.data().as_string() {
                changed(&flag);
            }
        });
    let opened_before = Rc::new(Cell::new(false));
    let on_open = Closure::<dyn FnMut()>::new(move || {
        set_body_attribute("data-live", "open");
        if opened_before.replace(true) {
            changed("*");
        }
    });
    let on_error = Closure::<dyn FnMut()>::new(move || {
        set_body_attribute("data-live", "reconnecting");
    });
    let _ = source.add_event_listener_with_callback("changed", on_message.as_ref().unchecked_ref());
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // The page keeps listening until it is closed, and the browser closes the source then.
    on_message.forget();
    on_open.forget();
    on_error.forget();
}
