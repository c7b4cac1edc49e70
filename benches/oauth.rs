//! The OAuth core on the in-memory stores.
//!
//! `cargo bench --bench oauth`
//!
//! * `oauth/code_issue_and_exchange`: validate an authorization request,
//!   approve it (issue a code) and exchange the code with PKCE S256;
//! * `oauth/refresh_rotation`: one refresh (rotation) of a refresh token;
//! * `oauth/validate_access_token`: validate a bearer access token for a
//!   tenant and one scope, among 10,000 live tokens.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

mod common;

use std::{hint::black_box, sync::Arc};

use common::block_on;
use criterion::{Criterion, criterion_group, criterion_main};
use papyrus_auth::{
    Actor, MemoryClientStore, MemoryGrantStore, ScopeSet, TenantId, TracingAuditSink,
    oauth::{AuthorizationServer, ClientKind, CodeChallenge, NewClient, TokenRequest},
};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn bench(c: &mut Criterion) {
    let server = AuthorizationServer::new(
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        Arc::new(TracingAuditSink),
    );
    let tenant: TenantId = "acme".parse().expect("tenant");
    let client = block_on(server.register_client(
        &tenant,
        NewClient::new(
            "bench",
            ClientKind::Public,
            "https://app.example.com/cb",
            "documents:read workflows:read".parse().expect("scopes"),
        ),
        &Actor::System,
    ))
    .expect("client")
    .client;
    let query = format!(
        "response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
         &scope=documents%3Aread+workflows%3Aread&code_challenge={}&code_challenge_method=S256&state=s",
        client.client_id,
        CodeChallenge::s256_of(VERIFIER).as_str()
    );
    let issue_and_exchange = || {
        let req = block_on(server.authorize(&tenant, &query)).expect("authorize");
        let loc = block_on(server.approve(&req, "alice", &req.scopes)).expect("approve");
        let code = loc
            .split("code=")
            .nth(1)
            .and_then(|s| s.split('&').next())
            .expect("code")
            .to_owned();
        let body = format!(
            "grant_type=authorization_code&code={code}&client_id={}\
             &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_verifier={VERIFIER}",
            client.client_id
        );
        block_on(server.token(&tenant, &TokenRequest::new(None, &body))).expect("token")
    };
    // 10,000 live token families.
    let mut last = None;
    for _ in 0..10_000 {
        last = Some(issue_and_exchange());
    }
    let tokens = last.expect("tokens");
    let access = tokens.access_token.expose_secret().to_owned();
    let required: ScopeSet = "documents:read".parse().expect("scope");

    let mut g = c.benchmark_group("oauth");
    g.bench_function("code_issue_and_exchange", |b| {
        b.iter(|| black_box(issue_and_exchange()))
    });
    let mut refresh = tokens
        .refresh_token
        .expect("refresh")
        .expose_secret()
        .to_owned();
    g.bench_function("refresh_rotation", |b| {
        b.iter(|| {
            let body = format!(
                "grant_type=refresh_token&refresh_token={refresh}&client_id={}",
                client.client_id
            );
            let t =
                block_on(server.token(&tenant, &TokenRequest::new(None, &body))).expect("refresh");
            refresh = t.refresh_token.expect("rotated").expose_secret().to_owned();
        })
    });
    g.bench_function("validate_access_token", |b| {
        b.iter(|| {
            block_on(server.validate_access_token(black_box(&access), &tenant, &required))
                .expect("valid")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
