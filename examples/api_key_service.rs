//! The API-key-only quick start of the README: a service with scopes of
//! its own, no OAuth, no users, nothing of Papyrus configured.
//! `cargo run --example api_key_service`, then run the `curl` it prints.
use std::{net::SocketAddr, sync::Arc};

use axum::{Router, routing::get};
use papyrus_auth::{
    Actor, ApiKeys, MemoryApiKeyStore, MemoryAuditLog, NewApiKey,
    axum::{AuthLayer, RequireScopes},
    http::{HttpAuth, ScopeRequirement},
};

struct ReportsRead;
impl ScopeRequirement for ReportsRead {
    const SCOPES: &'static str = "reports:read";
}

async fn reports(RequireScopes { principal, .. }: RequireScopes<ReportsRead>) -> String {
    format!("the reports of {}\n", principal.tenant())
}

/// The service, and a key for tenant `acme` to call it with.
pub async fn app() -> Result<(Router, String), Box<dyn std::error::Error>> {
    let keys = ApiKeys::new(
        Arc::new(MemoryApiKeyStore::new()),
        Arc::new(MemoryAuditLog::new()),
    );
    let new = NewApiKey::new("reporting", "reports:read".parse()?);
    let key = keys
        .create(&"acme".parse()?, new, &Actor::System)
        .await?
        .key;
    let auth = HttpAuth::builder(keys).build()?;
    let app = Router::new()
        .route("/reports", get(reports))
        .layer(AuthLayer::new(auth));
    Ok((app, key.expose_secret().to_owned()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (app, key) = app().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "curl -H 'Authorization: Bearer {key}' -H 'X-Tenant-Id: acme' http://127.0.0.1:3000/reports"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
