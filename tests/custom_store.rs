//! The stores of `examples/custom_store` (the ones the store traits' docs
//! show) pass the whole conformance kit: the docs' examples cannot drift
//! from the rules the kit checks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::{sync::Arc, time::Instant};

use papyrus_auth::{MemoryAuditLog, testkit};

// The example's stores are `pub` for the example; here they are private.
#[allow(unreachable_pub)]
#[path = "../examples/custom_store/api_keys.rs"]
mod api_keys;
#[allow(unreachable_pub)]
#[path = "../examples/custom_store/clients.rs"]
mod clients;
#[allow(unreachable_pub)]
#[path = "../examples/custom_store/grants.rs"]
mod grants;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_stores_pass_the_kit() {
    let started = Instant::now();
    testkit::run_all(
        Arc::new(api_keys::MyApiKeyStore::default()),
        Arc::new(clients::MyClientStore::default()),
        Arc::new(grants::MyGrantStore::default()),
        Arc::new(MemoryAuditLog::new()),
    )
    .await;
    println!("the kit took {:?}", started.elapsed());
}
