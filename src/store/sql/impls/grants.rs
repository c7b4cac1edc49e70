//! The `GrantStore` implementation.

/// Expands, inside a backend's `store_impls` module (see
/// [`impl_sql_stores`](super::impl_sql_stores)), to the `GrantStore` implementation.
macro_rules! sql_grant_store {
    ($store:ident) => {
        // ----- codes and tokens ----------------------------------------

        #[async_trait]
        impl GrantStore for $store {
            async fn insert_code(&self, code: AuthorizationCodeRecord) -> Result<(), StoreError> {
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
                if $store::ONE_STATEMENT {
                    let call = sqlx::query(q::CONSUME_CODE_FN)
                        .bind(rows::bytes(digest))
                        .bind(rows::version(digest))
                        .bind(rows::micros(at));
                    return match call_fn(&self.pool, bind_tokens(call, &tokens))
                        .await?
                        .as_str()
                    {
                        "consumed" => Ok(ConsumeCode::Consumed),
                        "family_revoked" => Ok(ConsumeCode::FamilyRevoked),
                        "already_consumed" => Ok(
                            match find_one::<CodeRow, _>(&self.pool, q::CODE_BY_DIGEST, digest)
                                .await?
                            {
                                Some(code) => ConsumeCode::AlreadyConsumed(Box::new(code)),
                                None => ConsumeCode::Unknown,
                            },
                        ),
                        _ => Ok(ConsumeCode::Unknown),
                    };
                }
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

            async fn insert_tokens(&self, tokens: NewTokens) -> Result<InsertTokens, StoreError> {
                if $store::ONE_STATEMENT {
                    let call = bind_tokens(sqlx::query(q::INSERT_TOKENS_FN), &tokens);
                    return Ok(match call_fn(&self.pool, call).await?.as_str() {
                        "inserted" => InsertTokens::Inserted,
                        _ => InsertTokens::FamilyRevoked,
                    });
                }
                let mut tx = self.begin_write().await?;
                if lock_family(&mut tx, &tokens.access.family).await? {
                    rollback(tx).await?;
                    return Ok(InsertTokens::FamilyRevoked);
                }
                insert_new_tokens(&mut tx, tokens).await?;
                commit(tx).await?;
                Ok(InsertTokens::Inserted)
            }

            fn find_access_token(&self, digest: Digest) -> $crate::Lookup<'_, AccessTokenRecord> {
                let cache = self.cache();
                if let Some(hit) = cache.and_then(|c| c.token(&digest)) {
                    return $crate::Lookup::now(Ok(Some(hit)));
                }
                let epoch = cache.map(|c| c.epoch());
                $crate::Lookup::later(async move {
                    let found = find_shared::<AccessTokenRow>(
                        &self.pool,
                        q::ACCESS_TOKEN_BY_DIGEST,
                        &digest,
                    )
                    .await?;
                    if let (Some(cache), Some(epoch), Some(record)) = (cache, epoch, &found) {
                        cache.put_token(epoch, record);
                    }
                    Ok(found)
                })
            }

            async fn find_refresh_token(
                &self,
                digest: &Digest,
            ) -> Result<Option<std::sync::Arc<RefreshTokenRecord>>, StoreError> {
                find_shared::<RefreshTokenRow>(&self.pool, q::REFRESH_TOKEN_BY_DIGEST, digest).await
            }

            async fn find_refresh_by_handle(
                &self,
                handle: &Digest,
            ) -> Result<Option<std::sync::Arc<RefreshTokenRecord>>, StoreError> {
                find_shared::<RefreshTokenRow>(&self.pool, q::REFRESH_TOKEN_BY_HANDLE, handle).await
            }

            async fn rotate_refresh(
                &self,
                old: &Digest,
                new: NewTokens,
                at: OffsetDateTime,
                forget_rotated_before: OffsetDateTime,
            ) -> Result<RotateRefresh, StoreError> {
                if $store::ONE_STATEMENT {
                    let call = sqlx::query(q::ROTATE_REFRESH_FN)
                        .bind(rows::bytes(old))
                        .bind(rows::version(old))
                        .bind(rows::micros(at))
                        .bind(rows::micros(forget_rotated_before));
                    return match call_fn(&self.pool, bind_tokens(call, &new)).await?.as_str() {
                        "rotated" => Ok(RotateRefresh::Rotated),
                        "revoked" => Ok(RotateRefresh::Revoked),
                        "already_rotated" => Ok(
                            match find_one::<RefreshTokenRow, _>(
                                &self.pool,
                                q::REFRESH_TOKEN_BY_DIGEST,
                                old,
                            )
                            .await?
                            {
                                Some(r) => RotateRefresh::AlreadyRotated(Box::new(r)),
                                None => RotateRefresh::Unknown,
                            },
                        ),
                        _ => Ok(RotateRefresh::Unknown),
                    };
                }
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
                    let current =
                        find_one::<RefreshTokenRow, _>(&mut *tx, q::REFRESH_TOKEN_BY_DIGEST, old)
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
                if let (Some(handle), Some(handle_version)) = (token.handle, token.handle_version) {
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
                if let Some(done) = self.revoke_family_at_once(family, at).await {
                    let (revoked, digests) = done?;
                    self.invalidated(&digests).await?;
                    return Ok(revoked);
                }
                let mut tx = self.begin_write().await?;
                // The access tokens it revokes, for the credential cache.
                let live: Vec<(Vec<u8>, i16)> =
                    sqlx::query_as::<Db, (Vec<u8>, i16)>(q::LIVE_FAMILY_ACCESS)
                        .bind(family.as_str().to_owned())
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db_error)?;
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
                let digests: Vec<Digest> = live
                    .into_iter()
                    .filter_map(|(bytes, version)| rows::digest(bytes, version).ok())
                    .collect();
                self.invalidated(&digests).await?;
                Ok(revoked)
            }

            async fn families_of_client(
                &self,
                tenant: &TenantId,
                client: &ClientId,
            ) -> Result<Vec<FamilyId>, StoreError> {
                let families: Vec<String> = sqlx::query_scalar::<Db, String>(q::FAMILIES_OF_CLIENT)
                    .bind(tenant.as_str().to_owned())
                    .bind(client.as_str().to_owned())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(families.iter().map(|f| FamilyId::from_stored(f)).collect())
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
                // Invalidated even when revoked before (in case that call
                // failed after its commit): it must not stay in any cache.
                self.invalidated(&[*digest]).await?;
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
    };
}

pub(crate) use sql_grant_store;
