//! In-memory stores: the default for tests, examples and single-process use.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
};

use async_trait::async_trait;
use dashmap::DashMap;
use time::OffsetDateTime;

use crate::{
    ApiKeyRecord, ApiKeyStore, Digest, DigestHasherBuilder, KeyId, RevokeOutcome, RotateOutcome,
    StoreError, TenantId,
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, ClientId, ClientStore, ConsumeCode, FamilyId,
        GrantStore, InsertTokens, NewTokens, OAuthClient, RefreshTokenRecord, RotateRefresh,
    },
};

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

    /// The record with this digest: both `find_by_digest`s.
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

    async fn find_by_digest(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<ApiKeyRecord>>, StoreError> {
        Ok(self.by_digest(digest))
    }

    fn find_by_digest_now(
        &self,
        digest: &Digest,
    ) -> Option<Result<Option<Arc<ApiKeyRecord>>, StoreError>> {
        Some(Ok(self.by_digest(digest)))
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

/// An in-memory [`ClientStore`].
#[derive(Debug, Default)]
pub struct MemoryClientStore {
    clients: DashMap<ClientId, Arc<OAuthClient>>,
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
        match self.clients.entry(client.id.clone()) {
            dashmap::Entry::Occupied(_) => {
                Err(StoreError::conflict("a client with this id exists"))
            }
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
            .get(id)
            .filter(|c| c.tenant == *tenant)
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
}

/// The tokens of one family, and whether it is revoked.
#[derive(Debug, Default)]
struct Family {
    revoked_at: Option<OffsetDateTime>,
    /// The slots of its access and refresh tokens, in one list: one
    /// allocation per family, not two. Which map a slot is in is looked up
    /// when it matters (revocation and purging, both rare).
    tokens: Vec<Slot>,
    /// Rotated refresh tokens with a handle, kept for the reuse grace
    /// window: `None` without one (8 bytes per family, not a `Vec`'s 24).
    #[allow(clippy::box_collection)] // One pointer in every family, a Vec in few.
    rotated: Option<Box<Vec<Slot>>>,
}

/// Where a record with a given digest is kept in the memory stores' maps:
/// the digest's first 128 bits.
///
/// A digest is 33 bytes (version and SHA-256), so a map entry of a digest
/// and an `Arc` took 48 bytes; a slot makes it 24, and a family's token list
/// 16 bytes per token instead of 33. Lookups compare the record's full
/// digest (in constant time), so a shared prefix can never hand out another
/// record. Two live digests sharing 128 bits (about 2^-80 at ten million
/// tokens) would make an API key insert fail as a conflict, and a newer
/// grant record replace the older.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot([u64; 2]);

impl Slot {
    fn of(digest: &Digest) -> Self {
        let bytes = digest.as_bytes();
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_ne_bytes(w)
        };
        Self([word(0), word(8)])
    }
}

impl std::hash::Hash for Slot {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Uniformly distributed: one word is the hash (see `DigestHasher`).
        state.write_u64(self.0[0]);
    }
}

/// Records kept by digest, shared (copy on write).
type SlotMap<R> = DashMap<Slot, Arc<R>, DigestHasherBuilder>;

/// Shards of each map that grows with the number of keys or tokens.
///
/// A map grows one shard at a time, and the growing shard stays locked
/// while its entries move to the doubled table, so that pause grows with
/// the shard. With `DashMap`'s default on two cores (8 shards), the slowest
/// code exchange around 1.83 million live token families (where the
/// shards double) took 38 and 126 ms in two runs, and every lookup meeting
/// that shard waited as long; with 64 shards it took 7 to 11 ms (and 0.2
/// to 1.4 ms away from the doubling). 64 shards cost 8 KiB per map and no
/// measurable time per lookup (256 cost 3% on validation at 1M tokens).
const SHARDS: usize = 64;

/// An empty map with [`SHARDS`] shards.
fn sharded<K, V, S>() -> DashMap<K, V, S>
where
    K: Eq + std::hash::Hash,
    S: std::hash::BuildHasher + Default + Clone,
{
    DashMap::with_hasher_and_shard_amount(S::default(), SHARDS)
}

/// A record stored under its digest.
trait Digested {
    fn digest(&self) -> &Digest;
}

macro_rules! digested {
    ($($record:ty),*) => {$(
        impl Digested for $record {
            fn digest(&self) -> &Digest {
                &self.digest
            }
        }
    )*};
}

digested!(
    ApiKeyRecord,
    AuthorizationCodeRecord,
    AccessTokenRecord,
    RefreshTokenRecord
);

/// The record with exactly this digest (the whole digest compared, in
/// constant time, not only its slot), under its entry's read lock.
fn lookup<'a, R: Digested>(
    map: &'a SlotMap<R>,
    digest: &Digest,
) -> Option<dashmap::mapref::one::Ref<'a, Slot, Arc<R>>> {
    map.get(&Slot::of(digest)).filter(|r| r.digest() == digest)
}

