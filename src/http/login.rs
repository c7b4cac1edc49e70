//! The built-in login-and-consent step: [`LoginConsent`], a
//! [`ConsentHandler`] over the embedding application's [`UserDirectory`].

use std::{collections::HashMap, fmt};

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::{
    ConsentContext, ConsentHandler, HttpResponse, Interaction, SignIn, error_page,
    pages::consent_page,
};
use crate::{Scope, ScopeSet, StoreError, TenantId, oauth::OAuthError};

/// The built-in login-and-consent page (the default [`ConsentHandler`]):
/// one form with the user's name and password, a checkbox per requested
/// scope and Approve / Deny. Passwords are checked against `users`, held to
/// the sign-in limits ([`ConsentContext::check_password`]).
#[derive(Debug, Clone)]
pub struct LoginConsent {
    users: std::sync::Arc<dyn UserDirectory>,
}

impl LoginConsent {
    /// The page over `users`.
    pub fn new(users: std::sync::Arc<dyn UserDirectory>) -> Self {
        Self { users }
    }

    fn page(ctx: &ConsentContext<'_>, error: Option<&str>, status: u16) -> Interaction {
        Interaction::Page(HttpResponse::html(
            status,
            consent_page(
                ctx.authorization(),
                ctx.request_field(),
                ctx.csrf_token(),
                error,
            ),
        ))
    }
}

#[async_trait]
impl ConsentHandler for LoginConsent {
    async fn show(&self, ctx: &ConsentContext<'_>) -> Interaction {
        Self::page(ctx, None, 200)
    }

    async fn decide(&self, ctx: &ConsentContext<'_>) -> Interaction {
        match ctx.field("decision") {
            Some("deny") => return Interaction::Deny { subject: None },
            Some("approve") => {}
            _ => {
                return Interaction::Page(error_page(&OAuthError::invalid_request(
                    "decision must be approve or deny",
                )));
            }
        }
        let username = ctx.field("username").unwrap_or("");
        let password = ctx.field("password").unwrap_or("");
        let subject = match ctx.check_password(&*self.users, username, password).await {
            SignIn::Valid(subject) => subject,
            SignIn::Wrong => return Self::page(ctx, Some("Wrong username or password."), 401),
            SignIn::Throttled { retry_after } => {
                let wait = "Too many failed sign-ins. Wait a while and try again.";
                return match Self::page(ctx, Some(wait), 429) {
                    Interaction::Page(page) => Interaction::Page(
                        page.with_header("Retry-After", retry_after.as_secs().max(1).to_string()),
                    ),
                    other => other,
                };
            }
            SignIn::Unavailable => {
                return Interaction::Page(error_page(&OAuthError::unavailable()));
            }
        };
        let chosen: Vec<Scope> = ctx
            .fields("scope")
            .filter_map(|s| Scope::parse(s).ok())
            .collect();
        let approved = ScopeSet::from_scopes(chosen)
            .unwrap_or_default()
            .intersection(&ctx.authorization().scopes);
        if approved.is_empty() {
            return Self::page(ctx, Some("Choose at least one permission, or deny."), 400);
        }
        Interaction::Approve {
            subject,
            scopes: approved,
        }
    }
}

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
