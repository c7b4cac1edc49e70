//! Limits on failing requests: `429 Too Many Requests` with `Retry-After`.
//!
//! # The policy
//!
//! **A credential this library issued is verified first.** API keys, access
//! and refresh tokens, authorization codes and client secrets carry 190 to
//! 256 random bits: nobody guesses one, and checking one costs a digest and
//! a lookup. So a request that presents one is answered on its merits, and
//! a valid one is *never* refused, whatever other requests from its address
//! did before. Limits only turn **failing** requests into `429`: each
//! failure is counted, and once a counter is over its limit the failures
//! that land on it get `429` with `Retry-After` instead of `401`/`400` until
//! the counter's window ends.
//!
//! What a failure counts against:
//!
//! | failure | counted against |
//! |---|---|
//! | a malformed or unknown key or token, an unknown code or refresh token (a guess) | the client address and the presented credential |
//! | a credential we know but refuse: revoked, expired, another tenant's, a replayed code, a rotated refresh token (a stale replica, a refresh race) | that credential only |
//! | a failed client authentication (unknown client, wrong secret) | the client address and the client id *from that address* |
//!
//! A client id is public: counted alone it would let anyone lock a client's
//! users out everywhere, so it counts per address. A known credential that
//! is refused is not a guess, so it never costs its address anything: a
//! lingering replica with a revoked key, or the losers of a refresh race,
//! cannot take their neighbours on a shared egress address down.
//!
//! **Passwords are the one guessable secret** and get their own limits,
//! asked *before* the password is checked and applied to the sign-in form
//! only (never to API, admin or token calls from the same address):
//! [`SignInLimits`] per address and username, per address, per username
//! across addresses (against distributed guessing), and per signed device
//! cookie. A browser that signed in as a user before carries a device
//! cookie for that user, and is held only to its own limit: a distributed
//! guesser cannot lock a user out of the browsers they already use. (The
//! device-cookie scheme is OWASP's "Slow Down Online Guessing Attacks with
//! Device Cookies".)
//!
//! Counters are fixed windows that disappear when their window ends, so
//! nobody is refused for longer than one window after the failures stop.
//!
//! # Fleets
//!
//! Counters live in a [`FailureCounters`] store: in process by default
//! ([`LocalCounters`]), or shared by every instance (Redis, feature `redis`)
//! so that N instances do not give an attacker N times the tries. Nothing
//! touches the store for a request that succeeds. When the shared store
//! fails, failures are counted in process (a warning is logged and the
//! `papyrus_auth_throttle_fallback_total` metric counts them) and the store
//! is tried again 5 seconds later.

mod counters;

use std::{
    fmt,
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sha2::{Digest as _, Sha256};

pub use counters::{Count, FailureCounters, LocalCounters};

/// How long a shared counter store that failed is left alone.
const RETRY_SHARED_AFTER: Duration = Duration::from_secs(5);

/// Limits on failing API, admin and token requests (see the
/// [module documentation](self)), and on the sign-in form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThrottleConfig {
    /// Failures allowed per client address per window: guesses (malformed
    /// or unknown credentials) and failed client authentications. Defaults
    /// to 30.
    pub per_ip: u32,
    /// Failures allowed per presented credential (a key, token, code or
    /// refresh token; a client id from one address) per window. Defaults
    /// to 30.
    pub per_credential: u32,
    /// The window of both. Defaults to 60 seconds.
    pub window: Duration,
    /// The most counters kept in process; past it, expired ones are dropped
    /// first and new ones are not tracked. Defaults to 100,000.
    pub max_entries: usize,
    /// The sign-in form's limits.
    pub sign_in: SignInLimits,
    /// Dynamic client registrations (RFC 7591) allowed per client address
    /// per [`registration_window`](Self::registration_window), successful
    /// or not: registering is cheap for the caller and leaves a client
    /// behind, so every attempt counts. Defaults to 10.
    pub registrations_per_ip: u32,
    /// The window of [`registrations_per_ip`](Self::registrations_per_ip).
    /// Defaults to one hour.
    pub registration_window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_ip: 30,
            per_credential: 30,
            window: Duration::from_secs(60),
            max_entries: 100_000,
            sign_in: SignInLimits::default(),
            registrations_per_ip: 10,
            registration_window: Duration::from_secs(3600),
        }
    }
}

