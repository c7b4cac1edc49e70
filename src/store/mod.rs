//! Store implementations.
//!
//! The in-memory stores are always available; database stores come behind
//! cargo features (`sqlite`, `postgres`).

mod memory;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

pub use memory::{MemoryApiKeyStore, MemoryClientStore, MemoryGrantStore};
#[cfg(feature = "postgres")]
pub use sql::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sql::SqliteStore;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use sql::StoreOptions;
