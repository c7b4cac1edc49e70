//! The credential cache of the SQL stores: hot API keys and access tokens
//! answered from memory, with strict revocation.
//!
//! What must never happen: a credential accepted from memory after a
//! revocation of it returned. The cache guarantees it so:
//!
//! * **In this process**, every write that can end a credential (key
//!   revocation and rotation, access-token and family revocation) evicts it
//!   before it returns; and a lookup that missed puts what it read into the
//!   cache only if no eviction happened since it started reading (the
//!   *epoch*), under the lock of the entry's shard, so a read that began
//!   before a revocation committed can never put the old record back.
//! * **Across instances** (PostgreSQL): each instance that caches holds a
//!   lease in the database (timed by the database's clock) and listens for
//!   invalidations; a revocation publishes one after it committed, and
//!   returns only once every instance that held a lease at that moment has
//!   acknowledged it (after evicting) or its lease has expired. An instance
//!   answers from memory only while its own lease is certainly live: it
//!   counts the lease from *before* it asked for it, on its monotonic
//!   clock, less a margin for clock-rate drift; when a renewal fails, or
//!   its listening connection drops (it may have missed an invalidation),
//!   it stops answering from memory at once, and starts again empty, with
//!   a new lease.
//!
//! Assumptions: the instance's monotonic clock and the database's clock run
//! at rates within [`CacheConfig::lease`]'s 10% margin of each other over a
//! lease (ordinary clocks drift by parts per million; no absolute clock
//! agreement is needed). SQLite has no leases: its cache is for one process
//! on the database file.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use dashmap::DashMap;

use crate::{
    Digest, DigestHasherBuilder,
    api_key::{ApiKeyRecord, KeyId},
    oauth::AccessTokenRecord,
};

/// Settings of the credential cache, for
/// [`StoreOptions::with_credential_cache`](super::StoreOptions::with_credential_cache).
///
/// Off by default. On, hot API keys and access tokens are answered from
/// this process's memory, and a revocation returns only once no instance
/// can accept the credential any more (see the README's "Credential
/// cache").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// The most credentials held (API keys and access tokens each); when
    /// full, a new one replaces an arbitrary one. Defaults to 100,000.
    pub capacity: usize,
    /// How long a lease lasts (PostgreSQL): the longest a revocation waits
    /// for an instance that does not answer (paused, cut off), and the
    /// longest such an instance could go on answering from memory if its
    /// clock ran 10% fast. Renewed every quarter of it. Defaults to 2
    /// seconds; at least 200 ms.
    pub lease: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            lease: Duration::from_secs(2),
        }
    }
}

impl CacheConfig {
    /// Sets [`capacity`](Self::capacity) (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Sets [`lease`](Self::lease) (at least 200 ms).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(200));
        self
    }

    /// How long after asking for a lease the instance trusts it: 90% of it,
    /// the margin covering clock-rate drift.
    pub(super) fn trusted(&self) -> Duration {
        self.lease.mul_f64(0.9)
    }
}

/// The cache itself: records by digest, the epoch, and (PostgreSQL) until
/// when this instance may answer from it.
#[derive(Debug)]
pub(crate) struct CredentialCache {
    config: CacheConfig,
    keys: DashMap<Digest, Arc<ApiKeyRecord>, DigestHasherBuilder>,
    /// Which digest a key id has, to update `last_used_at` in place.
    key_ids: DashMap<KeyId, Digest>,
    tokens: DashMap<Digest, Arc<AccessTokenRecord>, DigestHasherBuilder>,
    /// Bumped by every eviction: a miss caches what it read only if the
    /// epoch did not move while it read.
    epoch: AtomicU64,
    /// Nanoseconds since `origin` until which answers may come from memory
    /// (`u64::MAX` without leases, 0 while none is held).
    trusted_until: AtomicU64,
    origin: Instant,
}

impl CredentialCache {
    /// A cache that needs a lease before it answers (PostgreSQL), or not
    /// (SQLite: one process).
    pub(crate) fn new(config: CacheConfig, needs_lease: bool) -> Self {
        Self {
            config,
            keys: DashMap::with_hasher(DigestHasherBuilder::default()),
            key_ids: DashMap::new(),
            tokens: DashMap::with_hasher(DigestHasherBuilder::default()),
            epoch: AtomicU64::new(0),
            trusted_until: AtomicU64::new(if needs_lease { 0 } else { u64::MAX }),
            origin: Instant::now(),
        }
    }

    pub(crate) fn config(&self) -> &CacheConfig {
        &self.config
    }

