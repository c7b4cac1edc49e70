//! Records with random ids and digests, and helpers that fail loudly.

use std::{
    future::Future,
    net::{IpAddr, Ipv6Addr},
    panic::Location,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use time::{Duration, OffsetDateTime, macros::datetime};
use tokio::sync::Barrier;

use crate::{
    Digest, DigestVersion, ScopeSet, SecretHasher, StoreError, StoreErrorKind, TenantId,
    api_key::{ApiKeyRecord, Environment, IpAllowlist, KeyId},
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, ClientId, CodeChallenge, FamilyId,
        RefreshTokenRecord,
    },
    secret::random_alphanumeric,
    testkit::report::{abort, record},
};

/// How many tasks race in the concurrency checks.
pub(super) const RACERS: usize = 32;

/// "Now" for most checks: whole seconds, so that stores keeping
/// milliseconds or microseconds round-trip exactly.
pub(super) fn base() -> OffsetDateTime {
    datetime!(2030-01-01 00:00 UTC)
}

/// `base() + secs`.
pub(super) fn at(secs: i64) -> OffsetDateTime {
    base() + Duration::seconds(secs)
}

/// The value of a store call; when it failed, the check stops there (it
/// has nothing to go on with), reported at the caller's line.
#[track_caller]
pub(super) fn ok<T>(what: &str, r: Result<T, StoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => abort(format!("store conformance: {what} failed: {e}")),
    }
}

/// Records a violation, at the caller's line, unless a store call failed
/// with a conflict.
#[track_caller]
pub(super) fn conflict<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    let at = Location::caller();
    match r {
        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
        Err(e) => record(
            at.file(),
            at.line(),
            format!("store conformance: {what} must fail with Conflict, failed with {e}"),
        ),
        Ok(v) => record(
            at.file(),
            at.line(),
            format!("store conformance: {what} must fail with Conflict, returned {v:?}"),
        ),
    }
}

fn lower(n: usize) -> String {
    random_alphanumeric(n).to_ascii_lowercase()
}

pub(super) fn tenant(label: &str) -> TenantId {
    let s = format!("kit-{label}-{}", lower(12));
    TenantId::parse(&s).unwrap_or_else(|e| panic!("testkit: bad tenant {s:?}: {e}"))
}

pub(super) fn key_id() -> KeyId {
    let s = format!("key_{}", random_alphanumeric(20));
    KeyId::parse(&s).unwrap_or_else(|e| panic!("testkit: bad key id {s:?}: {e}"))
}

pub(super) fn client_id() -> ClientId {
    let s = format!("kit_{}", random_alphanumeric(20));
    ClientId::parse(&s).unwrap_or_else(|e| panic!("testkit: bad client id {s:?}: {e}"))
}

pub(super) fn family() -> FamilyId {
    FamilyId::from_stored(&format!("fam_kit{}", random_alphanumeric(20)))
}

/// A fresh random digest.
pub(super) fn digest() -> Digest {
    SecretHasher::sha256().digest(random_alphanumeric(43).as_bytes())
}

/// The same bytes under the other digest version: a different digest.
pub(super) fn other_version(d: &Digest) -> Digest {
    let v = if d.version() == DigestVersion::Sha256 {
        DigestVersion::HmacSha256
    } else {
        DigestVersion::Sha256
    };
    Digest::from_parts(v, *d.as_bytes())
}

/// `d` with one bit of its last byte flipped: equal in every other bit.
pub(super) fn near(d: &Digest) -> Digest {
    let mut bytes = *d.as_bytes();
    bytes[31] ^= 1;
    Digest::from_parts(d.version(), bytes)
}

pub(super) fn scopes(s: &str) -> ScopeSet {
    ScopeSet::parse(s).unwrap_or_else(|e| panic!("testkit: bad scopes {s:?}: {e}"))
}

pub(super) fn allowlist(entries: &[&str]) -> IpAllowlist {
    IpAllowlist::parse(entries).unwrap_or_else(|e| panic!("testkit: bad allowlist: {e}"))
}

/// A live key with the common fields set.
pub(super) fn key(tenant: &TenantId, name: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: key_id(),
        tenant: tenant.clone(),
        name: name.to_owned(),
        environment: Environment::Live,
        scopes: scopes("documents:read workflows:write"),
        ip_allowlist: allowlist(&["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]),
        digest: digest(),
        hint: "pk_live_Ab3d…".to_owned(),
        created_at: base(),
        rotation_due_at: at(90 * 86_400),
        rotated_at: None,
        rotated_from: None,
        rotated_to: None,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        last_used_ip: None,
    }
}

/// A key with every optional field set, each time distinct.
pub(super) fn full_key(tenant: &TenantId) -> ApiKeyRecord {
    ApiKeyRecord {
        environment: Environment::Test,
        name: "Ünïcode 'quoted' \"name\"; -- not SQL".to_owned(),
        scopes: ScopeSet::empty(),
        ip_allowlist: IpAllowlist::default(),
        hint: "pk_test_Zz9…".to_owned(),
        created_at: at(1),
        rotation_due_at: at(2),
        rotated_at: Some(at(3)),
        rotated_from: Some(key_id()),
        rotated_to: Some(key_id()),
        expires_at: Some(at(4)),
        revoked_at: Some(at(5)),
        last_used_at: Some(at(6)),
        last_used_ip: Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7))),
        ..key(tenant, "full")
    }
}

