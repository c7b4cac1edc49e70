//! Keys the HTTP layer signs with (consent-form CSRF tokens, sign-in device
//! cookies), kept in a store so that every instance of a fleet signs and
//! verifies with the same ones.
//!
//! A key ring has **generations**: generation 1 is created by whichever
//! instance needs a key first, and generation *n + 1* by whichever instance
//! first finds generation *n* older than the rotation period. Creation is an
//! insert that keeps the first writer ([`SigningKeyStore::insert_signing_key`]),
//! so instances starting or rotating at the same moment agree on one key.
//! Everything signed names the generation that signed it, and a generation
//! keeps verifying for an overlap after its successor appears, so a form
//! drawn under the old key before a rotation still verifies after it, on
//! any instance.
//!
//! The rules are pure functions of the ring and `now` (`plan`, `verifies`), tested below
//! with fixed times.

use std::{fmt, sync::Arc};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::StoreError;

/// Bytes of a signing key's secret.
pub const SIGNING_KEY_LEN: usize = 32;

/// One generation of a key ring.
#[derive(Clone)]
#[non_exhaustive]
pub struct SigningKey {
    /// The generation: 1 for a ring's first key, one more for each rotation.
    pub generation: u64,
    /// When it was created.
    pub created_at: OffsetDateTime,
    secret: Arc<Zeroizing<[u8; SIGNING_KEY_LEN]>>,
}

impl SigningKey {
    /// A new key of `generation` with random secret bytes.
    pub fn generate(generation: u64, created_at: OffsetDateTime) -> Self {
        let mut secret = Zeroizing::new([0u8; SIGNING_KEY_LEN]);
        rand::RngExt::fill(&mut rand::rng(), &mut secret[..]);
        Self::from_parts(generation, created_at, secret)
    }

    /// A key from stored parts (for store implementations).
    pub fn from_parts(
        generation: u64,
        created_at: OffsetDateTime,
        secret: Zeroizing<[u8; SIGNING_KEY_LEN]>,
    ) -> Self {
        Self {
            generation,
            created_at,
            secret: Arc::new(secret),
        }
    }

    /// The secret bytes.
    ///
    /// # Security
    ///
    /// For signing and for a store to keep; never log them.
    pub fn expose_secret(&self) -> &[u8; SIGNING_KEY_LEN] {
        &self.secret
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq as _;
        self.generation == other.generation
            && self.created_at == other.created_at
            && bool::from(self.secret.ct_eq(&other.secret[..]))
    }
}

/// Where key rings live. One ring per `purpose` (a short ASCII name, such
/// as `"http"`). Usable as `Arc<dyn SigningKeyStore>`; the memory, SQLite
/// and PostgreSQL stores implement it.
///
/// # Security
///
/// The store holds the secret bytes as they are (a signing key cannot be
/// kept as a digest): whoever reads the store can sign. What the HTTP layer
/// signs is bound to a browser's cookie as well (see `THREAT_MODEL.md`).
#[async_trait]
pub trait SigningKeyStore: fmt::Debug + Send + Sync + 'static {
    /// Every key of `purpose`'s ring, in any order.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn signing_keys(&self, purpose: &str) -> Result<Vec<SigningKey>, StoreError>;

    /// Stores `key` in `purpose`'s ring unless the ring has a key of its
    /// generation already; whether it was stored. Atomic: of concurrent
    /// inserts of one generation, exactly one is stored and the others get
    /// `false`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails (not for an existing generation).
    async fn insert_signing_key(&self, purpose: &str, key: &SigningKey)
    -> Result<bool, StoreError>;

    /// Deletes the keys of `purpose`'s ring older than `generation`; how
    /// many were deleted.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    async fn delete_signing_keys_before(
        &self,
        purpose: &str,
        generation: u64,
    ) -> Result<u64, StoreError>;
}

/// When a ring rotates and how long a superseded key keeps verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rotation {
    /// A key older than this is replaced by a new generation.
    pub(crate) every: Duration,
    /// A key keeps verifying this long after its successor is created: at
    /// least the life of anything it signed.
    pub(crate) overlap: Duration,
}

/// What a ring should sign with now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// The newest key, which is current.
    Sign(u64),
    /// The ring is empty or its newest key is due for rotation: create this
    /// generation (unless another instance did).
    Create(u64),
}

/// What to sign with, given the ring's `keys` at `now`.
pub(crate) fn plan(keys: &[SigningKey], now: OffsetDateTime, rotation: Rotation) -> Plan {
    match keys.iter().max_by_key(|k| k.generation) {
        None => Plan::Create(1),
        Some(newest) if now >= newest.created_at.saturating_add(rotation.every) => {
            Plan::Create(newest.generation.saturating_add(1))
        }
        Some(newest) => Plan::Sign(newest.generation),
    }
}

/// Whether the key of `generation` in `keys` verifies at `now`: it is the
/// newest, or its successor was created less than the overlap ago.
pub(crate) fn verifies(
    keys: &[SigningKey],
    generation: u64,
    now: OffsetDateTime,
    rotation: Rotation,
) -> bool {
    if !keys.iter().any(|k| k.generation == generation) {
        return false;
    }
    let successor = keys
        .iter()
        .filter(|k| k.generation > generation)
        .min_by_key(|k| k.generation);
    match successor {
        None => true,
        Some(s) => now < s.created_at.saturating_add(rotation.overlap),
    }
}

/// The oldest generation that still verifies at `now`: older ones may go.
pub(crate) fn oldest_needed(
    keys: &[SigningKey],
    now: OffsetDateTime,
    rotation: Rotation,
) -> Option<u64> {
    keys.iter()
        .map(|k| k.generation)
        .filter(|&g| verifies(keys, g, now, rotation))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROTATION: Rotation = Rotation {
        every: Duration::days(7),
        overlap: Duration::days(31),
    };

    fn at(day: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(20_000 + day)
    }

    #[test]
    fn an_empty_ring_creates_generation_one() {
        assert_eq!(plan(&[], at(0), ROTATION), Plan::Create(1));
    }

    #[test]
    fn the_newest_key_signs_until_it_is_due() {
        let ring = [
            SigningKey::generate(1, at(0)),
            SigningKey::generate(2, at(7)),
        ];
        assert_eq!(plan(&ring, at(8), ROTATION), Plan::Sign(2));
        assert_eq!(plan(&ring, at(14), ROTATION), Plan::Create(3));
    }

    #[test]
    fn a_superseded_key_verifies_for_the_overlap() {
        let ring = [
            SigningKey::generate(1, at(0)),
            SigningKey::generate(2, at(7)),
        ];
        assert!(verifies(&ring, 2, at(100), ROTATION), "the newest always");
        assert!(verifies(&ring, 1, at(37), ROTATION));
        assert!(!verifies(&ring, 1, at(38), ROTATION));
        assert!(
            !verifies(&ring, 3, at(8), ROTATION),
            "an unknown generation"
        );
        assert_eq!(oldest_needed(&ring, at(37), ROTATION), Some(1));
        assert_eq!(oldest_needed(&ring, at(38), ROTATION), Some(2));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = SigningKey::generate(1, at(0));
        let shown = format!("{key:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains(&format!("{:?}", key.expose_secret())));
    }
}
