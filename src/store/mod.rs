//! Store implementations (all re-exported at the crate root).
//!
//! The in-memory stores ([`MemoryApiKeyStore`], [`MemoryClientStore`],
//! [`MemoryGrantStore`]) are always available; the SQL stores come behind
//! cargo features: `SqliteStore` (`sqlite`, the embedded default) and
//! `PostgresStore` (`postgres`, for many server instances sharing one
//! database). Each SQL store implements every store trait over one
//! connection pool, so one value serves all roles; `connect` applies the
//! bundled migrations unless `StoreOptions::with_migrations(false)` is
//! passed to `connect_with`.
//!
//! # SQL stores: one design, two backends
//!
//! Both backends share the schema's shape (`migrations/sqlite` and
//! `migrations/postgres` differ only in type names), the SQL text (portable,
//! with `$1`-style parameters, which SQLite accepts too), the row decoding
//! and the trait implementations themselves. What differs is how an atomic
//! step runs:
//!
//! * **SQLite**: a transaction begun with `BEGIN IMMEDIATE`, which takes the
//!   database's write lock at once. Writers (in this process or another)
//!   queue on the busy timeout; readers go on in parallel (WAL mode). A
//!   statement is a function call here, not a round trip, so the steps stay
//!   separate statements.
//! * **PostgreSQL**: one statement per operation. `consume_code`,
//!   `insert_tokens`, `rotate_refresh` and `revoke_family` call PL/pgSQL
//!   functions (migration `0004_one_round_trip`) that run the same steps in
//!   the statement's own transaction: lock the token family's row first
//!   (`SELECT … FOR UPDATE`, or an upsert for a family seen for the first
//!   time), refuse a revoked family, set the single-use marker with a
//!   conditional `UPDATE … WHERE consumed_at IS NULL` (re-checked by
//!   PostgreSQL after waiting for a concurrent writer), then insert. One
//!   round trip instead of a transaction of about eight.
//!
//! Consuming a code, inserting tokens, rotating a refresh token and revoking
//! a family all lock the family row first, so they are serialized per family
//! across every process sharing the database.
//!
//! Without the credential cache nothing is cached: a revocation is seen by
//! every instance at its next lookup. With it
//! ([`StoreOptions::with_credential_cache`](crate::StoreOptions::with_credential_cache)),
//! hot API keys and access tokens are answered from memory, and a
//! revocation returns only once no instance can accept the credential (see
//! [`CacheConfig`] and the README's "Credential cache").
//!
//! # SQL schema and secrets
//!
//! Secrets are stored only as digests (`digest` bytes with their
//! `digest_version`) under unique indexes; no column holds a plaintext. A
//! refresh token's row also holds its family's handle digest (`handle`,
//! `handle_version`; `NULL` for tokens issued before handles, migration
//! `0002_refresh_handle`).
//! Times are stored as integer microseconds since the Unix epoch, so records
//! read back are truncated to the microsecond.

mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

pub use memory::{MemoryApiKeyStore, MemoryClientStore, MemoryGrantStore, MemorySigningKeyStore};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisCounters;
#[cfg(feature = "postgres")]
pub use sql::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sql::SqliteStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::{CacheConfig, StoreOptions};
