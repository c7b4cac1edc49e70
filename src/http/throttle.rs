//! Throttling of failed authentication.
//!
//! Every failed authentication (a refused API key or access token, a failed
//! client authentication or grant at the token endpoint, a wrong password on
//! the login form) counts against the client IP and against the credential
//! it named: a presented key or token on its own (from any IP: it is a
//! secret), a `client_id` or username from that IP only (they are public,
//! and counted alone they would let anyone lock every user of a client, or a
//! user, out on purpose). When either count reaches its limit within the
//! window, requests from that IP, or naming that credential, get `429 Too
//! Many Requests` with `Retry-After` until the window ends. Counters expire
//! with their window, so nobody is locked out for longer than one window,
//! and a legitimate caller from another IP is affected only while the key or
//! token it presents is itself being hammered.
//!
//! State is per process (in memory, bounded); with several instances each
//! counts on its own.

use std::{
    net::IpAddr,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use dashmap::DashMap;
use sha2::{Digest as _, Sha256};

/// Limits for [`Throttle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottleConfig {
    /// Failures allowed per client IP per window. Defaults to 30.
    pub per_ip: u32,
    /// Failures allowed per credential (a presented key or token; a client
    /// id or username from one IP) per window. Defaults to 30.
    pub per_credential: u32,
    /// The window. Defaults to 60 seconds.
    pub window: Duration,
    /// The most counters kept; past it, expired ones are dropped first and
    /// new ones are not tracked. Defaults to 100,000.
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_ip: 30,
            per_credential: 30,
            window: Duration::from_secs(60),
            max_entries: 100_000,
        }
    }
}

impl ThrottleConfig {
    /// Sets the per-IP and per-credential limits.
    pub fn with_limits(mut self, per_ip: u32, per_credential: u32) -> Self {
        self.per_ip = per_ip;
        self.per_credential = per_credential;
        self
    }

    /// Sets the window.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }
}

/// What a counter counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    Ip(IpAddr),
    /// A SHA-256 prefix of the credential's kind and value (never the value).
    Credential([u8; 16]),
}

impl Subject {
    pub(crate) fn credential(kind: &str, value: &str) -> Self {
        let mut h = Sha256::new();
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        let digest: [u8; 32] = h.finalize().into();
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&digest[..16]);
        Self::Credential(prefix)
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
    /// Whether a refusal in this window was already reported (audited).
    reported: bool,
}

/// Counts failed authentications and says when to refuse with 429.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    counters: DashMap<Subject, Window>,
    inserts: AtomicUsize,
    /// When the throttle was made, and the last failure (nanoseconds after it).
    origin: Instant,
    last_failure: AtomicU64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(ThrottleConfig::default())
    }
}

