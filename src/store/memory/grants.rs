//! The in-memory [`GrantStore`].

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use time::OffsetDateTime;

use crate::{
    Digest, DigestHasherBuilder, Lookup, StoreError, TenantId,
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, ClientId, ConsumeCode, FamilyId, GrantStore,
        InsertTokens, NewTokens, RefreshTokenRecord, RotateRefresh,
    },
};

use super::{Slot, SlotMap, lookup, lookup_mut, sharded};

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

    fn find_access_token(&self, digest: Digest) -> Lookup<'_, AccessTokenRecord> {
        Lookup::now(Ok(self.access_token(&digest)))
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

    async fn families_of_client(
        &self,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<Vec<FamilyId>, StoreError> {
        // A scan: deleting a client is rare, and every token map is read
        // shard by shard without holding the others.
        let mut families: Vec<FamilyId> = self
            .access
            .iter()
            .filter(|t| t.tenant == *tenant && t.client_id == *client)
            .map(|t| t.family.clone())
            .chain(
                self.refresh
                    .iter()
                    .filter(|t| t.tenant == *tenant && t.client_id == *client)
                    .map(|t| t.family.clone()),
            )
            .collect();
        families.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        families.dedup();
        Ok(families)
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
        DigestVersion, TenantId,
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
                audience: crate::oauth::Resources::none(),
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
                resources: crate::oauth::Resources::none(),
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
