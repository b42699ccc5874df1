//! Durations as people read them ("1 h 12 min") and as the database stores them (whole seconds).

use chrono::TimeDelta;

/// Human wording for a duration, rounded *up* to the minute so a wait that is not over never
/// reads "0 min". Negative durations read as zero.
///
/// `2 h`, `1 h 12 min`, `15 min`, `1 d`, `7 d`, `1 d 3 h`, `0 min`.
pub fn format_duration(duration: TimeDelta) -> String {
    let seconds = duration.num_seconds().max(0)
        + i64::from(duration.subsec_nanos() > 0 && duration > TimeDelta::zero());
    let minutes = (seconds + 59) / 60;
    let (days, hours, mins) = (minutes / (24 * 60), (minutes / 60) % 24, minutes % 60);
    let mut parts = Vec::with_capacity(3);
    if days > 0 {
        parts.push(format!("{days} d"));
    }
    if hours > 0 {
        parts.push(format!("{hours} h"));
    }
    // Minutes are noise next to days: "2 d 3 h" says enough.
    if (mins > 0 && days == 0) || parts.is_empty() {
        parts.push(format!("{mins} min"));
    }
    parts.join(" ")
}

/// `serde(with = "crate::duration::seconds")`: a duration as whole seconds, which reads well in
/// JSON and in a `jsonb` column (chrono's own form is `[secs, nanos]`).
pub mod seconds {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &TimeDelta, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(value.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TimeDelta, D::Error> {
        let secs = i64::deserialize(deserializer)?;
        TimeDelta::try_seconds(secs).ok_or_else(|| D::Error::custom("duration out of range"))
    }
}

/// `serde(with = "crate::duration::optional_seconds")`: an optional duration as whole seconds.
pub mod optional_seconds {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(
        value: &Option<TimeDelta>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_some(&d.num_seconds()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<TimeDelta>, D::Error> {
        Option::<i64>::deserialize(deserializer)?
            .map(|s| {
                TimeDelta::try_seconds(s).ok_or_else(|| D::Error::custom("duration out of range"))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        let cases = [
            (TimeDelta::zero(), "0 min"),
            (TimeDelta::seconds(-5), "0 min"),
            (TimeDelta::seconds(1), "1 min"),
            (TimeDelta::minutes(15), "15 min"),
            (TimeDelta::minutes(72), "1 h 12 min"),
            (
                TimeDelta::minutes(71) + TimeDelta::seconds(30),
                "1 h 12 min",
            ),
            (TimeDelta::hours(2), "2 h"),
            (TimeDelta::hours(24), "1 d"),
            (TimeDelta::hours(27) + TimeDelta::minutes(5), "1 d 3 h"),
            (TimeDelta::weeks(1), "7 d"),
            (TimeDelta::milliseconds(1), "1 min"),
        ];
        for (duration, text) in cases {
            assert_eq!(format_duration(duration), text, "{duration:?}");
        }
    }
}