impl ThrottleConfig {
    /// Sets the per-address and per-credential limits.
    pub fn with_limits(mut self, per_ip: u32, per_credential: u32) -> Self {
        self.per_ip = per_ip;
        self.per_credential = per_credential;
        self
    }

    /// Sets the window of the per-address and per-credential limits.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets the dynamic registrations allowed per address and window.
    pub fn with_registrations(mut self, per_ip: u32, window: Duration) -> Self {
        self.registrations_per_ip = per_ip;
        self.registration_window = window;
        self
    }

    /// Sets the sign-in form's limits.
    pub fn with_sign_in(mut self, sign_in: SignInLimits) -> Self {
        self.sign_in = sign_in;
        self
    }
}

/// Limits on failed sign-ins (wrong username or password on the login
/// form), asked before the password is checked. The numbers and why they
/// were chosen are in `THREAT_MODEL.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignInLimits {
    /// Failures per address and username. Defaults to 10.
    pub per_address_and_account: u32,
    /// Failures per address, whatever the username (password spraying).
    /// Defaults to 50.
    pub per_address: u32,
    /// Failures per username across every address (distributed guessing),
    /// for browsers without that user's device cookie. Defaults to 20.
    pub per_account: u32,
    /// Failures per device cookie (a browser that signed in as the user
    /// before). Defaults to 10.
    pub per_device: u32,
    /// The window of all four. Defaults to 15 minutes.
    pub window: Duration,
    /// How long a device cookie is valid after a successful sign-in.
    /// Defaults to 30 days.
    pub device_lifetime: Duration,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            per_address_and_account: 10,
            per_address: 50,
            per_account: 20,
            per_device: 10,
            window: Duration::from_secs(15 * 60),
            device_lifetime: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl SignInLimits {
    /// Sets the per-address-and-username, per-address, per-username and
    /// per-device limits.
    pub fn with_limits(
        mut self,
        per_address_and_account: u32,
        per_address: u32,
        per_account: u32,
        per_device: u32,
    ) -> Self {
        self.per_address_and_account = per_address_and_account;
        self.per_address = per_address;
        self.per_account = per_account;
        self.per_device = per_device;
        self
    }

    /// Sets the window.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }
}

/// Which limit a [`Subject`] is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Limit {
    Address,
    Credential,
    SignInAddressAndAccount,
    SignInAddress,
    SignInAccount,
    SignInDevice,
    Registration,
}

/// One counter: what a failure counts against, named by a key that holds no
/// secret (credentials and usernames by a SHA-256 prefix).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Subject {
    limit: Limit,
    key: String,
}

impl Subject {
    /// A client address.
    pub(crate) fn address(ip: IpAddr) -> Self {
        Self {
            limit: Limit::Address,
            key: format!("ip:{ip}"),
        }
    }

    /// A presented credential of `kind` (a secret: counted from any address).
    pub(crate) fn credential(kind: &str, value: &str) -> Self {
        Self::hashed(Limit::Credential, "cred", &[kind, value])
    }

    /// A client id named from `ip` (a public name: counted per address).
    pub(crate) fn client_from(client_id: &str, ip: Option<IpAddr>) -> Self {
        let from = ip.map(|ip| ip.to_string()).unwrap_or_default();
        Self::hashed(Limit::Credential, "client", &[client_id, &from])
    }

    /// Dynamic registrations from an address.
    pub(crate) fn registration_from(ip: IpAddr) -> Self {
        Self {
            limit: Limit::Registration,
            key: format!("register-ip:{ip}"),
        }
    }

    /// Sign-in failures from an address.
    pub(crate) fn sign_in_address(ip: IpAddr) -> Self {
        Self {
            limit: Limit::SignInAddress,
            key: format!("signin-ip:{ip}"),
        }
    }

