//! The store traits, implemented once for both SQL backends.
//!
//! `impl_sql_stores!(Store, Db)` expands, in a backend's module, to a private
//! module implementing [`ApiKeyStore`](crate::ApiKeyStore),
//! [`ClientStore`](crate::oauth::ClientStore),
//! [`GrantStore`](crate::oauth::GrantStore),
//! [`SigningKeyStore`](crate::signing::SigningKeyStore),
//! [`AuditSink`](crate::AuditSink) and [`AuditLog`](crate::AuditLog) for
//! `Store`, which must have:
//!
//! * a field `pool: sqlx::Pool<Db>`;
//! * `async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>, StoreError>`,
//!   beginning a transaction that will write (SQLite: `BEGIN IMMEDIATE`);
//! * `const ONE_STATEMENT: bool`: whether the grant operations call the
//!   single-statement functions (PostgreSQL);
//! * `fn cache(&self) -> Option<&CredentialCache>` and
//!   `async fn invalidated(&self, digests: &[Digest]) -> Result<(), StoreError>`:
//!   the credential cache, and what a revocation does after it committed;
//! * `async fn revoke_family_at_once(..)`: the single-statement family
//!   revocation, or `None`.
//!
//! The SQL is in [`super::queries`], the row conversions in [`super::rows`].
//!
//! # How each race is decided
//!
//! * `ApiKeyStore::rotate`: in one write transaction, a conditional
//!   `UPDATE … WHERE revoked_at IS NULL AND rotated_to IS NULL RETURNING *`
//!   marks the old key, then the successor is inserted; any failure rolls
//!   both back. `revoke` and `touch_last_used` are single conditional
//!   updates.
//! * `GrantStore::consume_code`, `insert_tokens`, `rotate_refresh`,
//!   `revoke_family`: on PostgreSQL one statement calling a function of
//!   migration `0004_one_round_trip` (`Store::ONE_STATEMENT`), which runs
//!   the steps below in the statement's transaction; on SQLite one write
//!   transaction. Either first locks the token
//!   family's row (`LOCK_FAMILY` / `REVOKE_FAMILY`), so they are serialized
//!   per family; a revoked family refuses the write. The single-use marker
//!   (`consumed_at`, `rotated_at`) is then set by a conditional update, and
//!   the new tokens are inserted in the same transaction; `rotate_refresh`
//!   then deletes, still in it, the rotated tokens of the old token's handle
//!   that are past the grace window (`forget_rotated_before`).
//! * `purge_expired`: tokens and codes in one write transaction, then the
//!   family rows on their own (never a family row while holding token rows,
//!   the reverse of the order above).

mod api_keys;
mod audit;
mod clients;
mod grants;
mod steps;

pub(crate) use api_keys::sql_api_key_store;
pub(crate) use audit::sql_audit_log;
pub(crate) use clients::sql_client_store;
pub(crate) use grants::sql_grant_store;
pub(crate) use steps::sql_steps;

macro_rules! impl_sql_stores {
    ($store:ident, $db:ty) => {
        mod store_impls {
            use std::net::IpAddr;

            use async_trait::async_trait;
            use time::OffsetDateTime;

            use super::$store;
            use $crate::{
                AuditEvent, AuditLog, AuditQuery, AuditSink, Digest, StoreError, TenantId,
                api_key::{ApiKeyRecord, ApiKeyStore, KeyId, RevokeOutcome, RotateOutcome},
                oauth::{
                    AccessTokenRecord, AuthorizationCodeRecord, ClientId, ClientStore, ConsumeCode,
                    FamilyId, GrantStore, InsertTokens, MAX_CODE_TTL, NewTokens, OAuthClient,
                    RefreshTokenRecord, RotateRefresh,
                },
                store::sql::{
                    audit_codec,
                    error::db_error,
                    queries as q,
                    rows::{self, AccessTokenRow, ApiKeyRow, ClientRow, CodeRow, RefreshTokenRow},
                },
            };

            type Db = $db;
            type Conn = <Db as sqlx::Database>::Connection;
            type Tx = sqlx::Transaction<'static, Db>;
            type Query =
                sqlx::query::Query<'static, Db, <Db as sqlx::Database>::Arguments<'static>>;

            $crate::store::sql::impls::sql_steps!();
            $crate::store::sql::impls::sql_api_key_store!($store);
            $crate::store::sql::impls::sql_client_store!($store);
            $crate::store::sql::impls::sql_grant_store!($store);
            $crate::store::sql::impls::sql_audit_log!($store);
        }
    };
}

pub(super) use impl_sql_stores;
