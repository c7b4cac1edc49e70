//! The SQL stores, per operation, against the database's own round trip.
//!
//! `cargo bench --bench stores` (PostgreSQL rows need
//! `PAPYRUS_TEST_POSTGRES_URL`, e.g. `postgres://postgres@127.0.0.1:5432/test`;
//! a fresh schema is used and dropped).
//!
//! Rows, per backend (`sqlite`, `postgres`):
//! * `select_1`: sqlx's `SELECT 1` on the store's own pool (PostgreSQL): one
//!   round trip, the yardstick of the others;
//! * `store/find_by_digest`, `store/consume_code`, `store/rotate_refresh`,
//!   `store/revoke_family`: one store call each;
//! * `authenticate` (the API key service), `exchange` and `refresh_rotation`
//!   (the token endpoint, client lookup included).
//!
//! Before criterion's rows it prints, per backend, how many SQL statements
//! each operation sends (counted from sqlx's own statement log, so every
//! statement counts, `BEGIN` and `COMMIT` included) and the median and p99
//! of 5,000 timed authentications; after them, refreshes per second over
//! HTTP (an axum server and 16 clients in this process, on the machine's
//! cores) for the memory store and each backend.

#![allow(clippy::expect_used, clippy::unwrap_used)] // A benchmark whose set-up fails should stop at once.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use papyrus_auth::{
    Actor, ApiKeyStore, ApiKeys, AuditLog, AuthRequest, Digest, MemoryApiKeyStore, MemoryAuditLog,
    MemoryClientStore, MemoryGrantStore, NewApiKey, PostgresStore, ScopeSet, SecretHasher,
    SqliteStore, TenantId,
    http::{HttpAuth, HttpAuthConfig, StaticUsers, TenantSource},
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, AuthorizationServer, ClientId, ClientKind,
        ClientStore, CodeChallenge, FamilyId, GrantStore, NewClient, NewTokens, RefreshTokenRecord,
        TokenRequest,
    },
};
use time::OffsetDateTime;
use tracing_subscriber::{Layer, layer::SubscriberExt};

/// Counts sqlx's statement log events.
struct CountStatements(Arc<AtomicU64>);

impl<S: tracing::Subscriber> Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The three roles of one store value.
trait Store: ApiKeyStore + ClientStore + GrantStore + AuditLog {}
impl<S: ApiKeyStore + ClientStore + GrantStore + AuditLog> Store for S {}

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    pg: Option<sqlx::PgPool>,
    keys: ApiKeys,
    oauth: AuthorizationServer,
}

