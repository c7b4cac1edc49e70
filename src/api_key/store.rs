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
/// Lookups return `Ok(None)` for "not found"; `Err` only for a failing
/// backend (the request then gets 503, never 401). Usable as
/// `Arc<dyn ApiKeyStore>`.
///
/// # Implementing a custom store
///
/// A store keeps [`ApiKeyRecord`]s and answers a handful of questions. The
/// rules that matter for security (digest equality, tenant, revocation,
/// expiry, allowlist, scopes) are checked by the service on every record a
/// store returns, so a store only has to be correct, not clever. What it
/// must get right is written on each method below: every rule there is one
/// that `testkit::api_key_store` (feature `testkit`) checks, and nothing the
/// kit checks is left unsaid. Three methods decide a race and must each be
/// one atomic step: [`rotate`](Self::rotate), [`revoke`](Self::revoke) and
/// [`touch_last_used`](Self::touch_last_used).
///
/// This complete store (`examples/custom_store/api_keys.rs`, which
/// `tests/custom_store.rs` runs through the kit) is a starting point:
///
/// ```ignore
#[doc = include_str!("../../examples/custom_store/api_keys.rs")]
/// ```
///
/// Prove yours with the kit (feature `testkit`, in `[dev-dependencies]`):
///
/// ```ignore
/// #[tokio::test(flavor = "multi_thread")]
/// async fn my_store_conforms() {
///     papyrus_auth::testkit::api_key_store(std::sync::Arc::new(MyApiKeyStore::default())).await;
/// }
/// ```
///
/// [`MemoryApiKeyStore`](crate::MemoryApiKeyStore) is the production-quality in-memory store.
#[async_trait]
pub trait ApiKeyStore: fmt::Debug + Send + Sync + 'static {
    /// Stores a new record, every field as given (it reads back equal, by
    /// [`get`](Self::get), [`list`](Self::list) and
    /// [`find_by_digest`](Self::find_by_digest)).
    ///
    /// # Errors
    ///
    /// [`crate::StoreErrorKind::Conflict`] when a record with this id
    /// exists **in any tenant**, or one with this digest: ids and digests
    /// are unique across the store. A refused insert stores nothing.
    async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;

    /// The record with this digest, in any tenant (the caller checks the
    /// tenant), as it is now (after [`revoke`](Self::revoke) returned, with
    /// its `revoked_at`). This is the hot path: index the digest, and match
    /// the whole digest, version included: a digest one bit away, or the
    /// same bytes under the other [`DigestVersion`](crate::DigestVersion),
    /// finds nothing.
    ///
    /// The answer comes [now](crate::Answer::Now) from a store that holds
    /// its records in memory (no boxed future per request) or
    /// [later](crate::Answer::Later) from a database:
    /// `Lookup::later(async move { … })`. The record is shared (`Arc`) so
    /// that a store in memory hands one out without copying it; a
    /// database-backed store wraps the row it read (`Arc::new(record)`).
    fn find_by_digest(&self, digest: Digest) -> Lookup<'_, ApiKeyRecord>;

    /// The record with this id in this tenant; `None` for an id of another
    /// tenant.
    async fn get(&self, tenant: &TenantId, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Every record of this tenant and no other, in any order (empty for a
    /// tenant without keys).
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Atomically: if `old` exists in `tenant`, is not revoked and not yet
    /// rotated, store `successor` and set `old`'s `rotated_to`, `rotated_at`
    /// (= `at`) and `expires_at` (= `old_expires_at`), and answer
    /// [`Rotated`](RotateOutcome::Rotated) with `old`'s record as updated.
    /// Otherwise store nothing and say why, the first that applies:
    ///
    /// 1. not in `tenant` (unknown, or another tenant's) →
    ///    [`NotFound`](RotateOutcome::NotFound);
    /// 2. revoked → [`Revoked`](RotateOutcome::Revoked);
    /// 3. rotated before → [`AlreadyRotated`](RotateOutcome::AlreadyRotated)
    ///    with the successor it was rotated to;
    /// 4. `successor`'s id or digest exists → `Err` with
    ///    [`Conflict`](crate::StoreErrorKind::Conflict), `old` unchanged.
    ///
    /// Among concurrent callers rotating one key, exactly one is told
    /// `Rotated`; the others `AlreadyRotated(winner's id)`, storing nothing.
    async fn rotate(
        &self,
        tenant: &TenantId,
        old: &KeyId,
        successor: &ApiKeyRecord,
        old_expires_at: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<RotateOutcome, StoreError>;

    /// Atomically sets `revoked_at` (= `at`) if not yet set:
    /// [`Revoked`](RevokeOutcome::Revoked) with the record as updated; if
    /// set, [`AlreadyRevoked`](RevokeOutcome::AlreadyRevoked) with the
    /// record unchanged (the first `revoked_at` is kept); an id not in
    /// `tenant` is [`NotFound`](RevokeOutcome::NotFound) and changes
    /// nothing. After this returns, no lookup may return the record without
    /// its `revoked_at`. Among concurrent callers revoking one key, exactly
    /// one is told `Revoked`.
    async fn revoke(
        &self,
        tenant: &TenantId,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<RevokeOutcome, StoreError>;

    /// Conditionally records a use: sets `last_used_at = at` and
    /// `last_used_ip = ip` only if `last_used_at` is unset or not later than
    /// `stale_before`, and says whether it wrote (`false` for an unknown
    /// id). One conditional write
    /// (`UPDATE … WHERE last_used_at IS NULL OR last_used_at <= $stale_before`)
    /// so that instances sharing a database write at most once per window:
    /// among concurrent callers in one window, exactly one is told `true`.
    async fn touch_last_used(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
        ip: Option<IpAddr>,
        stale_before: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}
