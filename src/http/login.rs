//! Who the user on the login form is: the embedding application's
//! [`UserDirectory`].

use std::{collections::HashMap, fmt};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

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
}
