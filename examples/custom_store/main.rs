//! Your own stores: the API-key, client and grant stores of this folder,
//! written from the store traits' documentation alone, and proven by the
//! conformance kit (`tests/custom_store.rs` runs it on every test run).
//!
//! `cargo run --example custom_store` runs the kit on them here too, then
//! authenticates a key through them.

use std::sync::Arc;

use papyrus_auth::{Actor, ApiKeys, AuthRequest, MemoryAuditLog, NewApiKey, TenantId, testkit};

mod api_keys;
mod clients;
mod grants;

pub use api_keys::MyApiKeyStore;
pub use clients::MyClientStore;
pub use grants::MyGrantStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The kit: panics listing every rule broken, if any.
    let started = std::time::Instant::now();
    testkit::run_all(
        Arc::new(MyApiKeyStore::default()),
        Arc::new(MyClientStore::default()),
        Arc::new(MyGrantStore::default()),
        Arc::new(MemoryAuditLog::new()),
    )
    .await;
    println!("the conformance kit passed in {:?}", started.elapsed());

    // The stores at work.
    let keys = ApiKeys::new(
        Arc::new(MyApiKeyStore::default()),
        Arc::new(MemoryAuditLog::new()),
    );
    let acme: TenantId = "acme".parse()?;
    let created = keys
        .create(
            &acme,
            NewApiKey::new("reports-sync", "reports:read".parse()?),
            &Actor::System,
        )
        .await?;
    let header = format!("Bearer {}", created.key.expose_secret());
    let request = AuthRequest::new(Some(&header), Some("acme"), None);
    let principal = keys
        .authenticate(&request, &"reports:read".parse()?)
        .await?;
    println!(
        "authenticated {} of tenant {}",
        principal.subject(),
        principal.tenant()
    );
    Ok(())
}