    fn since_origin(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether answers may come from memory now.
    pub(crate) fn trusted(&self) -> bool {
        let until = self.trusted_until.load(Ordering::Acquire);
        until == u64::MAX || self.since_origin(Instant::now()) < until
    }

    /// A lease asked for at `asked` was granted: trust the cache until
    /// `asked` plus [`CacheConfig::trusted`]. (Called by the one task that
    /// holds the lease, in order, so a later call always means a later
    /// grant.)
    pub(crate) fn lease_granted(&self, asked: Instant) {
        let until = self.since_origin(asked + self.config.trusted());
        self.trusted_until.store(until, Ordering::Release);
    }

    /// Stops answering from memory, and forgets everything: the lease
    /// lapsed, or an invalidation may have been missed.
    pub(crate) fn distrust(&self) {
        self.trusted_until.store(0, Ordering::Release);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.keys.clear();
        self.key_ids.clear();
        self.tokens.clear();
    }

    /// The epoch, read before a lookup goes to the database.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The cached API key with this digest, if answers may come from memory.
    pub(crate) fn key(&self, digest: &Digest) -> Option<Arc<ApiKeyRecord>> {
        if !self.trusted() {
            return None;
        }
        self.keys.get(digest).map(|r| Arc::clone(&r))
    }

    /// The cached access token with this digest, likewise.
    pub(crate) fn token(&self, digest: &Digest) -> Option<Arc<AccessTokenRecord>> {
        if !self.trusted() {
            return None;
        }
        self.tokens.get(digest).map(|r| Arc::clone(&r))
    }

    /// Caches a key read from the database, unless an eviction happened
    /// since `epoch` was read (decided under the entry's shard lock, which
    /// an eviction of the same digest also takes).
    pub(crate) fn put_key(&self, epoch: u64, record: &Arc<ApiKeyRecord>) {
        if !self.trusted() {
            return;
        }
        make_room(&self.keys, self.config.capacity);
        if let dashmap::Entry::Vacant(slot) = self.keys.entry(record.digest)
            && self.epoch.load(Ordering::Acquire) == epoch
        {
            slot.insert(Arc::clone(record));
            self.key_ids.insert(record.id.clone(), record.digest);
        }
    }

    /// Caches an access token read from the database, likewise.
    pub(crate) fn put_token(&self, epoch: u64, record: &Arc<AccessTokenRecord>) {
        if !self.trusted() {
            return;
        }
        make_room(&self.tokens, self.config.capacity);
        if let dashmap::Entry::Vacant(slot) = self.tokens.entry(record.digest)
            && self.epoch.load(Ordering::Acquire) == epoch
        {
            slot.insert(Arc::clone(record));
        }
    }

    /// Evicts the credentials with these digests (keys or tokens): bumps
    /// the epoch first, then removes, so a concurrent miss either sees the
    /// new epoch or is removed after it inserted.
    pub(crate) fn evict(&self, digests: &[Digest]) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for d in digests {
            if let Some((_, key)) = self.keys.remove(d) {
                self.key_ids.remove(&key.id);
            }
            self.tokens.remove(d);
        }
    }

    /// Records a last use in the cached copy of key `id` (the database was
    /// written, or another instance wrote within the window): the next
    /// requests see it and do not try the write again before the window
    /// ends.
    pub(crate) fn used(&self, id: &KeyId, at: time::OffsetDateTime) {
        let Some(digest) = self.key_ids.get(id).map(|d| *d) else {
            return;
        };
        if let Some(mut entry) = self.keys.get_mut(&digest) {
            let mut record = ApiKeyRecord::clone(&entry);
            record.last_used_at = Some(at);
            *entry = Arc::new(record);
        }
    }
}

/// Keeps `map` under `capacity` entries, dropping arbitrary ones.
fn make_room<V>(map: &DashMap<Digest, V, DigestHasherBuilder>, capacity: usize) {
    if map.len() < capacity {
        return;
    }
    let victims: Vec<Digest> = map
        .iter()
        .take(map.len() + 1 - capacity)
        .map(|e| *e.key())
        .collect();
    for d in victims {
        map.remove(&d);
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::{DigestVersion, oauth::FamilyId};

    fn token(n: u8) -> Arc<AccessTokenRecord> {
        let at = datetime!(2026-06-01 12:00 UTC);
        Arc::new(AccessTokenRecord {
            digest: Digest::from_parts(DigestVersion::Sha256, [n; 32]),
            family: FamilyId::from_stored("fam_a"),
            tenant: "acme".parse().unwrap(),
            client_id: crate::oauth::ClientId::parse("spa").unwrap(),
            subject: "alice".into(),
            scopes: "documents:read".parse().unwrap(),
            issued_at: at,
            expires_at: at + time::Duration::hours(1),
            revoked_at: None,
            audience: crate::oauth::Resources::none(),
        })
    }

    #[test]
    fn a_read_that_began_before_an_eviction_is_not_cached() {
        let cache = CredentialCache::new(CacheConfig::default(), false);
        let t = token(1);
        let before = cache.epoch();
        cache.evict(&[t.digest]); // a revocation lands while the read runs
        cache.put_token(before, &t);
        assert!(cache.token(&t.digest).is_none());
        // A read that began after it is.
        cache.put_token(cache.epoch(), &t);
        assert!(cache.token(&t.digest).is_some());
        cache.evict(&[t.digest]);
        assert!(cache.token(&t.digest).is_none());
    }

    #[test]
    fn without_a_live_lease_nothing_is_answered_or_kept() {
        let cache = CredentialCache::new(CacheConfig::default(), true);
        let t = token(2);
        cache.put_token(cache.epoch(), &t);
        assert!(cache.token(&t.digest).is_none(), "no lease yet");
        cache.lease_granted(Instant::now());
        cache.put_token(cache.epoch(), &t);
        assert!(cache.token(&t.digest).is_some());
        // A lease asked for long ago is over: distrusted until renewed.
        let stale = CredentialCache::new(CacheConfig::default(), true);
        stale.lease_granted(Instant::now() - Duration::from_secs(10));
        assert!(!stale.trusted());
        cache.distrust();
        assert!(!cache.trusted());
        assert!(cache.token(&t.digest).is_none());
        cache.lease_granted(Instant::now());
        assert!(cache.token(&t.digest).is_none(), "emptied when distrusted");
    }

    #[test]
    fn the_capacity_bounds_the_cache() {
        let cache = CredentialCache::new(CacheConfig::default().with_capacity(3), false);
        for n in 0..10 {
            cache.put_token(cache.epoch(), &token(n));
        }
        assert!(cache.tokens.len() <= 3);
    }
}
