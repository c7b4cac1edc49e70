//! The storage interface for API keys.

use std::{fmt, net::IpAddr};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{ApiKeyRecord, KeyId};
use crate::{Digest, Lookup, StoreError, TenantId};

/// The result of [`ApiKeyStore::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateOutcome {
    /// The successor was stored and the old key marked; holds the old key's
    /// record as updated.
    Rotated(Box<ApiKeyRecord>),
    /// No such key in this tenant; nothing was stored.
    NotFound,
    /// The key was already rotated (to the key given); nothing was stored.
    AlreadyRotated(KeyId),
    /// The key is revoked; nothing was stored.
    Revoked,
}

/// The result of [`ApiKeyStore::revoke`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeOutcome {
    /// Revoked now; the record as updated.
    Revoked(Box<ApiKeyRecord>),
    /// Was already revoked; the record, unchanged (its first `revoked_at` is kept).
    AlreadyRevoked(Box<ApiKeyRecord>),
    /// No such key in this tenant.
    NotFound,
}

/// Storage for API key records.
///
/// Lookups return `Ok(None)` for "not found"; `Err` only for a failing backend.
/// Usable as `Arc<dyn ApiKeyStore>`.
///
/// # Implementing a custom store
///
/// A store keeps [`ApiKeyRecord`]s and answers a handful of questions. The
/// rules that matter for security (digest equality, tenant, revocation,
/// expiry, allowlist, scopes) are checked by the service on every record a
/// store returns, so a store only has to be correct, not clever. Two methods
/// must be atomic: [`ApiKeyStore::rotate`] and [`ApiKeyStore::revoke`].
///
/// ```
/// use std::{collections::HashMap, sync::{Arc, Mutex}};
/// use async_trait::async_trait;
/// use papyrus_auth::{
///     ApiKeyRecord, ApiKeyStore, Digest, KeyId, Lookup, RevokeOutcome, RotateOutcome,
///     StoreError, TenantId,
/// };
/// use time::OffsetDateTime;
///
/// #[derive(Debug, Default)]
/// struct MyStore(Mutex<HashMap<String, ApiKeyRecord>>);
///
/// #[async_trait]
/// impl ApiKeyStore for MyStore {
///     async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
///         let mut map = self.0.lock().unwrap();
///         if map.contains_key(record.id.as_str()) {
///             return Err(StoreError::conflict("duplicate key id"));
///         }
///         map.insert(record.id.to_string(), record.clone());
///         Ok(())
///     }
///     fn find_by_digest(&self, digest: Digest) -> Lookup<'_, ApiKeyRecord> {
///         let map = self.0.lock().unwrap();
///         Lookup::now(Ok(map.values().find(|r| r.digest == digest).map(|r| Arc::new(r.clone()))))
///     }
///     async fn get(&self, tenant: &TenantId, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
///         Ok(self.0.lock().unwrap().get(id.as_str()).filter(|r| r.tenant == *tenant).cloned())
///     }
///     async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
///         Ok(self.0.lock().unwrap().values().filter(|r| r.tenant == *tenant).cloned().collect())
///     }
///     async fn rotate(
///         &self, tenant: &TenantId, old: &KeyId, successor: &ApiKeyRecord,
///         old_expires_at: Option<OffsetDateTime>, at: OffsetDateTime,
///     ) -> Result<RotateOutcome, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let Some(rec) = map.get_mut(old.as_str()).filter(|r| r.tenant == *tenant) else {
///             return Ok(RotateOutcome::NotFound);
///         };
///         if rec.revoked_at.is_some() { return Ok(RotateOutcome::Revoked); }
///         if let Some(s) = &rec.rotated_to { return Ok(RotateOutcome::AlreadyRotated(s.clone())); }
///         rec.rotated_to = Some(successor.id.clone());
///         rec.rotated_at = Some(at);
///         rec.expires_at = old_expires_at;
///         let old_rec = rec.clone();
///         map.insert(successor.id.to_string(), successor.clone());
///         Ok(RotateOutcome::Rotated(Box::new(old_rec)))
///     }
///     async fn revoke(&self, tenant: &TenantId, id: &KeyId, at: OffsetDateTime) -> Result<RevokeOutcome, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let Some(rec) = map.get_mut(id.as_str()).filter(|r| r.tenant == *tenant) else {
///             return Ok(RevokeOutcome::NotFound);
///         };
///         if rec.revoked_at.is_some() { return Ok(RevokeOutcome::AlreadyRevoked(Box::new(rec.clone()))); }
///         rec.revoked_at = Some(at);
///         Ok(RevokeOutcome::Revoked(Box::new(rec.clone())))
///     }
///     async fn touch_last_used(
///         &self, id: &KeyId, at: OffsetDateTime, ip: Option<std::net::IpAddr>,
///         stale_before: OffsetDateTime,
///     ) -> Result<bool, StoreError> {
///         let mut map = self.0.lock().unwrap();
///         let Some(rec) = map.get_mut(id.as_str()) else { return Ok(false) };
///         if rec.last_used_at.is_some_and(|t| t > stale_before) { return Ok(false); }
///         rec.last_used_at = Some(at);
///         rec.last_used_ip = ip;
///         Ok(true)
///     }
/// }
/// ```
///
/// [`MemoryApiKeyStore`](crate::MemoryApiKeyStore) is the production-quality in-memory store.
#[async_trait]
pub trait ApiKeyStore: fmt::Debug + Send + Sync + 'static {
    /// Stores a new record.
    ///
    /// # Errors
    ///
    /// [`crate::StoreErrorKind::Conflict`] when the id or the digest exists.
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;

    /// The record with this digest, in any tenant (the caller checks the
    /// tenant). This is the hot path: index the digest, and compare the
    /// whole digest, version included.
    ///
    /// The answer comes [now](crate::Answer::Now) from a store that holds
    /// its records in memory (no boxed future per request) or
    /// [later](crate::Answer::Later) from a database:
    /// `Lookup::later(async move { … })`. The record is shared (`Arc`) so
    /// that a store in memory hands one out without copying it; a
    /// database-backed store wraps the row it read (`Arc::new(record)`).
    fn find_by_digest(&self, digest: Digest) -> Lookup<'_, ApiKeyRecord>;

    /// The record with this id in this tenant.
    async fn get(&self, tenant: &TenantId, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Every record of this tenant, in any order.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Atomically: if `old` exists in `tenant`, is not revoked and not yet
    /// rotated, store `successor` and set `old`'s `rotated_to`, `rotated_at`
    /// (= `at`) and `expires_at` (= `old_expires_at`). Otherwise store nothing
    /// and say why.
    async fn rotate(
        &self,
        tenant: &TenantId,
        old: &KeyId,
        successor: &ApiKeyRecord,
        old_expires_at: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError>;

    /// Atomically sets `revoked_at` if not yet set. After this returns, no
    /// lookup may return the record without its `revoked_at`.
    async fn revoke(
        &self,
        tenant: &TenantId,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<RevokeOutcome, StoreError>;

    /// Conditionally records a use: sets `last_used_at = at` and
    /// `last_used_ip = ip` only if `last_used_at` is unset or not later than
    /// `stale_before`, and says whether it wrote. One conditional write
    /// (`UPDATE … WHERE last_used_at IS NULL OR last_used_at <= $stale_before`)
    /// so that instances sharing a database write at most once per window.
    async fn touch_last_used(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
        ip: Option<IpAddr>,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}
