//! The credential cache: hot credentials at memory speed, and what a
//! revocation costs with three caching instances.
//!
//! `cargo bench --bench credential_cache` (PostgreSQL rows need
//! `PAPYRUS_TEST_POSTGRES_URL`; a fresh schema is used and dropped).
//!
//! Rows: `authenticate` (an API key through [`ApiKeys`]) and
//! `validate_access_token` on the memory stores, and on SQLite and
//! PostgreSQL with the cache on (and PostgreSQL without it, for scale).
//! Then it prints the time of a key revocation (`ApiKeyStore::revoke`,
//! publish and acknowledgements included) with three caching PostgreSQL
//! instances in this process, each with its own pool and listener, the key
//! held in the memory of the other two, and without any cache.

#![allow(clippy::expect_used, clippy::unwrap_used)] // A benchmark whose set-up fails should stop at once.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use papyrus_auth::{
    Actor, Answer, ApiKeyStore, ApiKeys, AuthRequest, CacheConfig, MemoryApiKeyStore,
    MemoryAuditLog, MemoryClientStore, MemoryGrantStore, NewApiKey, PostgresStore, ScopeSet,
    SecretHasher, SqliteStore, StoreOptions, TenantId,
    oauth::{
        AccessTokenRecord, AuthorizationServer, ClientId, ClientStore, FamilyId, GrantStore,
        NewTokens,
    },
};
use time::OffsetDateTime;

struct Hot {
    name: String,
    keys: ApiKeys,
    oauth: AuthorizationServer,
    header: String,
    token: String,
}

