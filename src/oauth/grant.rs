//! Authorization codes, access tokens, refresh tokens and their store.
//!
//! Every token issued from one authorization code belongs to one
//! [`FamilyId`]: refreshing keeps the family; a replayed code or a reused
//! refresh token revokes the whole family.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CodeChallenge, Resources};
use crate::{
    Digest, Lookup, ScopeSet, StoreError, TenantId,
    ids::{ClientId, FamilyId},
};

/// A stored authorization code (its digest, never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRecord {
    /// Digest of the code.
    pub digest: Digest,
    /// The family the code's tokens will belong to.
    pub family: FamilyId,
    /// The tenant.
    pub tenant: TenantId,
    /// The client the code was issued to.
    pub client_id: ClientId,
    /// The `redirect_uri` the authorization request sent, if it sent one; the
    /// token request must then send the same (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    /// The user who approved. The server hands this `Arc` on to the tokens
    /// issued from the code (the memory store keeps it shared).
    pub subject: Arc<str>,
    /// The approved scopes.
    pub scopes: ScopeSet,
    /// The PKCE challenge.
    pub challenge: CodeChallenge,
    /// When the code was issued.
    pub issued_at: OffsetDateTime,
    /// When it stops being exchangeable.
    pub expires_at: OffsetDateTime,
    /// When it was exchanged (or first presented), if it was.
    pub consumed_at: Option<OffsetDateTime>,
    /// The resources the authorization named (RFC 8707); the tokens issued
    /// from the code may name some of them, or get all.
    pub resources: Resources,
}

/// A stored access token (its digest, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenRecord {
    /// Digest of the token.
    pub digest: Digest,
    /// Its family.
    pub family: FamilyId,
    /// The tenant.
    pub tenant: TenantId,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The user it acts for; the server's records of one family share it.
    pub subject: Arc<str>,
    /// Its scopes.
    pub scopes: ScopeSet,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// The resources it is for (RFC 8707): a resource server that names
    /// itself refuses a token bound to others. Empty: not bound.
    pub audience: Resources,
}

/// An access token's principal: its user acts, through its client.
impl crate::principal::Verified for AccessTokenRecord {
    fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    fn subject(&self) -> &str {
        &self.subject
    }
    fn scopes(&self) -> &ScopeSet {
        &self.scopes
    }
    fn method(&self) -> crate::AuthMethod {
        crate::AuthMethod::AccessToken {
            client_id: self.client_id.clone(),
        }
    }
    fn audience(&self) -> Option<&[Arc<str>]> {
        Some(self.audience.as_slice())
    }
}

/// A stored refresh token (its digest, never the token).
///
/// Every refresh token of a family carries the family's *handle* in its
/// first characters (the rest is the token's own secret), and its record the
/// handle's digest. A rotated token therefore need not be kept until it
/// expires to be recognised as a reuse: a token with a live family's handle
/// and an unknown secret can only come from someone who held one of the
/// family's tokens. Stores forget rotated tokens once the server says so
/// ([`GrantStore::rotate_refresh`]'s `forget_rotated_before`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// Digest of the token.
    pub digest: Digest,
    /// Digest of the family's handle; `None` for tokens issued before
    /// handles existed (those are kept until they expire, as before).
    pub handle: Option<Digest>,
    /// Its family.
    pub family: FamilyId,
    /// The tenant.
    pub tenant: TenantId,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The user it acts for; the server's records of one family share it.
    pub subject: Arc<str>,
    /// The family's full scope (a refresh may narrow an access token's scope,
    /// never the refresh token's).
    pub scopes: ScopeSet,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it expires if unused.
    pub expires_at: OffsetDateTime,
    /// When the whole family stops being refreshable, whatever happens.
    pub family_expires_at: OffsetDateTime,
    /// When it was used (rotated), if it was; a second use is a reuse.
    pub rotated_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<OffsetDateTime>,
    /// The resources the family's grant allows (RFC 8707): a refresh may
    /// ask for some of them, never others.
    pub resources: Resources,
}

/// The result of [`GrantStore::consume_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsumeCode {
    /// Consumed by this call (and the tokens stored).
    Consumed,
    /// Consumed earlier: a replay. The record (with its `consumed_at`).
    AlreadyConsumed(Box<AuthorizationCodeRecord>),
    /// No such code.
    Unknown,
    /// The code's family is revoked: nothing was stored.
    FamilyRevoked,
}

