//! Times as a viewer reads them: in their own time zone, and relative ("in 12 min", "3 h ago")
//! forms that keep ticking after hydration.
//!
//! The server does not know the viewer's zone, so the first HTML says UTC; once the page is live,
//! [`provide_viewer_time`]'s context switches every time on the page to the browser's zone. The
//! clock starts at the server's `as_of` (so the first render matches the server's, whose clock may
//! be a test's) and then runs on.

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use leptos::prelude::*;
use rollout::duration::format_duration;

/// The viewer's offset from UTC, once known in the browser.
#[derive(Clone, Copy)]
pub struct ViewerZone(RwSignal<Option<FixedOffset>>);

/// Call once, at the app's root.
pub fn provide_viewer_time() {
    let zone = RwSignal::new(None);
    provide_context(ViewerZone(zone));
    // Effects run only in the browser.
    Effect::new(move |_| {
        let minutes_behind = leptos::web_sys::js_sys::Date::new_0().get_timezone_offset();
        // `getTimezoneOffset` is UTC minus local, in minutes.
        let seconds = -(minutes_behind as i32) * 60;
        zone.set(FixedOffset::east_opt(seconds));
    });
}

/// Now, ticking every 15 s in the browser from the server's `as_of`.
pub fn ticking_now(as_of: DateTime<Utc>) -> Signal<DateTime<Utc>> {
    let now = RwSignal::new(as_of);
    Effect::new(move |_| {
        let loaded = leptos::web_sys::js_sys::Date::now();
        let ticking = set_interval_with_handle(
            move || {
                let elapsed = leptos::web_sys::js_sys::Date::now() - loaded;
                now.set(as_of + TimeDelta::milliseconds(elapsed as i64));
            },
            std::time::Duration::from_secs(15),
        );
        if let Ok(handle) = ticking {
            on_cleanup(move || handle.clear());
        }
    });
    now.into()
}

/// "in 12 min", "3 h ago", "now".
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let delta = at.signed_duration_since(now);
    if delta.num_seconds().abs() < 60 {
        "now".to_owned()
    } else if delta > TimeDelta::zero() {
        format!("in {}", format_duration(delta))
    } else {
        format!("{} ago", format_duration(-delta))
    }
}

/// "25 Nov 14:05 UTC" until the viewer's zone is known, then "25 Nov 15:05".
fn absolute(at: DateTime<Utc>, zone: Option<FixedOffset>) -> String {
    match zone {
        Some(zone) => at.with_timezone(&zone).format("%d %b %H:%M").to_string(),
        None => at.format("%d %b %H:%M UTC").to_string(),
    }
}

fn zone() -> Option<FixedOffset> {
    use_context::<ViewerZone>().and_then(|ViewerZone(zone)| zone.get())
}

/// An instant in the viewer's zone.
#[component]
pub fn When(at: DateTime<Utc>) -> impl IntoView {
    view! { <time datetime=at.to_rfc3339()>{move || absolute(at, zone())}</time> }
}

/// An instant relative to `now`, with the absolute time as its tooltip.
#[component]
pub fn Ago(at: DateTime<Utc>, #[prop(into)] now: Signal<DateTime<Utc>>) -> impl IntoView {
    view! {
        <time datetime=at.to_rfc3339() title=move || absolute(at, zone())>
            {move || relative(at, now.get())}
        </time>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_forwards_and_backwards() {
        let now = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(100);
        assert_eq!(relative(now + TimeDelta::minutes(12), now), "in 12 min");
        assert_eq!(relative(now - TimeDelta::hours(3), now), "3 h ago");
        assert_eq!(relative(now + TimeDelta::seconds(20), now), "now");
        assert_eq!(relative(now - TimeDelta::days(2), now), "2 d ago");
    }

    #[test]
    fn absolute_times_say_utc_until_the_zone_is_known() {
        let at = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::hours(14);
        assert_eq!(absolute(at, None), "01 Jan 14:00 UTC");
        let east = FixedOffset::east_opt(3600);
        assert_eq!(absolute(at, east), "01 Jan 15:00");
    }
}
