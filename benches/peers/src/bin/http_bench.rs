//! The servers of the HTTP load test (`benches/http_load.sh`): a
//! "hello world" `GET /` on 127.0.0.1, one port per variant:
//!
//! | port (base +) | variant |
//! | --- | --- |
//! | 0 | axum, no auth |
//! | 1 | axum + tower-http `ValidateRequestHeaderLayer::bearer("static-token")` |
//! | 2 | axum + papyrus `AuthLayer`, API key |
//! | 3 | axum + papyrus `AuthLayer`, OAuth access token |
//! | 4 | actix-web, no auth |
//! | 5 | actix-web + papyrus `AuthMiddleware`, API key |
//! | 6 | actix-web + a hand-written static bearer compare (`middleware::from_fn`) |
//! | 7 | actix-web + papyrus `AuthMiddleware`, OAuth access token |
//!
//! `http_bench [BASE_PORT]` (default 18101). Prints `API_KEY=…`,
//! `OAUTH_TOKEN=…`, one `PORT <port> <variant>` line per server, then
//! `READY`; serves until killed. Requests to the papyrus variants carry
//! `Authorization: Bearer <secret>` and `X-Tenant-Id: acme`.

#![allow(clippy::expect_used)] // A benchmark whose set-up fails should stop at once.

use std::{io::Write, net::SocketAddr, thread};

use actix_web::{App, HttpServer, middleware::from_fn};
use papyrus_auth_peers::{actix_hello, actix_static_bearer, axum_apps, http_fixture};

/// Server threads of each framework: `HTTP_BENCH_WORKERS`, default 2 (the
/// machine has 2 cores; `benches/http_load.sh` pins the server to one core
/// with one worker and the load generator to the other).
fn workers() -> usize {
    std::env::var("HTTP_BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .filter(|&w| w > 0)
        .unwrap_or(2)
}

fn main() {
    let base: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().expect("BASE_PORT must be a port number"))
        .unwrap_or(18101);
    let (auth, key, token) = http_fixture();
    let workers = workers();
    println!("API_KEY={key}");
    println!("OAUTH_TOKEN={token}");

    // actix-web: its own system (one single-threaded runtime per worker).
    // Signals disabled: SIGTERM must end the whole process (the axum side
    // too), not start a graceful shutdown of the actix servers only.
    let actix_auth = auth.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let a = actix_auth.clone();
            let b = actix_auth.clone();
            let servers = [
                HttpServer::new(|| App::new().route("/", actix_web::web::get().to(actix_hello)))
                    .workers(workers)
                    .disable_signals()
                    .bind(("127.0.0.1", base + 4))
                    .expect("bind")
                    .run(),
                HttpServer::new(move || {
                    App::new()
                        .wrap(papyrus_auth::actix::AuthMiddleware::new(a.clone()))
                        .route("/", actix_web::web::get().to(actix_hello))
                })
                .workers(workers)
                .disable_signals()
                .bind(("127.0.0.1", base + 5))
                .expect("bind")
                .run(),
                HttpServer::new(|| {
                    App::new()
                        .wrap(from_fn(actix_static_bearer))
                        .route("/", actix_web::web::get().to(actix_hello))
                })
                .workers(workers)
                .disable_signals()
                .bind(("127.0.0.1", base + 6))
                .expect("bind")
                .run(),
                HttpServer::new(move || {
                    App::new()
                        .wrap(papyrus_auth::actix::AuthMiddleware::new(b.clone()))
                        .route("/", actix_web::web::get().to(actix_hello))
                })
                .workers(workers)
                .disable_signals()
                .bind(("127.0.0.1", base + 7))
                .expect("bind")
                .run(),
            ];
            let handles: Vec<_> = servers.into_iter().map(actix_web::rt::spawn).collect();
            tx.send(()).expect("ready");
            for h in handles {
                h.await.expect("task").expect("actix server");
            }
        });
    });
    rx.recv().expect("actix servers bound");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let apps = axum_apps(&auth);
        let mut tasks = Vec::new();
        for (i, app) in apps.into_iter().enumerate() {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", base + i as u16))
                .await
                .expect("bind");
            tasks.push(tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
            }));
        }
        let names = [
            "axum/no-auth",
            "axum/static-bearer",
            "axum/papyrus-api-key",
            "axum/papyrus-oauth",
            "actix/no-auth",
            "actix/papyrus-api-key",
            "actix/static-bearer",
            "actix/papyrus-oauth",
        ];
        for (i, name) in names.iter().enumerate() {
            println!("PORT {} {name}", base + i as u16);
        }
        println!("READY");
        std::io::stdout().flush().expect("flush");
        for t in tasks {
            t.await.expect("task").expect("axum server");
        }
    });
}