/// [`lookup`] under the entry's write lock.
fn lookup_mut<'a, R: Digested>(
    map: &'a SlotMap<R>,
    digest: &Digest,
) -> Option<dashmap::mapref::one::RefMut<'a, Slot, Arc<R>>> {
    map.get_mut(&Slot::of(digest))
        .filter(|r| r.digest() == digest)
}

/// An in-memory [`GrantStore`], safe under concurrent use.
///
/// Codes and tokens live in sharded maps keyed by digest (validation of
/// different tokens never contends). Changes to a family (new tokens,
/// rotation, revocation) hold that family's entry lock, which makes
/// [`rotate_refresh`](GrantStore::rotate_refresh),
/// [`insert_tokens`](GrantStore::insert_tokens) and
/// [`revoke_family`](GrantStore::revoke_family) atomic with respect to each
/// other.
#[derive(Debug)]
pub struct MemoryGrantStore {
    codes: SlotMap<AuthorizationCodeRecord>,
    access: SlotMap<AccessTokenRecord>,
    refresh: SlotMap<RefreshTokenRecord>,
    /// foldhash, seeded per map: the family map rehashes every entry each
    /// time it grows, where SipHash cost 4% of a refresh at 1M families.
    families: DashMap<FamilyId, Family, foldhash::fast::RandomState>,
    /// The family of each refresh-token handle (the handle digest's slot),
    /// written once per family.
    handles: DashMap<Slot, FamilyId, DigestHasherBuilder>,
}

impl Default for MemoryGrantStore {
    fn default() -> Self {
        Self {
            codes: sharded(),
            access: sharded(),
            refresh: sharded(),
            families: sharded(),
            handles: sharded(),
        }
    }
}

impl MemoryGrantStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live access tokens held.
    pub fn access_token_count(&self) -> usize {
        self.access.len()
    }

    /// The access token with this digest: both `find_access_token`s.
    fn access_token(&self, digest: &Digest) -> Option<Arc<AccessTokenRecord>> {
        lookup(&self.access, digest).map(|t| Arc::clone(&t))
    }

    /// Stores tokens into `family`, whose entry lock the caller holds;
    /// `register_handle`: the refresh token may carry a handle not yet in
    /// `handles` (a new family, or the first token with a handle).
    fn insert_into(&self, family: &mut Family, tokens: NewTokens, register_handle: bool) {
        // A new family's list is sized for its first pair.
        family
            .tokens
            .reserve_exact(if family.tokens.is_empty() { 2 } else { 0 });
        let slot = Slot::of(&tokens.access.digest);
        self.access.insert(slot, Arc::new(tokens.access));
        family.tokens.push(slot);
        if let Some(r) = tokens.refresh {
            let slot = Slot::of(&r.digest);
            if register_handle && let Some(handle) = &r.handle {
                self.handles.insert(Slot::of(handle), r.family.clone());
            }
            self.refresh.insert(slot, Arc::new(r));
            family.tokens.push(slot);
        }
    }

    /// Deletes the family's rotated refresh tokens rotated at or before
    /// `before` (the caller holds the family's entry lock).
    fn forget_rotated(&self, family_id: &FamilyId, family: &mut Family, before: OffsetDateTime) {
        let Some(rotated) = family.rotated.as_mut() else {
            return;
        };
        let mut i = 0;
        while i < rotated.len() {
            let slot = rotated[i];
            // The guard is dropped before the removal (same map).
            let due = self
                .refresh
                .get(&slot)
                .is_none_or(|t| t.rotated_at.is_some_and(|at| at <= before));
            if !due {
                i += 1;
                continue;
            }
            // The family check keeps another family's token that shares the
            // slot (128 bits) from being removed in its place.
            self.refresh.remove_if(&slot, |_, t| t.family == *family_id);
            rotated.swap_remove(i);
            // Usually among the last few: tokens are appended.
            if let Some(at) = family.tokens.iter().rposition(|s| *s == slot) {
                family.tokens.remove(at);
            }
        }
        if rotated.is_empty() {
            family.rotated = None;
        }
    }
}

