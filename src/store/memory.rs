//! In-memory stores: the default for tests, examples and single-process use.

use std::{
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

use async_trait::async_trait;
use dashmap::DashMap;
use time::OffsetDateTime;

use crate::{
    ApiKeyRecord, ApiKeyStore, Digest, KeyId, RevokeOutcome, RotateOutcome, StoreError, TenantId,
};

/// An in-memory [`ApiKeyStore`], safe under concurrent use.
///
/// Records live in a sharded concurrent map keyed by digest, so
/// authentications of different keys proceed in parallel without a global
/// lock. Structural changes (insert, rotate, revoke) take a writer lock so
/// that rotation and revocation are atomic. Contents are lost when the
/// process exits.
#[derive(Debug, Default)]
pub struct MemoryApiKeyStore {
    by_digest: DashMap<Digest, ApiKeyRecord>,
    digest_by_id: DashMap<KeyId, Digest>,
    writer: Mutex<()>,
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

    fn digest_of(&self, id: &KeyId) -> Option<Digest> {
        self.digest_by_id.get(id).map(|d| *d)
    }

    /// Runs `f` on the record with `id` in `tenant`, under its entry lock.
    fn with_record<R>(
        &self,
        tenant: Option<&TenantId>,
        id: &KeyId,
        f: impl FnOnce(&mut ApiKeyRecord) -> R,
    ) -> Option<R> {
        let digest = self.digest_of(id)?;
        let mut entry = self.by_digest.get_mut(&digest)?;
        if tenant.is_some_and(|t| entry.tenant != *t) {
            return None;
        }
        Some(f(&mut entry))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert_locked(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        if self.digest_by_id.contains_key(&record.id) || self.by_digest.contains_key(&record.digest)
        {
            return Err(StoreError::conflict(
                "an API key with this id or digest exists",
            ));
        }
        self.by_digest.insert(record.digest, record.clone());
        self.digest_by_id.insert(record.id.clone(), record.digest);
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryApiKeyStore {
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let _w = self.lock();
        self.insert_locked(record)
    }

    async fn find_by_digest(&self, digest: &Digest) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.by_digest.get(digest).map(|r| r.clone()))
    }

    async fn get(&self, tenant: &TenantId, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.with_record(Some(tenant), id, |r| r.clone()))
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(self
            .by_digest
            .iter()
            .filter(|r| r.tenant == *tenant)
            .map(|r| r.clone())
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
        let state = self.with_record(Some(tenant), old, |r| {
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
