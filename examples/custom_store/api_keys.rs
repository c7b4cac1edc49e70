//! An [`ApiKeyStore`] over a `Mutex<HashMap>`: every rule of the trait, and
//! nothing clever. The two atomic methods (`rotate`, `revoke`) and the
//! conditional `touch_last_used` each hold the lock from check to write.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
};

use papyrus_auth::{
    ApiKeyRecord, ApiKeyStore, Digest, KeyId, Lookup, OffsetDateTime, RevokeOutcome, RotateOutcome,
    StoreError, TenantId, async_trait,
};

#[derive(Debug, Default)]
struct Keys {
    by_id: HashMap<KeyId, ApiKeyRecord>,
    /// The digest index of the hot path.
    by_digest: HashMap<Digest, KeyId>,
}

/// API keys in memory.
#[derive(Debug, Default)]
pub struct MyApiKeyStore(Mutex<Keys>);

impl MyApiKeyStore {
    fn keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        // A panic while holding the lock leaves the maps consistent (every
        // write below is one insert), so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ApiKeyStore for MyApiKeyStore {
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut keys = self.keys();
        // Ids are unique across tenants, digests too.
        if keys.by_id.contains_key(&record.id) || keys.by_digest.contains_key(&record.digest) {
            return Err(StoreError::conflict("a key with this id or digest exists"));
        }
        keys.by_digest.insert(record.digest, record.id.clone());
        keys.by_id.insert(record.id.clone(), record.clone());
        Ok(())
    }

    fn find_by_digest(&self, digest: Digest) -> Lookup<'_, ApiKeyRecord> {
        // In memory the answer is ready now: no future to box.
        let keys = self.keys();
        let found = keys
            .by_digest
            .get(&digest)
            .and_then(|id| keys.by_id.get(id))
            .map(|r| Arc::new(r.clone()));
        Lookup::now(Ok(found))
    }

    async fn get(&self, tenant: &TenantId, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self
            .keys()
            .by_id
            .get(id)
            .filter(|r| r.tenant == *tenant)
            .cloned())
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let keys = self.keys();
        Ok(keys
            .by_id
            .values()
            .filter(|r| r.tenant == *tenant)
            .cloned()
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
        let mut keys = self.keys(); // held from the checks to the writes
        let state = keys
            .by_id
            .get(old)
            .filter(|r| r.tenant == *tenant)
            .map(|r| (r.revoked_at.is_some(), r.rotated_to.clone()));
        // The trait's precedence: not found, revoked, already rotated, and
        // only then a successor that cannot be stored.
        match state {
            None => return Ok(RotateOutcome::NotFound),
            Some((true, _)) => return Ok(RotateOutcome::Revoked),
            Some((false, Some(to))) => return Ok(RotateOutcome::AlreadyRotated(to)),
            Some((false, None)) => {}
        }
        if keys.by_id.contains_key(&successor.id) || keys.by_digest.contains_key(&successor.digest)
        {
            return Err(StoreError::conflict("the successor's id or digest exists"));
        }
        let Some(record) = keys.by_id.get_mut(old) else {
            return Ok(RotateOutcome::NotFound); // Found above, under the same lock.
        };
        record.rotated_to = Some(successor.id.clone());
        record.rotated_at = Some(at);
        record.expires_at = old_expires_at;
        let updated = record.clone();
        keys.by_digest
            .insert(successor.digest, successor.id.clone());
        keys.by_id.insert(successor.id.clone(), successor.clone());
        Ok(RotateOutcome::Rotated(Box::new(updated)))
    }

    async fn revoke(
        &self,
        tenant: &TenantId,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<RevokeOutcome, StoreError> {
        let mut keys = self.keys();
        let Some(record) = keys.by_id.get_mut(id).filter(|r| r.tenant == *tenant) else {
            return Ok(RevokeOutcome::NotFound);
        };
        if record.revoked_at.is_some() {
            // The first revocation's time is kept.
            return Ok(RevokeOutcome::AlreadyRevoked(Box::new(record.clone())));
        }
        record.revoked_at = Some(at);
        Ok(RevokeOutcome::Revoked(Box::new(record.clone())))
    }

    async fn touch_last_used(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
        ip: Option<IpAddr>,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut keys = self.keys();
        let Some(record) = keys.by_id.get_mut(id) else {
            return Ok(false);
        };
        if record.last_used_at.is_some_and(|t| t > stale_before) {
            return Ok(false); // Written within the window already.
        }
        record.last_used_at = Some(at);
        record.last_used_ip = ip;
        Ok(true)
    }
}
