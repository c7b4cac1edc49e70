//! papyrus-auth side by side with oxide-auth 0.6, in-process, each on its
//! own in-memory primitives, in one criterion run.
//!
//! `cargo bench --bench peers` (in `benches/peers/`); `PEERS_LIVE_TOKENS`
//! sets the number of live token pairs pre-filled in each store (default
//! 1,000,000).
//!
//! * `exchange/*`: authorization request + owner approval (issues a code),
//!   then the code exchange with the PKCE S256 verifier;
//! * `refresh/*`: one refresh-token grant (both rotate the refresh token);
//! * `validate/*`: validate a bearer access token needing one scope
//!   (papyrus: `validate_access_token`; oxide-auth: its resource flow,
//!   which calls `Issuer::recover_token`), cycling over 4,096 different live
//!   tokens so that the lookups are not all cache-hot;
//! * `validate_1core/*`, `validate_2core/*`: the same validation on one and
//!   on two threads at once against one shared store, wrapped as a server
//!   would share it: papyrus's `AuthorizationServer` is `Clone`; oxide-auth's
//!   resource flow takes `&mut dyn Issuer`, so either `Mutex<TokenMap>`
//!   (`oxide-auth-mutex`), or `RwLock<TokenMap>` with a read-only `Issuer`
//!   adapter over the read guard (`oxide-auth-rwlock`, the friendliest
//!   sharing its API allows: `recover_token` is `&self`). Time is wall time
//!   divided by the total number of operations of all threads, so the
//!   throughput is 1/time; scaling = `validate_1core` / `validate_2core`.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

use std::{
    collections::HashMap,
    hint::black_box,
    sync::{Arc, Barrier, Mutex, RwLock},
    thread,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use oxide_auth::{
    endpoint::{AccessTokenFlow, AuthorizationFlow, OwnerConsent, Scope, Solicitation},
    frontends::simple::{
        endpoint::{FnSolicitor, Generic, Vacant, refresh_flow, resource_flow},
        extensions::{AddonList, Extended, Pkce},
        request::{Request, Response, Status},
    },
    primitives::{
        authorizer::AuthMap,
        generator::RandomGenerator,
        grant::{Extensions, Grant},
        issuer::{IssuedToken, Issuer, RefreshedToken, TokenMap},
        registrar::{Client, ClientMap, RegisteredUrl},
    },
};
use papyrus_auth::{ScopeSet, TracingAuditSink};
use papyrus_auth_peers::{CHALLENGE, PapyrusOAuth, REDIRECT_URI, SCOPES, VERIFIER, block_on};

/// Distinct live tokens the validation rows cycle over.
const SAMPLE: usize = 4096;
const CLIENT_ID: &str = "bench-client";

fn live_tokens() -> usize {
    std::env::var("PEERS_LIVE_TOKENS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000)
}

type OxideIssuer = TokenMap<RandomGenerator>;

/// A read-only view of a `TokenMap`, so that the resource flow (which wants
/// `&mut dyn Issuer`) can run under a shared read lock.
struct ReadOnly<'a>(&'a OxideIssuer);

impl Issuer for ReadOnly<'_> {
    fn issue(&mut self, _: Grant) -> Result<IssuedToken, ()> {
        Err(())
    }
    fn refresh(&mut self, _: &str, _: Grant) -> Result<RefreshedToken, ()> {
        Err(())
    }
    fn recover_token<'a>(&'a self, token: &'a str) -> Result<Option<Grant>, ()> {
        self.0.recover_token(token)
    }
    fn recover_refresh<'a>(&'a self, token: &'a str) -> Result<Option<Grant>, ()> {
        self.0.recover_refresh(token)
    }
}

fn oxide_grant() -> Grant {
    Grant {
        owner_id: "alice".to_owned(),
        client_id: CLIENT_ID.to_owned(),
        scope: SCOPES.parse().expect("scope"),
        redirect_uri: REDIRECT_URI.parse().expect("url"),
        until: chrono::Utc::now() + chrono::Duration::days(1),
        extensions: Extensions::new(),
    }
}

fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The value of `"refresh_token":"…"` in a JSON token response.
fn json_refresh_token(body: &str) -> String {
    let start = body.find("\"refresh_token\":\"").expect("refresh_token") + 17;
    let end = body[start..].find('"').expect("end") + start;
    body[start..end].to_owned()
}

