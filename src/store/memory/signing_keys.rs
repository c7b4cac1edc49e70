//! The in-memory [`SigningKeyStore`].

use std::sync::Mutex;

use async_trait::async_trait;
use dashmap::DashMap;

use crate::{
    StoreError,
    signing::{SigningKey, SigningKeyStore},
};

/// An in-memory [`SigningKeyStore`]: the keys of one process (instances of
/// a fleet need a shared store, such as the SQL ones).
#[derive(Debug, Default)]
pub struct MemorySigningKeyStore {
    rings: DashMap<String, Mutex<Vec<SigningKey>>>,
}

impl MemorySigningKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SigningKeyStore for MemorySigningKeyStore {
    async fn signing_keys(&self, purpose: &str) -> Result<Vec<SigningKey>, StoreError> {
        Ok(self
            .rings
            .get(purpose)
            .map(|ring| ring.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default())
    }

    async fn insert_signing_key(
        &self,
        purpose: &str,
        key: &SigningKey,
    ) -> Result<bool, StoreError> {
        let ring = self.rings.entry(purpose.to_owned()).or_default();
        let mut keys = ring.lock().unwrap_or_else(|e| e.into_inner());
        if keys.iter().any(|k| k.generation == key.generation) {
            return Ok(false);
        }
        keys.push(key.clone());
        Ok(true)
    }

    async fn delete_signing_keys_before(
        &self,
        purpose: &str,
        generation: u64,
    ) -> Result<u64, StoreError> {
        let Some(ring) = self.rings.get(purpose) else {
            return Ok(0);
        };
        let mut keys = ring.lock().unwrap_or_else(|e| e.into_inner());
        let before = keys.len();
        keys.retain(|k| k.generation >= generation);
        Ok((before - keys.len()) as u64)
    }
}
