//! Records with random ids and digests, and helpers that fail loudly.

use std::{
    future::Future,
    net::{IpAddr, Ipv6Addr},
    sync::Arc,
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

/// The value of a store call, or a panic naming the call.
pub(super) fn ok<T>(what: &str, r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("store conformance: {what} failed: {e}"))
}

/// Asserts that a store call failed with a conflict.
pub(super) fn conflict<T: std::fmt::Debug>(what: &str, r: Result<T, StoreError>) {
    match r {
        Err(e) if e.kind() == StoreErrorKind::Conflict => {}
        Err(e) => panic!("store conformance: {what} must fail with Conflict, failed with {e}"),
        Ok(v) => panic!("store conformance: {what} must fail with Conflict, returned {v:?}"),
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
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::with_capacity(RACERS);
    for i in 0..RACERS {
        let barrier = barrier.clone();
        let fut = f(i);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::with_capacity(RACERS);
    for t in tasks {
        match t.await {
            Ok(v) => out.push(v),
            Err(e) => panic!("store conformance: a concurrent {what} task failed: {e}"),
        }
    }
    out
}
