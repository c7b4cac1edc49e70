//! SQL stores over [sqlx]: [`SqliteStore`] (feature `sqlite`, the embedded
//! default) and [`PostgresStore`] (feature `postgres`, for many server
//! instances sharing one database).
//!
//! Each store implements every store trait ([`ApiKeyStore`](crate::ApiKeyStore),
//! [`ClientStore`](crate::oauth::ClientStore), [`GrantStore`](crate::oauth::GrantStore),
//! [`AuditSink`](crate::AuditSink) and [`AuditLog`](crate::AuditLog)) over one
//! connection pool, so one value serves all four roles.
//!
//! The design shared by both backends (transactions, locking, schema) is
//! described in the [`store`](crate::store) module's documentation.

mod audit_codec;
mod cache;
mod error;
mod impls;
mod options;
mod queries;
mod rows;

#[cfg(feature = "postgres")]
mod lease;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use cache::CacheConfig;
pub use options::StoreOptions;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Runs `migrator`, tolerating migrations applied by others in the same
/// database (an application sharing the `_sqlx_migrations` table).
async fn run_migrations<'a, A>(
    mut migrator: sqlx::migrate::Migrator,
    pool: A,
) -> Result<(), crate::StoreError>
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    migrator.set_ignore_missing(true);
    migrator.run(pool).await.map_err(error::migrate_error)
}
