//! Every `<time data-tick>` on the page, kept up to date: in the viewer's zone, and read at a
//! clock that starts at the server's (`data-now` of the page's regions: a test's clock, in the
//! tests) and runs on.

use std::cell::Cell;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use leptos::prelude::set_interval;
use wasm_bindgen::JsCast;
use web_sys::js_sys::Date;

use super::document;
use crate::components::time::{Tick, is_late, tick_text};

const PERIOD: Duration = Duration::from_secs(15);

thread_local! {
    /// The server's clock when it rendered the page, and the browser's then (ms since the epoch).
    static ANCHOR: Cell<Option<(DateTime<Utc>, f64)>> = const { Cell::new(None) };
}

pub fn start() {
    tick();
    set_interval(
        || {
            tick();
            super::regions::refresh_when_due();
        },
        PERIOD,
    );
}

/// Sets the clock from the page's regions, just read from the server.
pub fn anchor() {
    let server_now = document()
        .query_selector("[data-now]")
        .ok()
        .flatten()
        .and_then(|region| region.get_attribute("data-now"))
        .and_then(|now| DateTime::parse_from_rfc3339(&now).ok())
        .map(|now| now.with_timezone(&Utc));
    ANCHOR.set(server_now.map(|now| (now, Date::now())));
}

fn now() -> DateTime<Utc> {
    if ANCHOR.get().is_none() {
        anchor();
    }
    match ANCHOR.get() {
        Some((server, loaded)) => server + TimeDelta::milliseconds((Date::now() - loaded) as i64),
        None => DateTime::from_timestamp_millis(Date::now() as i64).unwrap_or_default(),
    }
}

fn zone() -> Option<FixedOffset> {
    // `getTimezoneOffset` is UTC minus local, in minutes.
    let minutes_behind = Date::new_0().get_timezone_offset();
    FixedOffset::east_opt(-(minutes_behind as i32) * 60)
}

/// Rewrites every time on the page.
pub fn tick() {
    let Ok(times) = document().query_selector_all("time[data-tick]") else {
        return;
    };
    let (now, zone) = (now(), zone());
    for index in 0..times.length() {
        let Some(time) = times
            .item(index)
            .and_then(|node| node.dyn_into::<web_sys::Element>().ok())
        else {
            continue;
        };
        let tick = time
            .get_attribute("data-tick")
            .and_then(|t| t.parse::<Tick>().ok());
        let at = time
            .get_attribute("datetime")
            .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
            .map(|at| at.with_timezone(&Utc));
        let (Some(tick), Some(at)) = (tick, at) else {
            continue;
        };
        let percent = time.get_attribute("data-percent");
        let text = tick_text(tick, at, now, zone, percent.as_deref());
        if time.text_content().as_deref() != Some(text.as_str()) {
            time.set_text_content(Some(&text));
        }
        if tick != Tick::Absolute {
            let _ = time.set_attribute("title", &tick_text(Tick::Absolute, at, now, zone, None));
        }
        if tick == Tick::Due {
            let _ = time
                .class_list()
                .toggle_with_force("next--bad", is_late(at, now));
        }
    }
}