/// The result of [`GrantStore::rotate_refresh`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateRefresh {
    /// Rotated by this call: the old token is marked used and the new tokens
    /// stored.
    Rotated,
    /// The token was already used: a reuse. Nothing was stored.
    AlreadyRotated(Box<RefreshTokenRecord>),
    /// The token or its family is revoked. Nothing was stored.
    Revoked,
    /// No such token. Nothing was stored.
    Unknown,
}

/// The result of [`GrantStore::insert_tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertTokens {
    /// Stored.
    Inserted,
    /// The family was revoked (for example by a concurrent code replay):
    /// nothing was stored.
    FamilyRevoked,
}

/// New tokens to store: an access token and, usually, a refresh token.
///
/// Handed to the store by value, so that a store that keeps records in
/// memory keeps these very ones, without a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTokens {
    /// The access token.
    pub access: AccessTokenRecord,
    /// The refresh token, if one is issued.
    pub refresh: Option<RefreshTokenRecord>,
}

/// Storage for codes and tokens.
///
/// The methods that decide a race are single atomic calls whose result tells
/// the outcomes apart, so replay detection works whatever the backend (the
/// lesson of fosite #778): [`consume_code`](Self::consume_code),
/// [`rotate_refresh`](Self::rotate_refresh) and
/// [`insert_tokens`](Self::insert_tokens) against
/// [`revoke_family`](Self::revoke_family). "Atomic" means what a database
/// gives with a transaction that locks the rows it reads (or one
/// conditional `UPDATE`), or a memory store with one critical section: a
/// read, an `await` and a write are not atomic.
///
/// Every lookup matches the whole [`Digest`], version included (a digest
/// one bit away, or the same bytes under the other version, finds and
/// changes nothing), and answers records as they are now, shared (`Arc`).
///
/// # Implementing a custom store
///
/// Each method below says what `testkit::grant_store` (feature `testkit`)
/// checks of it, with the order in which outcomes take precedence. This
/// complete store (`examples/custom_store/grants.rs`, which
/// `tests/custom_store.rs` runs through the kit) is a starting point:
///
/// ```ignore
#[doc = include_str!("../../examples/custom_store/grants.rs")]
/// ```
#[async_trait]
pub trait GrantStore: fmt::Debug + Send + Sync + 'static {
    /// Stores a new authorization code as given (by value, as
    /// [`NewTokens`]: a memory store keeps this very record). Codes are
    /// unique by digest: a second insert of a digest may fail with
    /// [`Conflict`](crate::StoreErrorKind::Conflict).
    async fn insert_code(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError>;

    /// The code with this digest, consumed or not, as it is now (with the
    /// `consumed_at` that [`consume_code`](Self::consume_code) set).
    async fn find_code(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<AuthorizationCodeRecord>>, StoreError>;

    /// Atomically: if the code with this digest is not consumed, mark it
    /// consumed at `at` **and** store `tokens` (in the code's family), and
    /// answer [`Consumed`](ConsumeCode::Consumed). Otherwise store nothing,
    /// consume nothing, and say why, the first that applies:
    ///
    /// 1. no such code → [`Unknown`](ConsumeCode::Unknown);
    /// 2. the code's family is revoked (see
    ///    [`revoke_family`](Self::revoke_family)) →
    ///    [`FamilyRevoked`](ConsumeCode::FamilyRevoked), even when the code
    ///    was consumed before;
    /// 3. consumed before (a replay) →
    ///    [`AlreadyConsumed`](ConsumeCode::AlreadyConsumed) with the record
    ///    as stored (its first `consumed_at`).
    ///
    /// Among concurrent callers exchanging one code, exactly one is told
    /// `Consumed` and only its tokens are stored; the others are told
    /// `AlreadyConsumed`. Because the tokens are stored in the same step, a
    /// concurrent replay that revokes the family always revokes them too.
    async fn consume_code(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
        tokens: NewTokens,
    ) -> Result<ConsumeCode, StoreError>;

    /// Atomically stores new tokens in their family
    /// ([`Inserted`](InsertTokens::Inserted)) unless the family is revoked
    /// ([`FamilyRevoked`](InsertTokens::FamilyRevoked), storing nothing).
    /// Atomic with respect to [`revoke_family`](Self::revoke_family): a
    /// token inserted before or while its family is revoked ends up
    /// revoked.
    async fn insert_tokens(&self, tokens: NewTokens) -> Result<InsertTokens, StoreError>;

    /// The access token with this digest: the hot path of every request
    /// made with an access token. Answered now or later, and shared
    /// (`Arc`), as
    /// [`ApiKeyStore::find_by_digest`](crate::ApiKeyStore::find_by_digest).
    fn find_access_token(&self, digest: Digest) -> Lookup<'_, AccessTokenRecord>;

    /// The refresh token with this digest, as it is now (rotated or
    /// revoked). Access and refresh tokens are apart: an access token's
    /// digest finds no refresh token, and the other way round.
    async fn find_refresh_token(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError>;

    /// A stored refresh token whose [`handle`](RefreshTokenRecord::handle)
    /// is `handle` (the whole digest, version included), or `None`: the
    /// most recently issued of them if several are kept, as it is now (a
    /// revoked family's shows its `revoked_at`). A successor whose handle
    /// is new to its family is found by its own handle. The server asks it
    /// when a presented refresh token's digest is unknown: a hit means a
    /// reuse.
    async fn find_refresh_by_handle(
        &self,
        handle: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError>;

    /// Atomically: if the refresh token `old` exists, is unused and neither
    /// it nor its family is revoked, mark it used (`rotated_at = at`),
    /// store `new` (same family), then delete the refresh tokens **of
    /// `old`'s family** that have `old`'s handle and were rotated at or
    /// before `forget_rotated_before` (`old` itself included when
    /// `forget_rotated_before >= at`: the server passes `at` minus its
    /// reuse grace window), and answer [`Rotated`](RotateRefresh::Rotated).
    /// Tokens without a handle, and tokens of other families (even with the
    /// same handle digest), are never deleted here.
    ///
    /// Otherwise store nothing, delete nothing, and say why, the first that
    /// applies:
    ///
    /// 1. no such token → [`Unknown`](RotateRefresh::Unknown);
    /// 2. the token or its family is revoked →
    ///    [`Revoked`](RotateRefresh::Revoked);
    /// 3. rotated before (a reuse) →
    ///    [`AlreadyRotated`](RotateRefresh::AlreadyRotated) with the record
    ///    as stored.
    ///
    /// Among concurrent callers rotating one token, exactly one is told
    /// `Rotated` and only its tokens are stored; the others
    /// `AlreadyRotated`.
    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: NewTokens,
        at: OffsetDateTime,
        forget_rotated_before: OffsetDateTime,
    ) -> Result<RotateRefresh, StoreError>;

    /// Revokes the family: every access and refresh token of it not yet
    /// revoked gets `revoked_at = at` (a revoked one keeps its first), and
    /// from now on [`insert_tokens`](Self::insert_tokens) says
    /// `FamilyRevoked`, [`consume_code`](Self::consume_code) of its codes
    /// `FamilyRevoked` (a family that has only a code can be revoked) and
    /// [`rotate_refresh`](Self::rotate_refresh) of its tokens `Revoked`.
    /// Tokens of other families are not touched. Returns how many tokens
    /// were newly revoked (0 the second time).
    async fn revoke_family(&self, family: &FamilyId, at: OffsetDateTime)
    -> Result<u64, StoreError>;

    /// The families of every token issued to client `client` of `tenant`
    /// (access or refresh, live or not), in any order: what deleting a
    /// client revokes. The default refuses, saying so.
    ///
    /// # Errors
    ///
    /// The store's failure; by default, that it cannot list them.
    async fn families_of_client(
        &self,
        tenant: &TenantId,
        client: &ClientId,
    ) -> Result<Vec<FamilyId>, StoreError> {
        let _ = (tenant, client);
        Err(StoreError::other(
            "this grant store cannot find the tokens of a client",
        ))
    }

    /// Revokes one access token (`revoked_at = at`) and nothing else.
    /// Returns whether it was newly revoked: `false` for an unknown or an
    /// already revoked token, which keeps its first `revoked_at`.
    async fn revoke_access_token(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes what expired before `before` and returns how many records it
    /// removed:
    ///
    /// * access tokens with `expires_at < before`;
    /// * refresh tokens with `expires_at < before` **or**
    ///   `family_expires_at < before` (the family's absolute lifetime);
    /// * unconsumed codes with `expires_at < before`, and expired consumed
    ///   codes **only once their family has no live (unrevoked) refresh
    ///   token** — a late replay of the code must still revoke what it
    ///   issued.
    ///
    /// It keeps whatever expires at or after `before`, revoked tokens until
    /// they expire, and a revoked family's mark for at least
    /// [`MAX_CODE_TTL`](super::MAX_CODE_TTL) after its revocation (so that
    /// an exchange racing a replay still sees it), even when all its
    /// tokens are gone.
    async fn purge_expired(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}
