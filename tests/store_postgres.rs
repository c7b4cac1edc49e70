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
    ApiKeyStore, PostgresStore, SecretHasher, StoreErrorKind, StoreOptions, TenantId,
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
