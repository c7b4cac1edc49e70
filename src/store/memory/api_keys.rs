//! The in-memory [`ApiKeyStore`].

use std::{
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
};

use async_trait::async_trait;
use dashmap::DashMap;
use time::OffsetDateTime;

use crate::{
    Digest, Lookup, StoreError, TenantId,
    api_key::{ApiKeyRecord, ApiKeyStore, KeyId, RevokeOutcome, RotateOutcome},
};

use super::{Slot, SlotMap, lookup, sharded};

/// An in-memory [`ApiKeyStore`], safe under concurrent use.
///
/// Records live in a sharded concurrent map keyed by digest, so
/// authentications of different keys proceed in parallel without a global
/// lock. Structural changes (insert, rotate, revoke) take a writer lock so
/// that rotation and revocation are atomic. Contents are lost when the
/// process exits.
#[derive(Debug)]
pub struct MemoryApiKeyStore {
    /// Shared records: a lookup hands out the `Arc`, and a change replaces
    /// the stored record (copy on write), so a reader keeps the snapshot it got.
    by_digest: SlotMap<ApiKeyRecord>,
    slot_by_id: DashMap<KeyId, Slot>,
    writer: Mutex<()>,
}

impl Default for MemoryApiKeyStore {
    fn default() -> Self {
        Self {
            by_digest: sharded(),
            slot_by_id: sharded(),
            writer: Mutex::default(),
        }
    }
}

impl MemoryApiKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys held (all tenants, all states).
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The record with this digest.
    fn by_digest(&self, digest: &Digest) -> Option<Arc<ApiKeyRecord>> {
        lookup(&self.by_digest, digest).map(|r| Arc::clone(&r))
    }

    fn slot_of(&self, id: &KeyId) -> Option<Slot> {
        self.slot_by_id.get(id).map(|s| *s)
    }

    /// Runs `f` on the record with `id` in `tenant`, under its entry's read lock.
    fn read_record<R>(
        &self,
        tenant: &TenantId,
        id: &KeyId,
        f: impl FnOnce(&ApiKeyRecord) -> R,
    ) -> Option<R> {
        let slot = self.slot_of(id)?;
        let entry = self.by_digest.get(&slot)?;
        (entry.tenant == *tenant).then(|| f(&entry))
    }

    /// Runs `f` on the record with `id` in `tenant`, under its entry lock,
    /// to change it (a copy if a reader still holds the current one).
    fn with_record<R>(
        &self,
        tenant: Option<&TenantId>,
        id: &KeyId,
        f: impl FnOnce(&mut ApiKeyRecord) -> R,
    ) -> Option<R> {
        let slot = self.slot_of(id)?;
        let mut entry = self.by_digest.get_mut(&slot)?;
        if tenant.is_some_and(|t| entry.tenant != *t) {
            return None;
        }
        Some(f(Arc::make_mut(&mut entry)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert_locked(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        // A slot already taken is a conflict even for another digest
        // sharing its 128 bits: a slot names one record.
        let slot = Slot::of(&record.digest);
        if self.slot_by_id.contains_key(&record.id) || self.by_digest.contains_key(&slot) {
            return Err(StoreError::conflict(
                "an API key with this id or digest exists",
            ));
        }
        self.by_digest.insert(slot, Arc::new(record.clone()));
        self.slot_by_id.insert(record.id.clone(), slot);
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryApiKeyStore {
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let _w = self.lock();
        self.insert_locked(record)
    }

    fn find_by_digest(&self, digest: Digest) -> Lookup<'_, ApiKeyRecord> {
        Lookup::now(Ok(self.by_digest(&digest)))
    }

    async fn get(&self, tenant: &TenantId, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.read_record(tenant, id, ApiKeyRecord::clone))
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(self
            .by_digest
            .iter()
            .filter(|r| r.tenant == *tenant)
            .map(|r| ApiKeyRecord::clone(&r))
            .collect())
    }

    async fn rotate(
        &self,
        tenant: &TenantId,
        old: &KeyId,
        successor: &ApiKeyRecord,
        old_expires_at: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError> {
        let _w = self.lock();
        let state = self.read_record(tenant, old, |r| {
            (r.revoked_at.is_some(), r.rotated_to.clone())
        });
        match state {
            None => return Ok(RotateOutcome::NotFound),
            Some((true, _)) => return Ok(RotateOutcome::Revoked),
            Some((false, Some(s))) => return Ok(RotateOutcome::AlreadyRotated(s)),
            Some((false, None)) => {}
        }
        self.insert_locked(successor)?;
        let updated = self.with_record(Some(tenant), old, |r| {
            r.rotated_to = Some(successor.id.clone());
            r.rotated_at = Some(at);
            r.expires_at = old_expires_at;
            Box::new(r.clone())
        });
        Ok(updated.map_or(RotateOutcome::NotFound, RotateOutcome::Rotated))
    }

    async fn revoke(
        &self,
        tenant: &TenantId,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<RevokeOutcome, StoreError> {
        let _w = self.lock();
        Ok(self
            .with_record(Some(tenant), id, |r| {
                if r.revoked_at.is_some() {
                    RevokeOutcome::AlreadyRevoked(Box::new(r.clone()))
                } else {
                    r.revoked_at = Some(at);
                    RevokeOutcome::Revoked(Box::new(r.clone()))
                }
            })
            .unwrap_or(RevokeOutcome::NotFound))
    }

    async fn touch_last_used(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
        ip: Option<IpAddr>,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(self
            .with_record(None, id, |r| {
                if r.last_used_at.is_some_and(|t| t > stale_before) {
                    false
                } else {
                    r.last_used_at = Some(at);
                    r.last_used_ip = ip;
                    true
                }
            })
            .unwrap_or(false))
    }
}
