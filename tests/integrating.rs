//! The integrator's path: the API-key-only quick start runs; a service
//! with scopes, issuer and tenants of its own works with nothing of
//! Papyrus configured; the builder refuses combinations that cannot work,
//! serves only the parts it was given, and one endpoint can be replaced.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod common;

#[allow(unreachable_pub, dead_code)] // `pub` and `main` for the example; only `app` here.
#[path = "../examples/api_key_service.rs"]
mod api_key_service;

use std::{net::SocketAddr, sync::Arc};

use async_trait::async_trait;
use axum::{Router, routing::get};
use common::{VERIFIER, form, location_params};
use papyrus_auth::{
    ApiKeys, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore, MemoryGrantStore,
    audit::Actor,
    axum::{oauth_routes, routes},
    http::{
        BuildError, ConsentContext, ConsentHandler, HttpAuth, HttpAuthConfig, HttpRequest,
        Interaction, StaticUsers, TenantSource,
    },
    oauth::{AuthorizationServer, ClientKind, CodeChallenge, NewClient},
};

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    base
}

#[tokio::test]
async fn the_api_key_quick_start_runs() {
    let (app, key) = api_key_service::app().await.unwrap();
    let base = serve(app).await;
    let client = reqwest::Client::new();
    let call = |key: &str, tenant: &str| {
        client
            .get(format!("{base}/reports"))
            .header("Authorization", format!("Bearer {key}"))
            .header("X-Tenant-Id", tenant)
            .send()
    };
    let ok = call(&key, "acme").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "the reports of acme\n");
    // Another tenant, or no key: 401 in the default realm.
    let other = call(&key, "globex").await.unwrap();
    assert_eq!(other.status(), 401);
    let none = client.get(format!("{base}/reports")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"api\"",
        "no product name in the default challenge"
    );
}

/// Approves whatever was asked, as `dave`: the application's own consent.
#[derive(Debug)]
struct ApprovesAll;

#[async_trait]
impl ConsentHandler for ApprovesAll {
    async fn show(&self, ctx: &ConsentContext<'_>) -> Interaction {
        Interaction::Approve {
            subject: "dave".into(),
            scopes: ctx.authorization().scopes.clone(),
        }
    }
    async fn decide(&self, ctx: &ConsentContext<'_>) -> Interaction {
        self.show(ctx).await
    }
}

fn server(issuer: &str) -> AuthorizationServer {
    AuthorizationServer::new(
        issuer.parse().unwrap(),
        Arc::new(MemoryClientStore::new()),
        Arc::new(MemoryGrantStore::new()),
        Arc::new(MemoryAuditLog::new()),
    )
}

fn keys() -> ApiKeys {
    ApiKeys::new(
        Arc::new(MemoryApiKeyStore::new()),
        Arc::new(MemoryAuditLog::new()),
    )
}

#[tokio::test]
async fn oauth_with_scopes_and_an_issuer_of_its_own() {
    let oauth = server("https://{tenant}.auth.reports.example");
    let acme = "acme".parse().unwrap();
    oauth
        .register_client(
            &acme,
            NewClient::new(
                "Dashboard",
                ClientKind::Public,
                "https://dash.reports.example/cb",
                "reports:read reports:write".parse().unwrap(),
            )
            .with_client_id("dash".parse().unwrap()),
            &Actor::System,
        )
        .await
        .expect("no product scopes are imposed on a client");
    // The default OAuth tenant: the host a browser asks for.
    let auth = HttpAuth::builder(keys())
        .oauth(oauth)
        .consent(Arc::new(ApprovesAll))
        .build()
        .unwrap();
    let query = form(&[
        ("response_type", "code"),
        ("client_id", "dash"),
        ("redirect_uri", "https://dash.reports.example/cb"),
        ("scope", "reports:read"),
        ("code_challenge", CodeChallenge::s256_of(VERIFIER).as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let authorize = HttpRequest::get(&format!("/oauth/authorize?{query}"))
        .with_header("Host", "acme.auth.reports.example");
    let r = auth.handle(&authorize).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let params = location_params(r.header("location").unwrap());
    assert_eq!(params["iss"], "https://acme.auth.reports.example");
    let token = auth
        .handle(
            &HttpRequest::new("POST", "/oauth/token")
                .with_header("Host", "acme.auth.reports.example")
                .with_header("Content-Type", "application/x-www-form-urlencoded")
                .with_body(form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &params["code"]),
                    ("redirect_uri", "https://dash.reports.example/cb"),
                    ("client_id", "dash"),
                    ("code_verifier", VERIFIER),
                ])),
        )
        .await;
    assert_eq!(token.status, 200, "{}", token.body);
    assert!(
        token.body.contains("\"scope\":\"reports:read\""),
        "{}",
        token.body
    );

    // The metadata names this issuer and no scope vocabulary.
    let metadata = auth
        .handle(
            &HttpRequest::get("/.well-known/oauth-authorization-server")
                .with_header("Host", "acme.auth.reports.example"),
        )
        .await;
    let json: serde_json::Value = serde_json::from_str(&metadata.body).unwrap();
    assert_eq!(json["issuer"], "https://acme.auth.reports.example");
    assert!(json.get("scopes_supported").is_none(), "{json}");

    // A host that is not under the issuer's names no tenant.
    let elsewhere = auth
        .handle(
            &HttpRequest::get(&format!("/oauth/authorize?{query}"))
                .with_header("Host", "acme.evil.example"),
        )
        .await;
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
}

