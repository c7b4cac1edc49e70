//! The axum router of the example server.

#![allow(dead_code, unreachable_pub)] // Also compiled into the tests.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    middleware::Next,
    response::Response,
    routing::get,
};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use papyrus_auth::{
    Principal,
    axum::{AuthLayer, RequireScopes, into_response, routes},
    http::ScopeRequirement,
};
use tower::Service as _;

#[path = "../common/demo.rs"]
pub mod demo;

pub use demo::ConnectionLimits;
use demo::Demo;

/// `GET /api/v1/documents` needs `documents:read`.
pub struct DocumentsRead;
impl ScopeRequirement for DocumentsRead {
    const SCOPES: &'static str = "documents:read";
}

/// `POST /api/v1/documents` needs `documents:write`.
pub struct DocumentsWrite;
impl ScopeRequirement for DocumentsWrite {
    const SCOPES: &'static str = "documents:write";
}

async fn list(
    State(demo): State<Demo>,
    RequireScopes { principal, .. }: RequireScopes<DocumentsRead>,
) -> Response {
    into_response(demo.list_documents(&principal))
}

async fn create(
    State(demo): State<Demo>,
    RequireScopes { principal, .. }: RequireScopes<DocumentsWrite>,
    body: Bytes,
) -> Response {
    into_response(demo.create_document(&principal, &body))
}

async fn page(State(demo): State<Demo>, req: Request) -> Response {
    match req.uri().path() {
        "/app/config.json" => into_response(demo.spa_config()),
        "/metrics" => into_response(demo.metrics()),
        path => into_response(demo::static_asset(path).unwrap_or_else(|| {
            papyrus_auth::http::HttpResponse::json(404, &serde_json::json!({"error": "not_found"}))
        })),
    }
}

/// Who am I: `GET /api/v1/me` (any valid credential).
async fn me(principal: Principal) -> Response {
    into_response(papyrus_auth::http::HttpResponse::json(
        200,
        &serde_json::json!({ "principal": principal }),
    ))
}

/// The whole app: the protected API, the library's endpoints and the pages.
pub fn router(demo: Demo) -> Router {
    let api = Router::new()
        .route("/api/v1/documents", get(list).post(create))
        .route("/api/v1/me", get(me))
        .layer(AuthLayer::new(demo.auth.clone()));
    Router::new()
        .merge(api)
        .merge(routes(demo.auth.clone()))
        .route("/", get(page))
        .route("/admin", get(page))
        .route("/admin/admin.js", get(page))
        .route("/app", get(page))
        .route("/app/callback", get(page))
        .route("/app/spa.js", get(page))
        .route("/app/config.json", get(page))
        .route("/static/style.css", get(page))
        .route("/metrics", get(page))
        .with_state(demo)
}

/// Serves `app` on `listener` with `limits` until `shutdown` completes.
///
/// `axum::serve` has no header-read timeout and no connection cap, so a
/// client opening connections and never finishing its headers would hold
/// them for ever; this accept loop gives every connection hyper's
/// header-read timeout, every request a deadline, and holds at most
/// `max_connections` at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn(
        move |req: Request, next: Next| request_deadline(limits.request, req, next),
    ));
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            },
            () = &mut shutdown => return Ok(()),
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let Ok(service) = make_service.call(peer).await;
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades()
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
}

/// Answers `503` to a request not answered within `limit`.
async fn request_deadline(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => into_response(papyrus_auth::http::HttpResponse::json(
            503,
            &serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": "the request took too long"
            }),
        )),
    }
}
