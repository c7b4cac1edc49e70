//! The store conformance kit on the in-memory stores.

use std::sync::Arc;

use papyrus_auth::{
    MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore, MemoryGrantStore, MemorySigningKeyStore,
    testkit,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_api_key_store_conforms() {
    testkit::api_key_store(Arc::new(MemoryApiKeyStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_client_store_conforms() {
    testkit::client_store(Arc::new(MemoryClientStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_grant_store_conforms() {
    testkit::grant_store(Arc::new(MemoryGrantStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_signing_key_store_conforms() {
    testkit::signing_key_store(Arc::new(MemorySigningKeyStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_audit_log_conforms() {
    testkit::audit_log(Arc::new(MemoryAuditLog::new())).await;
}

/// The kit accepts trait objects, as services hold them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_stores_conform_as_trait_objects_and_twice_on_one_store() {
    let keys: Arc<dyn papyrus_auth::ApiKeyStore> = Arc::new(MemoryApiKeyStore::new());
    let clients: Arc<dyn papyrus_auth::oauth::ClientStore> = Arc::new(MemoryClientStore::new());
    let grants: Arc<dyn papyrus_auth::oauth::GrantStore> = Arc::new(MemoryGrantStore::new());
    let audit: Arc<dyn papyrus_auth::AuditLog> = Arc::new(MemoryAuditLog::new());
    for _ in 0..2 {
        testkit::run_all(keys.clone(), clients.clone(), grants.clone(), audit.clone()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_failure_counters_conform() {
    testkit::failure_counters(Arc::new(papyrus_auth::throttle::LocalCounters::default())).await;
}
