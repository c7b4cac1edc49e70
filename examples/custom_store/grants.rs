//! A [`GrantStore`] over one `Mutex`: codes and tokens by digest, and the
//! revoked families. Each method holds the lock from its first read to its
//! last write, which is what makes `consume_code`, `rotate_refresh`,
//! `insert_tokens` and `revoke_family` atomic with respect to each other.
//! (A database does the same with a transaction that locks the rows it
//! reads, or with one conditional `UPDATE`.)

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use papyrus_auth::{
    Digest, Lookup, OffsetDateTime, StoreError, TenantId, async_trait,
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, ClientId, ConsumeCode, FamilyId, GrantStore,
        InsertTokens, MAX_CODE_TTL, NewTokens, RefreshTokenRecord, RotateRefresh,
    },
};

#[derive(Debug, Default)]
struct Grants {
    codes: HashMap<Digest, Arc<AuthorizationCodeRecord>>,
    access: HashMap<Digest, Arc<AccessTokenRecord>>,
    refresh: HashMap<Digest, Arc<RefreshTokenRecord>>,
    /// Revoked families and when: a family revoked once stays revoked.
    revoked: HashMap<FamilyId, OffsetDateTime>,
}

impl Grants {
    fn store(&mut self, tokens: NewTokens) {
        if let Some(refresh) = tokens.refresh {
            self.refresh.insert(refresh.digest, Arc::new(refresh));
        }
        self.access
            .insert(tokens.access.digest, Arc::new(tokens.access));
    }
}

/// Codes and tokens in memory.
#[derive(Debug, Default)]
pub struct MyGrantStore(Mutex<Grants>);

