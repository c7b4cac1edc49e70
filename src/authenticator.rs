//! One bearer entry point for API keys and OAuth access tokens: the bearer
//! pipeline, owned here.
//!
//! parse the request ([`AuthRequest`]) → tell the credential's kind by its
//! shape → the kind's own steps: digest, look up (answered now or later),
//! decide purely, act ([`ApiKeys`] for keys,
//! [`AuthorizationServer::validate_access_token`] for access tokens).

use std::net::IpAddr;

use crate::{
    Answer, ScopeSet,
    api_key::AuthRequest,
    api_key::{ApiKeys, Authentication},
    oauth::{ACCESS_TOKEN_PREFIX, AuthorizationServer},
};

/// Authenticates `Authorization: Bearer …` requests carrying either an API
/// key (`pk_live_…`) or an OAuth access token (`pat_…`), told apart by their
/// shape, so one resource endpoint accepts both.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use papyrus_auth::{
///     ApiKeys, Authenticator, AuthRequest, MemoryApiKeyStore, MemoryAuditLog, MemoryClientStore,
///     MemoryGrantStore, Rejection, ScopeSet, oauth::AuthorizationServer,
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let audit = Arc::new(MemoryAuditLog::new());
/// let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone());
/// let oauth = AuthorizationServer::new(
///     "https://auth.example.com".parse()?,
///     Arc::new(MemoryClientStore::new()),
///     Arc::new(MemoryGrantStore::new()),
///     audit,
/// );
/// let auth = Authenticator::new(keys).with_oauth(oauth);
///
/// let none = ScopeSet::empty();
/// let r = auth.authenticate(&AuthRequest::new(Some("Bearer nonsense"), Some("acme"), None), &none).await;
/// assert_eq!(r.unwrap_err().rejection(), Some(&Rejection::Malformed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Authenticator {
    api_keys: ApiKeys,
    oauth: Option<AuthorizationServer>,
}

impl Authenticator {
    /// Accepts API keys of `api_keys`.
    pub fn new(api_keys: ApiKeys) -> Self {
        Self {
            api_keys,
            oauth: None,
        }
    }

    /// Also accepts access tokens of `oauth`.
    pub fn with_oauth(mut self, oauth: AuthorizationServer) -> Self {
        self.oauth = Some(oauth);
        self
    }

    /// The API key service.
    pub fn api_keys(&self) -> &ApiKeys {
        &self.api_keys
    }

    /// The authorization server, if configured.
    pub fn oauth(&self) -> Option<&AuthorizationServer> {
        self.oauth.as_ref()
    }

    /// Authenticates a request needing `required`: parses the bearer
    /// credential, then the tenant, then verifies the credential. The answer
    /// comes now when the stores answer at once; `.await` it either way.
    ///
    /// # Errors
    ///
    /// [`AuthError::Rejected`](crate::AuthError::Rejected) with the reason,
    /// [`AuthError::Store`](crate::AuthError::Store) when a store fails.
    pub fn authenticate<'a>(
        &'a self,
        request: &AuthRequest<'a>,
        required: &'a ScopeSet,
    ) -> Authentication<'a> {
        match request.credential_and_tenant() {
            Ok((token, tenant)) => {
                self.authenticate_parsed(token, tenant, request.client_ip, required)
            }
            Err(rejection) => Answer::Now(Err(rejection.into())),
        }
    }

    /// The pipeline from a bearer credential and a validated tenant name
    /// (the HTTP layer reads them from its headers).
    pub(crate) fn authenticate_parsed<'a>(
        &'a self,
        token: &str,
        tenant: &'a str,
        client_ip: Option<IpAddr>,
        required: &'a ScopeSet,
    ) -> Authentication<'a> {
        match &self.oauth {
            // The prefix tells the kind; the access token's own check reads
            // its full shape.
            Some(oauth) if token.starts_with(ACCESS_TOKEN_PREFIX) => {
                oauth.validate_parsed(token, tenant, required)
            }
            _ => self
                .api_keys
                .authenticate_parsed(token, tenant, client_ip, required),
        }
    }
}
