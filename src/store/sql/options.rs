//! Connection options shared by the SQL stores.

use std::time::Duration;

use super::CacheConfig;

/// How [`SqliteStore::connect_with`](crate::SqliteStore) and
/// [`PostgresStore::connect_with`](crate::PostgresStore) connect.
///
/// For anything else (TLS, statement cache, pool hooks) build the sqlx pool
/// yourself and use `from_pool`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use papyrus_auth::StoreOptions;
///
/// // The schema is managed elsewhere; fail fast when the database is down.
/// let options = StoreOptions::new()
///     .with_migrations(false)
///     .with_acquire_timeout(Duration::from_secs(2));
/// assert!(!options.migrate);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Whether to run the bundled migrations on connect. Defaults to `true`.
    ///
    /// Migrations are recorded in sqlx's `_sqlx_migrations` table. Running
    /// them is idempotent and safe from several processes at once.
    pub migrate: bool,
    /// The most pooled connections. Defaults to 10.
    pub max_connections: u32,
    /// How long a call waits for a connection (a pooled one, or a new one
    /// being established) before failing with
    /// [`StoreErrorKind::Unavailable`](crate::StoreErrorKind::Unavailable).
    /// With SQLite it is also the busy timeout: how long a write waits for
    /// another writer's lock. Defaults to 5 seconds.
    pub acquire_timeout: Duration,
    /// The credential cache: hot API keys and access tokens answered from
    /// memory, with strict revocation across instances (see
    /// [`CacheConfig`]). Defaults to `None`, off.
    pub credential_cache: Option<CacheConfig>,
}

impl StoreOptions {
    /// The defaults: migrate, 10 connections, 5 second timeout.
    pub fn new() -> Self {
        Self {
            migrate: true,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            credential_cache: None,
        }
    }

    /// Runs (`true`, the default) or skips the bundled migrations on connect.
    pub fn with_migrations(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Sets the most pooled connections (at least 1).
    pub fn with_max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Sets how long a call waits for a connection or a lock.
    pub fn with_acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Turns the credential cache on with `config` (see [`CacheConfig`]).
    /// With PostgreSQL, connect from within a Tokio runtime: the cache
    /// holds its lease from background tasks.
    pub fn with_credential_cache(mut self, config: CacheConfig) -> Self {
        self.credential_cache = Some(config);
        self
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self::new()
    }
}
