//! The authorization server: its state, the token endpoint's dispatch, and
//! the minting of tokens that the exchange and refresh steps share. Each
//! protocol step has a file of its own: `clients`, `authorize`, `exchange`,
//! `refresh`, `revoke`, `introspect`, `access`, `client_auth`, `metadata`.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{
    AccessTokenRecord, AuthorizationServerConfig, ClientStore, FamilyId, GrantStore, GrantTypes,
    Issuer, NewTokens, OAuthClient, OAuthError, OAuthErrorCode, RefreshTokenRecord, Resources,
    TokenRequest, TokenResponse, params::Params,
};
use crate::{
    AccessToken, AuditEvent, AuditSink, Clock, Digest, RefreshToken, ScopeSet, StoreError,
    SystemClock, TenantId,
    secret::{family_handle, random_token, random_token_in_family},
};

/// What a grant issues: whose tokens, which scopes and resources, for how
/// long, and whether a refresh token (every grant but client credentials).
pub(super) struct Mint<'a> {
    pub(super) client: &'a OAuthClient,
    pub(super) family: &'a FamilyId,
    pub(super) subject: &'a Arc<str>,
    /// The access token's scopes (the family's, or fewer).
    pub(super) access_scopes: &'a ScopeSet,
    /// The family's scopes (the refresh token keeps them).
    pub(super) family_scopes: &'a ScopeSet,
    /// The access token's resources (RFC 8707).
    pub(super) audience: &'a Resources,
    /// The family's resources (the refresh token keeps them).
    pub(super) family_resources: &'a Resources,
    /// The family's absolute end, when it has one already.
    pub(super) family_expires_at: Option<OffsetDateTime>,
    /// The presented refresh token's handle (and its digest), at a refresh.
    pub(super) handle: Option<(&'a str, Option<Digest>)>,
    pub(super) with_refresh: bool,
}

/// Prefix of access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "pat_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "prt_";
/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "pac_";
/// Prefix of client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "pcs_";

/// The OAuth 2.0 authorization server (authorization code + PKCE, refresh
/// rotation, revocation, introspection, metadata), multi-tenant.
///
/// Login and consent belong to the embedding application:
/// [`authorize`](Self::authorize) validates the request, the application
/// authenticates the user and asks for consent, then
/// [`approve`](Self::approve) (or [`deny`](Self::deny)) gives the redirect.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use papyrus_auth::{
///     Actor, MemoryAuditLog, MemoryClientStore, MemoryGrantStore,
///     oauth::{AuthorizationServer, ClientKind, CodeChallenge, NewClient, TokenRequest},
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let server = AuthorizationServer::new(
///     "https://{tenant}.auth.example.com".parse()?,
///     Arc::new(MemoryClientStore::new()),
///     Arc::new(MemoryGrantStore::new()),
///     Arc::new(MemoryAuditLog::new()),
/// );
/// let acme = "acme".parse()?;
/// let client = server
///     .register_client(&acme, NewClient::new("portal", ClientKind::Public,
///         "https://app.example.com/callback", "documents:read".parse()?), &Actor::System)
///     .await?
///     .client;
///
/// // The browser arrives at /oauth/authorize with a PKCE challenge.
/// let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// let query = format!(
///     "response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback\
///      &scope=documents%3Aread&code_challenge={}&code_challenge_method=S256&state=xyz",
///     client.client_id, CodeChallenge::s256_of(verifier).as_str());
/// let request = server.authorize(&acme, &query).await?;
///
/// // The application logs the user in and asks for consent, then:
/// let location = server.approve(&request, "alice", &request.scopes).await?;
/// let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap();
///
/// // The client exchanges the code.
/// let body = format!(
///     "grant_type=authorization_code&code={code}&client_id={}\
///      &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&code_verifier={verifier}",
///     client.client_id);
/// let tokens = server.token(&acme, &TokenRequest::new(None, &body)).await?;
/// assert_eq!(tokens.expires_in, 3600);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuthorizationServer {
    pub(super) clients: Arc<dyn ClientStore>,
    pub(super) grants: Arc<dyn GrantStore>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
    pub(super) config: Arc<AuthorizationServerConfig>,
    /// Client ID Metadata Documents, when the server accepts them.
    metadata_documents: Option<Arc<super::MetadataDocuments>>,
}

