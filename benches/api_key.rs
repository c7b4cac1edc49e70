//! API key authentication on the in-memory store, against the floor.
//!
//! `cargo bench --bench api_key`
//!
//! * `floor/sha256`: one SHA-256 of a key-sized (46-byte) input;
//! * `floor/lookup`: one digest lookup in a `std` `HashMap` of 10,000 digests;
//! * `floor/sha256_and_lookup`: both: the work no implementation can avoid;
//! * `authenticate/valid`: a valid key with 3 scopes and a 2-entry IP
//!   allowlist, among 10,000 keys, requiring one scope;
//! * `authenticate/malformed`: a bad checksum (no digest, no store call);
//! * `authenticate/unknown`: a well-formed key that is not in the store;
//! * `authenticate/revoked`, `authenticate/wrong_tenant`;
//! * `throughput/1_thread`, `throughput/2_threads`: valid authentications,
//!   each thread with its own key; wall time per authentication (the ratio
//!   of the two is the multi-core scaling, 2.0 at best on two cores).
//!
//! The memory store never waits, so futures are polled with a no-op waker:
//! the figures are the library's cost, not an executor's.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

mod common;

use std::{collections::HashMap, hint::black_box, sync::Arc, time::Instant};

use common::block_on;
use criterion::{Criterion, criterion_group, criterion_main};
use papyrus_auth::{
    Actor, ApiKeys, AuthRequest, Environment, IpAllowlist, KeyFormat, MemoryApiKeyStore, NewApiKey,
    ScopeSet, SecretHasher, TenantId, TracingAuditSink,
};

fn bench(c: &mut Criterion) {
    let keys = ApiKeys::new(
        Arc::new(MemoryApiKeyStore::new()),
        Arc::new(TracingAuditSink),
    );
    let tenant: TenantId = "acme".parse().expect("tenant");
    let scopes: ScopeSet = "documents:read documents:write analytics:read"
        .parse()
        .expect("scopes");
    let allowlist = IpAllowlist::parse(["10.0.0.0/8", "2001:db8::/32"]).expect("allowlist");
    let new_key = |name: String| {
        block_on(keys.create(
            &tenant,
            NewApiKey::new(name, scopes.clone()).with_ip_allowlist(allowlist.clone()),
            &Actor::System,
        ))
        .expect("create")
    };
    for i in 0..10_000 {
        new_key(format!("k{i}"));
    }
    let created = new_key("bench".into());
    let second = new_key("bench-2".into());
    let revoked = new_key("revoked".into());
    block_on(keys.revoke(&tenant, &revoked.info.id, &Actor::System)).expect("revoke");

    let bearer = |k: &papyrus_auth::ApiKeySecret| format!("Bearer {}", k.expose_secret());
    let valid = bearer(&created.key);
    let mut malformed = valid.clone();
    let last = malformed.pop().expect("non-empty");
    malformed.push(if last == 'a' { 'b' } else { 'a' });
    let unknown = bearer(&KeyFormat::default().generate(Environment::Live));
    let revoked = bearer(&revoked.key);
    let required: ScopeSet = "documents:read".parse().expect("scope");
    let ip = Some("10.1.2.3".parse().expect("ip"));

    // The floor.
    let hasher = SecretHasher::sha256();
    let key_bytes = created.key.expose_secret().as_bytes().to_vec();
    let table: HashMap<[u8; 32], u32> = (0..10_000u32)
        .map(|i| (*hasher.digest(&i.to_le_bytes()).as_bytes(), i))
        .chain([(*hasher.digest(&key_bytes).as_bytes(), 10_000)])
        .collect();
    let probe = *hasher.digest(&key_bytes).as_bytes();
    let mut g = c.benchmark_group("floor");
    g.bench_function("sha256", |b| {
        b.iter(|| hasher.digest(black_box(&key_bytes)))
    });
    g.bench_function("lookup", |b| {
        b.iter(|| table.get(black_box(&probe)).copied())
    });
    g.bench_function("sha256_and_lookup", |b| {
        b.iter(|| {
            table
                .get(hasher.digest(black_box(&key_bytes)).as_bytes())
                .copied()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("authenticate");
    let mut case = |name: &str, header: &str, tenant: &'static str, ok: bool| {
        let req = AuthRequest::new(Some(header), Some(tenant), ip);
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = block_on(keys.authenticate(black_box(&req), &required));
                assert_eq!(r.is_ok(), ok);
                r
            })
        });
    };
    case("valid", &valid, "acme", true);
    case("malformed", &malformed, "acme", false);
    case("unknown", &unknown, "acme", false);
    case("revoked", &revoked, "acme", false);
    case("wrong_tenant", &valid, "globex", false);
    g.finish();

    // Multi-core: the same work on one thread, then split over two.
    let headers = [valid.clone(), bearer(&second.key)];
    let mut g = c.benchmark_group("throughput");
    for threads in [1usize, 2] {
        g.bench_function(
            format!("{threads}_thread{}", if threads > 1 { "s" } else { "" }),
            |b| {
                b.iter_custom(|iters| {
                    let per_thread = iters / threads as u64 + 1;
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for header in headers.iter().take(threads) {
                            let keys = &keys;
                            let required = &required;
                            s.spawn(move || {
                                let req = AuthRequest::new(Some(header), Some("acme"), ip);
                                for _ in 0..per_thread {
                                    black_box(
                                        block_on(keys.authenticate(&req, required)).expect("valid"),
                                    );
                                }
                            });
                        }
                    });
                    // Wall time for `iters` authentications over all threads.
                    start.elapsed()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
