//! The `ClientStore` and `SigningKeyStore` implementations.

/// Expands, inside a backend's `store_impls` module (see
/// [`impl_sql_stores`](super::impl_sql_stores)), to the `ClientStore` and `SigningKeyStore` implementations.
macro_rules! sql_client_store {
    ($store:ident) => {
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

            async fn delete(&self, tenant: &TenantId, id: &ClientId) -> Result<bool, StoreError> {
                let deleted = sqlx::query(q::DELETE_CLIENT)
                    .bind(tenant.as_str().to_owned())
                    .bind(id.as_str().to_owned())
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                Ok(deleted > 0)
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
    };
}

pub(crate) use sql_client_store;
