//! A page's regions (`[data-swap][id]`, see `components::region::Region`) read again in place.
//!
//! The page is read again from the server whole, as a reload would, and each region of this page
//! takes the place of its namesake there; islands in them start again with their new props.
//! What is outside the regions (the scroll position) stays, and so do controls someone is using
//! (`data-keep-while-focused`: the portfolio's filter being typed into).

use std::cell::Cell;

use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomParser, Element, HtmlFormElement, Response, SubmitEvent, SupportedType,
    js_sys::{Date, Reflect},
};

use super::{document, fetch, form_body, ticker};

thread_local! {
    /// The latest read asked for: an older answer arriving after it is dropped.
    static LATEST: Cell<u64> = const { Cell::new(0) };
    /// A live update arrived while someone was typing in a region; it is read when they stop.
    static PENDING: Cell<bool> = const { Cell::new(false) };
    /// Controls someone was using were left as they were when the page was last read: it is read
    /// again when they leave them.
    static CONTROLS_STALE: Cell<bool> = const { Cell::new(false) };
    /// When the regions were last read (ms since the epoch); 0 until the first look.
    static LAST_READ: Cell<f64> = const { Cell::new(0.0) };
}

/// Reads the page again when a region asks to be read every so often (`data-every`, seconds)
/// and that time has passed, or when a live update waits; not while someone types.
pub fn refresh_when_due() {
    let now = Date::now();
    if LAST_READ.get() == 0.0 {
        LAST_READ.set(now);
    }
    let every = document()
        .query_selector_all("[data-swap][data-every]")
        .ok()
        .and_then(|regions| {
            (0..regions.length())
                .filter_map(|i| regions.item(i)?.dyn_into::<Element>().ok())
                .filter_map(|region| region.get_attribute("data-every")?.parse::<f64>().ok())
                .reduce(f64::min)
        });
    let due = every.is_some_and(|seconds| now - LAST_READ.get() >= seconds * 1000.0);
    if (due || PENDING.get()) && !typing() {
        PENDING.set(false);
        read_again(current_url(), Cause::Change);
    }
}

/// Why the page is read again: something a person did here, or a change from elsewhere (a
/// live update, or what moves on its own).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    Person,
    Change,
}

/// Reads `url` again (this page, perhaps with another query: the filter's) and shows its
/// regions.
pub fn refresh(url: String) {
    read_again(url, Cause::Person);
}

/// Reads this page again, as it is now, after something a person did.
pub fn refresh_here() {
    refresh(current_url());
}

fn read_again(url: String, cause: Cause) {
    let ticket = next_ticket();
    spawn_local(async move {
        if let Ok(response) = fetch(&url, None, "text/html").await {
            show(response, ticket, cause).await;
        }
    });
}

/// A migration changed (`*`: anything may have): the regions that show it are read again.
pub fn changed(flag: &str) {
    let Ok(regions) = document().query_selector_all("[data-swap][data-live]") else {
        return;
    };
    let concerned = (0..regions.length())
        .filter_map(|i| regions.item(i)?.dyn_into::<Element>().ok())
        .filter_map(|region| region.get_attribute("data-live"))
        .any(|live| flag == "*" || live == "*" || live == flag);
    if !concerned {
        return;
    }
    if typing() {
        PENDING.set(true);
    } else {
        read_again(current_url(), Cause::Change);
    }
}

/// Sends every form with `method=post` inside a region in the background, then shows the page it
/// leads to: this one's regions read again, or another page. Forms in islands send themselves.
pub fn send_forms_in_place() {
    let on_submit = Closure::<dyn FnMut(SubmitEvent)>::new(|event: SubmitEvent| {
        let Some(form) = event
            .target()
            .and_then(|target| target.dyn_into::<HtmlFormElement>().ok())
        else {
            return;
        };
        let region = form.closest("[data-swap]").ok().flatten();
        let in_island = form.closest("leptos-island").ok().flatten().is_some();
        if event.default_prevented() || !form.method().eq_ignore_ascii_case("post") || in_island {
            return;
        }
        let Some(region) = region else {
            return;
        };
        event.prevent_default();
        // One form of a region at a time: its answer brings the region back with the versions
        // the next form must send, so a second form sent meanwhile would be refused as stale.
        if region.has_attribute("aria-busy") {
            return;
        }
        let Some(body) = form_body(&form, event.submitter()) else {
            return;
        };
        let _ = region.set_attribute("aria-busy", "true");
        let ticket = next_ticket();
        spawn_local(async move {
            match fetch(&form.action(), Some(body), "text/html").await {
                Ok(response) => {
                    show(response, ticket, Cause::Person).await;
                    // Still here: the answer was not shown (a later read is on its way).
                    if region.is_connected() {
                        let _ = region.remove_attribute("aria-busy");
                    }
                }
                // Not sent: let the browser send it and say what went wrong.
                Err(_) => {
                    let _ = region.remove_attribute("aria-busy");
                    let _ = form.submit();
                }
            }
        });
    });
    let _ =
        document().add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref());
    on_submit.forget();

    // A live update held back while someone typed, or controls left as they were, are read
    // once they leave the field.
    let on_focus_out = Closure::<dyn FnMut()>::new(|| {
        if (PENDING.get() || CONTROLS_STALE.get()) && !typing() {
            PENDING.set(false);
            CONTROLS_STALE.set(false);
            read_again(current_url(), Cause::Change);
        }
    });
    let _ = document()
        .add_event_listener_with_callback("focusout", on_focus_out.as_ref().unchecked_ref());
    on_focus_out.forget();
}

