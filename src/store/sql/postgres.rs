//! The PostgreSQL store: many server instances sharing one database.

use sqlx::{PgPool, Postgres, Transaction, postgres::PgPoolOptions};

use super::{StoreOptions, error::db_error, impls::impl_sql_stores};
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
        let store = Self::from_pool(pool);
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// A store over an existing pool, as is: no migrations are run (see
    /// [`migrate`](Self::migrate)).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
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

    /// A read-committed transaction; the steps inside lock the rows they
    /// decide on.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(db_error)
    }
}

impl_sql_stores!(PostgresStore, sqlx::Postgres);
