//! The in-memory [`ClientStore`].

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;

use crate::{
    StoreError, TenantId,
    oauth::{ClientId, ClientStore, OAuthClient},
};

/// An in-memory [`ClientStore`].
#[derive(Debug, Default)]
pub struct MemoryClientStore {
    /// Keyed by tenant and id: ids are unique per tenant.
    clients: DashMap<(TenantId, ClientId), Arc<OAuthClient>>,
}

impl MemoryClientStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ClientStore for MemoryClientStore {
    async fn insert(&self, client: &OAuthClient) -> Result<(), StoreError> {
        match self
            .clients
            .entry((client.tenant.clone(), client.id.clone()))
        {
            dashmap::Entry::Occupied(_) => Err(StoreError::conflict(
                "a client with this id exists in this tenant",
            )),
            dashmap::Entry::Vacant(v) => {
                v.insert(Arc::new(client.clone()));
                Ok(())
            }
        }
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Arc<OAuthClient>>, StoreError> {
        Ok(self
            .clients
            .get(&(tenant.clone(), id.clone()))
            .map(|c| Arc::clone(&c)))
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<OAuthClient>, StoreError> {
        Ok(self
            .clients
            .iter()
            .filter(|c| c.tenant == *tenant)
            .map(|c| OAuthClient::clone(&c))
            .collect())
    }

    async fn delete(&self, tenant: &TenantId, id: &ClientId) -> Result<bool, StoreError> {
        Ok(self.clients.remove(&(tenant.clone(), id.clone())).is_some())
    }
}
