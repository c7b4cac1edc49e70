//! What the HTTP layer signs: consent-form CSRF tokens and sign-in device
//! cookies, with a key ring kept in a [`SigningKeyStore`] so that a form
//! drawn by one instance verifies on any other.

use std::{
    fmt,
    sync::{Arc, Mutex, RwLock},
    time::Instant,
};

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::{
    StoreError, TenantId,
    signing::{self, Plan, Rotation, SigningKey, SigningKeyStore},
};

/// The name of the CSRF cookie set with the consent form.
pub const CSRF_COOKIE: &str = "papyrus_csrf";

/// The name of the device cookie set after a successful sign-in (see
/// [`crate::throttle::SignInLimits`]).
pub const DEVICE_COOKIE: &str = "papyrus_device";

/// How long a consent form stays valid.
pub(crate) const CSRF_TTL: Duration = Duration::minutes(10);

/// The ring the HTTP layer's keys are kept in.
const PURPOSE: &str = "http";

/// How often the ring rotates.
const ROTATE_EVERY: Duration = Duration::days(7);

/// Reloads of the ring for a generation newer than any known, at most one
/// per this long (a forged generation cannot make every request read the
/// store).
const RELOAD_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// An explicit signing secret for the HTTP layer, overriding the key ring
/// in the store: every instance given the same secret signs alike, and
/// nothing is read from or written to the store.
///
/// Without one, keys are created in the [`SigningKeyStore`] given to
/// [`HttpAuth::with_signing_keys`](super::HttpAuth::with_signing_keys)
/// (in process memory when none is given) and rotated weekly.
#[derive(Clone)]
pub struct CsrfKey(SigningKey);

impl CsrfKey {
    /// A random key, known to this process only.
    pub fn random() -> Self {
        Self(SigningKey::generate(0, OffsetDateTime::UNIX_EPOCH))
    }

    /// A key derived from a shared secret (any length; use at least 32
    /// random bytes).
    pub fn from_secret(secret: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"papyrus-auth http signing key\0");
        h.update(secret.as_bytes());
        let bytes: [u8; signing::SIGNING_KEY_LEN] = h.finalize().into();
        Self(SigningKey::from_parts(
            0,
            OffsetDateTime::UNIX_EPOCH,
            zeroize::Zeroizing::new(bytes),
        ))
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

/// The HTTP layer's keys: one explicit key, or a ring in a store.
pub(crate) struct KeyRing {
    source: Source,
    rotation: Rotation,
    /// The ring as last read from the store.
    cached: RwLock<Arc<Vec<SigningKey>>>,
    /// When the ring was last reloaded for an unknown generation.
    last_reload: Mutex<Option<Instant>>,
}

enum Source {
    Fixed(SigningKey),
    Store(Arc<dyn SigningKeyStore>),
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Fixed(_) => "fixed",
            Source::Store(_) => "store",
        };
        f.debug_struct("KeyRing")
            .field("source", &source)
            .field("rotation", &self.rotation)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// One explicit key.
    pub(crate) fn fixed(key: &CsrfKey) -> Self {
        Self::new(Source::Fixed(key.0.clone()), Duration::ZERO)
    }

    /// A ring in `store` whose keys verify what they signed for at least
    /// `longest_signed` (the longest life of a token or cookie).
    pub(crate) fn stored(store: Arc<dyn SigningKeyStore>, longest_signed: Duration) -> Self {
        Self::new(Source::Store(store), longest_signed)
    }

    fn new(source: Source, longest_signed: Duration) -> Self {
        Self {
            source,
            rotation: Rotation {
                every: ROTATE_EVERY,
                overlap: longest_signed.max(CSRF_TTL) + Duration::days(1),
            },
            cached: RwLock::new(Arc::new(Vec::new())),
            last_reload: Mutex::new(None),
        }
    }

    fn cached(&self) -> Arc<Vec<SigningKey>> {
        Arc::clone(&self.cached.read().unwrap_or_else(|e| e.into_inner()))
    }