fn next_ticket() -> u64 {
    let ticket = LATEST.get() + 1;
    LATEST.set(ticket);
    ticket
}

fn current_url() -> String {
    web_sys::window()
        .and_then(|window| window.location().href().ok())
        .unwrap_or_else(|| "/".to_owned())
}

/// Someone is typing in a field of a region: reading it again would take their text away.
/// Controls kept while focused (the portfolio's filter) are not taken away, so they hold no
/// reading back.
fn typing() -> bool {
    document().active_element().is_some_and(|element| {
        let within = |selector| element.closest(selector).ok().flatten().is_some();
        matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
            && within("[data-swap]")
            && !within("[data-keep-while-focused]")
    })
}

/// Shows the page `response` brings: in place when it is this page, else by going there.
async fn show(response: Response, ticket: u64, cause: Cause) {
    let url = response.url();
    let Ok(text) = response.text() else {
        return;
    };
    let Ok(Some(html)) = JsFuture::from(text).await.map(|text| text.as_string()) else {
        return;
    };
    if ticket != LATEST.get() {
        return; // a later read is under way
    }
    if !is_this_page(&url) || !swap(&html, cause) {
        let _ = web_sys::window().map(|window| window.location().assign(&url));
        return;
    }
    LAST_READ.set(Date::now());
    // Only to take a message away: even an address left as it is would count as a navigation
    // here, and end the one a click on a link has just begun.
    if let (Some(window), Some(clean)) = (web_sys::window(), without_message(&url))
        && window.location().href().ok() != Some(clean.href())
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&clean.href()));
    }
    ticker::anchor();
    ticker::tick();
    // A failed form's message opens the region it failed in: bring it into view.
    if let Ok(Some(alert)) = document().query_selector("[data-swap] > [role=alert]") {
        alert.scroll_into_view_with_bool(false);
    }
}

/// `url` without the failed form's message (see `components::region`): the page shows it once,
/// and the address stays the page's own.
fn without_message(url: &str) -> Option<web_sys::Url> {
    let url = web_sys::Url::new(url).ok()?;
    url.search_params().delete("__path");
    url.search_params().delete("__err");
    Some(url)
}

fn is_this_page(url: &str) -> bool {
    let here = web_sys::window()
        .and_then(|window| window.location().href().ok())
        .and_then(|href| without_message(&href));
    let there = without_message(url);
    match (here, there) {
        (Some(here), Some(there)) => {
            here.pathname() == there.pathname() && here.search() == there.search()
        }
        _ => false,
    }
}

/// Puts the regions of the page `html` in place of this page's. False when it lacks one of them
/// (it is another kind of page: an error, say), with nothing changed.
fn swap(html: &str, cause: Cause) -> bool {
    let Some(page) = DomParser::new()
        .ok()
        .and_then(|parser| parser.parse_from_string(html, SupportedType::TextHtml).ok())
    else {
        return false;
    };
    let document = document();
    let Ok(regions) = document.query_selector_all("[data-swap][id]") else {
        return false;
    };
    let pairs: Vec<(Element, Element)> = (0..regions.length())
        .filter_map(|i| regions.item(i)?.dyn_into::<Element>().ok())
        .map(|old| {
            let new = page.get_element_by_id(&old.id());
            (old, new)
        })
        .map(|(old, new)| new.map(|new| (old, new)))
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    if pairs.is_empty() || pairs.len() != regions.length() as usize {
        return false;
    }
    let focused = document.active_element();
    for (old, new) in pairs {
        let in_use = old.has_attribute("data-keep-while-focused")
            && focused
                .as_ref()
                .is_some_and(|f| old.contains(Some(f.as_ref())));
        if in_use {
            // What a person does with the controls does not change them; a change may have.
            if cause == Cause::Change {
                CONTROLS_STALE.set(true);
            }
            continue;
        }
        let Ok(new) = document
            .import_node_with_deep(&new, true)
            .and_then(|node| node.dyn_into::<Element>().map_err(JsValue::from))
        else {
            return false;
        };
        let _ = old.replace_with_with_node_1(&new);
        start_islands(&new);
    }
    document.set_title(&page.title());
    true
}

/// Starts the islands of a region just put in place, as the page's first load did.
fn start_islands(region: &Element) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Ok(hydrate) = Reflect::get(&window, &JsValue::from_str("__hydrateIsland")) else {
        return;
    };
    let Ok(hydrate) = hydrate.dyn_into::<web_sys::js_sys::Function>() else {
        return;
    };
    let Ok(islands) = region.query_selector_all("leptos-island") else {
        return;
    };
    for index in 0..islands.length() {
        if let Some(island) = islands
            .item(index)
            .and_then(|n| n.dyn_into::<Element>().ok())
        {
            let component = island.get_attribute("data-component").unwrap_or_default();
            let _ = hydrate.call2(&JsValue::NULL, &island, &JsValue::from_str(&component));
        }
    }
}
