//! Time, behind a trait so that expiry is tested without sleeping.

use std::{
    cell::Cell,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// A source of the current time (UTC).
///
/// Every decision in this crate takes `now` as an argument; services read it
/// from a `Clock` once per operation.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
///
/// Reads the system time on every call, at microsecond precision: what the
/// SQL stores keep, so a record read back shows the times that were
/// returned when it was made (a key's `created_at`, say). Turning a count of
/// seconds into a calendar date is a large part of the cost of
/// [`OffsetDateTime::now_utc`], so each thread keeps the date-time of the
/// whole second it last read and only sets the time within it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

thread_local! {
    /// The last whole second this thread read (Unix seconds; `u64::MAX`
    /// for none yet) and that second as a date-time.
    static LAST_SECOND: Cell<(u64, OffsetDateTime)> =
        const { Cell::new((u64::MAX, OffsetDateTime::UNIX_EPOCH)) };
}

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        let Ok(since_epoch) = SystemTime::now().duration_since(UNIX_EPOCH) else {
            return OffsetDateTime::now_utc(); // a clock set before 1970
        };
        let (second, nanos) = (since_epoch.as_secs(), since_epoch.subsec_nanos());
        let whole_second = match LAST_SECOND.try_with(Cell::get) {
            Ok((cached, at)) if cached == second => at,
            _ => {
                let Some(at) = i64::try_from(second)
                    .ok()
                    .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                else {
                    // A clock beyond the year 9999, where `now_utc` would
                    // panic: the latest time there is, so that everything
                    // with an expiry has expired (it fails closed).
                    return PrimitiveDateTime::MAX.assume_utc();
                };
                // `try_with` fails only while the thread is being torn down.
                let _ = LAST_SECOND.try_with(|c| c.set((second, at)));
                at
            }
        };
        whole_second
            .replace_nanosecond(nanos - nanos % 1_000)
            .unwrap_or(whole_second)
    }
}

/// A clock that moves only when told to: for tests and examples.
///
/// Clones share the same time.
///
/// # Examples
///
/// ```
/// use papyrus_auth::{Clock, ManualClock};
/// use time::{Duration, macros::datetime};
///
/// let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
/// clock.advance(Duration::hours(1));
/// assert_eq!(clock.now(), datetime!(2026-01-01 1:00 UTC));
/// ```
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock by `by` (which may be negative).
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *t += by;
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_reads_the_current_time() {
        // Each reading lies between two readings of `now_utc`, across a
        // change of second (so both the cached and a newly converted second
        // are checked).
        let first = OffsetDateTime::now_utc();
        loop {
            let before = OffsetDateTime::now_utc();
            let read = SystemClock.now();
            let after = OffsetDateTime::now_utc();
            let before_us = before
                .replace_nanosecond(before.nanosecond() / 1_000 * 1_000)
                .unwrap();
            assert!(
                before_us <= read && read <= after,
                "{before_us} <= {read} <= {after}"
            );
            assert_eq!(read.nanosecond() % 1_000, 0, "whole microseconds");
            if read.unix_timestamp() != first.unix_timestamp() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(7));
        }
    }
}
