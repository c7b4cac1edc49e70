//! The shared steps: row binders, the one by-digest lookup, transaction steps.

/// Expands, inside a backend's `store_impls` module (see
/// [`impl_sql_stores`](super::impl_sql_stores)), to the shared steps: row binders, the one by-digest lookup, transaction steps.
macro_rules! sql_steps {
    () => {
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
                .bind(r.grant_types)
                .bind(r.registration_digest)
                .bind(r.registration_digest_version)
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
                .bind(r.resources)
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
                .bind(r.audience)
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
                .bind(r.resources)
        }

        /// Binds new tokens as the PostgreSQL functions take them: the
        /// access token's eleven columns, then the refresh token's fifteen
        /// (NULLs without one).
        fn bind_tokens(q: Query, tokens: &NewTokens) -> Query {
            let q = bind_access(q, AccessTokenRow::from_record(&tokens.access));
            match &tokens.refresh {
                Some(r) => bind_refresh(q, RefreshTokenRow::from_record(r)),
                None => q
                    .bind(None::<Vec<u8>>)
                    .bind(None::<i16>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(None::<Vec<u8>>)
                    .bind(None::<i16>)
                    .bind(None::<String>),
            }
        }

        /// Runs one of the PostgreSQL functions, answering its outcome.
        async fn call_fn(pool: &sqlx::Pool<Db>, q: Query) -> Result<String, StoreError> {
            use sqlx::Row as _;
            let row = q.fetch_one(pool).await.map_err(db_error)?;
            row.try_get::<String, _>(0).map_err(db_error)
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

        async fn insert_new_tokens(conn: &mut Conn, tokens: NewTokens) -> Result<(), StoreError> {
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
    };
}

pub(crate) use sql_steps;