    /// Sign-in failures for a username, from every address.
    pub(crate) fn sign_in_account(tenant: &str, username: &str) -> Self {
        Self::hashed(Limit::SignInAccount, "signin-user", &[tenant, username])
    }

    /// Sign-in failures for a username from one address.
    pub(crate) fn sign_in_account_from(tenant: &str, username: &str, ip: Option<IpAddr>) -> Self {
        let from = ip.map(|ip| ip.to_string()).unwrap_or_default();
        Self::hashed(
            Limit::SignInAddressAndAccount,
            "signin-user-ip",
            &[tenant, username, &from],
        )
    }

    /// Sign-in failures of one device cookie (named by its nonce).
    pub(crate) fn sign_in_device(nonce: &str) -> Self {
        Self::hashed(Limit::SignInDevice, "signin-device", &[nonce])
    }

    fn hashed(limit: Limit, kind: &str, parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(kind.as_bytes());
        for part in parts {
            h.update([0]);
            h.update(part.as_bytes());
        }
        let digest: [u8; 32] = h.finalize().into();
        let mut key = String::with_capacity(kind.len() + 33);
        key.push_str(kind);
        key.push(':');
        for b in &digest[..16] {
            key.push(char::from(HEX[usize::from(b >> 4)]));
            key.push(char::from(HEX[usize::from(b & 15)]));
        }
        Self { limit, key }
    }

    /// The counter's key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A refusal: how long until the counters that refused end their window,
/// and whether it is the first refusal of a window for any of them (worth
/// one audit event; the others of the window are not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) retry_after: Duration,
    pub(crate) first: bool,
}

/// Counts failures and says when a failing request gets `429`.
///
/// Cheap to share (`Arc` it); the counters live in its [`FailureCounters`]
/// store, so several throttles over one shared store agree.
pub struct Throttle {
    config: ThrottleConfig,
    counters: Arc<dyn FailureCounters>,
    /// Counting in process while the shared store fails.
    fallback: LocalCounters,
    /// When the throttle was made, and until when (nanoseconds after it)
    /// the shared store is left alone after a failure.
    origin: Instant,
    shared_down_until: AtomicU64,
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("config", &self.config)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new(ThrottleConfig::default())
    }
}

impl Throttle {
    /// A throttle with these limits, counting in process.
    pub fn new(config: ThrottleConfig) -> Self {
        let counters = Arc::new(LocalCounters::new(config.max_entries));
        Self::with_counters(config, counters)
    }

    /// A throttle with these limits, counting in `counters` (shared by a
    /// fleet), and in process while `counters` fails.
    pub fn with_counters(config: ThrottleConfig, counters: Arc<dyn FailureCounters>) -> Self {
        Self {
            config,
            counters,
            fallback: LocalCounters::new(config.max_entries),
            origin: Instant::now(),
            shared_down_until: AtomicU64::new(0),
        }
    }

    /// The limits.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// The limit and window of `limit`.
    fn rule(&self, limit: Limit) -> (u64, Duration) {
        let c = &self.config;
        let s = &c.sign_in;
        let (n, window) = match limit {
            Limit::Address => (c.per_ip, c.window),
            Limit::Credential => (c.per_credential, c.window),
            Limit::SignInAddressAndAccount => (s.per_address_and_account, s.window),
            Limit::SignInAddress => (s.per_address, s.window),
            Limit::SignInAccount => (s.per_account, s.window),
            Limit::SignInDevice => (s.per_device, s.window),
            Limit::Registration => (c.registrations_per_ip, c.registration_window),
        };
        (u64::from(n), window)
    }

    /// Counts a failure against each of `subjects`. The failure is refused
    /// (`429`) if any of them is now over its limit.
    pub(crate) async fn fail(&self, subjects: &[Subject]) -> Option<Refusal> {
        if subjects.is_empty() {
            return None;
        }
        let counters: Vec<(&str, Duration)> = subjects
            .iter()
            .map(|s| (s.key(), self.rule(s.limit).1))
            .collect();
        let counts = self.hit(&counters).await;
        self.refusal(subjects.iter().zip(&counts), |count, limit| count > limit)
    }