/// An unconsumed code of `family`, valid from `issued` for 60 s.
pub(super) fn code(
    tenant: &TenantId,
    family: &FamilyId,
    issued: OffsetDateTime,
) -> AuthorizationCodeRecord {
    AuthorizationCodeRecord {
        digest: digest(),
        family: family.clone(),
        tenant: tenant.clone(),
        client_id: client_id(),
        redirect_uri: Some("https://app.example.com/callback?x=1".to_owned()),
        subject: "alice@example.com".into(),
        scopes: scopes("documents:read openid"),
        challenge: CodeChallenge::s256_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        issued_at: issued,
        expires_at: issued + Duration::seconds(60),
        consumed_at: None,
        resources: crate::oauth::Resources::none(),
    }
}

/// An access token of `family` expiring at `expires`.
pub(super) fn access(
    tenant: &TenantId,
    family: &FamilyId,
    expires: OffsetDateTime,
) -> AccessTokenRecord {
    AccessTokenRecord {
        digest: digest(),
        family: family.clone(),
        tenant: tenant.clone(),
        client_id: client_id(),
        subject: "alice@example.com".into(),
        scopes: scopes("documents:read"),
        issued_at: expires - Duration::hours(1),
        expires_at: expires,
        revoked_at: None,
        audience: crate::oauth::Resources::none(),
    }
}

/// A refresh token of `family` expiring at `expires` (the family a day later).
pub(super) fn refresh(
    tenant: &TenantId,
    family: &FamilyId,
    expires: OffsetDateTime,
) -> RefreshTokenRecord {
    RefreshTokenRecord {
        digest: digest(),
        handle: None,
        family: family.clone(),
        tenant: tenant.clone(),
        client_id: client_id(),
        subject: "alice@example.com".into(),
        scopes: scopes("documents:read documents:write"),
        issued_at: expires - Duration::days(1),
        expires_at: expires,
        family_expires_at: expires + Duration::days(1),
        rotated_at: None,
        revoked_at: None,
        resources: crate::oauth::Resources::none(),
    }
}

/// Runs `f(i)` for `i` in `0..RACERS` on spawned tasks released together;
/// the results in order of `i`.
pub(super) async fn race<T, F, Fut>(what: &str, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    race_staggered(what, Racing::Parallel, f).await
}

/// How the callers of a race run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Racing {
    /// On the runtime's worker threads, released together: true
    /// parallelism, for a store whose check and write are apart without
    /// an `await` between them.
    Parallel,
    /// The same, with the starts staggered: after the release, caller `i`
    /// lets the scheduler run others `i % 4` times before it calls.
    Staggered,
    /// On one thread, taking turns at every `await` (a `LocalSet`): a store
    /// that awaits anything between its check and its write (a database
    /// round trip, a yield) lets every other caller pass the check meanwhile,
    /// whatever the machine's load.
    Interleaved,
}

/// [`race`], run as `racing` says.
pub(super) async fn race_staggered<T, F, Fut>(what: &str, racing: Racing, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|i| {
            let barrier = barrier.clone();
            let fut = f(i);
            async move {
                barrier.wait().await;
                if racing == Racing::Staggered {
                    for _ in 0..i % 4 {
                        tokio::task::yield_now().await;
                    }
                }
                fut.await
            }
        })
        .collect();
    if racing == Racing::Interleaved {
        return InTurn::new(racers).await;
    }
    let tasks: Vec<_> = racers.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(RACERS);
    for t in tasks {
        match t.await {
            Ok(v) => out.push(v),
            // A check that stopped inside the task (or the store panicked):
            // on to the suite, which reports it.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => abort(format!(
                "store conformance: a concurrent {what} task failed: {e}"
            )),
        }
    }
    out
}

/// Futures run in turn on the current task: each poll polls every one not
/// yet done, in order, so whenever one of them awaits, every other runs up
/// to its own next `await` before it goes on. The results in order.
struct InTurn<F: Future> {
    futures: Vec<Option<Pin<Box<F>>>>,
    /// Boxed, so that `InTurn` is `Unpin` whatever the output.
    results: Box<[Option<F::Output>]>,
}

impl<F: Future> InTurn<F> {
    fn new(futures: Vec<F>) -> Self {
        let results = futures.iter().map(|_| None).collect();
        Self {
            futures: futures.into_iter().map(|f| Some(Box::pin(f))).collect(),
            results,
        }
    }
}

impl<F: Future> Future for InTurn<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        for (slot, result) in this.futures.iter_mut().zip(this.results.iter_mut()) {
            if let Some(future) = slot
                && let Poll::Ready(value) = future.as_mut().poll(cx)
            {
                *result = Some(value);
                *slot = None;
            }
        }
        if this.futures.iter().any(Option::is_some) {
            return Poll::Pending;
        }
        Poll::Ready(this.results.iter_mut().filter_map(Option::take).collect())
    }
}
