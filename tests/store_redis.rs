//! The failure counters in Redis (feature `redis`): the conformance kit on
//! a Redis server of the test's own, and what happens when Redis is gone.
//!
//! Needs `redis-server` (`.ci/run` installs it); skips with a reason
//! without it, and fails instead under `PAPYRUS_TEST_REQUIRE_ALL=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

use std::{sync::Arc, time::Duration};

use papyrus_auth::{
    ApiKeys, MemoryApiKeyStore, MemoryAuditLog, NewApiKey, RedisCounters, ScopeSet,
    audit::Actor,
    http::{HttpAuth, HttpRequest},
    testkit,
    throttle::FailureCounters,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_failure_counters_conform() {
    let Some(redis) = common::redis_server() else {
        common::skip("Redis counters", "redis-server is not installed");
        return;
    };
    let counters = Arc::new(RedisCounters::new(&redis.url).unwrap());
    testkit::failure_counters(counters.clone()).await;
    // Twice on one server: the kit makes fresh keys.
    testkit::failure_counters(counters).await;
    // Two prefixes on one server are two sets of counters.
    let a = RedisCounters::new(&redis.url).unwrap().with_prefix("a:");
    let b = RedisCounters::new(&redis.url).unwrap().with_prefix("b:");
    a.hit(&[("k", Duration::from_secs(60))]).await.unwrap();
    assert_eq!(b.peek(&["k"]).await.unwrap()[0].failures, 0);
    assert_eq!(a.peek(&["k"]).await.unwrap()[0].failures, 1);
}

/// A Redis that is down (here: a port nobody listens on) is an error
/// within the timeout, never a hang; the HTTP layer then counts failures in
/// process, and valid credentials never notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_failures_are_counted_in_process() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = RedisCounters::new(&format!("redis://127.0.0.1:{port}")).unwrap();
    let started = std::time::Instant::now();
    assert!(down.hit(&[("k", Duration::from_secs(60))]).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );

    let audit = Arc::new(MemoryAuditLog::new());
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
    let auth = HttpAuth::builder(keys.clone())
        .build()
        .unwrap()
        .with_failure_counters(Arc::new(down));
    let acme = "acme".parse().unwrap();
    let valid = keys
        .create(
            &acme,
            NewApiKey::new("k", ScopeSet::empty()),
            &Actor::System,
        )
        .await
        .unwrap()
        .key;
    let request = |key: &str| {
        HttpRequest::get("/api")
            .with_header("Authorization", &format!("Bearer {key}"))
            .with_header("X-Tenant-Id", "acme")
    };
    let peer = Some("192.0.2.1".parse().unwrap());
    let status = |r: Result<papyrus_auth::Principal, papyrus_auth::http::HttpResponse>| match r {
        Ok(_) => 200,
        Err(response) => response.status,
    };
    let guess = "pk_live_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    for i in 0..31 {
        let r = auth
            .authenticate(&request(guess), peer, &ScopeSet::empty())
            .await;
        assert_eq!(
            status(r),
            if i < 30 { 401 } else { 429 },
            "failure {}",
            i + 1
        );
        let ok = auth
            .authenticate(&request(valid.expose_secret()), peer, &ScopeSet::empty())
            .await;
        assert_eq!(status(ok), 200);
    }
}
