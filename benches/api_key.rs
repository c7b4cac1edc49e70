//! API key authentication on the in-memory store.
//!
//! `cargo bench --bench api_key`
//!
//! * `authenticate/valid`: a valid key with 3 scopes and a 2-entry IP
//!   allowlist, among 10,000 keys, requiring one scope.
//! * `authenticate/malformed`: a key with a bad checksum (refused before any
//!   digest or store call).
//! * `authenticate/unknown`: a well-formed key that is not in the store.
//! * `floor/sha256`: one SHA-256 of a key-sized input, for scale.
//!
//! The memory store never waits, so futures are polled to completion with a
//! no-op waker: the figures are the library's cost, not an executor's.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

mod common;

use std::{hint::black_box, sync::Arc};

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
    for i in 0..10_000 {
        block_on(keys.create(
            &tenant,
            NewApiKey::new(format!("k{i}"), scopes.clone()),
            &Actor::System,
        ))
        .expect("create");
    }
    let allowlist = IpAllowlist::parse(["10.0.0.0/8", "2001:db8::/32"]).expect("allowlist");
    let created = block_on(keys.create(
        &tenant,
        NewApiKey::new("bench", scopes).with_ip_allowlist(allowlist),
        &Actor::System,
    ))
    .expect("create");
    let valid = format!("Bearer {}", created.key.expose_secret());
    let mut malformed = valid.clone();
    let last = malformed.pop().expect("non-empty");
    malformed.push(if last == 'a' { 'b' } else { 'a' });
    let unknown = format!(
        "Bearer {}",
        KeyFormat::default()
            .generate(Environment::Live)
            .expose_secret()
    );
    let required: ScopeSet = "documents:read".parse().expect("scope");
    let ip = Some("10.1.2.3".parse().expect("ip"));

    let mut g = c.benchmark_group("authenticate");
    g.bench_function("valid", |b| {
        let req = AuthRequest::new(Some(&valid), Some("acme"), ip);
        b.iter(|| block_on(keys.authenticate(black_box(&req), &required)).expect("valid"))
    });
    g.bench_function("malformed", |b| {
        let req = AuthRequest::new(Some(&malformed), Some("acme"), ip);
        b.iter(|| block_on(keys.authenticate(black_box(&req), &required)).expect_err("malformed"))
    });
    g.bench_function("unknown", |b| {
        let req = AuthRequest::new(Some(&unknown), Some("acme"), ip);
        b.iter(|| block_on(keys.authenticate(black_box(&req), &required)).expect_err("unknown"))
    });
    g.finish();

    let hasher = SecretHasher::sha256();
    let key = created.key.expose_secret().as_bytes().to_vec();
    c.bench_function("floor/sha256", |b| {
        b.iter(|| hasher.digest(black_box(&key)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
