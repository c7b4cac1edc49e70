//! In-memory stores: the default for tests, examples and single-process use.
//!
//! One file per store; this one holds what they share: records kept by a
//! slot of their digest in sharded maps.

mod api_keys;
mod clients;
mod grants;
mod signing_keys;

use std::sync::Arc;

use dashmap::DashMap;

use crate::{
    Digest, DigestHasherBuilder,
    api_key::ApiKeyRecord,
    oauth::{AccessTokenRecord, AuthorizationCodeRecord, RefreshTokenRecord},
};

pub use api_keys::MemoryApiKeyStore;
pub use clients::MemoryClientStore;
pub use grants::MemoryGrantStore;
pub use signing_keys::MemorySigningKeyStore;

/// Where a record with a given digest is kept in the memory stores' maps:
/// the digest's first 128 bits.
///
/// A digest is 33 bytes (version and SHA-256), so a map entry of a digest
/// and an `Arc` took 48 bytes; a slot makes it 24, and a family's token list
/// 16 bytes per token instead of 33. Lookups compare the record's full
/// digest (in constant time), so a shared prefix can never hand out another
/// record. Two live digests sharing 128 bits (about 2^-80 at ten million
/// tokens) would make an API key insert fail as a conflict, and a newer
/// grant record replace the older.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot([u64; 2]);

impl Slot {
    pub(super) fn of(digest: &Digest) -> Self {
        let bytes = digest.as_bytes();
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_ne_bytes(w)
        };
        Self([word(0), word(8)])
    }
}

impl std::hash::Hash for Slot {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Uniformly distributed: one word is the hash (see `DigestHasher`).
        state.write_u64(self.0[0]);
    }
}

/// Records kept by digest, shared (copy on write).
pub(super) type SlotMap<R> = DashMap<Slot, Arc<R>, DigestHasherBuilder>;

/// Shards of each map that grows with the number of keys or tokens.
///
/// A map grows one shard at a time, and the growing shard stays locked
/// while its entries move to the doubled table, so that pause grows with
/// the shard. With `DashMap`'s default on two cores (8 shards), the slowest
/// code exchange around 1.83 million live token families (where the
/// shards double) took 38 and 126 ms in two runs, and every lookup meeting
/// that shard waited as long; with 64 shards it took 7 to 11 ms (and 0.2
/// to 1.4 ms away from the doubling). 64 shards cost 8 KiB per map and no
/// measurable time per lookup (256 cost 3% on validation at 1M tokens).
const SHARDS: usize = 64;

/// An empty map with [`SHARDS`] shards.
pub(super) fn sharded<K, V, S>() -> DashMap<K, V, S>
where
    K: Eq + std::hash::Hash,
    S: std::hash::BuildHasher + Default + Clone,
{
    DashMap::with_hasher_and_shard_amount(S::default(), SHARDS)
}

/// A record stored under its digest.
pub(super) trait Digested {
    fn digest(&self) -> &Digest;
}

macro_rules! digested {
    ($($record:ty),*) => {$(
        impl Digested for $record {
            fn digest(&self) -> &Digest {
                &self.digest
            }
        }
    )*};
}

digested!(
    ApiKeyRecord,
    AuthorizationCodeRecord,
    AccessTokenRecord,
    RefreshTokenRecord
);

/// The record with exactly this digest (the whole digest compared, in
/// constant time, not only its slot), under its entry's read lock.
pub(super) fn lookup<'a, R: Digested>(
    map: &'a SlotMap<R>,
    digest: &Digest,
) -> Option<dashmap::mapref::one::Ref<'a, Slot, Arc<R>>> {
    map.get(&Slot::of(digest)).filter(|r| r.digest() == digest)
}

/// [`lookup`] under the entry's write lock.
pub(super) fn lookup_mut<'a, R: Digested>(
    map: &'a SlotMap<R>,
    digest: &Digest,
) -> Option<dashmap::mapref::one::RefMut<'a, Slot, Arc<R>>> {
    map.get_mut(&Slot::of(digest))
        .filter(|r| r.digest() == digest)
}
