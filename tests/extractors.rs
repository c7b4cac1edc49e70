//! The axum extractors as a handler uses them: the typed rejection it can
//! match on, the answer when a route is not behind the layer, and scope
//! requirements refused where the layer is built.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    routing::get,
};
use papyrus_auth::{
    ApiKeys, MemoryApiKeyStore, MemoryAuditLog, Principal, Rejection, TenantId,
    api_key::NewApiKey,
    audit::Actor,
    axum::{AuthLayer, AuthRejection, RequireScopes},
    http::{HttpAuth, HttpAuthConfig, ScopeRequirement},
};
use tower::ServiceExt;

struct ReportsWrite;
impl ScopeRequirement for ReportsWrite {
    const SCOPES: &'static str = "reports:write";
}

/// A handler that answers a missing scope its own way.
async fn write(scoped: Result<RequireScopes<ReportsWrite>, AuthRejection>) -> (StatusCode, String) {
    match scoped {
        Ok(scoped) => (StatusCode::OK, format!("written by {}", scoped.subject())),
        Err(refused) => match refused.reason() {
            Rejection::InsufficientScope { required } => (
                StatusCode::FORBIDDEN,
                format!("ask your admin for {required}"),
            ),
            other => (StatusCode::UNAUTHORIZED, other.to_string()),
        },
    }
}

async fn auth_with_key(scopes: &str) -> (HttpAuth, String) {
    let audit = Arc::new(MemoryAuditLog::new());
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
    let created = keys
        .create(
            &"acme".parse::<TenantId>().unwrap(),
            NewApiKey::new("reporter", scopes.parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    // An API-key-only service with scopes and a realm of its own.
    let auth = HttpAuth::builder(keys)
        .config(HttpAuthConfig::default().with_realm("reports"))
        .build()
        .unwrap();
    (auth, created.key.expose_secret().to_owned())
}

async fn call(app: Router, path: &str, key: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header("Authorization", format!("Bearer {key}"))
        .header("X-Tenant-Id", "acme")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn a_handler_matches_on_the_typed_rejection() {
    let (auth, read_only) = auth_with_key("reports:read").await;
    let app = Router::new()
        .route("/reports", get(write))
        .layer(AuthLayer::new(auth.clone()));
    let (status, body) = call(app.clone(), "/reports", &read_only).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, "ask your admin for reports:write");

    let (auth, writer) = auth_with_key("reports:read reports:write").await;
    let app = Router::new()
        .route("/reports", get(write))
        .layer(AuthLayer::new(auth));
    let (status, body) = call(app, "/reports", &writer).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("written by key_"), "{body}"); // a key's subject is its id
}

#[tokio::test]
async fn the_plain_extractor_answers_403_with_the_challenge() {
    let (auth, read_only) = auth_with_key("reports:read").await;
    async fn strict(scoped: RequireScopes<ReportsWrite>) -> String {
        scoped.into_principal().subject().to_owned()
    }
    let app = Router::new()
        .route("/reports", get(strict))
        .layer(AuthLayer::new(auth));
    let request = Request::get("/reports")
        .header("Authorization", format!("Bearer {read_only}"))
        .header("X-Tenant-Id", "acme")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"reports\", error=\"insufficient_scope\", scope=\"reports:write\""
    );
}

#[tokio::test]
async fn a_route_outside_the_layer_is_refused_and_says_why() {
    let (_, key) = auth_with_key("reports:read").await;
    async fn me(principal: Result<Principal, AuthRejection>) -> (StatusCode, String) {
        let refused = principal.unwrap_err();
        assert_eq!(refused.reason(), &Rejection::MissingCredentials);
        (StatusCode::UNAUTHORIZED, refused.to_string())
    }
    // Forgot `.layer(AuthLayer::new(auth))`: no principal, never a pass.
    let app = Router::new().route("/me", get(me));
    let (status, body) = call(app, "/me", &key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("authentication layer"), "{body}");
}

#[tokio::test]
async fn a_required_scope_typo_is_refused_where_the_layer_is_built() {
    let (auth, _) = auth_with_key("reports:read").await;
    let err = AuthLayer::new(auth.clone())
        .with_required_scopes("reports read,write")
        .unwrap_err();
    assert!(err.to_string().contains("separated by a space"), "{err}");
    assert!(
        AuthLayer::new(auth)
            .with_required_scopes("reports:read")
            .is_ok()
    );
}