fn backend<S: Store>(name: &'static str, store: Arc<S>, pg: Option<sqlx::PgPool>) -> Backend {
    Backend {
        name,
        store: store.clone(),
        pg,
        keys: ApiKeys::new(store.clone(), store.clone()),
        oauth: AuthorizationServer::new(
            "https://{tenant}.auth.example.com"
                .parse()
                .expect("an issuer"),
            store.clone(),
            store.clone(),
            store,
        ),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn digest(s: &str) -> Digest {
    SecretHasher::sha256().digest(s.as_bytes())
}

/// A fresh family's code, and tokens to issue from it.
fn records(n: u64, now: OffsetDateTime) -> (AuthorizationCodeRecord, NewTokens) {
    let family = FamilyId::from_stored(&format!("fam_bench_{n}_{}", now.unix_timestamp_nanos()));
    let tenant: TenantId = "acme".parse().unwrap();
    let client = ClientId::parse("bench").unwrap();
    let code = AuthorizationCodeRecord {
        digest: digest(&format!("code {family}")),
        family: family.clone(),
        tenant: tenant.clone(),
        client_id: client.clone(),
        redirect_uri: None,
        subject: "alice".into(),
        scopes: "documents:read".parse().unwrap(),
        challenge: CodeChallenge::s256_of(VERIFIER),
        issued_at: now,
        expires_at: now + time::Duration::minutes(1),
        consumed_at: None,
        resources: papyrus_auth::oauth::Resources::none(),
    };
    (code, tokens(&format!("{family} 0"), &family, now))
}

fn tokens(seed: &str, family: &FamilyId, now: OffsetDateTime) -> NewTokens {
    let (tenant, client): (TenantId, _) =
        ("acme".parse().unwrap(), ClientId::parse("bench").unwrap());
    NewTokens {
        access: AccessTokenRecord {
            digest: digest(&format!("access {seed}")),
            family: family.clone(),
            tenant: tenant.clone(),
            client_id: client.clone(),
            subject: "alice".into(),
            scopes: "documents:read".parse().unwrap(),
            issued_at: now,
            expires_at: now + time::Duration::hours(1),
            revoked_at: None,
            audience: papyrus_auth::oauth::Resources::none(),
        },
        refresh: Some(RefreshTokenRecord {
            digest: digest(&format!("refresh {seed}")),
            handle: Some(digest(&format!("handle {family}"))),
            family: family.clone(),
            tenant,
            client_id: client,
            subject: "alice".into(),
            scopes: "documents:read".parse().unwrap(),
            issued_at: now,
            expires_at: now + time::Duration::days(1),
            family_expires_at: now + time::Duration::days(30),
            rotated_at: None,
            revoked_at: None,
            resources: papyrus_auth::oauth::Resources::none(),
        }),
    }
}

/// A public client of `acme` and a refresh token from a code exchange.
async fn client_and_refresh(oauth: &AuthorizationServer, tenant: &TenantId) -> (String, String) {
    let client = oauth
        .register_client(
            tenant,
            NewClient::new(
                "bench",
                ClientKind::Public,
                "https://a.example/cb",
                "documents:read".parse().unwrap(),
            ),
            &Actor::System,
        )
        .await
        .unwrap()
        .client;
    let refresh = exchange(oauth, tenant, client.client_id.as_str()).await;
    (client.client_id.to_string(), refresh)
}

/// One authorization and code exchange; the refresh token.
async fn exchange(oauth: &AuthorizationServer, tenant: &TenantId, client_id: &str) -> String {
    let q = format!(
        "response_type=code&client_id={client_id}&scope=documents%3Aread&code_challenge={}&code_challenge_method=S256",
        CodeChallenge::s256_of(VERIFIER).as_str()
    );
    let req = oauth.authorize(tenant, &q).await.unwrap();
    let loc = oauth.approve(&req, "alice", &req.scopes).await.unwrap();
    let code = loc
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let body = format!(
        "grant_type=authorization_code&code={code}&client_id={client_id}&code_verifier={VERIFIER}"
    );
    let t = oauth
        .token(tenant, &TokenRequest::new(None, &body))
        .await
        .unwrap();
    t.refresh_token.unwrap().expose_secret().to_owned()
}

fn bench(c: &mut Criterion) {
    let statements = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry().with(
        CountStatements(statements.clone()).with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        ),
    );
    tracing::subscriber::set_global_default(subscriber).expect("subscriber");
    let counted = |f: &mut dyn FnMut()| {
        let before = statements.load(Ordering::Relaxed);
        f();
        statements.load(Ordering::Relaxed) - before
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("papyrus-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut backends = vec![rt.block_on(async {
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        backend(
            "sqlite",
            Arc::new(SqliteStore::connect(&url).await.unwrap()),
            None,
        )
    })];
    let pg_schema = format!("bench_{}", std::process::id());
    let pg_url = std::env::var("PAPYRUS_TEST_POSTGRES_URL").ok();
    if let Some(url) = &pg_url {
        backends.push(rt.block_on(async {
            use sqlx::Executor;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                .after_connect({
                    let schema = pg_schema.clone();
                    move |conn, _| {
                        let schema = schema.clone();
                        Box::pin(async move {
                            conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}").as_str()).await?;
                            Ok(())
                        })
                    }
                })
                .connect(url)
                .await
                .unwrap();
            let store = PostgresStore::from_pool(pool.clone());
            store.migrate().await.unwrap();
            backend("postgres", Arc::new(store), Some(pool))
        }));
    } else {
        eprintln!("postgres rows skipped: PAPYRUS_TEST_POSTGRES_URL is not set");
    }

    let tenant: TenantId = "acme".parse().unwrap();
    let scopes: ScopeSet = "documents:read documents:write analytics:read"
        .parse()
        .unwrap();
    let required: ScopeSet = "documents:read".parse().unwrap();
    let now = OffsetDateTime::now_utc();
    let serial = AtomicU64::new(0);
    for b in &backends {
        let key = rt.block_on(async {
            for i in 0..1_000 {
                b.keys
                    .create(
                        &tenant,
                        NewApiKey::new(format!("k{i}"), scopes.clone()),
                        &Actor::System,
                    )
                    .await
                    .unwrap();
            }
            b.keys
                .create(
                    &tenant,
                    NewApiKey::new("bench", scopes.clone()),
                    &Actor::System,
                )
                .await
                .unwrap()
        });
        let key_digest = SecretHasher::sha256().digest(key.key.expose_secret().as_bytes());
        let header = format!("Bearer {}", key.key.expose_secret());
        let auth = |b: &Backend| {
            let header = header.clone();
            let keys = b.keys.clone();
            let required = required.clone();
            async move {
                keys.authenticate(
                    &AuthRequest::new(Some(&header), Some("acme"), None),
                    &required,
                )
                .await
                .unwrap();
            }
        };
        let (client_id, refresh) = rt.block_on(client_and_refresh(&b.oauth, &tenant));
        let mut refresh = refresh;

        // Statements per operation.
        rt.block_on(auth(b));
        let n_auth = counted(&mut || {
            rt.block_on(async {
                for _ in 0..10_000 {
                    auth(b).await;
                }
            })
        });
        let store = b.store.clone();
        let n_find = counted(&mut || {
            rt.block_on(async { store.find_by_digest(key_digest).await })
                .unwrap();
        });
        let (code, issued) = records(serial.fetch_add(1, Ordering::Relaxed), now);
        rt.block_on(store.insert_code(code.clone())).unwrap();
        let n_consume = counted(&mut || {
            rt.block_on(store.consume_code(&code.digest, now, issued.clone()))
                .unwrap();
        });
        let old = issued.refresh.as_ref().unwrap().digest;
        let next = tokens("stmt next", &code.family, now);
        let n_rotate = counted(&mut || {
            rt.block_on(store.rotate_refresh(&old, next.clone(), now, now))
                .unwrap();
        });
        let n_revoke = counted(&mut || {
            rt.block_on(store.revoke_family(&code.family, now)).unwrap();
        });
        let n_exchange = counted(&mut || {
            rt.block_on(exchange(&b.oauth, &tenant, &client_id));
        });
        let n_refresh = counted(&mut || {
            let body =
                format!("grant_type=refresh_token&refresh_token={refresh}&client_id={client_id}");
            let t = rt
                .block_on(b.oauth.token(&tenant, &TokenRequest::new(None, &body)))
                .unwrap();
            refresh = t.refresh_token.unwrap().expose_secret().to_owned();
        });
        println!(
            "{}: SQL statements per operation: authenticate {:.4} (10,000 of one key), \
             find_by_digest {n_find}, consume_code {n_consume}, rotate_refresh {n_rotate}, \
             revoke_family {n_revoke}; code exchange at the token endpoint (authorize and \
             approve included) {n_exchange}, refresh at the token endpoint {n_refresh}",
            b.name,
            n_auth as f64 / 10_000.0
        );

        // Latency distribution of authentication.
        let mut times: Vec<Duration> = rt.block_on(async {
            let mut v = Vec::with_capacity(5_000);
            for _ in 0..5_000 {
                let t = Instant::now();
                auth(b).await;
                v.push(t.elapsed());
            }
            v
        });
        times.sort();
        println!(
            "{}: authenticate median {:?}, p99 {:?}",
            b.name,
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );

        // The yardsticks: one round trip on the same pool, and one durable
        // write (a one-row UPDATE, committed: the WAL flush a grant's
        // commit also waits for).
        if let Some(pool) = &b.pg {
            c.bench_function(&format!("{}/select_1", b.name), |bench| {
                bench.to_async(&rt).iter(|| async {
                    sqlx::query("SELECT 1").execute(pool).await.unwrap();
                })
            });
            rt.block_on(async {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS bench_write (id INT PRIMARY KEY, v BIGINT)",
                )
                .execute(pool)
                .await
                .unwrap();
                sqlx::query("INSERT INTO bench_write VALUES (1, 0) ON CONFLICT DO NOTHING")
                    .execute(pool)
                    .await
                    .unwrap();
            });
            c.bench_function(&format!("{}/update_1", b.name), |bench| {
                bench.to_async(&rt).iter(|| async {
                    sqlx::query("UPDATE bench_write SET v = v + 1 WHERE id = 1")
                        .execute(pool)
                        .await
                        .unwrap();
                })
            });
        }
        c.bench_function(&format!("{}/store/find_by_digest", b.name), |bench| {
            bench.to_async(&rt).iter(|| async {
                store.find_by_digest(key_digest).await.unwrap().unwrap();
            })
        });
        c.bench_function(&format!("{}/store/consume_code", b.name), |bench| {
            bench.iter_batched(
                || {
                    let (code, issued) = records(serial.fetch_add(1, Ordering::Relaxed), now);
                    rt.block_on(store.insert_code(code.clone())).unwrap();
                    (code, issued)
                },
                |(code, issued)| {
                    rt.block_on(store.consume_code(&code.digest, now, issued))
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        });
        let (family_code, first) = records(serial.fetch_add(1, Ordering::Relaxed), now);
        rt.block_on(store.insert_tokens(first.clone())).unwrap();
        let mut current = first.refresh.unwrap().digest;
        c.bench_function(&format!("{}/store/rotate_refresh", b.name), |bench| {
            bench.iter_batched(
                || {
                    tokens(
                        &format!("rot {}", serial.fetch_add(1, Ordering::Relaxed)),
                        &family_code.family,
                        now,
                    )
                },
                |new| {
                    let next = new.refresh.as_ref().unwrap().digest;
                    rt.block_on(store.rotate_refresh(&current, new, now, now))
                        .unwrap();
                    current = next;
                },
                BatchSize::SmallInput,
            )
        });
        c.bench_function(&format!("{}/store/revoke_family", b.name), |bench| {
            bench.iter_batched(
                || {
                    let (code, issued) = records(serial.fetch_add(1, Ordering::Relaxed), now);
                    rt.block_on(store.insert_tokens(issued)).unwrap();
                    code.family
                },
                |family| rt.block_on(store.revoke_family(&family, now)).unwrap(),
                BatchSize::SmallInput,
            )
        });
        c.bench_function(&format!("{}/authenticate", b.name), |bench| {
            bench.to_async(&rt).iter(|| auth(b))
        });
        c.bench_function(&format!("{}/exchange", b.name), |bench| {
            bench.iter(|| rt.block_on(exchange(&b.oauth, &tenant, &client_id)))
        });
        c.bench_function(&format!("{}/refresh_rotation", b.name), |bench| {
            bench.iter(|| {
                let body = format!(
                    "grant_type=refresh_token&refresh_token={refresh}&client_id={client_id}"
                );
                let t = rt
                    .block_on(b.oauth.token(&tenant, &TokenRequest::new(None, &body)))
                    .unwrap();
                refresh = t.refresh_token.unwrap().expose_secret().to_owned();
            })
        });
    }

    // Refreshes per second over HTTP.
    let memory = backend("memory", Arc::new(MemoryStores::default()), None);
    for b in std::iter::once(&memory).chain(backends.iter()) {
        let per_second = rt.block_on(refreshes_per_second(b, &tenant));
        println!(
            "{}: {per_second:.0} refreshes per second over HTTP (16 clients)",
            b.name
        );
    }

    if let Some(url) = &pg_url {
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {pg_schema} CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The memory stores as one value, for the HTTP comparison.
#[derive(Debug, Default)]
struct MemoryStores {
    keys: MemoryApiKeyStore,
    clients: MemoryClientStore,
    grants: MemoryGrantStore,
    audit: MemoryAuditLog,
}

#[async_trait::async_trait]
impl ApiKeyStore for MemoryStores {
    async fn insert(&self, r: &papyrus_auth::ApiKeyRecord) -> Result<(), papyrus_auth::StoreError> {
        self.keys.insert(r).await
    }
    fn find_by_digest(&self, d: Digest) -> papyrus_auth::Lookup<'_, papyrus_auth::ApiKeyRecord> {
        self.keys.find_by_digest(d)
    }
    async fn get(
        &self,
        t: &TenantId,
        id: &papyrus_auth::KeyId,
    ) -> Result<Option<papyrus_auth::ApiKeyRecord>, papyrus_auth::StoreError> {
        self.keys.get(t, id).await
    }
    async fn list(
        &self,
        t: &TenantId,
    ) -> Result<Vec<papyrus_auth::ApiKeyRecord>, papyrus_auth::StoreError> {
        self.keys.list(t).await
    }
    async fn rotate(
        &self,
        t: &TenantId,
        old: &papyrus_auth::KeyId,
        s: &papyrus_auth::ApiKeyRecord,
        e: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<papyrus_auth::RotateOutcome, papyrus_auth::StoreError> {
        self.keys.rotate(t, old, s, e, at).await
    }
    async fn revoke(
        &self,
        t: &TenantId,
        id: &papyrus_auth::KeyId,
        at: OffsetDateTime,
    ) -> Result<papyrus_auth::RevokeOutcome, papyrus_auth::StoreError> {
        self.keys.revoke(t, id, at).await
    }
    async fn touch_last_used(
        &self,
        id: &papyrus_auth::KeyId,
        at: OffsetDateTime,
        ip: Option<std::net::IpAddr>,
        stale: OffsetDateTime,
    ) -> Result<bool, papyrus_auth::StoreError> {
        self.keys.touch_last_used(id, at, ip, stale).await
    }
}

#[async_trait::async_trait]
impl ClientStore for MemoryStores {
    async fn insert(
        &self,
        c: &papyrus_auth::oauth::OAuthClient,
    ) -> Result<(), papyrus_auth::StoreError> {
        ClientStore::insert(&self.clients, c).await
    }
    async fn get(
        &self,
        t: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Arc<papyrus_auth::oauth::OAuthClient>>, papyrus_auth::StoreError> {
        ClientStore::get(&self.clients, t, id).await
    }
    async fn list(
        &self,
        t: &TenantId,
    ) -> Result<Vec<papyrus_auth::oauth::OAuthClient>, papyrus_auth::StoreError> {
        ClientStore::list(&self.clients, t).await
    }
}

#[async_trait::async_trait]
impl GrantStore for MemoryStores {
    async fn insert_code(
        &self,
        c: AuthorizationCodeRecord,
    ) -> Result<(), papyrus_auth::StoreError> {
        self.grants.insert_code(c).await
    }
    async fn find_code(
        &self,
        d: &Digest,
    ) -> Result<Option<Arc<AuthorizationCodeRecord>>, papyrus_auth::StoreError> {
        self.grants.find_code(d).await
    }
    async fn consume_code(
        &self,
        d: &Digest,
        at: OffsetDateTime,
        t: NewTokens,
    ) -> Result<papyrus_auth::oauth::ConsumeCode, papyrus_auth::StoreError> {
        self.grants.consume_code(d, at, t).await
    }
    async fn insert_tokens(
        &self,
        t: NewTokens,
    ) -> Result<papyrus_auth::oauth::InsertTokens, papyrus_auth::StoreError> {
        self.grants.insert_tokens(t).await
    }
    fn find_access_token(&self, d: Digest) -> papyrus_auth::Lookup<'_, AccessTokenRecord> {
        self.grants.find_access_token(d)
    }
    async fn find_refresh_token(
        &self,
        d: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, papyrus_auth::StoreError> {
        self.grants.find_refresh_token(d).await
    }
    async fn find_refresh_by_handle(
        &self,
        h: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, papyrus_auth::StoreError> {
        self.grants.find_refresh_by_handle(h).await
    }
    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: NewTokens,
        at: OffsetDateTime,
        f: OffsetDateTime,
    ) -> Result<papyrus_auth::oauth::RotateRefresh, papyrus_auth::StoreError> {
        self.grants.rotate_refresh(old, new, at, f).await
    }
    async fn revoke_family(
        &self,
        f: &FamilyId,
        at: OffsetDateTime,
    ) -> Result<u64, papyrus_auth::StoreError> {
        self.grants.revoke_family(f, at).await
    }
    async fn revoke_access_token(
        &self,
        d: &Digest,
        at: OffsetDateTime,
    ) -> Result<bool, papyrus_auth::StoreError> {
        self.grants.revoke_access_token(d, at).await
    }
    async fn purge_expired(&self, before: OffsetDateTime) -> Result<u64, papyrus_auth::StoreError> {
        self.grants.purge_expired(before).await
    }
}

#[async_trait::async_trait]
impl papyrus_auth::AuditSink for MemoryStores {
    async fn record(&self, e: papyrus_auth::AuditEvent) -> Result<(), papyrus_auth::StoreError> {
        self.audit.record(e).await
    }
}

#[async_trait::async_trait]
impl AuditLog for MemoryStores {
    async fn query(
        &self,
        q: &papyrus_auth::AuditQuery,
    ) -> Result<Vec<papyrus_auth::AuditEvent>, papyrus_auth::StoreError> {
        self.audit.query(q).await
    }
}

/// Refreshes per second at `/oauth/token` over HTTP: an axum server on a
/// loopback port and 16 clients, each refreshing its own token family in
/// turn, for 5 seconds.
async fn refreshes_per_second(b: &Backend, tenant: &TenantId) -> f64 {
    let auth = HttpAuth::builder(b.keys.clone())
        .oauth(b.oauth.clone())
        .users(Arc::new(StaticUsers::new()))
        .config(
            HttpAuthConfig::default()
                .with_oauth_tenant(TenantSource::Fixed(tenant.clone()))
                .with_throttle(None),
        )
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            papyrus_auth::axum::routes::<()>(auth)
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let (client_id, _) = client_and_refresh(&b.oauth, tenant).await;
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(5);
    let mut clients = Vec::new();
    for _ in 0..16 {
        let mut refresh = exchange(&b.oauth, tenant, &client_id).await;
        let (base, client_id, done) = (base.clone(), client_id.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while Instant::now() < until {
                let body = format!(
                    "grant_type=refresh_token&refresh_token={refresh}&client_id={client_id}"
                );
                let r = http
                    .post(format!("{base}/oauth/token"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let json: serde_json::Value = r.json().await.unwrap();
                refresh = json["refresh_token"].as_str().unwrap().to_owned();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for c in clients {
        c.await.unwrap();
    }
    let elapsed = started.elapsed();
    server.abort();
    done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