/// Runs `op(thread, i)` `iters` times in total, split over `threads`
/// threads started together; returns the wall time from the first start to
/// the last finish.
fn run_threads<F>(threads: usize, iters: u64, op: &F) -> Duration
where
    F: Fn(usize, u64) + Sync,
{
    let barrier = Barrier::new(threads);
    let per = iters.div_ceil(threads as u64);
    let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..per {
                        op(t, i);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("a thread");
    let last = spans.iter().map(|s| s.1).max().expect("a thread");
    // Criterion divides by `iters`; report the time for exactly that many.
    (last - first).mul_f64(iters as f64 / (per * threads as u64) as f64)
}

fn bench(c: &mut Criterion) {
    let n = live_tokens();

    // ---- papyrus: n live token families through the public flow.
    let t0 = Instant::now();
    let papyrus = PapyrusOAuth::new(Arc::new(TracingAuditSink));
    let every = (n / SAMPLE).max(1);
    let mut p_access = Vec::with_capacity(SAMPLE);
    let mut p_refresh = String::new();
    for i in 0..n {
        let t = papyrus.issue_and_exchange();
        if i % every == 0 && p_access.len() < SAMPLE {
            p_access.push(t.access_token.expose_secret().to_owned());
        }
        if i + 1 == n {
            p_refresh = t.refresh_token.expect("refresh").expose_secret().to_owned();
        }
    }
    eprintln!(
        "papyrus: {n} live token families pre-filled in {:.1?}",
        t0.elapsed()
    );

    // ---- oxide-auth: n live token pairs in its TokenMap.
    let t0 = Instant::now();
    let mut registrar = ClientMap::new();
    registrar.register_client(Client::public(
        CLIENT_ID,
        RegisteredUrl::Semantic(REDIRECT_URI.parse().expect("url")),
        SCOPES.parse().expect("scope"),
    ));
    let mut authorizer = AuthMap::new(RandomGenerator::new(16));
    let mut issuer: OxideIssuer = TokenMap::new(RandomGenerator::new(16));
    let mut o_access = Vec::with_capacity(SAMPLE);
    let mut o_refresh = String::new();
    for i in 0..n {
        let t = issuer.issue(oxide_grant()).expect("issue");
        if i % every == 0 && o_access.len() < SAMPLE {
            o_access.push(format!("Bearer {}", t.token));
        }
        if i + 1 == n {
            o_refresh = t.refresh.expect("refresh");
        }
    }
    eprintln!(
        "oxide-auth: {n} live token pairs pre-filled in {:.1?}",
        t0.elapsed()
    );
    let o_scopes: Vec<Scope> = vec!["documents:read".parse().expect("scope")];
    let p_required: ScopeSet = "documents:read".parse().expect("scope");
    // Both sides must accept their sample.
    for t in &p_access {
        block_on(
            papyrus
                .server
                .validate_access_token(t, &papyrus.tenant, &p_required),
        )
        .expect("papyrus token valid");
    }
    for t in &o_access {
        resource_flow(&mut issuer, &o_scopes)
            .execute(Request {
                auth: Some(t.clone()),
                ..Request::default()
            })
            .map_err(|_| ())
            .expect("oxide token valid");
    }

    // ---- exchange
    let auth_query = query(&[
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("scope", SCOPES),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "s"),
    ]);
    let mut g = c.benchmark_group("exchange");
    g.bench_function("papyrus", |b| {
        b.iter(|| black_box(papyrus.issue_and_exchange()))
    });
    {
        let mut addons = AddonList::new();
        addons.push_code(Pkce::required());
        let mut endpoint = Extended::extend_with(
            Generic {
                registrar: &registrar,
                authorizer: &mut authorizer,
                issuer: &mut issuer,
                solicitor: FnSolicitor(|_: &mut Request, _: Solicitation<'_>| {
                    OwnerConsent::<Response>::Authorized("alice".to_owned())
                }),
                scopes: Vacant,
                response: Vacant,
            },
            addons,
        );
        let mut exchange = || {
            let response = AuthorizationFlow::prepare(&mut endpoint)
                .map_err(|_| ())
                .expect("authorization flow")
                .execute(Request {
                    query: auth_query.clone(),
                    ..Request::default()
                })
                .map_err(|_| ())
                .expect("authorize");
            assert_eq!(response.status, Status::Redirect);
            let location = response.location.expect("location");
            let code = location
                .query_pairs()
                .find(|(k, _)| k == "code")
                .expect("code")
                .1
                .into_owned();
            let body = query(&[
                ("grant_type", "authorization_code"),
                ("client_id", CLIENT_ID),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ]);
            let response = AccessTokenFlow::prepare(&mut endpoint)
                .map_err(|_| ())
                .expect("access token flow")
                .execute(Request {
                    urlbody: body,
                    ..Request::default()
                })
                .map_err(|_| ())
                .expect("exchange");
            assert_eq!(response.status, Status::Ok);
            response
        };
        g.bench_function("oxide-auth", |b| b.iter(|| black_box(exchange())));
    }
    g.finish();

    // ---- refresh
    let mut g = c.benchmark_group("refresh");
    g.bench_function("papyrus", |b| {
        b.iter(|| p_refresh = papyrus.refresh(black_box(&p_refresh)))
    });
    g.bench_function("oxide-auth", |b| {
        b.iter(|| {
            let response = refresh_flow(&registrar, &mut issuer)
                .execute(Request {
                    urlbody: query(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", black_box(&o_refresh)),
                        ("client_id", CLIENT_ID),
                    ]),
                    ..Request::default()
                })
                .map_err(|_| ())
                .expect("refresh");
            assert_eq!(response.status, Status::Ok);
            let body = response.body.expect("body");
            o_refresh = json_refresh_token(body.as_str());
        })
    });
    g.finish();

    // ---- validate, one thread, no sharing wrapper
    let mut g = c.benchmark_group("validate");
    g.bench_function("papyrus", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % p_access.len();
            block_on(papyrus.server.validate_access_token(
                black_box(&p_access[i]),
                &papyrus.tenant,
                &p_required,
            ))
            .expect("valid")
        })
    });
    g.bench_function("oxide-auth", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % o_access.len();
            resource_flow(&mut issuer, &o_scopes)
                .execute(Request {
                    auth: Some(black_box(&o_access[i]).clone()),
                    ..Request::default()
                })
                .map_err(|_| ())
                .expect("valid")
        })
    });
    g.finish();

    // ---- validate on 1 and 2 threads, one shared store
    // Each thread validates its own half of the sample.
    let (p_half, o_half) = (p_access.len() / 2, o_access.len() / 2);
    let papyrus_op = |t: usize, i: u64| {
        let token = &p_access[t * p_half + (i as usize % p_half)];
        block_on(
            papyrus
                .server
                .validate_access_token(token, &papyrus.tenant, &p_required),
        )
        .expect("valid");
    };
    let mutex = Mutex::new(issuer);
    let mutex_op = |t: usize, i: u64| {
        let token = &o_access[t * o_half + (i as usize % o_half)];
        let mut guard = mutex.lock().expect("lock");
        resource_flow(&mut *guard, &o_scopes)
            .execute(Request {
                auth: Some(token.clone()),
                ..Request::default()
            })
            .map_err(|_| ())
            .expect("valid");
    };
    // Each variant in its own lifetime: move the TokenMap from the Mutex
    // into the RwLock after the mutex rows.
    for threads in [1, 2] {
        let mut g = c.benchmark_group(format!("validate_{threads}core"));
        g.bench_function("papyrus", |b| {
            b.iter_custom(|iters| run_threads(threads, iters, &papyrus_op))
        });
        g.bench_function("oxide-auth-mutex", |b| {
            b.iter_custom(|iters| run_threads(threads, iters, &mutex_op))
        });
        g.finish();
    }
    let rwlock = RwLock::new(mutex.into_inner().expect("lock"));
    let rwlock_op = |t: usize, i: u64| {
        let token = &o_access[t * o_half + (i as usize % o_half)];
        let guard = rwlock.read().expect("lock");
        resource_flow(&mut ReadOnly(&guard), &o_scopes)
            .execute(Request {
                auth: Some(token.clone()),
                ..Request::default()
            })
            .map_err(|_| ())
            .expect("valid");
    };
    for threads in [1, 2] {
        let mut g = c.benchmark_group(format!("validate_{threads}core"));
        g.bench_function("oxide-auth-rwlock", |b| {
            b.iter_custom(|iters| run_threads(threads, iters, &rwlock_op))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