impl AuthorizationServer {
    /// A server known to its clients as `issuer`, over these stores, with
    /// the system clock and [`AuthorizationServerConfig::new`]'s defaults.
    pub fn new(
        issuer: Issuer,
        clients: Arc<dyn ClientStore>,
        grants: Arc<dyn GrantStore>,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        Self {
            clients,
            grants,
            audit,
            clock: Arc::new(SystemClock),
            config: Arc::new(AuthorizationServerConfig::new(issuer)),
            metadata_documents: None,
        }
    }

    /// Accepts clients whose id is the `https` URL of a Client ID Metadata
    /// Document, fetched through `documents` (a cache over a
    /// [`ClientMetadataResolver`](super::ClientMetadataResolver), such as
    /// [`HttpsMetadataFetcher`](super::HttpsMetadataFetcher) with feature
    /// `client-id-metadata`), in the tenants whose policy allows it
    /// ([`AuthorizationServerConfig::with_client_id_metadata`]).
    pub fn with_metadata_documents(mut self, documents: super::MetadataDocuments) -> Self {
        self.metadata_documents = Some(Arc::new(documents));
        self
    }

    /// Whether `tenant` accepts Client ID Metadata Documents now (its
    /// policy allows them and a resolver is set).
    pub fn accepts_metadata_documents(&self, tenant: &TenantId) -> bool {
        self.metadata_documents.is_some() && self.config.client_id_metadata_for(tenant)
    }

    /// The client `id` of `tenant`: registered in the store, or, for an id
    /// that is a metadata document's URL where the tenant accepts them, the
    /// public client its document describes (`None`: no such client).
    ///
    /// # Errors
    ///
    /// `invalid_client` for a document that cannot be fetched or breaks
    /// the rules ([`plan_metadata_client`](super::plan_metadata_client));
    /// `temporarily_unavailable` when the store fails.
    pub async fn find_client(
        &self,
        tenant: &TenantId,
        id: &super::ClientId,
    ) -> Result<Option<Arc<OAuthClient>>, OAuthError> {
        if !id.is_metadata_url() {
            return Ok(self.clients.get(tenant, id).await?);
        }
        let Some(documents) = self
            .metadata_documents
            .as_ref()
            .filter(|_| self.config.client_id_metadata_for(tenant))
        else {
            return Ok(None);
        };
        let document = documents.document(id.as_str()).await.map_err(|e| {
            OAuthError::new(
                OAuthErrorCode::InvalidClient,
                std::borrow::Cow::Owned(e.to_string()),
            )
        })?;
        let client = super::plan_metadata_client(
            tenant,
            id,
            &document,
            &self.config.known_scopes,
            self.now(),
        )?;
        Ok(Some(Arc::new(client)))
    }

    /// The issuer (RFC 8414, RFC 9207).
    pub fn issuer(&self) -> &Issuer {
        &self.config.issuer
    }

