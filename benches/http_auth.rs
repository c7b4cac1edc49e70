//! The HTTP layer's bearer path (`HttpAuth::authenticate`, what both
//! adapters' middleware run), with the failure throttle on.
//!
//! `cargo bench --bench http_auth`
//!
//! * `http_auth/valid_api_key`: a valid key among 10,000 (the path every
//!   accepted request takes: the throttle is never asked);
//! * `http_auth/unknown_key`: a well-formed unknown key, its failure counted
//!   in process (limits set high, so every request is answered 401);
//! * `http_auth/valid_access_token`: an access token (client credentials,
//!   bound to `…/mcp`) at a layer that names no resource;
//! * `http_auth/valid_access_token_audience`: the same token at a layer
//!   protecting `https://{tenant}.papyrus.example/mcp` (RFC 8707): what the
//!   audience check adds;
//! * `http_auth/unknown_key_redis` (feature `redis`, when a Redis answers at
//!   `PAPYRUS_BENCH_REDIS_URL`, default `redis://127.0.0.1:6379`): the same
//!   failure counted in Redis, one script call per failure (the loopback
//!   round trip included), on a current-thread Tokio runtime.
//!
//! The memory store never waits, so the first two are polled with a no-op
//! waker: the figures are the library's cost, not an executor's.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

mod common;

use std::{future::IntoFuture as _, hint::black_box, net::IpAddr, sync::Arc};

use common::block_on;
use criterion::{Criterion, criterion_group, criterion_main};
use papyrus_auth::{
    Actor, ApiKeys, Environment, KeyFormat, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore,
    MemoryGrantStore, NewApiKey, ScopeSet, TenantId,
    http::{HttpAuth, HttpAuthConfig, HttpRequest, ProtectedResource, StaticUsers},
    oauth::{AuthorizationServer, AuthorizationServerConfig, NewClient, TokenRequest},
};

const MCP: &str = "https://{tenant}.papyrus.example/mcp";

fn bench(c: &mut Criterion) {
    let audit = Arc::new(MemoryAuditLog::new());
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
    let oauth = AuthorizationServer::new(
        "https://{tenant}.auth.example.com"
            .parse()
            .expect("an issuer"),
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        audit.clone(),
    )
    .with_config(
        AuthorizationServerConfig::new(
            "https://{tenant}.auth.example.com"
                .parse()
                .expect("an issuer"),
        )
        .with_resource(MCP)
        .expect("a resource"),
    );
    let tenant: TenantId = "acme".parse().expect("tenant");
    let scopes: ScopeSet = "documents:read documents:write analytics:read"
        .parse()
        .expect("scopes");
    for i in 0..10_000 {
        block_on(keys.create(
            &tenant,
            NewApiKey::new(format!("k{i}"), scopes.clone()),
            &Actor::System,
        ))
        .expect("create");
    }
    let valid = block_on(keys.create(
        &tenant,
        NewApiKey::new("bench", scopes.clone()),
        &Actor::System,
    ))
    .expect("create")
    .key;
    let unknown = KeyFormat::default().generate(Environment::Live);
    let machine = block_on(oauth.register_client(
        &tenant,
        NewClient::machine("bench machine", scopes.clone()),
        &Actor::System,
    ))
    .expect("a client");
    let secret = machine.secret.expect("a secret");
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&resource=https%3A%2F%2Facme.papyrus.example%2Fmcp",
        machine.client.client_id,
        secret.expose_secret()
    );
    let token = block_on(oauth.token(&tenant, &TokenRequest::new(None, &body)))
        .expect("a token")
        .access_token;
    let config = throttle_config(HttpAuthConfig::default());
    let auth = HttpAuth::builder(keys)
        .oauth(oauth)
        .users(Arc::new(StaticUsers::new()))
        .admin(audit)
        .config(config)
        .build()
        .expect("the HTTP layer builds");
    let request = |key: &str| {
        HttpRequest::get("/api/v1/documents")
            .with_header("Host", "127.0.0.1:8080")
            .with_header("Authorization", &format!("Bearer {key}"))
            .with_header("X-Tenant-Id", "acme")
    };
    let required: ScopeSet = "documents:read".parse().expect("scope");
    let peer: Option<IpAddr> = Some("10.1.2.3".parse().expect("ip"));

    let mut g = c.benchmark_group("http_auth");
    let valid_request = request(valid.expose_secret());
    g.bench_function("valid_api_key", |b| {
        b.iter(|| {
            let r = block_on(auth.authenticate(black_box(&valid_request), peer, &required));
            assert!(r.is_ok());
            r
        })
    });
    let unknown_request = request(unknown.expose_secret());
    g.bench_function("unknown_key", |b| {
        b.iter(|| {
            let r = block_on(auth.authenticate(black_box(&unknown_request), peer, &required));
            assert_eq!(r.as_ref().map_err(|e| e.status).expect_err("refused"), 401);
            r
        })
    });
    let token_request = request(token.expose_secret());
    g.bench_function("valid_access_token", |b| {
        b.iter(|| {
            let r = block_on(auth.authenticate(black_box(&token_request), peer, &required));
            assert!(r.is_ok());
            r
        })
    });
    let protected = auth.protecting(ProtectedResource::new(MCP).expect("a resource"));
    g.bench_function("valid_access_token_audience", |b| {
        b.iter(|| {
            let r = block_on(protected.authenticate(black_box(&token_request), peer, &required));
            assert!(r.is_ok());
            r
        })
    });
    #[cfg(feature = "redis")]
    redis_row(&mut g, &auth, &unknown_request, peer, &required);
    g.finish();
}

/// The throttle on, with limits no benchmark reaches (every failure is
/// counted and answered 401).
#[cfg(feature = "redis")]
fn throttle_config(config: HttpAuthConfig) -> HttpAuthConfig {
    config.with_throttle(Some(
        papyrus_auth::throttle::ThrottleConfig::default().with_limits(u32::MAX, u32::MAX),
    ))
}

/// The throttle on, with limits no benchmark reaches.
#[cfg(not(feature = "redis"))]
fn throttle_config(config: HttpAuthConfig) -> HttpAuthConfig {
    let mut throttle = config.throttle.unwrap_or_default();
    throttle.per_ip = u32::MAX;
    throttle.per_credential = u32::MAX;
    config.with_throttle(Some(throttle))
}

#[cfg(feature = "redis")]
fn redis_row(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    auth: &HttpAuth,
    request: &HttpRequest,
    peer: Option<IpAddr>,
    required: &ScopeSet,
) {
    let url = std::env::var("PAPYRUS_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let counters = runtime.block_on(async {
        let counters = papyrus_auth::RedisCounters::new(&url)
            .expect("a Redis URL")
            .with_prefix(format!("papyrus-bench-{}:", std::process::id()));
        use papyrus_auth::throttle::FailureCounters as _;
        counters
            .hit(&[("probe", std::time::Duration::from_secs(1))])
            .await
            .map(|_| counters)
    });
    let Ok(counters) = counters else {
        eprintln!("http_auth/unknown_key_redis skipped: no Redis answers at {url}");
        return;
    };
    let auth = auth.clone().with_failure_counters(Arc::new(counters));
    g.bench_function("unknown_key_redis", |b| {
        b.iter(|| {
            let r = runtime.block_on(
                auth.authenticate(black_box(request), peer, required)
                    .into_future(),
            );
            assert_eq!(r.as_ref().map_err(|e| e.status).expect_err("refused"), 401);
            r
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