impl MyGrantStore {
    fn grants(&self) -> MutexGuard<'_, Grants> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl GrantStore for MyGrantStore {
    async fn insert_code(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError> {
        let mut grants = self.grants();
        if grants.codes.contains_key(&code.digest) {
            return Err(StoreError::conflict("a code with this digest exists"));
        }
        grants.codes.insert(code.digest, Arc::new(code));
        Ok(())
    }

    async fn find_code(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<AuthorizationCodeRecord>>, StoreError> {
        Ok(self.grants().codes.get(digest).cloned())
    }

    async fn consume_code(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
        tokens: NewTokens,
    ) -> Result<ConsumeCode, StoreError> {
        let mut grants = self.grants(); // held until the tokens are stored
        let Some(code) = grants.codes.get(digest).cloned() else {
            return Ok(ConsumeCode::Unknown);
        };
        // A revoked family first, then a replay (the trait's precedence).
        if grants.revoked.contains_key(&code.family) {
            return Ok(ConsumeCode::FamilyRevoked);
        }
        if code.consumed_at.is_some() {
            return Ok(ConsumeCode::AlreadyConsumed(Box::new(
                AuthorizationCodeRecord::clone(&code),
            )));
        }
        let consumed = AuthorizationCodeRecord {
            consumed_at: Some(at),
            ..AuthorizationCodeRecord::clone(&code)
        };
        grants.codes.insert(*digest, Arc::new(consumed));
        grants.store(tokens);
        Ok(ConsumeCode::Consumed)
    }

    async fn insert_tokens(&self, tokens: NewTokens) -> Result<InsertTokens, StoreError> {
        let mut grants = self.grants();
        if grants.revoked.contains_key(&tokens.access.family) {
            return Ok(InsertTokens::FamilyRevoked);
        }
        grants.store(tokens);
        Ok(InsertTokens::Inserted)
    }

    fn find_access_token(&self, digest: Digest) -> Lookup<'_, AccessTokenRecord> {
        Lookup::now(Ok(self.grants().access.get(&digest).cloned()))
    }

    async fn find_refresh_token(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError> {
        Ok(self.grants().refresh.get(digest).cloned())
    }

    async fn find_refresh_by_handle(
        &self,
        handle: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError> {
        // The newest token with this handle (a scan: an index in a database).
        let grants = self.grants();
        Ok(grants
            .refresh
            .values()
            .filter(|t| t.handle.as_ref() == Some(handle))
            .max_by_key(|t| t.issued_at)
            .cloned())
    }

    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: NewTokens,
        at: OffsetDateTime,
        forget_rotated_before: OffsetDateTime,
    ) -> Result<RotateRefresh, StoreError> {
        let mut grants = self.grants();
        let Some(token) = grants.refresh.get(old).cloned() else {
            return Ok(RotateRefresh::Unknown);
        };
        // Revoked (the token or its family) first, then a reuse.
        if token.revoked_at.is_some() || grants.revoked.contains_key(&token.family) {
            return Ok(RotateRefresh::Revoked);
        }
        if token.rotated_at.is_some() {
            return Ok(RotateRefresh::AlreadyRotated(Box::new(
                RefreshTokenRecord::clone(&token),
            )));
        }
        let rotated = RefreshTokenRecord {
            rotated_at: Some(at),
            ..RefreshTokenRecord::clone(&token)
        };
        grants.refresh.insert(*old, Arc::new(rotated));
        grants.store(new);
        // Forget the family's tokens with the old token's handle that were
        // rotated at or before `forget_rotated_before`: of this family only,
        // never a token without a handle.
        if let Some(handle) = token.handle {
            grants.refresh.retain(|_, t| {
                let forget = t.family == token.family
                    && t.handle == Some(handle)
                    && t.rotated_at.is_some_and(|r| r <= forget_rotated_before);
                !forget
            });
        }
        Ok(RotateRefresh::Rotated)
    }

    async fn revoke_family(
        &self,
        family: &FamilyId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut grants = self.grants();
        grants.revoked.entry(family.clone()).or_insert(at);
        let mut revoked = 0;
        for token in grants.access.values_mut() {
            if token.family == *family && token.revoked_at.is_none() {
                Arc::make_mut(token).revoked_at = Some(at);
                revoked += 1;
            }
        }
        for token in grants.refresh.values_mut() {
            if token.family == *family && token.revoked_at.is_none() {
                Arc::make_mut(token).revoked_at = Some(at);
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    async fn families_of_client(
        &self,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<Vec<FamilyId>, StoreError> {
        let grants = self.grants();
        let of_client = |t: &TenantId, c: &ClientId| t == tenant && c == client;
        let families: HashSet<FamilyId> = grants
            .access
            .values()
            .filter(|a| of_client(&a.tenant, &a.client_id))
            .map(|a| a.family.clone())
            .chain(
                grants
                    .refresh
                    .values()
                    .filter(|r| of_client(&r.tenant, &r.client_id))
                    .map(|r| r.family.clone()),
            )
            .collect();
        Ok(families.into_iter().collect())
    }

    async fn revoke_access_token(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut grants = self.grants();
        match grants.access.get_mut(digest) {
            Some(token) if token.revoked_at.is_none() => {
                Arc::make_mut(token).revoked_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn purge_expired(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut grants = self.grants();
        let held = grants.codes.len() + grants.access.len() + grants.refresh.len();
        grants.access.retain(|_, t| t.expires_at >= before);
        // A refresh token ends with its family's absolute lifetime too.
        grants
            .refresh
            .retain(|_, t| t.expires_at.min(t.family_expires_at) >= before);
        // A consumed code stays while its family has a live refresh token:
        // a late replay must still revoke what the code issued.
        let live: HashSet<FamilyId> = grants
            .refresh
            .values()
            .filter(|t| t.revoked_at.is_none())
            .map(|t| t.family.clone())
            .collect();
        grants.codes.retain(|_, c| {
            c.expires_at >= before || (c.consumed_at.is_some() && live.contains(&c.family))
        });
        let removed = held - (grants.codes.len() + grants.access.len() + grants.refresh.len());
        // A revoked family's marker outlives its tokens by the longest code
        // lifetime, so that a code exchange racing a replay still sees it.
        let Grants {
            access,
            refresh,
            revoked,
            ..
        } = &mut *grants;
        revoked.retain(|family, at| {
            *at + MAX_CODE_TTL > before
                || access.values().any(|t| t.family == *family)
                || refresh.values().any(|t| t.family == *family)
        });
        Ok(u64::try_from(removed).unwrap_or(u64::MAX))
    }
}
