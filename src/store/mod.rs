//! Store implementations.
//!
//! The in-memory stores are always available; database stores come behind
//! cargo features.

mod memory;

pub use memory::{MemoryApiKeyStore, MemoryClientStore, MemoryGrantStore};
