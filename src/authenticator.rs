//! One bearer entry point for API keys and OAuth access tokens.

use std::net::IpAddr;

use crate::{
    ApiKeys, AuthError, AuthRequest, Principal, ScopeSet, TenantId,
    api_key::{Decided, PendingFollowUp},
    oauth::{ACCESS_TOKEN_PREFIX, AuthorizationServer},
    secret::is_token_shape,
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
///     Arc::new(MemoryClientStore::new()), Arc::new(MemoryGrantStore::new()), audit);
/// let auth = Authenticator::new(keys).with_oauth(oauth);
///
/// let r = auth.authenticate(&AuthRequest::new(Some("Bearer nonsense"), Some("acme"), None), &ScopeSet::empty()).await;
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
    /// credential, then the tenant, then verifies the credential.
    ///
    /// # Errors
    ///
    /// [`AuthError::Rejected`] with the reason, [`AuthError::Store`] when a
    /// store fails.
    pub async fn authenticate(
        &self,
        request: &AuthRequest<'_>,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        let (token, tenant) = request.credential_and_tenant()?;
        self.authenticate_in(token, tenant, request.client_ip, required)
            .await
    }

    /// Verifies a bearer token already taken from its header.
    ///
    /// # Errors
    ///
    /// As [`Authenticator::authenticate`].
    pub async fn authenticate_token(
        &self,
        token: &str,
        tenant: &TenantId,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        self.authenticate_in(token, tenant.as_str(), client_ip, required)
            .await
    }

    /// [`Authenticator::authenticate_token`] for a validated tenant name.
    pub(crate) async fn authenticate_in(
        &self,
        token: &str,
        tenant: &str,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Result<Principal, AuthError> {
        match &self.oauth {
            Some(oauth) if is_token_shape(token, ACCESS_TOKEN_PREFIX) => {
                oauth
                    .validate_access_token_in(token, tenant, required)
                    .await
            }
            _ => {
                self.api_keys
                    .authenticate_in(token, tenant, client_ip, required)
                    .await
            }
        }
    }

    /// The decision without waiting on a store: `None` when the store cannot
    /// answer synchronously (nothing has happened yet).
    pub(crate) fn authenticate_now(
        &self,
        token: &str,
        tenant: &str,
        client_ip: Option<IpAddr>,
        required: &ScopeSet,
    ) -> Option<Decided> {
        match &self.oauth {
            Some(oauth) if is_token_shape(token, ACCESS_TOKEN_PREFIX) => oauth
                .validate_access_token_now(token, tenant, required)
                .map(Decided::Done),
            _ => self
                .api_keys
                .authenticate_now(token, tenant, client_ip, required),
        }
    }

    /// The answer of a decided authentication, after its follow-up write.
    pub(crate) async fn finish(&self, pending: PendingFollowUp) -> Result<Principal, AuthError> {
        self.api_keys.finish(pending).await
    }
}