impl Throttle {
    /// A throttle with these limits.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            counters: DashMap::new(),
            inserts: AtomicUsize::new(0),
            origin: Instant::now(),
            last_failure: AtomicU64::new(0),
        }
    }

    /// The limits.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    fn limit(&self, subject: &Subject) -> u32 {
        match subject {
            Subject::Ip(_) => self.config.per_ip,
            Subject::Credential(_) => self.config.per_credential,
        }
    }

    /// Whether no failure was recorded within the last window: then nothing
    /// can be blocked, and callers may skip the lookups (one atomic load;
    /// the clock, `now`, is read only once some failure was recorded).
    pub(crate) fn idle(&self, now: impl FnOnce() -> Instant) -> bool {
        let last = self.last_failure.load(Ordering::Relaxed);
        if last == 0 {
            return true;
        }
        let since_origin = now().saturating_duration_since(self.origin).as_nanos();
        since_origin.saturating_sub(u128::from(last)) > self.config.window.as_nanos()
    }

    /// How long `subject`, with window `w`, stays blocked after `now`, if it
    /// is over its limit.
    fn blocking(&self, subject: &Subject, w: &Window, now: Instant) -> Option<Duration> {
        let end = w.start + self.config.window;
        (now < end && w.failures >= self.limit(subject)).then(|| end - now)
    }

    /// If any of `subjects` is over its limit, how long until it is not.
    pub(crate) fn blocked(&self, subjects: &[Subject], now: Instant) -> Option<Duration> {
        subjects
            .iter()
            .filter_map(|s| self.blocking(s, &*self.counters.get(s)?, now))
            .max()
    }

    /// Whether a refusal of `subjects` (which [`blocked`](Self::blocked))
    /// is the first one of its window for any of them: then it is worth an
    /// audit event, and the others of the window are not (so refused
    /// requests, which cost an attacker nothing, cannot fill a log). Marks
    /// the blocked subjects as reported.
    pub(crate) fn first_refusal(&self, subjects: &[Subject], now: Instant) -> bool {
        let mut first = false;
        for s in subjects {
            if let Some(mut w) = self.counters.get_mut(s)
                && self.blocking(s, &w, now).is_some()
                && !w.reported
            {
                w.reported = true;
                first = true;
            }
        }
        first
    }

    /// Counts one failure against each of `subjects`.
    pub(crate) fn record_failure(&self, subjects: &[Subject], now: Instant) {
        let nanos = u64::try_from(now.saturating_duration_since(self.origin).as_nanos())
            .unwrap_or(u64::MAX);
        self.last_failure.fetch_max(nanos.max(1), Ordering::Relaxed);
        for s in subjects {
            if !self.counters.contains_key(s) && !self.room_for_one_more(now) {
                continue;
            }
            let fresh = Window {
                start: now,
                failures: 0,
                reported: false,
            };
            let mut w = self.counters.entry(s.clone()).or_insert(fresh);
            if now >= w.start + self.config.window {
                *w = fresh;
            }
            w.failures = w.failures.saturating_add(1);
        }
    }

    fn room_for_one_more(&self, now: Instant) -> bool {
        if self.counters.len() < self.config.max_entries {
            // Sweep expired counters now and then.
            if self.inserts.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
                self.sweep(now);
            }
            return true;
        }
        self.sweep(now);
        self.counters.len() < self.config.max_entries
    }

    fn sweep(&self, now: Instant) {
        let window = self.config.window;
        self.counters.retain(|_, w| now < w.start + window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Subject {
        Subject::Ip(s.parse().unwrap())
    }

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let t = Throttle::new(
            ThrottleConfig::default()
                .with_limits(3, 5)
                .with_window(Duration::from_secs(60)),
        );
        let now = Instant::now();
        let a = [ip("192.0.2.1")];
        for _ in 0..2 {
            t.record_failure(&a, now);
        }
        assert_eq!(t.blocked(&a, now), None);
        t.record_failure(&a, now);
        assert_eq!(
            t.blocked(&a, now + Duration::from_secs(10)),
            Some(Duration::from_secs(50))
        );
        assert_eq!(
            t.blocked(&[ip("192.0.2.2")], now),
            None,
            "another IP is not affected"
        );
        assert_eq!(
            t.blocked(&a, now + Duration::from_secs(60)),
            None,
            "never for ever"
        );
        // A new window starts from zero.
        t.record_failure(&a, now + Duration::from_secs(61));
        assert_eq!(t.blocked(&a, now + Duration::from_secs(61)), None);
    }

    #[test]
    fn one_refusal_per_subject_and_window_is_first() {
        let t = Throttle::new(ThrottleConfig::default().with_limits(2, 2));
        let now = Instant::now();
        let a = [ip("192.0.2.1")];
        t.record_failure(&a, now);
        assert!(!t.first_refusal(&a, now), "not blocked yet");
        t.record_failure(&a, now);
        assert!(t.first_refusal(&a, now));
        assert!(!t.first_refusal(&a, now + Duration::from_secs(1)));
        // A newly blocked credential from the same IP is news again.
        let key = Subject::credential("bearer", "pk_live_x");
        t.record_failure(std::slice::from_ref(&key), now);
        t.record_failure(std::slice::from_ref(&key), now);
        assert!(t.first_refusal(&[a[0].clone(), key.clone()], now));
        assert!(!t.first_refusal(&[a[0].clone(), key], now));
        // The next window's block is reported again.
        let later = now + Duration::from_secs(61);
        t.record_failure(&a, later);
        t.record_failure(&a, later);
        assert!(t.first_refusal(&a, later));
        assert!(!t.first_refusal(&a, later));
    }

    #[test]
    fn idle_until_a_failure_and_again_a_window_later() {
        let t = Throttle::new(ThrottleConfig::default().with_window(Duration::from_secs(60)));
        let now = Instant::now();
        assert!(t.idle(|| now));
        t.record_failure(&[ip("192.0.2.1")], now);
        assert!(!t.idle(|| now));
        assert!(!t.idle(|| now + Duration::from_secs(59)));
        assert!(t.idle(|| now + Duration::from_secs(61)));
    }

    #[test]
    fn credentials_are_counted_by_fingerprint() {
        let t = Throttle::new(ThrottleConfig::default().with_limits(100, 2));
        let now = Instant::now();
        let key = Subject::credential("bearer", "pk_live_leaked");
        t.record_failure(&[ip("192.0.2.1"), key.clone()], now);
        t.record_failure(&[ip("192.0.2.2"), key.clone()], now);
        assert!(
            t.blocked(&[ip("192.0.2.3"), key], now).is_some(),
            "the hammered credential is blocked from any IP"
        );
        assert!(
            t.blocked(
                &[
                    ip("192.0.2.3"),
                    Subject::credential("bearer", "pk_live_other")
                ],
                now
            )
            .is_none()
        );
        assert_ne!(
            Subject::credential("client", "a"),
            Subject::credential("user", "a")
        );
    }

    #[test]
    fn memory_is_bounded() {
        let t = Throttle::new(ThrottleConfig {
            max_entries: 10,
            ..ThrottleConfig::default()
        });
        let now = Instant::now();
        for i in 0..50u8 {
            t.record_failure(&[Subject::Ip(IpAddr::from([10, 0, 0, i]))], now);
        }
        assert!(t.counters.len() <= 10);
    }
}
