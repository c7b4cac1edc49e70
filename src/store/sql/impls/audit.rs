//! The `AuditSink` and `AuditLog` implementations.

/// Expands, inside a backend's `store_impls` module (see
/// [`impl_sql_stores`](super::impl_sql_stores)), to the `AuditSink` and `AuditLog` implementations.
macro_rules! sql_audit_log {
    ($store:ident) => {
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
    };
}

pub(crate) use sql_audit_log;
