//! Authorization codes, access tokens, refresh tokens and their store.
//!
//! Every token issued from one authorization code belongs to one
//! [`FamilyId`]: refreshing keeps the family; a replayed code or a reused
//! refresh token revokes the whole family.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::CodeChallenge;
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
/// [`revoke_family`](Self::revoke_family).
#[async_trait]
pub trait GrantStore: fmt::Debug + Send + Sync + 'static {
    /// Stores a new authorization code (by value, as
    /// [`NewTokens`]: a memory store keeps this very record).
    async fn insert_code(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError>;

    /// The code with this digest (consumed or not). Shared (`Arc`), as
    /// every lookup of this trait.
    async fn find_code(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<AuthorizationCodeRecord>>, StoreError>;

    /// Atomically: if the code with this digest is not consumed, mark it
    /// consumed at `at` **and** store `tokens` (in the code's family);
    /// otherwise store nothing. Says whether this call consumed it, it was
    /// consumed before (a replay), or it is unknown. Because the tokens are
    /// stored in the same step, a concurrent replay that revokes the family
    /// always revokes them too.
    async fn consume_code(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
        tokens: NewTokens,
    ) -> Result<ConsumeCode, StoreError>;

    /// Atomically stores new tokens in their family unless the family is
    /// revoked.
    async fn insert_tokens(&self, tokens: NewTokens) -> Result<InsertTokens, StoreError>;

    /// The access token with this digest: the hot path of every request
    /// made with an access token. Answered now or later, and shared
    /// (`Arc`), as
    /// [`ApiKeyStore::find_by_digest`](crate::ApiKeyStore::find_by_digest).
    fn find_access_token(&self, digest: Digest) -> Lookup<'_, AccessTokenRecord>;

    /// The refresh token with this digest.
    async fn find_refresh_token(
        &self,
        digest: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError>;

    /// A stored refresh token whose [`handle`](RefreshTokenRecord::handle)
    /// is `handle` (any one of the family's; the most recently issued if
    /// several are kept), or `None`. The server asks it when a presented
    /// refresh token's digest is unknown: a hit means a reuse.
    async fn find_refresh_by_handle(
        &self,
        handle: &Digest,
    ) -> Result<Option<Arc<RefreshTokenRecord>>, StoreError>;

    /// Atomically: if the refresh token `old` exists, is unused and neither it
    /// nor its family is revoked, mark it used at `at` and store `new` (same
    /// family), then delete the refresh tokens that have `old`'s handle and
    /// were rotated at or before `forget_rotated_before` (`old` itself
    /// included when `forget_rotated_before >= at`: the server passes `at`
    /// minus its reuse grace window). Tokens without a handle are never
    /// deleted here. Otherwise store nothing and say why.
    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: NewTokens,
        at: OffsetDateTime,
        forget_rotated_before: OffsetDateTime,
    ) -> Result<RotateRefresh, StoreError>;

    /// Revokes every token of the family, and every token stored in it later.
    /// Returns how many tokens were newly revoked.
    async fn revoke_family(&self, family: &FamilyId, at: OffsetDateTime)
    -> Result<u64, StoreError>;

    /// Revokes one access token. Returns whether it was newly revoked.
    async fn revoke_access_token(
        &self,
        digest: &Digest,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Deletes codes and tokens that expired before `before` (and revoked
    /// ones past their expiry). Returns how many records were removed.
    async fn purge_expired(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}
