//! The PostgreSQL store: the conformance kit, races between two pools (two
//! server instances), and a server that is down is `Unavailable`.
//!
//! Runs against `PAPYRUS_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`); each test works in a schema of
//! its own, dropped at the end. Without the variable the tests print that
//! they were skipped, unless `PAPYRUS_TEST_REQUIRE_ALL=1`, which makes them
//! fail instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::{
    future::Future,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration as StdDuration,
};

use papyrus_auth::{
    Answer, ApiKeyStore, CacheConfig, PostgresStore, SecretHasher, StoreErrorKind, StoreOptions,
    TenantId,
    oauth::{
        AccessTokenRecord, ClientId, FamilyId, GrantStore, InsertTokens, NewTokens,
        RefreshTokenRecord, RotateRefresh,
    },
    testkit,
};
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use time::{Duration, OffsetDateTime};

/// The server to test against, or `None` (after saying so) to skip.
fn server_url() -> Option<String> {
    match std::env::var("PAPYRUS_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("PAPYRUS_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "PAPYRUS_TEST_REQUIRE_ALL=1 but PAPYRUS_TEST_POSTGRES_URL is not set"
            );
            // Straight to stderr, past the test harness's capture, so that a
            // skip is seen in every log.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"SKIPPED postgres store tests: PAPYRUS_TEST_POSTGRES_URL is not set\n",
            );
            None
        }
    }
}

/// A schema of its own for one test, dropped at the end.
struct Schema {
    url: String,
    name: String,
    admin: PgPool,
}

impl Schema {
    async fn create(url: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t_{}_{}_{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000_000,
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
            .execute(&admin)
            .await
            .unwrap();
        Self {
            url: url.to_owned(),
            name,
            admin,
        }
    }

    /// A migrated store whose connections use this schema (through `from_pool`).
    async fn store(&self) -> Arc<PostgresStore> {
        let options = PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", self.name.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .unwrap();
        let store = PostgresStore::from_pool(pool);
        store.migrate().await.unwrap();
        Arc::new(store)
    }

    /// A migrated store with the credential cache on, once it holds its
    /// lease (it answers from memory from then on).
    async fn cached_store(&self) -> Arc<PostgresStore> {
        let store = Arc::try_unwrap(self.store().await)
            .unwrap()
            .with_credential_cache(CacheConfig::default().with_lease(StdDuration::from_secs(2)));
        let started = std::time::Instant::now();
        while !store.cache_is_live() {
            assert!(
                started.elapsed() < StdDuration::from_secs(10),
                "the cache never got a lease"
            );
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
        Arc::new(store)
    }

    /// The URL of this schema, for `PostgresStore::connect`.
    fn url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.name)
    }

    async fn drop_schema(self) {
        sqlx::query(&format!("DROP SCHEMA \"{}\" CASCADE", self.name))
            .execute(&self.admin)
            .await
            .unwrap();
        self.admin.close().await;
    }
}

