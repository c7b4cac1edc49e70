//! Failure counters: the store trait and the in-process counters.

use std::{
    fmt,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use dashmap::DashMap;

use crate::StoreError;

/// A counter's state: failures in its current window, and how long until
/// the window ends (zero for a counter with no window running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Count {
    /// Failures counted in the current window.
    pub failures: u64,
    /// Time left in the current window.
    pub resets_in: Duration,
}

impl Count {
    /// A count of `failures` whose window ends in `resets_in`.
    pub fn new(failures: u64, resets_in: Duration) -> Self {
        Self {
            failures,
            resets_in,
        }
    }
}

/// Where failure counters live: in this process ([`LocalCounters`], the
/// default) or somewhere every instance of a fleet shares (Redis, with
/// feature `redis`: [`crate::store::RedisCounters`]).
///
/// Counters are fixed windows: the first failure of a counter starts its
/// window, and the counter (with its window) disappears when the window
/// ends. The throttle calls the store only for failing requests: a request
/// with a valid credential never reaches it.
///
/// # Implementing it
///
/// `hit` must be atomic per counter (an increment and, for a new counter,
/// the expiry, in one step: Redis `INCR` + `PEXPIRE` in one script, SQL
/// `INSERT … ON CONFLICT DO UPDATE … RETURNING`), and should be one round
/// trip for all the counters of a call. Keys are short ASCII strings that
/// hold no secret (credentials are named by a hash prefix).
#[async_trait]
pub trait FailureCounters: fmt::Debug + Send + Sync + 'static {
    /// Adds one to each counter named in `counters`, starting a window of
    /// the given length for each that has none; returns every counter's
    /// count after the increment, in the order given.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend cannot be reached; the throttle then
    /// counts in process (see [`crate::throttle::Throttle`]).
    async fn hit(&self, counters: &[(&str, Duration)]) -> Result<Vec<Count>, StoreError>;

    /// Every named counter's count, unchanged (zero for one with no window
    /// running), in the order given.
    ///
    /// # Errors
    ///
    /// As [`hit`](Self::hit).
    async fn peek(&self, keys: &[&str]) -> Result<Vec<Count>, StoreError>;
}

/// Failure counters in this process's memory: the default, and the fallback
/// of a shared backend that cannot be reached.
///
/// Bounded: past `max_entries` counters, expired ones are dropped first and
/// new ones are not tracked (so a flood of distinct failures costs a fixed
/// amount of memory, at the price of not counting the newest).
#[derive(Debug)]
pub struct LocalCounters {
    counters: DashMap<Box<str>, Window>,
    max_entries: usize,
    inserts: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    end: Instant,
    failures: u64,
}

impl Default for LocalCounters {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl LocalCounters {
    /// Counters in memory, at most `max_entries` of them.
    pub fn new(max_entries: usize) -> Self {
        Self {
            counters: DashMap::new(),
            max_entries: max_entries.max(1),
            inserts: AtomicUsize::new(0),
        }
    }

    /// How many counters are held.
    pub fn len(&self) -> usize {
        self.counters.len()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty()
    }

    /// [`FailureCounters::hit`] at `now`.
    pub(crate) fn hit_at(&self, counters: &[(&str, Duration)], now: Instant) -> Vec<Count> {
        counters
            .iter()
            .map(|&(key, window)| {
                if !self.counters.contains_key(key) && !self.room_for_one_more(now) {
                    // Not tracked: counted as a first failure, never over a limit.
                    return Count::new(1, window);
                }
                let fresh = Window {
                    end: now + window,
                    failures: 0,
                };
                let mut w = self.counters.entry(key.into()).or_insert(fresh);
                if now >= w.end {
                    *w = fresh;
                }
                w.failures = w.failures.saturating_add(1);
                Count::new(w.failures, w.end - now)
            })
            .collect()
    }

    /// [`FailureCounters::peek`] at `now`.
    pub(crate) fn peek_at(&self, keys: &[&str], now: Instant) -> Vec<Count> {
        keys.iter()
            .map(|key| match self.counters.get(*key) {
                Some(w) if now < w.end => Count::new(w.failures, w.end - now),
                _ => Count::default(),
            })
            .collect()
    }

    fn room_for_one_more(&self, now: Instant) -> bool {
        if self.counters.len() < self.max_entries {
            // Sweep expired counters now and then.
            if self.inserts.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
                self.sweep(now);
            }
            return true;
        }
        self.sweep(now);
        self.counters.len() < self.max_entries
    }

    fn sweep(&self, now: Instant) {
        self.counters.retain(|_, w| now < w.end);
    }
}

#[async_trait]
impl FailureCounters for LocalCounters {
    async fn hit(&self, counters: &[(&str, Duration)]) -> Result<Vec<Count>, StoreError> {
        Ok(self.hit_at(counters, Instant::now()))
    }

    async fn peek(&self, keys: &[&str]) -> Result<Vec<Count>, StoreError> {
        Ok(self.peek_at(keys, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn counts_in_fixed_windows() {
        let c = LocalCounters::default();
        let now = Instant::now();
        assert_eq!(c.hit_at(&[("a", MINUTE)], now), [Count::new(1, MINUTE)]);
        let later = now + Duration::from_secs(10);
        assert_eq!(
            c.hit_at(&[("a", MINUTE), ("b", MINUTE)], later),
            [
                Count::new(2, Duration::from_secs(50)),
                Count::new(1, MINUTE)
            ],
            "the window runs from the first failure"
        );
        assert_eq!(
            c.peek_at(&["a", "b", "c"], later),
            [
                Count::new(2, Duration::from_secs(50)),
                Count::new(1, MINUTE),
                Count::default()
            ]
        );
        let next = now + MINUTE;
        assert_eq!(
            c.peek_at(&["a"], next),
            [Count::default()],
            "never for ever"
        );
        assert_eq!(c.hit_at(&[("a", MINUTE)], next), [Count::new(1, MINUTE)]);
    }

    #[test]
    fn memory_is_bounded() {
        let c = LocalCounters::new(10);
        let now = Instant::now();
        for i in 0..50 {
            let key = format!("ip:10.0.0.{i}");
            c.hit_at(&[(&key, MINUTE)], now);
        }
        assert!(c.len() <= 10);
        // Expired counters make room again.
        c.hit_at(&[("new", MINUTE)], now + MINUTE);
        assert_eq!(c.peek_at(&["new"], now + MINUTE)[0].failures, 1);
    }
}
