//! Where Rampart reads the time. Rollout rules are pure functions of `now`; everything that
//! passes `now` to them takes it from a [`Clock`], so tests can move time instead of sleeping.

use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The real time plus an offset that tests move forward (`RAMPART_TEST_CLOCK=1` and
/// `POST /test/clock`). Never enabled unless configured.
#[derive(Default)]
pub struct ShiftedClock {
    offset: Mutex<TimeDelta>,
}

impl ShiftedClock {
    /// Moves the clock forward by `by`; returns the new time.
    pub fn advance(&self, by: TimeDelta) -> DateTime<Utc> {
        let mut offset = self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *offset += by;
        Utc::now() + *offset
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = *self
            .offset
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Utc::now() + offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_clock_runs_ahead_by_what_it_was_moved() {
        let clock = ShiftedClock::default();
        let before = Utc::now();
        clock.advance(TimeDelta::hours(2));
        let now = clock.now();
        assert!(now >= before + TimeDelta::hours(2));
        assert!(now < Utc::now() + TimeDelta::hours(2) + TimeDelta::minutes(1));
    }
}
