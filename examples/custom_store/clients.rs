//! A [`ClientStore`] over a `Mutex<HashMap>`: client ids are unique per
//! tenant.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use papyrus_auth::{
    StoreError, TenantId, async_trait,
    oauth::{ClientId, ClientStore, OAuthClient},
};

/// OAuth clients in memory, by tenant and id.
#[derive(Debug, Default)]
pub struct MyClientStore(Mutex<HashMap<(TenantId, ClientId), Arc<OAuthClient>>>);

#[async_trait]
impl ClientStore for MyClientStore {
    async fn insert(&self, client: &OAuthClient) -> Result<(), StoreError> {
        let mut clients = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (client.tenant.clone(), client.id.clone());
        if clients.contains_key(&key) {
            return Err(StoreError::conflict("the tenant has a client with this id"));
        }
        clients.insert(key, Arc::new(client.clone()));
        Ok(())
    }

    async fn get(
        &self,
        tenant: &TenantId,
        id: &ClientId,
    ) -> Result<Option<Arc<OAuthClient>>, StoreError> {
        let clients = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(clients.get(&(tenant.clone(), id.clone())).cloned())
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<OAuthClient>, StoreError> {
        let clients = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(clients
            .values()
            .filter(|c| c.tenant == *tenant)
            .map(|c| OAuthClient::clone(c))
            .collect())
    }

    async fn delete(&self, tenant: &TenantId, id: &ClientId) -> Result<bool, StoreError> {
        let mut clients = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(clients.remove(&(tenant.clone(), id.clone())).is_some())
    }
}