#[async_trait]
impl GrantStore for MemoryGrantStore {
    async fn insert_code(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError> {
        match self.codes.entry(Slot::of(&code.digest)) {
            dashmap::Entry::Occupied(_) => Err(StoreError::conflict(
                "an authorization code with this digest exists",
            )),
            dashmap::Entry::Vacant(v) => {
                v.insert(Arc::new(code));
                Ok(())
            }
        }
    }

    async fn find_code(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<AuthorizationCodeRecord>>, StoreError> {
        Ok(lookup(&self.codes, digest).map(|c| Arc::clone(&c)))
    }

    async fn consume_code(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
        tokens: NewTokens,
    ) -> Result<ConsumeCode, StoreError> {
        let Some(family_id) = lookup(&self.codes, digest).map(|c| c.family.clone()) else {
            return Ok(ConsumeCode::Unknown);
        };
        // Lock order, as everywhere here: family, then code, then tokens.
        let mut family = self.families.entry(family_id).or_default();
        if family.revoked_at.is_some() {
            return Ok(ConsumeCode::FamilyRevoked);
        }
        {
            let Some(mut code) = lookup_mut(&self.codes, digest) else {
                return Ok(ConsumeCode::Unknown);
            };
            if code.consumed_at.is_some() {
                return Ok(ConsumeCode::AlreadyConsumed(Box::new(
                    AuthorizationCodeRecord::clone(&code),
                )));
            }
            Arc::make_mut(&mut code).consumed_at = Some(at);
        }
        self.insert_into(&mut family, tokens, true);
        Ok(ConsumeCode::Consumed)
    }

    async fn insert_tokens(&self, tokens: NewTokens) -> Result<InsertTokens, StoreError> {
        let mut family = self
            .families
            .entry(tokens.access.family.clone())
            .or_default();
        if family.revoked_at.is_some() {
            return Ok(InsertTokens::FamilyRevoked);
        }
        // Rare (a grace reissue, or a caller's own): the handle may be new.
        self.insert_into(&mut family, tokens, true);
        Ok(InsertTokens::Inserted)
    }

    async fn find_access_token(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<AccessTokenRecord>>, StoreError> {
        Ok(self.access_token(digest))
    }

    fn find_access_token_now(
        &self,
        digest: &Digest,
    ) -> Option<Result<Option<Arc<AccessTokenRecord>>, StoreError>> {
        Some(Ok(self.access_token(digest)))
    }

    async fn find_refresh_token(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError> {
        Ok(lookup(&self.refresh, digest).map(|t| Arc::clone(&t)))
    }

    async fn find_refresh_by_handle(
        &self,
        handle: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError> {
        let Some(family_id) = self.handles.get(&Slot::of(handle)).map(|f| f.clone()) else {
            return Ok(None);
        };
        let Some(family) = self.families.get(&family_id) else {
            return Ok(None);
        };
        // The newest refresh token: tokens are appended, a refresh token
        // after its access token, so it is usually the last slot (a rare
        // path: only a presented token with an unknown digest gets here).
        Ok(family.tokens.iter().rev().find_map(|slot| {
            self.refresh
                .get(slot)
                .filter(|t| t.handle.as_ref() == Some(handle))
                .map(|t| Arc::clone(&t))
        }))
    }

    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: NewTokens,
        at: OffsetDateTime,
        forget_rotated_before: OffsetDateTime,
    ) -> Result<RotateRefresh, StoreError> {
        let Some(family_id) = lookup(&self.refresh, old).map(|t| t.family.clone()) else {
            return Ok(RotateRefresh::Unknown);
        };
        let mut family = self.families.entry(family_id.clone()).or_default();
        if family.revoked_at.is_some() {
            return Ok(RotateRefresh::Revoked);
        }
        let register_handle;
        // Mark the old token used; the guard is dropped before inserting into
        // the same map.
        {
            let Some(mut token) = lookup_mut(&self.refresh, old) else {
                return Ok(RotateRefresh::Unknown);
            };
            if token.revoked_at.is_some() {
                return Ok(RotateRefresh::Revoked);
            }
            if token.rotated_at.is_some() {
                return Ok(RotateRefresh::AlreadyRotated(Box::new(
                    RefreshTokenRecord::clone(&token),
                )));
            }
            Arc::make_mut(&mut token).rotated_at = Some(at);
            // A token from before handles (or a handle digest of another
            // version): its successor's handle is new to the index.
            let new_handle = new.refresh.as_ref().and_then(|r| r.handle.as_ref());
            register_handle = token.handle.as_ref() != new_handle;
            if token.handle.is_some() {
                family
                    .rotated
                    .get_or_insert_with(Box::default)
                    .push(Slot::of(old));
            }
        }
        self.insert_into(&mut family, new, register_handle);
        self.forget_rotated(&family_id, &mut family, forget_rotated_before);
        Ok(RotateRefresh::Rotated)
    }

    async fn revoke_family(
        &self,
        family: &FamilyId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut fam = self.families.entry(family.clone()).or_default();
        fam.revoked_at.get_or_insert(at);
        let mut n = 0;
        // Each slot is in one of the two maps. The family check keeps
        // another family's token that shares a slot (128 bits) from
        // standing in for this family's.
        for slot in &fam.tokens {
            if let Some(mut t) = self.access.get_mut(slot).filter(|t| t.family == *family) {
                if t.revoked_at.is_none() {
                    Arc::make_mut(&mut t).revoked_at = Some(at);
                    n += 1;
                }
            } else if let Some(mut t) = self.refresh.get_mut(slot).filter(|t| t.family == *family)
                && t.revoked_at.is_none()
            {
                Arc::make_mut(&mut t).revoked_at = Some(at);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn revoke_access_token(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(match lookup_mut(&self.access, digest) {
            Some(mut t) if t.revoked_at.is_none() => {
                Arc::make_mut(&mut t).revoked_at = Some(at);
                true
            }
            _ => false,
        })
    }

    async fn purge_expired(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut n = 0u64;
        let mut count = |removed: bool| n += u64::from(removed);
        // Tokens first; a consumed code is kept while its family holds a live
        // refresh token, so a late replay still revokes what it issued.
        // (Families are collected before `codes.retain`, keeping the lock
        // order family → code.)
        self.access.retain(|_, t| {
            let keep = t.expires_at >= before;
            count(!keep);
            keep
        });
        self.refresh.retain(|_, t| {
            let keep = t.expires_at.min(t.family_expires_at) >= before;
            count(!keep);
            keep
        });
        let live: std::collections::HashSet<FamilyId> = self
            .refresh
            .iter()
            .filter(|t| t.revoked_at.is_none())
            .map(|t| t.family.clone())
            .collect();
        self.codes.retain(|_, c| {
            let keep =
                c.expires_at >= before || (c.consumed_at.is_some() && live.contains(&c.family));
            count(!keep);
            keep
        });
        // Drop token digests that are gone; keep revoked families' markers
        // while any of their tokens could still be presented.
        let mut dropped = std::collections::HashSet::new();
        self.families.retain(|id, f| {
            f.tokens
                .retain(|s| self.access.contains_key(s) || self.refresh.contains_key(s));
            if let Some(rotated) = f.rotated.as_mut() {
                rotated.retain(|s| self.refresh.contains_key(s));
            }
            // A revoked family's marker outlives its tokens by the longest code
            // lifetime, so a code exchange racing a replay still sees it.
            let keep = !f.tokens.is_empty()
                || f.revoked_at
                    .is_some_and(|r| r + crate::oauth::MAX_CODE_TTL > before);
            if !keep {
                dropped.insert(id.clone());
            }
            keep
        });
        // A dropped family's handle goes too, unless the family came back
        // meanwhile (a grace-window insert): each is removed while holding
        // the family's vacant entry, in the lock order of `insert_into`
        // (family, then handle).
        if !dropped.is_empty() {
            let stale: Vec<(Slot, FamilyId)> = self
                .handles
                .iter()
                .filter(|e| dropped.contains(e.value()))
                .map(|e| (*e.key(), e.value().clone()))
                .collect();
            for (key, id) in stale {
                if let dashmap::Entry::Vacant(_held) = self.families.entry(id.clone()) {
                    self.handles.remove_if(&key, |_, f| *f == id);
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::{
        DigestVersion,
        oauth::{AccessTokenRecord, ClientId},
    };

    fn digest(n: u8) -> Digest {
        Digest::from_parts(DigestVersion::Sha256, [n; 32])
    }

    /// A family's first pair (its refresh token with `handle`), expiring at
    /// `until`.
    fn pair(family: &FamilyId, n: u8, handle: Digest, until: OffsetDateTime) -> NewTokens {
        let tenant: TenantId = "acme".parse().unwrap();
        let client = ClientId::parse("cli_test").unwrap();
        let scopes: crate::ScopeSet = "documents:read".parse().unwrap();
        NewTokens {
            access: AccessTokenRecord {
                digest: digest(n),
                family: family.clone(),
                tenant: tenant.clone(),
                client_id: client.clone(),
                subject: "alice".into(),
                scopes: scopes.clone(),
                issued_at: until - Duration::hours(1),
                expires_at: until,
                revoked_at: None,
            },
            refresh: Some(RefreshTokenRecord {
                digest: digest(n + 1),
                handle: Some(handle),
                family: family.clone(),
                tenant,
                client_id: client,
                subject: "alice".into(),
                scopes,
                issued_at: until - Duration::hours(1),
                expires_at: until,
                family_expires_at: until,
                rotated_at: None,
                revoked_at: None,
            }),
        }
    }

    /// The handle index holds one entry per live family, and purging a
    /// family removes its entry (no leak), but not a live family's.
    #[tokio::test]
    async fn purge_empties_the_handle_index_with_the_families() {
        let store = MemoryGrantStore::new();
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let (old, live) = (
            FamilyId::from_stored("fam_old"),
            FamilyId::from_stored("fam_live"),
        );
        store
            .insert_tokens(pair(&old, 1, digest(100), now))
            .await
            .unwrap();
        store
            .insert_tokens(pair(&live, 3, digest(101), now + Duration::days(30)))
            .await
            .unwrap();
        assert_eq!(store.handles.len(), 2);
        store.purge_expired(now + Duration::days(1)).await.unwrap();
        assert_eq!(store.handles.len(), 1, "the purged family's handle is gone");
        assert!(
            store
                .find_refresh_by_handle(&digest(101))
                .await
                .unwrap()
                .is_some(),
            "the live family is still found by its handle"
        );
        assert!(
            store
                .find_refresh_by_handle(&digest(100))
                .await
                .unwrap()
                .is_none()
        );
    }
}
