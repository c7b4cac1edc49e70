//! Black-box tests of the API key lifecycle through the public service.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use async_trait::async_trait;
use papyrus_auth::{
    Actor, ApiKeyConfig, ApiKeyError, ApiKeyRecord, ApiKeyStatus, ApiKeyStore, ApiKeys,
    AuditEventKind, AuditLog, AuditQuery, AuthError, AuthRequest, Digest, Environment, IpAllowlist,
    KeyId, Lookup, ManualClock, MemoryApiKeyStore, MemoryAuditLog, NewApiKey, Pepper, Rejection,
    RevokeOutcome, RotateOptions, RotateOutcome, RotationTraffic, ScopeSet, SecretHasher,
    StoreError, TenantId, http,
};
use time::{Duration, OffsetDateTime, macros::datetime};

const START: OffsetDateTime = datetime!(2026-03-01 9:00 UTC);

/// Delegates to the memory store, counting calls and optionally failing.
#[derive(Debug, Default)]
struct Spy {
    inner: MemoryApiKeyStore,
    finds: AtomicUsize,
    touches: AtomicUsize,
    writes: AtomicUsize,
    down: AtomicBool,
}

impl Spy {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable(std::io::Error::other(
                "connection refused",
            )))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl ApiKeyStore for Spy {
    async fn insert(&self, r: &ApiKeyRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert(r).await
    }
    /// A store that makes its callers wait, like a database.
    fn find_by_digest(&self, d: Digest) -> Lookup<'_, ApiKeyRecord> {
        Lookup::later(async move {
            self.finds.fetch_add(1, Ordering::SeqCst);
            self.check()?;
            self.inner.find_by_digest(d).await
        })
    }
    async fn get(&self, t: &TenantId, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.check()?;
        self.inner.get(t, id).await
    }
    async fn list(&self, t: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.check()?;
        self.inner.list(t).await
    }
    async fn rotate(
        &self,
        t: &TenantId,
        old: &KeyId,
        s: &ApiKeyRecord,
        e: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError> {
        self.check()?;
        self.inner.rotate(t, old, s, e, at).await
    }
    async fn revoke(
        &self,
        t: &TenantId,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<RevokeOutcome, StoreError> {
        self.check()?;
        self.inner.revoke(t, id, at).await
    }
    async fn touch_last_used(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
        ip: Option<IpAddr>,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        let wrote = self.inner.touch_last_used(id, at, ip, stale_before).await?;
        if wrote {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(wrote)
    }
}

struct Fixture {
    keys: ApiKeys,
    store: Arc<Spy>,
    audit: Arc<MemoryAuditLog>,
    clock: ManualClock,
    acme: TenantId,
}

fn fixture() -> Fixture {
    fixture_with(ApiKeyConfig::default())
}

fn fixture_with(config: ApiKeyConfig) -> Fixture {
    let store = Arc::new(Spy::default());
    let audit = Arc::new(MemoryAuditLog::new());
    let clock = ManualClock::new(START);
    let keys = ApiKeys::new(store.clone(), audit.clone())
        .with_clock(Arc::new(clock.clone()))
        .with_config(config);
    Fixture {
        keys,
        store,
        audit,
        clock,
        acme: "acme".parse().unwrap(),
    }
}

fn scopes(s: &str) -> ScopeSet {
    s.parse().unwrap()
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

impl Fixture {
    async fn create(&self, new: NewApiKey) -> (String, KeyId) {
        let c = self
            .keys
            .create(&self.acme, new, &Actor::System)
            .await
            .unwrap();
        (c.key.expose_secret().to_owned(), c.info.id)
    }

    async fn auth(
        &self,
        key: &str,
        tenant: &str,
        from: Option<IpAddr>,
        need: &str,
    ) -> Result<papyrus_auth::Principal, AuthError> {
        let header = format!("Bearer {key}");
        self.keys
            .authenticate(
                &AuthRequest::new(Some(&header), Some(tenant), from),
                &scopes(need),
            )
            .await
    }

    async fn events(&self, tenant: &TenantId) -> Vec<AuditEventKind> {
        self.audit
            .query(&AuditQuery::tenant(tenant.clone()).limit(1000))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

fn rejection(r: Result<papyrus_auth::Principal, AuthError>) -> Rejection {
    match r {
        Err(AuthError::Rejected(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_created_key_authenticates_with_its_scopes() {
    let f = fixture();
    let (key, id) = f
        .create(NewApiKey::new(
            "ci",
            scopes("documents:read documents:write"),
        ))
        .await;
    assert!(key.starts_with("pk_live_"));
    let p = f
        .auth(&key, "acme", ip("192.0.2.1"), "documents:read")
        .await
        .unwrap();
    assert_eq!(p.tenant(), &f.acme);
    assert_eq!(p.subject(), id.as_str());
    assert_eq!(p.scopes(), &scopes("documents:read documents:write"));
    let test_key = f
        .keys
        .create(
            &f.acme,
            NewApiKey::new("t", scopes("")).with_environment(Environment::Test),
            &Actor::System,
        )
        .await
        .unwrap();
    assert!(test_key.key.expose_secret().starts_with("pk_test_"));
}

#[tokio::test]
async fn every_rejection_path() {
    let f = fixture();
    let (key, _) = f
        .create(
            NewApiKey::new("ci", scopes("documents:read"))
                .with_ip_allowlist(IpAllowlist::parse(["10.0.0.0/8", "2001:db8::/32"]).unwrap()),
        )
        .await;
    let good = ip("10.0.0.1");

    let none = f
        .keys
        .authenticate(
            &AuthRequest::new(None, Some("acme"), good),
            &ScopeSet::empty(),
        )
        .await;
    assert_eq!(rejection(none), Rejection::MissingCredentials);
    let basic = f
        .keys
        .authenticate(
            &AuthRequest::new(Some("Basic YTpi"), Some("acme"), good),
            &ScopeSet::empty(),
        )
        .await;
    assert_eq!(rejection(basic), Rejection::MissingCredentials);
    let header = format!("Bearer {key}");
    let no_tenant = f
        .keys
        .authenticate(
            &AuthRequest::new(Some(&header), None, good),
            &ScopeSet::empty(),
        )
        .await;
    assert_eq!(rejection(no_tenant), Rejection::MissingTenant);
    let bad_tenant = f
        .keys
        .authenticate(
            &AuthRequest::new(Some(&header), Some("Acme Corp"), good),
            &ScopeSet::empty(),
        )
        .await;
    assert_eq!(rejection(bad_tenant), Rejection::InvalidTenant);

    let mut typo = key.clone();
    typo.replace_range(10..11, if &key[10..11] == "a" { "b" } else { "a" });
    assert_eq!(
        rejection(f.auth(&typo, "acme", good, "").await),
        Rejection::Malformed
    );

    let unknown = papyrus_auth::KeyFormat::default().generate(Environment::Live);
    assert_eq!(
        rejection(f.auth(unknown.expose_secret(), "acme", good, "").await),
        Rejection::Unknown
    );

    assert_eq!(
        rejection(f.auth(&key, "globex", good, "").await),
        Rejection::WrongTenant
    );
    assert_eq!(
        rejection(f.auth(&key, "acme", ip("192.0.2.1"), "").await),
        Rejection::IpNotAllowed
    );
    assert_eq!(
        rejection(f.auth(&key, "acme", None, "").await),
        Rejection::IpNotAllowed
    );
    assert_eq!(
        rejection(
            f.auth(&key, "acme", good, "documents:read documents:write")
                .await
        ),
        Rejection::InsufficientScope {
            required: scopes("documents:read documents:write")
        }
    );
    assert!(
        f.auth(&key, "acme", ip("::ffff:10.9.9.9"), "documents:read")
            .await
            .is_ok()
    );
    assert!(
        f.auth(&key, "acme", ip("2001:db8::5"), "documents:read")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn malformed_keys_never_reach_the_store() {
    let f = fixture();
    for bad in [
        "pk_live_short",
        "pk_live_0000000000000000000000000000000000000!",
        "sk_live_x",
        "x",
    ] {
        assert_eq!(
            rejection(f.auth(bad, "acme", None, "").await),
            Rejection::Malformed,
            "{bad}"
        );
    }
    assert_eq!(f.store.finds.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_credential_that_is_not_a_b64token_is_refused_before_the_tenant() {
    let f = fixture();
    for header in ["Bearer a b", "Bearer a\"b", "Bearer pk_live_\u{e9}\u{e9}"] {
        for tenant in [None, Some("ACME"), Some("acme")] {
            let r = f
                .keys
                .authenticate(&AuthRequest::new(Some(header), tenant, None), &scopes(""))
                .await;
            assert_eq!(rejection(r), Rejection::Malformed, "{header:?} {tenant:?}");
        }
    }
    // A well-formed credential without a tenant is a tenant problem.
    let r = f
        .keys
        .authenticate(
            &AuthRequest::new(Some("Bearer abc"), None, None),
            &scopes(""),
        )
        .await;
    assert_eq!(rejection(r), Rejection::MissingTenant);
    assert_eq!(f.store.finds.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn revocation_takes_effect_on_the_very_next_call() {
    let f = fixture();
    let (key, id) = f
        .create(NewApiKey::new("ci", scopes("documents:read")))
        .await;
    assert!(f.auth(&key, "acme", None, "documents:read").await.is_ok());
    let info = f.keys.revoke(&f.acme, &id, &Actor::System).await.unwrap();
    assert_eq!(info.status, ApiKeyStatus::Revoked);
    assert_eq!(info.revoked_at, Some(START));
    assert_eq!(
        rejection(f.auth(&key, "acme", None, "documents:read").await),
        Rejection::Revoked
    );
    // Idempotent: the first revocation time is kept, and one event only.
    f.clock.advance(Duration::minutes(5));
    let again = f.keys.revoke(&f.acme, &id, &Actor::System).await.unwrap();
    assert_eq!(again.revoked_at, Some(START));
    let revoked_events = f
        .events(&f.acme)
        .await
        .into_iter()
        .filter(|k| *k == AuditEventKind::KeyRevoked)
        .count();
    assert_eq!(revoked_events, 1);
    // The wire response is the same as for an unknown key.
    let err = f.auth(&key, "acme", None, "").await.unwrap_err();
    let unknown = f
        .auth(
            papyrus_auth::KeyFormat::default()
                .generate(Environment::Live)
                .expose_secret(),
            "acme",
            None,
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(
        http::auth_error_response(&err),
        http::auth_error_response(&unknown)
    );
    assert_eq!(http::auth_error_response(&err).status, 401);
}

#[tokio::test]
async fn expiry_follows_the_clock() {
    let f = fixture();
    let (key, id) = f
        .create(NewApiKey::new("temp", scopes("")).with_expires_at(START + Duration::hours(1)))
        .await;
    assert!(f.auth(&key, "acme", None, "").await.is_ok());
    f.clock.advance(Duration::hours(1));
    assert_eq!(
        rejection(f.auth(&key, "acme", None, "").await),
        Rejection::Expired
    );
    assert_eq!(
        f.keys.get(&f.acme, &id).await.unwrap().status,
        ApiKeyStatus::Expired
    );
    let past = f
        .keys
        .create(
            &f.acme,
            NewApiKey::new("past", scopes("")).with_expires_at(START),
            &Actor::System,
        )
        .await;
    assert!(matches!(past, Err(ApiKeyError::Invalid(_))));
}

#[tokio::test]
async fn tenants_are_isolated() {
    let f = fixture();
    let globex: TenantId = "globex".parse().unwrap();
    let (key, id) = f
        .create(NewApiKey::new("ci", scopes("documents:read")))
        .await;
    assert_eq!(
        rejection(f.auth(&key, "globex", None, "").await),
        Rejection::WrongTenant
    );
    assert!(matches!(
        f.keys.get(&globex, &id).await,
        Err(ApiKeyError::NotFound)
    ));
    assert!(f.keys.list(&globex).await.unwrap().is_empty());
    assert!(matches!(
        f.keys.revoke(&globex, &id, &Actor::System).await,
        Err(ApiKeyError::NotFound)
    ));
    assert!(matches!(
        f.keys
            .rotate(&globex, &id, RotateOptions::default(), &Actor::System)
            .await,
        Err(ApiKeyError::NotFound)
    ));
    assert!(
        f.auth(&key, "acme", None, "").await.is_ok(),
        "other tenant's attempts changed nothing"
    );
    // The attempt is audited in the key's own tenant, not in the other one.
    assert!(f.events(&globex).await.is_empty());
    assert!(
        f.events(&f.acme)
            .await
            .contains(&AuditEventKind::KeyRejected {
                reason: Rejection::WrongTenant
            })
    );
}

#[tokio::test]
async fn rotation_overlap_and_traffic_check() {
    let f = fixture();
    let (old_key, old_id) = f
        .create(
            NewApiKey::new("sync", scopes("documents:read"))
                .with_ip_allowlist(IpAllowlist::parse(["10.0.0.0/8"]).unwrap()),
        )
        .await;
    assert!(f.auth(&old_key, "acme", ip("10.0.0.1"), "").await.is_ok());
    assert_eq!(
        f.keys.rotation_traffic(&f.acme, &old_id).await.unwrap(),
        RotationTraffic::NotRotated
    );

    f.clock.advance(Duration::seconds(10));
    let rotated = f
        .keys
        .rotate(&f.acme, &old_id, RotateOptions::default(), &Actor::System)
        .await
        .unwrap();
    let new_key = rotated.key.expose_secret().to_owned();
    assert_ne!(new_key, old_key);
    assert_eq!(rotated.info.scopes, scopes("documents:read"));
    assert_eq!(
        rotated.info.ip_allowlist,
        IpAllowlist::parse(["10.0.0.0/8"]).unwrap()
    );
    assert_eq!(rotated.info.name, "sync");
    assert_eq!(rotated.info.rotated_from.as_ref(), Some(&old_id));

    let old = f.keys.get(&f.acme, &old_id).await.unwrap();
    assert_eq!(old.status, ApiKeyStatus::RotatedOut);
    assert_eq!(old.rotated_to.as_ref(), Some(&rotated.info.id));
    let traffic = f.keys.rotation_traffic(&f.acme, &old_id).await.unwrap();
    assert!(
        matches!(traffic, RotationTraffic::Quiet { .. }),
        "{traffic:?}"
    );

    // Both keys work during the rolling deploy.
    assert!(
        f.auth(&new_key, "acme", ip("10.0.0.1"), "documents:read")
            .await
            .is_ok()
    );
    // The old key is used 5 s after rotation, within the 60 s window of its last
    // write: the use is still recorded, because it is the first since rotation.
    f.clock.advance(Duration::seconds(5));
    assert!(
        f.auth(&old_key, "acme", ip("10.0.0.2"), "documents:read")
            .await
            .is_ok()
    );
    match f.keys.rotation_traffic(&f.acme, &old_id).await.unwrap() {
        RotationTraffic::StillUsed {
            last_used_at,
            successor,
            ..
        } => {
            assert_eq!(last_used_at, START + Duration::seconds(15));
            assert_eq!(successor, rotated.info.id);
        }
        other => panic!("expected StillUsed, got {other:?}"),
    }
    assert_eq!(
        f.keys.get(&f.acme, &old_id).await.unwrap().last_used_ip,
        ip("10.0.0.2")
    );

    // Rotating again is refused; the successor is named.
    match f
        .keys
        .rotate(&f.acme, &old_id, RotateOptions::default(), &Actor::System)
        .await
    {
        Err(ApiKeyError::AlreadyRotated { successor }) => assert_eq!(successor, rotated.info.id),
        other => panic!("{other:?}"),
    }
    // Revoke the old key: it fails at once, the new one keeps working.
    f.keys
        .revoke(&f.acme, &old_id, &Actor::System)
        .await
        .unwrap();
    assert_eq!(
        rejection(f.auth(&old_key, "acme", ip("10.0.0.1"), "").await),
        Rejection::Revoked
    );
    assert!(f.auth(&new_key, "acme", ip("10.0.0.1"), "").await.is_ok());

    let kinds = f.events(&f.acme).await;
    assert!(kinds.iter().any(|k| matches!(k, AuditEventKind::KeyRotated { successor, .. } if *successor == rotated.info.id)));
}

#[tokio::test]
async fn rotation_with_grace_deadline_and_refusals() {
    let f = fixture();
    let (old_key, old_id) = f.create(NewApiKey::new("sync", scopes(""))).await;
    f.keys
        .rotate(
            &f.acme,
            &old_id,
            RotateOptions::default().with_grace(Duration::hours(24)),
            &Actor::System,
        )
        .await
        .unwrap();
    f.clock.advance(Duration::hours(23));
    assert!(f.auth(&old_key, "acme", None, "").await.is_ok());
    f.clock.advance(Duration::hours(1));
    assert_eq!(
        rejection(f.auth(&old_key, "acme", None, "").await),
        Rejection::Expired
    );

    let (_, revoked) = f.create(NewApiKey::new("gone", scopes(""))).await;
    f.keys
        .revoke(&f.acme, &revoked, &Actor::System)
        .await
        .unwrap();
    assert!(matches!(
        f.keys
            .rotate(&f.acme, &revoked, RotateOptions::default(), &Actor::System)
            .await,
        Err(ApiKeyError::Revoked)
    ));
    let missing = KeyId::parse("key_doesnotexist").unwrap();
    assert!(matches!(
        f.keys
            .rotate(&f.acme, &missing, RotateOptions::default(), &Actor::System)
            .await,
        Err(ApiKeyError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_create_one_successor() {
    let f = fixture();
    let (_, id) = f.create(NewApiKey::new("sync", scopes(""))).await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let keys = f.keys.clone();
        let (tenant, id) = (f.acme.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            keys.rotate(&tenant, &id, RotateOptions::default(), &Actor::System)
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(ApiKeyError::AlreadyRotated { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(f.keys.list(&f.acme).await.unwrap().len(), 2);
}

#[tokio::test]
async fn last_used_is_written_once_per_window() {
    let f = fixture();
    let (key, id) = f.create(NewApiKey::new("hot", scopes(""))).await;
    for _ in 0..1000 {
        f.auth(&key, "acme", ip("10.0.0.1"), "").await.unwrap();
    }
    assert_eq!(f.store.writes.load(Ordering::SeqCst), 1);
    assert_eq!(
        f.store.touches.load(Ordering::SeqCst),
        1,
        "no store call at all within the window"
    );
    f.clock.advance(Duration::seconds(59));
    f.auth(&key, "acme", None, "").await.unwrap();
    assert_eq!(f.store.writes.load(Ordering::SeqCst), 1);
    f.clock.advance(Duration::seconds(1));
    f.auth(&key, "acme", ip("10.0.0.3"), "").await.unwrap();
    assert_eq!(f.store.writes.load(Ordering::SeqCst), 2);
    let info = f.keys.get(&f.acme, &id).await.unwrap();
    assert_eq!(info.last_used_at, Some(START + Duration::seconds(60)));
    assert_eq!(info.last_used_ip, ip("10.0.0.3"));
    let used = f
        .events(&f.acme)
        .await
        .into_iter()
        .filter(|k| *k == AuditEventKind::KeyUsed)
        .count();
    assert_eq!(used, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_authentications_write_last_used_once() {
    let f = fixture();
    let (key, _) = f.create(NewApiKey::new("hot", scopes(""))).await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let keys = f.keys.clone();
        let header = format!("Bearer {key}");
        tasks.push(tokio::spawn(async move {
            keys.authenticate(
                &AuthRequest::new(Some(&header), Some("acme"), None),
                &ScopeSet::empty(),
            )
            .await
            .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(f.store.writes.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn list_shows_state_without_secrets() {
    let f = fixture();
    let (key, id) = f
        .create(NewApiKey::new("old", scopes("documents:read")))
        .await;
    f.clock.advance(Duration::days(91));
    let (_, newer) = f
        .create(NewApiKey::new("new", scopes("analytics:read")))
        .await;
    let list = f.keys.list(&f.acme).await.unwrap();
    assert_eq!(
        list.iter().map(|k| k.id.clone()).collect::<Vec<_>>(),
        vec![newer, id.clone()]
    );
    assert!(list[1].rotation_due, "90 days have passed");
    assert!(!list[0].rotation_due);
    let json = serde_json::to_string(&list).unwrap();
    assert!(!json.contains(&key));
    assert!(!json.contains(&key[8..]), "not even the random part");
    assert!(json.contains("\"hint\":\"pk_live_"));
    assert!(json.contains("\"rotation_due\":true"));
}

#[tokio::test]
async fn no_plaintext_in_any_record_or_event() {
    let f = fixture();
    let mut secrets = Vec::new();
    let (k1, id1) = f
        .create(NewApiKey::new("a", scopes("documents:read")))
        .await;
    secrets.push(k1.clone());
    f.auth(&k1, "acme", None, "documents:read").await.unwrap();
    let _ = f.auth(&k1, "acme", None, "documents:write").await;
    let _ = f.auth(&k1, "globex", None, "").await;
    let rotated = f
        .keys
        .rotate(&f.acme, &id1, RotateOptions::default(), &Actor::System)
        .await
        .unwrap();
    secrets.push(rotated.key.expose_secret().to_owned());
    f.keys.revoke(&f.acme, &id1, &Actor::System).await.unwrap();
    let _ = f.auth(&k1, "acme", None, "").await;

    let records = f.store.inner.list(&f.acme).await.unwrap();
    let dump = format!("{records:?} {:?}", f.audit.all())
        + &serde_json::to_string(&f.audit.all()).unwrap();
    assert!(!f.audit.all().is_empty());
    for s in &secrets {
        assert!(!dump.contains(s.as_str()));
        assert!(!dump.contains(&s[8..40]));
    }
    assert!(format!("{rotated:?}").contains("[redacted]"));
    assert!(!format!("{rotated:?}").contains(&secrets[1]));
}

#[tokio::test]
async fn audit_log_records_the_lifecycle_per_key() {
    let f = fixture();
    let admin = Actor::User {
        subject: "alice".into(),
    };
    let c = f
        .keys
        .create(
            &f.acme,
            NewApiKey::new("a", scopes("documents:read")),
            &admin,
        )
        .await
        .unwrap();
    let key = c.key.expose_secret().to_owned();
    let (_, other) = f.create(NewApiKey::new("b", scopes(""))).await;
    f.auth(&key, "acme", ip("10.0.0.9"), "").await.unwrap();
    let _ = f.auth(&key, "acme", ip("10.0.0.9"), "analytics:read").await;
    f.keys.revoke(&f.acme, &c.info.id, &admin).await.unwrap();
    let _ = f.auth(&key, "acme", ip("10.0.0.9"), "").await;

    let events = f
        .audit
        .query(&AuditQuery::tenant(f.acme.clone()).key(c.info.id.clone()))
        .await
        .unwrap();
    let kinds: Vec<&str> = events.iter().rev().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "key_created",
            "key_used",
            "key_rejected",
            "key_revoked",
            "key_rejected"
        ]
    );
    assert_eq!(
        events[0].kind,
        AuditEventKind::KeyRejected {
            reason: Rejection::Revoked
        }
    );
    assert_eq!(events[0].ip, ip("10.0.0.9"));
    assert_eq!(events[1].actor, admin);
    assert!(
        events
            .iter()
            .all(|e| e.key_id.as_ref() == Some(&c.info.id) && e.tenant == f.acme)
    );
    let all = f
        .audit
        .query(&AuditQuery::tenant(f.acme.clone()))
        .await
        .unwrap();
    assert!(all.iter().any(|e| e.key_id.as_ref() == Some(&other)));
}

#[tokio::test]
async fn names_are_validated() {
    let f = fixture();
    for bad in ["", "   ", "a\nb", &"x".repeat(101)] {
        let r = f
            .keys
            .create(&f.acme, NewApiKey::new(bad, scopes("")), &Actor::System)
            .await;
        assert!(matches!(r, Err(ApiKeyError::Invalid(_))), "{bad:?}");
    }
    assert!(
        f.keys
            .create(
                &f.acme,
                NewApiKey::new("ü".repeat(100), scopes("")),
                &Actor::System
            )
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_failing_store_is_a_503_not_a_401() {
    let f = fixture();
    let (key, _) = f.create(NewApiKey::new("a", scopes(""))).await;
    f.store.down.store(true, Ordering::SeqCst);
    let err = f.auth(&key, "acme", None, "").await.unwrap_err();
    assert!(matches!(err, AuthError::Store(_)));
    assert_eq!(http::auth_error_response(&err).status, 503);
    let admin = f.keys.list(&f.acme).await.unwrap_err();
    assert_eq!(http::api_key_error_response(&admin).status, 503);
}

#[tokio::test]
async fn peppered_digests() {
    let pepper = Pepper::new("server-side pepper");
    let f = fixture_with(ApiKeyConfig::default().with_hasher(SecretHasher::with_pepper(&pepper)));
    let (key, _) = f.create(NewApiKey::new("a", scopes(""))).await;
    assert!(f.auth(&key, "acme", None, "").await.is_ok());
    let records = f.store.inner.list(&f.acme).await.unwrap();
    assert_eq!(
        records[0].digest,
        SecretHasher::with_pepper(&pepper).digest(key.as_bytes())
    );
    assert_ne!(
        records[0].digest,
        SecretHasher::sha256().digest(key.as_bytes())
    );
    // The same store read without the pepper knows no key.
    let plain = ApiKeys::new(f.store.clone(), f.audit.clone());
    let header = format!("Bearer {key}");
    let r = plain
        .authenticate(
            &AuthRequest::new(Some(&header), Some("acme"), None),
            &ScopeSet::empty(),
        )
        .await;
    assert_eq!(rejection(r), Rejection::Unknown);
}

#[tokio::test]
async fn custom_prefix_and_window() {
    let config = ApiKeyConfig::default()
        .with_format(papyrus_auth::KeyFormat::with_prefix("acme").unwrap())
        .with_rotation_period(Duration::days(30))
        .with_last_used_window(Duration::seconds(1));
    let f = fixture_with(config);
    let (key, id) = f.create(NewApiKey::new("a", scopes(""))).await;
    assert!(key.starts_with("acme_live_"));
    assert_eq!(
        f.keys.get(&f.acme, &id).await.unwrap().rotation_due_at,
        START + Duration::days(30)
    );
    assert_eq!(
        rejection(f.auth(&format!("pk{}", &key[4..]), "acme", None, "").await),
        Rejection::Malformed
    );
    f.auth(&key, "acme", None, "").await.unwrap();
    f.clock.advance(Duration::seconds(1));
    f.auth(&key, "acme", None, "").await.unwrap();
    assert_eq!(f.store.writes.load(Ordering::SeqCst), 2);
}

/// An audit sink that always fails.
#[derive(Debug)]
struct BrokenSink;

#[async_trait]
impl papyrus_auth::AuditSink for BrokenSink {
    async fn record(&self, _: papyrus_auth::AuditEvent) -> Result<(), StoreError> {
        Err(StoreError::unavailable(std::io::Error::other(
            "audit db down",
        )))
    }
}

#[tokio::test]
async fn a_failing_audit_sink_never_undoes_or_hides_a_committed_action() {
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), Arc::new(BrokenSink));
    let acme: TenantId = "acme".parse().unwrap();
    let created = keys
        .create(&acme, NewApiKey::new("a", scopes("")), &Actor::System)
        .await
        .expect("the key is stored: its plaintext must reach the caller");
    let header = format!("Bearer {}", created.key.expose_secret());
    let req = AuthRequest::new(Some(&header), Some("acme"), None);
    assert!(keys.authenticate(&req, &ScopeSet::empty()).await.is_ok());
    let rotated = keys
        .rotate(
            &acme,
            &created.info.id,
            RotateOptions::default(),
            &Actor::System,
        )
        .await
        .expect("the successor is stored: its plaintext must reach the caller");
    assert!(rotated.key.expose_secret().starts_with("pk_live_"));
    keys.revoke(&acme, &created.info.id, &Actor::System)
        .await
        .unwrap();
    // A refused key is a 401 whatever the audit sink does (no 503 that would
    // tell a revoked key from an unknown one).
    let err = keys
        .authenticate(&req, &ScopeSet::empty())
        .await
        .unwrap_err();
    assert_eq!(http::auth_error_response(&err).status, 401);
}

#[tokio::test]
async fn refusals_are_audited_once_per_key_reason_and_window() {
    let f = fixture();
    let (key, id) = f.create(NewApiKey::new("leaked", scopes(""))).await;
    f.keys.revoke(&f.acme, &id, &Actor::System).await.unwrap();
    for _ in 0..100 {
        let _ = f.auth(&key, "acme", None, "").await;
        let _ = f.auth(&key, "globex", None, "").await;
    }
    let rejected = |kinds: Vec<AuditEventKind>| {
        kinds
            .into_iter()
            .filter(|k| matches!(k, AuditEventKind::KeyRejected { .. }))
            .count()
    };
    assert_eq!(rejected(f.events(&f.acme).await), 2, "one per reason");
    f.clock.advance(Duration::seconds(60));
    let _ = f.auth(&key, "acme", None, "").await;
    assert_eq!(rejected(f.events(&f.acme).await), 3);
    // The lifecycle events are still there.
    assert!(
        f.events(&f.acme)
            .await
            .contains(&AuditEventKind::KeyRevoked)
    );
}

#[tokio::test]
async fn a_refused_key_state_is_not_revealed_by_allowlist_or_scope() {
    let f = fixture();
    let (key, id) = f
        .create(
            NewApiKey::new("ci", scopes("documents:read"))
                .with_ip_allowlist(IpAllowlist::parse(["10.0.0.0/8"]).unwrap()),
        )
        .await;
    f.keys.revoke(&f.acme, &id, &Actor::System).await.unwrap();
    // Outside the allowlist and lacking a scope: still the revoked key's 401,
    // not a 403 that would confirm the key is otherwise valid.
    let r = f
        .auth(&key, "acme", ip("192.0.2.1"), "documents:write")
        .await;
    assert_eq!(rejection(r), Rejection::Revoked);
}

#[tokio::test]
async fn expired_keys_cannot_be_rotated_and_grace_is_bounded() {
    let f = fixture();
    let (_, id) = f
        .create(NewApiKey::new("temp", scopes("")).with_expires_at(START + Duration::hours(1)))
        .await;
    f.clock.advance(Duration::hours(2));
    let r = f
        .keys
        .rotate(&f.acme, &id, RotateOptions::default(), &Actor::System)
        .await;
    assert!(matches!(r, Err(ApiKeyError::Invalid(_))), "{r:?}");
    let (_, id) = f.create(NewApiKey::new("b", scopes(""))).await;
    let r = f
        .keys
        .rotate(
            &f.acme,
            &id,
            RotateOptions::default().with_grace(Duration::MAX),
            &Actor::System,
        )
        .await;
    assert!(matches!(r, Err(ApiKeyError::Invalid(_))), "{r:?}");
}

#[test]
fn auth_request_debug_redacts_the_credential() {
    let req = AuthRequest::new(Some("Bearer pk_live_secretsecret"), Some("acme"), None);
    let dbg = format!("{req:?}");
    assert!(!dbg.contains("secretsecret"), "{dbg}");
    assert!(dbg.contains("[redacted]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_authentication_succeeds_after_revoke_returns() {
    let f = fixture();
    let (key, id) = f.create(NewApiKey::new("hot", scopes(""))).await;
    let revoked = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (keys, key, revoked) = (f.keys.clone(), key.clone(), revoked.clone());
        tasks.push(tokio::spawn(async move {
            let header = format!("Bearer {key}");
            let req = AuthRequest::new(Some(&header), Some("acme"), None);
            for _ in 0..2000 {
                // Read the flag before the call: if revoke had returned, the call must fail.
                let after_revoke = revoked.load(Ordering::SeqCst);
                let ok = keys.authenticate(&req, &ScopeSet::empty()).await.is_ok();
                assert!(!(after_revoke && ok), "a revoked key authenticated");
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::task::yield_now().await;
    f.keys.revoke(&f.acme, &id, &Actor::System).await.unwrap();
    revoked.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
}

/// The HTTP layer over a store that answers at once (the memory store: the
/// synchronous path) and one that must be waited on (the spy: the
/// asynchronous path) behaves the same: a refused known key is audited and
/// counts toward the failure throttle, a first use is recorded.
#[tokio::test]
async fn http_auth_answers_alike_whether_or_not_the_store_waits() {
    use papyrus_auth::{
        MemoryClientStore, MemoryGrantStore,
        http::{HttpAuth, HttpAuthConfig, HttpRequest, StaticUsers, TenantSource},
        oauth::AuthorizationServer,
        throttle::ThrottleConfig,
    };
    let stores: [Arc<dyn ApiKeyStore>; 2] =
        [Arc::new(MemoryApiKeyStore::new()), Arc::new(Spy::default())];
    for store in stores {
        let audit = Arc::new(MemoryAuditLog::new());
        let keys = ApiKeys::new(store, audit.clone());
        let oauth = AuthorizationServer::new(
            "https://{tenant}.papyrus.io".parse().unwrap(),
            Arc::new(MemoryClientStore::new()),
            Arc::new(MemoryGrantStore::new()),
            audit.clone(),
        );
        let mut throttle = ThrottleConfig::default();
        throttle.per_credential = 3;
        let auth = HttpAuth::builder(keys.clone())
            .oauth(oauth)
            .users(Arc::new(StaticUsers::new()))
            .admin(audit.clone())
            .config(
                HttpAuthConfig::default()
                    .with_api_tenant(TenantSource::Header)
                    .with_oauth_tenant(TenantSource::Header)
                    .with_throttle(Some(throttle)),
            )
            .build()
            .unwrap();
        let acme: TenantId = "acme".parse().unwrap();
        let key = keys
            .create(
                &acme,
                NewApiKey::new("k", scopes("documents:read")),
                &Actor::System,
            )
            .await
            .unwrap()
            .key;
        let request = |tenant: &str| {
            HttpRequest::get("/api")
                .with_header("Authorization", &format!("Bearer {}", key.expose_secret()))
                .with_header("X-Tenant-Id", tenant)
        };
        let status = |r: Result<papyrus_auth::Principal, http::HttpResponse>| match r {
            Ok(_) => 200,
            Err(response) => response.status,
        };

        let ok = auth
            .authenticate(&request("acme"), None, &scopes("documents:read"))
            .await;
        assert_eq!(ok.unwrap().tenant(), &acme);
        // Refused for another tenant: the first refusal is audited (a write
        // before the answer), every one counts; the fourth is throttled.
        let other = request("other");
        for _ in 0..3 {
            let r = auth.authenticate(&other, None, &ScopeSet::empty()).await;
            assert_eq!(status(r), 401);
        }
        let r = auth.authenticate(&other, None, &ScopeSet::empty()).await;
        assert_eq!(status(r), 429);
        let kinds: Vec<&str> = audit
            .query(&AuditQuery::tenant(acme.clone()))
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "key_used").count(),
            1,
            "{kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == "key_rejected").count(),
            1,
            "{kinds:?}"
        );
    }
}
