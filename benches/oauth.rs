//! The OAuth core on the in-memory stores.
//!
//! `cargo bench --bench oauth`
//!
//! * `pkce/verify` vs `pkce/bare_sha256_base64url`: PKCE S256 verification
//!   against the bare SHA-256 + base64url of the verifier it must do;
//! * `oauth/code_issue_and_exchange`: validate an authorization request,
//!   approve it (issue a code) and exchange the code with PKCE S256;
//! * `oauth/refresh_rotation`: one refresh (rotation) of a refresh token;
//! * `oauth/validate_access_token`: validate a bearer access token for a
//!   tenant and one scope, with 1,000,000 live access tokens in the store;
//! * `rng/thread_rng_token` vs `rng/os_rng_token`: drawing one 43-character
//!   token from the thread-local CSPRNG (ChaCha12, seeded and reseeded from
//!   the OS) or from the OS generator directly (one `getrandom` syscall per
//!   token).

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

mod common;

use std::{hint::black_box, sync::Arc};

use base64::Engine as _;
use common::block_on;
use criterion::{Criterion, criterion_group, criterion_main};
use papyrus_auth::{
    Actor, Digest, DigestVersion, MemoryClientStore, MemoryGrantStore, ScopeSet, TenantId,
    TracingAuditSink,
    oauth::{
        AccessTokenRecord, AuthorizationServer, ClientKind, CodeChallenge, FamilyId, GrantStore,
        NewClient, NewTokens, TokenRequest,
    },
};
use sha2::{Digest as _, Sha256};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const LIVE_TOKENS: u32 = 1_000_000;

fn bench(c: &mut Criterion) {
    let grants = Arc::new(MemoryGrantStore::new());
    let server = AuthorizationServer::new(
        "https://{tenant}.auth.example.com"
            .parse()
            .expect("an issuer"),
        Arc::new(MemoryClientStore::new()),
        grants.clone(),
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
    // 1,000,000 live access tokens (synthetic records: their digests are of
    // random values, as real ones are), plus real ones from the flow.
    let scopes: ScopeSet = "documents:read".parse().expect("scope");
    let now = time::OffsetDateTime::now_utc();
    for i in 0..LIVE_TOKENS {
        let digest = Digest::from_parts(
            DigestVersion::Sha256,
            Sha256::digest(i.to_le_bytes()).into(),
        );
        let family = FamilyId::from_stored(&format!("fam_bench_{i}"));
        let access = AccessTokenRecord {
            digest,
            family,
            tenant: tenant.clone(),
            client_id: client.client_id.clone(),
            subject: "user".into(),
            scopes: scopes.clone(),
            issued_at: now,
            expires_at: now + time::Duration::hours(1),
            revoked_at: None,
            audience: papyrus_auth::oauth::Resources::none(),
        };
        block_on(grants.insert_tokens(NewTokens {
            access,
            refresh: None,
        }))
        .expect("insert");
    }
    let tokens = issue_and_exchange();
    let access = tokens.access_token.expose_secret().to_owned();

    let mut g = c.benchmark_group("pkce");
    let challenge = CodeChallenge::s256_of(VERIFIER);
    g.bench_function("verify", |b| {
        b.iter(|| assert!(challenge.verify(black_box(VERIFIER))))
    });
    g.bench_function("bare_sha256_base64url", |b| {
        b.iter(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(Sha256::digest(black_box(VERIFIER).as_bytes()))
        })
    });
    g.finish();

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
            block_on(server.validate_access_token(black_box(&access), &tenant, &scopes))
                .expect("valid")
        })
    });
    g.finish();

    // Both draw the same bytes the same way (one fill of 64 bytes, mapped
    // to base62 by rejection); only the source differs.
    let mut g = c.benchmark_group("rng");
    g.bench_function("thread_rng_token", |b| {
        b.iter(|| token_from(&mut rand::rng()))
    });
    g.bench_function("os_rng_token", |b| {
        b.iter(|| token_from(&mut rand::rand_core::UnwrapErr(rand::rngs::SysRng)))
    });
    g.finish();
}

/// A 43-character base62 token from `rng`.
fn token_from(rng: &mut impl rand::Rng) -> String {
    const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(43);
    while out.len() < 43 {
        let mut bytes = [0u8; 64];
        rng.fill_bytes(&mut bytes);
        for b in bytes.into_iter().filter(|b| *b < 248).take(43 - out.len()) {
            out.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