    async fn reload(
        &self,
        store: &dyn SigningKeyStore,
    ) -> Result<Arc<Vec<SigningKey>>, StoreError> {
        let keys = Arc::new(store.signing_keys(PURPOSE).await?);
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&keys);
        Ok(keys)
    }

    /// The key to sign with at `now`: the ring's newest, or a new
    /// generation when the ring is empty or due (created by whichever
    /// instance inserts it first; the others use the winner's).
    async fn signing_key(&self, now: OffsetDateTime) -> Result<SigningKey, StoreError> {
        let store = match &self.source {
            Source::Fixed(key) => return Ok(key.clone()),
            Source::Store(store) => &**store,
        };
        let mut keys = self.cached();
        if let Plan::Create(_) = signing::plan(&keys, now, self.rotation) {
            // Another instance may have created it already.
            keys = self.reload(store).await?;
            if let Plan::Create(generation) = signing::plan(&keys, now, self.rotation) {
                let key = SigningKey::generate(generation, now);
                if store.insert_signing_key(PURPOSE, &key).await? {
                    tracing::info!(generation, "created a new HTTP signing key");
                }
                keys = self.reload(store).await?;
                if let Some(oldest) = signing::oldest_needed(&keys, now, self.rotation)
                    && let Err(e) = store.delete_signing_keys_before(PURPOSE, oldest).await
                {
                    tracing::warn!(error = %e, "could not delete expired HTTP signing keys");
                }
            }
        }
        keys.iter()
            .max_by_key(|k| k.generation)
            .cloned()
            .ok_or_else(|| StoreError::corrupt("the signing key ring is empty after an insert"))
    }

    /// The key of `generation`, if it still verifies at `now`.
    async fn verifying_key(
        &self,
        generation: u64,
        now: OffsetDateTime,
    ) -> Result<Option<SigningKey>, StoreError> {
        let store = match &self.source {
            Source::Fixed(key) => return Ok((key.generation == generation).then(|| key.clone())),
            Source::Store(store) => &**store,
        };
        let mut keys = self.cached();
        let newest = keys.iter().map(|k| k.generation).max().unwrap_or(0);
        if generation > newest && self.may_reload() {
            // Created by another instance since this one last looked.
            keys = self.reload(store).await?;
        }
        Ok(signing::verifies(&keys, generation, now, self.rotation)
            .then(|| keys.iter().find(|k| k.generation == generation).cloned())
            .flatten())
    }

    fn may_reload(&self) -> bool {
        let mut last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < RELOAD_AT_MOST_EVERY) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// The consent form's token for the cookie's `nonce`, `tenant` and the
    /// authorization `request`: `generation.expiry.signature`, valid for
    /// [`CSRF_TTL`].
    pub(crate) async fn csrf_token(
        &self,
        nonce: &str,
        tenant: &TenantId,
        request: &str,
        now: OffsetDateTime,
    ) -> Result<String, StoreError> {
        let key = self.signing_key(now).await?;
        let expiry = (now + CSRF_TTL).unix_timestamp();
        let signature = sign(&key, &["csrf", nonce, tenant.as_str(), request], expiry);
        Ok(format!("{}.{expiry}.{signature}", key.generation))
    }

    /// Whether `token` is valid for this nonce, tenant and request at `now`.
    pub(crate) async fn verify_csrf(
        &self,
        token: &str,
        nonce: &str,
        tenant: &TenantId,
        request: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let Some([generation, expiry, signature]) = fields(token) else {
            return Ok(false);
        };
        if nonce.len() != NONCE_LEN {
            return Ok(false);
        }
        self.verify(
            (generation, expiry, signature),
            &["csrf", nonce, tenant.as_str(), request],
            now,
        )
        .await
    }

    /// A device cookie's value for `username` of `tenant`, valid for
    /// `lifetime`: `generation.expiry.nonce.signature`.
    pub(crate) async fn device_cookie(
        &self,
        tenant: &TenantId,
        username: &str,
        now: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<String, StoreError> {
        let key = self.signing_key(now).await?;
        let expiry = (now + lifetime).unix_timestamp();
        let nonce = new_nonce();
        let signature = sign(&key, &["device", tenant.as_str(), username, &nonce], expiry);
        Ok(format!("{}.{expiry}.{nonce}.{signature}", key.generation))
    }

    /// The nonce of a device cookie valid at `now` for `username` of
    /// `tenant`, if it is one.
    pub(crate) async fn verify_device(
        &self,
        value: &str,
        tenant: &TenantId,
        username: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        let Some([generation, expiry, nonce, signature]) = fields(value) else {
            return Ok(None);
        };
        if nonce.len() != NONCE_LEN {
            return Ok(None);
        }
        let valid = self
            .verify(
                (generation, expiry, signature),
                &["device", tenant.as_str(), username, nonce],
                now,
            )
            .await?;
        Ok(valid.then(|| nonce.to_owned()))
    }

    async fn verify(
        &self,
        (generation, expiry, signature): (&str, &str, &str),
        parts: &[&str],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (Ok(generation), Ok(expiry)) = (generation.parse::<u64>(), expiry.parse::<i64>())
        else {
            return Ok(false);
        };
        if expiry <= now.unix_timestamp() {
            return Ok(false);
        }
        let Some(key) = self.verifying_key(generation, now).await? else {
            return Ok(false);
        };
        let expected = sign(&key, parts, expiry);
        Ok(expected.as_bytes().ct_eq(signature.as_bytes()).into())
    }
}