    /// Uses `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The time now, by the server's clock (the HTTP layer's CSRF tokens
    /// and audit events use it too).
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Uses `config`.
    pub fn with_config(mut self, config: AuthorizationServerConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &AuthorizationServerConfig {
        &self.config
    }

    /// The grant store in use.
    pub fn grants(&self) -> &Arc<dyn GrantStore> {
        &self.grants
    }

    /// The token endpoint (RFC 6749 §4.1.3 and §6): `authorization_code` and
    /// `refresh_token` grants, after client authentication.
    ///
    /// # Errors
    ///
    /// An [`OAuthError`] with the RFC 6749 §5.2 code; map it with
    /// [`crate::http::oauth_error_response`].
    pub async fn token(
        &self,
        tenant: &TenantId,
        request: &TokenRequest<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let params = Params::parse(request.body)?;
        let grant_type = params.require("grant_type")?;
        let grant = match grant_type {
            "authorization_code" => GrantTypes::AUTHORIZATION_CODE,
            "refresh_token" => GrantTypes::REFRESH_TOKEN,
            "client_credentials" => GrantTypes::CLIENT_CREDENTIALS,
            _ => {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    "supported grant types: authorization_code, refresh_token, client_credentials",
                ));
            }
        };
        let client = self
            .authenticate_client(tenant, request.authorization, &params)
            .await?;
        if !client.grant_types.contains(grant) {
            return Err(OAuthError::unauthorized_client(
                "this client is not registered for this grant type",
            ));
        }
        match grant_type {
            "authorization_code" => self.exchange_code(tenant, &client, &params).await,
            "refresh_token" => self.refresh(tenant, &client, &params).await,
            _ => self.client_credentials(tenant, &client, &params).await,
        }
    }

    /// The tokens of a grant: the response, and the records to store.
    pub(super) fn new_tokens(
        &self,
        mint: Mint<'_>,
        now: OffsetDateTime,
    ) -> (TokenResponse, NewTokens) {
        let Mint {
            client,
            family,
            subject,
            access_scopes,
            family_scopes,
            audience,
            family_resources,
            family_expires_at,
            handle,
            with_refresh,
        } = mint;
        let access_scopes = &access_scopes.interned_in(family_scopes);
        let access_ttl = client
            .access_token_ttl
            .unwrap_or(self.config.access_token_ttl);
        let access_token = AccessToken::new(random_token(ACCESS_TOKEN_PREFIX));
        let access = AccessTokenRecord {
            digest: self.digest(access_token.expose_secret()),
            family: family.clone(),
            tenant: client.tenant.clone(),
            client_id: client.id.clone(),
            subject: Arc::clone(subject),
            scopes: access_scopes.clone(),
            issued_at: now,
            expires_at: now.saturating_add(access_ttl),
            revoked_at: None,
            audience: audience.clone(),
        };
        let (refresh_token, refresh) = if with_refresh {
            let family_expires_at = family_expires_at
                .unwrap_or(now.saturating_add(self.config.refresh_family_lifetime));
            let refresh_ttl = client
                .refresh_token_ttl
                .unwrap_or(self.config.refresh_token_ttl);
            let refresh_expires_at = now.saturating_add(refresh_ttl).min(family_expires_at);
            // The family's handle (a new family draws one), then the token's
            // own secret.
            let refresh_token = RefreshToken::new(random_token_in_family(
                REFRESH_TOKEN_PREFIX,
                handle.map(|(h, _)| h),
            ));
            // The presented token's record holds the handle's digest
            // already, unless it predates handles or the hasher (pepper)
            // changed since.
            let handle_digest = match handle {
                Some((_, Some(d))) if d.version() == self.config.hasher.version() => d,
                _ => self.digest(family_handle(
                    refresh_token.expose_secret(),
                    REFRESH_TOKEN_PREFIX,
                )),
            };
            let refresh = RefreshTokenRecord {
                digest: self.digest(refresh_token.expose_secret()),
                handle: Some(handle_digest),
                family: family.clone(),
                tenant: client.tenant.clone(),
                client_id: client.id.clone(),
                subject: Arc::clone(subject),
                scopes: family_scopes.clone(),
                issued_at: now,
                expires_at: refresh_expires_at,
                family_expires_at,
                rotated_at: None,
                revoked_at: None,
                resources: family_resources.clone(),
            };
            (Some(refresh_token), Some(refresh))
        } else {
            (None, None)
        };
        let response = TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: access_ttl.whole_seconds(),
            refresh_token,
            scope: access_scopes.clone(),
        };
        (response, NewTokens { access, refresh })
    }

    /// Deletes codes and tokens that expired before now. Run it periodically.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store fails.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.grants.purge_expired(self.clock.now()).await
    }

    /// The digest of a secret, with the configured hasher.
    pub(super) fn digest(&self, secret: &str) -> Digest {
        self.config.hasher.digest(secret.as_bytes())
    }

    /// Records an event about an action already committed.
    pub(super) async fn emit(&self, event: AuditEvent) {
        crate::audit::record_committed(&*self.audit, event).await;
    }
}
