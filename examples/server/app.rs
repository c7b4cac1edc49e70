//! The axum router of the example server.

#![allow(dead_code, unreachable_pub)] // Also compiled into the tests.

use axum::{
    Router,
    body::Bytes,
    extract::{Request, State},
    response::Response,
    routing::get,
};
use papyrus_auth::{
    Principal,
    axum::{AuthLayer, RequireScopes, into_response, routes},
    http::ScopeRequirement,
};

#[path = "../common/demo.rs"]
pub mod demo;

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
    RequireScopes(principal, ..): RequireScopes<DocumentsRead>,
) -> Response {
    into_response(demo.list_documents(&principal))
}

async fn create(
    State(demo): State<Demo>,
    RequireScopes(principal, ..): RequireScopes<DocumentsWrite>,
    body: Bytes,
) -> Response {
    into_response(demo.create_document(&principal, &body))
}

async fn page(State(demo): State<Demo>, req: Request) -> Response {
    match req.uri().path() {
        "/app/config.json" => into_response(demo.spa_config()),
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
        .with_state(demo)
}