/// The length of a cookie nonce (alphanumerics: ≈ 190 bits).
const NONCE_LEN: usize = 32;

/// A new cookie nonce.
pub(crate) fn new_nonce() -> String {
    crate::secret::random_alphanumeric(NONCE_LEN)
}

/// HMAC-SHA-256 of the length-prefixed `parts` and `expiry`, base64url.
fn sign(key: &SigningKey, parts: &[&str], expiry: i64) -> String {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key.expose_secret())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    let expiry = expiry.to_string();
    for part in parts.iter().copied().chain([expiry.as_str()]) {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The `N` dot-separated fields of `value`, if it has exactly `N`.
fn fields<const N: usize>(value: &str) -> Option<[&str; N]> {
    let mut parts = value.split('.');
    let mut out = [""; N];
    for slot in &mut out {
        *slot = parts.next()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemorySigningKeyStore;

    fn acme() -> TenantId {
        "acme".parse().unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap()
    }

    #[tokio::test]
    async fn csrf_tokens_bind_nonce_tenant_request_and_time() {
        let ring = KeyRing::fixed(&CsrfKey::random());
        let nonce = new_nonce();
        let t = ring
            .csrf_token(&nonce, &acme(), "client_id=a", now())
            .await
            .unwrap();
        let verify = |t: &str, n: &str, tenant: &TenantId, r: &str, at| {
            let ring = &ring;
            let (t, n, tenant, r) = (t.to_owned(), n.to_owned(), tenant.clone(), r.to_owned());
            async move { ring.verify_csrf(&t, &n, &tenant, &r, at).await.unwrap() }
        };
        assert!(verify(&t, &nonce, &acme(), "client_id=a", now()).await);
        assert!(
            !verify(&t, &new_nonce(), &acme(), "client_id=a", now()).await,
            "other cookie"
        );
        let globex = "globex".parse().unwrap();
        assert!(
            !verify(&t, &nonce, &globex, "client_id=a", now()).await,
            "other tenant"
        );
        assert!(
            !verify(&t, &nonce, &acme(), "client_id=b", now()).await,
            "other request"
        );
        let later = now() + CSRF_TTL + Duration::seconds(1);
        assert!(
            !verify(&t, &nonce, &acme(), "client_id=a", later).await,
            "expired"
        );
        let other = KeyRing::fixed(&CsrfKey::random());
        assert!(
            !other
                .verify_csrf(&t, &nonce, &acme(), "client_id=a", now())
                .await
                .unwrap(),
            "other key"
        );
        for bad in ["", "x", "1.2", "0.99999999999.abc", "0.1.2.3"] {
            assert!(
                !verify(bad, &nonce, &acme(), "client_id=a", now()).await,
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn one_secret_signs_alike_everywhere() {
        let a = KeyRing::fixed(&CsrfKey::from_secret("shared"));
        let b = KeyRing::fixed(&CsrfKey::from_secret("shared"));
        let nonce = new_nonce();
        let t = a.csrf_token(&nonce, &acme(), "q", now()).await.unwrap();
        assert!(
            b.verify_csrf(&t, &nonce, &acme(), "q", now())
                .await
                .unwrap()
        );
    }

    /// Two instances over one store: the first creates the key, the second
    /// uses it; a form drawn by either verifies on both, also after a
    /// rotation by the other.
    #[tokio::test]
    async fn instances_over_one_store_share_the_ring_across_a_rotation() {
        let store: Arc<dyn SigningKeyStore> = Arc::new(MemorySigningKeyStore::new());
        let a = KeyRing::stored(Arc::clone(&store), Duration::days(30));
        let b = KeyRing::stored(Arc::clone(&store), Duration::days(30));
        let nonce = new_nonce();
        let drawn_by_a = a.csrf_token(&nonce, &acme(), "q", now()).await.unwrap();
        let drawn_by_b = b.csrf_token(&nonce, &acme(), "q", now()).await.unwrap();
        assert_eq!(
            store.signing_keys(PURPOSE).await.unwrap().len(),
            1,
            "one key"
        );
        assert!(
            b.verify_csrf(&drawn_by_a, &nonce, &acme(), "q", now())
                .await
                .unwrap()
        );
        assert!(
            a.verify_csrf(&drawn_by_b, &nonce, &acme(), "q", now())
                .await
                .unwrap()
        );

        // A week later B rotates; a form A drew just before still verifies
        // on B, and B's new form verifies on A (which reloads for it).
        let week = now() + ROTATE_EVERY;
        let old_form = a
            .csrf_token(&nonce, &acme(), "q", week - Duration::seconds(1))
            .await
            .unwrap();
        let new_form = b.csrf_token(&nonce, &acme(), "q", week).await.unwrap();
        assert!(new_form.starts_with("2."), "{new_form}");
        assert!(
            b.verify_csrf(&old_form, &nonce, &acme(), "q", week)
                .await
                .unwrap()
        );
        assert!(
            a.verify_csrf(&new_form, &nonce, &acme(), "q", week)
                .await
                .unwrap()
        );
        assert_eq!(store.signing_keys(PURPOSE).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn device_cookies_bind_tenant_username_and_time() {
        let ring = KeyRing::fixed(&CsrfKey::random());
        let value = ring
            .device_cookie(&acme(), "alice", now(), Duration::days(30))
            .await
            .unwrap();
        let nonce = ring
            .verify_device(&value, &acme(), "alice", now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(nonce.len(), NONCE_LEN);
        assert!(value.contains(&nonce));
        assert_eq!(
            ring.verify_device(&value, &acme(), "bob", now())
                .await
                .unwrap(),
            None
        );
        let globex = "globex".parse().unwrap();
        assert_eq!(
            ring.verify_device(&value, &globex, "alice", now())
                .await
                .unwrap(),
            None
        );
        let later = now() + Duration::days(31);
        assert_eq!(
            ring.verify_device(&value, &acme(), "alice", later)
                .await
                .unwrap(),
            None
        );
        let tampered = value.replace(&nonce, &new_nonce());
        assert_eq!(
            ring.verify_device(&tampered, &acme(), "alice", now())
                .await
                .unwrap(),
            None
        );
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(format!("{:?}", CsrfKey::random()), "CsrfKey([redacted])");
    }
}
