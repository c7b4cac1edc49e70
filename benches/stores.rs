//! API key authentication and refresh rotation through the SQL stores.
//!
//! `cargo bench --bench stores` (PostgreSQL rows need
//! `PAPYRUS_TEST_POSTGRES_URL`, e.g. `postgres://postgres@127.0.0.1:5432/test`;
//! a fresh schema is used and dropped).
//!
//! Before criterion's rows, it prints for each backend: the median and p99 of
//! 5,000 timed authentications, and how many SQL statements 10,000
//! authentications of one key cause (counted from sqlx's own statement log,
//! so every statement counts, transactions included).

#![allow(clippy::expect_used, clippy::unwrap_used)] // A benchmark whose set-up fails should stop at once.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use papyrus_auth::{
    Actor, ApiKeys, AuditLog, AuthRequest, NewApiKey, PostgresStore, ScopeSet, SqliteStore,
    TenantId,
    oauth::{AuthorizationServer, ClientKind, CodeChallenge, NewClient, TokenRequest},
};
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

struct Backend {
    name: &'static str,
    keys: ApiKeys,
    oauth: AuthorizationServer,
}

async fn backend<S>(name: &'static str, store: Arc<S>) -> Backend
where
    S: papyrus_auth::ApiKeyStore
        + papyrus_auth::oauth::ClientStore
        + papyrus_auth::oauth::GrantStore
        + AuditLog,
{
    Backend {
        name,
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

fn bench(c: &mut Criterion) {
    let statements = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry().with(
        CountStatements(statements.clone()).with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        ),
    );
    tracing::subscriber::set_global_default(subscriber).expect("subscriber");

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
        )
        .await
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
            let store = PostgresStore::from_pool(pool);
            store.migrate().await.unwrap();
            backend("postgres", Arc::new(store)).await
        }));
    } else {
        eprintln!("postgres rows skipped: PAPYRUS_TEST_POSTGRES_URL is not set");
    }

    let tenant: TenantId = "acme".parse().unwrap();
    let scopes: ScopeSet = "documents:read documents:write analytics:read"
        .parse()
        .unwrap();
    let required: ScopeSet = "documents:read".parse().unwrap();
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
        // Statements per 10,000 authentications of one key.
        rt.block_on(auth(b));
        let before = statements.load(Ordering::Relaxed);
        rt.block_on(async {
            for _ in 0..10_000 {
                auth(b).await;
            }
        });
        let n = statements.load(Ordering::Relaxed) - before;
        // Latency distribution.
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
            "{}: authenticate median {:?}, p99 {:?}; 10,000 authentications of one key: {n} SQL statements",
            b.name,
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
        c.bench_function(&format!("{}/authenticate", b.name), |bench| {
            bench.to_async(&rt).iter(|| auth(b))
        });
    }

    // Refresh rotation on each backend (one token family, refreshed in turn).
    for b in &backends {
        let (client, mut refresh) = rt.block_on(async {
            let client = b
                .oauth
                .register_client(&tenant, NewClient::new("bench", ClientKind::Public, "https://a.example/cb", "documents:read".parse().unwrap()), &Actor::System)
                .await
                .unwrap()
                .client;
            let q = format!(
                "response_type=code&client_id={}&scope=documents%3Aread&code_challenge={}&code_challenge_method=S256",
                client.client_id,
                CodeChallenge::s256_of(VERIFIER).as_str()
            );
            let req = b.oauth.authorize(&tenant, &q).await.unwrap();
            let loc = b.oauth.approve(&req, "alice", &req.scopes).await.unwrap();
            let code = loc.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
            let body = format!("grant_type=authorization_code&code={code}&client_id={}&code_verifier={VERIFIER}", client.client_id);
            let t = b.oauth.token(&tenant, &TokenRequest::new(None, &body)).await.unwrap();
            (client, t.refresh_token.unwrap().expose_secret().to_owned())
        });
        c.bench_function(&format!("{}/refresh_rotation", b.name), |bench| {
            bench.iter(|| {
                let body = format!(
                    "grant_type=refresh_token&refresh_token={refresh}&client_id={}",
                    client.client_id
                );
                let t = rt
                    .block_on(b.oauth.token(&tenant, &TokenRequest::new(None, &body)))
                    .unwrap();
                refresh = t.refresh_token.unwrap().expose_secret().to_owned();
            })
        });
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