    /// Whether an attempt naming `subjects` is refused before it is even
    /// checked (the sign-in form's rule for passwords): refused if any of
    /// them is at its limit. The refusal is counted against those that
    /// refused it (and only those), to tell the first of a window.
    pub(crate) async fn check(&self, subjects: &[Subject]) -> Option<Refusal> {
        if subjects.is_empty() {
            return None;
        }
        let keys: Vec<&str> = subjects.iter().map(Subject::key).collect();
        let counts = self.peek(&keys).await;
        let blocked: Vec<&Subject> = subjects
            .iter()
            .zip(&counts)
            .filter(|(s, c)| c.failures >= self.rule(s.limit).0)
            .map(|(s, _)| s)
            .collect();
        if blocked.is_empty() {
            return None;
        }
        let counters: Vec<(&str, Duration)> = blocked
            .iter()
            .map(|s| (s.key(), self.rule(s.limit).1))
            .collect();
        let counts = self.hit(&counters).await;
        self.refusal(blocked.into_iter().zip(&counts), |count, limit| {
            count > limit
        })
    }

    /// The refusal, if `over(count, limit)` holds for any subject.
    fn refusal<'a>(
        &self,
        counted: impl Iterator<Item = (&'a Subject, &'a Count)>,
        over: impl Fn(u64, u64) -> bool,
    ) -> Option<Refusal> {
        let mut refusal: Option<Refusal> = None;
        for (subject, count) in counted {
            let (limit, _) = self.rule(subject.limit);
            if !over(count.failures, limit) {
                continue;
            }
            let r = refusal.get_or_insert(Refusal {
                retry_after: Duration::ZERO,
                first: false,
            });
            r.retry_after = r.retry_after.max(count.resets_in);
            r.first |= count.failures == limit.saturating_add(1);
        }
        if refusal.is_some() {
            crate::metrics::throttled();
        }
        refusal
    }

    async fn hit(&self, counters: &[(&str, Duration)]) -> Vec<Count> {
        if self.shared_up() {
            match self.counters.hit(counters).await {
                Ok(counts) if counts.len() == counters.len() => return counts,
                Ok(_) => {
                    self.shared_failed(&"the counter store answered the wrong number of counts")
                }
                Err(e) => self.shared_failed(&e),
            }
        }
        crate::metrics::throttle_fallback();
        self.fallback.hit_at(counters, Instant::now())
    }

    async fn peek(&self, keys: &[&str]) -> Vec<Count> {
        if self.shared_up() {
            match self.counters.peek(keys).await {
                Ok(counts) if counts.len() == keys.len() => return counts,
                Ok(_) => {
                    self.shared_failed(&"the counter store answered the wrong number of counts")
                }
                Err(e) => self.shared_failed(&e),
            }
        }
        crate::metrics::throttle_fallback();
        self.fallback.peek_at(keys, Instant::now())
    }

    fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn shared_up(&self) -> bool {
        self.elapsed_nanos() >= self.shared_down_until.load(Ordering::Relaxed)
    }

    fn shared_failed(&self, error: &dyn fmt::Display) {
        let until = self
            .elapsed_nanos()
            .saturating_add(u64::try_from(RETRY_SHARED_AFTER.as_nanos()).unwrap_or(u64::MAX));
        let before = self.shared_down_until.swap(until, Ordering::Relaxed);
        // One warning per outage, not one per failure.
        if before <= self.elapsed_nanos() {
            tracing::warn!(
                %error,
                retry_in_secs = RETRY_SHARED_AFTER.as_secs(),
                "failure counter store unavailable; counting failures in this process"
            );
        }
        crate::metrics::store_error("failure_counters");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn throttle(per_ip: u32, per_credential: u32) -> Throttle {
        Throttle::new(ThrottleConfig::default().with_limits(per_ip, per_credential))
    }

    #[tokio::test]
    async fn failures_are_refused_past_the_limit() {
        let t = throttle(3, 100);
        let a = [Subject::address(ip("192.0.2.1"))];
        for _ in 0..3 {
            assert_eq!(t.fail(&a).await, None);
        }
        let r = t.fail(&a).await.unwrap();
        assert!(r.first, "the first refusal of the window");
        assert!(
            r.retry_after > Duration::from_secs(58) && r.retry_after <= Duration::from_secs(60)
        );
        assert!(
            !t.fail(&a).await.unwrap().first,
            "later refusals are not first"
        );
        assert_eq!(
            t.fail(&[Subject::address(ip("192.0.2.2"))]).await,
            None,
            "another address is not affected"
        );
    }

    #[tokio::test]
    async fn credentials_count_from_any_address_and_client_ids_per_address() {
        let t = throttle(100, 2);
        let key = Subject::credential("bearer", "pk_live_leaked");
        assert_eq!(
            t.fail(&[Subject::address(ip("192.0.2.1")), key.clone()])
                .await,
            None
        );
        assert_eq!(
            t.fail(&[Subject::address(ip("192.0.2.2")), key.clone()])
                .await,
            None
        );
        assert!(
            t.fail(&[Subject::address(ip("192.0.2.3")), key])
                .await
                .is_some(),
            "the hammered credential is refused from any address"
        );
        let from_a = Subject::client_from("demo-spa", Some(ip("192.0.2.1")));
        let from_b = Subject::client_from("demo-spa", Some(ip("192.0.2.2")));
        assert_ne!(from_a, from_b);
        assert_ne!(
            Subject::credential("client", "a"),
            Subject::credential("user", "a")
        );
    }

    #[tokio::test]
    async fn check_refuses_at_the_limit_and_counts_only_what_refused() {
        let t = Throttle::new(
            ThrottleConfig::default()
                .with_sign_in(SignInLimits::default().with_limits(2, 50, 20, 10)),
        );
        let addr = ip("192.0.2.9");
        let subjects = [
            Subject::sign_in_account_from("acme", "alice", Some(addr)),
            Subject::sign_in_address(addr),
            Subject::sign_in_account("acme", "alice"),
        ];
        assert_eq!(t.check(&subjects).await, None);
        t.fail(&subjects).await;
        t.fail(&subjects).await;
        let r = t.check(&subjects).await.unwrap();
        assert!(r.first);
        assert!(!t.check(&subjects).await.unwrap().first);
        // The refused attempts counted against the blocked subject only.
        let keys: Vec<&str> = subjects.iter().map(Subject::key).collect();
        let counts = t.peek(&keys).await;
        assert_eq!(
            counts.iter().map(|c| c.failures).collect::<Vec<_>>(),
            [4, 2, 2]
        );
    }

    #[test]
    fn keys_hold_no_secret() {
        let s = Subject::credential("bearer", "pk_live_secret");
        assert!(!s.key().contains("secret"));
        assert_eq!(s.key().len(), "cred:".len() + 32);
        let u = Subject::sign_in_account("acme", "alice@example.com");
        assert!(!u.key().contains("alice"));
    }

    /// A shared store that always fails.
    #[derive(Debug)]
    struct Down;

    #[async_trait::async_trait]
    impl FailureCounters for Down {
        async fn hit(&self, _: &[(&str, Duration)]) -> Result<Vec<Count>, StoreError> {
            Err(StoreError::unavailable(std::io::Error::other("down")))
        }
        async fn peek(&self, _: &[&str]) -> Result<Vec<Count>, StoreError> {
            Err(StoreError::unavailable(std::io::Error::other("down")))
        }
    }

    #[tokio::test]
    async fn a_failing_shared_store_falls_back_to_counting_in_process() {
        let t = Throttle::with_counters(
            ThrottleConfig::default().with_limits(2, 100),
            Arc::new(Down),
        );
        let a = [Subject::address(ip("192.0.2.1"))];
        assert_eq!(t.fail(&a).await, None);
        assert_eq!(t.fail(&a).await, None);
        assert!(t.fail(&a).await.is_some(), "still limited, in process");
        assert!(!t.shared_up(), "the shared store is left alone for a while");
    }
}
