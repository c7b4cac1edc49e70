//! The HTTP layers in-process: one request through an axum `Router` with no
//! auth, with a pass-through `middleware::from_fn` (what any boxing
//! middleware costs), with tower-http's static bearer compare, and with
//! papyrus's `AuthLayer` (API key, OAuth access token), without sockets or a
//! runtime; and the same through an actix-web `App` (no auth, a `from_fn`
//! static bearer compare, papyrus's `AuthMiddleware`) with actix's test
//! helpers on one actix system.
//!
//! `cargo bench --bench layers` (in `benches/peers/`). The difference
//! between a papyrus row and `no-auth` is what the layer adds to every
//! request; `benches/http_load.sh` measures the same variants over
//! loopback TCP, where the kernel's share makes the whole request cost
//! about 8 µs of server CPU.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

use std::{hint::black_box, net::SocketAddr};

use actix_web::{App, test as actix_test};
use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode},
};
use criterion::{Criterion, criterion_group, criterion_main};
use papyrus_auth_peers::{
    STATIC_TOKEN, actix_hello, actix_static_bearer, axum_apps, block_on, http_fixture,
};
use tower::ServiceExt as _;

fn bench(c: &mut Criterion) {
    let (auth, key, token) = http_fixture();
    let [no_auth, static_bearer, api_key, oauth] = axum_apps(&auth);
    let peer: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let request = |bearer: Option<&str>| {
        let mut b = Request::get("/")
            .header("host", "127.0.0.1:18101")
            .header("user-agent", "wrk")
            .header("x-tenant-id", "acme");
        if let Some(t) = bearer {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let mut req = b.body(Body::empty()).expect("request");
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    };
    // The cost of a middleware that boxes its future and does nothing else.
    let pass_through = axum::Router::new()
        .route("/", axum::routing::get(|| async { "Hello, world!" }))
        .layer(axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| next.run(req),
        ));
    let variants = [
        ("no-auth", no_auth, None),
        ("from-fn-pass-through", pass_through, None),
        ("static-bearer", static_bearer, Some(STATIC_TOKEN)),
        ("papyrus-api-key", api_key, Some(key.as_str())),
        ("papyrus-oauth", oauth, Some(token.as_str())),
    ];
    let mut g = c.benchmark_group("axum_layer");
    for (name, app, bearer) in variants {
        // Every variant must answer 200 (and the protected ones 401 without).
        let res = block_on(app.clone().oneshot(request(bearer))).expect("infallible");
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        if bearer.is_some() {
            let res = block_on(app.clone().oneshot(request(None))).expect("infallible");
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        }
        g.bench_function(name, |b| {
            b.iter_batched(
                || (app.clone(), request(bearer)),
                |(app, req)| black_box(block_on(app.oneshot(req))),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    // The same on actix-web: its App driven by actix's test helpers on one
    // actix system (no sockets). The static bearer is a `from_fn` compare,
    // as in the load test.
    let system = actix_web::rt::System::new();
    let actix_request = |bearer: Option<&str>| {
        let mut r = actix_test::TestRequest::get()
            .uri("/")
            .insert_header(("host", "127.0.0.1:18105"))
            .insert_header(("user-agent", "wrk"))
            .insert_header(("x-tenant-id", "acme"))
            .peer_addr(peer);
        if let Some(t) = bearer {
            r = r.insert_header(("authorization", format!("Bearer {t}")));
        }
        r.to_request()
    };
    macro_rules! actix_row {
        ($g:expr, $name:expr, $bearer:expr, $app:expr) => {{
            let app = system.block_on(actix_test::init_service($app));
            let res = system.block_on(actix_test::call_service(&app, actix_request($bearer)));
            assert_eq!(res.status().as_u16(), 200, "{}", $name);
            if $bearer.is_some() {
                let res = system.block_on(actix_test::call_service(&app, actix_request(None)));
                assert_eq!(res.status().as_u16(), 401, "{}", $name);
            }
            $g.bench_function($name, |b| {
                b.iter_batched(
                    || actix_request($bearer),
                    |req| black_box(system.block_on(actix_test::call_service(&app, req))),
                    criterion::BatchSize::SmallInput,
                )
            });
        }};
    }
    let hello = || actix_web::web::get().to(actix_hello);
    let mut g = c.benchmark_group("actix_layer");
    actix_row!(g, "no-auth", None::<&str>, App::new().route("/", hello()));
    actix_row!(
        g,
        "static-bearer",
        Some(STATIC_TOKEN),
        App::new()
            .wrap(actix_web::middleware::from_fn(actix_static_bearer))
            .route("/", hello())
    );
    actix_row!(
        g,
        "papyrus-api-key",
        Some(key.as_str()),
        App::new()
            .wrap(papyrus_auth::actix::AuthMiddleware::new(auth.clone()))
            .route("/", hello())
    );
    actix_row!(
        g,
        "papyrus-oauth",
        Some(token.as_str()),
        App::new()
            .wrap(papyrus_auth::actix::AuthMiddleware::new(auth.clone()))
            .route("/", hello())
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
