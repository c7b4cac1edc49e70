//! The actix-web app of the example server: the same routes, and the same
//! answers, as the axum one in `examples/server/app.rs`.

#![allow(dead_code, unreachable_pub)] // Also compiled into the tests.

use std::{
    future::Future,
    pin::{Pin, pin},
    task::Poll,
};

use actix_web::{
    App, HttpRequest, HttpServer,
    dev::{ServerHandle, Service, ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
    web,
};
use papyrus_auth::{
    Principal,
    actix::{AuthMiddleware, RequireScopes, configure, into_response},
    http::{HttpResponse, ScopeRequirement},
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

/// The largest document body read, as axum's default body limit (2 MiB).
const MAX_DOCUMENT_BODY: usize = 2 * 1024 * 1024;

async fn list(
    demo: web::Data<Demo>,
    RequireScopes { principal, .. }: RequireScopes<DocumentsRead>,
) -> actix_web::HttpResponse {
    into_response(demo.list_documents(&principal))
}

async fn create(
    demo: web::Data<Demo>,
    RequireScopes { principal, .. }: RequireScopes<DocumentsWrite>,
    body: web::Payload,
) -> actix_web::HttpResponse {
    match body.to_bytes_limited(MAX_DOCUMENT_BODY).await {
        Ok(Ok(body)) => into_response(demo.create_document(&principal, &body)),
        // What axum's `Bytes` extractor answers.
        Ok(Err(_)) => text(StatusCode::BAD_REQUEST, "Failed to buffer the request body"),
        Err(_) => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Failed to buffer the request body: length limit exceeded",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// Who am I: `GET /api/v1/me` (any valid credential).
async fn me(principal: Principal) -> actix_web::HttpResponse {
    into_response(HttpResponse::json(
        200,
        &serde_json::json!({ "principal": principal }),
    ))
}

async fn page(demo: web::Data<Demo>, req: HttpRequest) -> actix_web::HttpResponse {
    match req.path() {
        "/app/config.json" => into_response(demo.spa_config()),
        "/metrics" => into_response(demo.metrics()),
        path => into_response(demo::static_asset(path).unwrap_or_else(|| {
            HttpResponse::json(404, &serde_json::json!({"error": "not_found"}))
        })),
    }
}

/// An empty 405 for the methods a resource lacks.
async fn method_not_allowed() -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed().finish()
}

/// Like axum, adds `Allow: <allow>` to every answer to a method outside
/// `allow`, even to the middleware's 401 (axum's `get` also answers `HEAD`).
fn allow_header<S, B>(
    allow: &'static str,
) -> impl Fn(ServiceRequest, &S) -> BoxFuture<ServiceResponse<B>> + Clone + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    move |req, service| {
        let allowed = allow.split(',').any(|m| m == req.method().as_str());
        let response = service.call(req);
        Box::pin(async move {
            let mut response = response.await?;
            if !allowed {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Ok(response)
        })
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

/// The whole app: the protected API, the library's endpoints and the pages.
pub fn configure_app(demo: Demo) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg: &mut web::ServiceConfig| {
        let auth = AuthMiddleware::new(demo.auth.clone());
        cfg.app_data(web::Data::new(demo.clone()))
            .service(
                web::resource("/api/v1/documents")
                    .route(web::get().to(list))
                    .route(web::head().to(list))
                    .route(web::post().to(create))
                    .default_service(web::to(method_not_allowed))
                    .wrap(auth.clone())
                    .wrap_fn(allow_header("GET,HEAD,POST")),
            )
            .service(
                web::resource("/api/v1/me")
                    .route(web::get().to(me))
                    .route(web::head().to(me))
                    .default_service(web::to(method_not_allowed))
                    .wrap(auth)
                    .wrap_fn(allow_header("GET,HEAD")),
            )
            .configure(configure(demo.auth.clone()));
        for path in [
            "/",
            "/admin",
            "/admin/admin.js",
            "/app",
            "/app/callback",
            "/app/spa.js",
            "/app/config.json",
            "/static/style.css",
            "/metrics",
        ] {
            cfg.service(
                web::resource(path)
                    .route(web::get().to(page))
                    .route(web::head().to(page))
                    .default_service(web::to(method_not_allowed))
                    .wrap_fn(allow_header("GET,HEAD")),
            );
        }
    }
}

/// Serves the app on `listener` (already bound) with one worker, in a
/// background thread running its own actix system: callable from anywhere,
/// a tokio test included. Returns once the server accepts connections; stop
/// it with [`ServerHandle::stop`] (graceful: in-flight requests get up to a
/// second, which idle keep-alive connections also hold it up).
pub fn start(
    demo: Demo,
    listener: std::net::TcpListener,
    limits: demo::ConnectionLimits,
) -> std::io::Result<ServerHandle> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("papyrus-actix".into())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let app = configure_app(demo);
                // The connection limits of the axum server: headers within
                // `header_read` (an idle keep-alive connection is closed
                // after it too), at most `max_connections` at once (one
                // worker). The handlers wait on nothing slow, so there is no
                // per-request deadline to add.
                let server = match HttpServer::new(move || App::new().configure(app.clone()))
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .client_request_timeout(limits.header_read)
                    .keep_alive(limits.header_read)
                    .max_connections(limits.max_connections)
                    .listen(listener)
                {
                    Ok(server) => server.run(),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let handle = server.handle();
                let mut server = pin!(server);
                // The first poll starts the worker and the acceptor.
                let first = std::future::poll_fn(|cx| Poll::Ready(server.as_mut().poll(cx))).await;
                match first {
                    Poll::Ready(Err(e)) => {
                        let _ = tx.send(Err(e));
                    }
                    Poll::Ready(Ok(())) => {
                        let _ = tx.send(Err(std::io::Error::other("server stopped at once")));
                    }
                    Poll::Pending => {
                        let _ = tx.send(Ok(handle));
                        if let Err(e) = server.await {
                            tracing::warn!(error = %e, "actix server failed");
                        }
                    }
                }
            });
        })?;
    rx.recv()
        .map_err(|_| std::io::Error::other("the server thread ended before starting"))?
}
