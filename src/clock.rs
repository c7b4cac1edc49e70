//! Time, behind a trait so that expiry is tested without sleeping.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use time::{Duration, OffsetDateTime};

/// A source of the current time (UTC).
///
/// Every decision in this crate takes `now` as an argument; services read it
/// from a `Clock` once per operation.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
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
