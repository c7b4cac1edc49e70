//! The login and consent step: who the user is (the embedding application's
//! [`UserDirectory`]) and a CSRF-protected consent form.

use std::{collections::HashMap, fmt};

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::{StoreError, TenantId};

/// The embedding application's users: checks a username and password from
/// the login form. Implement it over your identity store.
#[async_trait]
pub trait UserDirectory: fmt::Debug + Send + Sync + 'static {
    /// The user's subject identifier if `username` and `password` are right
    /// in `tenant`, else `None`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the directory cannot be reached.
    async fn verify_password(
        &self,
        tenant: &TenantId,
        username: &str,
        password: &str,
    ) -> Result<Option<String>, StoreError>;
}

/// A fixed set of users for demos and tests. Passwords are kept as salted
/// SHA-256 digests and compared in constant time.
///
/// # Security
///
/// SHA-256 is not a password hash: for real users, implement
/// [`UserDirectory`] over your identity provider (argon2, an IdP, …).
#[derive(Default)]
pub struct StaticUsers {
    users: HashMap<(TenantId, String), StaticUser>,
}

/// One user of [`StaticUsers`]: salt, salted digest and subject.
struct StaticUser {
    salt: [u8; 16],
    digest: [u8; 32],
    subject: String,
}

impl StaticUsers {
    /// No users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `username` with `password` in `tenant`, acting as `subject`.
    pub fn with_user(
        mut self,
        tenant: &TenantId,
        username: &str,
        password: &str,
        subject: &str,
    ) -> Self {
        let salt: [u8; 16] = {
            let mut s = [0u8; 16];
            rand::RngExt::fill(&mut rand::rng(), &mut s[..]);
            s
        };
        self.users.insert(
            (tenant.clone(), username.to_owned()),
            StaticUser {
                salt,
                digest: salted(&salt, password),
                subject: subject.to_owned(),
            },
        );
        self
    }
}

fn salted(salt: &[u8; 16], password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().into()
}

impl fmt::Debug for StaticUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticUsers")
            .field("users", &self.users.len())
            .finish()
    }
}

#[async_trait]
impl UserDirectory for StaticUsers {
    async fn verify_password(
        &self,
        tenant: &TenantId,
        username: &str,
        password: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .users
            .get(&(tenant.clone(), username.to_owned()))
            .filter(|u| bool::from(salted(&u.salt, password).ct_eq(&u.digest)))
            .map(|u| u.subject.clone()))
    }
}

/// The name of the CSRF cookie set with the consent form.
pub const CSRF_COOKIE: &str = "papyrus_csrf";

/// How long a consent form stays valid.
const CSRF_TTL_SECONDS: i64 = 600;

/// Signs and checks consent-form CSRF tokens (double-submit, signed): the
/// form carries `expiry.signature`, the browser carries a random nonce in a
/// `SameSite=Lax; HttpOnly` cookie, and the signature binds the nonce, the
/// tenant and the exact authorization request. A cross-site POST has no
/// cookie; a replayed form of another request or user has the wrong nonce.
#[derive(Clone)]
pub struct CsrfKey(hmac::Hmac<Sha256>);

impl CsrfKey {
    /// A random key (per process). Instances behind one load balancer need a
    /// shared key: use [`CsrfKey::from_secret`].
    pub fn random() -> Self {
        Self::from_secret(&crate::secret::random_alphanumeric(43))
    }

    /// A key derived from a shared secret.
    pub fn from_secret(secret: &str) -> Self {
        Self(
            <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
        )
    }

    /// A new nonce for the cookie.
    pub(crate) fn nonce() -> String {
        crate::secret::random_alphanumeric(32)
    }

    fn sign(&self, nonce: &str, tenant: &TenantId, request: &str, expiry: i64) -> String {
        let mut mac = self.0.clone();
        for part in [nonce, tenant.as_str(), request, &expiry.to_string()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The form token for `nonce`, `tenant` and the authorization `request`.
    pub(crate) fn token(
        &self,
        nonce: &str,
        tenant: &TenantId,
        request: &str,
        now: OffsetDateTime,
    ) -> String {
        let expiry = now.unix_timestamp() + CSRF_TTL_SECONDS;
        format!("{expiry}.{}", self.sign(nonce, tenant, request, expiry))
    }

    /// Whether `token` is valid for this nonce, tenant and request at `now`.
    pub(crate) fn verify(
        &self,
        token: &str,
        nonce: &str,
        tenant: &TenantId,
        request: &str,
        now: OffsetDateTime,
    ) -> bool {
        let Some((expiry, sig)) = token.split_once('.') else {
            return false;
        };
        let Ok(expiry) = expiry.parse::<i64>() else {
            return false;
        };
        if expiry <= now.unix_timestamp() || nonce.len() != 32 {
            return false;
        }
        let expected = self.sign(nonce, tenant, request, expiry);
        expected.as_bytes().ct_eq(sig.as_bytes()).into()
    }
}

impl fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_users() {
        let acme: TenantId = "acme".parse().unwrap();
        let users = StaticUsers::new().with_user(&acme, "alice", "wonderland", "user_alice");
        assert_eq!(
            users
                .verify_password(&acme, "alice", "wonderland")
                .await
                .unwrap()
                .as_deref(),
            Some("user_alice")
        );
        assert_eq!(
            users
                .verify_password(&acme, "alice", "Wonderland")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            users
                .verify_password(&acme, "bob", "wonderland")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            users
                .verify_password(&"globex".parse().unwrap(), "alice", "wonderland")
                .await
                .unwrap(),
            None
        );
        assert!(!format!("{users:?}").contains("wonderland"));
    }

    #[test]
    fn csrf_tokens_bind_nonce_tenant_request_and_time() {
        let key = CsrfKey::random();
        let acme: TenantId = "acme".parse().unwrap();
        let now = OffsetDateTime::now_utc();
        let nonce = CsrfKey::nonce();
        let t = key.token(&nonce, &acme, "client_id=a", now);
        assert!(key.verify(&t, &nonce, &acme, "client_id=a", now));
        assert!(
            !key.verify(&t, &CsrfKey::nonce(), &acme, "client_id=a", now),
            "other cookie"
        );
        assert!(
            !key.verify(&t, &nonce, &"globex".parse().unwrap(), "client_id=a", now),
            "other tenant"
        );
        assert!(
            !key.verify(&t, &nonce, &acme, "client_id=b", now),
            "other request"
        );
        assert!(
            !key.verify(
                &t,
                &nonce,
                &acme,
                "client_id=a",
                now + time::Duration::seconds(601)
            ),
            "expired"
        );
        assert!(
            !CsrfKey::random().verify(&t, &nonce, &acme, "client_id=a", now),
            "other key"
        );
        for bad in ["", "x", "1.2", "99999999999.abc"] {
            assert!(!key.verify(bad, &nonce, &acme, "client_id=a", now));
        }
    }
}
