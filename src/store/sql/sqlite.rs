//! The SQLite store: the embedded default.

use std::{str::FromStr, sync::Arc};

use sqlx::{
    Sqlite, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{
    CacheConfig, StoreOptions, cache::CredentialCache, error::db_error, impls::impl_sql_stores,
};
use crate::StoreError;

/// Every store trait over one SQLite database (feature `sqlite`).
///
/// Implements [`ApiKeyStore`](crate::ApiKeyStore),
/// [`ClientStore`](crate::oauth::ClientStore),
/// [`GrantStore`](crate::oauth::GrantStore), [`AuditSink`](crate::AuditSink)
/// and [`AuditLog`](crate::AuditLog); share one value (in an `Arc`) among
/// the services. Cloning is cheap and shares the pool.
///
/// [`connect`](Self::connect) creates the database file if it is missing,
/// turns on WAL (readers never wait for the writer) with `synchronous = FULL`
/// (a commit is on disk when it returns), sets a busy timeout and applies the
/// bundled migrations. Writes that must be atomic run in
/// `BEGIN IMMEDIATE` transactions, which also serializes them against other
/// processes using the same file.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use papyrus_auth::{ApiKeys, SqliteStore, oauth::AuthorizationServer};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(SqliteStore::connect("sqlite://papyrus-auth.db").await?);
/// let keys = ApiKeys::new(store.clone(), store.clone());
/// let issuer = "https://auth.example.com".parse()?;
/// let oauth = AuthorizationServer::new(issuer, store.clone(), store.clone(), store);
/// # let _ = (keys, oauth);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    cache: Option<Arc<CredentialCache>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path.db`,
    /// `sqlite:path.db` or `sqlite::memory:`) with the default
    /// [`StoreOptions`], and applies the migrations.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::Unavailable`](crate::StoreErrorKind::Unavailable)
    /// when the file cannot be opened; another kind for a bad URL or a
    /// failed migration.
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
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::other)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Every commit reaches the disk before it returns: a revocation
            // must survive a power cut, not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.acquire_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
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
    /// [`migrate`](Self::migrate)). Configure the pool's connections with a
    /// busy timeout (and preferably WAL) so that concurrent writers wait
    /// for each other instead of failing.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool, cache: None }
    }

    /// Answers hot API keys and access tokens from memory (see
    /// [`CacheConfig`]); every revocation through this store evicts before
    /// it returns. For one process on the database file: another process
    /// writing to it would not be heard.
    pub fn with_credential_cache(mut self, config: CacheConfig) -> Self {
        self.cache = Some(Arc::new(CredentialCache::new(config, false)));
        self
    }

    /// The credential cache, when on.
    fn cache(&self) -> Option<&CredentialCache> {
        self.cache.as_deref()
    }

    /// No single-statement family revocation: the transaction does it.
    #[allow(clippy::unused_async)] // The same signature as PostgreSQL's.
    async fn revoke_family_at_once(
        &self,
        _: &crate::oauth::FamilyId,
        _: i64,
    ) -> Option<Result<(u64, Vec<crate::Digest>), StoreError>> {
        None
    }

    /// After a revocation committed: the cache forgets `digests`.
    async fn invalidated(&self, digests: &[crate::Digest]) -> Result<(), StoreError> {
        if let Some(cache) = &self.cache {
            cache.evict(digests);
        }
        Ok(())
    }

    /// Applies the bundled migrations (`migrations/sqlite`) that are not yet
    /// applied. Idempotent.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails or holds a changed migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        super::run_migrations(sqlx::migrate!("migrations/sqlite"), &self.pool).await
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Grant operations are transactions of several statements: in an
    /// embedded engine a statement is a function call, not a round trip.
    const ONE_STATEMENT: bool = false;

    /// A transaction holding the database's write lock from its start, so
    /// that what it reads cannot change before it writes.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }
}

impl_sql_stores!(SqliteStore, sqlx::Sqlite);
