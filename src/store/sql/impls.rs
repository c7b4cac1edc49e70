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
//!   beginning a transaction that will write (SQLite: `BEGIN IMMEDIATE`).
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
//!   `revoke_family`: one write transaction that first locks the token
//!   family's row (`LOCK_FAMILY` / `REVOKE_FAMILY`), so they are serialized
//!   per family; a revoked family refuses the write. The single-use marker
//!   (`consumed_at`, `rotated_at`) is then set by a conditional update, and
//!   the new tokens are inserted in the same transaction; `rotate_refresh`
//!   then deletes, still in it, the rotated tokens of the old token's handle
//!   that are past the grace window (`forget_rotated_before`).
//! * `purge_expired`: tokens and codes in one write transaction, then the
//!   family rows on their own (never a family row while holding token rows,
//!   the reverse of the order above).

macro_rules! impl_sql_stores {
    ($store:ident, $db:ty) => {
        mod store_impls {
            use std::net::IpAddr;

            use async_trait::async_trait;
            use time::OffsetDateTime;

            use super::$store;
            use $crate::{
                ApiKeyRecord, ApiKeyStore, AuditEvent, AuditLog, AuditQuery, AuditSink, Digest,
                KeyId, RevokeOutcome, RotateOutcome, StoreError, TenantId,
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

            // ----- binding rows --------------------------------------------

            fn bind_api_key(q: Query, r: ApiKeyRow) -> Query {
                q.bind(r.id)
                    .bind(r.tenant)
                    .bind(r.name)
                    .bind(r.environment)
                    .bind(r.scopes)
                    .bind(r.ip_allowlist)
                    .bind(r.digest)
                    .bind(r.digest_version)
                    .bind(r.hint)
                    .bind(r.created_at)
                    .bind(r.rotation_due_at)
                    .bind(r.rotated_at)
                    .bind(r.rotated_from)
                    .bind(r.rotated_to)
                    .bind(r.expires_at)
                    .bind(r.revoked_at)
                    .bind(r.last_used_at)
                    .bind(r.last_used_ip)
            }

            fn bind_client(q: Query, r: ClientRow) -> Query {
                q.bind(r.id)
                    .bind(r.tenant)
                    .bind(r.name)
                    .bind(r.kind)
                    .bind(r.secret_digest)
                    .bind(r.secret_digest_version)
                    .bind(r.redirect_uris)
                    .bind(r.allowed_scopes)
                    .bind(r.default_scopes)
                    .bind(r.access_token_ttl_us)
                    .bind(r.refresh_token_ttl_us)
                    .bind(r.created_at)
            }

            fn bind_code(q: Query, r: CodeRow) -> Query {
                q.bind(r.digest)
                    .bind(r.digest_version)
                    .bind(r.family)
                    .bind(r.tenant)
                    .bind(r.client_id)
                    .bind(r.redirect_uri)
                    .bind(r.subject)
                    .bind(r.scopes)
                    .bind(r.challenge)
                    .bind(r.challenge_method)
                    .bind(r.issued_at)
                    .bind(r.expires_at)
                    .bind(r.consumed_at)
            }

            fn bind_access(q: Query, r: AccessTokenRow) -> Query {
                q.bind(r.digest)
                    .bind(r.digest_version)
                    .bind(r.family)
                    .bind(r.tenant)
                    .bind(r.client_id)
                    .bind(r.subject)
                    .bind(r.scopes)
                    .bind(r.issued_at)
                    .bind(r.expires_at)
                    .bind(r.revoked_at)
            }

            fn bind_refresh(q: Query, r: RefreshTokenRow) -> Query {
                q.bind(r.digest)
                    .bind(r.digest_version)
                    .bind(r.family)
                    .bind(r.tenant)
                    .bind(r.client_id)
                    .bind(r.subject)
                    .bind(r.scopes)
                    .bind(r.issued_at)
                    .bind(r.expires_at)
                    .bind(r.family_expires_at)
                    .bind(r.rotated_at)
                    .bind(r.revoked_at)
                    .bind(r.handle)
                    .bind(r.handle_version)
            }

            /// A query whose first two parameters are a digest.
            fn by_digest<O>(
                sql: &'static str,
                d: &Digest,
            ) -> sqlx::query::QueryAs<'static, Db, O, <Db as sqlx::Database>::Arguments<'static>>
            where
                O: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row>,
            {
                sqlx::query_as::<Db, O>(sql)
                    .bind(rows::bytes(d))
                    .bind(rows::version(d))
            }

            /// The record of the row with digest `d` (`sql`: digest, version),
            /// read through `executor` (the pool, or a transaction): every
            /// by-digest lookup of both backends.
            async fn find_one<'e, R, E>(
                executor: E,
                sql: &'static str,
                d: &Digest,
            ) -> Result<Option<R::Record>, StoreError>
            where
                R: rows::IntoRecord
                    + for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row>
                    + Send
                    + Unpin,
                E: sqlx::Executor<'e, Database = Db>,
            {
                by_digest::<R>(sql, d)
                    .fetch_optional(executor)
                    .await
                    .map_err(db_error)?
                    .map(rows::IntoRecord::into_record)
                    .transpose()
            }

            /// [`find_one`] on the pool, shared as every store lookup.
            async fn find_shared<R>(
                pool: &sqlx::Pool<Db>,
                sql: &'static str,
                d: &Digest,
            ) -> Result<Option<std::sync::Arc<R::Record>>, StoreError>
            where
                R: rows::IntoRecord
                    + for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row>
                    + Send
                    + Unpin,
            {
                Ok(find_one::<R, _>(pool, sql, d)
                    .await?
                    .map(std::sync::Arc::new))
            }

            // ----- transaction steps ---------------------------------------

            /// Runs a conditional `UPDATE … SET <column> = at WHERE digest
            /// … AND <column> IS NULL` (`sql`: digest, version, at) and says
            /// whether it changed the row: the exactly-once step of consuming
            /// a code and rotating a refresh token.
            async fn mark_once(
                conn: &mut Conn,
                sql: &'static str,
                d: &Digest,
                at: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(sql)
                    .bind(rows::bytes(d))
                    .bind(rows::version(d))
                    .bind(rows::micros(at))
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn rollback(tx: Tx) -> Result<(), StoreError> {
                tx.rollback().await.map_err(db_error)
            }

            async fn commit(tx: Tx) -> Result<(), StoreError> {
                tx.commit().await.map_err(db_error)
            }

            /// Creates the family's row if missing and locks it until the
            /// transaction ends. Whether the family is revoked.
            async fn lock_family(conn: &mut Conn, family: &FamilyId) -> Result<bool, StoreError> {
                let revoked_at: Option<i64> = sqlx::query_scalar::<Db, Option<i64>>(q::LOCK_FAMILY)
                    .bind(family.as_str().to_owned())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_error)?;
                Ok(revoked_at.is_some())
            }

            async fn insert_new_tokens(
                conn: &mut Conn,
                tokens: NewTokens,
            ) -> Result<(), StoreError> {
                bind_access(
                    sqlx::query(q::INSERT_ACCESS_TOKEN),
                    AccessTokenRow::from_record(&tokens.access),
                )
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
                if let Some(refresh) = tokens.refresh {
                    bind_refresh(
                        sqlx::query(q::INSERT_REFRESH_TOKEN),
                        RefreshTokenRow::from_record(&refresh),
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(db_error)?;
                }
                Ok(())
            }

            async fn key_by_id(
                conn: &mut Conn,
                tenant: &TenantId,
                id: &KeyId,
            ) -> Result<Option<ApiKeyRecord>, StoreError> {
                sqlx::query_as::<Db, ApiKeyRow>(q::API_KEY_BY_ID)
                    .bind(tenant.as_str().to_owned())
                    .bind(id.as_str().to_owned())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?
                    .map(ApiKeyRow::into_record)
                    .transpose()
            }

            // ----- API keys ------------------------------------------------

            #[async_trait]
            impl ApiKeyStore for $store {
                async fn insert(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
                    bind_api_key(
                        sqlx::query(q::INSERT_API_KEY),
                        ApiKeyRow::from_record(record),
                    )
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                fn find_by_digest(&self, digest: Digest) -> $crate::Lookup<'_, ApiKeyRecord> {
                    $crate::Lookup::later(async move {
                        find_shared::<ApiKeyRow>(&self.pool, q::API_KEY_BY_DIGEST, &digest).await
                    })
                }

                async fn get(
                    &self,
                    tenant: &TenantId,
                    id: &KeyId,
                ) -> Result<Option<ApiKeyRecord>, StoreError> {
                    let mut conn = self.pool.acquire().await.map_err(db_error)?;
                    key_by_id(&mut conn, tenant, id).await
                }

                async fn list(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
                    sqlx::query_as::<Db, ApiKeyRow>(q::API_KEYS_OF_TENANT)
                        .bind(tenant.as_str().to_owned())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?
                        .into_iter()
                        .map(ApiKeyRow::into_record)
                        .collect()
                }

                async fn rotate(
                    &self,
                    tenant: &TenantId,
                    old: &KeyId,
                    successor: &ApiKeyRecord,
                    old_expires_at: Option<OffsetDateTime>,
                    at: OffsetDateTime,
                ) -> Result<RotateOutcome, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let marked = sqlx::query_as::<Db, ApiKeyRow>(q::ROTATE_API_KEY)
                        .bind(tenant.as_str().to_owned())
                        .bind(old.as_str().to_owned())
                        .bind(successor.id.as_str().to_owned())
                        .bind(rows::micros(at))
                        .bind(rows::opt_micros(old_expires_at))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let Some(marked) = marked else {
                        // Not marked: say why. (A key is never un-revoked or
                        // un-rotated, so what we read now is the reason.)
                        let current = key_by_id(&mut tx, tenant, old).await?;
                        rollback(tx).await?;
                        return Ok(match current {
                            Some(r) if r.revoked_at.is_some() => RotateOutcome::Revoked,
                            Some(ApiKeyRecord {
                                rotated_to: Some(s),
                                ..
                            }) => RotateOutcome::AlreadyRotated(s),
                            _ => RotateOutcome::NotFound,
                        });
                    };
                    bind_api_key(
                        sqlx::query(q::INSERT_API_KEY),
                        ApiKeyRow::from_record(successor),
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    commit(tx).await?;
                    Ok(RotateOutcome::Rotated(Box::new(marked.into_record()?)))
                }

                async fn revoke(
                    &self,
                    tenant: &TenantId,
                    id: &KeyId,
                    at: OffsetDateTime,
                ) -> Result<RevokeOutcome, StoreError> {
                    let mut conn = self.pool.acquire().await.map_err(db_error)?;
                    let revoked = sqlx::query_as::<Db, ApiKeyRow>(q::REVOKE_API_KEY)
                        .bind(tenant.as_str().to_owned())
                        .bind(id.as_str().to_owned())
                        .bind(rows::micros(at))
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db_error)?;
                    if let Some(row) = revoked {
                        return Ok(RevokeOutcome::Revoked(Box::new(row.into_record()?)));
                    }
                    // Nothing updated: revoked before (revocation is final), or absent.
                    Ok(match key_by_id(&mut conn, tenant, id).await? {
                        Some(r) if r.revoked_at.is_some() => {
                            RevokeOutcome::AlreadyRevoked(Box::new(r))
                        }
                        _ => RevokeOutcome::NotFound,
                    })
                }

                async fn touch_last_used(
                    &self,
                    id: &KeyId,
                    at: OffsetDateTime,
                    ip: Option<IpAddr>,
                    stale_before: OffsetDateTime,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(q::TOUCH_API_KEY)
                        .bind(id.as_str().to_owned())
                        .bind(rows::micros(at))
                        .bind(ip.map(|ip| ip.to_string()))
                        .bind(rows::micros(stale_before))
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected() > 0)
                }
            }

            // ----- clients -------------------------------------------------

            #[async_trait]
            impl ClientStore for $store {
                async fn insert(&self, client: &OAuthClient) -> Result<(), StoreError> {
                    bind_client(
                        sqlx::query(q::INSERT_CLIENT),
                        ClientRow::from_record(client)?,
                    )
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                    Ok(())
                }

                async fn get(
                    &self,
                    tenant: &TenantId,
                    id: &ClientId,
                ) -> Result<Option<std::sync::Arc<OAuthClient>>, StoreError> {
                    sqlx::query_as::<Db, ClientRow>(q::CLIENT_BY_ID)
                        .bind(tenant.as_str().to_owned())
                        .bind(id.as_str().to_owned())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_error)?
                        .map(|row| row.into_record().map(std::sync::Arc::new))
                        .transpose()
                }

                async fn list(&self, tenant: &TenantId) -> Result<Vec<OAuthClient>, StoreError> {
                    sqlx::query_as::<Db, ClientRow>(q::CLIENTS_OF_TENANT)
                        .bind(tenant.as_str().to_owned())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?
                        .into_iter()
                        .map(ClientRow::into_record)
                        .collect()
                }
            }

            // ----- signing keys --------------------------------------------

            #[async_trait]
            impl $crate::signing::SigningKeyStore for $store {
                async fn signing_keys(
                    &self,
                    purpose: &str,
                ) -> Result<Vec<$crate::signing::SigningKey>, StoreError> {
                    sqlx::query_as::<Db, rows::SigningKeyRow>(q::SIGNING_KEYS)
                        .bind(purpose.to_owned())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?
                        .into_iter()
                        .map(rows::signing_key)
                        .collect()
                }

                async fn insert_signing_key(
                    &self,
                    purpose: &str,
                    key: &$crate::signing::SigningKey,
                ) -> Result<bool, StoreError> {
                    let generation = i64::try_from(key.generation)
                        .map_err(|_| StoreError::corrupt("signing key generation out of range"))?;
                    let done = sqlx::query(q::INSERT_SIGNING_KEY)
                        .bind(purpose.to_owned())
                        .bind(generation)
                        .bind(key.expose_secret().to_vec())
                        .bind(rows::micros(key.created_at))
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_signing_keys_before(
                    &self,
                    purpose: &str,
                    generation: u64,
                ) -> Result<u64, StoreError> {
                    let generation = i64::try_from(generation).unwrap_or(i64::MAX);
                    let done = sqlx::query(q::DELETE_SIGNING_KEYS_BEFORE)
                        .bind(purpose.to_owned())
                        .bind(generation)
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected())
                }
            }

            // ----- codes and tokens ----------------------------------------

            #[async_trait]
            impl GrantStore for $store {
                async fn insert_code(
                    &self,
                    code: AuthorizationCodeRecord,
                ) -> Result<(), StoreError> {
                    bind_code(sqlx::query(q::INSERT_CODE), CodeRow::from_record(&code))
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                    Ok(())
                }

                async fn find_code(
                    &self,
                    digest: &Digest,
                ) -> Result<Option<std::sync::Arc<AuthorizationCodeRecord>>, StoreError> {
                    find_shared::<CodeRow>(&self.pool, q::CODE_BY_DIGEST, digest).await
                }

                async fn consume_code(
                    &self,
                    digest: &Digest,
                    at: OffsetDateTime,
                    tokens: NewTokens,
                ) -> Result<ConsumeCode, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let Some(code) = by_digest::<CodeRow>(q::CODE_BY_DIGEST, digest)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?
                    else {
                        rollback(tx).await?;
                        return Ok(ConsumeCode::Unknown);
                    };
                    if lock_family(&mut tx, &FamilyId::from_stored(&code.family)).await? {
                        rollback(tx).await?;
                        return Ok(ConsumeCode::FamilyRevoked);
                    }
                    if !mark_once(&mut tx, q::CONSUME_CODE, digest, at).await? {
                        // Consumed before (re-read under the family lock), or purged.
                        let current =
                            find_one::<CodeRow, _>(&mut *tx, q::CODE_BY_DIGEST, digest).await?;
                        rollback(tx).await?;
                        return Ok(match current {
                            Some(code) => ConsumeCode::AlreadyConsumed(Box::new(code)),
                            None => ConsumeCode::Unknown,
                        });
                    };
                    insert_new_tokens(&mut tx, tokens).await?;
                    commit(tx).await?;
                    Ok(ConsumeCode::Consumed)
                }

                async fn insert_tokens(
                    &self,
                    tokens: NewTokens,
                ) -> Result<InsertTokens, StoreError> {
                    let mut tx = self.begin_write().await?;
                    if lock_family(&mut tx, &tokens.access.family).await? {
                        rollback(tx).await?;
                        return Ok(InsertTokens::FamilyRevoked);
                    }
                    insert_new_tokens(&mut tx, tokens).await?;
                    commit(tx).await?;
                    Ok(InsertTokens::Inserted)
                }

                fn find_access_token(
                    &self,
                    digest: Digest,
                ) -> $crate::Lookup<'_, AccessTokenRecord> {
                    $crate::Lookup::later(async move {
                        find_shared::<AccessTokenRow>(
                            &self.pool,
                            q::ACCESS_TOKEN_BY_DIGEST,
                            &digest,
                        )
                        .await
                    })
                }

                async fn find_refresh_token(
                    &self,
                    digest: &Digest,
                ) -> Result<Option<std::sync::Arc<RefreshTokenRecord>>, StoreError> {
                    find_shared::<RefreshTokenRow>(&self.pool, q::REFRESH_TOKEN_BY_DIGEST, digest)
                        .await
                }

                async fn find_refresh_by_handle(
                    &self,
                    handle: &Digest,
                ) -> Result<Option<std::sync::Arc<RefreshTokenRecord>>, StoreError> {
                    find_shared::<RefreshTokenRow>(&self.pool, q::REFRESH_TOKEN_BY_HANDLE, handle)
                        .await
                }

                async fn rotate_refresh(
                    &self,
                    old: &Digest,
                    new: NewTokens,
                    at: OffsetDateTime,
                    forget_rotated_before: OffsetDateTime,
                ) -> Result<RotateRefresh, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let Some(token) = by_digest::<RefreshTokenRow>(q::REFRESH_TOKEN_BY_DIGEST, old)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?
                    else {
                        rollback(tx).await?;
                        return Ok(RotateRefresh::Unknown);
                    };
                    if lock_family(&mut tx, &FamilyId::from_stored(&token.family)).await? {
                        rollback(tx).await?;
                        return Ok(RotateRefresh::Revoked);
                    }
                    if !mark_once(&mut tx, q::ROTATE_REFRESH_TOKEN, old, at).await? {
                        // Used or revoked before (re-read under the family lock), or purged.
                        let current = find_one::<RefreshTokenRow, _>(
                            &mut *tx,
                            q::REFRESH_TOKEN_BY_DIGEST,
                            old,
                        )
                        .await?;
                        rollback(tx).await?;
                        return Ok(match current {
                            Some(r) if r.revoked_at.is_some() => RotateRefresh::Revoked,
                            Some(r) if r.rotated_at.is_some() => {
                                RotateRefresh::AlreadyRotated(Box::new(r))
                            }
                            _ => RotateRefresh::Unknown,
                        });
                    };
                    insert_new_tokens(&mut tx, new).await?;
                    // Forget the handle's rotated tokens past the grace
                    // window (`old` included), still under the family lock.
                    if let (Some(handle), Some(handle_version)) =
                        (token.handle, token.handle_version)
                    {
                        sqlx::query(q::FORGET_ROTATED_REFRESH)
                            .bind(handle)
                            .bind(handle_version)
                            .bind(rows::micros(forget_rotated_before))
                            .bind(token.family)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    commit(tx).await?;
                    Ok(RotateRefresh::Rotated)
                }

                async fn revoke_family(
                    &self,
                    family: &FamilyId,
                    at: OffsetDateTime,
                ) -> Result<u64, StoreError> {
                    let at = rows::micros(at);
                    let mut tx = self.begin_write().await?;
                    sqlx::query(q::REVOKE_FAMILY)
                        .bind(family.as_str().to_owned())
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    let mut revoked = 0;
                    for sql in [q::REVOKE_FAMILY_ACCESS, q::REVOKE_FAMILY_REFRESH] {
                        revoked += sqlx::query(sql)
                            .bind(family.as_str().to_owned())
                            .bind(at)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?
                            .rows_affected();
                    }
                    commit(tx).await?;
                    Ok(revoked)
                }

                async fn revoke_access_token(
                    &self,
                    digest: &Digest,
                    at: OffsetDateTime,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(q::REVOKE_ACCESS_TOKEN)
                        .bind(rows::bytes(digest))
                        .bind(rows::version(digest))
                        .bind(rows::micros(at))
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn purge_expired(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let mut removed = 0;
                    // Tokens first: whether a consumed code is kept depends on
                    // the refresh tokens that remain.
                    for sql in [
                        q::PURGE_ACCESS_TOKENS,
                        q::PURGE_REFRESH_TOKENS,
                        q::PURGE_CODES,
                    ] {
                        removed += sqlx::query(sql)
                            .bind(rows::micros(before))
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?
                            .rows_affected();
                    }
                    commit(tx).await?;
                    // Family rows last and on their own: a family is locked
                    // before its tokens everywhere else, so deleting family
                    // rows while holding token rows could deadlock.
                    sqlx::query(q::PURGE_FAMILIES)
                        .bind(rows::micros(before - MAX_CODE_TTL))
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                    Ok(removed)
                }
            }

            // ----- audit log -----------------------------------------------

            #[async_trait]
            impl AuditSink for $store {
                async fn record(&self, event: AuditEvent) -> Result<(), StoreError> {
                    sqlx::query(q::INSERT_AUDIT_EVENT)
                        .bind(event.tenant.as_str().to_owned())
                        .bind(event.key_id.as_ref().map(|k| k.as_str().to_owned()))
                        .bind(rows::micros(event.at))
                        .bind(event.kind.as_str())
                        .bind(audit_codec::encode(&event)?)
                        .execute(&self.pool)
                        .await
                        .map_err(db_error)?;
                    Ok(())
                }
            }

            #[async_trait]
            impl AuditLog for $store {
                async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
                    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
                    let sql = if query.key_id.is_some() {
                        q::AUDIT_OF_KEY
                    } else {
                        q::AUDIT_OF_TENANT
                    };
                    let mut select = sqlx::query_scalar::<Db, String>(sql)
                        .bind(query.tenant.as_str().to_owned())
                        .bind(limit);
                    if let Some(key) = &query.key_id {
                        select = select.bind(key.as_str().to_owned());
                    }
                    select
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_error)?
                        .iter()
                        .map(|json| audit_codec::decode(json))
                        .collect()
                }
            }
        }
    };
}

pub(super) use impl_sql_stores;