/// Runs `test` in a fresh schema (skipping without a server), then drops
/// the schema whether the test passed or not.
async fn in_schema<F, Fut>(test: F)
where
    F: FnOnce(Arc<Schema>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = server_url() else { return };
    let schema = Arc::new(Schema::create(&url).await);
    let outcome = tokio::spawn(test(schema.clone())).await;
    match Arc::try_unwrap(schema) {
        Ok(schema) => schema.drop_schema().await,
        Err(_) => panic!("the test kept its schema"),
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

// ----- the conformance kit ---------------------------------------------------

/// [`ApiKeys::authenticate`](papyrus_auth::ApiKeys::authenticate) for a bare
/// key: the `Authorization` value is made here.
async fn authenticate_key(
    keys: &papyrus_auth::ApiKeys,
    key: &str,
    tenant: &papyrus_auth::TenantId,
    ip: Option<std::net::IpAddr>,
    required: &papyrus_auth::ScopeSet,
) -> Result<papyrus_auth::Principal, papyrus_auth::AuthError> {
    let header = format!("Bearer {key}");
    let request = papyrus_auth::AuthRequest::new(Some(&header), Some(tenant.as_str()), ip);
    keys.authenticate(&request, required).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_api_key_store_conforms() {
    in_schema(|s| async move { testkit::api_key_store(s.store().await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_client_store_conforms() {
    in_schema(|s| async move { testkit::client_store(s.store().await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_grant_store_conforms() {
    in_schema(|s| async move { testkit::grant_store(s.store().await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_signing_key_store_conforms() {
    in_schema(|s| async move { testkit::signing_key_store(s.store().await).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_audit_log_conforms() {
    in_schema(|s| async move { testkit::audit_log(s.store().await).await }).await;
}

/// The kit, with the credential cache on: a cache changes no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stores_conform_with_the_credential_cache() {
    in_schema(|s| async move {
        let store = s.cached_store().await;
        testkit::api_key_store(store.clone()).await;
        testkit::grant_store(store).await;
    })
    .await;
}

/// Three caching instances on one database: a key and an access token
/// answered from memory by two of them are refused by all three as soon
/// as a revocation through the third returns, round after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_returns_only_once_no_caching_instance_accepts() {
    in_schema(|s| async move {
        let instances = [
            s.cached_store().await,
            s.cached_store().await,
            s.cached_store().await,
        ];
        let tenant: TenantId = "acme".parse().unwrap();
        let now = OffsetDateTime::now_utc();
        let mut waits = Vec::new();
        for round in 0..100 {
            let (revoker, others) = (
                &instances[round % 3],
                [&instances[(round + 1) % 3], &instances[(round + 2) % 3]],
            );
            // A key, looked up by the others until it is answered from memory.
            let key = papyrus_auth::ApiKeyRecord {
                id: papyrus_auth::KeyId::parse(&format!("key_round{round}")).unwrap(),
                digest: digest(&format!("key {round}")),
                ..sample_key(&tenant, now)
            };
            revoker.insert(&key).await.unwrap();
            for other in others {
                warm_key(other, key.digest).await;
            }
            // An access token, likewise.
            let family = FamilyId::from_stored(&format!("fam_round{round}"));
            let (access, _) = tokens(round, &family, now);
            revoker
                .insert_tokens(NewTokens {
                    access: access.clone(),
                    refresh: None,
                })
                .await
                .unwrap();
            for other in others {
                warm_token(other, access.digest).await;
            }
            let started = std::time::Instant::now();
            revoker.revoke(&tenant, &key.id, now).await.unwrap();
            revoker.revoke_family(&family, now).await.unwrap();
            waits.push(started.elapsed());
            for other in others {
                let seen = other.find_by_digest(key.digest).await.unwrap().unwrap();
                assert!(
                    seen.revoked_at.is_some(),
                    "round {round}: a revoked key answered unrevoked"
                );
                let seen = other
                    .find_access_token(access.digest)
                    .await
                    .unwrap()
                    .unwrap();
                assert!(
                    seen.revoked_at.is_some(),
                    "round {round}: a revoked token answered unrevoked"
                );
            }
        }
        waits.sort();
        println!(
            "two revocations with three caching instances: median {:?}, worst {:?}",
            waits[waits.len() / 2],
            waits[waits.len() - 1]
        );
    })
    .await;
}

/// A key record for the cache tests.
fn sample_key(tenant: &TenantId, now: OffsetDateTime) -> papyrus_auth::ApiKeyRecord {
    papyrus_auth::ApiKeyRecord {
        id: papyrus_auth::KeyId::parse("key_sample").unwrap(),
        tenant: tenant.clone(),
        name: "cached".into(),
        environment: papyrus_auth::Environment::Live,
        scopes: "documents:read".parse().unwrap(),
        ip_allowlist: papyrus_auth::IpAllowlist::default(),
        digest: digest("sample"),
        hint: "pk_live_x…".into(),
        created_at: now,
        rotation_due_at: now + Duration::days(90),
        rotated_at: None,
        rotated_from: None,
        rotated_to: None,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        last_used_ip: None,
    }
}

/// Looks a key up until the instance answers it from memory (at once).
async fn warm_key(store: &PostgresStore, digest: papyrus_auth::Digest) {
    for _ in 0..100 {
        match store.find_by_digest(digest) {
            Answer::Now(Ok(Some(_))) => return,
            later => {
                later.await.unwrap().unwrap();
            }
        }
    }
    panic!("the key was never answered from memory");
}

/// Looks an access token up until the instance answers it from memory.
async fn warm_token(store: &PostgresStore, digest: papyrus_auth::Digest) {
    for _ in 0..100 {
        match store.find_access_token(digest) {
            Answer::Now(Ok(Some(_))) => return,
            later => {
                later.await.unwrap().unwrap();
            }
        }
    }
    panic!("the token was never answered from memory");
}

/// `connect` migrates; a second instance connecting to a migrated database
/// (and running the kit twice over) works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_connect_migrates_and_two_instances_share_the_database() {
    in_schema(|s| async move {
        let a = Arc::new(PostgresStore::connect(&s.url()).await.unwrap());
        let b = Arc::new(PostgresStore::connect(&s.url()).await.unwrap());
        testkit::run_all(a.clone(), a.clone(), a.clone(), a.clone()).await;
        testkit::run_all(b.clone(), b.clone(), b.clone(), b.clone()).await;
        testkit::signing_key_store(a).await;
        testkit::signing_key_store(b).await;
    })
    .await;
}

// ----- two instances racing ------------------------------------------------------

fn digest(s: &str) -> papyrus_auth::Digest {
    SecretHasher::sha256().digest(s.as_bytes())
}

fn tokens(
    i: usize,
    family: &FamilyId,
    now: OffsetDateTime,
) -> (AccessTokenRecord, RefreshTokenRecord) {
    let tenant: TenantId = "acme".parse().unwrap();
    let client = ClientId::parse("spa").unwrap();
    let access = AccessTokenRecord {
        digest: digest(&format!("access {family} {i}")),
        family: family.clone(),
        tenant: tenant.clone(),
        client_id: client.clone(),
        subject: "alice".into(),
        scopes: "documents:read".parse().unwrap(),
        issued_at: now,
        expires_at: now + Duration::hours(1),
        revoked_at: None,
        audience: papyrus_auth::oauth::Resources::none(),
    };
    let refresh = RefreshTokenRecord {
        digest: digest(&format!("refresh {family} {i}")),
        // Without a handle: rotated tokens stay, so that every loser of the
        // race below sees the winner's rotation.
        handle: None,
        family: family.clone(),
        tenant,
        client_id: client,
        subject: "alice".into(),
        scopes: "documents:read".parse().unwrap(),
        issued_at: now,
        expires_at: now + Duration::days(1),
        family_expires_at: now + Duration::days(30),
        rotated_at: None,
        revoked_at: None,
        resources: papyrus_auth::oauth::Resources::none(),
    };
    (access, refresh)
}

/// 64 refreshes of one token spread over two pools (two instances): one wins.
/// Then a reuse revokes the family for both, racing new inserts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_rotate_a_refresh_token_once() {
    in_schema(|s| async move {
        let (a, b) = (s.store().await, s.store().await);
        let now = OffsetDateTime::now_utc();
        let family = FamilyId::from_stored("fam_two_instances");
        let (a0, r0) = tokens(0, &family, now);
        let inserted = a
            .insert_tokens(NewTokens {
                access: a0.clone(),
                refresh: Some(r0.clone()),
            })
            .await
            .unwrap();
        assert_eq!(inserted, InsertTokens::Inserted);
        let mut tasks = Vec::new();
        for i in 1..=64 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (new_a, new_r) = tokens(i, &family, now);
            let old = r0.digest;
            tasks.push(tokio::spawn(async move {
                let new = NewTokens {
                    access: new_a,
                    refresh: Some(new_r),
                };
                store.rotate_refresh(&old, new, now, now).await.unwrap()
            }));
        }
        let mut rotated = 0;
        for t in tasks {
            match t.await.unwrap() {
                RotateRefresh::Rotated => rotated += 1,
                RotateRefresh::AlreadyRotated(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(rotated, 1, "exactly one of 64 concurrent refreshes wins");
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens")
            .fetch_one(a.pool())
            .await
            .unwrap();
        assert_eq!(stored, 2, "the old token and the winner's");

        // The reuse is detected on B: the family is revoked for A too.
        assert_eq!(b.revoke_family(&family, now).await.unwrap(), 4);
        let (late_a, late_r) = tokens(99, &family, now);
        assert_eq!(
            a.insert_tokens(NewTokens {
                access: late_a,
                refresh: Some(late_r),
            })
            .await
            .unwrap(),
            InsertTokens::FamilyRevoked
        );
        assert!(
            a.find_access_token(a0.digest)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    })
    .await;
}

/// A key revoked through one instance is refused by the other at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_instance_is_seen_by_the_other() {
    in_schema(|s| async move {
        let (a, b) = (s.store().await, s.store().await);
        let tenant: TenantId = "acme".parse().unwrap();
        let keys_a = papyrus_auth::ApiKeys::new(a.clone(), a.clone());
        let keys_b = papyrus_auth::ApiKeys::new(b.clone(), b.clone());
        let created = keys_a
            .create(
                &tenant,
                papyrus_auth::NewApiKey::new("k", "documents:read".parse().unwrap()),
                &papyrus_auth::Actor::System,
            )
            .await
            .unwrap();
        let key = created.key.expose_secret();
        let read = "documents:read".parse().unwrap();
        authenticate_key(&keys_b, key, &tenant, None, &read)
            .await
            .unwrap();
        keys_b
            .revoke(&tenant, &created.info.id, &papyrus_auth::Actor::System)
            .await
            .unwrap();
        assert!(
            authenticate_key(&keys_a, key, &tenant, None, &read)
                .await
                .is_err()
        );
        assert!(
            b.get(&tenant, &created.info.id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    })
    .await;
}

// ----- a server that is down -----------------------------------------------------

/// Needs no server: nothing listens on the port.
#[tokio::test]
async fn a_closed_port_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = PostgresStore::connect_with(
        &format!("postgres://postgres@127.0.0.1:{port}/test"),
        StoreOptions::new().with_acquire_timeout(StdDuration::from_millis(500)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );
}

/// A pool that is closed under a running service.
#[tokio::test]
async fn a_closed_pool_is_unavailable() {
    in_schema(|s| async move {
        let store = s.store().await;
        store.pool().close().await;
        let err = store.list(&"acme".parse().unwrap()).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
    })
    .await;
}
