//! The PostgreSQL store: many server instances sharing one database.

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction, postgres::PgPoolOptions};

use super::{
    CacheConfig, StoreOptions, cache::CredentialCache, error::db_error, impls::impl_sql_stores,
    lease::LeaseHolder,
};
use crate::StoreError;

/// Every store trait over one PostgreSQL database (feature `postgres`).
///
/// Implements [`ApiKeyStore`](crate::ApiKeyStore),
/// [`ClientStore`](crate::oauth::ClientStore),
/// [`GrantStore`](crate::oauth::GrantStore), [`AuditSink`](crate::AuditSink)
/// and [`AuditLog`](crate::AuditLog); share one value (in an `Arc`) among
/// the services. Cloning is cheap and shares the pool.
///
/// Any number of server instances may share the database: atomic steps
/// lock the row they decide on (a token family, a code, a refresh token, a
/// key) inside a transaction, so a code is exchanged and a refresh token
/// rotated exactly once across all of them, and nothing is cached, so a
/// revocation is seen by every instance at its next request.
///
/// The tables are created in the connection's `search_path` (normally
/// `public`). To keep them apart, give the store its own schema, for
/// example `postgres://…/db?options=-c%20search_path%3Dpapyrus`.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use papyrus_auth::{ApiKeys, PostgresStore, oauth::AuthorizationServer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(PostgresStore::connect("postgres://papyrus@db.internal/papyrus").await?);
/// let keys = ApiKeys::new(store.clone(), store.clone());
/// let issuer = "https://auth.example.com".parse()?;
/// let oauth = AuthorizationServer::new(issuer, store.clone(), store.clone(), store);
/// # let _ = (keys, oauth);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    cache: Option<Arc<CredentialCache>>,
    /// The cache's lease, held by background tasks that stop with the
    /// store's last clone.
    lease: Option<Arc<LeaseHolder>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`)
    /// with the default [`StoreOptions`], and applies the migrations.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Unavailable`](crate::StoreErrorKind::Unavailable)
    /// when the server cannot be reached within the acquire timeout; another
    /// kind for a bad URL, refused credentials or a failed migration.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Like [`connect`](Self::connect), with `options` (for example without
    /// migrations).
    ///
    /// # Errors
    ///
    /// As for [`connect`](Self::connect).
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect(url)
            .await
            .map_err(db_error)?;
        let mut store = Self::from_pool(pool);
        if options.migrate {
            store.migrate().await?;
        }
        if let Some(config) = options.credential_cache {
            store = store.with_credential_cache(config);
        }
        Ok(store)
    }

    /// A store over an existing pool, as is: no migrations are run (see
    /// [`migrate`](Self::migrate)).
    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            cache: None,
            lease: None,
        }
    }

    /// Answers hot API keys and access tokens from memory (see
    /// [`CacheConfig`]) while this instance holds a lease in the database;
    /// starts the background tasks that hold it, so call it within a Tokio
    /// runtime. A revocation by any instance returns only once no instance
    /// can accept the credential any more. Needs migration
    /// `0005_credential_cache`.
    pub fn with_credential_cache(mut self, config: CacheConfig) -> Self {
        let cache = Arc::new(CredentialCache::new(config, true));
        self.lease = Some(Arc::new(LeaseHolder::start(self.pool.clone(), &cache)));
        self.cache = Some(cache);
        self
    }

    /// Whether answers come from memory now (a lease is held).
    pub fn cache_is_live(&self) -> bool {
        self.cache.as_ref().is_some_and(|c| c.trusted())
    }

    /// The credential cache, when on.
    fn cache(&self) -> Option<&CredentialCache> {
        self.cache.as_deref()
    }

    /// The family revocation in one statement (migration 0004): how many
    /// tokens it revoked, and the digests of the access tokens among them.
    async fn revoke_family_at_once(
        &self,
        family: &crate::oauth::FamilyId,
        at: i64,
    ) -> Option<Result<(u64, Vec<crate::Digest>), StoreError>> {
        let done =
            sqlx::query_as::<Postgres, (i64, Vec<Vec<u8>>)>(super::queries::REVOKE_FAMILY_FN)
                .bind(family.as_str().to_owned())
                .bind(at)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error);
        Some(done.map(|(revoked, bytes)| {
            let digests = bytes
                .into_iter()
                .filter_map(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                // Either version: evicting a digest never cached is harmless.
                .flat_map(|b| {
                    [
                        crate::Digest::from_parts(crate::DigestVersion::Sha256, b),
                        crate::Digest::from_parts(crate::DigestVersion::HmacSha256, b),
                    ]
                })
                .collect();
            (u64::try_from(revoked).unwrap_or(0), digests)
        }))
    }

    /// After a revocation committed: this instance's cache forgets
    /// `digests`, then every other caching instance is told, and this
    /// returns once none can accept them (at once when none caches).
    async fn invalidated(&self, digests: &[crate::Digest]) -> Result<(), StoreError> {
        if let Some(cache) = &self.cache {
            cache.evict(digests);
        }
        super::lease::invalidate(&self.pool, digests).await
    }

    /// Applies the bundled migrations (`migrations/postgres`) that are not
    /// yet applied. Idempotent, and safe from several instances at once
    /// (sqlx holds an advisory lock while migrating).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or holds a changed migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        super::run_migrations(sqlx::migrate!("migrations/postgres"), &self.pool).await
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Grant operations are one statement each: the functions of migration
    /// `0004_one_round_trip` (one round trip instead of a transaction of
    /// about eight).
    const ONE_STATEMENT: bool = true;

    /// A read-committed transaction; the steps inside lock the rows they
    /// decide on.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(db_error)
    }
}

impl_sql_stores!(PostgresStore, sqlx::Postgres);