/// API keys and an authorization server over `keys` and `grants`, with one
/// key and one access token to look up.
async fn hot<K, G>(name: &str, keys: Arc<K>, grants: Arc<G>, clients: Arc<dyn ClientStore>) -> Hot
where
    K: ApiKeyStore,
    G: GrantStore,
{
    let audit = Arc::new(MemoryAuditLog::new());
    let api = ApiKeys::new(keys, audit.clone());
    let acme: TenantId = "acme".parse().unwrap();
    let key = api
        .create(
            &acme,
            NewApiKey::new("hot", "documents:read documents:write".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    let oauth = AuthorizationServer::new(
        "https://{tenant}.auth.example.com".parse().unwrap(),
        clients,
        grants.clone(),
        audit,
    );
    // An access token stored as the server would (its digest, SHA-256).
    let token = format!(
        "pat_{}",
        &SecretHasher::sha256().digest(name.as_bytes()).to_hex()[..43]
    );
    let now = OffsetDateTime::now_utc();
    grants
        .insert_tokens(NewTokens {
            access: AccessTokenRecord {
                digest: SecretHasher::sha256().digest(token.as_bytes()),
                family: FamilyId::from_stored(&format!("fam_hot_{}", now.unix_timestamp_nanos())),
                tenant: acme,
                client_id: ClientId::parse("spa").unwrap(),
                subject: "alice".into(),
                scopes: "documents:read".parse().unwrap(),
                issued_at: now,
                expires_at: now + time::Duration::hours(1),
                revoked_at: None,
                audience: papyrus_auth::oauth::Resources::none(),
            },
            refresh: None,
        })
        .await
        .unwrap();
    Hot {
        name: name.to_owned(),
        keys: api,
        oauth,
        header: format!("Bearer {}", key.key.expose_secret()),
        token,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("papyrus-cache-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cached = StoreOptions::new().with_credential_cache(CacheConfig::default());
    let mut rows = rt.block_on(async {
        let memory = hot(
            "memory",
            Arc::new(MemoryApiKeyStore::new()),
            Arc::new(MemoryGrantStore::new()),
            Arc::new(MemoryClientStore::new()),
        )
        .await;
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        let sqlite = Arc::new(
            SqliteStore::connect_with(&url, cached.clone())
                .await
                .unwrap(),
        );
        let sqlite = hot("sqlite+cache", sqlite.clone(), sqlite.clone(), sqlite).await;
        vec![memory, sqlite]
    });
    let pg_url = std::env::var("PAPYRUS_TEST_POSTGRES_URL").ok();
    let pg_schema = format!("bench_cache_{}", std::process::id());
    let pool = |url: &str| {
        let schema = pg_schema.clone();
        let url = url.to_owned();
        async move {
            use sqlx::Executor;
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .after_connect(move |conn, _| {
                    let schema = schema.clone();
                    Box::pin(async move {
                        conn.execute(
                            format!(
                                "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
                            )
                            .as_str(),
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
                .unwrap()
        }
    };
    let mut instances = Vec::new();
    if let Some(url) = &pg_url {
        rt.block_on(async {
            let plain = Arc::new(PostgresStore::from_pool(pool(url).await));
            plain.migrate().await.unwrap();
            rows.push(hot("postgres", plain.clone(), plain.clone(), plain).await);
            for _ in 0..3 {
                let store = PostgresStore::from_pool(pool(url).await)
                    .with_credential_cache(CacheConfig::default());
                while !store.cache_is_live() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                instances.push(Arc::new(store));
            }
            let first = instances[0].clone();
            rows.push(hot("postgres+cache", first.clone(), first.clone(), first).await);
        });
    } else {
        eprintln!("postgres rows skipped: PAPYRUS_TEST_POSTGRES_URL is not set");
    }

    let required: ScopeSet = "documents:read".parse().unwrap();
    for row in &rows {
        let authenticate = || async {
            row.keys
                .authenticate(
                    &AuthRequest::new(Some(&row.header), Some("acme"), None),
                    &required,
                )
                .await
                .unwrap();
        };
        let validate = || async {
            let acme: TenantId = "acme".parse().unwrap();
            row.oauth
                .validate_access_token(&row.token, &acme, &required)
                .await
                .unwrap();
        };
        // Warm: the first lookups go to the database and fill the cache.
        rt.block_on(async {
            for _ in 0..3 {
                authenticate().await;
                validate().await;
            }
        });
        c.bench_function(&format!("{}/authenticate", row.name), |b| {
            b.to_async(&rt).iter(authenticate)
        });
        c.bench_function(&format!("{}/validate_access_token", row.name), |b| {
            b.to_async(&rt).iter(validate)
        });
    }

    if instances.len() == 3 {
        let times = rt.block_on(revocations(&instances, 200));
        report("revoke with three caching instances", &times);
        // The same without any cache: no lease is live, one more statement.
        drop(rows);
        drop(instances);
        let plain = rt.block_on(async {
            Arc::new(PostgresStore::from_pool(
                pool(pg_url.as_deref().unwrap()).await,
            ))
        });
        rt.block_on(async { tokio::time::sleep(Duration::from_secs(3)).await }); // the leases expire
        let times = rt.block_on(revocations(&[plain.clone(), plain.clone(), plain], 200));
        report("revoke with no caching instance", &times);
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(pg_url.as_deref().unwrap())
                .await
                .unwrap();
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {pg_schema} CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `n` keys, each inserted through the first instance, held in the memory
/// of the other two, and revoked through the first: the revoke calls' times.
async fn revocations(instances: &[Arc<PostgresStore>], n: usize) -> Vec<Duration> {
    let acme: TenantId = "acme".parse().unwrap();
    let now = OffsetDateTime::now_utc();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let id =
            papyrus_auth::KeyId::parse(&format!("key_rev{i}x{}", now.unix_timestamp())).unwrap();
        let record = papyrus_auth::ApiKeyRecord {
            id: id.clone(),
            tenant: acme.clone(),
            name: "revoked".into(),
            environment: papyrus_auth::Environment::Live,
            scopes: ScopeSet::empty(),
            ip_allowlist: papyrus_auth::IpAllowlist::default(),
            digest: SecretHasher::sha256().digest(format!("rev {i} {now}").as_bytes()),
            hint: "pk_live_x…".into(),
            created_at: now,
            rotation_due_at: now + time::Duration::days(90),
            rotated_at: None,
            rotated_from: None,
            rotated_to: None,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
        };
        ApiKeyStore::insert(&*instances[0], &record).await.unwrap();
        for other in &instances[1..] {
            for _ in 0..10 {
                if let Answer::Now(Ok(Some(_))) = other.find_by_digest(record.digest) {
                    break;
                }
                let _ = other.find_by_digest(record.digest).await;
            }
        }
        let started = Instant::now();
        instances[0].revoke(&acme, &id, now).await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times
}

fn report(what: &str, sorted: &[Duration]) {
    let at = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{what}: median {:?}, p99 {:?}, worst {:?} ({} revocations)",
        at(0.5),
        at(0.99),
        sorted[sorted.len() - 1],
        sorted.len()
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
