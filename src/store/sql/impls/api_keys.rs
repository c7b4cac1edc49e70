//! The `ApiKeyStore` implementation.

/// Expands, inside a backend's `store_impls` module (see
/// [`impl_sql_stores`](super::impl_sql_stores)), to the `ApiKeyStore` implementation.
macro_rules! sql_api_key_store {
    ($store:ident) => {
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
                let cache = self.cache();
                if let Some(hit) = cache.and_then(|c| c.key(&digest)) {
                    return $crate::Lookup::now(Ok(Some(hit)));
                }
                let epoch = cache.map(|c| c.epoch());
                $crate::Lookup::later(async move {
                    let found =
                        find_shared::<ApiKeyRow>(&self.pool, q::API_KEY_BY_DIGEST, &digest).await?;
                    if let (Some(cache), Some(epoch), Some(record)) = (cache, epoch, &found) {
                        cache.put_key(epoch, record);
                    }
                    Ok(found)
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
                let old = marked.into_record()?;
                // Its expiry changed: no instance may answer the old record.
                self.invalidated(&[old.digest]).await?;
                Ok(RotateOutcome::Rotated(Box::new(old)))
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
                drop(conn);
                if let Some(row) = revoked {
                    let record = row.into_record()?;
                    self.invalidated(&[record.digest]).await?;
                    return Ok(RevokeOutcome::Revoked(Box::new(record)));
                }
                // Nothing updated: revoked before (revocation is final), or
                // absent. Revoked before: invalidated again, in case the
                // first call failed after its commit.
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                let current = key_by_id(&mut conn, tenant, id).await?;
                drop(conn);
                Ok(match current {
                    Some(r) if r.revoked_at.is_some() => {
                        self.invalidated(&[r.digest]).await?;
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
                // Written now, or by another instance within the window:
                // either way the cached copy need not try again soon.
                if let Some(cache) = self.cache() {
                    cache.used(id, at);
                }
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use sql_api_key_store;
