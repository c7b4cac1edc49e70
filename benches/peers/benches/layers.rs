//! The HTTP layers in-process: one request through an axum `Router` with no
//! auth, with a pass-through `middleware::from_fn` (what any boxing
//! middleware costs), with tower-http's static bearer compare, and with
//! papyrus's `AuthLayer` (API key, OAuth access token), without sockets or a
//! runtime.
//!
//! `cargo bench --bench layers` (in `benches/peers/`). The difference
//! between a papyrus row and `no-auth` is what the layer adds to every
//! request; `benches/http_load.sh` measures the same variants over
//! loopback TCP, where the kernel's share makes the whole request cost
//! about 8 µs of server CPU.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

use std::{hint::black_box, net::SocketAddr};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode},
};
use criterion::{Criterion, criterion_group, criterion_main};
use papyrus_auth_peers::{STATIC_TOKEN, axum_apps, block_on, http_fixture};
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
