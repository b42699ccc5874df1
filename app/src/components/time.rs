//! Times as a viewer reads them: in their own time zone, and relative ("in 12 min", "3 h ago")
//! forms that keep ticking in the browser.
//!
//! The server does not know the viewer's zone and renders with its own clock, so the first HTML
//! says UTC and reads as of the server's `now` (a test's clock, in the tests). Each time is a
//! `<time datetime=… data-tick=…>`: once the page is live, the browser rewrites its text with
//! [`tick_text`], in the viewer's zone, with a clock that starts at the server's `now` and runs on
//! (see `browser::ticker`).

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use leptos::prelude::*;
use rollout::duration::format_duration;
use strum::{EnumString, IntoStaticStr};

/// How a time on the page reads; the `data-tick` attribute of its `<time>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumString, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Tick {
    /// "25 Nov 14:05".
    Absolute,
    /// "3 h ago", "in 12 min".
    Ago,
    /// A look that is due: "due in 12 min", then "overdue by 5 min" (and marked late).
    Due,
    /// Time since a start: "ran 17 min".
    Ran,
    /// A soak's end: "soak 62 %, 6 min left", then "soak done". The percentage is the server's.
    Soak,
}

/// The text of a time of kind `tick` at `at`, read at `now` in `zone` (UTC while unknown);
/// `percent` is a soak's progress as the server last computed it.
pub fn tick_text(
    tick: Tick,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    zone: Option<FixedOffset>,
    percent: Option<&str>,
) -> String {
    match tick {
        Tick::Absolute => absolute(at, zone),
        Tick::Ago => relative(at, now),
        Tick::Due if at < now => format!("overdue by {}", format_duration(now - at)),
        Tick::Due => format!("due {}", relative(at, now)),
        Tick::Ran => format!("ran {}", format_duration(now - at)),
        Tick::Soak if at > now => format!(
            "soak {} %, {} left",
            percent.unwrap_or("0"),
            format_duration(at - now)
        ),
        Tick::Soak => "soak done".to_owned(),
    }
}

/// Whether a look due at `at` is late at `now`.
pub fn is_late(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    at < now
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
pub fn absolute(at: DateTime<Utc>, zone: Option<FixedOffset>) -> String {
    match zone {
        Some(zone) => at.with_timezone(&zone).format("%d %b %H:%M").to_string(),
        None => at.format("%d %b %H:%M UTC").to_string(),
    }
}

/// A time of kind `tick`, as the server renders it; the browser keeps it up to date.
#[component]
pub fn Ticking(
    tick: Tick,
    at: DateTime<Utc>,
    /// The server's clock when it read what the page shows.
    now: DateTime<Utc>,
    #[prop(optional, into)] class: Option<&'static str>,
    /// A soak's progress, for [`Tick::Soak`].
    #[prop(optional, into)]
    percent: Option<String>,
) -> impl IntoView {
    let text = tick_text(tick, at, now, None, percent.as_deref());
    let late = tick == Tick::Due && is_late(at, now);
    let kind: &'static str = tick.into();
    view! {
        <time
            class=class
            class:next--bad=late
            datetime=at.to_rfc3339()
            data-tick=kind
            data-percent=percent
            title=(tick != Tick::Absolute).then(|| absolute(at, None))
        >
            {text}
        </time>
    }
}

/// An instant in the viewer's zone.
#[component]
pub fn When(at: DateTime<Utc>) -> impl IntoView {
    // The clock does not matter to an absolute time.
    view! { <Ticking tick=Tick::Absolute at now=at /> }
}

/// An instant relative to `now`, with the absolute time as its tooltip.
#[component]
pub fn Ago(at: DateTime<Utc>, now: DateTime<Utc>) -> impl IntoView {
    view! { <Ticking tick=Tick::Ago at now /> }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(100)
    }

    #[test]
    fn relative_times_read_forwards_and_backwards() {
        let now = now();
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

    #[test]
    fn a_due_look_turns_overdue_as_the_clock_passes_it() {
        let due = now() + TimeDelta::minutes(5);
        let text = |at_minutes| {
            tick_text(
                Tick::Due,
                due,
                now() + TimeDelta::minutes(at_minutes),
                None,
                None,
            )
        };
        assert_eq!(text(0), "due in 5 min");
        assert_eq!(text(12), "overdue by 7 min");
        assert!(is_late(due, now() + TimeDelta::minutes(6)));
        assert!(!is_late(due, now()));
    }

    #[test]
    fn a_soak_counts_down_then_is_done() {
        let ends = now() + TimeDelta::minutes(6);
        assert_eq!(
            tick_text(Tick::Soak, ends, now(), None, Some("62")),
            "soak 62 %, 6 min left"
        );
        assert_eq!(
            tick_text(
                Tick::Soak,
                ends,
                ends + TimeDelta::seconds(1),
                None,
                Some("62")
            ),
            "soak done"
        );
        assert_eq!(
            tick_text(Tick::Ran, now() - TimeDelta::minutes(17), now(), None, None),
            "ran 17 min"
        );
    }

    #[test]
    fn every_kind_of_time_has_its_attribute_name() {
        for (tick, name) in [
            (Tick::Absolute, "absolute"),
            (Tick::Ago, "ago"),
            (Tick::Due, "due"),
            (Tick::Ran, "ran"),
            (Tick::Soak, "soak"),
        ] {
            assert_eq!(<&'static str>::from(tick), name);
            assert_eq!(name.parse::<Tick>(), Ok(tick));
        }
    }
}
