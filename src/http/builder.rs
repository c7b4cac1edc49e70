//! [`HttpAuthBuilder`]: an [`HttpAuth`] with only the parts an application
//! uses. API keys are the base; OAuth (with its sign-in and consent) and
//! the admin API are optional, and the endpoints of a part left out answer
//! 404.

use std::sync::Arc;

use super::{
    HttpAuthConfig, TenantSource,
    auth::{HttpAuth, Inner, OAuthParts},
    consent::ConsentHandler,
    login::{LoginConsent, UserDirectory},
};
use crate::{
    ApiKeys, AuditLog, Authenticator, oauth::AuthorizationServer, store::MemorySigningKeyStore,
    throttle::Throttle,
};

/// Builds an [`HttpAuth`]: start from [`HttpAuth::builder`].
///
/// # Examples
///
/// An API-key-only service: no OAuth, no users, no admin API.
///
/// ```
/// use std::sync::Arc;
/// use papyrus_auth::{ApiKeys, MemoryApiKeyStore, MemoryAuditLog, http::HttpAuth};
///
/// let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), Arc::new(MemoryAuditLog::new()));
/// let auth = HttpAuth::builder(keys).build()?;
/// assert!(auth.oauth().is_none());
/// # Ok::<(), papyrus_auth::http::BuildError>(())
/// ```
///
/// With OAuth, the built-in sign-in page over your users, and the admin
/// API:
///
/// ```
/// use std::sync::Arc;
/// use papyrus_auth::{
///     ApiKeys, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore, MemoryGrantStore,
///     http::{HttpAuth, StaticUsers},
///     oauth::AuthorizationServer,
/// };
///
/// let audit = Arc::new(MemoryAuditLog::new());
/// let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
/// let oauth = AuthorizationServer::new(
///     "https://{tenant}.auth.example.com".parse()?,
///     Arc::new(MemoryClientStore::new()),
///     Arc::new(MemoryGrantStore::new()),
///     audit.clone(),
/// );
/// let auth = HttpAuth::builder(keys)
///     .oauth(oauth)
///     .users(Arc::new(StaticUsers::new())) // your UserDirectory
///     .admin(audit)
///     .build()?;
/// assert!(auth.oauth().is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct HttpAuthBuilder {
    keys: ApiKeys,
    oauth: Option<AuthorizationServer>,
    consent: Option<Arc<dyn ConsentHandler>>,
    admin: Option<Arc<dyn AuditLog>>,
    config: HttpAuthConfig,
}

/// Why [`HttpAuthBuilder::build`] refused a combination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// OAuth without a way to sign users in.
    #[error(
        "OAuth needs a way to sign users in: .users(your UserDirectory) for the built-in page, \
         or .consent(your ConsentHandler)"
    )]
    OAuthWithoutSignIn,
    /// Users or a consent handler without OAuth, which alone uses them.
    #[error("users and consent serve /oauth/authorize only: add .oauth(server), or drop them")]
    SignInWithoutOAuth,
    /// The OAuth endpoints' tenant cannot come from the issuer.
    #[error(
        "the OAuth endpoints take their tenant from the issuer's host by default, and the \
         issuer {issuer:?} names no {{tenant}} there: set HttpAuthConfig::with_oauth_tenant \
         (TenantSource::Fixed for one tenant, HostLabel, Header or FirstOf)"
    )]
    OAuthTenant {
        /// The issuer, as configured.
        issuer: String,
    },
}

impl HttpAuth {
    /// Starts an [`HttpAuth`] that authenticates the API keys of `keys`.
    pub fn builder(keys: ApiKeys) -> HttpAuthBuilder {
        HttpAuthBuilder {
            keys,
            oauth: None,
            consent: None,
            admin: None,
            config: HttpAuthConfig::default(),
        }
    }
}

impl HttpAuthBuilder {
    /// Uses `config` (defaults to [`HttpAuthConfig::default`]).
    pub fn config(mut self, config: HttpAuthConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves OAuth: `/oauth/*` and `/.well-known/*`, and accepts the
    /// server's access tokens wherever API keys are. Needs
    /// [`users`](Self::users) or [`consent`](Self::consent).
    pub fn oauth(mut self, server: AuthorizationServer) -> Self {
        self.oauth = Some(server);
        self
    }

    /// Signs users in on the built-in login-and-consent page
    /// ([`LoginConsent`]) against `users`.
    pub fn users(self, users: Arc<dyn UserDirectory>) -> Self {
        self.consent(Arc::new(LoginConsent::new(users)))
    }

    /// Hands sign-in and consent to `handler`: the application's own
    /// users, sessions, SSO or MFA, and its own pages (see
    /// [`ConsentHandler`]).
    pub fn consent(mut self, handler: Arc<dyn ConsentHandler>) -> Self {
        self.consent = Some(handler);
        self
    }

    /// Serves the admin API (`/admin/api-keys…`, `/admin/audit`, and with
    /// OAuth `/admin/clients`), reading the audit log from `audit`.
    pub fn admin(mut self, audit: Arc<dyn AuditLog>) -> Self {
        self.admin = Some(audit);
        self
    }

    /// The [`HttpAuth`], with signing keys and failure counters in this
    /// process's memory (see [`HttpAuth::with_signing_keys`] and
    /// [`HttpAuth::with_failure_counters`] for a fleet).
    ///
    /// # Errors
    ///
    /// [`BuildError`] for OAuth without sign-in, sign-in without OAuth, or
    /// OAuth whose tenant cannot come from the issuer (see
    /// [`TenantSource::Issuer`]).
    pub fn build(self) -> Result<HttpAuth, BuildError> {
        let Self {
            keys,
            oauth,
            consent,
            admin,
            mut config,
        } = self;
        let oauth = match (oauth, consent) {
            (Some(server), Some(consent)) => {
                for source in [&mut config.oauth_tenant, &mut config.api_tenant] {
                    *source = from_issuer(source, &server)?;
                }
                Some(OAuthParts { server, consent })
            }
            (Some(_), None) => return Err(BuildError::OAuthWithoutSignIn),
            (None, Some(_)) => return Err(BuildError::SignInWithoutOAuth),
            (None, None) => None,
        };
        let mut authenticator = Authenticator::new(keys);
        if let Some(o) = &oauth {
            authenticator = authenticator.with_oauth(o.server.clone());
        }
        let signing_keys = HttpAuth::key_ring(&config, Arc::new(MemorySigningKeyStore::new()));
        Ok(HttpAuth {
            inner: Arc::new(Inner {
                authenticator,
                oauth,
                admin,
                throttle: config.throttle.map(|t| Arc::new(Throttle::new(t))),
                keys: Arc::new(signing_keys),
                successes: crate::metrics::Successes::register(),
                realm: (config.realm != super::DEFAULT_REALM).then(|| {
                    super::extract::ChallengeRealm {
                        realm: Some(config.realm.as_str().into()),
                        resource_metadata: None,
                    }
                }),
                config,
            }),
        })
    }
}

/// `source` with [`TenantSource::Issuer`] made concrete for `server`.
pub(super) fn from_issuer(
    source: &TenantSource,
    server: &AuthorizationServer,
) -> Result<TenantSource, BuildError> {
    Ok(match source {
        TenantSource::Issuer => match server.issuer().tenant_host_suffix() {
            Some(suffix) => TenantSource::HostLabel(suffix.to_owned()),
            None => {
                return Err(BuildError::OAuthTenant {
                    issuer: server.issuer().to_string(),
                });
            }
        },
        TenantSource::FirstOf(sources) => TenantSource::FirstOf(
            sources
                .iter()
                .map(|s| from_issuer(s, server))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}