#[test]
fn the_builder_refuses_what_cannot_work() {
    let oauth = server("https://{tenant}.auth.example.com");
    assert_eq!(
        HttpAuth::builder(keys()).oauth(oauth.clone()).build().err(),
        Some(BuildError::OAuthWithoutSignIn)
    );
    assert_eq!(
        HttpAuth::builder(keys())
            .users(Arc::new(StaticUsers::new()))
            .build()
            .err(),
        Some(BuildError::SignInWithoutOAuth)
    );
    // One issuer for every tenant: the OAuth endpoints' tenant must be said.
    let single = server("https://auth.example.com");
    let err = HttpAuth::builder(keys())
        .oauth(single.clone())
        .consent(Arc::new(ApprovesAll))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("with_oauth_tenant"), "{err}");
    assert!(
        HttpAuth::builder(keys())
            .oauth(single)
            .consent(Arc::new(ApprovesAll))
            .config(
                HttpAuthConfig::default()
                    .with_oauth_tenant(TenantSource::Fixed("acme".parse().unwrap()))
            )
            .build()
            .is_ok()
    );
    // An issuer is https (or loopback http), without query or fragment.
    for bad in [
        "http://auth.example.com",
        "https://auth.example.com/?x",
        "auth.example.com",
    ] {
        assert!(bad.parse::<papyrus_auth::oauth::Issuer>().is_err(), "{bad}");
    }
}

#[tokio::test]
async fn only_the_parts_given_are_served() {
    let api_only = HttpAuth::builder(keys()).build().unwrap();
    for path in [
        "/oauth/token",
        "/.well-known/oauth-authorization-server",
        "/admin/api-keys",
        "/admin/audit",
    ] {
        let r = api_only.handle(&HttpRequest::get(path)).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    // `routes` mounts nothing for an API-key-only service.
    let base = serve(Router::new().merge(routes(api_only))).await;
    let r = reqwest::get(format!("{base}/oauth/token")).await.unwrap();
    assert_eq!(r.status(), 404);

    // The admin API without OAuth: keys and audit, no clients.
    let admin = HttpAuth::builder(keys())
        .admin(Arc::new(MemoryAuditLog::new()))
        .build()
        .unwrap();
    let r = admin.handle(&HttpRequest::get("/admin/clients")).await;
    assert_eq!(r.status, 404);
    let r = admin.handle(&HttpRequest::get("/admin/api-keys")).await;
    assert_eq!(r.status, 401, "served, and authenticated: {}", r.body);
}

#[tokio::test]
async fn one_endpoint_can_be_replaced() {
    let auth = HttpAuth::builder(keys())
        .oauth(server("https://{tenant}.auth.example.com"))
        .consent(Arc::new(ApprovesAll))
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/oauth/authorize",
            get(|| async { "our own authorization page" }),
        )
        .merge(oauth_routes(auth));
    let base = serve(app).await;
    let ours = reqwest::get(format!("{base}/oauth/authorize"))
        .await
        .unwrap();
    assert_eq!(ours.text().await.unwrap(), "our own authorization page");
    // The rest of the group is still the library's.
    let token = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .header("Host", "acme.auth.example.com")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=nope&client_id=x")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 401, "an unknown client");
    assert!(token.text().await.unwrap().contains("invalid_client"));
}
